//! The sample connectors, and broken artifacts that `lock` must refuse.
//!
//! Each good connector lives in `connectors/<name>/` as three files:
//! `module.wat` (ABI v1 written by hand, with real behaviour), `connector.yaml`
//! (its manifest) and `tests/contract.yaml` (its contract cases, which
//! lf-certify runs; docs/certification.md). They are compiled into this crate with `include_str!` and built into modules at run
//! time with the `wat` crate, so a fixture is always what its sources say.
//!
//! [`embed_manifest`] writes the `latticeflow.connector` custom section the
//! way `push` must: it removes every existing section of that name and
//! appends the new one last, so embedding twice gives the same bytes as
//! embedding once.
//!
//! Nothing here touches the network; [`crate::push`] publishes these.

use std::collections::BTreeMap;

use lf_runtime::spec::{Capability, ConnectorManifest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmparser::{Encoding, Parser, Payload};

use crate::artifact::{
    self, Descriptor, RawArtifact, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
};

/// Name of the custom section that carries the `connector.yaml` document.
pub const SECTION_NAME: &str = "latticeflow.connector";

/// Sources of one good connector: directory name and the three files.
struct Source {
    name: &'static str,
    wat: &'static str,
    yaml: &'static str,
    contract: &'static str,
}

macro_rules! source {
    ($name:literal) => {
        Source {
            name: $name,
            wat: include_str!(concat!("../connectors/", $name, "/module.wat")),
            yaml: include_str!(concat!("../connectors/", $name, "/connector.yaml")),
            contract: include_str!(concat!("../connectors/", $name, "/tests/contract.yaml")),
        }
    };
}

const SOURCES: [Source; 5] = [
    source!("text-upper"),
    source!("json-reshape"),
    source!("http-fetch"),
    source!("kv-counter"),
    source!("hash"),
];

/// A sample connector, built from `connectors/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fixture {
    /// The directory name, also the repository name it is pushed under
    /// (`latticeflow/<name>`).
    pub name: &'static str,
    /// `module.wat`.
    pub wat: &'static str,
    /// `connector.yaml`, exactly as embedded in [`Fixture::module`].
    pub yaml: &'static str,
    /// `tests/contract.yaml`: the contract cases (lf-certify parses and runs
    /// them).
    pub contract_yaml: &'static str,
    /// The compiled module without the custom section.
    pub bare_module: Vec<u8>,
    /// The compiled module with `connector.yaml` in its
    /// `latticeflow.connector` custom section: what gets pushed.
    pub module: Vec<u8>,
}

impl Fixture {
    /// The parsed `connector.yaml`.
    ///
    /// # Panics
    ///
    /// If the bundled YAML is not a valid manifest (the tests rule that out).
    pub fn manifest(&self) -> ConnectorManifest {
        ConnectorManifest::from_yaml(self.yaml)
            .unwrap_or_else(|error| panic!("connectors/{}/connector.yaml: {error}", self.name))
    }

    /// The connector id, e.g. `connector.latticeflow.text.upper`.
    ///
    /// # Panics
    ///
    /// As [`Fixture::manifest`].
    pub fn id(&self) -> String {
        self.manifest().id().as_str().to_owned()
    }
}

/// The five good sample connectors, in a fixed order: `text-upper`,
/// `json-reshape`, `http-fetch`, `kv-counter`, `hash`.
///
/// # Panics
///
/// If a bundled WAT source does not compile (the tests rule that out).
pub fn fixtures() -> Vec<Fixture> {
    SOURCES.iter().map(build).collect()
}

/// The good fixture named `name`, if there is one.
pub fn fixture(name: &str) -> Option<Fixture> {
    SOURCES.iter().find(|source| source.name == name).map(build)
}

fn build(source: &Source) -> Fixture {
    let bare_module = compile(source.name, source.wat);
    let module = embed_manifest(&bare_module, source.yaml)
        .unwrap_or_else(|error| panic!("connectors/{}/module.wat: {error}", source.name));
    Fixture {
        name: source.name,
        wat: source.wat,
        yaml: source.yaml,
        contract_yaml: source.contract,
        bare_module,
        module,
    }
}

fn compile(name: &str, wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|error| panic!("WAT of fixture `{name}`: {error}"))
}

/// One raw call of a fixture module, for a test-only host that speaks ABI v1
/// directly (without `lf_runtime`'s host).
///
/// The host calls the module with `{"inputs": <input>}` (compact, as
/// [`Vector::invocation`] writes it); each host function, when called, must
/// receive the next `request` of its list and answers with its `reply`; the
/// module's result must equal `output` (compared as JSON values). Every
/// listed call must happen, in order per function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// What the vector shows.
    pub name: String,
    /// The `inputs` object.
    pub input: serde_json::Map<String, Value>,
    /// Canned host calls by host function name (`http_read`, `kv_write`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host: BTreeMap<String, Vec<HostCall>>,
    /// The expected `{"ok": {...}}` or `{"error": {...}}` document.
    pub output: Value,
}

