//! Rust names for a connector's generated items (README, "Generated crates and the runtime").
//!
//! `connector.google.drive.files_list` becomes crate `connector_google` (one
//! crate per vendor), module `drive` (one nested module per group segment; none
//! means the crate root), functions `files_list_node_spec` and
//! `files_list_register`, and structs `FilesListInput` / `FilesListOutput`.
//!
//! Names from a manifest may be Rust keywords. Most become raw identifiers
//! (`type` → `r#type`): serde strips the `r#`, so the wire name is unchanged.
//! `self`, `super`, `crate` and `Self` cannot be raw, and `_` is not an
//! identifier at all; those get a trailing underscore (`self` → `self_`), and
//! [`RustIdent::is_renamed`] tells the generator it must add
//! `#[serde(rename = "self")]`. In a field list a renamed field that would
//! clash with a declared one gets further underscores (see [`field_idents`]).
//!
//! Two mappings here are not one-to-one: CamelCase drops underscores
//! (`a_1` and `a1` both give `A1`), and escaping can meet a real name (group
//! `self` and group `self_` both give module `self_`). [`check_collisions`]
//! finds such pairs among the ids of one generation run, so `generate` can
//! refuse them instead of writing a crate that does not compile.
//!
//! Generated code should name other crates by absolute paths (`::core::`,
//! `::lf_runtime::`): a group segment may well be `core` or `std`, and a module
//! of that name makes a relative `use core::...` ambiguous.

use std::collections::HashMap;
use std::fmt;

use lf_runtime::spec::ConnectorId;

/// Every Rust keyword, strict or reserved, in any edition up to 2024. Weak
/// keywords (`union`, `raw`, `safe`, `macro_rules`) are valid identifiers and
/// are not listed.
pub const RUST_KEYWORDS: [&str; 52] = [
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names that cannot be written as raw identifiers (`r#self` is an error), plus
/// `_`, which is not an identifier.
const NOT_RAW: [&str; 5] = ["Self", "crate", "self", "super", "_"];

fn is_keyword(name: &str) -> bool {
    RUST_KEYWORDS.contains(&name)
}

/// A Rust identifier made from a manifest name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RustIdent {
    ident: String,
    renamed: bool,
}

impl RustIdent {
    /// The identifier as it is written in Rust source (`r#type`, `self_`, `query`).
    pub fn as_str(&self) -> &str {
        &self.ident
    }

    /// The identifier without a raw prefix (`type`, `self_`, `query`): the name
    /// serde derives for a field, and the file stem rustc looks for a module in.
    pub fn unraw(&self) -> &str {
        self.ident.strip_prefix("r#").unwrap_or(&self.ident)
    }

    /// Whether [`RustIdent::unraw`] differs from the source name, so a
    /// serialised field needs `#[serde(rename = "<name>")]`.
    pub fn is_renamed(&self) -> bool {
        self.renamed
    }
}

impl fmt::Display for RustIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ident)
    }
}

/// The identifier for `name` (a manifest field name or id segment): itself,
/// `r#name` for a keyword, or `name_` for one that cannot be raw.
pub fn rust_ident(name: &str) -> RustIdent {
    if NOT_RAW.contains(&name) {
        RustIdent {
            ident: format!("{name}_"),
            renamed: true,
        }
    } else if is_keyword(name) {
        RustIdent {
            ident: format!("r#{name}"),
            renamed: false,
        }
    } else {
        RustIdent {
            ident: name.to_owned(),
            renamed: false,
        }
    }
}

/// Identifiers for the fields of one struct, in order. Names are assumed
/// distinct (the manifest checks that); a renamed one that would equal another
/// field's identifier gets more trailing underscores until it is unique
/// (`self` beside `self_` becomes `self__`).
pub fn field_idents<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<RustIdent> {
    let names: Vec<&str> = names.into_iter().collect();
    let mut taken: Vec<String> = names
        .iter()
        .map(|n| rust_ident(n))
        .filter(|id| !id.renamed)
        .map(|id| id.unraw().to_owned())
        .collect();
    names
        .iter()
        .map(|name| {
            let mut id = rust_ident(name);
            if id.renamed {
                while taken.contains(&id.ident) {
                    id.ident.push('_');
                }
                taken.push(id.ident.clone());
            }
            id
        })
        .collect()
}

/// CamelCase of a `[a-z][a-z0-9_]*` segment: `files_list` → `FilesList`,
/// `list_v2` → `ListV2`. Underscores are dropped, so this is not one-to-one.
pub fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for part in segment.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// The wrapper crate for a vendor: `connector_<vendor>`.
pub fn crate_name(id: &ConnectorId) -> String {
    format!("connector_{}", id.vendor())
}

