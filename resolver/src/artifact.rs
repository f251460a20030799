//! The CNCF Wasm OCI artifact (docs/artifact.md): what makes a
//! manifest a connector, read strictly where it matters (config media type,
//! exactly one `application/wasm` layer) and leniently elsewhere, so artifacts
//! written by wkg, oras or spin are accepted.

use std::collections::BTreeMap;

use lf_lockfile::{BlobRef, Digest};
use serde::Deserialize;

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The config media type of a Wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm module.
pub const WASM_LAYER: &str = "application/wasm";
/// The manifest annotation holding the connector id.
pub const CONNECTOR_ID_ANNOTATION: &str = "dev.latticeflow.connector.id";

/// A manifest that is a connector: its config and its one module layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmArtifact {
    /// The config blob.
    pub config: BlobRef,
    /// The module layer.
    pub module: BlobRef,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Why a manifest is not a connector artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// Not JSON, or not shaped like an image manifest.
    #[error("the manifest is not a valid OCI image manifest: {0}")]
    Malformed(String),
    /// An index or a Docker manifest instead of an OCI image manifest.
    #[error("expected an OCI image manifest (`{OCI_MANIFEST}`), found `{0}`")]
    MediaType(String),
    /// The config has another media type.
    #[error("the config media type is `{0}`; a connector needs `{WASM_CONFIG}`")]
    ConfigMediaType(String),
    /// Not exactly one layer.
    #[error("a connector has exactly one `{WASM_LAYER}` layer; this manifest has {count}: {}", .media_types.join(", "))]
    LayerCount {
        /// How many layers.
        count: usize,
        /// Their media types.
        media_types: Vec<String>,
    },
    /// The one layer is not a Wasm module.
    #[error("the layer media type is `{0}`; a connector's module must be `{WASM_LAYER}`")]
    LayerMediaType(String),
    /// A descriptor's digest is not a valid digest.
    #[error("the {what} descriptor has an invalid digest: {message}")]
    Digest {
        /// Which descriptor.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A descriptor has a negative size.
    #[error("the {what} descriptor has a negative size")]
    Size {
        /// Which descriptor.
        what: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestWire {
    schema_version: u32,
    media_type: Option<String>,
    config: DescriptorWire,
    #[serde(default)]
    layers: Vec<DescriptorWire>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorWire {
    media_type: String,
    digest: String,
    size: i64,
}

impl DescriptorWire {
    fn blob(&self, what: &'static str) -> Result<BlobRef, ArtifactError> {
        let digest: Digest =
            self.digest
                .parse()
                .map_err(|e: lf_lockfile::DigestError| ArtifactError::Digest {
                    what,
                    message: e.to_string(),
                })?;
        let size = u64::try_from(self.size).map_err(|_| ArtifactError::Size { what })?;
        Ok(BlobRef { digest, size })
    }
}

/// The custom section holding `connector.yaml` inside a module.
pub const CONNECTOR_SECTION: &str = crate::verify::module::CONNECTOR_SECTION;

/// Why a manifest could not be embedded into a module.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The bytes are not a WebAssembly module.
    #[error("not a WebAssembly module: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
    /// A component: [`crate::verify::component::embed_manifest`] embeds into
    /// those, at their top level only.
    #[error("this is a WebAssembly component, not a core module")]
    Component,
}

/// `module` with its `latticeflow.connector` custom section(s) replaced by
/// one holding `yaml`, appended last. Deterministic: embedding twice gives
/// the bytes of embedding once. Components have their own path
/// ([`crate::verify::component::embed_manifest`]): this one would flatten
/// their nested modules' sections.
pub fn embed_manifest(module: &[u8], yaml: &str) -> Result<Vec<u8>, EmbedError> {
    use std::borrow::Cow;
    use wasmparser::{Encoding, Parser, Payload};
    let mut out = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload?;
        match &payload {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => return Err(EmbedError::Component),
            Payload::CustomSection(section) if section.name() == CONNECTOR_SECTION => continue,
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection {
                id,
                data: &module[range],
            });
        }
    }
    out.section(&wasm_encoder::CustomSection {
        name: Cow::Borrowed(CONNECTOR_SECTION),
        data: Cow::Borrowed(yaml.as_bytes()),
    });
    Ok(out.finish())
}

