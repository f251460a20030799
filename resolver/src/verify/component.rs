//! ABI v2: what a WebAssembly *component* imports and exports, the
//! connector manifest at its top level, and whether it fits the world
//! `connector.yaml` generates and the grants of `latticeflow.toml`.
//!
//! # Why it reads only the top level
//!
//! A component nests core modules and other components, each with its own
//! custom sections. Only the outermost component's sections are the
//! publisher's statement about the artifact: a nested module is an
//! implementation detail that a toolchain (or an attacker who controls one
//! dependency) chose. So the `latticeflow.connector` section is looked for,
//! and replaced, only at the top level, by walking the top-level section
//! framing by hand (id byte + LEB128 size); nested modules are single
//! sections that the walk steps over whole.
//!
//! # What it validates, and what it leaves to the runtime
//!
//! The type of the exported `run` function, and of every import, only exists
//! after the component's type and alias sections are resolved, which is what
//! wasmparser's validator does. So every section of the component and of
//! every nested module and component goes through the validator: the
//! framing, types, imports, exports, aliases, instances, canonical
//! functions, the function *signatures* and the code section's framing,
//! data, element and custom sections.
//!
//! The one thing skipped is the instructions inside each core function body
//! (wasmparser hands them back as `ValidPayload::Func` to be checked
//! separately). Checking them is most of the validator's time on a JS
//! component (about 10 MB of interpreter code: a cold `lock` of twenty such
//! components took five times as long as downloading them), and it decides
//! nothing `lock` reports: the imports, exports and `run`'s type are fixed by
//! the sections above. Wasmtime validates every body again when it compiles
//! the component, before anything of it runs, so an invalid body is still
//! refused, at build or start-up instead of at `lock`.
//!
//! The component is held in memory; its size is bounded by the
//! `[network] max-module-bytes` cap it was downloaded under (or by the file
//! `push` read).
//!
//! # What it never does
//!
//! It never decides a grant on a name alone: `wasi:http` needs an HTTP
//! capability declared in `connector.yaml` *and* granted in
//! `latticeflow.toml`; anything it does not recognise is refused, naming it.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

use lf_runtime::spec::{Capability, ConnectorManifest, FieldSpec, ValueType};
use lf_wrapper_gen::wit::{wit_name, wit_type};
use wasmparser::component_types::{
    ComponentAnyTypeId, ComponentDefinedType, ComponentEntityType, ComponentValType,
};
use wasmparser::types::Types;
use wasmparser::{
    BinaryReader, ComponentExportSectionReader, ComponentImportSectionReader, ComponentTypeRef,
    Parser, PrimitiveValType, ValidPayload, Validator, WasmFeatures,
};

use super::module::{CONNECTOR_SECTION, MAX_CONNECTOR_SECTION};

/// The preamble of a component: magic, then version 0x0d and layer 1.
const COMPONENT_HEADER: [u8; 8] = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];

/// Top-level section ids of the component binary format.
const CUSTOM_SECTION: u8 = 0;
const IMPORT_SECTION: u8 = 10;
const EXPORT_SECTION: u8 = 11;

/// How deep a value type is described before it is cut short (the types a
/// connector uses nest a few levels; a hostile one may nest thousands).
const MAX_TYPE_DEPTH: usize = 32;

/// The type imports a generated world declares (its records), which
/// component toolchains import by name.
const WORLD_TYPES: [&str; 3] = ["input", "output", "node-error"];

/// Whether `bytes` start like a component (rather than a core module).
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..8] == COMPONENT_HEADER
}

/// Why a component could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The bytes do not start with the component preamble.
    #[error("not a WebAssembly component (wrong preamble)")]
    NotComponent,
    /// The validator refused it.
    #[error("invalid WebAssembly component at byte {offset}: {message}")]
    Invalid {
        /// Where.
        offset: usize,
        /// What wasmparser said.
        message: String,
    },
    /// Two top-level `latticeflow.connector` sections.
    #[error("the component has more than one top-level `{CONNECTOR_SECTION}` custom section")]
    DuplicateConnectorSection,
    /// The connector section is over the limit.
    #[error(
        "the `{CONNECTOR_SECTION}` section is {size} bytes, over the {MAX_CONNECTOR_SECTION}-byte limit"
    )]
    SectionTooLarge {
        /// Its size.
        size: usize,
    },
}

impl ComponentError {
    fn invalid(e: &wasmparser::BinaryReaderError) -> ComponentError {
        ComponentError::Invalid {
            offset: e.offset(),
            message: e.message().to_owned(),
        }
    }
}

/// A top-level section of a component: its id, and where its contents are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    id: u8,
    /// The whole section, id byte and size included.
    whole: Range<usize>,
    /// Its contents.
    contents: Range<usize>,
}

/// The top-level sections of a component, in order. Nested modules and
/// components are single sections here; nothing inside them is read.
fn top_level_sections(bytes: &[u8]) -> Result<Vec<Section>, ComponentError> {
    if !is_component(bytes) {
        return Err(ComponentError::NotComponent);
    }
    let mut out = Vec::new();
    let mut reader = BinaryReader::new(&bytes[8..], 8);
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().map_err(|e| ComponentError::invalid(&e))?;
        let size = reader
            .read_var_u32()
            .map_err(|e| ComponentError::invalid(&e))? as usize;
        let contents_start = reader.original_position();
        reader
            .read_bytes(size)
            .map_err(|e| ComponentError::invalid(&e))?;
        out.push(Section {
            id,
            whole: start..contents_start + size,
            contents: contents_start..contents_start + size,
        });
    }
    Ok(out)
}

