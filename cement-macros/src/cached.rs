//! `#[cached(...)]`: a function's result cached on the app's cache. The function is kept
//! whole as `<name>_uncached`; `<name>` becomes a wrapper that builds the key and calls
//! `::cement::cache::memo::run` (or `run_async`) around it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ItemFn, LitInt, LitStr, Pat, PathArguments,
    ReturnType, Type,
};

use crate::ctxt::Ctxt;
use crate::parse::{self, Args};
use crate::suggest::did_you_mean;
use crate::symbol::{CACHE, CACHED_ATTR, CACHED_KEYS, CACHE_NONE, KEY, TTL, VERSION};

#[derive(Default)]
struct Attrs {
    ttl: Option<LitInt>,
    key: Option<LitStr>,
    version: Option<LitInt>,
    cache: Option<Ident>,
    cache_none: Option<Span>,
}

fn attrs(cx: &Ctxt, args: TokenStream) -> Attrs {
    let mut attrs = Attrs::default();
    let mut keys = Args::new(cx, CACHED_ATTR, CACHED_KEYS);
    let parser = |input: ParseStream| {
        keys.parse(input, |key, input| match key.symbol {
            TTL => attrs.ttl = parse::parsed(cx, key, input, "expected seconds: ttl = 60"),
            KEY => attrs.key = parse::string(cx, key, input),
            VERSION => {
                attrs.version = parse::parsed(cx, key, input, "expected a number: version = 2")
            }
            CACHE => {
                attrs.cache = parse::parsed(cx, key, input, "expected a parameter: cache = app")
            }
            CACHE_NONE => attrs.cache_none = Some(key.ident.span()),
            _ => {}
        })
    };
    if let Err(err) = parser.parse2(args) {
        cx.syn_error(err);
    }
    attrs
}

/// Which cache face a parameter's type names, by its last path segment.
#[derive(Clone, Copy, PartialEq)]
enum Face {
    App,
    Blocking,
    Async,
}

fn face_of(ty: &Type) -> Option<Face> {
    let ty = match ty {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    let Type::Path(path) = ty else { return None };
    match path.path.segments.last()?.ident.to_string().as_str() {
        "Application" => Some(Face::App),
        "Cache" => Some(Face::Blocking),
        "AsyncCache" => Some(Face::Async),
        _ => None,
    }
}

struct Param<'a> {
    ident: &'a Ident,
    ty: &'a Type,
}

/// How the return type is cached: the `memo` kind, and the type whose value is stored.
fn kind(cx: &Ctxt, output: &ReturnType, cache_none: Option<Span>) -> (TokenStream, Type) {
    let ty: Type = match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Type::ImplTrait(_) = ty {
        cx.error_spanned_by(&ty, "#[cement::cached] cannot store an `impl Trait` return value: return a concrete type that implements `serde::Serialize` and `serde::Deserialize`");
    }
    let last = match &ty {
        Type::Path(path) => path.path.segments.last(),
        _ => None,
    };
    let first_arg = last.and_then(|seg| match &seg.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    });
    let name = last.map(|seg| seg.ident.to_string()).unwrap_or_default();
    let (kind, stored) = match (name.as_str(), first_arg) {
        ("Result", Some(t)) => (quote!(OkOnly), t),
        ("Option", Some(t)) if cache_none.is_some() => (quote!(SomeOrNone), t),
        ("Option", Some(t)) => (quote!(SomeOnly), t),
        _ => (quote!(Always), ty),
    };
    if let (Some(span), false) = (cache_none, name == "Option") {
        cx.error_at(span, "`cache_none` caches a returned `None`, but this fn does not return an `Option`: remove `cache_none`");
    }
    (kind, stored)
}

