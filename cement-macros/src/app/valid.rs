//! Checks on a parsed `#[derive(App)]` that parsing alone cannot make: item kind, generics,
//! a label that is present and well-formed, known hook names.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, LitStr};

use super::attr::Attrs;
use crate::ctxt::Ctxt;
use crate::label;
use crate::suggest;
use crate::symbol::HOOK_NAMES;

pub(crate) fn check(cx: &Ctxt, input: &DeriveInput, attrs: &Attrs) {
    check_item(cx, input);
    check_label_present(cx, input, attrs);
    if let Some(lit) = &attrs.label {
        check_label(cx, "app label", lit);
    }
    if let Some(lit) = &attrs.cache_handler {
        check_label(cx, "cache_handler label", lit);
    }
    for lit in &attrs.extensions {
        check_label(cx, "extension label", lit);
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
    let example = label_for(&input.ident.unraw().to_string());
    let msg = if attrs.present {
        format!("missing `label = \"...\"` in #[app(...)], e.g. #[app(label = {example:?}, ...)]")
    } else {
        format!("missing #[app(label = \"...\")]: #[derive(App)] needs the app's label, e.g. #[app(label = {example:?})]")
    };
    cx.error_at(input.ident.span(), msg);
}

fn check_label(cx: &Ctxt, what: &str, lit: &LitStr) {
    let value = lit.value();
    if !label::is_valid(&value) {
        cx.error_spanned_by(lit, label::error_message(what, &value));
    }
}

/// A label to show in the "missing label" message, derived from the type's name.
fn label_for(type_name: &str) -> String {
    if label::is_valid(type_name) {
        return type_name.to_string();
    }
    label::suggest(type_name).unwrap_or_else(|| "myapp".to_string())
}
