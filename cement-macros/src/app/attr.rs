//! `#[app(...)]` parsed into [`Attrs`], keeping the original tokens for spans.

use proc_macro2::Ident;
use syn::parse::ParseStream;
use syn::{DeriveInput, LitStr, Meta, Path, Type};

use crate::ctxt::Ctxt;
use crate::parse::{self, Args};
use crate::symbol::{
    APP, APP_KEYS, CACHE_HANDLER, CONFIG_DEFAULTS, CONFIG_FILES, EXTENSIONS, HANDLERS, HOOKS, LABEL,
};

#[derive(Default)]
pub(crate) struct Attrs {
    /// Whether the item has any `#[app]` attribute at all.
    pub(crate) present: bool,
    /// Whether `label` was written in some form (misspelt, bad value, or an `#[app]` that is
    /// not a list): its error is reported already.
    pub(crate) label_mentioned: bool,
    pub(crate) label: Option<LitStr>,
    pub(crate) config_defaults: Option<Path>,
    pub(crate) extensions: Vec<LitStr>,
    pub(crate) cache_handler: Option<LitStr>,
    pub(crate) handlers: Vec<Type>,
    pub(crate) hooks: Vec<HookEntry>,
    pub(crate) config_files: Vec<LitStr>,
}

/// `(post_setup, on_ready)` in `hooks = [...]`.
pub(crate) struct HookEntry {
    pub(crate) name: Ident,
    pub(crate) function: Path,
}

pub(crate) fn get(cx: &Ctxt, input: &DeriveInput) -> Attrs {
    let mut attrs = Attrs::default();
    let mut args = Args::new(cx, APP, APP_KEYS);
    for attr in &input.attrs {
        if !attr.path().is_ident(APP) {
            continue;
        }
        attrs.present = true;
        let list = match &attr.meta {
            Meta::List(list) => list,
            other => {
                // `#[app = "myapp"]` shows its fix with the user's label.
                let label = match other {
                    Meta::NameValue(nv) => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(lit),
                            ..
                        }) => lit.value(),
                        _ => "...".to_string(),
                    },
                    _ => "...".to_string(),
                };
                cx.error_spanned_by(attr, format!("expected #[app(label = {label:?}, ...)]"));
                attrs.label_mentioned = true;
                continue;
            }
        };
        let parser = |stream: ParseStream| {
            args.parse(stream, |key, stream| value(cx, &mut attrs, key, stream))
        };
        if let Err(err) = list.parse_args_with(parser) {
            cx.syn_error(err);
        }
    }
    attrs.label_mentioned |= args.mentioned(LABEL);
    attrs
}

fn value(cx: &Ctxt, attrs: &mut Attrs, key: &parse::Key, input: ParseStream) {
    match key.symbol {
        LABEL => attrs.label = parse::string(cx, key, input),
        CONFIG_DEFAULTS => attrs.config_defaults = parse::function(cx, key, input),
        EXTENSIONS => attrs.extensions = parse::string_list(cx, key, input).unwrap_or_default(),
        CACHE_HANDLER => attrs.cache_handler = parse::string(cx, key, input),
        HANDLERS => attrs.handlers = parse::type_list(cx, key, input).unwrap_or_default(),
        HOOKS => {
            let pairs = parse::pair_list(cx, key, input).unwrap_or_default();
            attrs.hooks = pairs
                .into_iter()
                .map(|(name, function)| HookEntry { name, function })
                .collect();
        }
        CONFIG_FILES => attrs.config_files = parse::string_list(cx, key, input).unwrap_or_default(),
        // `Args` only passes keys of `APP_KEYS`, all handled above.
        _ => {}
    }
}
