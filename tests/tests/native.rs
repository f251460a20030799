//! Native connectors end to end: the two fixture crates in
//! `registry-fixtures/native/` and a crate scaffolded by
//! `lf-resolve new --lang native` are built by cargo on their own (offline,
//! outside this workspace, as an author builds them) and certify their
//! nodes, registered in a real `NodeRegistry`, against their contract
//! vectors with `lf-certify`. The same builds show that reaching
//! an undeclared capability does not compile and that a malformed
//! `connector.yaml` stops the build at its line and column.
//!
//! Each crate is copied to a temporary directory, gets this workspace's
//! `Cargo.lock` and builds, offline, in its target directory. Its
//! dependencies compile once more (a standalone crate unifies other feature
//! sets than this workspace, so nothing is shared), and all of them at
//! opt-level 0: unlike the workspace, whose profiles optimise Cranelift so
//! that tests compile large components quickly, a native node never
//! compiles WebAssembly, and those profiles cost about 550 s of CPU here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lf_e2e::{lf, ok, workspace};

/// Runs `cargo <args> --offline` in `dir` with the workspace's target directory.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let (cargo_args, tool_args) = match args.iter().position(|a| *a == "--") {
        Some(i) => args.split_at(i),
        None => (args, &[][..]),
    };
    Command::new(env!("CARGO"))
        .args(cargo_args)
        .arg("--offline")
        .args(tool_args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", workspace().join("target"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Gives the crate in `dir` this workspace's lock (so it builds offline) and
/// a dev profile without debug info (the cheapest build of its dependencies).
fn prepare(dir: &Path) {
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let manifest = dir.join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    toml.push_str("\n[profile.dev]\ndebug = false\n");
    std::fs::write(manifest, toml).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The fixture `name` copied into `tmp/copy`, its path dependencies made
/// absolute.
fn fixture(tmp: &Path, name: &str, copy: &str) -> PathBuf {
    let dir = tmp.join(copy);
    copy_dir(
        &workspace().join("registry-fixtures/native").join(name),
        &dir,
    );
    let manifest = dir.join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let root = format!("{}/", workspace().display());
    assert!(toml.contains("\"../../../runtime\""), "{toml}");
    std::fs::write(&manifest, toml.replace("../../../", &root)).unwrap();
    prepare(&dir);
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn fixtures_pass_their_contracts_and_a_broken_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["word_count", "kv_tally"] {
        let dir = fixture(tmp.path(), name, name);
        let out = cargo(&dir, &["test"]);
        let log = text(&out);
        assert!(out.status.success(), "{name}: {log}");
        assert!(log.contains("test certified_passed ... ok"), "{log}");
    }

    // The vectors can fail: the longest word becomes the last of equal length.
    let dir = fixture(tmp.path(), "word_count", "word_count_broken");
    edit(
        &dir.join("src/lib.rs"),
        "word.chars().count() > l.chars().count()",
        "word.chars().count() >= l.chars().count()",
    );
    let out = cargo(&dir, &["test", "--test", "certify"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("contract::the first of equally long words wins ... FAILED"),
        "{log}"
    );

    // An error code the manifest does not declare is a broken contract, not
    // the node's result.
    let dir = fixture(tmp.path(), "kv_tally", "kv_tally_undeclared");
    edit(
        &dir.join("src/lib.rs"),
        "tally_errors::BAD_KEY,",
        "\"invalid_key\",",
    );
    let out = cargo(&dir, &["test", "--test", "certify"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("error code `invalid_key`, which connector.yaml does not declare"),
        "{log}"
    );
}

#[test]
fn scaffold_builds_tests_and_enforces_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greet");
    let root = workspace();
    ok(
        lf(
            tmp.path(),
            &[
                "new",
                "greet",
                "--lang",
                "native",
                "-c",
                "kv.read",
                "--runtime-path",
                root.to_str().unwrap(),
            ],
        ),
        "new --lang native",
    );
    for file in [
        "Cargo.toml",
        "build.rs",
        "connector.yaml",
        "src/lib.rs",
        "tests/contract.yaml",
        "tests/certify.rs",
        "README.md",
        ".gitignore",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    prepare(&dir);
    let out = cargo(&dir, &["test"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("test certified ... ok"), "{log}");

    // The declared handle is there...
    let lib = dir.join("src/lib.rs");
    let original = std::fs::read_to_string(&lib).unwrap();
    edit(
        &lib,
        "let name = input.name.trim();",
        "let _ = _caps.kv_read.get(\"seen\");\n        let name = input.name.trim();",
    );
    let out = cargo(&dir, &["build"]);
    assert!(out.status.success(), "{}", text(&out));

    // ...an undeclared one does not compile.
    std::fs::write(&lib, &original).unwrap();
    edit(
        &lib,
        "let name = input.name.trim();",
        "let _ = _caps.kv_write.set(\"seen\", \"1\");\n        let name = input.name.trim();",
    );
    let out = cargo(&dir, &["build"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("no field `kv_write` on type `&GreetCaps`"),
        "{log}"
    );
    std::fs::write(&lib, &original).unwrap();

    // A malformed connector.yaml stops the build at its line and column.
    let manifest = dir.join("connector.yaml");
    let good = std::fs::read_to_string(&manifest).unwrap();
    let line = good
        .lines()
        .position(|l| l == "capabilities: [kv.read]")
        .unwrap()
        + 1;
    edit(
        &manifest,
        "capabilities: [kv.read]",
        "capabilities: [kv.raed]",
    );
    let out = cargo(&dir, &["build"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    let at = format!("{}:{line}:16: ", manifest.canonicalize().unwrap().display());
    let at_plain = format!("{}:{line}:16: ", manifest.display());
    assert!(
        log.contains(&at) || log.contains(&at_plain),
        "{log}\nwanted {at}"
    );
    assert!(log.contains("unknown capability `kv.raed`"), "{log}");
}

#[test]
fn new_native_refuses_a_runtime_path_that_is_not_a_source_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = lf(
        tmp.path(),
        &[
            "new",
            "greet",
            "--lang",
            "native",
            "--runtime-path",
            empty.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let log = text(&out);
    assert!(log.contains("not an lf-resolve source tree"), "{log}");
    assert!(!tmp.path().join("greet").exists(), "nothing is written");

    let out = lf(
        tmp.path(),
        &["new", "greet", "--lang", "rust", "--runtime-path", "."],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("only for `--lang native`"));
    assert!(!tmp.path().join("greet").exists());
}

/// Generated code is clean under `cargo clippy -D warnings` with
/// `missing_docs`, and its docs build without warnings, in both fixtures. Ignored by default: the first run
/// checks every dependency (about a minute); run with `--ignored`.
#[test]
#[ignore = "slow: cargo clippy of the fixtures and their dependencies"]
fn fixtures_and_generated_code_are_clippy_clean() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["word_count", "kv_tally"] {
        let dir = fixture(tmp.path(), name, name);
        let out = cargo(
            &dir,
            &[
                "clippy",
                "--all-targets",
                "--",
                "-D",
                "warnings",
                "-W",
                "missing_docs",
            ],
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        // The generated docs' links resolve, and none is redundant.
        let out = Command::new(env!("CARGO"))
            .args(["doc", "--no-deps", "--offline"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", workspace().join("target"))
            .env("RUSTDOCFLAGS", "-D warnings")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out));
    }
}

/// A manifest with every capability, `bytes` fields and field names that are
/// Rust keywords: the generated handles, the base64 adapter and the escaped
/// names compile, and a call goes through every handle.
#[test]
fn every_handle_bytes_and_keywords_compile_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture(tmp.path(), "word_count", "every_capability");
    std::fs::remove_dir_all(dir.join("tests")).unwrap();
    edit(
        &dir.join("Cargo.toml"),
        "name = \"lf-native-word-count\"",
        "name = \"every-capability\"",
    );
    std::fs::write(dir.join("connector.yaml"), EVERY_YAML).unwrap();
    std::fs::write(dir.join("src/lib.rs"), EVERY_LIB).unwrap();
    let out = cargo(&dir, &["test"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("test tests::through_every_handle ... ok"),
        "{log}"
    );
}

const EVERY_YAML: &str = r#"id: connector.acme.match
inputs:
  - name: type
    type: bytes
  - name: self
    type: optional<list<bytes>>
outputs:
  - name: ok
    type: bool
  - name: raw
    type: bytes
effects: []
deterministic: false
capabilities: [http.read, http.write, kv.read, kv.write, db.read, db.write, clock, random, log]
"#;

const EVERY_LIB: &str = r#"//! Every capability, bytes fields and keyword names.
include!(concat!(env!("OUT_DIR"), "/connector.rs"));

/// The node.
#[derive(Debug, Default)]
pub struct Match;

impl MatchNode for Match {
    fn run(&self, input: MatchInput, caps: &MatchCaps) -> Result<MatchOutput, lf_runtime::host::native::Failure> {
        caps.log.log("info", "hi")?;
        let _ = caps.clock.now()?;
        let _ = caps.random.bytes(4)?;
        let _ = caps.http_read.request(&serde_json::json!({}))?;
        let _ = caps.http_write.request(&serde_json::json!({}))?;
        let _ = caps.db_read.query(&serde_json::json!({}))?;
        let _ = caps.db_write.execute(&serde_json::json!({}))?;
        caps.kv_write.delete("x")?;
        let _ = caps.kv_read.get("x")?;
        Ok(MatchOutput { ok: input.self_.is_some(), raw: input.r#type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn through_every_handle() {
        struct All;
        impl lf_runtime::host::Capabilities for All {
            fn http_read(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
            fn http_write(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
            fn db_read(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
            fn db_write(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
            fn kv_read(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({"value": null})) }
            fn kv_write(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
            fn clock(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({"unix_ms": 1})) }
            fn random(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!("AAAA")) }
            fn log(&self, _: &lf_runtime::spec::ConnectorId, _: &serde_json::Value) -> lf_runtime::host::HostResult { Ok(serde_json::json!({})) }
        }
        let mut registry = lf_runtime::host::NodeRegistry::new();
        match_register(&mut registry).unwrap();
        let caps: std::sync::Arc<dyn lf_runtime::host::Capabilities> = std::sync::Arc::new(All);
        let out = registry.invoke("connector.acme.match", serde_json::json!({"type": "AQI=", "self": ["AQI="]}), &caps).unwrap();
        assert_eq!(out, serde_json::json!({"ok": true, "raw": "AQI="}));
    }
}
"#;
