//! Contract vectors (`tests/contract.yaml`) and the runner that plays them
//! against a connector through the real host.
//!
//! A connector directory carries its own examples of correct behaviour: for
//! each case an input, and either the exact output, a subset of it, or the
//! declared error the node must return, with scripted replies for the
//! capabilities the case uses (HTTP responses by method and URL, an initial
//! key-value state). `lf-resolve test` runs them while a connector is being
//! written; certification will run the same cases and collect evidence on
//! top, so the format is strict (unknown keys are refused, so a typo cannot
//! silently turn a check off) and every part is optional except `name`,
//! `input` and one expectation, leaving room to grow.
//!
//! The node runs in the same host an application uses (`lf_runtime::host`):
//! what passes here is what the application will see, limits included. A
//! core module (ABI v1) reaches the script through [`Capabilities`]; a
//! component (ABI v2) through `Capabilities` for `kv`/`db`/`log` and through
//! an [`HttpClient`] for `wasi:http`, behind the host's own HTTP policy: the
//! hosts of the scripted URLs are the connector's allowed `hosts`, so a
//! request elsewhere is refused by the policy before it reaches the script.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lf_runtime::host::{
    Capabilities, ComponentNode, HostError, HostResult, HttpClient, HttpError, HttpFuture,
    HttpOptions, Node, NodeError, WasmNode, is_component,
};
use lf_runtime::spec::{ConnectorId, HostPattern, NodeSpec};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest `tests/contract.yaml` read, in bytes.
pub const MAX_CONTRACT_BYTES: u64 = 4 * 1024 * 1024;

/// The most cases one file may hold.
pub const MAX_CASES: usize = 10_000;

/// A parsed `tests/contract.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case: an input, what must come out, and what the capabilities answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    /// What the case shows; unique within the file.
    pub name: String,
    /// The inputs, by connector.yaml name.
    pub input: serde_json::Map<String, Value>,
    /// The exact outputs expected.
    #[serde(default)]
    pub output: Option<Value>,
    /// Outputs that must be present with these values; others are ignored.
    /// Objects compare recursively the same way.
    #[serde(default)]
    pub output_subset: Option<Value>,
    /// The declared error expected instead of an output.
    #[serde(default)]
    pub error: Option<ExpectedError>,
    /// Scripted HTTP responses. Each request is answered by the first unused
    /// reply with its method and URL; a request without one fails the case,
    /// and so does a reply never requested.
    #[serde(default)]
    pub http: Vec<HttpReply>,
    /// The key-value store's content when the case starts.
    #[serde(default)]
    pub kv: BTreeMap<String, Value>,
}

/// The error a case expects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// The error code; must be declared in connector.yaml's `errors`.
    pub code: String,
    /// When given, the error's `retryable` must equal it.
    #[serde(default)]
    pub retryable: Option<bool>,
}

/// One scripted HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpReply {
    /// The request method it answers (`GET`, `POST`…; case-insensitive).
    pub method: String,
    /// The exact request URL it answers.
    pub url: String,
    /// The response status.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The response body (text).
    #[serde(default)]
    pub body: String,
}

/// Why a contract file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// Not YAML of the expected shape.
    #[error("{0}")]
    Syntax(String),
    /// A case that cannot be run as written.
    #[error("case `{case}`: {problem}")]
    Case {
        /// The case's name.
        case: String,
        /// What is wrong.
        problem: String,
    },
    /// Structural problems of the file as a whole.
    #[error("{0}")]
    File(String),
}

