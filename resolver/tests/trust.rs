//! `lf-resolve trust add|remove` and `lf-resolve completions` as the real
//! binary. Both are local: `trust` edits `[policy] keys` of latticeflow.toml
//! (comments and layout kept, snapshots of the edited file), `completions`
//! prints a script. Keys are the real cosign public keys of
//! `tests/data/cosign` (made by the cosign tool, not by this project).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::PathBuf;

use common::{Project, Run};

fn data(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read_to_string(path).unwrap()
}

/// A project whose latticeflow.toml has comments everywhere, two keys files
/// (`keys/a.pub`, `keys/b.pub`: two different real cosign keys) and a copy
/// of `a.pub` under another name.
fn project(config: &str) -> Project {
    Project::with(&[
        ("latticeflow.toml", config),
        ("keys/a.pub", &data("cosign/cosign.pub")),
        ("keys/b.pub", &data("cosign/cosign2.pub")),
        ("elsewhere/a-copy.pub", &data("cosign/cosign.pub")),
        (
            "keys/cosign.key",
            &data("sign/cosign_generated_encrypted_empty_private.key"),
        ),
        ("keys/notes.txt", "not a key\n"),
    ])
}

const NO_POLICY: &str = r#"# The orders bundle.
[bundle]
name = "orders" # shown in the SBOM

# Connectors, by name.
[connectors.drive]
ref = "ghcr.io/acme/drive:1.0" # pinned by the lock
"#;

const WITH_POLICY: &str = r#"[bundle]
name = "orders"

# Who may sign.
[policy]
signatures = "required" # every connector
keys = [
    # The release key.
    "keys/a.pub", # rotated yearly
]

[connectors.drive]
ref = "ghcr.io/acme/drive:1.0"
"#;

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

#[test]
fn add_creates_the_policy_table_and_keeps_comments() {
    let p = project(NO_POLICY);
    let run = p.run(&["trust", "add", "keys/a.pub"]);
    assert_ok(&run);
    assert!(run.stderr.contains("Trusted"), "{}", run.stderr);
    assert!(run.stderr.contains("sha256:"), "{}", run.stderr);
    insta::assert_snapshot!("trust_add_new_policy", p.read("latticeflow.toml"));
    // The edited file is valid: `check` reads it (and finds no lock).
    let check = p.run(&["check"]);
    assert!(!check.stderr.contains("keys"), "{}", check.stderr);
}

#[test]
fn add_appends_in_the_lists_layout_and_remove_takes_it_out() {
    let p = project(WITH_POLICY);
    let run = p.run(&["trust", "add", "./keys/b.pub", "--message-format", "json"]);
    assert_ok(&run);
    let events = run.events();
    assert_eq!(events[0]["type"], "trusted");
    assert_eq!(events[0]["key"], "keys/b.pub");
    insta::assert_snapshot!("trust_add_second", p.read("latticeflow.toml"));

    let run = p.run(&["trust", "remove", "keys/a.pub"]);
    assert_ok(&run);
    assert!(run.stderr.contains("Untrusted"), "{}", run.stderr);
    insta::assert_snapshot!("trust_remove_first", p.read("latticeflow.toml"));
}

#[test]
fn adding_a_trusted_key_again_is_a_no_op() {
    let p = project(WITH_POLICY);
    for path in ["keys/a.pub", "./keys/a.pub", "elsewhere/a-copy.pub"] {
        let run = p.run(&["trust", "add", path]);
        assert_ok(&run);
        assert!(
            run.stderr.contains("already trusts") && run.stderr.contains("`keys/a.pub`"),
            "{path}: {}",
            run.stderr
        );
        assert_eq!(p.read("latticeflow.toml"), WITH_POLICY, "{path}");
    }
    let json = p.run(&["trust", "add", "keys/a.pub", "--message-format", "json"]);
    assert_eq!(json.events()[0]["type"], "trust-unchanged");
}

