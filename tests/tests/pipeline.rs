//! The pipeline as far as it exists, driven through the real `lf-resolve`
//! binary against a real registry holding the fixture connectors: a project
//! is created, edited, locked, and checked again offline with the registry
//! stopped. Each landing extends this test with the next stage (sign, vendor,
//! generate, offline build, invoke).
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
fn a_project_is_created_locked_and_rebuilt_offline_from_the_store() {
    let mut registry = Registry::start().unwrap();
    let pushed = lf_registry_fixtures::push_all_blocking(&registry).unwrap();
    let reference = |name: &str| {
        pushed
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.reference.clone())
            .unwrap()
    };
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();

    assert!(lf(dir, &["init", "--name", "e2e"]).status.success());
    let toml = std::fs::read_to_string(dir.join("latticeflow.toml")).unwrap();
    std::fs::write(
        dir.join("latticeflow.toml"),
        toml.replace("signatures = \"required\"", "signatures = \"none\""),
    )
    .unwrap();
    for (name, fixture, caps) in [
        ("text_upper", "text-upper", &[][..]),
        (
            "counter",
            "kv-counter",
            &["-c", "kv.read", "-c", "kv.write"][..],
        ),
        ("hash", "hash", &[][..]),
    ] {
        let r = reference(fixture);
        let mut args = vec!["add", name, r.as_str()];
        args.extend_from_slice(caps);
        let out = lf(dir, &args);
        assert!(out.status.success(), "{out:?}");
    }

    let check = lf(dir, &["check", "--message-format", "json"]);
    assert_eq!(check.status.code(), Some(1), "no lock yet");

    let lock = lf(dir, &["lock"]);
    assert!(lock.status.success(), "{lock:?}");
    let locked = std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap();
    assert_eq!(locked.matches("[[connector]]").count(), 3);
    assert!(lf(dir, &["check"]).status.success());

    // CI on a machine whose registry is gone: everything from the store.
    registry.stop();
    for args in [&["lock", "--frozen"][..], &["verify"][..], &["lock"][..]] {
        let out = lf(dir, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap(),
        locked
    );
}