impl Contract {
    /// Parses and checks a contract document against the connector's
    /// declared errors: each case has exactly one expectation, names are
    /// unique, expected error codes are declared.
    pub fn from_yaml(yaml: &str, declared_errors: &[&str]) -> Result<Contract, ContractError> {
        let contract: Contract =
            serde_saphyr::from_str(yaml).map_err(|e| ContractError::Syntax(e.to_string()))?;
        if contract.cases.is_empty() {
            return Err(ContractError::File("`cases` is empty".to_owned()));
        }
        if contract.cases.len() > MAX_CASES {
            return Err(ContractError::File(format!(
                "{} cases; at most {MAX_CASES} are allowed",
                contract.cases.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for case in &contract.cases {
            let problem = |problem: String| ContractError::Case {
                case: case.name.clone(),
                problem,
            };
            if !seen.insert(case.name.as_str()) {
                return Err(problem("the name is used by an earlier case".to_owned()));
            }
            let expectations = usize::from(case.output.is_some())
                + usize::from(case.output_subset.is_some())
                + usize::from(case.error.is_some());
            if expectations != 1 {
                return Err(problem(
                    "give exactly one of `output`, `output-subset` and `error`".to_owned(),
                ));
            }
            if let Some(error) = &case.error
                && !declared_errors.contains(&error.code.as_str())
            {
                return Err(problem(format!(
                    "expects error `{}`, which connector.yaml does not declare (declared: {})",
                    error.code,
                    if declared_errors.is_empty() {
                        "none".to_owned()
                    } else {
                        declared_errors.join(", ")
                    }
                )));
            }
        }
        Ok(contract)
    }
}

/// The result of one case.
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

/// A connector loaded for its contract: the node, and the slot through
/// which each case's script answers the node's HTTP requests.
pub struct Runner {
    node: Box<dyn Node>,
    http: Arc<ScriptedHttp>,
    abi: u8,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("connector", &self.node.spec().id)
            .field("abi", &self.abi)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Loads `bytes` for `spec`: a component on the ABI v2 host (allowed
    /// to reach the hosts `contract` scripts), a core module on the ABI v1
    /// host.
    pub fn new(bytes: &[u8], spec: NodeSpec, contract: &Contract) -> Result<Runner, NodeError> {
        let http = Arc::new(ScriptedHttp::default());
        if is_component(bytes) {
            let node = ComponentNode::new(bytes, spec, scripted_hosts(contract))?
                .with_http_client(http.clone());
            Ok(Runner {
                node: Box::new(node),
                http,
                abi: 2,
            })
        } else {
            Ok(Runner {
                node: Box::new(WasmNode::new(bytes, spec)?),
                http,
                abi: 1,
            })
        }
    }

    /// The ABI the connector speaks: 1 (core module) or 2 (component).
    pub fn abi(&self) -> u8 {
        self.abi
    }

    /// Runs one case with its scripted capabilities.
    pub fn run(&self, case: &Case) -> CaseResult {
        let script = Arc::new(Script::new(case));
        *lock(&self.http.current) = Some(script.clone());
        let result = run_case(self.node.as_ref(), case, &script);
        *lock(&self.http.current) = None;
        result
    }
}

/// The `hosts` grant of a test run: the host (and port, when the URL gives
/// one) of every scripted URL.
fn scripted_hosts(contract: &Contract) -> Vec<HostPattern> {
    let mut out: Vec<HostPattern> = Vec::new();
    for reply in contract.cases.iter().flat_map(|c| &c.http) {
        let Some((_, rest)) = reply.url.split_once("://") else {
            continue;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        if let Ok(pattern) = HostPattern::parse(authority)
            && !out.contains(&pattern)
        {
            out.push(pattern);
        }
    }
    out
}

/// The HTTP client of a component under test: answers from the script of
/// the case being run.
#[derive(Debug, Default)]
struct ScriptedHttp {
    current: Mutex<Option<Arc<Script>>>,
}

impl HttpClient for ScriptedHttp {
    fn send(&self, request: http::Request<bytes::Bytes>, _: HttpOptions) -> HttpFuture {
        let script = lock(&self.current).clone();
        let method = request.method().as_str().to_owned();
        let url = request.uri().to_string();
        let answer = match script {
            None => Err(HttpError::ConnectionRefused),
            Some(script) => match script.take_http(&method, &url) {
                None => Err(HttpError::ConnectionRefused),
                Some(reply) => {
                    let mut response = http::Response::builder().status(reply.status);
                    for (name, value) in &reply.headers {
                        response = response.header(name, value);
                    }
                    response
                        .body(bytes::Bytes::from(reply.body.into_bytes()))
                        .map_err(|e| HttpError::InternalError(Some(e.to_string())))
                }
            },
        };
        Box::pin(async move { answer })
    }
}

/// Runs one case on `node`, its capabilities answered by `script`.
fn run_case(node: &dyn Node, case: &Case, script: &Arc<Script>) -> CaseResult {
    let caps: Arc<dyn Capabilities> = script.clone();
    let result = node.invoke(Value::Object(case.input.clone()), &caps);
    let mut failures = Vec::new();
    match (&result, &case.error) {
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
            } else if let Some(want) = expected.retryable
                && want != *retryable
            {
                failures.push(format!(
                    "error `{code}` has retryable = {retryable}; the case expects {want}"
                ));
            }
        }
        (Err(NodeError::Connector { code, message, .. }), None) => {
            failures.push(format!("returned error `{code}`: {message}"));
        }
        (Err(e), _) => failures.push(format!("the host failed the call: {e}")),
    }
    failures.extend(script.leftovers());
    CaseResult {
        name: case.name.clone(),
        failures,
    }
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

/// The capabilities a case sees: its scripted HTTP replies and KV state, a
/// log that accepts everything, and `unsupported` for the rest.
#[derive(Debug)]
struct Script {
    http: Mutex<Vec<(HttpReply, bool)>>,
    kv: Mutex<BTreeMap<String, Value>>,
    unexpected: Mutex<Vec<String>>,
}

impl Script {
    fn new(case: &Case) -> Script {
        Script {
            http: Mutex::new(case.http.iter().map(|r| (r.clone(), false)).collect()),
            kv: Mutex::new(case.kv.clone()),
            unexpected: Mutex::new(Vec::new()),
        }
    }

    /// The failures the script saw: requests it had no reply for, and
    /// replies nobody asked for.
    fn leftovers(&self) -> Vec<String> {
        let mut out = lock(&self.unexpected).clone();
        for (reply, used) in lock(&self.http).iter() {
            if !used {
                out.push(format!(
                    "scripted reply to {} {} was never requested",
                    reply.method, reply.url
                ));
            }
        }
        out
    }

    /// The first unused reply to `method url`, marked used; `None` (and
    /// the request recorded as unexpected) when there is none.
    fn take_http(&self, method: &str, url: &str) -> Option<HttpReply> {
        let mut replies = lock(&self.http);
        let found = replies
            .iter_mut()
            .find(|(r, used)| !used && r.method.eq_ignore_ascii_case(method) && r.url == url);
        if let Some((reply, used)) = found {
            *used = true;
            return Some(reply.clone());
        }
        drop(replies);
        lock(&self.unexpected).push(format!("{method} {url} has no scripted reply"));
        None
    }

    /// An ABI v1 `http_read`/`http_write` request.
    fn http(&self, request: &Value) -> HostResult {
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let Some(url) = request.get("url").and_then(Value::as_str) else {
            return Err(HostError::new("bad_request", "the request has no `url`"));
        };
        match self.take_http(method, url) {
            Some(reply) => Ok(json!({
                "status": reply.status,
                "headers": reply.headers,
                "body": reply.body,
            })),
            None => Err(HostError::new(
                "no_scripted_reply",
                format!("tests/contract.yaml scripts no reply to {method} {url}"),
            )),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_of(request: &Value) -> Result<&str, HostError> {
    request
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| HostError::new("bad_request", "the request has no string `key`"))
}

impl Capabilities for Script {
    fn http_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.http(request)
    }

    fn http_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.http(request)
    }

    /// `{"key"}` (ABI v1) or `{"op": "get", "key"}` → `{"value"}`;
    /// `{"op": "list", "prefix", "start_after", "limit"}` → `{"keys"}`.
    fn kv_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let kv = lock(&self.kv);
        if request.get("op").and_then(Value::as_str) == Some("list") {
            let prefix = request.get("prefix").and_then(Value::as_str).unwrap_or("");
            let after = request.get("start_after").and_then(Value::as_str);
            let limit = request
                .get("limit")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let keys: Vec<&String> = kv
                .keys()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
                .take(limit)
                .collect();
            return Ok(json!({ "keys": keys }));
        }
        let key = key_of(request)?;
        Ok(json!({"value": kv.get(key).cloned().unwrap_or(Value::Null)}))
    }

    /// `{"key", "value"}` (ABI v1) or `{"op": "set", …}` stores;
    /// `{"op": "delete", "key"}` removes.
    fn kv_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let key = key_of(request)?.to_owned();
        let mut kv = lock(&self.kv);
        if request.get("op").and_then(Value::as_str) == Some("delete") {
            kv.remove(&key);
        } else {
            let value = request.get("value").cloned().unwrap_or(Value::Null);
            kv.insert(key, value);
        }
        Ok(json!({}))
    }

    fn log(&self, _: &ConnectorId, _: &Value) -> HostResult {
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_expectation_per_case() {
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n    error: {code: x}\n";
        let e = Contract::from_yaml(yaml, &["x"]).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
    }

    #[test]
    fn undeclared_error_and_unknown_key_are_refused() {
        let yaml = "cases:\n  - name: a\n    input: {}\n    error: {code: nope}\n";
        let e = Contract::from_yaml(yaml, &["x"]).unwrap_err();
        assert!(e.to_string().contains("does not declare"), "{e}");
        let yaml = "cases:\n  - name: a\n    input: {}\n    ouptut: {}\n";
        assert!(Contract::from_yaml(yaml, &[]).is_err());
    }

    #[test]
    fn parses_every_part() {
        let yaml = r#"
cases:
  - name: fetches
    input: {url: "https://api.example.com/x", n: 3}
    output-subset: {status: 200}
    http:
      - method: GET
        url: https://api.example.com/x
        status: 200
        headers: {content-type: text/plain}
        body: hi
    kv: {visits: "41"}
"#;
        let c = Contract::from_yaml(yaml, &[]).unwrap();
        assert_eq!(c.cases[0].input["n"], json!(3));
        assert_eq!(c.cases[0].http[0].status, 200);
        assert_eq!(c.cases[0].kv["visits"], json!("41"));
    }

    #[test]
    fn components_get_scripted_http_replies_and_only_the_scripted_hosts() {
        use futures_util::FutureExt as _;
        let yaml = r#"
cases:
  - name: a
    input: {}
    output: {}
    http:
      - {method: GET, url: "https://api.example.com/x?q=1", status: 201, headers: {x-a: b}, body: hi}
      - {method: POST, url: "http://user@127.0.0.1:8080/y", status: 200}
"#;
        let contract = Contract::from_yaml(yaml, &[]).unwrap();
        let hosts = scripted_hosts(&contract);
        assert_eq!(
            hosts,
            [
                HostPattern::parse("api.example.com").unwrap(),
                HostPattern::parse("127.0.0.1:8080").unwrap()
            ]
        );
        let client = ScriptedHttp::default();
        let script = Arc::new(Script::new(&contract.cases[0]));
        *lock(&client.current) = Some(script.clone());
        let get = |url: &str| {
            let request = http::Request::get(url).body(bytes::Bytes::new()).unwrap();
            let options = HttpOptions {
                connect_timeout: std::time::Duration::from_secs(1),
                first_byte_timeout: std::time::Duration::from_secs(1),
                between_bytes_timeout: std::time::Duration::from_secs(1),
                max_response_bytes: 1024,
            };
            client.send(request, options).now_or_never().unwrap()
        };
        let response = get("https://api.example.com/x?q=1").unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-a"], "b");
        assert_eq!(response.body().as_ref(), b"hi");
        // Each reply answers once; the second request has none.
        assert!(matches!(
            get("https://api.example.com/x?q=1"),
            Err(HttpError::ConnectionRefused)
        ));
        assert_eq!(
            script.leftovers(),
            [
                "GET https://api.example.com/x?q=1 has no scripted reply",
                "scripted reply to POST http://user@127.0.0.1:8080/y was never requested"
            ]
        );
    }

    #[test]
    fn kv_answers_both_request_shapes() {
        let case = Contract::from_yaml(
            "cases:\n  - name: a\n    input: {}\n    output: {}\n    kv: {a1: x, a2: y, b: z}\n",
            &[],
        )
        .unwrap()
        .cases
        .remove(0);
        let script = Script::new(&case);
        let id: ConnectorId = "connector.test.kv.x".parse().unwrap();
        assert_eq!(
            script.kv_read(&id, &json!({"key": "b"})).unwrap(),
            json!({"value": "z"})
        );
        assert_eq!(
            script
                .kv_read(
                    &id,
                    &json!({"op": "list", "prefix": "a", "start_after": "a1", "limit": 0})
                )
                .unwrap(),
            json!({"keys": ["a2"]})
        );
        script
            .kv_write(&id, &json!({"op": "delete", "key": "b"}))
            .unwrap();
        script
            .kv_write(&id, &json!({"op": "set", "key": "c", "value": "w"}))
            .unwrap();
        assert_eq!(
            script
                .kv_read(&id, &json!({"op": "get", "key": "b"}))
                .unwrap(),
            json!({"value": null})
        );
        assert_eq!(
            script.kv_read(&id, &json!({"key": "c"})).unwrap(),
            json!({"value": "w"})
        );
    }

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
}