#[test]
fn remove_by_another_file_holding_the_same_key() {
    let p = project(WITH_POLICY);
    let run = p.run(&["trust", "remove", "elsewhere/a-copy.pub"]);
    assert_ok(&run);
    assert!(run.stderr.contains("`keys/a.pub`"), "{}", run.stderr);
    let after = p.read("latticeflow.toml");
    assert!(!after.contains("a.pub\""), "{after}");
    assert!(after.contains("# Who may sign."), "{after}");
}

/// Refusals: exit 2, the file named with what is wrong, latticeflow.toml
/// byte-for-byte as it was.
#[test]
fn bad_keys_and_unknown_entries_are_refused_and_change_nothing() {
    let p = project(WITH_POLICY);
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["trust", "add", "keys/cosign.key"],
            &["keys/cosign.key", "PUBLIC KEY", "cosign.pub"],
        ),
        (&["trust", "add", "keys/notes.txt"], &["keys/notes.txt"]),
        (
            &["trust", "add", "keys/missing.pub"],
            &["keys/missing.pub", "does not exist"],
        ),
        (&["trust", "add", "keys"], &["`keys` is a directory"]),
        (
            &["trust", "remove", "keys/b.pub"],
            &["`keys/b.pub` is not in `[policy] keys`", "keys/a.pub"],
        ),
        (
            &["trust", "remove", "keys/gone.pub"],
            &["`keys/gone.pub` is not in `[policy] keys`"],
        ),
    ];
    for (args, wanted) in cases {
        let run = p.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        for w in wanted {
            assert!(
                run.stderr.contains(w),
                "{args:?}: want {w:?} in\n{}",
                run.stderr
            );
        }
        assert_eq!(p.read("latticeflow.toml"), WITH_POLICY, "{args:?}");
    }
    // A latticeflow.toml without `[policy]` is left without one.
    let bare = project(NO_POLICY);
    let run = bare.run(&["trust", "remove", "keys/a.pub"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
    assert_eq!(bare.read("latticeflow.toml"), NO_POLICY);
}

#[test]
fn completions_name_the_commands_and_options() {
    let p = Project::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = p.run(&["completions", shell]);
        assert_ok(&run);
        // fish spells a long option `-l manifest-path`.
        let option = if shell == "fish" {
            "-l manifest-path"
        } else {
            "--manifest-path"
        };
        for word in ["lock", option, "sbom", "trust"] {
            assert!(run.stdout.contains(word), "{shell}: no {word}");
        }
        if shell == "bash" && which("bash") {
            let script = p.path().join("lf-resolve.bash");
            std::fs::write(&script, &run.stdout).unwrap();
            let syntax = std::process::Command::new("bash")
                .arg("-n")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                syntax.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&syntax.stderr)
            );
        }
    }
    let bad = p.run(&["completions", "powershell"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

fn which(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A key outside the project is recorded by its absolute path; one inside
/// it, given by an absolute path, relative to latticeflow.toml's directory.
#[test]
fn paths_are_recorded_relative_to_the_project_when_inside_it() {
    let p = project(NO_POLICY);
    let outside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cosign/cosign2.pub");
    assert_ok(&p.run(&["trust", "add", outside.to_str().unwrap()]));
    let inside = p.path().join("keys/a.pub");
    assert_ok(&p.run(&["trust", "add", inside.to_str().unwrap()]));
    let config = p.read("latticeflow.toml");
    let expected = format!(
        "keys = [{}, \"keys/a.pub\"]",
        toml_edit::Value::from(outside.to_str().unwrap())
    );
    assert!(config.contains(&expected), "{config}");
    // `check` finds both files (and then only the missing lock).
    let check = p.run(&["check"]);
    assert!(
        check.stderr.contains("latticeflow.lock"),
        "{}",
        check.stderr
    );
    assert!(!check.stderr.contains("key file"), "{}", check.stderr);
}