/// The manifest and config blobs of a connector artifact, exactly as `push`
/// writes them: compact JSON in a fixed key order and no timestamps, so the
/// same module and annotations give the same digest anywhere. A component's
/// config says `os: wasip2`, a core module's `wasip1`, as wkg writes them.
pub fn build_artifact(
    module: &[u8],
    component: bool,
    annotations: &BTreeMap<String, String>,
) -> (Vec<u8>, Vec<u8>) {
    use sha2::Digest as _;
    let sha = |bytes: &[u8]| format!("sha256:{:x}", sha2::Sha256::digest(bytes));
    let module_digest = sha(module);
    // Keys in the documented order (a struct, not a JSON map,
    // whose keys would be sorted).
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WasmConfig<'a> {
        architecture: &'a str,
        os: &'a str,
        layer_digests: [&'a str; 1],
    }
    let config = serde_json::to_vec(&WasmConfig {
        architecture: "wasm",
        os: if component { "wasip2" } else { "wasip1" },
        layer_digests: [&module_digest],
    })
    .unwrap_or_default();
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Descriptor<'a> {
        media_type: &'a str,
        digest: String,
        size: usize,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest<'a> {
        schema_version: u32,
        media_type: &'a str,
        config: Descriptor<'a>,
        layers: [Descriptor<'a>; 1],
        annotations: &'a BTreeMap<String, String>,
    }
    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: Descriptor {
            media_type: WASM_CONFIG,
            digest: sha(&config),
            size: config.len(),
        },
        layers: [Descriptor {
            media_type: WASM_LAYER,
            digest: module_digest,
            size: module.len(),
        }],
        annotations,
    })
    .unwrap_or_default();
    (manifest, config)
}

/// Reads `bytes` as a connector's manifest.
pub fn parse_manifest(bytes: &[u8]) -> Result<WasmArtifact, ArtifactError> {
    // An index or a Docker manifest is reported by its media type first.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| ArtifactError::Malformed(e.to_string()))?;
    match probe.media_type.as_deref() {
        Some(OCI_MANIFEST) | None if probe.manifests.is_none() => {}
        Some(other) => return Err(ArtifactError::MediaType(other.to_owned())),
        None => return Err(ArtifactError::MediaType(OCI_INDEX.to_owned())),
    }
    let wire: ManifestWire =
        serde_json::from_slice(bytes).map_err(|e| ArtifactError::Malformed(e.to_string()))?;
    if wire.schema_version != 2 {
        return Err(ArtifactError::Malformed(format!(
            "schemaVersion is {}, expected 2",
            wire.schema_version
        )));
    }
    if let Some(mt) = &wire.media_type
        && mt != OCI_MANIFEST
    {
        return Err(ArtifactError::MediaType(mt.clone()));
    }
    if wire.config.media_type != WASM_CONFIG {
        return Err(ArtifactError::ConfigMediaType(wire.config.media_type));
    }
    let layer = match wire.layers.as_slice() {
        [one] => one,
        layers => {
            return Err(ArtifactError::LayerCount {
                count: layers.len(),
                media_types: layers.iter().map(|l| l.media_type.clone()).collect(),
            });
        }
    };
    if layer.media_type != WASM_LAYER {
        return Err(ArtifactError::LayerMediaType(layer.media_type.clone()));
    }
    Ok(WasmArtifact {
        config: wire.config.blob("config")?,
        module: layer.blob("module layer")?,
        annotations: wire.annotations,
    })
}

/// Checks that a config blob is a JSON object (fields are read leniently:
/// wkg adds `component` and `created`, others add their own).
pub fn check_config(bytes: &[u8]) -> Result<(), ArtifactError> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(ArtifactError::Malformed(
            "the config blob is not a JSON object".to_owned(),
        )),
        Err(e) => Err(ArtifactError::Malformed(format!(
            "the config blob is not JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(config_mt: &str, layers: &[&str]) -> String {
        let layers: Vec<String> = layers
            .iter()
            .map(|mt| format!(r#"{{"mediaType":"{mt}","digest":"{D}","size":10}}"#))
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{config_mt}","digest":"{D}","size":2}},"layers":[{}],"annotations":{{"{CONNECTOR_ID_ANNOTATION}":"connector.a.b"}}}}"#,
            layers.join(",")
        )
    }

    #[test]
    fn accepts_a_wasm_artifact() {
        let a = parse_manifest(manifest(WASM_CONFIG, &[WASM_LAYER]).as_bytes()).unwrap();
        assert_eq!(a.module.size, 10);
        assert_eq!(a.config.size, 2);
        assert_eq!(a.annotations[CONNECTOR_ID_ANNOTATION], "connector.a.b");
    }

    #[test]
    fn rejects_what_is_not_a_connector_and_says_what_it_found() {
        let cases = [
            (
                manifest("application/vnd.oci.image.config.v1+json", &[WASM_LAYER]),
                "config media type is `application/vnd.oci.image.config.v1+json`",
            ),
            (
                manifest(WASM_CONFIG, &[WASM_LAYER, WASM_LAYER]),
                "has 2: application/wasm, application/wasm",
            ),
            (manifest(WASM_CONFIG, &[]), "has 0"),
            (
                manifest(WASM_CONFIG, &["application/octet-stream"]),
                "layer media type is `application/octet-stream`",
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#),
                "found `application/vnd.oci.image.index.v1+json`",
            ),
            ("not json".to_owned(), "not a valid OCI image manifest"),
        ];
        for (input, expected) in cases {
            let err = parse_manifest(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