/// Every Rust name generated for one connector id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeNames {
    /// The vendor crate, `connector_google`.
    pub crate_name: String,
    /// The module path inside the crate, outermost first (`[drive]`); empty
    /// when the id has no group segment.
    pub modules: Vec<RustIdent>,
    /// `<node>_node_spec`.
    pub node_spec_fn: String,
    /// `<node>_register`.
    pub register_fn: String,
    /// `<Node>Input`.
    pub input_struct: String,
    /// `<Node>Output`.
    pub output_struct: String,
}

impl NodeNames {
    /// The names for `id`.
    pub fn new(id: &ConnectorId) -> Self {
        let node = id.node();
        let camel = camel_case(node);
        NodeNames {
            crate_name: crate_name(id),
            modules: id.groups().iter().map(|g| rust_ident(g)).collect(),
            node_spec_fn: format!("{node}_node_spec"),
            register_fn: format!("{node}_register"),
            input_struct: format!("{camel}Input"),
            output_struct: format!("{camel}Output"),
        }
    }

    /// The module path inside the crate, `drive::v2`; empty at the crate root.
    pub fn module_path(&self) -> String {
        self.modules
            .iter()
            .map(RustIdent::as_str)
            .collect::<Vec<_>>()
            .join("::")
    }

    /// The absolute path of `item` as seen from a dependent crate:
    /// `connector_google::drive::files_list_node_spec`.
    pub fn item_path(&self, item: &str) -> String {
        let mut path = self.crate_name.clone();
        for module in &self.modules {
            path.push_str("::");
            path.push_str(module.as_str());
        }
        path.push_str("::");
        path.push_str(item);
        path
    }
}

/// Two different connector ids that would produce the same Rust item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "connector ids `{first}` and `{second}` both map to the Rust name `{path}`; rename one of them (CamelCase drops underscores, and `self`/`super`/`crate` become `self_`/`super_`/`crate_`)"
)]
pub struct NameCollision {
    /// The id that claimed the name first (in the order given).
    pub first: ConnectorId,
    /// The id that clashes with it.
    pub second: ConnectorId,
    /// The clashing Rust path, e.g. `connector_acme::kv::A1Input`.
    pub path: String,
}

