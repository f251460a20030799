//! The WIT world of a connector, derived from its `connector.yaml`.
//!
//! An ABI v2 connector is a component, and the tools that build components
//! (componentize-py, componentize-js, wit-bindgen) need a WIT world. Writing
//! that world by hand would give the schema a second source that can drift
//! from `connector.yaml`, so it is generated here and nowhere else: `lf-resolve
//! wit` prints it, and the host will map values with the same naming rules
//! ([`wit_name`]).
//!
//! Shape (docs/wit.md): package `latticeflow:node@0.2.0`, world `node`, a
//! record per non-empty side (`input`, `output`), the `node-error` record, one
//! import per interface a declared capability needs, and the export `run`.
//!
//! Names: a field's `snake_case` name becomes `kebab-case` by turning each `_`
//! into `-`, one for one, so the mapping can be reversed and two fields never
//! meet. A name the WIT grammar refuses after that (a leading, trailing or
//! doubled `_`) is an error naming the field, never silently repaired. The
//! rule checked is the one of wit-parser and wasmparser 0.254: words separated
//! by `-`, the first starting with a letter, the others with a letter or a
//! digit (`page_2` → `page-2` is valid). A name that is a WIT keyword is
//! written with the `%` escape.
//!
//! Imports: the world names the interfaces (`wasi:http/outgoing-handler@0.2.0`,
//! `latticeflow:capabilities/kv@0.2.0`, …) but this module does not write
//! their definitions. The project's own interfaces are in the repository's
//! `wit/` directory (`lf-resolve new` copies them into `wit/deps/`).
//!
//! [`WasiImports::FromToolchain`] leaves the WASI interfaces out. The
//! language runtimes that build components (componentize-js's `fetch`,
//! componentize-py's standard library, Rust's `wasi` crate) import WASI
//! themselves, in the 0.2.x version they were built against, and ship its
//! WIT; a world naming `wasi:http@0.2.0` as well would need a second copy of
//! those packages for nothing. What a component really imports is checked at
//! `lock` either way, against the grants.

use std::fmt::Write as _;

use lf_runtime::spec::{Capability, ConnectorManifest, FieldSpec, ValueType};

/// The package every generated world belongs to.
pub const NODE_PACKAGE: &str = "latticeflow:node@0.2.0";

/// The name of the generated world.
pub const WORLD_NAME: &str = "node";

/// The package of the project's own capability interfaces (`wit/` in the
/// repository).
pub const CAPABILITIES_PACKAGE: &str = "latticeflow:capabilities@0.2.0";

/// Every WIT keyword, as wit-parser 0.254's lexer recognises them. An
/// identifier spelled like one must be written `%name`.
pub const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "error-context",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "map",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// Which side of the node a field is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A declared input.
    Input,
    /// A declared output.
    Output,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Input => "input",
            Side::Output => "output",
        })
    }
}

/// Why a field name has no WIT spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitNameError {
    /// `_x`: the first word of a WIT name must start with a letter.
    #[error("a WIT name cannot start with `-` (from a leading `_`)")]
    LeadingSeparator,
    /// `x_`: nothing after the last separator.
    #[error("a WIT name cannot end with `-` (from a trailing `_`)")]
    TrailingSeparator,
    /// `a__b`: an empty word.
    #[error("a WIT name cannot have an empty word (from `__`)")]
    EmptyWord,
    /// The first word starts with a digit, or a character outside `[a-z0-9_]`.
    #[error("`{found}` cannot appear there in a WIT name")]
    InvalidChar {
        /// The offending character.
        found: char,
    },
    /// No name at all.
    #[error("a WIT name cannot be empty")]
    Empty,
}

/// Why a manifest has no world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitError {
    /// A field whose name has no WIT spelling.
    #[error("{side} `{field}` has no WIT name (`{kebab}`): {reason}")]
    FieldName {
        /// Input or output.
        side: Side,
        /// The name in connector.yaml.
        field: String,
        /// What `_` → `-` gave.
        kebab: String,
        /// What is wrong with it.
        reason: WitNameError,
    },
}

impl WitError {
    /// What the author can do about it.
    pub fn help(&self) -> String {
        match self {
            WitError::FieldName { field, .. } => {
                let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
                let suggestion = words.join("_");
                if !suggestion.is_empty()
                    && suggestion.as_bytes()[0].is_ascii_lowercase()
                    && suggestion != *field
                {
                    format!(
                        "rename it in connector.yaml, e.g. `{suggestion}`: every `_` becomes `-`, and each word must be non-empty, the first starting with a letter"
                    )
                } else {
                    "rename it in connector.yaml: every `_` becomes `-`, and each word must be non-empty, the first starting with a letter".to_owned()
                }
            }
        }
    }
}