impl Vector {
    /// The bytes passed to `lf_invoke`: `{"inputs":{...}}`, compact.
    pub fn invocation(&self) -> Vec<u8> {
        let mut document = serde_json::Map::new();
        document.insert("inputs".to_owned(), Value::Object(self.input.clone()));
        // A map of JSON values always serialises.
        serde_json::to_vec(&Value::Object(document)).unwrap_or_default()
    }
}

/// One expected host call of a [`Vector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCall {
    /// The request document the module must send.
    pub request: Value,
    /// The reply the host places in the module's memory.
    pub reply: Value,
}

/// Why a module's custom sections could not be read or rewritten.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// The bytes are not a well-formed WebAssembly binary.
    #[error("not a WebAssembly module: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
    /// The binary is a component; connectors are core modules.
    #[error("a WebAssembly component, not a core module")]
    Component,
    /// More than one `latticeflow.connector` section.
    #[error("{count} `{SECTION_NAME}` custom sections; expected at most one")]
    Duplicate {
        /// How many there are.
        count: usize,
    },
    /// The section is not UTF-8 text.
    #[error("the `{SECTION_NAME}` custom section is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
}

/// Returns `module` with `yaml` as its only `latticeflow.connector` custom
/// section, placed last. Existing sections of that name are dropped, every
/// other section is kept in order with its content unchanged (section sizes
/// are re-encoded in minimal LEB128). Equal inputs give equal bytes, and
/// `embed_manifest(embed_manifest(m, y), y) == embed_manifest(m, y)`.
///
/// # Errors
///
/// [`SectionError::Parse`] if `module` is not a well-formed WebAssembly
/// binary, [`SectionError::Component`] if it is a component.
pub fn embed_manifest(module: &[u8], yaml: &str) -> Result<Vec<u8>, SectionError> {
    // The same embedding `lf-resolve push` does, so fixtures are the bytes
    // authors publish.
    lf_resolve::artifact::embed_manifest(module, yaml).map_err(|e| match e {
        lf_resolve::artifact::EmbedError::Parse(e) => SectionError::Parse(e),
        lf_resolve::artifact::EmbedError::Component => SectionError::Component,
    })
}

/// The text of the module's `latticeflow.connector` section, if it has one.
///
/// # Errors
///
/// As [`embed_manifest`], plus [`SectionError::Duplicate`] for more than one
/// such section and [`SectionError::NotUtf8`] for one that is not text.
pub fn manifest_section(module: &[u8]) -> Result<Option<&str>, SectionError> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => return Err(SectionError::Component),
            Payload::CustomSection(section) if section.name() == SECTION_NAME => {
                found.push(section.data());
            }
            _ => {}
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [data] => Ok(Some(std::str::from_utf8(data)?)),
        _ => Err(SectionError::Duplicate { count: found.len() }),
    }
}

/// What kind of check a [`MalformedFixture`] must fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Defect {
    /// The OCI manifest or config breaks the CNCF Wasm layout (layer count,
    /// layer or config media type).
    Layout,
    /// The layer is not a WebAssembly core module with the ABI v1 exports.
    Module,
    /// The module imports something its manifest does not declare.
    Imports,
    /// The `latticeflow.connector` section is missing or not a valid manifest.
    ConnectorManifest,
}

/// An artifact that `lock` must reject, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedFixture {
    /// Short name; pushed as `latticeflow/bad-<name>`.
    pub name: &'static str,
    /// Why it must be rejected.
    pub reason: &'static str,
    /// Which check must catch it.
    pub defect: Defect,
    /// The module, when the defect is in the module (the static checks can
    /// be run on it without a registry).
    pub module: Option<Vec<u8>>,
    /// The complete artifact to push with [`crate::push::push_raw`].
    pub artifact: RawArtifact,
}

/// A core module with the ABI v1 exports and no behaviour, for malformed
/// fixtures; `{imports}` and `{invoke}` are filled in.
const SKELETON: &str = r#"(module
  {imports}
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"ok\":{}}")
  (func (export "lf_abi_version") (result i32) (i32.const 1))
  (func (export "lf_alloc") (param $len i32) (result i32) (i32.const 1024))
  {invoke}
)"#;

const INVOKE: &str = r#"(func (export "lf_invoke") (param $ptr i32) (param $len i32) (result i64)
    (i64.const 0x0000001000000009))"#;

