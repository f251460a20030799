//! The bytes of a connector artifact, exactly as `push` writes them
//! (docs/artifact.md); no network here.
//!
//! | part | media type | content |
//! |---|---|---|
//! | manifest | `application/vnd.oci.image.manifest.v1+json` | `schemaVersion` 2, `mediaType`, `config`, one layer, annotations |
//! | config | `application/vnd.wasm.config.v0+json` | `{"architecture":"wasm","os":"wasip1","layerDigests":["sha256:…"]}` |
//! | layer | `application/wasm` | the module, custom section included |
//!
//! Decisions:
//!
//! - No `artifactType`. The CNCF Wasm layout names the artifact by its
//!   config media type, which works on registries that predate OCI 1.1
//!   (distribution 2.8.2 among them); wkg (through `oci-wasm`) writes none;
//!   OCI 1.1 requires `artifactType` only when the config is the empty
//!   descriptor. Our manifests therefore match wkg's, minus its timestamp.
//! - `mediaType` is written in the manifest: distribution checks it against
//!   the upload's `Content-Type`.
//! - `os` is `wasip1`, the layout's value for core modules; no `created`
//!   field, so equal inputs give equal config and manifest digests.
//! - JSON is compact, fields are in a fixed order (structs, not maps) and
//!   annotations are sorted by key: the bytes depend on the inputs only, not
//!   on `serde_json`'s map features.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// Media type of the OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the CNCF Wasm config blob.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the module layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// Manifest annotation: a human-readable title (the connector id).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Manifest annotation: the version (`version` in connector.yaml, never the tag).
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// Manifest annotation: where the connector's source lives.
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// Manifest annotation: the connector id from the embedded manifest.
pub const ANNOTATION_CONNECTOR_ID: &str = "dev.latticeflow.connector.id";

/// `sha256:<lowercase hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// An OCI content descriptor, serialised as `{"mediaType","digest","size"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// The content's length in bytes.
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// A manifest and the blobs it references, ready to push as they are. The
/// malformed fixtures are built as these; nothing checks that the manifest
/// is sensible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArtifact {
    /// The manifest document, pushed byte for byte.
    pub manifest: Vec<u8>,
    /// The manifest's media type, sent as `Content-Type`.
    pub manifest_media_type: String,
    /// Every blob the manifest references (config and layers), each pushed
    /// under the sha256 of its bytes.
    pub blobs: Vec<Vec<u8>>,
}

impl RawArtifact {
    /// An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
    /// with its blobs.
    pub fn image(manifest: Vec<u8>, blobs: Vec<Vec<u8>>) -> Self {
        RawArtifact {
            manifest,
            manifest_media_type: MANIFEST_MEDIA_TYPE.to_owned(),
            blobs,
        }
    }

    /// `sha256:<hex>` of the manifest bytes: the digest the registry will
    /// report for it.
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// A well-formed connector artifact and the descriptors of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorArtifact {
    /// What to push.
    pub raw: RawArtifact,
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// The module layer's descriptor.
    pub layer: Descriptor,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    architecture: &'static str,
    os: &'static str,
    layer_digests: &'a [String],
}

/// The CNCF Wasm config blob for a core module:
/// `{"architecture":"wasm","os":"wasip1","layerDigests":[...]}`.
pub fn wasm_config(layer_digests: &[String]) -> Vec<u8> {
    to_json(&WasmConfig {
        architecture: "wasm",
        os: "wasip1",
        layer_digests,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// An OCI image manifest (schema version 2, compact JSON, keys in the order
/// `schemaVersion`, `mediaType`, `config`, `layers`, `annotations`; no
/// `annotations` key when there are none).
pub fn image_manifest(
    config: &Descriptor,
    layers: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    to_json(&ImageManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        config,
        layers,
        annotations,
    })
}

/// The manifest annotations of a connector; each is left out when `None`.
pub fn annotations(
    title: Option<&str>,
    version: Option<&str>,
    source: Option<&str>,
    connector_id: Option<&str>,
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(title) = title {
        annotations.insert(ANNOTATION_TITLE.to_owned(), title.to_owned());
    }
    if let Some(version) = version {
        annotations.insert(ANNOTATION_VERSION.to_owned(), version.to_owned());
    }
    if let Some(source) = source {
        annotations.insert(ANNOTATION_SOURCE.to_owned(), source.to_owned());
    }
    if let Some(id) = connector_id {
        annotations.insert(ANNOTATION_CONNECTOR_ID.to_owned(), id.to_owned());
    }
    annotations
}

/// The artifact of `module`: one `application/wasm` layer, the Wasm config
/// naming its digest, and the manifest with `annotations`. The blobs are
/// ordered config, then layer.
pub fn connector_artifact(
    module: &[u8],
    annotations: &BTreeMap<String, String>,
) -> ConnectorArtifact {
    let layer = Descriptor::of(WASM_LAYER_MEDIA_TYPE, module);
    let config_bytes = wasm_config(std::slice::from_ref(&layer.digest));
    let config = Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config_bytes);
    let manifest_bytes = image_manifest(&config, std::slice::from_ref(&layer), annotations);
    let manifest = Descriptor::of(MANIFEST_MEDIA_TYPE, &manifest_bytes);
    ConnectorArtifact {
        raw: RawArtifact::image(manifest_bytes, vec![config_bytes, module.to_vec()]),
        manifest,
        config,
        layer,
    }
}

/// Compact JSON of a value made of structs, strings, numbers and `BTreeMap`s,
/// which cannot fail to serialise.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn config_is_exactly_the_documented_json() {
        let config = wasm_config(&["sha256:ab".to_owned()]);
        assert_eq!(
            String::from_utf8(config).unwrap(),
            r#"{"architecture":"wasm","os":"wasip1","layerDigests":["sha256:ab"]}"#
        );
    }

    #[test]
    fn manifest_is_compact_ordered_and_annotated() {
        let artifact = connector_artifact(
            b"\0asm\x01\0\0\0",
            &annotations(
                Some("echo"),
                Some("1.0"),
                Some("https://example.com/echo"),
                Some("connector.a.b"),
            ),
        );
        let text = String::from_utf8(artifact.raw.manifest.clone()).unwrap();
        let config = &artifact.config;
        let layer = &artifact.layer;
        assert_eq!(
            text,
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                    r#""config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{}","size":{}}},"#,
                    r#""layers":[{{"mediaType":"application/wasm","digest":"{}","size":8}}],"#,
                    r#""annotations":{{"dev.latticeflow.connector.id":"connector.a.b","#,
                    r#""org.opencontainers.image.source":"https://example.com/echo","#,
                    r#""org.opencontainers.image.title":"echo","#,
                    r#""org.opencontainers.image.version":"1.0"}}}}"#,
                ),
                config.digest, config.size, layer.digest,
            )
        );
        assert_eq!(artifact.manifest.digest, artifact.raw.manifest_digest());
        assert_eq!(
            artifact.raw.blobs[0],
            wasm_config(std::slice::from_ref(&layer.digest))
        );
        assert_eq!(
            layer.digest,
            "sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"
        );
    }
}