/// A custom section's name and the range of its payload, when `section` is
/// one.
fn custom_section(bytes: &[u8], section: &Section) -> Option<(String, Range<usize>)> {
    if section.id != CUSTOM_SECTION {
        return None;
    }
    let mut reader = BinaryReader::new(&bytes[section.contents.clone()], section.contents.start);
    let name = reader.read_string().ok()?.to_owned();
    Some((name, reader.original_position()..section.contents.end))
}

/// `component` with its top-level `latticeflow.connector` section(s)
/// replaced by one holding `yaml`, appended last. Nested modules and
/// components are copied byte for byte. Deterministic: embedding twice gives
/// the bytes of embedding once.
pub fn embed_manifest(component: &[u8], yaml: &str) -> Result<Vec<u8>, ComponentError> {
    use wasm_encoder::Encode as _;
    let sections = top_level_sections(component)?;
    let mut out = Vec::with_capacity(component.len() + yaml.len() + 32);
    out.extend_from_slice(&COMPONENT_HEADER);
    for section in &sections {
        let ours = custom_section(component, section).is_some_and(|(n, _)| n == CONNECTOR_SECTION);
        if !ours {
            out.extend_from_slice(&component[section.whole.clone()]);
        }
    }
    out.push(CUSTOM_SECTION);
    wasm_encoder::CustomSection {
        name: CONNECTOR_SECTION.into(),
        data: yaml.as_bytes().into(),
    }
    .encode(&mut out);
    Ok(out)
}

/// A value type as WIT writes it, read from the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitType {
    /// A primitive (`bool`, `s64`, `string`, …), by its WIT name.
    Primitive(&'static str),
    /// `list<T>`.
    List(Box<WitType>),
    /// `option<T>`.
    Option(Box<WitType>),
    /// `record { … }`, fields in declaration order.
    Record(Vec<(String, WitType)>),
    /// `result<ok, err>`, either side possibly absent.
    Result {
        /// The `ok` payload.
        ok: Option<Box<WitType>>,
        /// The `err` payload.
        err: Option<Box<WitType>>,
    },
    /// Anything a connector's world never uses (variants, tuples, handles,
    /// …), by a short description.
    Other(String),
}

impl fmt::Display for WitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitType::Primitive(name) => f.write_str(name),
            WitType::List(t) => write!(f, "list<{t}>"),
            WitType::Option(t) => write!(f, "option<{t}>"),
            WitType::Record(fields) => {
                let list: Vec<String> = fields.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                write!(f, "record {{ {} }}", list.join(", "))
            }
            WitType::Result { ok, err } => match (ok, err) {
                (None, None) => f.write_str("result"),
                (Some(ok), None) => write!(f, "result<{ok}>"),
                (None, Some(err)) => write!(f, "result<_, {err}>"),
                (Some(ok), Some(err)) => write!(f, "result<{ok}, {err}>"),
            },
            WitType::Other(what) => f.write_str(what),
        }
    }
}

fn primitive(p: PrimitiveValType) -> &'static str {
    match p {
        PrimitiveValType::Bool => "bool",
        PrimitiveValType::S8 => "s8",
        PrimitiveValType::U8 => "u8",
        PrimitiveValType::S16 => "s16",
        PrimitiveValType::U16 => "u16",
        PrimitiveValType::S32 => "s32",
        PrimitiveValType::U32 => "u32",
        PrimitiveValType::S64 => "s64",
        PrimitiveValType::U64 => "u64",
        PrimitiveValType::F32 => "f32",
        PrimitiveValType::F64 => "f64",
        PrimitiveValType::Char => "char",
        PrimitiveValType::String => "string",
        PrimitiveValType::ErrorContext => "error-context",
    }
}

fn describe(types: &Types, ty: &ComponentValType, depth: usize) -> WitType {
    if depth > MAX_TYPE_DEPTH {
        return WitType::Other("…".to_owned());
    }
    let id = match ty {
        ComponentValType::Primitive(p) => return WitType::Primitive(primitive(*p)),
        ComponentValType::Type(id) => *id,
    };
    let inner = |t: &ComponentValType| Box::new(describe(types, t, depth + 1));
    match &types[id] {
        ComponentDefinedType::Primitive(p) => WitType::Primitive(primitive(*p)),
        ComponentDefinedType::Record(r) => WitType::Record(
            r.fields
                .iter()
                .map(|(name, t)| (name.as_str().to_owned(), describe(types, t, depth + 1)))
                .collect(),
        ),
        ComponentDefinedType::List { element, .. } => WitType::List(inner(element)),
        ComponentDefinedType::Option { ty, .. } => WitType::Option(inner(ty)),
        ComponentDefinedType::Result { ok, err, .. } => WitType::Result {
            ok: ok.as_ref().map(inner),
            err: err.as_ref().map(inner),
        },
        ComponentDefinedType::Variant(_) => WitType::Other("variant".to_owned()),
        ComponentDefinedType::Tuple(_) => WitType::Other("tuple".to_owned()),
        ComponentDefinedType::Flags(_) => WitType::Other("flags".to_owned()),
        ComponentDefinedType::Enum(_) => WitType::Other("enum".to_owned()),
        ComponentDefinedType::Map { .. } => WitType::Other("map".to_owned()),
        ComponentDefinedType::FixedLengthList { .. } => {
            WitType::Other("fixed-length list".to_owned())
        }
        ComponentDefinedType::Own(_) => WitType::Other("own<resource>".to_owned()),
        ComponentDefinedType::Borrow(_) => WitType::Other("borrow<resource>".to_owned()),
        ComponentDefinedType::Future { .. } => WitType::Other("future".to_owned()),
        ComponentDefinedType::Stream { .. } => WitType::Other("stream".to_owned()),
    }
}

