//! Parsing of `key = value, ...` attribute arguments, shared by both macros.
//!
//! Every problem is recorded in the [`Ctxt`] and parsing goes on at the next top-level `,`, so
//! one compile reports every mistake in an attribute, each at its own tokens. Values are
//! parsed on a fork first: a value that does not parse is skipped whole and the error spans
//! exactly it.

use proc_macro2::{Ident, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseBuffer, ParseStream};
use syn::{bracketed, parenthesized, token, LitStr, Path, Token, Type};

use crate::ctxt::Ctxt;
use crate::suggest;
use crate::symbol::Symbol;

/// One key as written, with the accepted name it matched.
pub(crate) struct Key<'k> {
    pub(crate) symbol: Symbol,
    pub(crate) ident: &'k Ident,
}

/// The arguments of one kind of attribute, possibly spread over several attributes
/// (`#[app(label = "a")] #[app(extensions = [...])]`): duplicates are caught across them.
pub(crate) struct Args<'c> {
    cx: &'c Ctxt,
    /// `app` or `cache_handler`, for messages.
    attr: &'static str,
    keys: &'static [Symbol],
    seen: Vec<&'static str>,
    /// Keys suggested for unknown ones (`labl` → `label`): the user did write them, misspelt.
    suggested: Vec<&'static str>,
}

impl<'c> Args<'c> {
    pub(crate) fn new(cx: &'c Ctxt, attr: &'static str, keys: &'static [Symbol]) -> Self {
        Args {
            cx,
            attr,
            keys,
            seen: Vec::new(),
            suggested: Vec::new(),
        }
    }

    /// Whether the user wrote `key`, even with a bad value or misspelt: then "missing `key`"
    /// would only repeat an error already reported.
    pub(crate) fn mentioned(&self, key: Symbol) -> bool {
        self.seen.contains(&key.name) || self.suggested.contains(&key.name)
    }

