//! `lf_wrapper_gen::native`: snapshots of the code a native connector's
//! build script generates, and the build-time errors of a malformed manifest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use lf_runtime::spec::ConnectorManifest;
use lf_wrapper_gen::native::{NATIVE_OUT_FILE, NativeError, build, generate_native};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/native")
        .join(name)
        .join("connector.yaml");
    std::fs::read_to_string(path).unwrap()
}

fn generated(yaml: &str) -> String {
    generate_native(&ConnectorManifest::from_yaml(yaml).unwrap()).unwrap()
}

#[test]
fn pure_fixture() {
    insta::assert_snapshot!("word_count", generated(&fixture("word_count")));
}

#[test]
fn kv_fixture() {
    insta::assert_snapshot!("kv_tally", generated(&fixture("kv_tally")));
}

/// Bytes fields (the base64 adapter is inlined), keyword field names, every
/// capability, no declared errors, no group segment.
#[test]
fn every_capability_and_odd_names() {
    let yaml = "\
id: connector.acme.match
inputs:
  - name: type
    type: bytes
  - name: self
    type: optional<list<bytes>>
outputs:
  - name: ok
    type: bool
effects: []
deterministic: false
capabilities: [http.read, http.write, kv.read, kv.write, db.read, db.write, clock, random, log]
";
    let code = generated(yaml);
    for field in [
        "pub http_read: ::lf_runtime::host::native::HttpRead",
        "pub db_write: ::lf_runtime::host::native::DbWrite",
        "pub clock: ::lf_runtime::host::native::Clock",
        "mod base64_serde",
        "pub r#type: Vec<u8>",
        "rename = \"self\"",
    ] {
        assert!(code.contains(field), "missing {field}:\n{code}");
    }
    insta::assert_snapshot!("every_capability", code);
}

/// Only declared capabilities get a field: the pure fixture's caps struct
/// is empty, the KV one has exactly its two handles.
#[test]
fn only_declared_handles() {
    let pure = generated(&fixture("word_count"));
    assert!(!pure.contains("::lf_runtime::host::native::Kv"), "{pure}");
    let kv = generated(&fixture("kv_tally"));
    assert!(kv.contains("pub kv_read: ::lf_runtime::host::native::KvRead"));
    assert!(kv.contains("pub kv_write: ::lf_runtime::host::native::KvWrite"));
    assert!(!kv.contains("HttpRead") && !kv.contains("pub log"), "{kv}");
}

#[test]
fn equal_manifests_give_equal_code() {
    assert_eq!(
        generated(&fixture("kv_tally")),
        generated(&fixture("kv_tally"))
    );
}

#[test]
fn build_writes_the_file_and_rewrites_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("connector.yaml");
    std::fs::write(&manifest, fixture("word_count")).unwrap();
    let out = build(&manifest, dir.path()).unwrap();
    assert_eq!(out, dir.path().join(NATIVE_OUT_FILE));
    let first = std::fs::metadata(&out).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    build(&manifest, dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().modified().unwrap(), first);
}

/// A malformed manifest stops the build with `file:line:col`, the message
/// and the offending line; nothing is written.
#[test]
fn malformed_manifest_errors_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("connector.yaml");
    let cases = [
        (
            fixture("kv_tally").replace(
                "capabilities: [kv.read, kv.write]",
                "capabilities: [kv.read, kv.wirte]",
            ),
            ":16:25: ",
            "kv.wirte",
        ),
        (
            fixture("word_count").replace("    type: int", "    type: integer"),
            ":10:11: ",
            "integer",
        ),
        (
            fixture("word_count").replace("inputs:\n", "inputs:\n  - name: [\n"),
            ":",
            "name: [",
        ),
    ];
    for (yaml, at, line) in cases {
        std::fs::write(&manifest, &yaml).unwrap();
        let err = build(&manifest, dir.path()).unwrap_err();
        assert!(matches!(err, NativeError::Manifest { .. }), "{err}");
        let text = err.to_string();
        let prefix = format!("{}{at}", manifest.display());
        assert!(text.starts_with(&prefix), "{text}\nwanted prefix {prefix}");
        assert!(text.contains(line) && text.contains('^'), "{text}");
        assert!(!dir.path().join(NATIVE_OUT_FILE).exists());
    }
}

#[test]
fn a_symlinked_or_huge_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.yaml");
    std::fs::write(&real, fixture("word_count")).unwrap();
    let link = dir.path().join("connector.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(matches!(
        build(&link, dir.path()).unwrap_err(),
        NativeError::NotAFile { .. }
    ));
    let huge = dir.path().join("huge.yaml");
    std::fs::write(&huge, "#".repeat(1024 * 1024 + 1)).unwrap();
    assert!(matches!(
        build(&huge, dir.path()).unwrap_err(),
        NativeError::TooLarge { .. }
    ));
}
