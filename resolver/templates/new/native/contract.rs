//! Runs `tests/contract.yaml` against the node, registered in a real
//! `NodeRegistry` exactly as an application registers it: inputs and outputs
//! are checked against `connector.yaml` by the runtime, errors must be
//! declared. Cases may script the key-value store (`kv`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lf_runtime::host::{
    Capabilities, HostError, HostResult, NodeError, NodeRegistry, RegistryError,
};
use lf_runtime::spec::ConnectorId;
use serde::Deserialize;
use serde_json::{Value, json};

/// The connector under test.
const ID: &str = "{{id}}";

fn register(registry: &mut NodeRegistry) -> Result<(), RegistryError> {
    {{crate}}::{{node}}_register(registry)
}

/// A parsed `tests/contract.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contract {
    cases: Vec<Case>,
}

/// One case. Unknown keys (such as scripted `http` replies, which this
/// runner does not play) are refused rather than ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Case {
    name: String,
    input: Value,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    output_subset: Option<Value>,
    #[serde(default)]
    error: Option<Expected>,
    #[serde(default)]
    kv: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    code: String,
    #[serde(default)]
    retryable: Option<bool>,
}

/// The application side of a case: a key-value store starting as `kv`.
struct Script {
    kv: Mutex<BTreeMap<String, Value>>,
}

impl Capabilities for Script {
    fn kv_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let key = request["key"]
            .as_str()
            .ok_or_else(|| HostError::new("bad_request", "no key"))?;
        let kv = self
            .kv
            .lock()
            .map_err(|_| HostError::new("poisoned", "store poisoned"))?;
        Ok(json!({ "value": kv.get(key).cloned().unwrap_or(Value::Null) }))
    }

    fn kv_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let key = request["key"]
            .as_str()
            .ok_or_else(|| HostError::new("bad_request", "no key"))?;
        let mut kv = self
            .kv
            .lock()
            .map_err(|_| HostError::new("poisoned", "store poisoned"))?;
        if request.get("op").and_then(Value::as_str) == Some("delete") {
            kv.remove(key);
        } else {
            kv.insert(key.to_owned(), request["value"].clone());
        }
        Ok(json!({}))
    }
}

/// Whether every field of `want` is in `got` with an equal value (objects
/// compared the same way, recursively).
fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        _ => want == got,
    }
}

/// What is wrong with one case's result, if anything.
fn check(case: &Case, result: Result<Value, RegistryError>) -> Option<String> {
    match (result, &case.error) {
        (Ok(out), None) => {
            if let Some(want) = &case.output
                && &out != want
            {
                return Some(format!("output {out}, expected {want}"));
            }
            if let Some(want) = &case.output_subset
                && !subset(want, &out)
            {
                return Some(format!("output {out} does not contain {want}"));
            }
            None
        }
        (Ok(out), Some(want)) => Some(format!("output {out}, expected error `{}`", want.code)),
        (
            Err(RegistryError::Node(NodeError::Connector {
                code, retryable, ..
            })),
            Some(want),
        ) => {
            if code != want.code {
                Some(format!("error `{code}`, expected `{}`", want.code))
            } else if want.retryable.is_some_and(|r| r != retryable) {
                Some(format!("error `{code}` with retryable {retryable}"))
            } else {
                None
            }
        }
        (Err(e), _) => Some(format!("failed: {e}")),
    }
}

#[test]
fn contract_vectors_pass() {
    let mut registry = NodeRegistry::new();
    register(&mut registry).expect("the node registers");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract.yaml");
    let text = std::fs::read_to_string(path).expect("tests/contract.yaml is readable");
    let contract: Contract = serde_saphyr::from_str(&text).expect("tests/contract.yaml parses");
    assert!(!contract.cases.is_empty(), "{path} has no cases");
    let mut failures = Vec::new();
    for case in &contract.cases {
        let expectations = [
            case.output.is_some(),
            case.output_subset.is_some(),
            case.error.is_some(),
        ];
        assert_eq!(
            expectations.iter().filter(|e| **e).count(),
            1,
            "case `{}`: give exactly one of output, output-subset, error",
            case.name
        );
        let caps: Arc<dyn Capabilities> = Arc::new(Script {
            kv: Mutex::new(case.kv.clone()),
        });
        if let Some(problem) = check(case, registry.invoke(ID, case.input.clone(), &caps)) {
            failures.push(format!("case `{}`: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
