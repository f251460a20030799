//! ABI v2: components through `ComponentNode`, against the hand-written
//! fixtures of registry-fixtures (included by path: that file needs only
//! `wat`). The word counter works through the registry and typed calls; each
//! misbehaving component ends in its own typed error naming the connector;
//! the sandbox's clock is fixed unless `clock` is declared; kv and db calls
//! reach the application's `Capabilities`, ungranted ones are denied, and bad
//! db parameters or replies become the guest's errors; the locked digest is
//! checked before compiling; the compiled-code cache is used and survives
//! damaged entries.

#![allow(clippy::unwrap_used)]

#[path = "../../registry-fixtures/src/components.rs"]
#[allow(dead_code, unreachable_pub)]
mod fixtures;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fixtures::ComponentFixture;
use lf_runtime::host::{
    Capabilities, CodeCache, CodeSource, ComponentNode, DeterminismProbe, FIXED_WALL_CLOCK_SECS,
    HostResult, Limits, NoCapabilities, Node, NodeError, NodeExt, NodeRegistry, is_component,
    load_locked, sha256_hex,
};
use lf_runtime::spec::{ConnectorId, ConnectorManifest, HostPattern, NodeSpec};
use serde_json::{Value, json};

fn spec(fixture: &ComponentFixture, bytes: &[u8]) -> NodeSpec {
    let manifest = ConnectorManifest::from_yaml(&fixture.yaml)
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
    NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(bytes)))
}

fn build(fixture: &ComponentFixture) -> Result<ComponentNode, NodeError> {
    let bytes = fixture.bytes();
    let spec = spec(fixture, &bytes);
    ComponentNode::with_cache(&bytes, spec, Vec::new(), &CodeCache::disabled())
}

fn node(fixture: &ComponentFixture) -> ComponentNode {
    build(fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.name))
}

fn no_caps() -> Arc<dyn Capabilities> {
    Arc::new(NoCapabilities)
}

fn id(fixture: &ComponentFixture) -> ConnectorId {
    ConnectorManifest::from_yaml(&fixture.yaml)
        .unwrap()
        .id()
        .clone()
}

#[test]
fn fixtures_are_components() {
    for fixture in fixtures::all() {
        assert!(is_component(&fixture.bytes()), "{}", fixture.name);
    }
    assert!(!is_component(b"\0asm\x01\0\0\0"));
}

#[derive(serde::Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Words {
    words: i64,
}

#[test]
fn word_counter_through_the_registry_and_typed_calls() {
    let fixture = fixtures::word_counter();
    let node = node(&fixture);
    assert_eq!(node.limits(), Limits::default());
    let mut registry = NodeRegistry::new();
    registry.register(node).unwrap();
    let id = id(&fixture);
    let caps = no_caps();
    let output = registry
        .invoke(
            id.as_str(),
            json!({ "text": "hello  wide\tworld\n" }),
            &caps,
        )
        .unwrap();
    assert_eq!(output, json!({ "words": 3 }));

    let node = registry.get(id.as_str()).unwrap();
    let words: Words = node.invoke_typed(&Text { text: "one" }, &caps).unwrap();
    assert_eq!(words, Words { words: 1 });

    // The declared error comes back as the connector's error.
    let error = node.invoke(json!({ "text": "" }), &caps).unwrap_err();
    match &error {
        NodeError::Connector {
            connector,
            code,
            message,
            retryable,
        } => {
            assert_eq!(connector, &id);
            assert_eq!(code, "empty");
            assert_eq!(message, "the text is empty");
            assert!(!retryable);
        }
        other => panic!("{other}"),
    }

    // Inputs are checked against the manifest before the call.
    let error = node.invoke(json!({ "text": 3 }), &caps).unwrap_err();
    assert!(matches!(error, NodeError::InputMismatch { .. }), "{error}");
}