fn skeleton(imports: &str, invoke: &str) -> String {
    SKELETON
        .replace("{imports}", imports)
        .replace("{invoke}", invoke)
}

const BAD_HTTP_YAML: &str = "\
id: connector.latticeflow.bad.http_writer
inputs:
  - name: url
    type: string
outputs:
  - name: status
    type: int
effects:
  - http.read
deterministic: false
capabilities:
  - http.read
";

const PLAIN_YAML: &str = "\
id: connector.latticeflow.bad.plain
inputs: []
outputs: []
effects: []
deterministic: true
capabilities: []
";

const UNKNOWN_CAPABILITY_YAML: &str = "\
id: connector.latticeflow.bad.unknown_capability
inputs: []
outputs: []
effects: []
deterministic: true
capabilities:
  - fs.write
";

const INVALID_YAML: &str = "id: connector.latticeflow.bad.yaml\ninputs: [unclosed\n";

/// Artifacts `lock` must reject, one defect each; everything else about them
/// is right (valid digests, the CNCF layout where the defect is not in it).
///
/// # Panics
///
/// If a bundled WAT source does not compile (the tests rule that out).
pub fn malformed() -> Vec<MalformedFixture> {
    let text_upper = build(&SOURCES[0]);
    let hash = build(&SOURCES[4]);
    let with_yaml = |wat: &str, yaml: &str| {
        embed_manifest(&compile("malformed", wat), yaml)
            .unwrap_or_else(|error| panic!("malformed fixture module: {error}"))
    };

    let module_fixture = |name, reason, defect, module: Vec<u8>| MalformedFixture {
        name,
        reason,
        defect,
        artifact: artifact::connector_artifact(&module, &bad_annotations(name)).raw,
        module: Some(module),
    };
    let layout_fixture = |name, reason, artifact| MalformedFixture {
        name,
        reason,
        defect: Defect::Layout,
        module: None,
        artifact,
    };

    let http_write = format!(
        r#"(import "{module}" "{read}" (func (param i32 i32) (result i64)))
  (import "{module}" "{write}" (func (param i32 i32) (result i64)))"#,
        module = Capability::IMPORT_MODULE,
        read = Capability::HttpRead.host_function(),
        write = Capability::HttpWrite.host_function(),
    );
    let truncated = text_upper.module[..text_upper.module.len() / 2].to_vec();
    let invalid_yaml = embed_manifest(&text_upper.bare_module, INVALID_YAML)
        .unwrap_or_else(|error| panic!("text-upper: {error}"));
    let unknown_capability = embed_manifest(&text_upper.bare_module, UNKNOWN_CAPABILITY_YAML)
        .unwrap_or_else(|error| panic!("text-upper: {error}"));

    vec![
        module_fixture(
            "undeclared-capability",
            "the module imports lf:cap http_write, but its manifest declares only http.read",
            Defect::Imports,
            with_yaml(&skeleton(&http_write, INVOKE), BAD_HTTP_YAML),
        ),
        module_fixture(
            "foreign-import",
            "the module imports wasi_snapshot_preview1 fd_write; connectors may import only lf:cap functions",
            Defect::Imports,
            with_yaml(
                &skeleton(
                    r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
                    INVOKE,
                ),
                PLAIN_YAML,
            ),
        ),
        module_fixture(
            "missing-abi-export",
            "the module does not export lf_invoke (ABI v1 needs memory, lf_abi_version, lf_alloc, lf_invoke)",
            Defect::Module,
            with_yaml(&skeleton("", ""), PLAIN_YAML),
        ),
        module_fixture(
            "bad-abi-signature",
            "the module exports lf_invoke as (i32) -> i32 instead of (i32, i32) -> i64",
            Defect::Module,
            with_yaml(
                &skeleton(
                    "",
                    r#"(func (export "lf_invoke") (param $ptr i32) (result i32) (i32.const 0))"#,
                ),
                PLAIN_YAML,
            ),
        ),
        module_fixture(
            "corrupt-module",
            "the layer is a truncated module: not valid WebAssembly",
            Defect::Module,
            truncated,
        ),
        module_fixture(
            "no-connector-section",
            "the module has no latticeflow.connector custom section, and no sidecar manifest is configured",
            Defect::ConnectorManifest,
            text_upper.bare_module.clone(),
        ),
        module_fixture(
            "invalid-yaml-section",
            "the latticeflow.connector section is not valid YAML",
            Defect::ConnectorManifest,
            invalid_yaml,
        ),
        module_fixture(
            "unknown-capability-section",
            "the latticeflow.connector section declares capability fs.write, which does not exist",
            Defect::ConnectorManifest,
            unknown_capability,
        ),
        layout_fixture(
            "two-wasm-layers",
            "the manifest has two application/wasm layers; a connector has exactly one",
            two_layers("two-wasm-layers", &text_upper.module, &hash.module),
        ),
        layout_fixture(
            "octet-stream-layer",
            "the only layer has media type application/octet-stream, not application/wasm",
            retyped(
                "octet-stream-layer",
                &text_upper.module,
                WASM_CONFIG_MEDIA_TYPE,
                OCTET_STREAM,
            ),
        ),
        layout_fixture(
            "image-config",
            "the config has media type application/vnd.oci.image.config.v1+json, not application/vnd.wasm.config.v0+json",
            retyped(
                "image-config",
                &text_upper.module,
                IMAGE_CONFIG_MEDIA_TYPE,
                WASM_LAYER_MEDIA_TYPE,
            ),
        ),
    ]
}

