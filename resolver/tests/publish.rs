//! `lf-resolve push` (and, as it lands, `sign` and `inspect`) against a real
//! registry.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::PathBuf;

use common::Project;
use lf_registry_fixtures::{Registry, push_all_blocking};

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

#[test]
fn push_is_reproducible_and_matches_an_independent_pusher() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let dir = fixture_dir("hash");
    let reference = format!("{}/authors/hash:1.0", registry.host());
    let source = "https://example.com/latticeflow/connectors/hash";
    let first = p.run(&[
        "push",
        dir.to_str().unwrap(),
        &reference,
        "--source",
        source,
    ]);
    assert_eq!(first.code, 0, "{first:?}");
    let digest = first.stdout.trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let again = p.run(&[
        "push",
        dir.to_str().unwrap(),
        &reference,
        "--source",
        source,
        "--message-format",
        "json",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    let event = &again.events()[0];
    assert_eq!(event["digest"], digest.as_str(), "same inputs, same digest");

    // The fixture pusher (oci-client, its own manifest writer) makes the same
    // artifact from the same WAT and YAML: same bytes, same digest.
    let pushed = push_all_blocking(&registry).unwrap();
    let independent = pushed.iter().find(|f| f.name == "hash").unwrap();
    assert_eq!(independent.manifest_digest, digest);

    // And it locks.
    p.write(
        "latticeflow.toml",
        &format!("[policy]\nsignatures = \"none\"\n\n[connectors.hash]\nref = \"{reference}\"\n"),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    assert!(p.read("latticeflow.lock").contains(&digest));
}

#[test]
fn push_refuses_a_module_that_does_not_match_its_manifest() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    p.write(
        "bad/connector.yaml",
        "id: connector.acme.bad.writer\ninputs: []\noutputs: []\neffects: []\ndeterministic: true\ncapabilities: []\n",
    );
    p.write(
        "bad/module.wat",
        r#"(module
  (import "lf:cap" "http_write" (func (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "lf_abi_version") (result i32) i32.const 1)
  (func (export "lf_alloc") (param i32) (result i32) i32.const 0)
  (func (export "lf_invoke") (param i32 i32) (result i64) i64.const 0))"#,
    );
    let reference = format!("{}/authors/bad:1.0", registry.host());
    let run = p.run(&["push", "bad", &reference]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("but its manifest does not declare `http.write`"),
        "{}",
        run.stderr
    );

    let missing = p.run(&["push", "nowhere", &reference]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("nowhere/connector.yaml"),
        "{}",
        missing.stderr
    );
}