    /// Parses `key = value, ...`, calling `value` once per accepted, first-seen key with the
    /// input just after its `=`. `value` must consume the value, and nothing after it. A flag
    /// ([`Symbol::is_flag`]) is written without `= value`; `value` is called for it with the
    /// input just after the key, and must consume nothing.
    ///
    /// Always `Ok`: problems go to the `Ctxt`. (The `Result` fits `syn::parse::Parser`.)
    pub(crate) fn parse(
        &mut self,
        input: ParseStream,
        mut value: impl FnMut(&Key, ParseStream),
    ) -> syn::Result<()> {
        while !input.is_empty() {
            self.parse_one(input, &mut value);
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            } else if !input.is_empty() {
                // Every path through `parse_one` stops at a `,` or the end; keep going anyway.
                let rest = skip_to_comma(input);
                self.cx.error_spanned_by(rest, "expected `,`");
            }
        }
        Ok(())
    }

    fn parse_one(&mut self, input: ParseStream, value: &mut impl FnMut(&Key, ParseStream)) {
        let (cx, attr) = (self.cx, self.attr);
        let example = self.keys.first().map_or("", |k| k.syntax);
        // `parse_any` so that a keyword (`type = ...`) is reported as an unknown key.
        let ident = match input.call(Ident::parse_any) {
            Ok(ident) => ident,
            Err(_) => {
                let tokens = skip_to_comma(input);
                cx.error_spanned_by(tokens, format!("expected a key: #[{attr}({example}, ...)]"));
                return;
            }
        };
        let name = ident.unraw().to_string();
        let Some(&symbol) = self.keys.iter().find(|k| k.name == name) else {
            skip_to_comma(input);
            let accepted: Vec<&'static str> = self.keys.iter().map(|k| k.name).collect();
            let near = suggest::closest(&name, accepted.iter().copied());
            self.suggested.extend(near);
            let near = near
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            cx.error_at(
                ident.span(),
                format!(
                    "unknown key `{name}` in #[{attr}(...)]{near} (accepted keys: {})",
                    accepted.join(", ")
                ),
            );
            return;
        };
        if self.seen.contains(&symbol.name) {
            skip_to_comma(input);
            cx.error_at(
                ident.span(),
                format!("duplicate key `{symbol}` in #[{attr}(...)]: give each key once"),
            );
            return;
        }
        self.seen.push(symbol.name);
        // A flag (its syntax has no `=`, e.g. `async_only`, `cache_none`) takes no value.
        if symbol.is_flag() {
            if !at_separator(input) {
                let rest = skip_to_comma(input);
                cx.error_spanned_by(
                    quote::quote!(#ident #rest),
                    format!("`{symbol}` is a flag and takes no value: write `{symbol}` alone"),
                );
                return;
            }
            let key = Key {
                symbol,
                ident: &ident,
            };
            value(&key, input);
            return;
        }
        if input.parse::<Token![=]>().is_err() {
            let rest = skip_to_comma(input);
            cx.error_spanned_by(
                quote::quote!(#ident #rest),
                format!("expected `=` after `{symbol}`: {}", symbol.syntax),
            );
            return;
        }
        let key = Key {
            symbol,
            ident: &ident,
        };
        value(&key, input);
    }
}

/// `label = "..."`: a string literal.
pub(crate) fn string(cx: &Ctxt, key: &Key, input: ParseStream) -> Option<LitStr> {
    value(
        cx,
        key,
        input,
        |input| input.parse::<LitStr>(),
        |tokens| {
            let syntax = match bare_word(tokens) {
                Some(word) => format!("{} = {word:?}", key.symbol),
                None => key.symbol.syntax.to_string(),
            };
            format!("expected a string: {syntax}")
        },
    )
}

/// `key = <T>`: any value that parses as `T`, or `expected` at its tokens.
pub(crate) fn parsed<T: syn::parse::Parse>(
    cx: &Ctxt,
    key: &Key,
    input: ParseStream,
    expected: &str,
) -> Option<T> {
    value(
        cx,
        key,
        input,
        |input| input.parse::<T>(),
        |_| expected.to_string(),
    )
}

/// `config_defaults = path::to::function`: the function itself, not a call or a string.
pub(crate) fn function(cx: &Ctxt, key: &Key, input: ParseStream) -> Option<Path> {
    let fork = input.fork();
    if let Ok(path) = fork.parse::<Path>() {
        if fork.peek(token::Paren) {
            let tokens = skip_to_comma(input);
            cx.error_spanned_by(
                tokens,
                format!(
                    "expected the function itself, not a call: {} = {}",
                    key.symbol,
                    path_text(&path)
                ),
            );
            return None;
        }
        if at_separator(&fork) {
            input.advance_to(&fork);
            return Some(path);
        }
    }
    value(
        cx,
        key,
        input,
        |input| input.parse::<Path>(),
        |tokens| {
            let quoted = syn::parse2::<LitStr>(tokens.clone()).ok();
            match quoted.and_then(|lit| lit.parse::<Path>().ok().map(|_| lit.value())) {
                Some(text) => format!("expected a function, not a string: {} = {text}", key.symbol),
                None => format!("expected a function: {}", key.symbol.syntax),
            }
        },
    )
}

/// `a::b` as written, without the spaces of `TokenStream`'s `Display`.
fn path_text(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let leading = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{leading}{}", segments.join("::"))
}

/// `extensions = ["a", "b"]`: a list of string literals.
pub(crate) fn string_list(cx: &Ctxt, key: &Key, input: ParseStream) -> Option<Vec<LitStr>> {
    let expected = format!("expected a string: {}", key.symbol.syntax);
    list(cx, key, input, |content| {
        value(
            cx,
            key,
            content,
            |input| input.parse::<LitStr>(),
            |_| expected.clone(),
        )
    })
}

/// `handlers = [TypeA, TypeB]`: a list of types.
pub(crate) fn type_list(cx: &Ctxt, key: &Key, input: ParseStream) -> Option<Vec<Type>> {
    let expected = format!("expected a type: {}", key.symbol.syntax);
    list(cx, key, input, |content| {
        value(
            cx,
            key,
            content,
            |input| input.parse::<Type>(),
            |_| expected.clone(),
        )
    })
}

/// `hooks = [(name, function), ...]`: a list of pairs.
pub(crate) fn pair_list(cx: &Ctxt, key: &Key, input: ParseStream) -> Option<Vec<(Ident, Path)>> {
    let expected = format!("expected a (hook, function) pair: {}", key.symbol.syntax);
    list(cx, key, input, |content| {
        value(cx, key, content, parse_pair, |_| expected.clone())
    })
}

fn parse_pair(input: ParseStream) -> syn::Result<(Ident, Path)> {
    let content;
    parenthesized!(content in input);
    let name = content.call(Ident::parse_any)?;
    content.parse::<Token![,]>()?;
    let function: Path = content.parse()?;
    if content.peek(Token![,]) {
        content.parse::<Token![,]>()?;
    }
    if !content.is_empty() {
        return Err(content.error("expected `)`"));
    }
    Ok((name, function))
}

/// `[element, ...]`, parsing each element with `element`; `None` if the value is not a
/// bracketed list. Bad elements are reported by `element` and left out.
fn list<T>(
    cx: &Ctxt,
    key: &Key,
    input: ParseStream,
    mut element: impl FnMut(ParseStream) -> Option<T>,
) -> Option<Vec<T>> {
    let Some(content) = brackets(input) else {
        let tokens = skip_to_comma(input);
        let syntax = match bare_word(&tokens) {
            Some(word) => format!("{} = [{word}]", key.symbol),
            None => key.symbol.syntax.to_string(),
        };
        report(
            cx,
            key,
            tokens,
            format!("expected a list in brackets: {syntax}"),
        );
        return None;
    };
    let mut items = Vec::new();
    while !content.is_empty() {
        items.extend(element(&content));
        if content.peek(Token![,]) {
            let _ = content.parse::<Token![,]>();
        } else if !content.is_empty() {
            let rest = skip_to_comma(&content);
            cx.error_spanned_by(rest, "expected `,` between list elements");
        }
    }
    trailing(cx, key, input);
    Some(items)
}

fn brackets<'a>(input: ParseStream<'a>) -> Option<ParseBuffer<'a>> {
    fn parse<'a>(input: ParseStream<'a>) -> syn::Result<ParseBuffer<'a>> {
        let content;
        bracketed!(content in input);
        Ok(content)
    }
    if input.peek(token::Bracket) {
        parse(input).ok()
    } else {
        None
    }
}

