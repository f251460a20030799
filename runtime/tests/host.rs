//! The host against real connectors and misbehaving ones (the fixture
//! connectors' contracts run through `WasmNode` in lf-certify's tests, which
//! this crate cannot depend on); traps, runaway loops, garbage output, contract breaches,
//! ungranted imports and tampered bytes each end in a typed error naming the
//! connector. The budget of a call — deadline, host-call count, request,
//! reply and traffic sizes, memory and table caps — is pinned the same way,
//! each by a test that fails when its check is taken out.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use lf_runtime::host::{
    Capabilities, HostResult, Limits, NativeNode, NoCapabilities, Node, NodeError, NodeExt,
    NodeRegistry, RegistryError, WasmNode, sha256_hex,
};
use lf_runtime::spec::{Capability, ConnectorId, ConnectorManifest, NodeSpec, ValueErrorKind};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The fixture connectors
// ---------------------------------------------------------------------------

struct Fixture {
    name: &'static str,
    wat: &'static str,
    yaml: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            wat: include_str!(concat!(
                "../../registry-fixtures/connectors/",
                $name,
                "/module.wat"
            )),
            yaml: include_str!(concat!(
                "../../registry-fixtures/connectors/",
                $name,
                "/connector.yaml"
            )),
        }
    };
}

const FIXTURES: [Fixture; 5] = [
    fixture!("text-upper"),
    fixture!("json-reshape"),
    fixture!("http-fetch"),
    fixture!("kv-counter"),
    fixture!("hash"),
];

fn fixture(name: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.name == name).unwrap()
}

impl Fixture {
    /// The compiled module, leaked so it can stand in for `include_bytes!`.
    fn module(&self) -> &'static [u8] {
        Box::leak(wat::parse_str(self.wat).unwrap().into_boxed_slice())
    }

    fn spec(&self, module: &[u8]) -> NodeSpec {
        let manifest = ConnectorManifest::from_yaml(self.yaml).unwrap();
        NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(module)))
    }

    fn node(&self) -> WasmNode {
        let module = self.module();
        let spec = self.spec(module);
        let digest = spec.module_digest.clone();
        WasmNode::from_locked(module, &digest, spec).unwrap()
    }
}

#[test]
fn one_node_serves_many_calls_and_threads() {
    let node = Arc::new(fixture("text-upper").node());
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let node = Arc::clone(&node);
            let caps = Arc::clone(&caps);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = format!("thread {t} call {i}");
                    let out = node.invoke(json!({ "text": text }), &caps).unwrap();
                    assert_eq!(out, json!({ "text": text.to_ascii_uppercase() }));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[derive(serde::Serialize)]
struct HashInput<'a> {
    text: &'a str,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct HashOutput {
    digest: String,
    length: i64,
}

#[test]
fn typed_calls() {
    let node = fixture("hash").node();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let out: HashOutput = node
        .invoke_typed(
            &HashInput {
                text: "hello world",
            },
            &caps,
        )
        .unwrap();
    assert_eq!(out.length, 11);
    assert_eq!(out.digest.len(), 16);

    // The output decodes into the wrong type: a typed error, not a panic.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Wrong {
        digest: i64,
    }
    let error = node
        .invoke_typed::<_, Wrong>(&HashInput { text: "x" }, &caps)
        .unwrap_err();
    assert!(matches!(error, NodeError::OutputDecode { .. }), "{error}");
    assert_eq!(
        error.connector().as_str(),
        "connector.latticeflow.text.hash"
    );

    let error = node
        .invoke(json!(["not", "an", "object"]), &caps)
        .unwrap_err();
    assert!(matches!(error, NodeError::InputNotObject { .. }), "{error}");
}

#[test]
fn capabilities_not_implemented_answer_unsupported() {
    // The application offers no kv: the module sees an error reply and
    // reports it as its own error.
    let node = fixture("kv-counter").node();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let error = node.invoke(json!({ "key": "k" }), &caps).unwrap_err();
    match &error {
        NodeError::Connector { code, .. } => assert_eq!(code, "kv_failed"),
        other => panic!("{other}"),
    }
    assert!(
        error.to_string().contains("does not provide `kv.read`"),
        "{error}"
    );
}

/// Records what each capability method receives.
#[derive(Default)]
struct Recorder {
    calls: std::sync::Mutex<Vec<(&'static str, String, Value)>>,
}

impl Capabilities for Recorder {
    fn kv_read(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        self.calls
            .lock()
            .unwrap()
            .push(("kv.read", connector.to_string(), request.clone()));
        Ok(json!({"value": "41"}))
    }

