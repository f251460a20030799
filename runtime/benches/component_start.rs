//! One process start of a component node, for `scripts/bench/component_start.sh`
//! (which times whole processes with hyperfine).
//!
//! Reads the component from `$LF_BENCH_COMPONENT` (a `.wasm`, or a `.wasm.gz`
//! already gunzipped by the script) and its manifest from
//! `$LF_BENCH_MANIFEST`, builds a `ComponentNode` with `ComponentNode::new`
//! (so the compiled-code cache is `$LF_CODE_CACHE`), invokes it once with
//! `$LF_BENCH_INPUT` (a JSON object) and prints the output and where the
//! native code came from (`Compiled` or `Cached`) on stderr. With
//! `LF_BENCH_EXPECT=Compiled|Cached` it fails if the code came from elsewhere,
//! so that a "warm" run that silently recompiles is not counted as warm.
//!
//! Not a criterion bench: the quantity is the first call after process
//! start, which includes loading the binary, the engine and the code.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::sync::Arc;

use lf_runtime::host::{Capabilities, ComponentNode, NoCapabilities, Node};
use lf_runtime::spec::{ConnectorManifest, NodeSpec};

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!("component_start: takes no arguments (see the module docs)");
        std::process::exit(2);
    }
    let path = std::env::var("LF_BENCH_COMPONENT").expect("LF_BENCH_COMPONENT");
    let manifest = std::env::var("LF_BENCH_MANIFEST").expect("LF_BENCH_MANIFEST");
    let input = std::env::var("LF_BENCH_INPUT").unwrap_or_else(|_| "{}".to_owned());
    let bytes = std::fs::read(&path).unwrap();
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    let manifest = ConnectorManifest::from_yaml(&yaml).unwrap();
    let spec = NodeSpec::from_manifest(
        &manifest,
        format!("sha256:{}", lf_runtime::host::sha256_hex(&bytes)),
    );
    let node = ComponentNode::new(&bytes, spec, Vec::new()).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);
    let output = node
        .invoke(serde_json::from_str(&input).unwrap(), &caps)
        .unwrap();
    let source = format!("{:?}", node.code_source());
    eprintln!("{source}: {output}");
    if let Ok(want) = std::env::var("LF_BENCH_EXPECT")
        && want != source
    {
        eprintln!("component_start: expected {want} code, got {source}");
        std::process::exit(1);
    }
}
