//! The pipeline as far as it exists, driven through the real `lf-resolve`
//! binary against a real registry: a project pointing at connectors on the
//! registry is created, edited and checked. Each landing extends this test
//! with the next stage (lock, vendor, generate, offline build, invoke).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lf_registry_fixtures::Registry;

/// The `lf-resolve` binary of this build: `target/<profile>/lf-resolve`, beside
/// the `deps/` folder holding this test. (`CARGO_BIN_EXE_*` is only set for a
/// package's own binaries.)
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join(format!("lf-resolve{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "`{}` is missing: run the tests with `cargo test --workspace` (or `cargo build -p lf-resolve` first)",
        bin.display()
    );
    bin
}

fn lf(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("LF_CACHE_DIR", dir.join(".cache"))
        .output()
        .unwrap()
}

#[test]
fn a_project_on_a_live_registry_is_created_edited_and_checked() {
    let registry = Registry::start().unwrap();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();

    assert!(lf(dir, &["init", "--name", "e2e"]).status.success());
    let text = format!("{}/latticeflow/text-upper:1.0", registry.host());
    let counter = format!("{}/latticeflow/kv-counter:1.0", registry.host());
    assert!(lf(dir, &["add", "text_upper", &text]).status.success());
    let out = lf(
        dir,
        &[
            "add",
            "kv_counter",
            &counter,
            "-c",
            "kv.read",
            "-c",
            "kv.write",
        ],
    );
    assert!(out.status.success(), "{out:?}");

    let toml = std::fs::read_to_string(dir.join("latticeflow.toml")).unwrap();
    assert!(toml.contains(&format!("ref = \"{counter}\"")), "{toml}");

    let check = lf(dir, &["check", "--message-format", "json"]);
    assert_eq!(check.status.code(), Some(1));
    let event: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(event["message"], "`latticeflow.lock` does not exist");
    assert!(!dir.join("latticeflow.lock").exists());
}
