//! A node loaded for its contract, and one run of one case.
//!
//! The node runs in the same host an application uses (`lf_runtime::host`):
//! what passes here is what the application will see, limits included. A
//! core module (ABI v1) and a native node reach the script through
//! [`Capabilities`]; a component (ABI v2) through `Capabilities` for
//! `kv`/`db`/`log` and through an [`HttpClient`](lf_runtime::host::HttpClient)
//! for `wasi:http`, behind the host's own HTTP policy: the hosts of the
//! scripted URLs are the connector's allowed `hosts`, so a request elsewhere
//! is refused by the policy before it reaches the script.

use std::collections::BTreeMap;
use std::sync::Arc;

use lf_runtime::host::{
    Capabilities, ComponentNode, DeterminismProbe, Node, NodeError, WasmNode, is_component,
};
use lf_runtime::spec::{HostPattern, NodeSpec};
use serde_json::Value;

use crate::contract::{Case, Contract};
use crate::script::{Call, RunSetup, Script, ScriptedHttp, authority};

/// How the node under test is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// A core module on the ABI v1 host.
    AbiV1,
    /// A component on the ABI v2 host.
    AbiV2,
    /// Plain Rust, registered in a `NodeRegistry`.
    Native,
}

impl NodeKind {
    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::AbiV1 => "ABI v1",
            NodeKind::AbiV2 => "ABI v2",
            NodeKind::Native => "native",
        }
    }
}

/// A node loaded for its contract.
pub struct Runner {
    node: Arc<dyn Node>,
    http: Arc<ScriptedHttp>,
    probe: Arc<DeterminismProbe>,
    kind: NodeKind,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("connector", &self.node.spec().id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What one run of one case did.
#[derive(Debug, Clone)]
pub struct Run {
    /// What the node returned.
    pub result: Result<Value, NodeError>,
    /// Every capability call, in order.
    pub calls: Vec<Call>,
    /// The KV state the run left.
    pub kv_after: BTreeMap<String, Value>,
    /// What the script saw go wrong (unanswered requests, unused replies).
    pub leftovers: Vec<String>,
}

impl Run {
    /// The write calls, in order.
    pub fn writes(&self) -> Vec<&Call> {
        self.calls.iter().filter(|c| c.is_write()).collect()
    }

    /// The outcome as one comparable value: the output, or the error's
    /// code, message and `retryable`.
    pub fn outcome(&self) -> Value {
        match &self.result {
            Ok(output) => serde_json::json!({ "ok": output }),
            Err(NodeError::Connector {
                code,
                message,
                retryable,
                ..
            }) => {
                serde_json::json!({"error": {"code": code, "message": message, "retryable": retryable}})
            }
            Err(NodeError::UndeclaredErrorCode { code, message, .. }) => {
                serde_json::json!({"undeclared-error": {"code": code, "message": message}})
            }
            Err(other) => serde_json::json!({ "host-failure": other.to_string() }),
        }
    }
}

/// The result of one case as `lf-resolve test` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Runner {
    /// Loads `bytes` for `spec`: a component on the ABI v2 host (allowed to
    /// reach the hosts `contract` scripts), a core module on the ABI v1 host.
    pub fn load(bytes: &[u8], spec: NodeSpec, contract: &Contract) -> Result<Runner, NodeError> {
        let http = Arc::new(ScriptedHttp::default());
        let probe = Arc::new(DeterminismProbe::default());
        if is_component(bytes) {
            let node = ComponentNode::new(bytes, spec, scripted_hosts(contract))?
                .with_http_client(http.clone())
                .with_determinism_probe(probe.clone());
            Ok(Runner {
                node: Arc::new(node),
                http,
                probe,
                kind: NodeKind::AbiV2,
            })
        } else {
            Ok(Runner {
                node: Arc::new(WasmNode::new(bytes, spec)?),
                http,
                probe,
                kind: NodeKind::AbiV1,
            })
        }
    }

    /// A native node (or any node already built) under test. Its calls are
    /// recorded, not restricted: nothing is linked, so an undeclared call
    /// is seen and failed by the capability check instead.
    pub fn native(node: Arc<dyn Node>) -> Runner {
        Runner {
            node,
            http: Arc::new(ScriptedHttp::default()),
            probe: Arc::new(DeterminismProbe::default()),
            kind: NodeKind::Native,
        }
    }

    /// How the node is built.
    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    /// The ABI the connector speaks: 1 (core module) or 2 (component);
    /// 0 for a native node.
    pub fn abi(&self) -> u8 {
        match self.kind {
            NodeKind::AbiV1 => 1,
            NodeKind::AbiV2 => 2,
            NodeKind::Native => 0,
        }
    }

    /// The node's spec.
    pub fn spec(&self) -> &NodeSpec {
        self.node.spec()
    }

    /// Runs `case` once from `setup`, recording everything.
    pub fn run_recorded(&self, case: &Case, setup: &RunSetup) -> Run {
        let script = Arc::new(Script::new(case, setup));
        self.http.set(Some(script.clone()));
        self.probe.set(setup.clock_ms / 1000, setup.seed);
        let caps: Arc<dyn Capabilities> = script.clone();
        let result = self.node.invoke(Value::Object(case.input.clone()), &caps);
        self.http.set(None);
        Run {
            result,
            calls: script.calls(),
            kv_after: script.kv(),
            leftovers: script.leftovers(),
        }
    }

    /// Runs `case` once and checks it against its expectation.
    pub fn run(&self, case: &Case) -> CaseResult {
        let run = self.run_recorded(case, &RunSetup::first(case));
        CaseResult {
            name: case.name.clone(),
            failures: expectation_failures(case, &run),
        }
    }
}

/// The `hosts` grant of a test run: the host (and port, when the URL gives
/// one) of every scripted URL.
fn scripted_hosts(contract: &Contract) -> Vec<HostPattern> {
    let mut out: Vec<HostPattern> = Vec::new();
    for reply in contract.cases.iter().flat_map(|c| &c.http) {
        if let Ok(pattern) = HostPattern::parse(authority(&reply.url))
            && !out.contains(&pattern)
        {
            out.push(pattern);
        }
    }
    out
}

/// How `run` differs from what `case` expects; empty when it passed.
pub fn expectation_failures(case: &Case, run: &Run) -> Vec<String> {
    let mut failures = Vec::new();
    match (&run.result, &case.error) {
        (Ok(actual), None) => {
            if let Some(expected) = &case.output
                && actual != expected
            {
                failures.push(format!(
                    "output differs\n  expected: {expected}\n       got: {actual}"
                ));
            }
            if let Some(expected) = &case.output_subset {
                let mut path = String::new();
                if let Some(diff) = subset_difference(expected, actual, &mut path) {
                    failures.push(format!("output-subset differs at `{path}`: {diff}"));
                }
            }
        }
        (Ok(actual), Some(expected)) => failures.push(format!(
            "expected error `{}`, got output {actual}",
            expected.code
        )),
        (
            Err(NodeError::Connector {
                code,
                message,
                retryable,
                ..
            }),
            Some(expected),
        ) => {
            if *code != expected.code {
                failures.push(format!(
                    "expected error `{}`, got error `{code}`: {message}",
                    expected.code
                ));
            } else {
                if let Some(want) = expected.retryable
                    && want != *retryable
                {
                    failures.push(format!(
                        "error `{code}` has retryable = {retryable}; the case expects {want}"
                    ));
                }
                if let Some(want) = &expected.message
                    && want != message
                {
                    failures.push(format!(
                        "error `{code}` has message {message:?}; the case expects {want:?}"
                    ));
                }
            }
        }
        (Err(NodeError::Connector { code, message, .. }), None) => {
            failures.push(format!("returned error `{code}`: {message}"));
        }
        (Err(NodeError::UndeclaredErrorCode { code, message, .. }), _) => {
            failures.push(format!(
                "returned error code `{code}`, which connector.yaml does not declare (message: {message})"
            ));
        }
        (Err(e), _) => failures.push(format!("the host failed the call: {e}")),
    }
    if let Some(expected) = &case.kv_after
        && *expected != run.kv_after
    {
        failures.push(format!(
            "kv-after differs\n  expected: {}\n       got: {}",
            serde_json::to_string(expected).unwrap_or_default(),
            serde_json::to_string(&run.kv_after).unwrap_or_default()
        ));
    }
    failures.extend(run.leftovers.iter().cloned());
    failures
}

/// Where `expected` (a subset) and `actual` differ, with `path` set to the
/// place; `None` when every expected field is there with its value.
fn subset_difference(expected: &Value, actual: &Value, path: &mut String) -> Option<String> {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                let before = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match have.get(key) {
                    None => return Some("missing".to_owned()),
                    Some(got) => {
                        if let Some(diff) = subset_difference(value, got, path) {
                            return Some(diff);
                        }
                    }
                }
                path.truncate(before);
            }
            None
        }
        _ if expected == actual => None,
        _ => Some(format!("expected {expected}, got {actual}")),
    }
}

