//! The pipeline as far as it exists, driven through the real `lf-resolve`
//! binary against a real registry holding the fixture connectors: a project
//! is created, edited, locked, and checked again offline with the registry
//! stopped. Each landing extends this test with the next stage (sign, vendor,
//! generate, offline build, invoke).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use lf_e2e::{build_offline, lf, ok, workspace, workspace_profiles};
use lf_registry_fixtures::Registry;

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
        ok(lf(dir, &args), &format!("{args:?}"));
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
        ok(lf(dir, args), &format!("{args:?}"));
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
    // The template, with this workspace's profiles: the same compiler
    // settings, so the shared target directory's build is reused.
    let template = std::fs::read_to_string(workspace.join("examples/flow/Cargo.toml.in")).unwrap();
    std::fs::write(
        flow.join("Cargo.toml"),
        format!("{template}{}", workspace_profiles()),
    )
    .unwrap();
    std::fs::copy(
        workspace.join("examples/flow/src/main.rs"),
        flow.join("src/main.rs"),
    )
    .unwrap();
    let run = Command::new(build_offline(&flow, "lf-example-flow"))
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
    let workspace = workspace();
    let mut registry = Registry::start().unwrap();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    // Publish and sign with lf-resolve itself, as a connector author would.
    ok(lf(dir, &["generate-key"]), "generate-key");
    let reference = |name: &str| format!("{}/latticeflow/{name}:1.0", registry.host());
    for name in ["text-upper", "kv-counter", "hash"] {
        let source = workspace.join("registry-fixtures/connectors").join(name);
        ok(
            lf(dir, &["push", source.to_str().unwrap(), &reference(name)]),
            "push",
        );
        ok(
            lf(dir, &["sign", &reference(name), "--key", "cosign.key"]),
            "sign",
        );
    }
    std::fs::write(
        dir.join("latticeflow.toml"),
        format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"cosign.pub\"]\n\n[connectors.text_upper]\nref = \"{}\"\n\n[connectors.counter]\nref = \"{}\"\ncapabilities = [\"kv.read\", \"kv.write\"]\n\n[connectors.hash]\nref = \"{}\"\n",
            reference("text-upper"),
            reference("kv-counter"),
            reference("hash"),
        ),
    )
    .unwrap();
    for args in [&["lock"][..], &["vendor"][..], &["generate"][..]] {
        ok(lf(dir, args), &format!("{args:?}"));
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
    // The generated crates use the lf-runtime copy beside them, not this
    // checkout's.
    let connector =
        std::fs::read_to_string(dir.join("vendor/crates/connector_latticeflow/Cargo.toml"))
            .unwrap();
    assert!(
        connector.contains("lf-runtime = { path = \"../lf-runtime\" }"),
        "{connector}"
    );
    assert!(dir.join("vendor/crates/lf-runtime/src/lib.rs").is_file());

    // No registry, no cache: the vendor directory alone.
    registry.stop();
    std::fs::remove_dir_all(dir.join(".cache")).unwrap();
    for args in [
        &["lock", "--frozen"][..],
        &["verify"][..],
        &["generate", "--check"][..],
    ] {
        ok(lf(dir, args), &format!("{args:?}"));
    }

    // The project, moved anywhere outside this checkout, builds offline: the
    // files a user would commit, and nothing else.
    let moved = tempfile::tempdir().unwrap();
    assert!(!moved.path().starts_with(&workspace));
    for name in ["latticeflow.toml", "latticeflow.lock", "cosign.pub"] {
        std::fs::copy(dir.join(name), moved.path().join(name)).unwrap();
    }
    copy_tree(&dir.join("vendor"), &moved.path().join("vendor"));
    drop(project);
    ok(
        lf(moved.path(), &["generate", "--check"]),
        "generate --check",
    );
    check(&build_and_run_flow(moved.path(), &workspace));
}

/// Copies the directory `from` to `to` (regular files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            assert!(kind.is_file(), "{}", entry.path().display());
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A project with one connector of the fixture registry, locked (signatures
/// not required) and generated with the default `[generate]` settings.
fn generated_project(registry: &Registry) -> tempfile::TempDir {
    let pushed = lf_registry_fixtures::push_all_blocking(registry).unwrap();
    let text = pushed.iter().find(|p| p.name == "text-upper").unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("latticeflow.toml"),
        format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.text_upper]\nref = \"{}\"\n",
            text.reference
        ),
    )
    .unwrap();
    for args in [&["lock"][..], &["generate"][..]] {
        ok(lf(project.path(), args), &format!("{args:?}"));
    }
    project
}

