//! The registration `#[cache_handler]` adds after the item.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::attr::Attrs;

pub(crate) fn register(input: &DeriveInput, attrs: &Attrs) -> TokenStream {
    let Some(label) = &attrs.label else {
        // Validation reports a missing label; never reached with one missing.
        return TokenStream::new();
    };
    let ident = &input.ident;
    let name = ident.unraw().to_string();
    let extension = match &attrs.extension {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    // Typed as the fn pointer the registry stores, so a function with another signature
    // gets a plain "mismatched types" error at its path.
    let config_defaults = match &attrs.config_defaults {
        Some(f) => quote_spanned! {f.span()=>
            ::core::option::Option::Some({
                let config_defaults: fn() -> ::cement::Config = #f;
                config_defaults
            })
        },
        None => quote!(::core::option::Option::None),
    };
    // Spanned at the type's name: "does not implement `CacheHandler`" points there.
    // `async_only`: "does not implement `AsyncCacheHandler`" instead.
    let registration = if attrs.async_only {
        quote_spanned!(ident.span()=> ::cement::__private::HandlerRegistration::cache_async::<#ident>)
    } else {
        quote_spanned!(ident.span()=> ::cement::__private::HandlerRegistration::cache::<#ident>)
    };
    // A `#[cfg]` on the type applies to its registration too.
    let cfgs: Vec<_> = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    // Spanned at the type's name too: when `handlers = [...]` names a non-handler, rustc lists
    // the registered handler types at their definitions, not at this macro.
    let registered = quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl ::cement::__private::RegisteredHandler for #ident {
            const INTERFACE: &'static str = "cache";
            const LABEL: &'static str = #label;
        }
    };
    quote! {
        #(#cfgs)*
        ::cement::__private::inventory::submit! {
            #registration(
                #label,
                // The full path, so that two types registering one label are told apart.
                ::core::concat!(::core::module_path!(), "::", #name),
                #extension,
                #config_defaults,
            )
        }

        #(#cfgs)*
        #registered
    }
}
