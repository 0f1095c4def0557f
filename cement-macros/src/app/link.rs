//! Makes an app link `cement-ext` when its package depends on it.
//!
//! `cement-ext` registers its extensions and handlers with `inventory`: statics that nothing
//! names. rustc hands a dependency's rlib to the linker only if the crate is used, so an app
//! that names its backends only by label (`extensions = ["redis"]`, or a config file) would
//! silently lose them. `use ::cement_ext as _;` counts as a use (verified by
//! `tests/link_by_label.rs`), so the derive emits it — but only where the crate is available
//! to the target being compiled, or the user's build breaks. The rule, read from the
//! package's manifest at expansion time:
//!
//! - in `[dependencies]`: always;
//! - in `[dependencies]` with `optional = true`: under `#[cfg(any(feature = ..))]`, the
//!   features that enable it (`dep:`, `name/feature`, the implicit feature, transitively);
//! - in `[target.'cfg(..)'.dependencies]`: under that `#[cfg(..)]`; for a bare target triple
//!   nothing, as no `cfg` names a whole triple;
//! - in `[dev-dependencies]` only: in integration tests and benches (cargo sets
//!   `CARGO_TARGET_TMPDIR` for those only), examples (cargo sets `CARGO_BIN_NAME` for bins and
//!   examples alike, so: the source file is under `examples/`) and doctests (rustdoc sets
//!   `UNSTABLE_RUSTDOC_TEST_PATH`; best effort); elsewhere under `#[cfg(test)]`, since unit
//!   tests are the only other targets that see dev-dependencies. A lib or bin build never
//!   gets a reference it could not resolve;
//! - the package *is* `cement-ext`: in its bins, examples, tests, benches and doctests, which
//!   link its lib; nothing in the lib itself;
//! - not a dependency (or no manifest): nothing.
//!
//! Where nothing is emitted, the app adds `use cement_ext as _;` itself (the runtime's
//! "unknown extension" error says so).

use std::env;
use std::path::{Path, PathBuf};

use proc_macro2::{Ident, TokenStream, TokenTree};
use proc_macro_crate::FoundCrate;
use quote::quote;
use toml_edit::{DocumentMut, Item, TableLike};

/// The package whose registrations must be linked.
const EXT_PACKAGE: &str = "cement-ext";

/// `const _: () = { use ::cement_ext as _; };`, possibly under a `#[cfg]`, or nothing.
pub(crate) fn cement_ext_reference() -> TokenStream {
    let Some(manifest_dir) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return TokenStream::new(); // not built by cargo
    };
    let Ok(manifest) = std::fs::read_to_string(manifest_dir.join("Cargo.toml")) else {
        return TokenStream::new();
    };
    // proc-macro-crate resolves renames, including `[workspace.dependencies]` ones.
    let name = match proc_macro_crate::crate_name(EXT_PACKAGE) {
        Ok(FoundCrate::Name(name)) => Some(name),
        Ok(FoundCrate::Itself) | Err(_) => None,
    };
    let target = Target::current(&manifest_dir);
    emit(availability(&manifest, name.as_deref(), target))
}

/// What kind of crate is being compiled, as far as dev-dependencies are concerned.
#[derive(Default, Clone, Copy, Debug)]
struct Target {
    /// An integration test or a bench.
    integration: bool,
    /// A bin or an example.
    bin: bool,
    /// An example: sees dev-dependencies.
    example: bool,
    /// A doctest: sees dev-dependencies.
    doctest: bool,
}

impl Target {
    fn current(manifest_dir: &Path) -> Self {
        let bin = env::var_os("CARGO_BIN_NAME").is_some();
        Target {
            integration: env::var_os("CARGO_TARGET_TMPDIR").is_some(),
            bin,
            example: bin && call_site_under(&manifest_dir.join("examples")),
            doctest: env::var_os("UNSTABLE_RUSTDOC_TEST_PATH").is_some(),
        }
    }

    /// Targets that see dev-dependencies whatever `cfg(test)` says.
    fn sees_dev_dependencies(self) -> bool {
        self.integration || self.example || self.doctest
    }
}

/// Whether the derive being expanded is written in a file under `dir`. rustc reports paths
/// relative to its working directory (the workspace root) for workspace members.
fn call_site_under(dir: &Path) -> bool {
    let Some(file) = proc_macro::Span::call_site().local_file() else {
        return false;
    };
    let file = match env::current_dir() {
        Ok(cwd) if file.is_relative() => cwd.join(file),
        _ => file,
    };
    file.starts_with(dir)
}