#[test]
fn invoke_works_on_tokio_runtime_threads() {
    let node = Arc::new(node(&fixtures::word_counter()));
    for flavour in ["current", "multi"] {
        let runtime = if flavour == "current" {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .unwrap()
        };
        let node = Arc::clone(&node);
        let output = runtime
            .block_on(async move { node.invoke(json!({ "text": "a b" }), &no_caps()).unwrap() });
        assert_eq!(output, json!({ "words": 2 }), "{flavour}");
    }
}

fn assert_names_connector(error: &NodeError, fixture: &ComponentFixture) {
    assert_eq!(error.connector(), &id(fixture), "{error}");
    assert!(error.to_string().contains(id(fixture).as_str()), "{error}");
}

#[test]
fn undeclared_error_code_is_a_typed_error() {
    let fixture = fixtures::undeclared_error();
    let error = node(&fixture)
        .invoke(json!({ "text": "" }), &no_caps())
        .unwrap_err();
    match &error {
        NodeError::UndeclaredErrorCode { code, .. } => assert_eq!(code, "bogus"),
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn trap_in_start_up_is_an_instantiation_error() {
    let fixture = fixtures::start_trap();
    let error = node(&fixture)
        .invoke(json!({ "text": "x" }), &no_caps())
        .unwrap_err();
    match &error {
        NodeError::Instantiate { message, .. } => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn endless_start_up_runs_out_of_fuel_or_time() {
    let fixture = fixtures::start_loop();
    let node = node(&fixture);
    let error = node.invoke(json!({ "text": "x" }), &no_caps()).unwrap_err();
    assert!(
        matches!(error, NodeError::OutOfFuel { fuel, .. } if fuel == Limits::default().fuel),
        "{error}"
    );
    assert_names_connector(&error, &fixture);

    // With fuel to spare, the wall-clock deadline stops it.
    let node = node.with_limits(Limits {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(200),
        ..Limits::default()
    });
    let error = node.invoke(json!({ "text": "x" }), &no_caps()).unwrap_err();
    assert!(matches!(error, NodeError::Deadline { .. }), "{error}");
    assert_names_connector(&error, &fixture);
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    let fixture = fixtures::memory_hog();
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..Limits::default()
    };
    let error = node(&fixture)
        .with_limits(limits)
        .invoke(json!({ "text": "x" }), &no_caps())
        .unwrap_err();
    match &error {
        NodeError::MemoryLimit {
            requested, limit, ..
        } => {
            assert_eq!(*limit, 4 << 20);
            assert!(*requested > 4 << 20);
        }
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn invalid_json_in_a_json_field_names_the_field() {
    let fixture = fixtures::invalid_json();
    let error = node(&fixture).invoke(json!({}), &no_caps()).unwrap_err();
    match &error {
        NodeError::OutputValue { field, problem, .. } => {
            assert_eq!(field, "data");
            assert!(problem.contains("not JSON"), "{problem}");
        }
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn wrong_run_signature_is_refused_when_built() {
    let fixture = fixtures::wrong_signature();
    let error = build(&fixture).unwrap_err();
    match &error {
        NodeError::RunSignature {
            problem, expected, ..
        } => {
            assert!(problem.contains("-> s64"), "{problem}");
            assert!(expected.contains("words: s64"), "{expected}");
        }
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn foreign_imports_are_refused_when_built() {
    let fixture = fixtures::refused_import();
    let error = build(&fixture).unwrap_err();
    match &error {
        NodeError::ComponentImport { message, .. } => {
            assert!(message.contains("evil:x/y"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_names_connector(&error, &fixture);
}

#[test]
fn wasi_http_links_only_when_http_is_declared() {
    let fixture = fixtures::http_importer("");
    let error = build(&fixture).unwrap_err();
    match &error {
        NodeError::ComponentImport { message, .. } => {
            assert!(message.contains("wasi:http/"), "{message}");
        }
        other => panic!("{other}"),
    }
    for granted in ["http.read", "http.write"] {
        let fixture = fixtures::http_importer(granted);
        let output = node(&fixture)
            .invoke(json!({ "text": "a" }), &no_caps())
            .unwrap();
        assert_eq!(output, json!({ "words": 1 }), "{granted}");
    }
}

#[test]
fn the_clock_is_fixed_unless_declared() {
    let fixed = node(&fixtures::clock_reader(""));
    for _ in 0..2 {
        let output = fixed.invoke(json!({}), &no_caps()).unwrap();
        assert_eq!(output, json!({ "seconds": FIXED_WALL_CLOCK_SECS }));
    }
    let real = node(&fixtures::clock_reader("clock"));
    let output = real.invoke(json!({}), &no_caps()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seconds = output["seconds"].as_u64().unwrap();
    assert!(seconds.abs_diff(now) < 60, "{seconds} vs {now}");
}

/// A determinism probe sets the clock of a node that declares `clock`, call
/// by call, and changes nothing for one that does not.
#[test]
fn a_determinism_probe_sets_a_declared_clock_only() {
    let probe = Arc::new(DeterminismProbe::default());
    let declared = node(&fixtures::clock_reader("clock")).with_determinism_probe(probe.clone());
    let fixed = node(&fixtures::clock_reader("")).with_determinism_probe(probe.clone());
    for seconds in [123_u64, 4_000_000_000] {
        probe.set(seconds, seconds);
        let output = declared.invoke(json!({}), &no_caps()).unwrap();
        assert_eq!(output, json!({ "seconds": seconds }));
        let output = fixed.invoke(json!({}), &no_caps()).unwrap();
        assert_eq!(output, json!({ "seconds": FIXED_WALL_CLOCK_SECS }));
    }
}

/// A key-value store recording the requests it gets.
#[derive(Default)]
struct Kv {
    map: Mutex<BTreeMap<String, String>>,
    requests: Mutex<Vec<Value>>,
}

impl Capabilities for Kv {
    fn kv_read(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        self.requests.lock().unwrap().push(request.clone());
        let key = request["key"].as_str().unwrap();
        Ok(json!({ "value": self.map.lock().unwrap().get(key) }))
    }

    fn kv_write(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        self.requests.lock().unwrap().push(request.clone());
        let key = request["key"].as_str().unwrap().to_owned();
        let value = request["value"].as_str().unwrap().to_owned();
        self.map.lock().unwrap().insert(key, value);
        Ok(json!({}))
    }
}

#[test]
fn kv_calls_reach_the_application_and_ungranted_ones_are_denied() {
    let kv = Arc::new(Kv::default());
    let caps: Arc<dyn Capabilities> = kv.clone();
    let both = node(&fixtures::kv_user("kv.read, kv.write"));
    let output = both.invoke(json!({ "key": "k" }), &caps).unwrap();
    assert_eq!(output, json!({ "status": 0, "value": "v1" }));
    assert_eq!(
        *kv.requests.lock().unwrap(),
        [
            json!({ "op": "set", "key": "k", "value": "v1" }),
            json!({ "op": "get", "key": "k" }),
        ]
    );

    let kv = Arc::new(Kv::default());
    let caps: Arc<dyn Capabilities> = kv.clone();
    let read_only = node(&fixtures::kv_user("kv.read"));
    let output = read_only.invoke(json!({ "key": "k" }), &caps).unwrap();
    // 10: `set` failed with `denied`; `get` found nothing.
    assert_eq!(output, json!({ "status": 10 }));
    assert_eq!(
        *kv.requests.lock().unwrap(),
        [json!({ "op": "get", "key": "k" })],
        "the application never saw the ungranted write"
    );

    // Without any kv capability the interface is not linked at all.
    let error = build(&fixtures::kv_user("")).unwrap_err();
    assert!(
        matches!(&error, NodeError::ComponentImport { message, .. } if message.contains("latticeflow:capabilities/kv")),
        "{error}"
    );
}

/// `run(input{params}) -> output{exec, affected, query, text}` over
/// `latticeflow:capabilities/db@0.2.0`: `execute("UPDATE", params)`, then
/// `query("SELECT", params)`. `exec` and `query` are 0 when the call
/// succeeded, otherwise 10 + the error case (10 `denied`, 11 `invalid`,
/// 12 `too-large`, 13 `unavailable`); `affected` is what `execute` returned
/// (0 on error); `text` is `query`'s rows, or the text of an `invalid` or
/// `unavailable` error. Written here rather than in registry-fixtures: only
/// this test uses it.
fn db_user(capabilities: &str) -> ComponentFixture {
    ComponentFixture {
        name: "db-user",
        yaml: format!(
            "id: connector.test.db.user
inputs:
  - name: params
    type: string
outputs:
  - name: exec
    type: int
  - name: affected
    type: int
  - name: query
    type: int
  - name: text
    type: string
effects: []
deterministic: false
capabilities: [{capabilities}]
errors: []
"
        ),
        wat: r#"(component
  (import "latticeflow:capabilities/db@0.2.0" (instance $db
    (type $e (variant (case "denied") (case "invalid" string) (case "too-large") (case "unavailable" string)))
    (export "error" (type $error (eq $e)))
    (export "query" (func (param "statement" string) (param "params" string) (result (result string (error $error)))))
    (export "execute" (func (param "statement" string) (param "params" string) (result (result u64 (error $error)))))
  ))
  (alias export $db "query" (func $query))
  (alias export $db "execute" (func $execute))
  (type $input' (record (field "params" string)))
  (export $input "input" (type $input'))
  (type $output' (record (field "exec" s64) (field "affected" s64) (field "query" s64) (field "text" string)))
  (export $output "output" (type $output'))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
  (core module $libc
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (core func $query (canon lower (func $query) (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core func $execute (canon lower (func $execute) (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "db" "query" (func $query (param i32 i32 i32 i32 i32)))
    (import "db" "execute" (func $execute (param i32 i32 i32 i32 i32)))
    (data (i32.const 16) "UPDATE")
    (data (i32.const 32) "SELECT")
    ;; 10 + the case of the error variant at $at
    (func $status (param $at i32) (result i64)
      (i64.add (i64.const 10) (i64.extend_i32_u (i32.load8_u (local.get $at)))))
    (func (export "run") (param $params i32) (param $len i32) (result i32)
      ;; execute -> result<u64, error> at 128, payload at 136
      (call $execute (i32.const 16) (i32.const 6) (local.get $params) (local.get $len) (i32.const 128))
      ;; query -> result<string, error> at 256, payload at 260
      (call $query (i32.const 32) (i32.const 6) (local.get $params) (local.get $len) (i32.const 256))
      (i32.store8 (i32.const 1024) (i32.const 0))
      (if (i32.load8_u (i32.const 128))
        (then
          (i64.store (i32.const 1032) (call $status (i32.const 136)))
          (i64.store (i32.const 1040) (i64.const 0)))
        (else
          (i64.store (i32.const 1032) (i64.const 0))
          (i64.store (i32.const 1040) (i64.load (i32.const 136)))))
      (i32.store (i32.const 1056) (i32.const 0))
      (i32.store (i32.const 1060) (i32.const 0))
      (if (i32.load8_u (i32.const 256))
        (then
          (i64.store (i32.const 1048) (call $status (i32.const 260)))
          ;; `invalid` (1) and `unavailable` (3) carry a string at 264
          (if (i32.and (i32.load8_u (i32.const 260)) (i32.const 1))
            (then
              (i32.store (i32.const 1056) (i32.load (i32.const 264)))
              (i32.store (i32.const 1060) (i32.load (i32.const 268))))))
        (else
          (i64.store (i32.const 1048) (i64.const 0))
          (i32.store (i32.const 1056) (i32.load (i32.const 260)))
          (i32.store (i32.const 1060) (i32.load (i32.const 264)))))
      (i32.const 1024)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "db" (instance (export "query" (func $query)) (export "execute" (func $execute))))))
  (func $run (param "input" $input) (result (result $output (error $node-error)))
    (canon lift (core func $i "run") (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (export "run" (func $run))
)"#
        .to_owned(),
    }
}

/// A database answering every query and statement with fixed replies,
/// recording the requests it gets.
struct Db {
    query: Value,
    execute: Value,
    requests: Mutex<Vec<Value>>,
}

impl Db {
    fn new(query: Value, execute: Value) -> Arc<Db> {
        Arc::new(Db {
            query,
            execute,
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

impl Capabilities for Db {
    fn db_read(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        self.requests.lock().unwrap().push(request.clone());
        Ok(self.query.clone())
    }

    fn db_write(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        self.requests.lock().unwrap().push(request.clone());
        Ok(self.execute.clone())
    }
}

#[test]
fn db_calls_reach_the_application_and_bad_ones_are_the_guests_errors() {
    let good = || {
        Db::new(
            json!({ "rows": [{ "n": 1 }] }),
            json!({ "rows_affected": 3 }),
        )
    };
    let both = node(&db_user("db.read, db.write"));
    let db = good();
    let caps: Arc<dyn Capabilities> = db.clone();
    let output = both.invoke(json!({ "params": "[1]" }), &caps).unwrap();
    assert_eq!(
        output,
        json!({ "exec": 0, "affected": 3, "query": 0, "text": r#"[{"n":1}]"# })
    );
    assert_eq!(
        db.requests(),
        [
            json!({ "op": "execute", "statement": "UPDATE", "params": [1] }),
            json!({ "op": "query", "statement": "SELECT", "params": [1] }),
        ]
    );

    // `params` that are not a JSON array never reach the application.
    let db = good();
    let caps: Arc<dyn Capabilities> = db.clone();
    let output = both.invoke(json!({ "params": "{}" }), &caps).unwrap();
    assert_eq!(
        output,
        json!({
            "exec": 11,
            "affected": 0,
            "query": 11,
            "text": "invalid: `params` must be the text of a JSON array",
        })
    );
    assert_eq!(db.requests(), [] as [Value; 0]);

    // Replies of the wrong shape are `unavailable`, for each function.
    let db = Db::new(json!({ "rows": 5 }), json!({ "rows_affected": "3" }));
    let caps: Arc<dyn Capabilities> = db.clone();
    let output = both.invoke(json!({ "params": "[]" }), &caps).unwrap();
    assert_eq!(
        output,
        json!({
            "exec": 13,
            "affected": 0,
            "query": 13,
            "text": "malformed_reply: the application's `db.read` reply has the wrong shape",
        })
    );
    assert_eq!(db.requests().len(), 2);

    // Without `db.write`, `execute` is denied before the application sees it.
    let db = good();
    let caps: Arc<dyn Capabilities> = db.clone();
    let output = node(&db_user("db.read"))
        .invoke(json!({ "params": "[]" }), &caps)
        .unwrap();
    assert_eq!(output["exec"], 10, "{output}");
    assert_eq!(output["query"], 0, "{output}");
    assert_eq!(
        db.requests(),
        [json!({ "op": "query", "statement": "SELECT", "params": [] })]
    );
}

/// An application that records its log lines.
#[derive(Default)]
struct Logs(Mutex<Vec<Value>>);

impl Capabilities for Logs {
    fn log(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        self.0.lock().unwrap().push(request.clone());
        Ok(json!({}))
    }
}

#[test]
fn logging_reaches_the_application_only_when_declared() {
    let logs = Arc::new(Logs::default());
    let caps: Arc<dyn Capabilities> = logs.clone();
    let output = node(&fixtures::logger("log"))
        .invoke(json!({}), &caps)
        .unwrap();
    assert_eq!(output, json!({}));
    assert_eq!(
        *logs.0.lock().unwrap(),
        [json!({ "level": "warn", "context": "ctx", "message": "hello" })]
    );

    let logs = Arc::new(Logs::default());
    let caps: Arc<dyn Capabilities> = logs.clone();
    node(&fixtures::logger(""))
        .invoke(json!({}), &caps)
        .unwrap();
    assert!(logs.0.lock().unwrap().is_empty(), "discarded");
}

#[test]
fn from_locked_checks_the_digest_before_compiling() {
    let fixture = fixtures::word_counter();
    let bytes: &'static [u8] = Box::leak(fixture.bytes().into_boxed_slice());
    let spec = spec(&fixture, bytes);
    let digest = sha256_hex(bytes);
    ComponentNode::from_locked(bytes, &digest, spec.clone(), Vec::new()).unwrap();

    let mut tampered = bytes.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered: &'static [u8] = Box::leak(tampered.into_boxed_slice());
    let error =
        ComponentNode::from_locked(tampered, &digest, spec.clone(), Vec::new()).unwrap_err();
    assert!(
        matches!(&error, NodeError::DigestMismatch { expected, .. } if *expected == digest),
        "{error}"
    );
    let error =
        ComponentNode::from_locked(bytes, "sha256:abc", spec.clone(), Vec::new()).unwrap_err();
    assert!(matches!(error, NodeError::InvalidDigest { .. }), "{error}");

    // The `hosts` grant as generated crates embed it: text, parsed here.
    const HOSTS: &[&str] = &["api.example.com", "*.googleapis.com:443"];
    ComponentNode::from_locked(bytes, &digest, spec.clone(), HOSTS).unwrap();
    let error =
        ComponentNode::from_locked(bytes, &digest, spec.clone(), &["https://x/"]).unwrap_err();
    assert!(
        matches!(&error, NodeError::InvalidHostPattern { error, .. } if error.pattern == "https://x/"),
        "{error}"
    );

    // `load_locked` picks the ABI from the header.
    let node = load_locked(
        bytes,
        &digest,
        spec,
        vec![HostPattern::parse("api.example.com").unwrap()],
    )
    .unwrap();
    assert_eq!(
        node.invoke(json!({ "text": "x y" }), &no_caps()).unwrap(),
        json!({ "words": 2 })
    );
}

#[test]
fn compiled_code_is_cached_and_damaged_entries_are_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::at(dir.path().join("cache"));
    let fixture = fixtures::word_counter();
    let bytes = fixture.bytes();
    let load =
        || ComponentNode::with_cache(&bytes, spec(&fixture, &bytes), Vec::new(), &cache).unwrap();
    let call = |node: &ComponentNode| node.invoke(json!({ "text": "a b c" }), &no_caps()).unwrap();

    let first = load();
    assert_eq!(first.code_source(), CodeSource::Compiled);
    let second = load();
    assert_eq!(second.code_source(), CodeSource::Cached);
    assert_eq!(call(&second), json!({ "words": 3 }));

    let entries: Vec<_> = std::fs::read_dir(dir.path().join("cache/components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let good = std::fs::read(entry).unwrap();

    // A flipped byte in the middle of the native code: refused, recompiled,
    // rewritten.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    std::fs::write(entry, &flipped).unwrap();
    let node = load();
    assert_eq!(node.code_source(), CodeSource::Compiled);
    assert_eq!(call(&node), json!({ "words": 3 }));
    assert_eq!(load().code_source(), CodeSource::Cached, "rewritten");

    // A truncated entry: the same.
    std::fs::write(entry, &good[..good.len() / 3]).unwrap();
    assert_eq!(load().code_source(), CodeSource::Compiled);
    assert_eq!(load().code_source(), CodeSource::Cached);

    // A symlink in place of the entry is not followed.
    // (A long target path, so the link's own size does not give it away.)
    let elsewhere = dir
        .path()
        .join("a-directory-with-a-long-name-so-the-link-is-long")
        .join("elsewhere.cwasm");
    std::fs::create_dir(elsewhere.parent().unwrap()).unwrap();
    std::fs::write(&elsewhere, &good).unwrap();
    std::fs::remove_file(entry).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&elsewhere, entry).unwrap();
        assert_eq!(load().code_source(), CodeSource::Compiled);
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            good,
            "not written through"
        );
    }
}

#[test]
fn an_unwritable_cache_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let cache = CodeCache::at(file.join("cache"));
    let fixture = fixtures::word_counter();
    let bytes = fixture.bytes();
    for _ in 0..2 {
        let node =
            ComponentNode::with_cache(&bytes, spec(&fixture, &bytes), Vec::new(), &cache).unwrap();
        assert_eq!(node.code_source(), CodeSource::Compiled);
    }
}

// ---------------------------------------------------------------------------
// A real component built by componentize-py or componentize-js, when given
// ---------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Contract {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    input: Value,
    output: Option<Value>,
    error: Option<CaseError>,
    http: Option<Value>,
    kv: Option<Value>,
}

#[derive(serde::Deserialize)]
struct CaseError {
    code: String,
}

/// `LF_TEST_COMPONENT=DIR` (or `LF_TEST_JS_COMPONENT=DIR`): a connector
/// directory with `module.wasm` (a component), `connector.yaml` and
/// `tests/contract.yaml`, as `lf-resolve new` scaffolds and its build script
/// fills. The component is compiled, then loaded from the cache, and every
/// contract case that scripts no capability is run. Skipped (with a note)
/// when neither variable is set: building such a component needs
/// componentize-py or componentize-js.
#[test]
fn real_component_from_env() {
    let Some(dir) = std::env::var_os("LF_TEST_COMPONENT")
        .or_else(|| std::env::var_os("LF_TEST_JS_COMPONENT"))
        .map(std::path::PathBuf::from)
    else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipped: set LF_TEST_COMPONENT=DIR to a built connector directory (module.wasm, connector.yaml, tests/contract.yaml)"
            );
        }
        return;
    };
    let bytes = std::fs::read(dir.join("module.wasm")).unwrap();
    let yaml = std::fs::read_to_string(dir.join("connector.yaml")).unwrap();
    let manifest = ConnectorManifest::from_yaml(&yaml).unwrap();
    let spec = NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(&bytes)));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::at(cache_dir.path());

    let started = std::time::Instant::now();
    let node = ComponentNode::with_cache(&bytes, spec.clone(), Vec::new(), &cache).unwrap();
    let compiled = started.elapsed();
    assert_eq!(node.code_source(), CodeSource::Compiled);
    let started = std::time::Instant::now();
    let node = ComponentNode::with_cache(&bytes, spec, Vec::new(), &cache).unwrap();
    let cached = started.elapsed();
    assert_eq!(node.code_source(), CodeSource::Cached);

    let contract: Contract =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("tests/contract.yaml")).unwrap())
            .unwrap();
    let caps = no_caps();
    let mut ran = 0;
    let mut first_call = None;
    for case in &contract.cases {
        if case.http.is_some() || case.kv.is_some() {
            continue;
        }
        let started = std::time::Instant::now();
        let result = node.invoke(case.input.clone(), &caps);
        first_call.get_or_insert(started.elapsed());
        match (&case.output, &case.error, result) {
            (Some(want), _, Ok(got)) => assert_eq!(&got, want, "{}", case.name),
            (_, Some(want), Err(NodeError::Connector { code, .. })) => {
                assert_eq!(code, want.code, "{}", case.name);
            }
            (_, _, other) => panic!("{}: {other:?}", case.name),
        }
        ran += 1;
    }
    assert!(ran > 0, "no contract case without scripted capabilities");
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{}: {} bytes; compiled in {compiled:?}, loaded from the cache in {cached:?}; first call {:?}; {ran} cases",
            dir.display(),
            bytes.len(),
            first_call.unwrap_or_default()
        );
    }
}