/// The kebab-case WIT name of a connector.yaml name (without the `%`
/// escape): each `_` becomes `-`, and the result must be a valid WIT
/// identifier.
pub fn wit_name(name: &str) -> Result<String, WitNameError> {
    let kebab = name.replace('_', "-");
    check_kebab(&kebab)?;
    Ok(kebab)
}

/// [`wit_name`], escaped with `%` when it is a keyword: the spelling to
/// write in a WIT document.
pub fn wit_ident(name: &str) -> Result<String, WitNameError> {
    let kebab = wit_name(name)?;
    Ok(escape(&kebab))
}

fn escape(kebab: &str) -> String {
    if WIT_KEYWORDS.contains(&kebab) {
        format!("%{kebab}")
    } else {
        kebab.to_owned()
    }
}

/// The lowercase subset of WIT's identifier rule (connector.yaml names have
/// no capitals).
fn check_kebab(kebab: &str) -> Result<(), WitNameError> {
    if kebab.is_empty() {
        return Err(WitNameError::Empty);
    }
    if kebab.starts_with('-') {
        return Err(WitNameError::LeadingSeparator);
    }
    if kebab.ends_with('-') {
        return Err(WitNameError::TrailingSeparator);
    }
    for (index, word) in kebab.split('-').enumerate() {
        let Some(first) = word.chars().next() else {
            return Err(WitNameError::EmptyWord);
        };
        if index == 0 && !first.is_ascii_lowercase() {
            return Err(WitNameError::InvalidChar { found: first });
        }
        if let Some(found) = word
            .chars()
            .find(|c| !c.is_ascii_lowercase() && !c.is_ascii_digit())
        {
            return Err(WitNameError::InvalidChar { found });
        }
    }
    Ok(())
}

/// The WIT type of a connector.yaml type.
pub fn wit_type(ty: &ValueType) -> String {
    match ty {
        ValueType::String | ValueType::Json => "string".to_owned(),
        ValueType::Bool => "bool".to_owned(),
        ValueType::Int => "s64".to_owned(),
        ValueType::Float => "f64".to_owned(),
        ValueType::Bytes => "list<u8>".to_owned(),
        ValueType::List(item) => format!("list<{}>", wit_type(item)),
        ValueType::Optional(inner) => format!("option<{}>", wit_type(inner)),
    }
}

fn contains_json(ty: &ValueType) -> bool {
    match ty {
        ValueType::Json => true,
        ValueType::List(inner) | ValueType::Optional(inner) => contains_json(inner),
        _ => false,
    }
}

/// The interfaces a capability is served through, as a world imports them.
pub fn capability_imports(capability: Capability) -> &'static [&'static str] {
    match capability {
        Capability::Clock => &[
            "wasi:clocks/wall-clock@0.2.0",
            "wasi:clocks/monotonic-clock@0.2.0",
        ],
        Capability::DbRead | Capability::DbWrite => &["latticeflow:capabilities/db@0.2.0"],
        Capability::HttpRead | Capability::HttpWrite => &["wasi:http/outgoing-handler@0.2.0"],
        Capability::KvRead | Capability::KvWrite => &["latticeflow:capabilities/kv@0.2.0"],
        // The version the wasi-logging proposal publishes (WebAssembly/wasi-logging).
        Capability::Log => &["wasi:logging/logging@0.1.0-draft"],
        Capability::Random => &["wasi:random/random@0.2.0"],
    }
}

/// The imports of a world with these capabilities: each interface once, in
/// capability order.
pub fn imports<'a>(capabilities: impl IntoIterator<Item = &'a Capability>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for capability in capabilities {
        for import in capability_imports(*capability) {
            if !out.contains(import) {
                out.push(import);
            }
        }
    }
    out
}

/// Which interfaces a generated world imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WasiImports {
    /// Every interface a declared capability is served through: the world
    /// of docs/wit.md.
    #[default]
    Listed,
    /// Only latticeflow's own interfaces; the WASI ones are left to the
    /// language's runtime, which imports them itself (module docs).
    FromToolchain,
}

/// The WIT document of `manifest`'s world, importing every interface its
/// capabilities are served through.
pub fn world(manifest: &ConnectorManifest) -> Result<String, WitError> {
    world_with(manifest, WasiImports::Listed)
}

