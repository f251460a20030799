//! The contract file (`tests/contract.yaml`): its types, and the checks that
//! make a parsed file safe to run.
//!
//! A connector directory carries its own examples of correct behaviour: for
//! each case an input, and the exact output, a subset of it, or the declared
//! error the node must return, with scripted answers for the capabilities the
//! case uses. `lf-resolve test` runs them while a connector is written, and
//! certification runs the same cases to collect evidence, so the format is
//! strict: unknown keys are refused (a typo must not turn a check off), the
//! document must satisfy `docs/contract.schema.json` (embedded here, so the
//! published schema and the checked one cannot drift), and a case may only
//! name inputs and script capabilities the connector declares.
//!
//! Parsing happens in three steps, each with the best location it can give:
//! YAML syntax and shape errors carry `line:column` (serde-saphyr tracks
//! them), schema violations the path of the offending value
//! (`cases[2].http[0].status`), and the checks against the connector the
//! case name.

use std::collections::{BTreeMap, BTreeSet};

use lf_runtime::spec::{Capability, NodeSpec};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::MessageFormatter as _;
use sha2::Digest as _;

/// The largest `tests/contract.yaml` read, in bytes.
pub const MAX_CONTRACT_BYTES: u64 = 4 * 1024 * 1024;

/// The most cases one file may hold.
pub const MAX_CASES: usize = 10_000;

/// The JSON Schema every contract file must satisfy (`docs/contract.schema.json`).
pub const CONTRACT_SCHEMA: &str = include_str!("../../docs/contract.schema.json");

/// A parsed and checked `tests/contract.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The cases, run in order.
    pub cases: Vec<Case>,
    /// `sha256:<hex>` of the document's bytes: what the evidence names.
    #[serde(skip)]
    pub digest: String,
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
    /// The key-value store's content the case must leave behind.
    #[serde(default)]
    pub kv_after: Option<BTreeMap<String, Value>>,
    /// Scripted database answers, by statement (and parameters).
    #[serde(default)]
    pub db: Vec<DbReply>,
    /// Host errors served before anything else: the first calls of a
    /// capability get these errors, in order, and later calls the script.
    #[serde(default)]
    pub host_errors: BTreeMap<String, Vec<ScriptedError>>,
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
    /// When given, the error's message must equal it.
    #[serde(default)]
    pub message: Option<String>,
}

/// An error a scripted capability answers with (the host's `{"error": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedError {
    /// The host error code (`unavailable`, `conflict`, …).
    pub code: String,
    /// The message; absent means none.
    #[serde(default)]
    pub message: Option<String>,
    /// Whether the connector may retry.
    #[serde(default)]
    pub retryable: bool,
}

impl ScriptedError {
    /// The host error the capability returns.
    pub fn to_host_error(&self) -> lf_runtime::host::HostError {
        lf_runtime::host::HostError {
            code: self.code.clone(),
            message: self.message.clone(),
            retryable: self.retryable,
        }
    }
}

/// One scripted HTTP answer: a response, a host error, or (ABI v1 only) a
/// raw reply document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpReply {
    /// The request method it answers (`GET`, `POST`…; case-insensitive).
    pub method: String,
    /// The exact request URL it answers.
    pub url: String,
    /// The response status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The response body (text).
    #[serde(default)]
    pub body: String,
    /// A host error instead of a response.
    #[serde(default)]
    pub error: Option<ScriptedError>,
    /// The `ok` document itself, passed as is (ABI v1 and native nodes):
    /// for testing how a connector handles a malformed reply.
    #[serde(default)]
    pub raw: Option<Value>,
}

/// One scripted database answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DbReply {
    /// The statement it answers, compared exactly.
    pub statement: String,
    /// When given, the request's `params` must equal these.
    #[serde(default)]
    pub params: Option<Vec<Value>>,
    /// The rows a query (`db.read`) returns.
    #[serde(default)]
    pub rows: Option<Vec<Value>>,
    /// What an execute (`db.write`) reports as affected.
    #[serde(default)]
    pub rows_affected: Option<u64>,
    /// A host error instead.
    #[serde(default)]
    pub error: Option<ScriptedError>,
}