#[test]
fn generate_check_covers_the_runtime_copy() {
    let registry = Registry::start().unwrap();
    let project = generated_project(&registry);
    let dir = project.path();
    let lib = dir.join("vendor/crates/lf-runtime/src/lib.rs");
    let original = std::fs::read_to_string(&lib).unwrap();
    let manifest =
        std::fs::read_to_string(dir.join("vendor/crates/lf-runtime/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"lf-runtime\""), "{manifest}");
    assert!(!manifest.contains("workspace"), "{manifest}");
    assert!(lf(dir, &["generate", "--check"]).status.success());

    std::fs::write(&lib, format!("{original}\n// edited\n")).unwrap();
    let drift = lf(dir, &["generate", "--check"]);
    assert_eq!(drift.status.code(), Some(1), "{drift:?}");
    let stderr = String::from_utf8_lossy(&drift.stderr);
    assert!(
        stderr.contains("lf-runtime/src/lib.rs` differs"),
        "{stderr}"
    );

    assert!(lf(dir, &["generate"]).status.success());
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), original);

    // A runtime named in `[generate]` is used instead of the copy.
    let toml = std::fs::read_to_string(dir.join("latticeflow.toml")).unwrap();
    std::fs::write(
        dir.join("latticeflow.toml"),
        format!("{toml}\n[generate]\nruntime = {{ version = \"0.1\" }}\n"),
    )
    .unwrap();
    ok(lf(dir, &["generate", "--out", "other"]), "generate --out");
    assert!(!dir.join("other/lf-runtime").exists());
    let connector =
        std::fs::read_to_string(dir.join("other/connector_latticeflow/Cargo.toml")).unwrap();
    assert!(
        connector.contains("lf-runtime = { version = \"0.1\" }"),
        "{connector}"
    );
}

#[cfg(unix)]
#[test]
fn generate_writes_nothing_through_a_symlink() {
    let registry = Registry::start().unwrap();
    let project = generated_project(&registry);
    let dir = project.path();
    let crates = dir.join("vendor/crates");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Cargo.toml"), "not yours\n").unwrap();
    // `link`: the end of the path the error names.
    let expect_refusal = |dir: &Path, args: &[&str], link: &str| {
        let out = lf(dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{link}` is a symbolic link")),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(outside.path().join("Cargo.toml")).unwrap(),
            "not yours\n"
        );
        assert!(!outside.path().join("src").exists(), "{args:?}");
    };

    // A crate directory replaced by a link to somewhere else.
    let link = crates.join("connector_latticeflow");
    std::fs::remove_dir_all(&link).unwrap();
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    // Every path is checked before anything is written.
    std::fs::remove_dir_all(crates.join("latticeflow_connectors")).unwrap();
    let named = "vendor/crates/connector_latticeflow";
    expect_refusal(dir, &["generate"], named);
    assert!(!crates.join("latticeflow_connectors").exists());
    expect_refusal(dir, &["generate", "--check"], named);

    // The output directory itself, inside the project.
    std::fs::remove_dir_all(dir.join("vendor/crates")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &crates).unwrap();
    expect_refusal(dir, &["generate"], "vendor/crates");

    // Below `--out`.
    let out = dir.join("elsewhere");
    std::fs::create_dir(&out).unwrap();
    let link = out.join("lf-runtime");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    expect_refusal(
        dir,
        &["generate", "--out", "elsewhere"],
        "elsewhere/lf-runtime",
    );
}

/// A connector with one input past the limit (its module otherwise
/// text-upper's) is pushed around `lf-resolve push`, which would refuse it:
/// `lock` refuses it too, naming the connector and the limit, and writes no
/// lock, so no wrapper crate rustc cannot build is ever generated.
#[test]
fn lock_refuses_a_connector_with_too_many_fields() {
    let registry = Registry::start().unwrap();
    let text = lf_registry_fixtures::fixture("text-upper").unwrap();
    let mut yaml = String::from("id: connector.wide.too_wide\ninputs:\n");
    for i in 0..=1024 {
        yaml.push_str(&format!("  - name: f{i}\n    type: string\n"));
    }
    yaml.push_str(
        "outputs:\n  - name: text\n    type: string\neffects: []\ndeterministic: true\ncapabilities: []\n",
    );
    let module = lf_registry_fixtures::embed_manifest(&text.bare_module, &yaml).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(lf_registry_fixtures::push_connector(
            &registry.host(),
            "latticeflow/too-wide",
            "1.0",
            &module,
            &lf_registry_fixtures::PushOptions::default(),
        ))
        .unwrap();

    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::write(
        dir.join("latticeflow.toml"),
        format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.wide]\nref = \"{}/latticeflow/too-wide:1.0\"\n",
            registry.host()
        ),
    )
    .unwrap();
    let out = lf(dir, &["lock"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connector `wide`"), "{stderr}");
    assert!(
        stderr.contains("1025 fields; a connector may declare at most 1024 inputs"),
        "{stderr}"
    );
    assert!(!dir.join("latticeflow.lock").exists());
}
