//! Checks on a parsed `#[derive(App)]` that parsing alone cannot make: item kind, generics,
//! a label that is present and well-formed, known hook names.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput};

use super::attr::Attrs;
use crate::ctxt::Ctxt;
use crate::label;
use crate::suggest;
use crate::symbol::HOOK_NAMES;

pub(crate) fn check(cx: &Ctxt, input: &DeriveInput, attrs: &Attrs) {
    check_item(cx, input);
    check_label_present(cx, input, attrs);
    if let Some(lit) = &attrs.label {
        label::check(cx, "app label", lit);
    }
    if let Some(lit) = &attrs.cache_handler {
        label::check(cx, "cache_handler label", lit);
    }
    for lit in &attrs.extensions {
        label::check(cx, "extension label", lit);
    }
    for hook in &attrs.hooks {
        let name = hook.name.unraw().to_string();
        if !HOOK_NAMES.contains(&name.as_str()) {
            let near = suggest::did_you_mean(&name, HOOK_NAMES.iter().copied());
            cx.error_at(
                hook.name.span(),
                format!(
                    "unknown hook `{name}`{near} (hooks: {})",
                    HOOK_NAMES.join(", ")
                ),
            );
        }
    }
    for lit in &attrs.config_files {
        if lit.value().is_empty() {
            cx.error_spanned_by(
                lit,
                "config file path cannot be empty: config_files = [\"app.toml\", ...]",
            );
        }
    }
}

fn check_item(cx: &Ctxt, input: &DeriveInput) {
    let kind = match &input.data {
        Data::Struct(_) => None,
        Data::Enum(data) => Some((data.enum_token.span, "an enum")),
        Data::Union(data) => Some((data.union_token.span, "a union")),
    };
    if let Some((span, what)) = kind {
        cx.error_at(
            span,
            format!("#[derive(App)] goes on a struct, not on {what}: an app is a struct, e.g. `struct MyApp;`"),
        );
    }
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "#[derive(App)] needs a struct without generic parameters: an app is one concrete type",
        );
    }
}

fn check_label_present(cx: &Ctxt, input: &DeriveInput, attrs: &Attrs) {
    if attrs.label.is_some() || attrs.label_mentioned {
        return;
    }
    let example = label::example(Some(&input.ident.unraw().to_string()), "myapp");
    let msg = if attrs.present {
        format!("missing `label = \"...\"` in #[app(...)], e.g. #[app(label = {example:?}, ...)]")
    } else {
        format!("missing #[app(label = \"...\")]: #[derive(App)] needs the app's label, e.g. #[app(label = {example:?})]")
    };
    cx.error_at(input.ident.span(), msg);
}
