//! `index.json`: the OCI image index that names the artifacts in the store.
//!
//! The file is always rewritten in one canonical form (pretty JSON, entries
//! sorted by ref name), so the same content gives the same bytes and an
//! update that changes nothing does not touch the file. Entries this tool did
//! not write (no `org.opencontainers.image.ref.name`, or other fields) are kept
//! as they are.

use std::collections::BTreeMap;
use std::path::Path;

use lf_lockfile::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::StoreError;

/// The annotation that names an artifact in an OCI layout.
pub(super) const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The media type of an OCI image index.
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// One named artifact in `index.json`: a descriptor of its manifest plus the
/// full reference it was fetched as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The full reference `registry/repository:tag`, stored as the
    /// `org.opencontainers.image.ref.name` annotation (what `skopeo inspect
    /// oci:<dir>:<ref>` looks up).
    pub ref_name: String,
    /// The media type of the manifest.
    pub media_type: String,
    /// The digest of the manifest.
    pub digest: Digest,
    /// The size of the manifest in bytes.
    pub size: u64,
    /// The artifact type, when the manifest declares one.
    pub artifact_type: Option<String>,
}

/// `index.json` as read, with unknown top-level fields kept.
#[derive(Serialize, Deserialize)]
pub(super) struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u64,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// A descriptor as read back.
#[derive(Deserialize)]
struct InDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
}

impl Index {
    /// An index with no entries.
    pub(super) fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
            manifests: Vec::new(),
            rest: Map::new(),
        }
    }

    /// Parses and checks `bytes` read from `path`.
    pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<Index, StoreError> {
        let invalid = |message: String| StoreError::InvalidIndex {
            path: path.to_path_buf(),
            message,
        };
        let index: Index = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if index.schema_version != 2 {
            return Err(invalid(format!(
                "schemaVersion is {}, expected 2",
                index.schema_version
            )));
        }
        if let Some(i) = index.manifests.iter().position(|m| !m.is_object()) {
            return Err(invalid(format!(
                "manifests[{i}] is not a descriptor object"
            )));
        }
        Ok(index)
    }

    /// The canonical bytes of this index.
    pub(super) fn render(&self, path: &Path) -> Result<Vec<u8>, StoreError> {
        let mut out = serde_json::to_vec_pretty(self).map_err(|e| StoreError::InvalidIndex {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        out.push(b'\n');
        Ok(out)
    }

    /// Replaces the entries whose ref names occur in `entries` (the last
    /// entry of a ref name wins), keeps the others, and sorts by ref name.
    pub(super) fn merge(&mut self, entries: impl IntoIterator<Item = IndexEntry>) {
        let new: BTreeMap<String, IndexEntry> = entries
            .into_iter()
            .map(|e| (e.ref_name.clone(), e))
            .collect();
        self.manifests
            .retain(|m| ref_name(m).is_none_or(|r| !new.contains_key(r)));
        self.manifests.extend(new.values().map(descriptor));
        // Stable: entries without a ref name keep their relative order.
        self.manifests.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
    }

    /// Keeps the descriptors for which `keep` holds (given the parsed
    /// digest, if any); returns what the others were named (their ref name,
    /// else their digest field).
    pub(super) fn retain(&mut self, keep: impl Fn(Option<&Digest>) -> bool) -> Vec<String> {
        let mut removed = Vec::new();
        self.manifests.retain(|m| {
            let digest = m
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<Digest>().ok());
            if keep(digest.as_ref()) {
                return true;
            }
            let name = ref_name(m)
                .map(str::to_owned)
                .or_else(|| m.get("digest").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "(a descriptor without a digest)".to_owned());
            removed.push(name);
            false
        });
        removed
    }

    /// The entries that carry a ref name, in file order.
    pub(super) fn entries(&self, path: &Path) -> Result<Vec<IndexEntry>, StoreError> {
        let mut out = Vec::new();
        for (i, m) in self.manifests.iter().enumerate() {
            let Some(name) = ref_name(m) else { continue };
            let invalid = |what: String| StoreError::InvalidIndex {
                path: path.to_path_buf(),
                message: format!("manifests[{i}] (`{name}`): {what}"),
            };
            let d = InDescriptor::deserialize(m).map_err(|e| invalid(e.to_string()))?;
            let digest = d.digest.parse().map_err(|e| invalid(format!("{e}")))?;
            out.push(IndexEntry {
                ref_name: name.to_owned(),
                media_type: d.media_type,
                digest,
                size: d.size,
                artifact_type: d.artifact_type,
            });
        }
        Ok(out)
    }
}

fn ref_name(descriptor: &Value) -> Option<&str> {
    descriptor
        .get("annotations")?
        .get(REF_NAME_ANNOTATION)?
        .as_str()
}

fn descriptor(entry: &IndexEntry) -> Value {
    let mut map = Map::new();
    map.insert("mediaType".into(), json!(entry.media_type));
    map.insert("digest".into(), json!(entry.digest.to_string()));
    map.insert("size".into(), json!(entry.size));
    map.insert(
        "annotations".into(),
        json!({ REF_NAME_ANNOTATION: entry.ref_name }),
    );
    if let Some(artifact_type) = &entry.artifact_type {
        map.insert("artifactType".into(), json!(artifact_type));
    }
    Value::Object(map)
}