    fn kv_write(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        self.calls
            .lock()
            .unwrap()
            .push(("kv.write", connector.to_string(), request.clone()));
        Ok(json!({}))
    }
}

#[test]
fn capabilities_receive_the_calling_connector_and_the_exact_request() {
    // The application scopes keys and policy by the connector id it is
    // given, so the host must pass the caller's own id, and the module's
    // request document as sent.
    let node = fixture("kv-counter").node();
    let recorder = Arc::new(Recorder::default());
    let caps: Arc<dyn Capabilities> = recorder.clone();
    let out = node.invoke(json!({ "key": "k \"q\"" }), &caps).unwrap();
    assert_eq!(out, json!({"count": 42}));
    let id = "connector.latticeflow.kv.counter".to_owned();
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [
            ("kv.read", id.clone(), json!({"key": "k \"q\""})),
            ("kv.write", id, json!({"key": "k \"q\"", "value": "42"})),
        ]
    );
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

fn spec_from(yaml: &str) -> NodeSpec {
    NodeSpec::from_manifest(&ConnectorManifest::from_yaml(yaml).unwrap(), "sha256:00")
}

const NATIVE_YAML: &str = "\
id: connector.native.math.double
inputs:
  - name: n
    type: int
outputs:
  - name: n
    type: int
effects: []
deterministic: true
capabilities: []
";

#[test]
fn registry_holds_wasm_and_native_nodes() {
    let mut registry = NodeRegistry::new();
    for fixture in &FIXTURES {
        registry.register(fixture.node()).unwrap();
    }
    registry
        .register(NativeNode::new(spec_from(NATIVE_YAML), |input, _caps| {
            Ok(json!({ "n": input["n"].as_i64().unwrap_or(0) * 2 }))
        }))
        .unwrap();
    assert_eq!(registry.len(), 6);
    let ids: Vec<String> = registry.ids().map(ToString::to_string).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    assert_eq!(
        registry
            .invoke("connector.native.math.double", json!({"n": 21}), &caps)
            .unwrap(),
        json!({"n": 42})
    );
    let upper = registry
        .require("connector.latticeflow.text.upper")
        .unwrap();
    assert_eq!(
        upper.invoke(json!({"text": "abc"}), &caps).unwrap(),
        json!({"text": "ABC"})
    );
    // Typed calls work through the trait object too.
    #[derive(serde::Deserialize)]
    struct Doubled {
        n: i64,
    }
    let node = registry.get("connector.native.math.double").unwrap();
    let out: Doubled = node.invoke_typed(&json!({"n": 4}), &caps).unwrap();
    assert_eq!(out.n, 8);

    let duplicate = registry.register(fixture("hash").node()).unwrap_err();
    assert_eq!(
        duplicate,
        RegistryError::DuplicateId {
            id: "connector.latticeflow.text.hash".parse().unwrap()
        }
    );
    assert!(duplicate.to_string().contains("already registered"));
    assert_eq!(registry.len(), 6);

    let unknown = registry
        .invoke("connector.nope.x", json!({}), &caps)
        .unwrap_err();
    assert!(matches!(unknown, RegistryError::UnknownId { ref id } if id == "connector.nope.x"));
}

#[test]
fn native_outputs_are_checked_too() {
    let node = NativeNode::new(spec_from(NATIVE_YAML), |_, _| Ok(json!({"n": "two"})));
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let error = node.invoke(json!({"n": 1}), &caps).unwrap_err();
    assert!(matches!(error, NodeError::OutputMismatch { .. }), "{error}");
    assert!(error.to_string().contains("connector.native.math.double"));
}

// ---------------------------------------------------------------------------
// Misbehaving modules
// ---------------------------------------------------------------------------

const BAD_ID: &str = "connector.test.bad.node";

fn bad_spec(capabilities: &str) -> NodeSpec {
    spec_from(&format!(
        "id: {BAD_ID}\ninputs: []\noutputs:\n  - name: n\n    type: int\neffects: []\ndeterministic: true\ncapabilities: [{capabilities}]\n"
    ))
}

/// A module speaking ABI `version` whose `lf_invoke` runs `body`; `data`
/// is placed at offset 1024.
fn module_wat(version: i32, imports: &str, data: &str, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "{data}")
  (func (export "lf_abi_version") (result i32) (i32.const {version}))
  (func (export "lf_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
  (func (export "lf_invoke") (param $ptr i32) (param $len i32) (result i64)
    {body}))"#
    )
}

