//! What a connector's module imports and exports, and its embedded connector
//! manifest, read without holding the module in memory.
//!
//! The top-level section framing (id byte + LEB128 size) is walked by hand
//! over a `Read`: wasmparser's readers want a whole section in memory, which
//! is fine for the small type/import/function/export sections we decode but
//! not for code and data sections that can be hundreds of megabytes. Those are
//! skipped by length. The module's integrity comes from its digest, and
//! wasmtime validates every function body before a module is instantiated.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};

use lf_runtime::spec::Capability;
use wasmparser::{
    BinaryReader, CompositeInnerType, ExportSectionReader, ExternalKind, FunctionSectionReader,
    ImportSectionReader, TypeRef, TypeSectionReader, ValType,
};

/// The custom section holding `connector.yaml`.
pub const CONNECTOR_SECTION: &str = "latticeflow.connector";

/// The largest `latticeflow.connector` section accepted.
pub const MAX_CONNECTOR_SECTION: u64 = 1024 * 1024;

/// The largest type, import, function or export section decoded.
const MAX_DECODED_SECTION: u64 = 16 * 1024 * 1024;

/// A function signature, as the module declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl Signature {
    fn of(params: &[ValType], results: &[ValType]) -> Signature {
        Signature {
            params: params.to_vec(),
            results: results.to_vec(),
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

/// What an import or export is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A function with this signature (`None` when its type is not a function type).
    Func(Option<Signature>),
    /// A memory.
    Memory,
    /// A table.
    Table,
    /// A global.
    Global,
    /// An exception tag.
    Tag,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Func(Some(sig)) => write!(f, "function {sig}"),
            Item::Func(None) => f.write_str("function of a non-function type"),
            Item::Memory => f.write_str("memory"),
            Item::Table => f.write_str("table"),
            Item::Global => f.write_str("global"),
            Item::Tag => f.write_str("tag"),
        }
    }
}

/// An import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Import module.
    pub module: String,
    /// Import name.
    pub name: String,
    /// What it is.
    pub item: Item,
}

/// What a module imports, exports and says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Imports, in order.
    pub imports: Vec<Import>,
    /// Exports by name, in order.
    pub exports: Vec<(String, Item)>,
    /// The `latticeflow.connector` custom section, if present.
    pub connector_section: Option<Vec<u8>>,
}