/// Why a contract file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// Not YAML, or not of the expected shape; with the place when known.
    #[error("{}{message}", location.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default())]
    Syntax {
        /// Line and column (1-based), when the parser knows them.
        location: Option<(u64, u64)>,
        /// What is wrong.
        message: String,
    },
    /// The document does not satisfy the schema.
    #[error("{}{path}: {message}", location.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default())]
    Schema {
        /// Where: `cases[2].http[0].status`, or `(document)`.
        path: String,
        /// Line and column (1-based) of the value, when found.
        location: Option<(u64, u64)>,
        /// What the schema requires.
        message: String,
    },
    /// A case that cannot be run as written against this connector.
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
    /// Parses `yaml`, validates it against the schema, and checks it against
    /// `spec`: every case has exactly one expectation and a unique name,
    /// names only declared inputs, expects only declared error codes, and
    /// scripts only declared capabilities.
    pub fn from_yaml(yaml: &str, spec: &NodeSpec) -> Result<Contract, ContractError> {
        let contract = Contract::parse(yaml)?;
        contract.check_against(spec)?;
        Ok(contract)
    }

    /// Parses and validates `yaml` against the schema, without a connector.
    pub fn parse(yaml: &str) -> Result<Contract, ContractError> {
        let document: Value = serde_saphyr::from_str(yaml).map_err(|e| syntax(&e))?;
        let mut contract: Contract = serde_saphyr::from_str(yaml).map_err(|e| syntax(&e))?;
        contract.digest = format!("sha256:{:x}", sha2::Sha256::digest(yaml.as_bytes()));
        if contract.cases.is_empty() {
            return Err(ContractError::File("`cases` is empty".to_owned()));
        }
        if contract.cases.len() > MAX_CASES {
            return Err(ContractError::File(format!(
                "{} cases; at most {MAX_CASES} are allowed",
                contract.cases.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for case in &contract.cases {
            let problem = |problem: &str| ContractError::Case {
                case: case.name.clone(),
                problem: problem.to_owned(),
            };
            if !seen.insert(case.name.as_str()) {
                return Err(problem("the name is used by an earlier case"));
            }
            let expectations = usize::from(case.output.is_some())
                + usize::from(case.output_subset.is_some())
                + usize::from(case.error.is_some());
            if expectations != 1 {
                return Err(problem(
                    "give exactly one of `output`, `output-subset` and `error`",
                ));
            }
            for reply in &case.http {
                let answers = usize::from(reply.status.is_some())
                    + usize::from(reply.error.is_some())
                    + usize::from(reply.raw.is_some());
                if answers != 1 {
                    return Err(problem(&format!(
                        "the reply to {} {} needs exactly one of `status`, `error` and `raw`",
                        reply.method, reply.url
                    )));
                }
            }
            for reply in &case.db {
                let answers = usize::from(reply.rows.is_some())
                    + usize::from(reply.rows_affected.is_some())
                    + usize::from(reply.error.is_some());
                if answers != 1 {
                    return Err(problem(&format!(
                        "the db reply to `{}` needs exactly one of `rows`, `rows-affected` and `error`",
                        reply.statement
                    )));
                }
            }
        }
        validate_schema(&document, yaml)?;
        Ok(contract)
    }

    /// The checks against the connector's declarations.
    pub fn check_against(&self, spec: &NodeSpec) -> Result<(), ContractError> {
        let declared_errors: Vec<&str> = spec.errors.iter().map(|e| e.code.as_str()).collect();
        let inputs: Vec<&str> = spec.inputs.iter().map(|f| f.name.as_str()).collect();
        let granted = |c: Capability| spec.capabilities.contains(&c);
        let listed = |names: &[&str]| {
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        for case in &self.cases {
            let problem = |problem: String| ContractError::Case {
                case: case.name.clone(),
                problem,
            };
            if let Some(name) = case.input.keys().find(|k| !inputs.contains(&k.as_str())) {
                return Err(problem(format!(
                    "input `{name}` is not declared by connector.yaml (inputs: {})",
                    listed(&inputs)
                )));
            }
            if let Some(error) = &case.error
                && !declared_errors.contains(&error.code.as_str())
            {
                return Err(problem(format!(
                    "expects error `{}`, which connector.yaml does not declare (declared: {})",
                    error.code,
                    listed(&declared_errors)
                )));
            }
            let undeclared = |what: &str, needs: &str| {
                problem(format!(
                    "scripts {what}, but connector.yaml declares {needs}; remove the script or declare the capability"
                ))
            };
            if !case.http.is_empty()
                && !granted(Capability::HttpRead)
                && !granted(Capability::HttpWrite)
            {
                return Err(undeclared(
                    "`http` replies",
                    "neither `http.read` nor `http.write`",
                ));
            }
            if !case.kv.is_empty() && !granted(Capability::KvRead) && !granted(Capability::KvWrite)
            {
                return Err(undeclared(
                    "a `kv` state",
                    "neither `kv.read` nor `kv.write`",
                ));
            }
            if case.kv_after.is_some() && !granted(Capability::KvWrite) {
                return Err(undeclared("`kv-after`", "no `kv.write`"));
            }
            if !case.db.is_empty() && !granted(Capability::DbRead) && !granted(Capability::DbWrite)
            {
                return Err(undeclared(
                    "`db` replies",
                    "neither `db.read` nor `db.write`",
                ));
            }
            for name in case.host_errors.keys() {
                let capability: Capability = name.parse().map_err(|_| {
                    problem(format!(
                        "`host-errors` names `{name}`, which is not a capability"
                    ))
                })?;
                if !granted(capability) {
                    return Err(undeclared(
                        &format!("`host-errors` for `{name}`"),
                        &format!("no `{name}`"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The case named `name`.
    pub fn case(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.name == name)
    }
}

fn syntax(e: &serde_saphyr::Error) -> ContractError {
    let location = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()));
    let message = serde_saphyr::UserMessageFormatter
        .format_message(e.without_snippet())
        .to_string();
    ContractError::Syntax { location, message }
}

/// Validates `document` (parsed from `yaml`) against [`CONTRACT_SCHEMA`];
/// the first violation is the error, with the line and column of the
/// offending value when they can be found.
fn validate_schema(document: &Value, yaml: &str) -> Result<(), ContractError> {
    let schema: Value = serde_json::from_str(CONTRACT_SCHEMA)
        .map_err(|e| ContractError::File(format!("the embedded schema is not JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| ContractError::File(format!("the embedded schema is invalid: {e}")))?;
    let first = validator.iter_errors(document).next();
    match first {
        None => Ok(()),
        Some(error) => {
            let pointer = error.instance_path().as_str();
            Err(ContractError::Schema {
                path: readable_path(document, pointer),
                location: locate(yaml, pointer),
                message: error.masked().to_string(),
            })
        }
    }
}

/// A JSON pointer (`/cases/2/http/0/status`) as the path a person reads
/// (`cases[2].http[0].status`), indices where the value is an array.
pub fn readable_path(document: &Value, pointer: &str) -> String {
    if pointer.is_empty() {
        return "(document)".to_owned();
    }
    let mut out = String::new();
    let mut current = Some(document);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                current = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                current = other.and_then(|v| v.get(&segment));
            }
        }
    }
    out
}

/// The YAML document as a tree of located nodes, to find where a value
/// named by a JSON pointer is written. Deserialised by hand so that each
/// child goes straight to serde-saphyr as a [`serde_saphyr::Spanned`]
/// (buffering, as an untagged enum would, loses the locations).
enum Located {
    Map(Vec<(String, serde_saphyr::Spanned<Located>)>),
    Seq(Vec<serde_saphyr::Spanned<Located>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Located;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Located, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Value>()? {
                    let key = match key {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    entries.push((key, map.next_value()?));
                }
                Ok(Located::Map(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Located, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Located::Seq(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_none<E>(self) -> Result<Located, E> {
                Ok(Located::Leaf)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Located, D::Error> {
                Located::deserialize(d)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The line and column of the value at `pointer` in `yaml` (or of its
/// nearest located ancestor), when the parser recorded them.
fn locate(yaml: &str, pointer: &str) -> Option<(u64, u64)> {
    let root: Located = serde_saphyr::from_str(yaml).ok()?;
    let mut current = &root;
    let mut found = None;
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let child = match current {
            Located::Map(entries) => entries.iter().find(|(k, _)| *k == segment).map(|(_, v)| v),
            Located::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            Located::Leaf => None,
        };
        let Some(child) = child else { break };
        if child.referenced.line() > 0 {
            found = Some((child.referenced.line(), child.referenced.column()));
        }
        current = &child.value;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use lf_runtime::spec::ConnectorManifest;
    use serde_json::json;

    fn spec(capabilities: &str) -> NodeSpec {
        let yaml = format!(
            "id: connector.test.c.x\ninputs:\n  - name: url\n    type: string\noutputs: []\neffects: []\ndeterministic: false\ncapabilities: [{capabilities}]\nerrors:\n  - code: x\n    retryable: false\n"
        );
        NodeSpec::from_manifest(&ConnectorManifest::from_yaml(&yaml).unwrap(), "sha256:00")
    }

    #[test]
    fn one_expectation_per_case() {
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n    error: {code: x}\n";
        let e = Contract::from_yaml(yaml, &spec("")).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
    }

    #[test]
    fn undeclared_error_and_unknown_key_are_refused() {
        let yaml = "cases:\n  - name: a\n    input: {}\n    error: {code: nope}\n";
        let e = Contract::from_yaml(yaml, &spec("")).unwrap_err();
        assert!(e.to_string().contains("does not declare"), "{e}");
        let yaml = "cases:\n  - name: a\n    input: {}\n    ouptut: {}\n";
        let e = Contract::from_yaml(yaml, &spec("")).unwrap_err();
        assert!(
            matches!(
                e,
                ContractError::Syntax {
                    location: Some((4, _)),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("4:"), "{e}");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = Contract::parse("cases:\n  - name: a\n    input: {x: [1, 2}\n").unwrap_err();
        assert!(
            matches!(
                e,
                ContractError::Syntax {
                    location: Some((3, _)),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn schema_errors_name_the_path() {
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n  - name: b\n    input: {}\n    output: {}\n    http:\n      - {method: GET, url: 'https://a.example/', status: 700}\n";
        let e = Contract::parse(yaml).unwrap_err();
        match &e {
            ContractError::Schema { path, location, .. } => {
                assert_eq!(path, "cases[1].http[0].status");
                assert_eq!(*location, Some((9, 58)));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string().starts_with("9:58: cases[1].http[0].status: "),
            "{e}"
        );
    }

    #[test]
    fn inputs_and_capabilities_must_be_declared() {
        let yaml = "cases:\n  - name: a\n    input: {uri: x}\n    output: {}\n";
        let e = Contract::from_yaml(yaml, &spec("")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "case `a`: input `uri` is not declared by connector.yaml (inputs: url)"
        );
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n    kv: {k: v}\n";
        let e = Contract::from_yaml(yaml, &spec("http.read")).unwrap_err();
        assert!(e.to_string().contains("scripts a `kv` state"), "{e}");
        assert!(Contract::from_yaml(yaml, &spec("kv.read")).is_ok());
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n    host-errors: {db.read: [{code: down}]}\n";
        let e = Contract::from_yaml(yaml, &spec("kv.read")).unwrap_err();
        assert!(e.to_string().contains("`host-errors` for `db.read`"), "{e}");
        let yaml = "cases:\n  - name: a\n    input: {}\n    output: {}\n    db: [{statement: s, rows: []}]\n";
        assert!(Contract::from_yaml(yaml, &spec("")).is_err());
        assert!(Contract::from_yaml(yaml, &spec("db.read")).is_ok());
    }

    #[test]
    fn parses_every_part() {
        let yaml = r#"
cases:
  - name: fetches
    input: {url: "https://api.example.com/x"}
    output-subset: {status: 200}
    http:
      - method: GET
        url: https://api.example.com/x
        status: 200
        headers: {content-type: text/plain}
        body: hi
      - {method: GET, url: "https://b.example/", error: {code: connect, retryable: true}}
      - {method: GET, url: "https://c.example/", raw: {status: "200"}}
    kv: {visits: "41"}
    kv-after: {visits: "42"}
    db:
      - {statement: "select 1", params: [1], rows: [{a: 1}]}
      - {statement: "delete", rows-affected: 2}
    host-errors:
      kv.write: [{code: conflict, message: busy, retryable: true}]
"#;
        let c = Contract::from_yaml(yaml, &spec("http.read, kv.write, db.read")).unwrap();
        let case = &c.cases[0];
        assert_eq!(case.http[0].status, Some(200));
        assert_eq!(case.http[1].error.as_ref().unwrap().code, "connect");
        assert_eq!(case.kv["visits"], json!("41"));
        assert_eq!(case.db[0].rows.as_deref(), Some(&[json!({"a": 1})][..]));
        assert!(case.host_errors["kv.write"][0].retryable);
        assert!(c.digest.starts_with("sha256:"));
    }

    #[test]
    fn readable_paths() {
        let doc = json!({"cases": [{"kv": {"0": 1}}]});
        assert_eq!(readable_path(&doc, "/cases/0/kv/0"), "cases[0].kv.0");
        assert_eq!(readable_path(&doc, ""), "(document)");
    }
}