/// The WIT document of `manifest`'s world, with the WASI imports `wasi`
/// says.
pub fn world_with(manifest: &ConnectorManifest, wasi: WasiImports) -> Result<String, WitError> {
    let inputs = fields(Side::Input, manifest.inputs())?;
    let outputs = fields(Side::Output, manifest.outputs())?;

    let mut out = String::new();
    let version = manifest
        .version()
        .map(|v| format!(" version {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "// Generated by lf-resolve from connector.yaml of `{}`{version}.",
        manifest.id()
    );
    out.push_str("// Do not edit: change connector.yaml and run `lf-resolve wit` again.\n");
    let _ = writeln!(out, "package {NODE_PACKAGE};\n");
    let _ = writeln!(out, "world {WORLD_NAME} {{");

    let (imports, runtime): (Vec<&str>, Vec<&str>) = imports(manifest.capabilities())
        .into_iter()
        .partition(|i| wasi == WasiImports::Listed || !i.starts_with("wasi:"));
    if !runtime.is_empty() {
        out.push_str("  // WASI comes from the language's runtime, which imports it itself:\n");
        for import in &runtime {
            let _ = writeln!(out, "  //   {import}");
        }
    }
    for import in &imports {
        let _ = writeln!(out, "  import {import};");
    }
    if !imports.is_empty() || !runtime.is_empty() {
        out.push('\n');
    }

    write_record(&mut out, "input", &inputs);
    write_record(&mut out, "output", &outputs);

    out.push_str("  /// A failure of `run`.\n");
    if manifest.errors().is_empty() {
        out.push_str("  /// `code` is one of connector.yaml's `errors` (none are declared).\n");
    } else {
        let codes: Vec<String> = manifest
            .errors()
            .iter()
            .map(|e| format!("`{}`", e.code))
            .collect();
        let _ = writeln!(
            out,
            "  /// `code` is one of connector.yaml's `errors`: {}.",
            codes.join(", ")
        );
    }
    out.push_str(
        "  record node-error {\n    code: string,\n    message: string,\n    retryable: bool,\n  }\n\n",
    );

    let params = if inputs.is_empty() {
        ""
    } else {
        "input: input"
    };
    let ok = if outputs.is_empty() { "_" } else { "output" };
    let _ = writeln!(
        out,
        "  export run: func({params}) -> result<{ok}, node-error>;"
    );
    out.push_str("}\n");
    Ok(out)
}

/// A record field: its WIT spelling, type, and a comment when its strings
/// carry JSON text.
struct WitField {
    ident: String,
    ty: String,
    json: Option<String>,
}

fn fields(side: Side, specs: &[FieldSpec]) -> Result<Vec<WitField>, WitError> {
    specs
        .iter()
        .map(|spec| {
            let ident = wit_ident(&spec.name).map_err(|reason| WitError::FieldName {
                side,
                field: spec.name.clone(),
                kebab: spec.name.replace('_', "-"),
                reason,
            })?;
            Ok(WitField {
                ident,
                ty: wit_type(&spec.ty),
                json: contains_json(&spec.ty).then(|| spec.ty.to_string()),
            })
        })
        .collect()
}

/// `record NAME { ... }`, or nothing when there are no fields (WIT has no
/// empty record).
fn write_record(out: &mut String, name: &str, fields: &[WitField]) {
    if fields.is_empty() {
        return;
    }
    let _ = writeln!(out, "  record {name} {{");
    for field in fields {
        if let Some(declared) = &field.json {
            let _ = writeln!(
                out,
                "    /// `{declared}` in connector.yaml: each `json` string holds JSON text."
            );
        }
        let _ = writeln!(out, "    {}: {},", field.ident, field.ty);
    }
    out.push_str("  }\n\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_map_one_for_one() {
        assert_eq!(wit_name("page_size").unwrap(), "page-size");
        assert_eq!(wit_name("page_2").unwrap(), "page-2");
        assert_eq!(wit_name("a1_b2_3").unwrap(), "a1-b2-3");
        assert_eq!(wit_ident("type").unwrap(), "%type");
        assert_eq!(wit_ident("error_context").unwrap(), "%error-context");
        assert_eq!(wit_ident("error").unwrap(), "error");
    }

    #[test]
    fn names_without_a_wit_spelling_are_refused() {
        assert_eq!(wit_name("_x"), Err(WitNameError::LeadingSeparator));
        assert_eq!(wit_name("x_"), Err(WitNameError::TrailingSeparator));
        assert_eq!(wit_name("a__b"), Err(WitNameError::EmptyWord));
        assert_eq!(wit_name("_"), Err(WitNameError::LeadingSeparator));
        assert_eq!(wit_name(""), Err(WitNameError::Empty));
        assert_eq!(
            wit_name("2a"),
            Err(WitNameError::InvalidChar { found: '2' })
        );
    }

    #[test]
    fn keywords_are_sorted_and_unique() {
        let mut sorted = WIT_KEYWORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, WIT_KEYWORDS);
    }
}