/// `lf_invoke` returns (`ptr`, `len`).
fn returning(ptr: u32, len: u32) -> String {
    format!("(i64.or (i64.shl (i64.const {ptr}) (i64.const 32)) (i64.const {len}))")
}

/// `text` as the contents of a WAT string literal.
fn escaped(text: &str) -> String {
    text.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// A module whose `lf_invoke` returns `output` verbatim.
fn constant(output: &str) -> String {
    module_wat(
        1,
        "",
        &escaped(output),
        &returning(1024, output.len() as u32),
    )
}

fn build(wat: &str, spec: NodeSpec) -> Result<WasmNode, NodeError> {
    WasmNode::new(&wat::parse_str(wat).unwrap(), spec)
}

fn run(wat: &str) -> NodeError {
    run_with(wat, Limits::default())
}

fn run_with(wat: &str, limits: Limits) -> NodeError {
    let node = build(wat, bad_spec("")).unwrap().with_limits(limits);
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let error = node.invoke(json!({}), &caps).unwrap_err();
    assert_eq!(error.connector().as_str(), BAD_ID, "{error}");
    assert!(error.to_string().contains(BAD_ID), "{error}");
    error
}

#[test]
fn a_well_behaved_constant_module_works() {
    let node = build(&constant(r#"{"ok":{"n":7}}"#), bad_spec("")).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    assert_eq!(node.invoke(json!({}), &caps).unwrap(), json!({"n": 7}));
}

#[test]
fn a_trap_is_a_typed_error_with_the_message() {
    let error = run(&module_wat(1, "", "", "unreachable"));
    match error {
        NodeError::Trap { message, .. } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("{other}"),
    }
    // Division by zero too.
    let error = run(&module_wat(
        1,
        "",
        "",
        "(drop (i32.div_u (i32.const 1) (i32.const 0))) (i64.const 0)",
    ));
    assert!(matches!(error, NodeError::Trap { .. }), "{error}");
}

#[test]
fn a_trap_in_the_start_function_is_an_instantiation_error() {
    // `imports` comes first in the module, so the start function goes there.
    let start = |body: &str| format!("(func $start {body}) (start $start)");
    let error = run(&module_wat(1, &start("unreachable"), "", "unreachable"));
    match error {
        NodeError::Instantiate { message, .. } => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("{other}"),
    }
    // A limit hit while starting is still that limit.
    runs_out_of_1000_fuel(&module_wat(
        1,
        &start("(loop $l (br $l))"),
        "",
        "unreachable",
    ));
}

/// Runs `wat` with 1000 units of fuel and checks that it runs out.
fn runs_out_of_1000_fuel(wat: &str) {
    let error = run_with(
        wat,
        Limits {
            fuel: 1000,
            ..Limits::default()
        },
    );
    assert!(
        matches!(error, NodeError::OutOfFuel { fuel: 1000, .. }),
        "{error}"
    );
}

#[test]
fn an_endless_loop_runs_out_of_fuel_in_bounded_time() {
    let start = Instant::now();
    let error = run(&module_wat(1, "", "", "(loop $l (br $l)) (i64.const 0)"));
    assert!(
        matches!(error, NodeError::OutOfFuel { fuel, .. } if fuel == Limits::default().fuel),
        "{error}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    runs_out_of_1000_fuel(&module_wat(1, "", "", "(loop $l (br $l)) (i64.const 0)"));
}

#[test]
fn memory_over_the_cap_is_a_typed_error() {
    let limits = Limits {
        memory_bytes: 1 << 20,
        ..Limits::default()
    };
    // Growing at run time.
    let error = run_with(
        &module_wat(
            1,
            "",
            "",
            "(drop (memory.grow (i32.const 100))) (i64.const 0)",
        ),
        limits,
    );
    assert!(
        matches!(error, NodeError::MemoryLimit { requested, limit, .. } if requested == 101 * 65536 && limit == 1 << 20),
        "{error}"
    );
    // Declaring a large initial memory fails at instantiation.
    let wat = module_wat(1, "", "", "(i64.const 0)").replace(
        r#"(memory (export "memory") 1)"#,
        r#"(memory (export "memory") 32)"#,
    );
    let error = run_with(&wat, limits);
    assert!(matches!(error, NodeError::MemoryLimit { .. }), "{error}");
}

#[test]
fn garbage_output_is_a_typed_error() {
    let error = run(&constant("this is not json"));
    assert!(matches!(error, NodeError::OutputNotJson { .. }), "{error}");

    let wat = module_wat(1, "", "\\ff\\fe{}", &returning(1024, 4));
    let error = run(&wat);
    assert!(matches!(error, NodeError::OutputNotUtf8 { .. }), "{error}");

    for (output, needle) in [
        ("[1,2]", "expected an object"),
        (r#"{"ok":{"n":1},"error":{}}"#, "exactly one key"),
        (r#"{"ok":1}"#, "`ok` must be an object"),
        (r#"{"result":{}}"#, "expected `{\"ok\""),
        (r#"{"error":{"code":"x"}}"#, "`error` must be exactly"),
        (
            r#"{"error":{"code":"x","message":"m","retryable":"no"}}"#,
            "`error` must be exactly",
        ),
    ] {
        let error = run(&constant(output));
        match &error {
            NodeError::MalformedOutput { reason, .. } => {
                assert!(reason.contains(needle), "{output}: {reason}");
            }
            other => panic!("{output}: {other}"),
        }
    }
}

#[test]
fn an_undeclared_error_code_is_a_typed_error() {
    let output = r#"{"error":{"code":"boom","message":"m","retryable":true}}"#;
    let error = run(&constant(output));
    match &error {
        NodeError::UndeclaredErrorCode { code, message, .. } => {
            assert_eq!((code.as_str(), message.as_str()), ("boom", "m"));
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains(BAD_ID), "{error}");

    // Declared, it is the connector's own error.
    let spec = spec_from(&format!(
        "id: {BAD_ID}\ninputs: []\noutputs:\n  - name: n\n    type: int\neffects: []\ndeterministic: true\ncapabilities: []\nerrors:\n  - code: boom\n    retryable: true\n"
    ));
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let error = build(&constant(output), spec)
        .unwrap()
        .invoke(json!({}), &caps)
        .unwrap_err();
    assert!(
        matches!(&error, NodeError::Connector { code, retryable: true, .. } if code == "boom"),
        "{error}"
    );
}

#[test]
fn pointers_out_of_bounds_are_typed_errors() {
    // The output pointer lies past the one 64 KiB page.
    let error = run(&module_wat(1, "", "", &returning(0xffff_0000, 16)));
    assert!(
        matches!(
            error,
            NodeError::PointerOutOfBounds {
                ptr: 0xffff_0000,
                len: 16,
                memory: 65536,
                ..
            }
        ),
        "{error}"
    );
    // Straddling the end.
    let error = run(&module_wat(1, "", "", &returning(65530, 10)));
    assert!(
        matches!(error, NodeError::PointerOutOfBounds { .. }),
        "{error}"
    );
    // lf_alloc hands back a pointer outside memory for the input.
    let wat = module_wat(1, "", "", "(i64.const 0)")
        .replace("(local.get $p))", "(drop (local.get $p)) (i32.const -8))");
    let error = run(&wat);
    assert!(
        matches!(error, NodeError::PointerOutOfBounds { what, .. } if what.contains("input")),
        "{error}"
    );
}

#[test]
fn a_host_request_out_of_bounds_is_a_typed_error() {
    let imports = r#"(import "lf:cap" "log" (func $log (param i32 i32) (result i64)))"#;
    let wat = module_wat(
        1,
        imports,
        "",
        "(drop (call $log (i32.const 65000) (i32.const 1000))) (i64.const 0)",
    );
    let node = build(&wat, bad_spec("log")).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let error = node.invoke(json!({}), &caps).unwrap_err();
    assert!(
        matches!(
            error,
            NodeError::PointerOutOfBounds {
                what: "a host request",
                ..
            }
        ),
        "{error}"
    );

    // A request that is not JSON.
    let wat = module_wat(
        1,
        imports,
        "nope",
        "(drop (call $log (i32.const 1024) (i32.const 4))) (i64.const 0)",
    );
    let node = build(&wat, bad_spec("log")).unwrap();
    let error = node.invoke(json!({}), &caps).unwrap_err();
    assert!(
        matches!(
            error,
            NodeError::BadHostRequest {
                capability: Capability::Log,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn output_over_the_limit_is_a_typed_error() {
    let error = run_with(
        &constant(r#"{"ok":{"n":12345}}"#),
        Limits {
            max_output_bytes: 8,
            ..Limits::default()
        },
    );
    assert!(
        matches!(
            error,
            NodeError::OutputTooLarge {
                len: 18,
                limit: 8,
                ..
            }
        ),
        "{error}"
    );
    // A huge claimed length is refused before anything is read.
    let error = run(&module_wat(1, "", "", &returning(0, u32::MAX)));
    assert!(matches!(error, NodeError::OutputTooLarge { .. }), "{error}");
}

#[test]
fn outputs_must_match_the_declared_types() {
    for (output, field, kind) in [
        (r#"{"ok":{}}"#, "n", "missing"),
        (r#"{"ok":{"n":1,"extra":true}}"#, "extra", "not declared"),
        (r#"{"ok":{"n":"1"}}"#, "n", "expected int"),
        (r#"{"ok":{"n":1.5}}"#, "n", "expected int"),
    ] {
        let error = run(&constant(output));
        match &error {
            NodeError::OutputMismatch {
                error: value_error, ..
            } => {
                assert_eq!(value_error.path.to_string(), field, "{output}");
                assert!(
                    value_error.to_string().contains(kind),
                    "{output}: {value_error}"
                );
                if kind == "not declared" {
                    assert_eq!(value_error.kind, ValueErrorKind::Undeclared);
                }
            }
            other => panic!("{output}: {other}"),
        }
        let message = error.to_string();
        assert!(
            message.contains(BAD_ID) && message.contains(field),
            "{message}"
        );
    }
}

#[test]
fn an_import_that_is_not_granted_refuses_instantiation() {
    // kv-counter with only kv.read granted.
    let fixture = fixture("kv-counter");
    let module = fixture.module();
    let mut spec = fixture.spec(module);
    spec.capabilities.retain(|c| *c != Capability::KvWrite);
    let error = WasmNode::new(module, spec).unwrap_err();
    match &error {
        NodeError::ImportNotGranted {
            connector,
            module,
            name,
            granted,
        } => {
            assert_eq!(connector.as_str(), "connector.latticeflow.kv.counter");
            assert_eq!((module.as_str(), name.as_str()), ("lf:cap", "kv_write"));
            assert_eq!(granted, &[Capability::KvRead]);
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains("lf:cap::kv_write"), "{error}");

    // An import outside lf:cap.
    let wat = module_wat(
        1,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        "",
        "(i64.const 0)",
    );
    let error = build(&wat, bad_spec("")).unwrap_err();
    assert!(
        matches!(&error, NodeError::ImportNotGranted { name, .. } if name == "fd_write"),
        "{error}"
    );
    // A granted capability imported with the wrong type.
    let wat = module_wat(
        1,
        r#"(import "lf:cap" "log" (func (param i32) (result i32)))"#,
        "",
        "(i64.const 0)",
    );
    let error = build(&wat, bad_spec("log")).unwrap_err();
    assert!(
        matches!(error, NodeError::ImportSignature { .. }),
        "{error}"
    );
}

#[test]
fn abi_exports_and_version_are_checked() {
    let error = run(&module_wat(2, "", "", "(i64.const 0)"));
    assert!(
        matches!(error, NodeError::AbiVersion { found: 2, .. }),
        "{error}"
    );

    let wat = module_wat(1, "", "", "(i64.const 0)").replace(r#"(export "lf_alloc")"#, "");
    let error = build(&wat, bad_spec("")).unwrap_err();
    assert!(
        matches!(&error, NodeError::MissingExport { export: "lf_alloc", problem, .. } if problem == "is missing"),
        "{error}"
    );
    let wat = module_wat(1, "", "", "(i64.const 0)")
        .replace(
            "(param $ptr i32) (param $len i32) (result i64)",
            "(param $ptr i32) (param $len i32) (result i32)",
        )
        .replace("(i64.const 0)", "(i32.const 0)");
    let error = build(&wat, bad_spec("")).unwrap_err();
    assert!(
        matches!(
            &error,
            NodeError::MissingExport {
                export: "lf_invoke",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("(i32, i32) -> (i64)"), "{error}");

    let error = WasmNode::new(b"\0asm garbage", bad_spec("")).unwrap_err();
    assert!(matches!(error, NodeError::Compile { .. }), "{error}");
}

#[test]
fn a_tampered_module_is_refused_before_compiling() {
    let fixture = fixture("hash");
    let module = fixture.module();
    let spec = fixture.spec(module);
    let locked = spec.module_digest.clone();
    let mut tampered = module.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered: &'static [u8] = Box::leak(tampered.into_boxed_slice());
    let error = WasmNode::from_locked(tampered, &locked, spec.clone()).unwrap_err();
    match &error {
        NodeError::DigestMismatch {
            connector,
            expected,
            actual,
        } => {
            assert_eq!(connector.as_str(), "connector.latticeflow.text.hash");
            assert_eq!(format!("sha256:{expected}"), locked);
            assert_eq!(actual, &sha256_hex(tampered));
        }
        other => panic!("{other}"),
    }
    assert!(
        error
            .to_string()
            .contains("connector.latticeflow.text.hash")
    );

    // Bare hex works as well as `sha256:<hex>`; a malformed digest is refused.
    WasmNode::from_locked(module, locked.trim_start_matches("sha256:"), spec.clone()).unwrap();
    let error = WasmNode::from_locked(module, "sha256:1234", spec).unwrap_err();
    assert!(matches!(error, NodeError::InvalidDigest { .. }), "{error}");
}

#[test]
fn a_registration_error_carries_the_node_error() {
    let fixture = fixture("hash");
    let module = fixture.module();
    let spec = fixture.spec(module);
    let register = |registry: &mut NodeRegistry| -> Result<(), RegistryError> {
        registry.register(WasmNode::from_locked(
            module,
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            spec.clone(),
        )?)
    };
    let mut registry = NodeRegistry::new();
    let error = register(&mut registry).unwrap_err();
    assert!(
        matches!(error, RegistryError::Node(NodeError::DigestMismatch { .. })),
        "{error}"
    );
    assert!(registry.is_empty());
}

// ---------------------------------------------------------------------------
// The budget of one call
// ---------------------------------------------------------------------------

/// A `log` capability that counts its calls, optionally takes its time, and
/// answers `reply`.
struct LogSink {
    calls: AtomicU32,
    delay: Duration,
    reply: Value,
}

impl LogSink {
    fn new(delay: Duration, reply: Value) -> Arc<Self> {
        Arc::new(LogSink {
            calls: AtomicU32::new(0),
            delay,
            reply,
        })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Capabilities for LogSink {
    fn log(&self, _connector: &ConnectorId, _request: &Value) -> HostResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(self.reply.clone())
    }
}

/// A module granted `log` whose `lf_alloc` hands out the same scratch
/// buffer every time, so a loop of host calls never runs out of memory and
/// only the budget can stop it.
fn log_module(pages: u32, data: &str, body: &str) -> String {
    format!(
        r#"(module
  (import "lf:cap" "log" (func $log (param i32 i32) (result i64)))
  (memory (export "memory") {pages})
  (data (i32.const 1024) "{data}")
  (func (export "lf_abi_version") (result i32) (i32.const 1))
  (func (export "lf_alloc") (param $len i32) (result i32) (i32.const 8192))
  (func (export "lf_invoke") (param $ptr i32) (param $len i32) (result i64)
    {body}))"#
    )
}

/// `lf_invoke` calls `log` with the `len` bytes at 1024, forever.
fn log_loop(len: u32) -> String {
    format!("(loop $l (drop (call $log (i32.const 1024) (i32.const {len}))) (br $l)) (i64.const 0)")
}

/// Runs the node on another thread and waits at most `patience`: a check
/// that is missing makes the test fail instead of hang.
fn run_budget(
    wat: &str,
    limits: Limits,
    sink: &Arc<LogSink>,
    patience: Duration,
) -> (NodeError, Duration) {
    let node = build(wat, bad_spec("log")).unwrap().with_limits(limits);
    let caps: Arc<dyn Capabilities> = sink.clone();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let outcome = node.invoke(json!({}), &caps);
        let _ = done.send((outcome, start.elapsed()));
    });
    let (outcome, elapsed) = match result.recv_timeout(patience) {
        Ok(finished) => finished,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the call was still running after {patience:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the call panicked"),
    };
    let error = outcome.unwrap_err();
    assert_eq!(error.connector().as_str(), BAD_ID, "{error}");
    assert!(error.to_string().contains(BAD_ID), "{error}");
    (error, elapsed)
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    let limits = Limits::default();
    assert_eq!(limits.deadline, Duration::from_secs(10));
    assert_eq!(limits.max_host_calls, 10_000);
    assert_eq!(limits.max_request_bytes, 4 << 20);
    assert_eq!(limits.max_reply_bytes, 16 << 20);
    assert_eq!(limits.max_host_bytes, 64 << 20);
    assert_eq!(limits.table_elements, 100_000);
    assert_eq!(limits.http_timeout, Duration::from_secs(10));
}

#[test]
fn an_endless_log_loop_stops_at_the_host_call_limit() {
    // Under the default limits: fuel alone would let this run for many
    // seconds, the host doing the work.
    let sink = LogSink::new(Duration::ZERO, json!({}));
    let (error, elapsed) = run_budget(
        &log_module(1, "{}", &log_loop(2)),
        Limits::default(),
        &sink,
        Duration::from_secs(20),
    );
    assert!(
        matches!(
            error,
            NodeError::TooManyHostCalls {
                capability: Capability::Log,
                limit: 10_000,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(sink.calls(), 10_000);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        error.to_string().contains("more than 10000 host calls"),
        "{error}"
    );
}

#[test]
fn the_deadline_stops_a_loop_that_fuel_does_not() {
    // A guest loop with unlimited fuel: only the epoch deadline ends it.
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    let sink = LogSink::new(Duration::ZERO, json!({}));
    let wat = log_module(1, "", "(loop $l (br $l)) (i64.const 0)");
    let (error, elapsed) = run_budget(&wat, limits, &sink, Duration::from_secs(10));
    assert!(
        matches!(error, NodeError::Deadline { limit, .. } if limit == Duration::from_millis(200)),
        "{error}"
    );
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert!(error.to_string().contains("deadline of 200 ms"), "{error}");

    // A log loop with no call limit: the deadline ends it too.
    let limits = Limits {
        max_host_calls: u32::MAX,
        ..limits
    };
    let (error, elapsed) = run_budget(
        &log_module(1, "{}", &log_loop(2)),
        limits,
        &sink,
        Duration::from_secs(10),
    );
    assert!(matches!(error, NodeError::Deadline { .. }), "{error}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(sink.calls() > 0);
}

#[test]
fn the_deadline_stops_straight_line_calls_to_a_slow_capability() {
    // Straight-line calls to a slow capability: no loop head in between, but
    // placing each reply enters `lf_alloc`, where the epoch is checked.
    let limits = Limits {
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    // Each call alone outlasts the deadline; all six would take 1.8 s.
    let sink = LogSink::new(Duration::from_millis(300), json!({}));
    let call = "(drop (call $log (i32.const 1024) (i32.const 2)))";
    let body = format!("{} (i64.const 0)", [call; 6].join(" "));
    let (error, elapsed) = run_budget(
        &log_module(1, "{}", &body),
        limits,
        &sink,
        Duration::from_secs(10),
    );
    assert!(matches!(error, NodeError::Deadline { .. }), "{error}");
    assert_eq!(sink.calls(), 1);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn a_huge_host_request_is_refused_before_it_is_read() {
    // 15 MB of valid JSON (spaces, then `1`) in a 16 MiB memory: in bounds
    // and parseable, so only the size limit refuses it.
    let len = 15_000_000;
    let body = format!(
        "(memory.fill (i32.const 0) (i32.const 0x20) (i32.const {len}))
    (i32.store8 (i32.const {last}) (i32.const 0x31))
    (drop (call $log (i32.const 0) (i32.const {len})))
    (i64.const 0)",
        last = len - 1
    );
    let sink = LogSink::new(Duration::ZERO, json!({}));
    let (error, elapsed) = run_budget(
        &log_module(256, "", &body),
        Limits::default(),
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(
            error,
            NodeError::HostRequestTooLarge {
                capability: Capability::Log,
                len: 15_000_000,
                limit,
                ..
            } if limit == 4 << 20
        ),
        "{error}"
    );
    assert_eq!(sink.calls(), 0, "the capability never saw the request");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");

    // A tighter limit, and a length that would not even fit in memory: the
    // size is what is reported, checked first.
    let limits = Limits {
        max_request_bytes: 16,
        ..Limits::default()
    };
    let wat = log_module(
        1,
        &escaped(r#"{"line":"0123456789"}"#),
        "(drop (call $log (i32.const 1024) (i32.const 19))) (i64.const 0)",
    );
    let (error, _) = run_budget(&wat, limits, &sink, Duration::from_secs(10));
    assert!(
        matches!(
            error,
            NodeError::HostRequestTooLarge {
                len: 19,
                limit: 16,
                ..
            }
        ),
        "{error}"
    );
    let wat = log_module(
        1,
        "",
        "(drop (call $log (i32.const 0) (i32.const -1))) (i64.const 0)",
    );
    let (error, _) = run_budget(&wat, Limits::default(), &sink, Duration::from_secs(10));
    assert!(
        matches!(
            error,
            NodeError::HostRequestTooLarge {
                len: 0xffff_ffff,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(sink.calls(), 0);
}

#[test]
fn a_huge_host_reply_is_refused() {
    let call = "(drop (call $log (i32.const 1024) (i32.const 2))) (i64.const 0)";
    // 20 MB from the application, over the default 16 MiB. (Serialising the
    // first 16 MiB is the cost here, slow in an unoptimised test build, so
    // no timing is asserted.)
    let sink = LogSink::new(Duration::ZERO, json!({ "text": "x".repeat(20_000_000) }));
    let (error, _) = run_budget(
        &log_module(1, "{}", call),
        Limits::default(),
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(
            error,
            NodeError::HostReplyTooLarge {
                capability: Capability::Log,
                limit,
                ..
            } if limit == 16 << 20
        ),
        "{error}"
    );

    // A reply that would fit in the module's memory, over a tighter limit.
    let limits = Limits {
        max_reply_bytes: 1000,
        ..Limits::default()
    };
    let sink = LogSink::new(Duration::ZERO, json!({ "text": "x".repeat(2000) }));
    let (error, _) = run_budget(
        &log_module(1, "{}", call),
        limits,
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(error, NodeError::HostReplyTooLarge { limit: 1000, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("reply of `log`"), "{error}");
}

#[test]
fn host_traffic_is_budgeted_per_call() {
    // 1000-byte requests, each answered with `{"ok":{}}` (9 bytes): the
    // tenth request would take the call past 10 000 bytes.
    let request = format!("\"{}\"", "x".repeat(998));
    let limits = Limits {
        max_host_bytes: 10_000,
        ..Limits::default()
    };
    let sink = LogSink::new(Duration::ZERO, json!({}));
    let (error, _) = run_budget(
        &log_module(1, &escaped(&request), &log_loop(1000)),
        limits,
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(
            error,
            NodeError::HostTrafficLimit {
                capability: Capability::Log,
                limit: 10_000,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(sink.calls(), 9);
}

#[test]
fn table_growth_over_the_cap_is_a_table_error_not_fuel() {
    // Grow the table until it refuses; the host must not hand out host
    // memory until fuel (or the machine) gives out.
    let with_table = |wat: String, initial: u32| {
        wat.replace(
            "(memory (export",
            &format!("(table $t {initial} funcref)\n  (memory (export"),
        )
    };
    let body = "(loop $l
      (br_if $l (i32.ne (table.grow $t (ref.null func) (i32.const 50000)) (i32.const -1))))
    (i64.const 0)";
    let sink = LogSink::new(Duration::ZERO, json!({}));
    let (error, elapsed) = run_budget(
        &with_table(log_module(1, "", body), 1),
        Limits::default(),
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(
            error,
            NodeError::TableLimit {
                requested: 100_001,
                limit: 100_000,
                ..
            }
        ),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(
        error.to_string().contains("table of 100001 elements"),
        "{error}"
    );

    // A table declared over the cap fails at instantiation, the same way.
    let limits = Limits {
        table_elements: 10,
        ..Limits::default()
    };
    let (error, _) = run_budget(
        &with_table(log_module(1, "", "(i64.const 0)"), 11),
        limits,
        &sink,
        Duration::from_secs(10),
    );
    assert!(
        matches!(
            error,
            NodeError::TableLimit {
                requested: 11,
                limit: 10,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_deadline_too_far_to_count_still_runs() {
    // `Duration::MAX` in epoch ticks is capped, not overflowed, once the
    // epoch has moved on from zero.
    let node = build(&constant(r#"{"ok":{"n":7}}"#), bad_spec("")).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    assert_eq!(node.invoke(json!({}), &caps).unwrap(), json!({"n": 7}));
    std::thread::sleep(Duration::from_millis(50));
    let node = node.with_limits(Limits {
        deadline: Duration::MAX,
        ..Limits::default()
    });
    assert_eq!(node.invoke(json!({}), &caps).unwrap(), json!({"n": 7}));
}
