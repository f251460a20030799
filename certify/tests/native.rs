//! Certifying native nodes: plain Rust registered in a `NodeRegistry`, as a
//! native connector's own tests would (`certify_registered`,
//! `assert_certified`). Nothing is linked for a native node, so each
//! check's failure is shown by a node that breaks exactly that promise.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lf_certify::{Verdict, assert_certified, certify_registered};
use lf_runtime::host::{Capabilities, NativeNode, NodeError, NodeRegistry};
use lf_runtime::spec::{ConnectorManifest, NodeSpec};
use serde_json::{Value, json};

fn contract() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/native/greet.yaml")
}

fn spec(extra: &str) -> NodeSpec {
    let yaml = format!(
        "id: connector.test.native.greet\ninputs:\n  - name: name\n    type: optional<string>\noutputs:\n  - name: greeting\n    type: string\neffects: [kv.read]\ncapabilities: [kv.read]\nerrors:\n  - code: empty_name\n    retryable: false\n{extra}"
    );
    NodeSpec::from_manifest(&ConnectorManifest::from_yaml(&yaml).unwrap(), "")
}

type Body = dyn Fn(&str, &Arc<dyn Capabilities>) -> Result<Value, NodeError> + Send + Sync;

/// The greeter: `name`, or the stored `name` when absent; `body` decides
/// what happens once the name is known.
fn greeter(extra: &str, body: Arc<Body>) -> NodeRegistry {
    let spec = spec(extra);
    let id = spec.id.clone();
    let node = NativeNode::new(spec, move |input, caps| {
        let name = match input.get("name").and_then(Value::as_str) {
            Some(name) => name.to_owned(),
            None => {
                let stored = caps.kv_read(&id, &json!({"key": "name"})).map_err(|e| {
                    NodeError::Connector {
                        connector: id.clone(),
                        code: "kv".to_owned(),
                        message: e.code,
                        retryable: true,
                    }
                })?;
                stored["value"].as_str().unwrap_or("").to_owned()
            }
        };
        if name.is_empty() {
            return Err(NodeError::Connector {
                connector: id.clone(),
                code: "empty_name".to_owned(),
                message: "the name is empty".to_owned(),
                retryable: false,
            });
        }
        body(&name, caps)
    });
    let mut registry = NodeRegistry::new();
    registry.register(node).unwrap();
    registry
}

fn greet(name: &str, _: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
    Ok(json!({ "greeting": format!("Hello, {name}!") }))
}

const ID: &str = "connector.test.native.greet";

#[test]
fn a_native_node_certifies_from_its_registry() {
    let registry = greeter("deterministic: true\n", Arc::new(greet));
    let evidence = assert_certified(&registry, ID, &contract());
    assert_eq!(
        evidence.result(),
        Verdict::Passed,
        "{}",
        evidence.human_report()
    );
    assert_eq!(evidence.determinism_runs, 5);
    assert_eq!(
        evidence.tests(Verdict::Passed),
        [
            "capabilities::kv.read",
            "contract::an empty name is the declared error",
            "contract::declared-error::empty_name",
            "contract::greets by name",
            "contract::greets the stored name",
            "determinism::an empty name is the declared error",
            "determinism::greets by name",
            "determinism::greets the stored name",
            "idempotency::an empty name is the declared error",
            "idempotency::greets by name",
            "idempotency::greets the stored name",
        ]
    );
    // Nothing is linked for a native node: its calls are only observed.
    assert!(evidence.enforcement.enforced_by_linking.is_empty());
    assert_eq!(evidence.cases[1].capabilities, ["kv.read"]);
    // Evidence is a pure function of its inputs.
    let again = certify_registered(&registry, ID, &contract()).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&evidence).unwrap()
    );
}

