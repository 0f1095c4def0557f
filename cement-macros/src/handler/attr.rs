//! `#[cache_handler(...)]`'s arguments parsed into [`Attrs`].

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{LitStr, Path};

use crate::ctxt::Ctxt;
use crate::parse::{self, Args};
use crate::symbol::{
    ASYNC_ONLY, CACHE_HANDLER_ATTR, CONFIG_DEFAULTS, EXTENSION, HANDLER_KEYS, LABEL,
};

#[derive(Default)]
pub(crate) struct Attrs {
    pub(crate) label: Option<LitStr>,
    pub(crate) extension: Option<LitStr>,
    pub(crate) config_defaults: Option<Path>,
    /// `async_only`: the type implements `AsyncCacheHandler`, not `CacheHandler`.
    pub(crate) async_only: bool,
    /// Whether `label` was written in some form (misspelt, or with a bad value): its error is
    /// reported already.
    pub(crate) label_mentioned: bool,
}

pub(crate) fn get(cx: &Ctxt, args: TokenStream) -> Attrs {
    let mut attrs = Attrs::default();
    let mut keys = Args::new(cx, CACHE_HANDLER_ATTR, HANDLER_KEYS);
    let parser = |input: ParseStream| {
        keys.parse(input, |key, input| match key.symbol {
            LABEL => attrs.label = parse::string(cx, key, input),
            EXTENSION => attrs.extension = parse::string(cx, key, input),
            CONFIG_DEFAULTS => attrs.config_defaults = parse::function(cx, key, input),
            ASYNC_ONLY => attrs.async_only = true,
            // `Args` only passes keys of `HANDLER_KEYS`, all handled above.
            _ => {}
        })
    };
    if let Err(err) = parser.parse2(args) {
        cx.syn_error(err);
    }
    attrs.label_mentioned = keys.mentioned(LABEL);
    attrs
}
