//! `#[cache_handler(...)]`: the item unchanged, plus its registration.

mod attr;
mod expand;
mod item;
mod valid;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn cache_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = attr::get(&cx, args);
    let input = item::parse(&cx, &item);
    valid::check(&cx, input.as_ref(), &attrs);
    let generated = match cx.check() {
        Ok(()) => input.as_ref().map(|input| expand::register(input, &attrs)),
        // The item stays as written so that the rest of the user's code keeps compiling;
        // only the registration is missing.
        Err(err) => Some(err.into_compile_error()),
    };
    let mut tokens = item;
    tokens.extend(generated);
    tokens
}
