// An app struct with fields, visibility, other derives and attributes around it; the
// inherent `setup()`/`builder()` take the struct's visibility and warn about nothing.
#![deny(warnings, unreachable_pub, missing_docs)]
//! A crate that denies warnings.

/// The apps.
pub mod apps {
    use cement::App;

    /// A public app with fields.
    #[derive(App, Debug, Default)]
    #[app(label = "with_fields")]
    pub struct WithFields {
        /// Some state.
        pub name: String,
        count: u32,
    }

    impl WithFields {
        /// Uses the private field.
        pub fn count(&self) -> u32 {
            self.count
        }
    }

    /// A tuple struct, crate-visible.
    #[derive(App)]
    #[app(label = "tuple_app")]
    pub(crate) struct TupleApp(#[allow(dead_code)] pub(crate) u8);

    // Private, and `builder()` is never called: still no dead-code warning.
    #[derive(App)]
    #[app(label = "private_app")]
    struct PrivateApp;

    pub(crate) fn private_label() -> String {
        let app = PrivateApp::setup().unwrap();
        let label = app.label().to_string();
        app.close().unwrap();
        label
    }
}

fn main() {
    let app = apps::WithFields::builder()
        .default_config_files(false)
        .setup()
        .unwrap();
    assert_eq!(app.label(), "with_fields");
    app.close().unwrap();
    assert_eq!(apps::WithFields::default().count(), 0);
    assert_eq!(<apps::TupleApp as cement::App>::meta().label(), "tuple_app");
    assert_eq!(apps::private_label(), "private_app");
}
