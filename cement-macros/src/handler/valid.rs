//! Checks on `#[cache_handler]` that parsing alone cannot make: a label that is present and
//! well-formed, and a concrete (non-generic) type.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::DeriveInput;

use super::attr::Attrs;
use crate::ctxt::Ctxt;
use crate::label;

pub(crate) fn check(cx: &Ctxt, input: Option<&DeriveInput>, attrs: &Attrs) {
    match &attrs.label {
        Some(lit) => label::check(cx, "handler label", lit),
        None if attrs.label_mentioned => {}
        None => {
            let name = input.map(|input| input.ident.unraw().to_string());
            let example = label::example(name.as_deref(), "my_cache_handler");
            // The attribute itself is what needs the label.
            cx.error_at(
                Span::call_site(),
                format!("missing `label = \"...\"`: #[cache_handler(label = {example:?})]"),
            );
        }
    }
    if let Some(lit) = &attrs.extension {
        label::check(cx, "extension label", lit);
    }
    if let Some(input) = input {
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "#[cache_handler] registers one concrete type, not a generic one: register a \
                 non-generic type (e.g. a newtype around the instance you need)",
            );
        }
    }
}