/// Parses one value up to the next top-level `,`. A value that does not parse is skipped and
/// reported with `expected(its tokens)`, spanning exactly it.
fn value<T>(
    cx: &Ctxt,
    key: &Key,
    input: ParseStream,
    parse: impl FnOnce(ParseStream) -> syn::Result<T>,
    expected: impl FnOnce(&TokenStream) -> String,
) -> Option<T> {
    let fork = input.fork();
    if let Ok(parsed) = parse(&fork) {
        input.advance_to(&fork);
        trailing(cx, key, input);
        return Some(parsed);
    }
    let tokens = skip_to_comma(input);
    let msg = expected(&tokens);
    report(cx, key, tokens, msg);
    None
}

/// Reports anything between a parsed value and the next `,` (typically a forgotten comma).
fn trailing(cx: &Ctxt, key: &Key, input: ParseStream) {
    if !at_separator(input) {
        let rest = skip_to_comma(input);
        cx.error_spanned_by(
            rest,
            format!("expected `,` after the value of `{}`", key.symbol),
        );
    }
}

/// An error spanning `tokens`, or the key when the value is empty (`label = ,`).
fn report(cx: &Ctxt, key: &Key, tokens: TokenStream, msg: String) {
    if tokens.is_empty() {
        cx.error_at(key.ident.span(), msg);
    } else {
        cx.error_spanned_by(tokens, msg);
    }
}

fn at_separator(input: ParseStream) -> bool {
    input.is_empty() || input.peek(Token![,])
}

/// Consumes and returns the tokens up to (not including) the next top-level `,`.
fn skip_to_comma(input: ParseStream) -> TokenStream {
    let mut tokens = TokenStream::new();
    while !at_separator(input) {
        match input.parse::<TokenTree>() {
            Ok(tt) => tokens.extend([tt]),
            Err(_) => break,
        }
    }
    tokens
}