/// Where the crate is available: always, under a cfg predicate, or never.
#[derive(Debug)]
enum Availability {
    Always(Ident),
    When(Ident, TokenStream),
    Never,
}

fn emit(availability: Availability) -> TokenStream {
    let (krate, cfg) = match availability {
        Availability::Always(krate) => (krate, None),
        Availability::When(krate, predicate) => (krate, Some(quote!(#[cfg(#predicate)]))),
        Availability::Never => return TokenStream::new(),
    };
    quote! {
        // Links cement-ext, whose extensions and handlers are registered at link time; see
        // cement-macros/src/app/link.rs.
        #cfg
        const _: () = {
            #[allow(unused_imports)]
            use ::#krate as _;
        };
    }
}

/// The rule of the module docs. `name` is the extern name proc-macro-crate found for
/// `cement-ext` (`None`: not a dependency, or this package itself).
fn availability(manifest: &str, name: Option<&str>, target: Target) -> Availability {
    let Ok(doc) = manifest.parse::<DocumentMut>() else {
        return Availability::Never;
    };
    let root = doc.as_table();
    let package = root
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(Item::as_str);
    if package == Some(EXT_PACKAGE) {
        return match crate_ident(&sanitize(EXT_PACKAGE)) {
            Some(krate) if target.bin || target.integration || target.doctest => {
                Availability::Always(krate)
            }
            _ => Availability::Never,
        };
    }
    let Some(name) = name else {
        return Availability::Never;
    };
    let Some(krate) = crate_ident(name) else {
        return Availability::Never;
    };

    // Each declaration makes the crate available under some condition; any one suffices.
    let mut conditions: Vec<Option<TokenStream>> = Vec::new(); // `None`: unconditionally
    let mut add = |platform: Option<TokenStream>, condition: Option<TokenStream>| {
        conditions.push(match (platform, condition) {
            (None, c) | (c, None) => c,
            (Some(p), Some(c)) => Some(quote!(all(#p, #c))),
        });
    };
    let mut tables: Vec<(Option<TokenStream>, &dyn TableLike)> = vec![(None, root)];
    if let Some(targets) = root.get("target").and_then(Item::as_table_like) {
        for (spec, table) in targets.iter() {
            // `cfg(..)` specs carry over; a bare target triple has no cfg equivalent.
            if let (Some(predicate), Some(table)) = (cfg_predicate(spec), table.as_table_like()) {
                tables.push((Some(predicate), table));
            }
        }
    }
    for (platform, table) in tables {
        if let Some((key, dep)) = find_dependency(table, "dependencies", name) {
            let optional = dep.get("optional").and_then(Item::as_bool).unwrap_or(false);
            if optional {
                let features = enabling_features(root, key);
                if !features.is_empty() {
                    add(
                        platform.clone(),
                        Some(quote!(any(#(feature = #features),*))),
                    );
                }
            } else {
                add(platform.clone(), None);
            }
        }
        if find_dependency(table, "dev-dependencies", name).is_some() {
            if target.sees_dev_dependencies() {
                add(platform, None);
            } else {
                add(platform, Some(quote!(test)));
            }
        }
    }

    if conditions.iter().any(Option::is_none) {
        return Availability::Always(krate);
    }
    let predicates: Vec<TokenStream> = conditions.into_iter().flatten().collect();
    match predicates.as_slice() {
        [] => Availability::Never,
        [one] => Availability::When(krate, one.clone()),
        many => Availability::When(krate, quote!(any(#(#many),*))),
    }
}

/// The entry of `table.<section>` whose key is the extern name `name` (cargo turns `-` into
/// `_` for the extern name, and a renamed dependency's key is its extern name).
fn find_dependency<'t>(
    table: &'t dyn TableLike,
    section: &str,
    name: &str,
) -> Option<(&'t str, &'t Item)> {
    table
        .get(section)?
        .as_table_like()?
        .iter()
        .find(|(key, _)| sanitize(key) == name)
}

/// The features that enable the optional dependency `key`, directly or through other
/// features: `dep:key`, `key/feature` (not `key?/feature`), and the implicit feature `key`
/// when no `dep:key` hides it.
fn enabling_features(root: &dyn TableLike, key: &str) -> Vec<String> {
    let features: Vec<(&str, Vec<&str>)> = root
        .get("features")
        .and_then(Item::as_table_like)
        .map(|table| {
            table
                .iter()
                .map(|(name, values)| {
                    let values = values
                        .as_array()
                        .map(|array| array.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    (name, values)
                })
                .collect()
        })
        .unwrap_or_default();
    let dep_syntax = format!("dep:{key}");
    let slash = format!("{key}/");
    let hidden = features
        .iter()
        .any(|(_, values)| values.contains(&dep_syntax.as_str()));
    let mut enabling: Vec<String> = Vec::new();
    if !hidden {
        enabling.push(key.to_string());
    }
    for (name, values) in &features {
        if values
            .iter()
            .any(|v| *v == dep_syntax || v.starts_with(&slash))
            && !enabling.iter().any(|e| e == name)
        {
            enabling.push(name.to_string());
        }
    }
    // Features that enable an enabling feature, until nothing changes.
    loop {
        let before = enabling.len();
        for (name, values) in &features {
            if !enabling.iter().any(|e| e == name)
                && values.iter().any(|v| enabling.iter().any(|e| e == v))
            {
                enabling.push(name.to_string());
            }
        }
        if enabling.len() == before {
            break;
        }
    }
    enabling.sort();
    enabling
}

/// `cfg(unix)` → `unix`; `None` for a target triple or anything unparsable.
fn cfg_predicate(spec: &str) -> Option<TokenStream> {
    let tokens: TokenStream = spec.parse().ok()?;
    let mut iter = tokens.into_iter();
    match (iter.next(), iter.next(), iter.next()) {
        (Some(TokenTree::Ident(cfg)), Some(TokenTree::Group(group)), None)
            if cfg == "cfg" && group.delimiter() == proc_macro2::Delimiter::Parenthesis =>
        {
            Some(group.stream())
        }
        _ => None,
    }
}

fn sanitize(name: &str) -> String {
    name.replace('-', "_")
}

/// The crate's name as an identifier, refusing anything that is not one (`Ident::new` would
/// panic).
fn crate_ident(name: &str) -> Option<Ident> {
    syn::parse_str::<Ident>(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: Target = Target {
        integration: false,
        bin: false,
        example: false,
        doctest: false,
    };
    const INTEGRATION: Target = Target {
        integration: true,
        ..LIB
    };
    const BIN: Target = Target { bin: true, ..LIB };
    const EXAMPLE: Target = Target {
        bin: true,
        example: true,
        ..LIB
    };
    const DOCTEST: Target = Target {
        doctest: true,
        ..LIB
    };

    /// The emitted tokens as a string, e.g. `always cement_ext` or `when cement_ext: test`.
    fn rule(manifest: &str, name: Option<&str>, target: Target) -> String {
        match availability(manifest, name, target) {
            Availability::Always(krate) => format!("always {krate}"),
            Availability::When(krate, predicate) => format!("when {krate}: {predicate}"),
            Availability::Never => "never".to_string(),
        }
    }

    const NORMAL: &str = r#"
        [package]
        name = "app"
        [dependencies]
        cement-ext = { version = "0.1", features = ["redis"] }
    "#;

    #[test]
    fn normal_dependency_always() {
        for target in [LIB, INTEGRATION, BIN, EXAMPLE, DOCTEST] {
            assert_eq!(
                rule(NORMAL, Some("cement_ext"), target),
                "always cement_ext"
            );
        }
    }

    #[test]
    fn not_a_dependency() {
        assert_eq!(rule(NORMAL, None, LIB), "never");
        let none = "[package]\nname = \"app\"\n[dependencies]\nserde = \"1\"\n";
        // proc-macro-crate found nothing: never, even if a name were guessed.
        assert_eq!(rule(none, Some("cement_ext"), LIB), "never");
        assert_eq!(rule("not toml [[[", Some("cement_ext"), LIB), "never");
    }

    #[test]
    fn renamed_dependency() {
        let manifest = r#"
            [package]
            name = "app"
            [dependencies]
            ext = { package = "cement-ext", version = "0.1" }
        "#;
        assert_eq!(rule(manifest, Some("ext"), LIB), "always ext");
        // `[dependencies.ext] workspace = true` with the rename in the workspace manifest.
        let manifest = "[package]\nname = \"app\"\n[dependencies.ext]\nworkspace = true\n";
        assert_eq!(rule(manifest, Some("ext"), LIB), "always ext");
    }

    #[test]
    fn dev_dependency_only_where_visible() {
        let manifest = r#"
            [package]
            name = "app"
            [dev-dependencies]
            cement-ext = { path = "../cement-ext" }
        "#;
        assert_eq!(
            rule(manifest, Some("cement_ext"), LIB),
            "when cement_ext: test"
        );
        assert_eq!(
            rule(manifest, Some("cement_ext"), BIN),
            "when cement_ext: test"
        );
        assert_eq!(
            rule(manifest, Some("cement_ext"), INTEGRATION),
            "always cement_ext"
        );
        assert_eq!(
            rule(manifest, Some("cement_ext"), EXAMPLE),
            "always cement_ext"
        );
        assert_eq!(
            rule(manifest, Some("cement_ext"), DOCTEST),
            "always cement_ext"
        );
    }

    #[test]
    fn normal_and_dev_dependency() {
        let manifest = r#"
            [package]
            name = "app"
            [dependencies]
            cement-ext = "0.1"
            [dev-dependencies]
            cement-ext = { version = "0.1", features = ["redis"] }
        "#;
        assert_eq!(rule(manifest, Some("cement_ext"), LIB), "always cement_ext");
    }

    #[test]
    fn optional_dependency_follows_features() {
        let implicit = r#"
            [package]
            name = "app"
            [dependencies]
            cement-ext = { version = "0.1", optional = true }
            [features]
            backends = ["cement-ext/redis"]
            weak = ["cement-ext?/redis"]
            all = ["backends"]
        "#;
        assert_eq!(
            rule(implicit, Some("cement_ext"), LIB),
            r#"when cement_ext: any (feature = "all" , feature = "backends" , feature = "cement-ext")"#
        );
        let explicit = r#"
            [package]
            name = "app"
            [dependencies]
            cement-ext = { version = "0.1", optional = true }
            [features]
            cache = ["dep:cement-ext"]
            default = ["cache"]
        "#;
        assert_eq!(
            rule(explicit, Some("cement_ext"), LIB),
            r#"when cement_ext: any (feature = "cache" , feature = "default")"#
        );
    }

    #[test]
    fn optional_dependency_plus_dev_dependency() {
        let manifest = r#"
            [package]
            name = "app"
            [dependencies]
            cement-ext = { version = "0.1", optional = true }
            [dev-dependencies]
            cement-ext = "0.1"
        "#;
        assert_eq!(
            rule(manifest, Some("cement_ext"), LIB),
            r#"when cement_ext: any (any (feature = "cement-ext") , test)"#
        );
        assert_eq!(
            rule(manifest, Some("cement_ext"), INTEGRATION),
            "always cement_ext"
        );
    }

    #[test]
    fn target_specific_dependency() {
        let manifest = r#"
            [package]
            name = "app"
            [target.'cfg(unix)'.dependencies]
            cement-ext = "0.1"
            [target.x86_64-pc-windows-msvc.dependencies]
            cement-ext = "0.1"
        "#;
        assert_eq!(
            rule(manifest, Some("cement_ext"), LIB),
            "when cement_ext: unix"
        );
        let dev = r#"
            [package]
            name = "app"
            [target.'cfg(target_os = "linux")'.dev-dependencies]
            cement-ext = "0.1"
        "#;
        assert_eq!(
            rule(dev, Some("cement_ext"), LIB),
            r#"when cement_ext: all (target_os = "linux" , test)"#
        );
        let triple_only = "[package]\nname = \"app\"\n[target.x86_64-unknown-linux-gnu.dependencies]\ncement-ext = \"0.1\"\n";
        assert_eq!(rule(triple_only, Some("cement_ext"), LIB), "never");
    }

    #[test]
    fn the_extension_package_itself() {
        let manifest = "[package]\nname = \"cement-ext\"\n[dependencies]\ncement = \"0.1\"\n";
        assert_eq!(rule(manifest, None, LIB), "never");
        assert_eq!(rule(manifest, None, BIN), "always cement_ext");
        assert_eq!(rule(manifest, None, EXAMPLE), "always cement_ext");
        // proc-macro-crate reports the package by name in integration tests.
        assert_eq!(
            rule(manifest, Some("cement_ext"), INTEGRATION),
            "always cement_ext"
        );
        assert_eq!(rule(manifest, None, DOCTEST), "always cement_ext");
    }

    #[test]
    fn cfg_predicates() {
        assert_eq!(
            cfg_predicate("cfg(unix)").map(|p| p.to_string()).as_deref(),
            Some("unix")
        );
        assert!(cfg_predicate("x86_64-unknown-linux-gnu").is_none());
        assert!(cfg_predicate("cfg(").is_none());
    }
}
