//! `#[derive(App)]`: parse `#[app(...)]`, validate, expand (or fall back to a stub impl).

mod attr;
mod expand;
mod link;
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = attr::get(&cx, input);
    valid::check(&cx, input, &attrs);
    match cx.check() {
        Ok(()) => expand::derive(input, &attrs),
        Err(err) => {
            // The errors, plus a stub impl so that uses of `MyApp::setup()` etc. do not add
            // a cascade of "no function named `setup`" errors.
            let mut tokens = err.into_compile_error();
            tokens.extend(expand::fallback(input));
            tokens
        }
    }
}