pub(crate) fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = attrs(&cx, args);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            cx.error_spanned_by(
                &item,
                "#[cement::cached] goes on a fn: #[cement::cached(ttl = 60)] fn f(app: &cement::Application, ...) -> T",
            );
            return with_errors(cx, item);
        }
    };
    let sig = &func.sig;
    let is_async = sig.asyncness.is_some();

    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(_) | GenericParam::Const(_) => cx.error_spanned_by(param, "#[cement::cached] cannot key a generic parameter: one function would share keys across types; write a fn per concrete type, each with its own #[cement::cached]"),
        }
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => cx.error_spanned_by(receiver, "#[cement::cached] works on free fns, not methods: move the body to a fn that takes what it needs (with the cache as a parameter)"),
            FnArg::Typed(typed) => {
                if let Type::ImplTrait(_) = &*typed.ty {
                    cx.error_spanned_by(&typed.ty, "#[cement::cached] cannot key an `impl Trait` parameter: take a concrete type that implements `serde::Serialize`");
                }
                match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        params.push(Param {
                            ident: &pat.ident,
                            ty: &typed.ty,
                        })
                    }
                    other => cx.error_spanned_by(other, "#[cement::cached] needs each parameter bound to a plain name (`x: T`), to key and forward it"),
                }
            }
        }
    }

    // The cache parameter: named by `cache = param`, or found by its type.
    let names: Vec<String> = params.iter().map(|p| p.ident.to_string()).collect();
    let cache_index = match &attrs.cache {
        Some(named) => {
            let found = params.iter().position(|p| p.ident == named);
            if found.is_none() {
                cx.error_spanned_by(
                    named,
                    format!(
                        "`cache = {named}` names no parameter of `{}`{}",
                        sig.ident,
                        did_you_mean(&named.to_string(), names.iter().map(String::as_str))
                    ),
                );
            }
            found
        }
        None => {
            let found = params.iter().position(|p| face_of(p.ty).is_some());
            if found.is_none() {
                let example = if is_async {
                    "`cache: &cement::cache::AsyncCache` or `app: &cement::Application`"
                } else {
                    "`app: &cement::Application` or `cache: &cement::cache::Cache`"
                };
                cx.error_spanned_by(
                    &sig.ident,
                    format!("#[cement::cached] needs the cache as a parameter: add {example}, or name one with `cache = param`"),
                );
            }
            found
        }
    };
    if let Some(param) = cache_index.map(|i| &params[i]) {
        match (face_of(param.ty), is_async) {
            (Some(Face::Async), false) => cx.error_spanned_by(param.ty, "a sync fn cannot wait on `AsyncCache`: take `&cement::cache::Cache` (or `&cement::Application`), or make the fn `async`"),
            (Some(Face::Blocking), true) => cx.error_spanned_by(param.ty, "an `async fn` must not block on `Cache`: take `&cement::cache::AsyncCache` (or `&cement::Application`), or make the fn sync"),
            _ => {}
        }
    }

    if let Some(ttl) = &attrs.ttl {
        match ttl.base10_parse::<u64>() {
            Ok(0) => cx.error_spanned_by(ttl, "`ttl = 0` would expire every value at once: give seconds > 0, or leave `ttl` out to use the section's `expire_time`"),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(ttl, "expected whole seconds: ttl = 60"),
        }
    }
    if let Some(version) = &attrs.version {
        if version.base10_parse::<u32>().is_err() {
            cx.error_spanned_by(
                version,
                "expected a version number from 0 to 4294967295: version = 2",
            );
        }
    }

    let keyed: Vec<&Param> = params
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != cache_index)
        .map(|(_, p)| p)
        .collect();
    let readable = attrs
        .key
        .as_ref()
        .and_then(|lit| template(&cx, lit, &keyed, &sig.ident, attrs.version.as_ref()));
    let (kind, stored) = kind(&cx, &sig.output, attrs.cache_none);

    if let Err(err) = cx.check() {
        return with_errors_emitted(err, item);
    }
    let Some(cache_index) = cache_index else {
        return item;
    };
    expand(
        &func,
        &attrs,
        &params,
        cache_index,
        readable,
        &keyed,
        kind,
        stored,
    )
}

/// `key = "user:{id}"` as the arguments of a `format_args!` / `format!` call (the format
/// string first), each `{param}` a keyed parameter. With `version = N`, `#vN` is appended.
fn template(
    cx: &Ctxt,
    lit: &LitStr,
    keyed: &[&Param],
    fn_name: &Ident,
    version: Option<&LitInt>,
) -> Option<TokenStream> {
    let text = lit.value();
    let mut format = String::new();
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    let names: Vec<String> = keyed.iter().map(|p| p.ident.to_string()).collect();
    let mut ok = true;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                format.push_str("{{");
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                format.push_str("}}");
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    cx.error_spanned_by(
                        lit,
                        "unclosed `{` in the key: write `{param}`, or `{{` for a literal brace",
                    );
                    ok = false;
                    break;
                }
                match keyed.iter().find(|p| p.ident == name.as_str()) {
                    Some(param) => {
                        let ident = param.ident;
                        args.push(quote_spanned!(lit.span()=> #ident));
                        format.push_str("{}");
                    }
                    None => {
                        let listed = if names.is_empty() {
                            "it has none besides the cache".to_string()
                        } else {
                            format!("its keyable parameters: {}", names.join(", "))
                        };
                        cx.error_spanned_by(
                            lit,
                            format!(
                                "`{{{name}}}` in the key names no parameter of `{fn_name}`{} ({listed})",
                                did_you_mean(&name, names.iter().map(String::as_str))
                            ),
                        );
                        ok = false;
                    }
                }
            }
            '}' => {
                cx.error_spanned_by(
                    lit,
                    "unmatched `}` in the key: write `}}` for a literal brace",
                );
                ok = false;
            }
            other => format.push(other),
        }
    }
    if let Some(version) = version {
        format.push_str("#v");
        format.push_str(version.base10_digits());
    }
    ok.then(|| {
        let format = LitStr::new(&format, lit.span());
        quote!(#format #(, #args)*)
    })
}