/// The exported `run` function's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunType {
    /// Whether it is an `async` function.
    pub is_async: bool,
    /// Parameters, by name.
    pub params: Vec<(String, WitType)>,
    /// The result, if any.
    pub result: Option<WitType>,
}

/// What `run` is in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunExport {
    /// Not exported.
    Missing,
    /// Exported as something other than a function.
    NotFunc(&'static str),
    /// A function of this type.
    Func(RunType),
}

/// What a top-level import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// An instance (an interface).
    Instance,
    /// A type.
    Type,
    /// A function.
    Func,
    /// A core module, component or value.
    Other(&'static str),
}

impl fmt::Display for ImportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportKind::Instance => f.write_str("instance"),
            ImportKind::Type => f.write_str("type"),
            ImportKind::Func => f.write_str("function"),
            ImportKind::Other(what) => f.write_str(what),
        }
    }
}

/// A top-level import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentImport {
    /// Its name (`wasi:io/poll@0.2.9`, `input`, …).
    pub name: String,
    /// What it is.
    pub kind: ImportKind,
}

/// What a component imports and exports at its top level, and its
/// embedded connector manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Top-level imports, in order.
    pub imports: Vec<ComponentImport>,
    /// Top-level export names, in order.
    pub exports: Vec<String>,
    /// The exported `run` function.
    pub run: RunExport,
    /// The top-level `latticeflow.connector` custom section, if present.
    pub connector_section: Option<Vec<u8>>,
}

/// Validates every section of the component `bytes` (nested modules and
/// components included) except the instructions of core function bodies;
/// see the module docs. Returns the top-level types.
fn validate_structure(bytes: &[u8]) -> Result<Types, ComponentError> {
    let mut validator = Validator::new_with_features(WasmFeatures::default());
    let mut parser = Parser::new(0);
    parser.set_features(WasmFeatures::default());
    let mut top = None;
    for payload in parser.parse_all(bytes) {
        let payload = payload.map_err(|e| ComponentError::invalid(&e))?;
        match validator
            .payload(&payload)
            .map_err(|e| ComponentError::invalid(&e))?
        {
            // A body's instructions: left to wasmtime's compile.
            ValidPayload::Func(..) => {}
            ValidPayload::End(types) => top = Some(types),
            ValidPayload::Ok | ValidPayload::Parser(_) => {}
        }
    }
    // `parse_all` ends with the outermost `End`, whose types are last.
    top.ok_or_else(|| ComponentError::Invalid {
        offset: bytes.len(),
        message: "unexpected end of the component".to_owned(),
    })
}

