//! What a node exposes at run time: the checked manifest plus the module digest.
//!
//! Generated wrappers (and hand-written native connectors) hand a [`NodeSpec`]
//! to the registry; the host uses it to link capabilities and to check outputs.
//! It is plain data with public fields so generated code can write it as a
//! literal; build it with [`NodeSpec::from_manifest`] to inherit the manifest's
//! checks.

use serde_json::Value;

use super::{
    Capability, ConnectorId, ConnectorManifest, Effect, ErrorSpec, FieldSpec, ValueError,
    check_fields,
};

/// A node's contract at run time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The connector id.
    pub id: ConnectorId,
    /// Declared inputs, in order.
    pub inputs: Vec<FieldSpec>,
    /// Declared outputs, in order.
    pub outputs: Vec<FieldSpec>,
    /// Declared effects, in canonical order.
    pub effects: Vec<Effect>,
    /// Requested capabilities, in canonical order.
    pub capabilities: Vec<Capability>,
    /// Whether equal inputs give equal outputs.
    pub deterministic: bool,
    /// Whether a call is safe to retry (the manifest's default applied).
    pub idempotent: bool,
    /// Declared error codes, in order.
    pub errors: Vec<ErrorSpec>,
    /// The digest of the module (`sha256:<hex>`), as locked.
    pub module_digest: String,
}

impl NodeSpec {
    /// The spec of the node described by `manifest`, whose module has `module_digest`.
    pub fn from_manifest(manifest: &ConnectorManifest, module_digest: impl Into<String>) -> Self {
        NodeSpec {
            id: manifest.id().clone(),
            inputs: manifest.inputs().to_vec(),
            outputs: manifest.outputs().to_vec(),
            effects: manifest.effects().iter().copied().collect(),
            capabilities: manifest.capabilities().iter().copied().collect(),
            deterministic: manifest.deterministic(),
            idempotent: manifest.idempotent(),
            errors: manifest.errors().to_vec(),
            module_digest: module_digest.into(),
        }
    }

    /// Checks an `inputs` object against the declared inputs.
    pub fn check_inputs(&self, inputs: &Value) -> Result<(), ValueError> {
        check_fields(&self.inputs, inputs)
    }

    /// Checks an `ok` object against the declared outputs: a missing, extra or
    /// mistyped field is an error naming the field.
    pub fn check_outputs(&self, outputs: &Value) -> Result<(), ValueError> {
        check_fields(&self.outputs, outputs)
    }

    /// The declared error with `code`, if any.
    pub fn error(&self, code: &str) -> Option<&ErrorSpec> {
        self.errors.iter().find(|e| e.code == code)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const YAML: &str = "\
id: connector.acme.kv.put
inputs:
  - name: key
    type: string
  - name: value
    type: bytes
outputs:
  - name: version
    type: int
effects: [kv.write, log]
deterministic: false
capabilities: [log, kv.write]
errors:
  - code: conflict
    retryable: true
";

    #[test]
    fn built_from_manifest() {
        let m = ConnectorManifest::from_yaml(YAML).unwrap();
        let spec = NodeSpec::from_manifest(&m, "sha256:abc");
        assert_eq!(spec.id.node(), "put");
        assert_eq!(spec.capabilities, [Capability::KvWrite, Capability::Log]);
        assert_eq!(spec.effects.len(), 2);
        assert!(
            !spec.idempotent,
            "kv.write without idempotent: defaults to false"
        );
        assert_eq!(spec.module_digest, "sha256:abc");
        assert!(spec.error("conflict").unwrap().retryable);
        assert!(spec.error("nope").is_none());

        spec.check_inputs(&json!({"key": "k", "value": "AA=="}))
            .unwrap();
        spec.check_outputs(&json!({"version": 3})).unwrap();
        let e = spec.check_outputs(&json!({"version": "3"})).unwrap_err();
        assert_eq!(e.to_string(), "`version`: expected int, found a string");
    }

    #[test]
    fn serde_round_trip() {
        let spec =
            NodeSpec::from_manifest(&ConnectorManifest::from_yaml(YAML).unwrap(), "sha256:abc");
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["id"], "connector.acme.kv.put");
        assert_eq!(json["inputs"][1], json!({"name": "value", "type": "bytes"}));
        assert_eq!(json["effects"], json!(["kv.write", "log"]));
        assert_eq!(serde_json::from_value::<NodeSpec>(json).unwrap(), spec);
    }
}