/// Checks that distinct ids never map to the same module, struct or function.
/// The same id given twice is not a naming problem and is ignored here.
pub fn check_collisions<'a>(
    ids: impl IntoIterator<Item = &'a ConnectorId>,
) -> Result<(), NameCollision> {
    // Rust path → (the id-segment prefix or id it came from, the id that claimed it).
    let mut claimed: HashMap<String, (String, &ConnectorId)> = HashMap::new();
    for id in ids {
        let names = NodeNames::new(id);
        let mut claims = Vec::new();
        let mut rust_path = names.crate_name.clone();
        let mut source = format!("{}.{}", ConnectorId::PREFIX, id.vendor());
        for (module, group) in names.modules.iter().zip(id.groups()) {
            rust_path = format!("{rust_path}::{module}");
            source = format!("{source}.{group}");
            claims.push((rust_path.clone(), source.clone()));
        }
        for item in [
            &names.node_spec_fn,
            &names.register_fn,
            &names.input_struct,
            &names.output_struct,
        ] {
            claims.push((names.item_path(item), id.to_string()));
        }
        for (path, source) in claims {
            match claimed.get(&path) {
                Some((earlier, first)) if *earlier != source => {
                    return Err(NameCollision {
                        first: (*first).clone(),
                        second: id.clone(),
                        path,
                    });
                }
                Some(_) => {}
                None => {
                    claimed.insert(path, (source, id));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(s: &str) -> ConnectorId {
        s.parse().unwrap()
    }

    #[test]
    fn design_example() {
        let n = NodeNames::new(&id("connector.google.drive.files_list"));
        assert_eq!(n.crate_name, "connector_google");
        assert_eq!(n.module_path(), "drive");
        assert_eq!(n.node_spec_fn, "files_list_node_spec");
        assert_eq!(n.register_fn, "files_list_register");
        assert_eq!(n.input_struct, "FilesListInput");
        assert_eq!(n.output_struct, "FilesListOutput");
        assert_eq!(
            n.item_path(&n.node_spec_fn),
            "connector_google::drive::files_list_node_spec"
        );
    }

    #[test]
    fn no_group_means_crate_root() {
        let n = NodeNames::new(&id("connector.acme.ping"));
        assert_eq!(n.crate_name, "connector_acme");
        assert!(n.modules.is_empty());
        assert_eq!(n.module_path(), "");
        assert_eq!(n.item_path(&n.register_fn), "connector_acme::ping_register");
        assert_eq!(n.input_struct, "PingInput");
    }

    #[test]
    fn several_groups_nest_and_keywords_escape() {
        let n = NodeNames::new(&id("connector.aws.s3.type.self.list_v2"));
        assert_eq!(n.module_path(), "s3::r#type::self_");
        assert_eq!(
            n.modules.iter().map(RustIdent::unraw).collect::<Vec<_>>(),
            ["s3", "type", "self_"]
        );
        assert_eq!(n.node_spec_fn, "list_v2_node_spec");
        assert_eq!(n.input_struct, "ListV2Input");
        // A keyword node still gives ordinary item names.
        let n = NodeNames::new(&id("connector.acme.fn"));
        assert_eq!(n.node_spec_fn, "fn_node_spec");
        assert_eq!(n.output_struct, "FnOutput");
    }

    #[test]
    fn camel_case_cases() {
        for (s, c) in [
            ("files_list", "FilesList"),
            ("ping", "Ping"),
            ("list_v2", "ListV2"),
            ("a_1", "A1"),
            ("x__y_", "XY"),
            ("already1x", "Already1x"),
        ] {
            assert_eq!(camel_case(s), c, "{s}");
        }
    }

    #[test]
    fn keywords_become_raw_or_suffixed() {
        let r = rust_ident("type");
        assert_eq!(r.as_str(), "r#type");
        assert_eq!(r.unraw(), "type");
        assert!(!r.is_renamed());
        for kw in ["async", "gen", "try", "yield", "match", "true", "dyn"] {
            assert_eq!(rust_ident(kw).to_string(), format!("r#{kw}"));
        }
        for (name, ident) in [
            ("self", "self_"),
            ("super", "super_"),
            ("crate", "crate_"),
            ("Self", "Self_"),
            ("_", "__"),
        ] {
            let r = rust_ident(name);
            assert_eq!(r.as_str(), ident);
            assert!(r.is_renamed(), "{name}");
        }
        for plain in ["query", "union", "raw", "safe", "_private", "r"] {
            let r = rust_ident(plain);
            assert_eq!(r.as_str(), plain);
            assert!(!r.is_renamed());
        }
    }

    #[test]
    fn keyword_table_is_sorted_and_unique() {
        let mut sorted = RUST_KEYWORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, RUST_KEYWORDS);
    }

    #[test]
    fn field_idents_stay_unique() {
        let ids = field_idents(["self", "self_", "type", "query", "_", "__"]);
        let text: Vec<&str> = ids.iter().map(RustIdent::as_str).collect();
        assert_eq!(text, ["self__", "self_", "r#type", "query", "___", "__"]);
        assert_eq!(
            ids.iter().map(RustIdent::is_renamed).collect::<Vec<_>>(),
            [true, false, false, false, true, false]
        );
        // Without a clash nothing changes.
        let ids = field_idents(["self", "x"]);
        assert_eq!(ids[0].as_str(), "self_");
    }

    #[test]
    fn collisions_are_found() {
        let ok = [
            id("connector.google.drive.files_list"),
            id("connector.google.drive.files_get"),
            id("connector.google.sheets.files_list"),
            id("connector.google.drive"),
            id("connector.acme.drive.files_list"),
            id("connector.google.drive.files_list"),
        ];
        check_collisions(&ok).unwrap();

        let e = check_collisions(&[id("connector.acme.kv.a_1"), id("connector.acme.kv.a1")])
            .unwrap_err();
        assert_eq!(e.first.as_str(), "connector.acme.kv.a_1");
        assert_eq!(e.second.as_str(), "connector.acme.kv.a1");
        assert_eq!(e.path, "connector_acme::kv::A1Input");
        assert!(
            e.to_string()
                .contains("both map to the Rust name `connector_acme::kv::A1Input`")
        );

        let e = check_collisions(&[
            id("connector.acme.self.ping"),
            id("connector.acme.self_.pong"),
        ])
        .unwrap_err();
        assert_eq!(e.path, "connector_acme::self_");

        // Same CamelCase in different modules is fine.
        check_collisions(&[id("connector.acme.x.a_1"), id("connector.acme.y.a1")]).unwrap();
    }
}
