//! Per-call cost of the host and the start-up cost of the digest check.
//!
//! - `invoke/trivial`: instantiate + `lf_abi_version` + `lf_alloc` +
//!   `lf_invoke` + output parse and check, for a module that returns
//!   `{"ok":{}}` (compiled once, outside the measurement). Target: < 50 µs.
//! - `invoke/text_upper`: the same for the `text-upper` fixture connector.
//! - `invoke/component_words`: an ABI v2 call of the word-counter component
//!   (registry-fixtures/src/components.rs): a fresh store, an empty WASI
//!   sandbox (clocks, seeded random), instantiation, `run` with a string in,
//!   a record out, converted and checked.
//! - `component/compile_words`, `component/cached_words`: building that
//!   node with Cranelift, and from the compiled-code cache.
//! - `digest/sha256_10mib`: `check_sha256` of a 10 MiB module, what
//!   `WasmNode::from_locked` pays once before compiling.

#![allow(clippy::unwrap_used)]

#[path = "../../registry-fixtures/src/components.rs"]
#[allow(dead_code, unreachable_pub)]
mod fixtures;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lf_runtime::host::{
    Capabilities, CodeCache, CodeSource, ComponentNode, DigestCheck, NoCapabilities, Node,
    WasmNode, check_sha256, sha256_hex,
};
use lf_runtime::spec::{ConnectorManifest, NodeSpec};
use serde_json::json;

const TRIVIAL: &str = r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "{\"ok\":{}}")
  (func (export "lf_abi_version") (result i32) (i32.const 1))
  (func (export "lf_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
  (func (export "lf_invoke") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 9))))"#;

const TRIVIAL_YAML: &str = "\
id: connector.bench.trivial.noop
inputs: []
outputs: []
effects: []
deterministic: true
capabilities: []
";

fn node(wat: &str, yaml: &str) -> WasmNode {
    let bytes = wat::parse_str(wat).unwrap();
    let manifest = ConnectorManifest::from_yaml(yaml).unwrap();
    let spec = NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(&bytes)));
    WasmNode::new(&bytes, spec).unwrap()
}

fn invoke(c: &mut Criterion) {
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let trivial = node(TRIVIAL, TRIVIAL_YAML);
    let upper = node(
        include_str!("../../registry-fixtures/connectors/text-upper/module.wat"),
        include_str!("../../registry-fixtures/connectors/text-upper/connector.yaml"),
    );
    let mut group = c.benchmark_group("invoke");
    group.bench_function("trivial", |b| {
        b.iter(|| trivial.invoke(black_box(json!({})), &caps).unwrap());
    });
    group.bench_function("text_upper", |b| {
        b.iter(|| {
            upper
                .invoke(black_box(json!({"text": "hello, world"})), &caps)
                .unwrap()
        });
    });
    let fixture = fixtures::word_counter();
    let bytes = fixture.bytes();
    let manifest = ConnectorManifest::from_yaml(&fixture.yaml).unwrap();
    let spec = NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(&bytes)));
    let words =
        ComponentNode::with_cache(&bytes, spec, Vec::new(), &CodeCache::disabled()).unwrap();
    group.bench_function("component_words", |b| {
        b.iter(|| {
            words
                .invoke(black_box(json!({"text": "hello, wide world"})), &caps)
                .unwrap()
        });
    });
    group.finish();
}

fn component(c: &mut Criterion) {
    let fixture = fixtures::word_counter();
    let bytes = fixture.bytes();
    let manifest = ConnectorManifest::from_yaml(&fixture.yaml).unwrap();
    let spec = NodeSpec::from_manifest(&manifest, format!("sha256:{}", sha256_hex(&bytes)));
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::at(dir.path());
    let mut group = c.benchmark_group("component");
    group.bench_function("compile_words", |b| {
        b.iter(|| {
            ComponentNode::with_cache(&bytes, spec.clone(), Vec::new(), &CodeCache::disabled())
                .unwrap()
        });
    });
    ComponentNode::with_cache(&bytes, spec.clone(), Vec::new(), &cache).unwrap();
    group.bench_function("cached_words", |b| {
        b.iter(|| {
            let node = ComponentNode::with_cache(&bytes, spec.clone(), Vec::new(), &cache).unwrap();
            assert_eq!(node.code_source(), CodeSource::Cached);
            node
        });
    });
    group.finish();
}

fn digest(c: &mut Criterion) {
    let module: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
    let locked = format!("sha256:{}", sha256_hex(&module));
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Bytes(module.len() as u64));
    group.sample_size(20);
    group.bench_function("sha256_10mib", |b| {
        b.iter(|| {
            assert_eq!(
                check_sha256(black_box(&module), &locked),
                DigestCheck::Match
            );
        });
    });
    group.finish();
}

criterion_group!(benches, invoke, component, digest);
criterion_main!(benches);