/// Why a module could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// Not a WebAssembly module at all.
    #[error("not a WebAssembly module: {0}")]
    NotWasm(String),
    /// A component rather than a core module (read those with
    /// [`crate::verify::component::scan_component`]).
    #[error("this is a WebAssembly component, not a core module")]
    Component,
    /// The module ends inside a section.
    #[error("the module is truncated: {0}")]
    Truncated(String),
    /// A section could not be decoded.
    #[error("malformed {section} section at byte {offset}: {message}")]
    Malformed {
        /// Which section.
        section: &'static str,
        /// Where.
        offset: u64,
        /// What wasmparser said.
        message: String,
    },
    /// Two `latticeflow.connector` sections.
    #[error("the module has more than one `{CONNECTOR_SECTION}` custom section")]
    DuplicateConnectorSection,
    /// A section over our decoding limit.
    #[error("the {section} section is {size} bytes, over the {limit}-byte limit")]
    SectionTooLarge {
        /// Which section.
        section: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading failed.
    #[error("cannot read the module: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads imports, exports and the connector section from a module stream.
///
/// Sections it does not decode (code, data, other custom sections) are
/// skipped with a seek, so a 512 MiB module costs a few reads.
pub fn scan_module(mut reader: impl Read + Seek) -> Result<ModuleInfo, ModuleError> {
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let mut r = Counting {
        inner: reader,
        offset: 0,
        len,
    };
    let mut header = [0u8; 8];
    read_exact(&mut r, &mut header, "the header")?;
    if header[..4] != *b"\0asm" {
        return Err(ModuleError::NotWasm(
            "missing the `\\0asm` magic number".to_owned(),
        ));
    }
    match header[4..] {
        [1, 0, 0, 0] => {}
        [_, _, 1, 0] => return Err(ModuleError::Component),
        _ => {
            return Err(ModuleError::NotWasm(format!(
                "unsupported binary version {:?}",
                &header[4..]
            )));
        }
    }

    let mut info = ModuleInfo::default();
    let mut types: Vec<Option<Signature>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    loop {
        let mut id = [0u8; 1];
        if r.read(&mut id)? == 0 {
            break;
        }
        let size = read_leb_u32(&mut r)?;
        let start = r.offset;
        match id[0] {
            0 => {
                let name_len = read_leb_u32(&mut r)?;
                let name_header = r.offset - start;
                if u64::from(name_len) + name_header > u64::from(size) {
                    return Err(ModuleError::Malformed {
                        section: "custom",
                        offset: start,
                        message: "the name is longer than the section".to_owned(),
                    });
                }
                let mut name = vec![0; name_len as usize];
                read_exact(&mut r, &mut name, "a custom section name")?;
                let rest = u64::from(size) - name_header - u64::from(name_len);
                if name == CONNECTOR_SECTION.as_bytes() {
                    if info.connector_section.is_some() {
                        return Err(ModuleError::DuplicateConnectorSection);
                    }
                    if rest > MAX_CONNECTOR_SECTION {
                        return Err(ModuleError::SectionTooLarge {
                            section: CONNECTOR_SECTION,
                            size: rest,
                            limit: MAX_CONNECTOR_SECTION,
                        });
                    }
                    let mut payload = vec![0; rest as usize];
                    read_exact(&mut r, &mut payload, "the connector section")?;
                    info.connector_section = Some(payload);
                } else {
                    r.skip(rest)?;
                }
            }
            1 => {
                let data = read_section(&mut r, size, "type")?;
                let reader = TypeSectionReader::new(BinaryReader::new(&data, start as usize))
                    .map_err(|e| malformed("type", &e))?;
                for group in reader {
                    let group = group.map_err(|e| malformed("type", &e))?;
                    for sub in group.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                Some(Signature::of(f.params(), f.results()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            2 => {
                let data = read_section(&mut r, size, "import")?;
                let reader = ImportSectionReader::new(BinaryReader::new(&data, start as usize))
                    .map_err(|e| malformed("import", &e))?;
                for import in reader.into_imports() {
                    let import = import.map_err(|e| malformed("import", &e))?;
                    let item = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            func_types.push(t);
                            Item::Func(types.get(t as usize).cloned().flatten())
                        }
                        TypeRef::Table(_) => Item::Table,
                        TypeRef::Memory(_) => Item::Memory,
                        TypeRef::Global(_) => Item::Global,
                        TypeRef::Tag(_) => Item::Tag,
                    };
                    info.imports.push(Import {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        item,
                    });
                }
            }
            3 => {
                let data = read_section(&mut r, size, "function")?;
                let reader = FunctionSectionReader::new(BinaryReader::new(&data, start as usize))
                    .map_err(|e| malformed("function", &e))?;
                for t in reader {
                    func_types.push(t.map_err(|e| malformed("function", &e))?);
                }
            }
            7 => {
                let data = read_section(&mut r, size, "export")?;
                let reader = ExportSectionReader::new(BinaryReader::new(&data, start as usize))
                    .map_err(|e| malformed("export", &e))?;
                for export in reader {
                    let export = export.map_err(|e| malformed("export", &e))?;
                    exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            id if id <= 13 => r.skip(u64::from(size))?,
            other => {
                return Err(ModuleError::Malformed {
                    section: "unknown",
                    offset: start - 1,
                    message: format!("section id {other} does not exist"),
                });
            }
        }
        if r.offset - start != u64::from(size) {
            return Err(ModuleError::Malformed {
                section: "module",
                offset: start,
                message: "a section's contents do not match its declared size".to_owned(),
            });
        }
    }
    info.exports = exports
        .into_iter()
        .map(|(name, kind, index)| {
            let item = match kind {
                ExternalKind::Func | ExternalKind::FuncExact => Item::Func(
                    func_types
                        .get(index as usize)
                        .and_then(|t| types.get(*t as usize).cloned().flatten()),
                ),
                ExternalKind::Memory => Item::Memory,
                ExternalKind::Table => Item::Table,
                ExternalKind::Global => Item::Global,
                ExternalKind::Tag => Item::Tag,
            };
            (name, item)
        })
        .collect();
    Ok(info)
}

/// A way the module breaks ABI v1 or its capability grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An import from a module other than `lf:cap`.
    ForeignImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// An `lf:cap` import that is no capability's host function.
    UnknownHostFunction {
        /// Import name.
        name: String,
    },
    /// A capability host function the connector does not declare.
    UndeclaredCapability {
        /// The capability.
        capability: Capability,
        /// Import name.
        name: String,
    },
    /// An `lf:cap` import of the wrong kind or signature.
    BadImportType {
        /// Import name.
        name: String,
        /// What it is.
        found: Item,
    },
    /// A required ABI export is missing.
    MissingExport {
        /// Export name.
        name: &'static str,
    },
    /// An ABI export of the wrong kind or signature.
    BadExport {
        /// Export name.
        name: &'static str,
        /// What was expected.
        expected: String,
        /// What it is.
        found: Item,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ForeignImport { module, name } => write!(
                f,
                "imports `{module}`.`{name}`; a connector may import only `{}` host functions",
                Capability::IMPORT_MODULE
            ),
            Violation::UnknownHostFunction { name } => write!(
                f,
                "imports `{}`.`{name}`, which is no capability's host function",
                Capability::IMPORT_MODULE
            ),
            Violation::UndeclaredCapability { capability, name } => write!(
                f,
                "imports `{}`.`{name}` (capability `{capability}`) but its manifest does not declare `{capability}`",
                Capability::IMPORT_MODULE
            ),
            Violation::BadImportType { name, found } => write!(
                f,
                "imports `{}`.`{name}` as a {found}; host functions are (i32, i32) -> (i64)",
                Capability::IMPORT_MODULE
            ),
            Violation::MissingExport { name } => write!(f, "does not export `{name}` (ABI v1)"),
            Violation::BadExport {
                name,
                expected,
                found,
            } => {
                write!(f, "exports `{name}` as a {found}; ABI v1 needs {expected}")
            }
        }
    }
}

/// What to do about `violations`, one hint per kind of problem found, for the
/// help line under them: a missing `lf_alloc` is fixed in the module, not by
/// declaring capabilities.
pub fn abi_help(violations: &[Violation]) -> String {
    let mut hints = Vec::new();
    let mut hint = |text: &'static str| {
        if !hints.contains(&text) {
            hints.push(text);
        }
    };
    for violation in violations {
        match violation {
            Violation::MissingExport { .. } | Violation::BadExport { .. } => hint(
                "export `memory`, `lf_abi_version`, `lf_alloc` and `lf_invoke` with the ABI v1 \
                 types (docs/abi.md)",
            ),
            Violation::UndeclaredCapability { .. } => {
                hint(
                    "declare the capabilities it imports in connector.yaml, or remove the imports",
                );
            }
            Violation::ForeignImport { .. } | Violation::UnknownHostFunction { .. } => hint(
                "import nothing but `lf:cap` host functions of declared capabilities \
                 (docs/capabilities.md)",
            ),
            Violation::BadImportType { .. } => {
                hint("host functions take (i32, i32) and return i64 (docs/abi.md)");
            }
        }
    }
    hints.join("; ")
}

/// Checks a module against ABI v1 and the capabilities its manifest declares.
/// Returns every violation, in a stable order.
pub fn check_abi(info: &ModuleInfo, declared: &BTreeSet<Capability>) -> Vec<Violation> {
    use ValType::{I32, I64};
    let host_fn = Signature::of(&[I32, I32], &[I64]);
    let mut violations = Vec::new();
    for import in &info.imports {
        if import.module != Capability::IMPORT_MODULE {
            violations.push(Violation::ForeignImport {
                module: import.module.clone(),
                name: import.name.clone(),
            });
            continue;
        }
        let Some(capability) = Capability::from_host_function(&import.name) else {
            violations.push(Violation::UnknownHostFunction {
                name: import.name.clone(),
            });
            continue;
        };
        if !declared.contains(&capability) {
            violations.push(Violation::UndeclaredCapability {
                capability,
                name: import.name.clone(),
            });
        }
        if import.item != Item::Func(Some(host_fn.clone())) {
            violations.push(Violation::BadImportType {
                name: import.name.clone(),
                found: import.item.clone(),
            });
        }
    }
    let required: [(&'static str, Item); 4] = [
        ("memory", Item::Memory),
        (
            "lf_abi_version",
            Item::Func(Some(Signature::of(&[], &[I32]))),
        ),
        ("lf_alloc", Item::Func(Some(Signature::of(&[I32], &[I32])))),
        (
            "lf_invoke",
            Item::Func(Some(Signature::of(&[I32, I32], &[I64]))),
        ),
    ];
    for (name, expected) in required {
        match info.exports.iter().find(|(n, _)| n == name) {
            None => violations.push(Violation::MissingExport { name }),
            Some((_, found)) if *found != expected => violations.push(Violation::BadExport {
                name,
                expected: expected.to_string(),
                found: found.clone(),
            }),
            Some(_) => {}
        }
    }
    violations
}

struct Counting<R> {
    inner: R,
    offset: u64,
    /// The stream's length, to notice a section that claims more bytes
    /// than follow without reading them.
    len: u64,
}

impl<R: Read + Seek> Counting<R> {
    fn skip(&mut self, n: u64) -> Result<(), ModuleError> {
        let left = self.len.saturating_sub(self.offset);
        if n > left {
            return Err(ModuleError::Truncated(format!(
                "a section declares {n} bytes but only {left} follow"
            )));
        }
        let step = i64::try_from(n)
            .map_err(|_| ModuleError::NotWasm("a section is too large".to_owned()))?;
        self.inner.seek(SeekFrom::Current(step))?;
        self.offset += n;
        Ok(())
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

fn malformed(section: &'static str, e: &wasmparser::BinaryReaderError) -> ModuleError {
    ModuleError::Malformed {
        section,
        offset: e.offset() as u64,
        message: e.message().to_owned(),
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), ModuleError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ModuleError::Truncated(format!("it ends inside {what}"))
        } else {
            ModuleError::Io(e)
        }
    })
}

fn read_section(
    r: &mut Counting<impl Read + Seek>,
    size: u32,
    section: &'static str,
) -> Result<Vec<u8>, ModuleError> {
    if u64::from(size) > MAX_DECODED_SECTION {
        return Err(ModuleError::SectionTooLarge {
            section,
            size: u64::from(size),
            limit: MAX_DECODED_SECTION,
        });
    }
    let mut data = vec![0; size as usize];
    read_exact(r, &mut data, "a section")?;
    Ok(data)
}

fn read_leb_u32(r: &mut impl Read) -> Result<u32, ModuleError> {
    let mut result: u32 = 0;
    for i in 0..5 {
        let mut byte = [0u8; 1];
        read_exact(r, &mut byte, "a section header")?;
        let b = byte[0];
        if i == 4 && b > 0x0f {
            return Err(ModuleError::NotWasm(
                "a section size overflows 32 bits".to_owned(),
            ));
        }
        result |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err(ModuleError::NotWasm(
        "a section size is not a valid LEB128 number".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    const GOOD: &str = r#"(module
        (import "lf:cap" "http_read" (func (param i32 i32) (result i64)))
        (memory (export "memory") 1)
        (func (export "lf_abi_version") (result i32) i32.const 1)
        (func (export "lf_alloc") (param i32) (result i32) i32.const 0)
        (func (export "lf_invoke") (param i32 i32) (result i64) i64.const 0)
        (@custom "latticeflow.connector" "id: connector.a.b.c\n")
        (data (i32.const 0) "hello"))"#;

    #[test]
    fn reads_imports_exports_and_the_connector_section() {
        let info = scan_module(std::io::Cursor::new(wasm(GOOD))).unwrap();
        assert_eq!(info.imports.len(), 1);
        assert_eq!(info.imports[0].name, "http_read");
        assert_eq!(
            info.connector_section.as_deref(),
            Some(&b"id: connector.a.b.c\n"[..])
        );
        let names: Vec<&str> = info.exports.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["memory", "lf_abi_version", "lf_alloc", "lf_invoke"]);
        assert!(check_abi(&info, &BTreeSet::from([Capability::HttpRead])).is_empty());
    }

    #[test]
    fn names_undeclared_and_foreign_imports_and_missing_exports() {
        let info = scan_module(std::io::Cursor::new(
            wasm(
                r#"(module
                (import "lf:cap" "kv_write" (func (param i32 i32) (result i64)))
                (import "lf:cap" "fs_read" (func (param i32 i32) (result i64)))
                (import "lf:cap" "log" (func (param i32) (result i64)))
                (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "lf_alloc") (param i64) (result i32) i32.const 0))"#,
            ),
        ))
        .unwrap();
        let violations: Vec<String> = check_abi(&info, &BTreeSet::from([Capability::Log]))
            .iter()
            .map(ToString::to_string)
            .collect();
        let expected = [
            "imports `lf:cap`.`kv_write` (capability `kv.write`) but its manifest does not declare `kv.write`",
            "imports `lf:cap`.`fs_read`, which is no capability's host function",
            "imports `lf:cap`.`log` as a function (i32) -> (i64); host functions are (i32, i32) -> (i64)",
            "imports `wasi_snapshot_preview1`.`fd_write`; a connector may import only `lf:cap` host functions",
            "does not export `lf_abi_version` (ABI v1)",
            "exports `lf_alloc` as a function (i64) -> (i32); ABI v1 needs function (i32) -> (i32)",
            "does not export `lf_invoke` (ABI v1)",
        ];
        assert_eq!(violations, expected);
    }

    #[test]
    fn the_hint_fits_the_problem() {
        let no_alloc = GOOD.replace(
            r#"(func (export "lf_alloc") (param i32) (result i32) i32.const 0)"#,
            "",
        );
        let info = scan_module(std::io::Cursor::new(wasm(&no_alloc))).unwrap();
        let help = abi_help(&check_abi(&info, &BTreeSet::from([Capability::HttpRead])));
        assert!(help.contains("`lf_alloc`"), "{help}");
        assert!(!help.contains("declare the capabilities"), "{help}");
        let help = abi_help(&check_abi(&info, &BTreeSet::new()));
        assert!(
            help.contains("`lf_alloc`") && help.contains("declare the capabilities"),
            "{help}"
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_bytes() {
        let bytes = wasm(GOOD);
        for cut in [3, 9, 12, bytes.len() - 3] {
            let err = scan_module(std::io::Cursor::new(&bytes[..cut])).unwrap_err();
            assert!(
                matches!(err, ModuleError::Truncated(_) | ModuleError::NotWasm(_)),
                "cut at {cut}: {err}"
            );
        }
        assert!(matches!(
            scan_module(std::io::Cursor::new(&b"PK\x03\x04zipfile"[..])).unwrap_err(),
            ModuleError::NotWasm(_)
        ));
        let component = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        assert!(matches!(
            scan_module(std::io::Cursor::new(&component[..])).unwrap_err(),
            ModuleError::Component
        ));
    }

    #[test]
    fn a_second_connector_section_is_an_error() {
        let twice = r#"(module (@custom "latticeflow.connector" "a") (@custom "latticeflow.connector" "b"))"#;
        assert!(matches!(
            scan_module(std::io::Cursor::new(wasm(twice))).unwrap_err(),
            ModuleError::DuplicateConnectorSection
        ));
    }
}
