//! The item under `#[cache_handler]`: a struct or enum, parsed; anything else is reported at
//! its keyword (`fn`, `impl`, `union`, ...) without needing syn's "full" item parser.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::{Data, DeriveInput};

use crate::ctxt::Ctxt;

/// The handler type, or `None` (with an error) if the item is not a struct or enum.
pub(crate) fn parse(cx: &Ctxt, item: &TokenStream) -> Option<DeriveInput> {
    match syn::parse2::<DeriveInput>(item.clone()) {
        Ok(input) => {
            if let Data::Union(data) = &input.data {
                // A handler is built and shared across threads; a union cannot be read safely.
                wrong_item(cx, data.union_token.span, "a union");
                return None;
            }
            Some(input)
        }
        Err(err) => {
            match keyword(item) {
                Some((span, what)) if !matches!(what, "a struct" | "an enum") => {
                    wrong_item(cx, span, what);
                }
                // A struct or enum that syn cannot parse: syn's own error says where.
                _ => cx.syn_error(err),
            }
            None
        }
    }
}

fn wrong_item(cx: &Ctxt, span: Span, what: &str) {
    cx.error_at(
        span,
        format!("#[cache_handler] goes on a struct or enum (the handler type), not on {what}"),
    );
}

/// The keyword that says what kind of item `item` is, with a description: skips outer
/// attributes, visibility and qualifiers (`const fn`, `unsafe impl`, `extern "C" fn`).
fn keyword(item: &TokenStream) -> Option<(Span, &'static str)> {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let ident_at = |i: usize| match tokens.get(i) {
        Some(TokenTree::Ident(ident)) => Some(ident.to_string()),
        _ => None,
    };
    let mut i = 0;
    // `#[...]` (doc comments arrive in this form too).
    while matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == '#') {
        i += 1;
        if matches!(tokens.get(i), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
        {
            i += 1;
        }
    }
    if ident_at(i).as_deref() == Some("pub") {
        i += 1;
        if matches!(tokens.get(i), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
        {
            i += 1;
        }
    }
    loop {
        let TokenTree::Ident(ident) = tokens.get(i)? else {
            return None;
        };
        let next = ident_at(i + 1);
        let what = match ident.to_string().as_str() {
            "unsafe" | "async" | "default" | "auto" | "safe" => {
                i += 1;
                continue;
            }
            "const" if matches!(next.as_deref(), Some("fn" | "unsafe" | "async" | "extern")) => {
                i += 1;
                continue;
            }
            "extern" => {
                // `extern "C"`: skip the ABI string.
                let after = if matches!(tokens.get(i + 1), Some(TokenTree::Literal(_))) {
                    i + 2
                } else {
                    i + 1
                };
                match tokens.get(after) {
                    Some(TokenTree::Ident(next)) if next == "fn" => {
                        i = after;
                        continue;
                    }
                    Some(TokenTree::Ident(next)) if next == "crate" => "an extern crate",
                    _ => "an extern block",
                }
            }
            "const" => "a constant",
            "fn" => "a function",
            "impl" => "an impl block",
            "trait" => "a trait",
            "mod" => "a module",
            "static" => "a static",
            "type" => "a type alias",
            "use" => "a use declaration",
            "macro_rules" => "a macro",
            "union" => "a union",
            "struct" => "a struct",
            "enum" => "an enum",
            _ => "a macro invocation",
        };
        return Some((ident.span(), what));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn what(item: TokenStream) -> Option<&'static str> {
        keyword(&item).map(|(_, what)| what)
    }

    #[test]
    fn finds_the_item_keyword() {
        assert_eq!(
            what(quote!(
                fn f() {}
            )),
            Some("a function")
        );
        assert_eq!(
            what(quote!(
                #[doc = "x"]
                #[inline]
                pub(crate) const unsafe fn f() {}
            )),
            Some("a function")
        );
        assert_eq!(
            what(quote!(
                pub extern "C" fn f() {}
            )),
            Some("a function")
        );
        assert_eq!(
            what(quote!(
                unsafe impl Send for X {}
            )),
            Some("an impl block")
        );
        assert_eq!(
            what(quote!(
                impl<T> Tr for X<T> {}
            )),
            Some("an impl block")
        );
        assert_eq!(
            what(quote!(
                pub trait T {}
            )),
            Some("a trait")
        );
        assert_eq!(
            what(quote!(
                const X: fn() = f;
            )),
            Some("a constant")
        );
        assert_eq!(
            what(quote!(
                static X: u8 = 1;
            )),
            Some("a static")
        );
        assert_eq!(
            what(quote!(
                type A = B;
            )),
            Some("a type alias")
        );
        assert_eq!(
            what(quote!(
                use a::b;
            )),
            Some("a use declaration")
        );
        assert_eq!(
            what(quote!(
                mod m {}
            )),
            Some("a module")
        );
        assert_eq!(
            what(quote!(
                extern crate core;
            )),
            Some("an extern crate")
        );
        assert_eq!(
            what(quote!(
                extern "C" {}
            )),
            Some("an extern block")
        );
        assert_eq!(what(quote!(union U { a: u8 })), Some("a union"));
        assert_eq!(what(quote!(my_macro! {})), Some("a macro invocation"));
        assert_eq!(
            what(quote!(
                pub struct S;
            )),
            Some("a struct")
        );
    }
}