/// The text of a value that is one identifier or one non-string literal, to show the user
/// the corrected form (`label = myapp` → `label = "myapp"`).
fn bare_word(tokens: &TokenStream) -> Option<String> {
    let mut iter = tokens.clone().into_iter();
    let word = match (iter.next(), iter.next()) {
        (Some(TokenTree::Ident(ident)), None) => ident.to_string(),
        (Some(TokenTree::Literal(lit)), None) => {
            let text = lit.to_string();
            match syn::parse_str::<LitStr>(&text) {
                Ok(s) => format!("{:?}", s.value()),
                Err(_) => text,
            }
        }
        _ => return None,
    };
    Some(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::{APP_KEYS, EXTENSIONS, HOOKS, LABEL};
    use quote::quote;
    use syn::parse::Parser;

    /// Parses `tokens` as #[app(...)] arguments; returns the labels and extensions seen, and
    /// the error messages.
    fn run(tokens: TokenStream) -> (Vec<String>, Vec<String>, Vec<String>) {
        let cx = Ctxt::new();
        let mut labels = Vec::new();
        let mut extensions = Vec::new();
        let mut args = Args::new(&cx, "app", APP_KEYS);
        let parsed = (|input: ParseStream| {
            args.parse(input, |key, input| match key.symbol {
                LABEL => labels.extend(string(&cx, key, input).map(|l| l.value())),
                EXTENSIONS => extensions.extend(
                    string_list(&cx, key, input)
                        .into_iter()
                        .flatten()
                        .map(|l| l.value()),
                ),
                HOOKS => {
                    pair_list(&cx, key, input);
                }
                _ => {
                    skip_to_comma(input);
                }
            })
        })
        .parse2(tokens);
        assert!(parsed.is_ok(), "{parsed:?}");
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        };
        (labels, extensions, errors)
    }

    #[test]
    fn parses_keys() {
        let (labels, extensions, errors) = run(quote!(label = "myapp", extensions = ["a", "b",],));
        assert_eq!(labels, ["myapp"]);
        assert_eq!(extensions, ["a", "b"]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn collects_every_error() {
        let (labels, extensions, errors) = run(quote!(
            labl = "x", label = 42, label = "again", extensions = ["ok", 7, "fine"], hooks = [post_setup],
            extensions "no equals"
        ));
        assert!(labels.is_empty());
        assert_eq!(extensions, ["ok", "fine"]);
        assert_eq!(
            errors,
            [
                "unknown key `labl` in #[app(...)]; did you mean `label`? (accepted keys: label, config_defaults, \
                 extensions, cache_handler, handlers, hooks, config_files)",
                "expected a string: label = \"42\"",
                "duplicate key `label` in #[app(...)]: give each key once",
                "expected a string: extensions = [\"memcached\", ...]",
                "expected a (hook, function) pair: hooks = [(post_setup, my_hook), ...]",
                "duplicate key `extensions` in #[app(...)]: give each key once",
            ]
        );
    }

    #[test]
    fn missing_equals_and_comma() {
        let (_, _, errors) = run(quote!(label "x"));
        assert_eq!(errors, ["expected `=` after `label`: label = \"...\""]);
        let (labels, _, errors) = run(quote!(label = "x" extensions = ["a"]));
        assert_eq!(labels, ["x"]);
        assert_eq!(errors, ["expected `,` after the value of `label`"]);
    }

    #[test]
    fn bare_values_show_the_fix() {
        let (_, _, errors) = run(quote!(label = myapp, extensions = "redis"));
        assert_eq!(
            errors,
            [
                "expected a string: label = \"myapp\"",
                "expected a list in brackets: extensions = [\"redis\"]",
            ]
        );
    }

    #[test]
    fn not_a_key() {
        let (_, _, errors) = run(quote!("label" = "x", label = "ok"));
        assert_eq!(errors, ["expected a key: #[app(label = \"...\", ...)]"]);
    }
}