const OCTET_STREAM: &str = "application/octet-stream";

/// The config media type of container images, wrong for a connector.
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

fn bad_annotations(name: &str) -> BTreeMap<String, String> {
    artifact::annotations(
        Some(&format!("bad-{name}")),
        Some(crate::push::FIXTURE_TAG),
        None,
        None,
    )
}

fn two_layers(name: &str, first: &[u8], second: &[u8]) -> RawArtifact {
    let layers = [
        Descriptor::of(WASM_LAYER_MEDIA_TYPE, first),
        Descriptor::of(WASM_LAYER_MEDIA_TYPE, second),
    ];
    let config = artifact::wasm_config(&[layers[0].digest.clone(), layers[1].digest.clone()]);
    let config_descriptor = Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config);
    let manifest = artifact::image_manifest(&config_descriptor, &layers, &bad_annotations(name));
    RawArtifact::image(manifest, vec![config, first.to_vec(), second.to_vec()])
}

/// A one-layer artifact of `module` with the given config and layer media
/// types (the config content is the Wasm config either way).
fn retyped(
    name: &str,
    module: &[u8],
    config_media_type: &str,
    layer_media_type: &str,
) -> RawArtifact {
    let layer = Descriptor::of(layer_media_type, module);
    let config = artifact::wasm_config(std::slice::from_ref(&layer.digest));
    let config_descriptor = Descriptor::of(config_media_type, &config);
    let manifest = artifact::image_manifest(
        &config_descriptor,
        std::slice::from_ref(&layer),
        &bad_annotations(name),
    );
    RawArtifact::image(manifest, vec![config, module.to_vec()])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SHARED_START: &str = ";; ---- shared ABI v1 helpers";
    const SHARED_END: &str = ";; ---- end of shared helpers ----";

    fn shared_block(wat: &str) -> &str {
        let start = wat.find(SHARED_START).unwrap();
        let end = wat.find(SHARED_END).unwrap();
        &wat[start..end]
    }

    #[test]
    fn shared_helpers_are_identical_in_every_connector() {
        let first = shared_block(SOURCES[0].wat);
        for source in &SOURCES[1..] {
            assert!(
                shared_block(source.wat) == first,
                "connectors/{}/module.wat: the shared helper block differs from text-upper's",
                source.name
            );
        }
    }

    #[test]
    fn manifest_section_reads_what_embed_wrote() {
        let bare = wat::parse_str("(module)").unwrap();
        assert_eq!(manifest_section(&bare).unwrap(), None);
        let module = embed_manifest(&bare, "id: x\n").unwrap();
        assert_eq!(manifest_section(&module).unwrap(), Some("id: x\n"));
        // Two sections of the name are refused when read.
        let mut twice = wasm_encoder::Module::new();
        for _ in 0..2 {
            twice.section(&wasm_encoder::CustomSection {
                name: std::borrow::Cow::Borrowed(SECTION_NAME),
                data: std::borrow::Cow::Borrowed(b"a"),
            });
        }
        let twice = twice.finish();
        assert!(matches!(
            manifest_section(&twice),
            Err(SectionError::Duplicate { count: 2 })
        ));
        // ...and both replaced by one when embedding.
        let once = embed_manifest(&twice, "b").unwrap();
        assert_eq!(manifest_section(&once).unwrap(), Some("b"));
    }

    #[test]
    fn embed_refuses_what_is_not_a_module() {
        assert!(matches!(
            embed_manifest(b"\0asm\x01\0\0\0\x01", "x"),
            Err(SectionError::Parse(_))
        ));
        assert!(matches!(
            embed_manifest(b"not wasm", "x"),
            Err(SectionError::Parse(_))
        ));
    }
}
