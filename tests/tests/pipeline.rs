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

/// FNV-1a 64 of `bytes`, as the `hash` fixture computes it.
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Builds `examples/flow` beside `dir`'s vendor directory, offline, and runs it.
fn build_and_run_flow(dir: &Path, workspace: &Path) -> Vec<serde_json::Value> {
    let flow = dir.join("flow");
    std::fs::create_dir_all(flow.join("src")).unwrap();
    let template = std::fs::read_to_string(workspace.join("examples/flow/Cargo.toml.in")).unwrap();
    std::fs::write(
        flow.join("Cargo.toml"),
        template.replace(
            "@LF_RUNTIME@",
            &workspace.join("runtime").display().to_string(),
        ),
    )
    .unwrap();
    std::fs::copy(
        workspace.join("examples/flow/src/main.rs"),
        flow.join("src/main.rs"),
    )
    .unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), flow.join("Cargo.lock")).unwrap();
    let target = workspace.join("target");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&flow)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "offline build of the flow: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(
        target
            .join("debug")
            .join(format!("lf-example-flow{}", std::env::consts::EXE_SUFFIX)),
    )
    .arg("hello, flow")
    .output()
    .unwrap();
    assert!(run.status.success(), "{run:?}");
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn locked_connectors_are_generated_built_offline_and_invoked() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut registry = Registry::start().unwrap();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    // Publish and sign with lf-resolve itself, as a connector author would.
    let signed = |args: &[&str]| {
        let out = Command::new(binary())
            .args(args)
            .current_dir(dir)
            .env("COSIGN_PASSWORD", "e2e")
            .env("LF_CACHE_DIR", dir.join(".cache"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    signed(&["generate-key"]);
    let reference = |name: &str| format!("{}/latticeflow/{name}:1.0", registry.host());
    for name in ["text-upper", "kv-counter", "hash"] {
        let source = workspace.join("registry-fixtures/connectors").join(name);
        signed(&["push", source.to_str().unwrap(), &reference(name)]);
        signed(&["sign", &reference(name), "--key", "cosign.key"]);
    }
    std::fs::write(
        dir.join("latticeflow.toml"),
        format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"cosign.pub\"]\n\n[connectors.text_upper]\nref = \"{}\"\n\n[connectors.counter]\nref = \"{}\"\ncapabilities = [\"kv.read\", \"kv.write\"]\n\n[connectors.hash]\nref = \"{}\"\n\n[generate]\nruntime = {{ path = \"{}\" }}\n",
            reference("text-upper"),
            reference("kv-counter"),
            reference("hash"),
            workspace.join("runtime").display()
        ),
    )
    .unwrap();
    for args in [&["lock"][..], &["vendor"][..], &["generate"][..]] {
        let out = lf(dir, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let lock = std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap();
    assert_eq!(
        lock.matches("policy = \"required\", format = \"simple-signing\"")
            .count(),
        3,
        "{lock}"
    );
    let check = |outputs: &[serde_json::Value]| {
        assert_eq!(outputs.len(), 4, "{outputs:?}");
        assert_eq!(outputs[0]["output"]["text"], "HELLO, FLOW");
        assert_eq!(outputs[1]["output"]["count"], 1);
        assert_eq!(outputs[2]["output"]["count"], 2);
        assert_eq!(outputs[3]["output"]["digest"], fnv1a(b"HELLO, FLOW"));
        assert_eq!(outputs[3]["output"]["length"], 11);
    };
    check(&build_and_run_flow(dir, &workspace));

    // No registry, no cache: the vendor directory alone.
    registry.stop();
    std::fs::remove_dir_all(dir.join(".cache")).unwrap();
    for args in [
        &["lock", "--frozen"][..],
        &["verify"][..],
        &["generate", "--check"][..],
    ] {
        let out = lf(dir, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    std::fs::remove_dir_all(dir.join("flow")).unwrap();
    check(&build_and_run_flow(dir, &workspace));
}