#[test]
fn an_undeclared_call_fails_the_capability_check() {
    let registry = greeter(
        "deterministic: true\n",
        Arc::new(|name: &str, caps: &Arc<dyn Capabilities>| {
            let id = "connector.test.native.greet".parse().unwrap();
            let _ = caps.kv_write(&id, &json!({"key": "last", "value": name}));
            greet(name, caps)
        }),
    );
    let evidence = certify_registered(&registry, ID, &contract()).unwrap();
    assert_eq!(evidence.result(), Verdict::Failed);
    assert_eq!(evidence.tests(Verdict::Failed), ["capabilities::kv.write"]);
    let report = evidence.human_report();
    assert!(
        report.contains("`kv.write` is not declared, but cases `greets by name`, `greets the stored name` called it"),
        "{report}"
    );
}

#[test]
fn an_undeclared_code_or_retryable_fails_the_contract_check() {
    let registry = greeter(
        "deterministic: true\n",
        Arc::new(|name: &str, caps: &Arc<dyn Capabilities>| {
            if name == "Grace" {
                return Err(NodeError::Connector {
                    connector: "connector.test.native.greet".parse().unwrap(),
                    code: "surprise".to_owned(),
                    message: "not in the manifest".to_owned(),
                    retryable: false,
                });
            }
            greet(name, caps)
        }),
    );
    let evidence = certify_registered(&registry, ID, &contract()).unwrap();
    assert_eq!(
        evidence.tests(Verdict::Failed),
        ["contract::greets the stored name"]
    );
    assert!(
        evidence.human_report().contains(
            "returned error code `surprise`, which connector.yaml does not declare (declared: empty_name)"
        ),
        "{}",
        evidence.human_report()
    );

    // The declared code with the other `retryable`.
    let other = greeter(
        "deterministic: true\n",
        Arc::new(|name: &str, caps: &Arc<dyn Capabilities>| {
            if name == "Grace" {
                return Err(NodeError::Connector {
                    connector: "connector.test.native.greet".parse().unwrap(),
                    code: "empty_name".to_owned(),
                    message: "the name is empty".to_owned(),
                    retryable: true,
                });
            }
            greet(name, caps)
        }),
    );
    let evidence = certify_registered(&other, ID, &contract()).unwrap();
    assert!(
        evidence.human_report().contains(
            "returned error `empty_name` with retryable = true; connector.yaml declares retryable = false"
        ),
        "{}",
        evidence.human_report()
    );
}

#[test]
fn a_node_using_random_fails_the_determinism_check_naming_the_field() {
    let registry = greeter(
        "deterministic: true\n",
        Arc::new(|name: &str, caps: &Arc<dyn Capabilities>| {
            let id = "connector.test.native.greet".parse().unwrap();
            let random = caps.random(&id, &json!({"bytes": 4})).unwrap_or_default();
            let suffix = random["hex"].as_str().unwrap_or("").to_owned();
            if name == "Ada" {
                return greet(name, caps);
            }
            Ok(json!({ "greeting": format!("Hello, {name}! #{suffix}") }))
        }),
    );
    let evidence = certify_registered(&registry, ID, &contract()).unwrap();
    assert_eq!(evidence.result(), Verdict::Failed);
    let failed = evidence.tests(Verdict::Failed);
    assert!(
        failed.contains(&"determinism::greets the stored name".to_owned()),
        "{failed:?}"
    );
    assert!(
        evidence
            .human_report()
            .contains("differs from run 1 at `greeting`"),
        "{}",
        evidence.human_report()
    );
}

#[test]
#[should_panic(expected = "failed certification")]
fn assert_certified_panics_with_the_report() {
    let registry = greeter(
        "deterministic: true\n",
        Arc::new(|_: &str, _: &Arc<dyn Capabilities>| Ok(json!({"greeting": "Hi"}))),
    );
    let _ = assert_certified(&registry, ID, &contract());
}

#[test]
fn a_bad_contract_or_an_unknown_node_is_an_error_not_a_verdict() {
    let registry = greeter("deterministic: true\n", Arc::new(greet));
    let e = certify_registered(&registry, "connector.test.native.nope", &contract()).unwrap_err();
    assert!(e.to_string().contains("connector.test.native.nope"), "{e}");
    let e = certify_registered(&registry, ID, Path::new("/nonexistent/contract.yaml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/contract.yaml"), "{e}");
}