#[allow(clippy::too_many_arguments)]
fn expand(
    func: &ItemFn,
    attrs: &Attrs,
    params: &[Param],
    cache_index: usize,
    readable: Option<TokenStream>,
    keyed: &[&Param],
    kind: TokenStream,
    stored: Type,
) -> TokenStream {
    let sig = &func.sig;
    let name = &sig.ident;
    let vis = &func.vis;
    let uncached = format_ident!("{}_uncached", name);
    let (docs, other): (Vec<_>, Vec<_>) = func.attrs.iter().partition(|a| a.path().is_ident("doc"));

    let mut inner_sig = sig.clone();
    inner_sig.ident = uncached.clone();
    let body = &func.block;
    let uncached_doc = format!(
        "[`{name}`] without its cache: the body as written, for tests and for callers that must not read the cache."
    );

    // The wrapper's parameters: the same names and types, without `mut`.
    let mut outer_sig = sig.clone();
    for input in outer_sig.inputs.iter_mut() {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(pat) = &mut *typed.pat {
                pat.mutability = None;
            }
        }
    }

    let cache = params[cache_index].ident;
    let forwarded = params.iter().map(|p| p.ident);
    let version = match &attrs.version {
        Some(v) => quote!(#v),
        None => quote!(0),
    };
    let ttl = match &attrs.ttl {
        Some(t) => quote!(::cement::cache::memo::ttl(#t)),
        None => quote!(::core::option::Option::None),
    };
    let fn_name = LitStr::new(&name.to_string(), name.span());
    let digest_key = || {
        let args = keyed.iter().map(|p| p.ident);
        quote!(::cement::cache::memo::key(__CEMENT_FN, #version, &(#(&#args,)*)))
    };
    let keyable = if attrs.key.is_some() {
        Vec::new()
    } else {
        keyed
            .iter()
            .map(|p| {
                let ty = p.ty;
                quote_spanned!(ty.span()=> ::cement::cache::memo::keyable::<#ty>();)
            })
            .collect()
    };
    let storable = quote_spanned!(stored.span()=> ::cement::cache::memo::storable::<#stored>(););
    // A sync fn with a readable key renders it into the thread's reused buffer (`KeyBuf`);
    // the others build a `String` (an async fn's key lives across its `.await`s, on whichever
    // thread resumes it).
    let call = match (sig.asyncness.is_some(), readable) {
        (true, readable) => {
            let key = match readable {
                Some(template) => quote!(::cement::cache::memo::readable(
                    ::cement::cache::memo::format!(#template)
                )),
                None => digest_key(),
            };
            quote! {
                ::cement::cache::memo::run_async::<::cement::cache::memo::#kind, _, _, _>(
                    ::cement::cache::memo::AsyncSource::memo_cache(#cache),
                    __CEMENT_FN,
                    #key,
                    #ttl,
                    move || #uncached(#(#forwarded),*),
                ).await
            }
        }
        // The key is rendered (and the parameters' borrows end) before the body takes them.
        (false, Some(template)) => quote! {
            let __cement_key = ::cement::cache::memo::KeyBuf::render(
                ::cement::cache::memo::format_args!(#template)
            );
            ::cement::cache::memo::run::<::cement::cache::memo::#kind, _, _>(
                ::cement::cache::memo::Source::memo_cache(#cache),
                __CEMENT_FN,
                __cement_key,
                #ttl,
                move || #uncached(#(#forwarded),*),
            )
        },
        (false, None) => {
            let key = digest_key();
            quote! {
                ::cement::cache::memo::run::<::cement::cache::memo::#kind, _, _>(
                    ::cement::cache::memo::Source::memo_cache(#cache),
                    __CEMENT_FN,
                    #key,
                    #ttl,
                    move || #uncached(#(#forwarded),*),
                )
            }
        }
    };
    quote! {
        #(#docs)*
        #(#other)*
        #vis #outer_sig {
            const __CEMENT_FN: &str = ::cement::cache::memo::concat!(::cement::cache::memo::module_path!(), "::", #fn_name);
            #(#keyable)*
            #storable
            #call
        }

        #[doc = #uncached_doc]
        #(#other)*
        #vis #inner_sig {
            // The cache is the wrapper's; the body need not use it.
            let _ = &#cache;
            #body
        }
    }
}

fn with_errors(cx: Ctxt, item: TokenStream) -> TokenStream {
    match cx.check() {
        Ok(()) => item,
        Err(err) => with_errors_emitted(err, item),
    }
}

/// The function as written, plus the errors: the rest of the user's code keeps compiling.
fn with_errors_emitted(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut tokens = err.into_compile_error();
    tokens.extend(item);
    tokens
}