/// Validates `bytes` as a component and reads its top level.
pub fn scan_component(bytes: &[u8]) -> Result<ComponentInfo, ComponentError> {
    let sections = top_level_sections(bytes)?;
    let types = validate_structure(bytes)?;
    let mut info = ComponentInfo {
        imports: Vec::new(),
        exports: Vec::new(),
        run: RunExport::Missing,
        connector_section: None,
    };
    for section in &sections {
        let reader = || BinaryReader::new(&bytes[section.contents.clone()], section.contents.start);
        match section.id {
            CUSTOM_SECTION => {
                if let Some((name, payload)) = custom_section(bytes, section)
                    && name == CONNECTOR_SECTION
                {
                    if info.connector_section.is_some() {
                        return Err(ComponentError::DuplicateConnectorSection);
                    }
                    if payload.len() as u64 > MAX_CONNECTOR_SECTION {
                        return Err(ComponentError::SectionTooLarge {
                            size: payload.len(),
                        });
                    }
                    info.connector_section = Some(bytes[payload].to_vec());
                }
            }
            IMPORT_SECTION => {
                let imports = ComponentImportSectionReader::new(reader())
                    .map_err(|e| ComponentError::invalid(&e))?;
                for import in imports {
                    let import = import.map_err(|e| ComponentError::invalid(&e))?;
                    let kind = match import.ty {
                        ComponentTypeRef::Instance(_) => ImportKind::Instance,
                        ComponentTypeRef::Type(_) => ImportKind::Type,
                        ComponentTypeRef::Func(_) => ImportKind::Func,
                        ComponentTypeRef::Module(_) => ImportKind::Other("core module"),
                        ComponentTypeRef::Component(_) => ImportKind::Other("component"),
                        ComponentTypeRef::Value(_) => ImportKind::Other("value"),
                    };
                    info.imports.push(ComponentImport {
                        name: import.name.name.to_owned(),
                        kind,
                    });
                }
            }
            EXPORT_SECTION => {
                let exports = ComponentExportSectionReader::new(reader())
                    .map_err(|e| ComponentError::invalid(&e))?;
                for export in exports {
                    let export = export.map_err(|e| ComponentError::invalid(&e))?;
                    info.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    info.run = match types.component_item_for_export("run").map(|item| &item.ty) {
        None => RunExport::Missing,
        Some(ComponentEntityType::Func(id)) => {
            let func = &types[*id];
            RunExport::Func(RunType {
                is_async: func.async_,
                params: func
                    .params
                    .iter()
                    .map(|(name, ty)| (name.as_str().to_owned(), describe(&types, ty, 0)))
                    .collect(),
                result: func.result.as_ref().map(|ty| describe(&types, ty, 0)),
            })
        }
        Some(ComponentEntityType::Instance(_)) => RunExport::NotFunc("an instance"),
        Some(ComponentEntityType::Module(_)) => RunExport::NotFunc("a core module"),
        Some(ComponentEntityType::Component(_)) => RunExport::NotFunc("a component"),
        Some(ComponentEntityType::Value(_)) => RunExport::NotFunc("a value"),
        Some(ComponentEntityType::Type { referenced, .. }) => match referenced {
            ComponentAnyTypeId::Resource(_) => RunExport::NotFunc("a resource type"),
            _ => RunExport::NotFunc("a type"),
        },
    };
    Ok(info)
}

/// A way a component breaks ABI v2, its world, or its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// `run` is not exported.
    MissingRun,
    /// `run` is exported as something else.
    RunNotFunc(&'static str),
    /// `run` is an `async` function.
    AsyncRun,
    /// The parameters are not what the world says.
    Params {
        /// What the component has.
        found: String,
        /// What the world says.
        expected: String,
    },
    /// The result is not `result<…, node-error>`.
    ResultShape {
        /// What the component has.
        found: String,
        /// What the world says.
        expected: String,
    },
    /// A declared field is missing.
    MissingField {
        /// `input` or `output`.
        side: &'static str,
        /// Its WIT name.
        field: String,
        /// Its connector.yaml type.
        declared: String,
        /// Its WIT type.
        wit: String,
    },
    /// A field connector.yaml does not declare.
    ExtraField {
        /// `input` or `output`.
        side: &'static str,
        /// Its name.
        field: String,
        /// Its type in the component.
        found: String,
    },
    /// A field of another type.
    FieldType {
        /// `input` or `output`.
        side: &'static str,
        /// Its WIT name.
        field: String,
        /// Its type in the component.
        found: String,
        /// Its connector.yaml type.
        declared: String,
        /// Its WIT type.
        wit: String,
    },
    /// The right fields in another order.
    FieldOrder {
        /// `input` or `output`.
        side: &'static str,
        /// The component's order.
        found: Vec<String>,
        /// connector.yaml's order.
        expected: Vec<String>,
    },
    /// A connector.yaml field with no WIT spelling.
    FieldName {
        /// `input` or `output`.
        side: &'static str,
        /// The connector.yaml name.
        field: String,
        /// Why.
        reason: String,
    },
    /// `node-error` is not `record { code: string, message: string, retryable: bool }`.
    NodeError {
        /// What the component has.
        found: String,
    },
    /// `wasi:http` without an HTTP capability declared and granted.
    Http {
        /// The import.
        import: String,
        /// Whether connector.yaml declares `http.read` or `http.write`.
        declared: bool,
    },
    /// A capability interface without its capability declared and granted.
    CapabilityInterface {
        /// The import.
        import: String,
        /// The capability family (`kv`, `db`).
        family: &'static str,
        /// Whether connector.yaml declares one of its capabilities.
        declared: bool,
    },
    /// An import no rule allows.
    Refused {
        /// The import.
        import: String,
        /// What it is.
        kind: ImportKind,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::MissingRun => f.write_str("does not export `run` (ABI v2)"),
            Violation::RunNotFunc(what) => write!(f, "exports `run` as {what}, not a function"),
            Violation::AsyncRun => f.write_str(
                "exports `run` as an `async` function; the world's `run` is synchronous",
            ),
            Violation::Params { found, expected } => write!(
                f,
                "`run` takes ({found}); the world generated from connector.yaml says ({expected})"
            ),
            Violation::ResultShape { found, expected } => write!(
                f,
                "`run` returns `{found}`; the world generated from connector.yaml says `{expected}`"
            ),
            Violation::MissingField {
                side,
                field,
                declared,
                wit,
            } => write!(
                f,
                "`run` {side} has no field `{field}`; connector.yaml declares it as `{declared}` ({wit})"
            ),
            Violation::ExtraField { side, field, found } => write!(
                f,
                "`run` {side} field `{field}` (`{found}`) is not declared in connector.yaml"
            ),
            Violation::FieldType {
                side,
                field,
                found,
                declared,
                wit,
            } => write!(
                f,
                "`run` {side} field `{field}`: the component has `{found}`, connector.yaml says `{declared}` ({wit})"
            ),
            Violation::FieldOrder {
                side,
                found,
                expected,
            } => write!(
                f,
                "`run` {side} fields are in another order than in connector.yaml: the component has ({}), connector.yaml ({})",
                found.join(", "),
                expected.join(", ")
            ),
            Violation::FieldName {
                side,
                field,
                reason,
            } => write!(
                f,
                "connector.yaml {side} `{field}` has no WIT name: {reason}"
            ),
            Violation::NodeError { found } => write!(
                f,
                "`run`'s error is `{found}`; the world says `record {{ code: string, message: string, retryable: bool }}` (node-error)"
            ),
            Violation::Http { import, declared } => {
                if *declared {
                    write!(
                        f,
                        "imports `{import}`, which needs `http.read` or `http.write` granted in latticeflow.toml"
                    )
                } else {
                    write!(
                        f,
                        "imports `{import}`, but connector.yaml declares neither `http.read` nor `http.write`"
                    )
                }
            }
            Violation::CapabilityInterface {
                import,
                family,
                declared,
            } => {
                if *declared {
                    write!(
                        f,
                        "imports `{import}`, which needs `{family}.read` or `{family}.write` granted in latticeflow.toml"
                    )
                } else {
                    write!(
                        f,
                        "imports `{import}`, but connector.yaml declares neither `{family}.read` nor `{family}.write`"
                    )
                }
            }
            Violation::Refused {
                import,
                kind,
                reason,
            } => write!(f, "imports `{import}` ({kind}), which is refused: {reason}"),
        }
    }
}

/// What to do about `violations`, one hint per kind of problem.
pub fn help(violations: &[Violation]) -> String {
    let mut hints: Vec<&'static str> = Vec::new();
    for violation in violations {
        let hint = match violation {
            Violation::MissingRun
            | Violation::RunNotFunc(_)
            | Violation::AsyncRun
            | Violation::Params { .. }
            | Violation::ResultShape { .. }
            | Violation::MissingField { .. }
            | Violation::ExtraField { .. }
            | Violation::FieldType { .. }
            | Violation::FieldOrder { .. }
            | Violation::NodeError { .. } => {
                "build the component against the world `lf-resolve wit` generates from its connector.yaml"
            }
            Violation::FieldName { .. } => {
                "rename the field in connector.yaml so that it has a WIT name (`lf-resolve wit` explains)"
            }
            Violation::Http { declared: true, .. }
            | Violation::CapabilityInterface { declared: true, .. } => {
                "if you trust it, grant the capability in the connector's `capabilities` in latticeflow.toml"
            }
            Violation::Http {
                declared: false, ..
            }
            | Violation::CapabilityInterface {
                declared: false, ..
            } => {
                "declare the capability in connector.yaml, or build the component without that import"
            }
            Violation::Refused { .. } => {
                "a component may import WASI 0.2 interfaces and `latticeflow:capabilities` only (docs/capabilities.md)"
            }
        };
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    hints.join("; ")
}

/// An interface name `namespace:package/interface@version`, split.
struct Interface<'a> {
    namespace: &'a str,
    package: &'a str,
    interface: &'a str,
    version: Option<&'a str>,
}

fn interface(name: &str) -> Option<Interface<'_>> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (namespace, rest) = path.split_once(':')?;
    let (package, interface) = rest.split_once('/')?;
    if namespace.is_empty() || package.is_empty() || interface.is_empty() {
        return None;
    }
    Some(Interface {
        namespace,
        package,
        interface,
        version,
    })
}

/// Whether `version` is `0.2.<patch>`: the WASI 0.2 releases
/// (componentize-py imports `@0.2.9`, componentize-js `@0.2.10`/`@0.2.12`).
fn is_wasi_0_2(version: Option<&str>) -> bool {
    version
        .and_then(|v| v.strip_prefix("0.2."))
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

/// How a permitted import is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Served by a capability, or by a deterministic stand-in.
    Served,
    /// Linked to an empty sandbox.
    Sandboxed,
}

fn classify(
    import: &ComponentImport,
    declared: &BTreeSet<Capability>,
    granted: &BTreeSet<Capability>,
) -> Result<Class, Violation> {
    let refused = |reason| Violation::Refused {
        import: import.name.clone(),
        kind: import.kind,
        reason,
    };
    match import.kind {
        ImportKind::Type if WORLD_TYPES.contains(&import.name.as_str()) => {
            return Ok(Class::Served);
        }
        ImportKind::Type => {
            return Err(refused(
                "the only type imports of a connector's world are `input`, `output` and `node-error`",
            ));
        }
        ImportKind::Func => {
            return Err(refused(
                "a connector's world imports no functions at its top level",
            ));
        }
        ImportKind::Other(_) => {
            return Err(refused(
                "a component may import only interfaces (instances)",
            ));
        }
        ImportKind::Instance => {}
    }
    let Some(iface) = interface(&import.name) else {
        return Err(refused(
            "it is not an interface name (`namespace:package/interface@version`)",
        ));
    };
    let pair = |read: Capability, write: Capability| {
        let declares = declared.contains(&read) || declared.contains(&write);
        let grants = (declared.contains(&read) && granted.contains(&read))
            || (declared.contains(&write) && granted.contains(&write));
        (declares, grants)
    };
    match (iface.namespace, iface.package) {
        ("wasi", "logging") => Ok(Class::Served),
        ("wasi", _) if !is_wasi_0_2(iface.version) => Err(refused(
            "only WASI 0.2 interfaces (`@0.2.x`) are linked; WASI 0.1 and 0.3 are not",
        )),
        ("wasi", "http") => match pair(Capability::HttpRead, Capability::HttpWrite) {
            (_, true) => Ok(Class::Served),
            (declared, false) => Err(Violation::Http {
                import: import.name.clone(),
                declared,
            }),
        },
        ("wasi", "clocks" | "random") => Ok(Class::Served),
        ("wasi", _) => Ok(Class::Sandboxed),
        ("latticeflow", "capabilities") => {
            let (family, read, write) = match iface.interface {
                "kv" => ("kv", Capability::KvRead, Capability::KvWrite),
                "db" => ("db", Capability::DbRead, Capability::DbWrite),
                _ => {
                    return Err(refused(
                        "`latticeflow:capabilities` has the interfaces `kv` and `db` only",
                    ));
                }
            };
            if !is_wasi_0_2(iface.version) {
                return Err(refused(
                    "the `latticeflow:capabilities` interfaces are version 0.2.x",
                ));
            }
            match pair(read, write) {
                (_, true) => Ok(Class::Served),
                (declared, false) => Err(Violation::CapabilityInterface {
                    import: import.name.clone(),
                    family,
                    declared,
                }),
            }
        }
        _ => Err(refused(
            "a component may import WASI 0.2 interfaces and `latticeflow:capabilities` only",
        )),
    }
}

/// What checking a component established.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checked {
    /// The WASI imports linked to an empty sandbox, sorted.
    pub sandboxed: BTreeSet<String>,
}

/// Checks a component against the world generated from `manifest`, and its
/// imports against what `manifest` declares and `granted` grants. Returns
/// every violation, in a stable order (the `run` type first, then imports in
/// their order).
pub fn check_component(
    info: &ComponentInfo,
    manifest: &ConnectorManifest,
    granted: &BTreeSet<Capability>,
) -> Result<Checked, Vec<Violation>> {
    let mut violations = check_run(&info.run, manifest);
    let mut checked = Checked::default();
    for import in &info.imports {
        match classify(import, manifest.capabilities(), granted) {
            Ok(Class::Served) => {}
            Ok(Class::Sandboxed) => {
                checked.sandboxed.insert(import.name.clone());
            }
            Err(v) => violations.push(v),
        }
    }
    if violations.is_empty() {
        Ok(checked)
    } else {
        Err(violations)
    }
}

/// One side's fields as the world declares them: WIT name, connector.yaml
/// type, WIT type.
fn expected_fields(
    side: &'static str,
    specs: &[FieldSpec],
    violations: &mut Vec<Violation>,
) -> Vec<(String, ValueType, String)> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        match wit_name(&spec.name) {
            Ok(name) => out.push((name, spec.ty.clone(), wit_type(&spec.ty))),
            Err(reason) => violations.push(Violation::FieldName {
                side,
                field: spec.name.clone(),
                reason: reason.to_string(),
            }),
        }
    }
    out
}