/// The first place where `a` and `b` differ, as a path (`a.b[2]`), or
/// `None` when they are equal; the root is `(output)`.
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    fn walk(a: &Value, b: &Value, path: &mut String) -> bool {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for key in keys {
                    let before = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    match (x.get(key), y.get(key)) {
                        (Some(p), Some(q)) => {
                            if walk(p, q, path) {
                                return true;
                            }
                        }
                        _ => return true,
                    }
                    path.truncate(before);
                }
                false
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    let before = path.len();
                    path.push_str(&format!("[{i}]"));
                    if walk(p, q, path) {
                        return true;
                    }
                    path.truncate(before);
                }
                if x.len() != y.len() {
                    path.push_str(&format!("[{}]", x.len().min(y.len())));
                    return true;
                }
                false
            }
            _ => a != b,
        }
    }
    let mut path = String::new();
    walk(a, b, &mut path).then(|| {
        if path.is_empty() {
            "(output)".to_owned()
        } else {
            path
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_compares_nested_objects() {
        let mut p = String::new();
        let actual = json!({"a": {"b": 1, "c": 2}, "d": 3});
        assert_eq!(
            subset_difference(&json!({"a": {"b": 1}}), &actual, &mut p),
            None
        );
        let diff = subset_difference(&json!({"a": {"b": 2}}), &actual, &mut p);
        assert_eq!(p, "a.b");
        assert!(diff.unwrap().contains("expected 2"));
    }

    #[test]
    fn first_difference_names_the_field() {
        let a = json!({"ok": {"now": 1, "x": [1, 2]}});
        assert_eq!(first_difference(&a, &a), None);
        let b = json!({"ok": {"now": 2, "x": [1, 2]}});
        assert_eq!(first_difference(&a, &b).as_deref(), Some("ok.now"));
        let c = json!({"ok": {"now": 1, "x": [1, 3]}});
        assert_eq!(first_difference(&a, &c).as_deref(), Some("ok.x[1]"));
        assert_eq!(
            first_difference(&json!(1), &json!(2)).as_deref(),
            Some("(output)")
        );
    }
}