fn expected_record(fields: &[(String, ValueType, String)]) -> String {
    let list: Vec<String> = fields.iter().map(|(n, _, t)| format!("{n}: {t}")).collect();
    format!("record {{ {} }}", list.join(", "))
}

fn check_record(
    side: &'static str,
    found: &[(String, WitType)],
    expected: &[(String, ValueType, String)],
    violations: &mut Vec<Violation>,
) {
    let before = violations.len();
    for (name, declared, wit) in expected {
        match found.iter().find(|(n, _)| n == name) {
            None => violations.push(Violation::MissingField {
                side,
                field: name.clone(),
                declared: declared.to_string(),
                wit: wit.clone(),
            }),
            Some((_, ty)) if ty.to_string() != *wit => violations.push(Violation::FieldType {
                side,
                field: name.clone(),
                found: ty.to_string(),
                declared: declared.to_string(),
                wit: wit.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, ty) in found {
        if !expected.iter().any(|(n, _, _)| n == name) {
            violations.push(Violation::ExtraField {
                side,
                field: name.clone(),
                found: ty.to_string(),
            });
        }
    }
    if violations.len() == before {
        let found: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
        let expected: Vec<String> = expected.iter().map(|(n, _, _)| n.clone()).collect();
        if found != expected {
            violations.push(Violation::FieldOrder {
                side,
                found,
                expected,
            });
        }
    }
}

fn check_run(run: &RunExport, manifest: &ConnectorManifest) -> Vec<Violation> {
    let mut violations = Vec::new();
    let run = match run {
        RunExport::Missing => return vec![Violation::MissingRun],
        RunExport::NotFunc(what) => return vec![Violation::RunNotFunc(what)],
        RunExport::Func(run) => run,
    };
    if run.is_async {
        violations.push(Violation::AsyncRun);
    }
    let inputs = expected_fields("input", manifest.inputs(), &mut violations);
    let outputs = expected_fields("output", manifest.outputs(), &mut violations);
    if !violations.is_empty() {
        return violations;
    }

    let expected_params = if inputs.is_empty() {
        String::new()
    } else {
        format!("input: {}", expected_record(&inputs))
    };
    let found_params = || {
        run.params
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (inputs.is_empty(), run.params.as_slice()) {
        (true, []) => {}
        (false, [(name, WitType::Record(fields))]) if name == "input" => {
            check_record("input", fields, &inputs, &mut violations);
        }
        _ => violations.push(Violation::Params {
            found: found_params(),
            expected: expected_params,
        }),
    }

    let ok = if outputs.is_empty() {
        "_".to_owned()
    } else {
        expected_record(&outputs)
    };
    let expected_result =
        format!("result<{ok}, record {{ code: string, message: string, retryable: bool }}>");
    let shape = || Violation::ResultShape {
        found: run
            .result
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), ToString::to_string),
        expected: expected_result.clone(),
    };
    let Some(WitType::Result { ok, err }) = &run.result else {
        violations.push(shape());
        return violations;
    };
    match (outputs.is_empty(), ok.as_deref()) {
        (true, None) => {}
        (false, Some(WitType::Record(fields))) => {
            check_record("output", fields, &outputs, &mut violations);
        }
        _ => violations.push(shape()),
    }
    let node_error = WitType::Record(vec![
        ("code".to_owned(), WitType::Primitive("string")),
        ("message".to_owned(), WitType::Primitive("string")),
        ("retryable".to_owned(), WitType::Primitive("bool")),
    ]);
    match err.as_deref() {
        Some(err) if *err == node_error => {}
        Some(err) => violations.push(Violation::NodeError {
            found: err.to_string(),
        }),
        None => violations.push(Violation::NodeError {
            found: "nothing".to_owned(),
        }),
    }
    violations
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(inputs: &str, outputs: &str, capabilities: &str) -> ConnectorManifest {
        ConnectorManifest::from_yaml(&format!(
            "id: connector.acme.test.node\ninputs: {inputs}\noutputs: {outputs}\neffects: []\ndeterministic: true\ncapabilities: {capabilities}\n"
        ))
        .unwrap()
    }

    /// A component exporting `run: func(input: input) -> result<output, node-error>`
    /// with the given WIT-ish field lists, importing `imports`.
    fn component(input: &str, output: &str, imports: &str, extra: &str) -> Vec<u8> {
        // The core signature of `run` is the flattened input record.
        let core: String = input
            .split("(field")
            .skip(1)
            .map(|f| match f {
                f if f.contains("(option s64)") => "i32 i64 ",
                f if f.contains("(option s32)") => "i32 i32 ",
                f if f.contains("string") => "i32 i32 ",
                _ => "i64 ",
            })
            .collect();
        wat::parse_str(format!(
            r#"(component
  {imports}
  (core module $m
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "run") (param {core}) (result i32) i32.const 0)
    (@custom "latticeflow.connector" "nested: true"))
  (core instance $i (instantiate $m))
  (type $in (record {input}))
  (import "input" (type $input (eq $in)))
  (type $out (record {output}))
  (import "output" (type $output (eq $out)))
  (type $err (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (import "node-error" (type $node-error (eq $err)))
  (type $run (func (param "input" $input) (result (result $output (error $node-error)))))
  (func (export "run") (type $run)
    (canon lift (core func $i "run") (memory $i "memory") (realloc (func $i "realloc"))))
  {extra}
)"#
        ))
        .unwrap()
    }

    const QUERY: &str = r#"(field "query" string) (field "page-size" (option s64))"#;
    const FILES: &str = r#"(field "files" string)"#;

    #[test]
    fn a_matching_component_passes_and_lists_its_sandboxed_imports() {
        let bytes = component(
            QUERY,
            FILES,
            r#"(import "wasi:cli/stdout@0.2.9" (instance))
               (import "wasi:clocks/wall-clock@0.2.12" (instance))
               (import "wasi:io/poll@0.2.0" (instance))"#,
            "",
        );
        let info = scan_component(&bytes).unwrap();
        assert_eq!(info.connector_section, None, "the nested one is not ours");
        let m = manifest(
            "[{name: query, type: string}, {name: page_size, type: optional<int>}]",
            "[{name: files, type: json}]",
            "[]",
        );
        let checked = check_component(&info, &m, &BTreeSet::new()).unwrap();
        assert_eq!(
            checked.sandboxed,
            BTreeSet::from([
                "wasi:cli/stdout@0.2.9".to_owned(),
                "wasi:io/poll@0.2.0".to_owned()
            ])
        );
    }

    #[test]
    fn a_field_of_another_type_is_named_with_both_types() {
        let bytes = component(
            r#"(field "query" string) (field "page-size" (option s32))"#,
            FILES,
            "",
            "",
        );
        let info = scan_component(&bytes).unwrap();
        let m = manifest(
            "[{name: query, type: string}, {name: page_size, type: optional<int>}]",
            "[{name: files, type: string}]",
            "[]",
        );
        let v = check_component(&info, &m, &BTreeSet::new()).unwrap_err();
        assert_eq!(
            v[0].to_string(),
            "`run` input field `page-size`: the component has `option<s32>`, connector.yaml says `optional<int>` (option<s64>)"
        );
    }

    #[test]
    fn missing_extra_and_reordered_fields() {
        let info = scan_component(&component(QUERY, FILES, "", "")).unwrap();
        let m = manifest(
            "[{name: page_size, type: optional<int>}, {name: query, type: string}]",
            "[{name: files, type: string}, {name: count, type: int}]",
            "[]",
        );
        let v: Vec<String> = check_component(&info, &m, &BTreeSet::new())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            v,
            [
                "`run` input fields are in another order than in connector.yaml: the component has (query, page-size), connector.yaml (page-size, query)",
                "`run` output has no field `count`; connector.yaml declares it as `int` (s64)",
            ]
        );
    }

    #[test]
    fn no_inputs_means_no_parameters() {
        let info = scan_component(&component(QUERY, FILES, "", "")).unwrap();
        let m = manifest("[]", "[{name: files, type: string}]", "[]");
        let v = check_component(&info, &m, &BTreeSet::new()).unwrap_err();
        assert!(
            matches!(&v[0], Violation::Params { expected, .. } if expected.is_empty()),
            "{v:?}"
        );
    }

    #[test]
    fn imports_follow_declarations_and_grants() {
        let imports = r#"(import "wasi:http/outgoing-handler@0.2.10" (instance))
            (import "latticeflow:capabilities/kv@0.2.0" (instance))
            (import "wasi:logging/logging@0.1.0-draft" (instance))
            (import "wasi:cli/stdout@0.3.0" (instance))
            (import "acme:evil/backdoor@1.0.0" (instance))
            (import "wasi:random/random@0.2.9" (instance))"#;
        let info = scan_component(&component(QUERY, FILES, imports, "")).unwrap();
        let fields = (
            "[{name: query, type: string}, {name: page_size, type: optional<int>}]",
            "[{name: files, type: string}]",
        );
        let undeclared = manifest(fields.0, fields.1, "[]");
        let v: Vec<String> = check_component(&info, &undeclared, &BTreeSet::new())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            v,
            [
                "imports `wasi:http/outgoing-handler@0.2.10`, but connector.yaml declares neither `http.read` nor `http.write`",
                "imports `latticeflow:capabilities/kv@0.2.0`, but connector.yaml declares neither `kv.read` nor `kv.write`",
                "imports `wasi:cli/stdout@0.3.0` (instance), which is refused: only WASI 0.2 interfaces (`@0.2.x`) are linked; WASI 0.1 and 0.3 are not",
                "imports `acme:evil/backdoor@1.0.0` (instance), which is refused: a component may import WASI 0.2 interfaces and `latticeflow:capabilities` only",
            ]
        );
        let declared = manifest(fields.0, fields.1, "[http.read, kv.read]");
        let v =
            check_component(&info, &declared, &BTreeSet::from([Capability::KvRead])).unwrap_err();
        assert_eq!(
            v[0].to_string(),
            "imports `wasi:http/outgoing-handler@0.2.10`, which needs `http.read` or `http.write` granted in latticeflow.toml"
        );
        assert_eq!(v.len(), 3, "{v:?}");
    }

    #[test]
    fn embedding_replaces_only_the_top_level_section() {
        let bytes = component(
            QUERY,
            FILES,
            "",
            r#"(@custom "latticeflow.connector" "old")"#,
        );
        assert_eq!(
            scan_component(&bytes).unwrap().connector_section.as_deref(),
            Some(&b"old"[..])
        );
        let once = embed_manifest(&bytes, "id: new\n").unwrap();
        let twice = embed_manifest(&once, "id: new\n").unwrap();
        assert_eq!(once, twice);
        let info = scan_component(&once).unwrap();
        assert_eq!(info.connector_section.as_deref(), Some(&b"id: new\n"[..]));
        // The nested module's section is still there, untouched.
        let nested = b"nested: true";
        assert!(once.windows(nested.len()).any(|w| w == nested));
    }

    #[test]
    fn function_bodies_are_left_to_the_runtime() {
        // A nested module whose function returns an i64 where its type says
        // i32: only the body's instructions are wrong.
        let body =
            wat::parse_str("(component (core module (func (result i32) i64.const 0)))").unwrap();
        assert!(Validator::new().validate_all(&body).is_err());
        scan_component(&body).unwrap();
        // The same module with a signature of the wrong arity is refused:
        // function types are structure.
        let mut signature = body;
        let at = signature
            .windows(3)
            .position(|w| w == [0x60, 0x00, 0x01])
            .unwrap();
        signature[at + 1] = 0x05;
        assert!(matches!(
            scan_component(&signature).unwrap_err(),
            ComponentError::Invalid { .. }
        ));
    }

    #[test]
    fn invalid_bytes_are_refused() {
        let mut bytes = component(QUERY, FILES, "", "");
        let cut = bytes.len() - 3;
        bytes.truncate(cut);
        assert!(matches!(
            scan_component(&bytes).unwrap_err(),
            ComponentError::Invalid { .. }
        ));
        assert!(matches!(
            scan_component(b"\0asm\x01\0\0\0").unwrap_err(),
            ComponentError::NotComponent
        ));
    }
}
