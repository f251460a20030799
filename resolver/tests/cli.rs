//! Drives the real `lf-resolve` binary: file edits, checks, exit codes,
//! output formats, and a table of malformed inputs.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lf-resolve");
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// A throwaway project directory.
struct Project {
    dir: tempfile::TempDir,
}

/// What a run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn with(files: &[(&str, &str)]) -> Project {
        let p = Project::new();
        for (name, content) in files {
            p.write(name, content);
        }
        p
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, content: &str) {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env("LF_CACHE_DIR", self.path().join(".cache"))
            .env("NO_COLOR", "1")
            .env_remove("LF_LOG")
            .output()
            .unwrap();
        let filter = |s: &[u8]| {
            String::from_utf8_lossy(s).replace(&self.path().display().to_string(), "[PROJECT]")
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: filter(&out.stdout),
            stderr: filter(&out.stderr),
        }
    }

    /// Every file under the project and its bytes.
    fn snapshot_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.path(), &mut out);
        out
    }
}

const COMMENTED: &str = r#"# Orders flow: connectors we depend on.
[bundle]
name = "orders-flow"   # shown in the bundle metadata

[policy]
signatures = "none"

# Google Drive: listing only.
[connectors.drive_files]
ref = "registry.example.com/latticeflow/google-drive-files-list:0.3"
capabilities = ["http.read"]  # read-only
signature = { policy = "none" }

[generate]
out = "vendor/crates" # committed
"#;

#[test]
fn add_keeps_comments_and_layout() {
    let p = Project::with(&[("latticeflow.toml", COMMENTED)]);
    let run = p.run(&[
        "add",
        "counter",
        "localhost:5000/lf/kv-counter:1",
        "-c",
        "kv.write",
        "-c",
        "kv.read",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!("add_after", p.read("latticeflow.toml"));
    insta::assert_snapshot!("add_stderr", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn add_updates_an_existing_connector_in_place() {
    let p = Project::with(&[("latticeflow.toml", COMMENTED)]);
    let run = p.run(&[
        "add",
        "drive_files",
        "registry.example.com/latticeflow/google-drive-files-list:0.4",
        "--capability",
        "http.read",
        "--capability",
        "log",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let after = p.read("latticeflow.toml");
    insta::assert_snapshot!("update_after", after);
    assert!(
        after.contains("signature = { policy = \"none\" }"),
        "other keys survive"
    );
    assert!(run.stderr.contains("Updated drive_files"), "{}", run.stderr);
}

#[test]
fn remove_keeps_the_rest_of_the_file() {
    let p = Project::with(&[("latticeflow.toml", COMMENTED)]);
    assert_eq!(
        p.run(&["add", "counter", "localhost:5000/lf/kv-counter:1"])
            .code,
        0
    );
    let run = p.run(&["remove", "drive_files"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!("remove_after", p.read("latticeflow.toml"));
    assert_eq!(
        run.stderr.trim(),
        "Removed drive_files from latticeflow.toml"
    );
}

#[test]
fn init_then_add_then_check() {
    let p = Project::new();
    let run = p.run(&["init", "--name", "demo"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!("init", p.read("latticeflow.toml"));
    assert_eq!(p.run(&["init"]).code, 2, "init refuses to overwrite");
    assert_eq!(p.run(&["add", "a", "localhost:5000/a:1"]).code, 0);
    let check = p.run(&["check"]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(
        check.stderr.contains("`latticeflow.lock` does not exist"),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("help: run `lf-resolve lock`"),
        "{}",
        check.stderr
    );
}

#[test]
fn the_manifest_is_found_in_a_parent_directory() {
    let p = Project::with(&[("latticeflow.toml", COMMENTED), ("sub/dir/.keep", "")]);
    let out = Command::new(BIN)
        .args(["add", "x", "localhost:5000/x:1"])
        .current_dir(p.path().join("sub/dir"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(p.read("latticeflow.toml").contains("[connectors.x]"));
}

fn config(signatures: &str, connectors: &[(&str, &str, &str)]) -> String {
    let mut s = format!("[policy]\nsignatures = \"{signatures}\"\n");
    for (name, reference, caps) in connectors {
        s.push_str(&format!(
            "\n[connectors.{name}]\nref = \"{reference}\"\ncapabilities = {caps}\n"
        ));
    }
    s
}

fn lock_entry(name: &str, reference: &str, caps: &str, policy: &str) -> String {
    format!(
        "\n[[connector]]\nname = \"{name}\"\nid = \"connector.acme.{name}\"\nref = \"{reference}\"\ndigest = \"{D1}\"\nmodule = {{ digest = \"{D2}\", size = 10 }}\nconfig = {{ digest = \"{D3}\", size = 2 }}\ncapabilities = {caps}\ngrants = {caps}\ndeterministic = true\nsignature = {{ policy = \"{policy}\" }}\n"
    )
}

fn lock(entries: &[String]) -> String {
    format!(
        "# Generated by lf-resolve. Do not edit.\nversion = 1\n{}",
        entries.concat()
    )
}

#[test]
fn check_passes_on_a_fresh_lock_and_names_every_stale_reason() {
    let toml = config(
        "none",
        &[
            ("alpha", "localhost:5000/lf/alpha:1", "[\"http.read\"]"),
            ("beta", "localhost:5000/lf/beta:1", "[]"),
        ],
    );
    let fresh = lock(&[
        lock_entry(
            "alpha",
            "localhost:5000/lf/alpha:1",
            "[\"http.read\"]",
            "none",
        ),
        lock_entry("beta", "localhost:5000/lf/beta:1", "[]", "none"),
    ]);
    let p = Project::with(&[("latticeflow.toml", &toml), ("latticeflow.lock", &fresh)]);
    let ok = p.run(&["check"]);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(
        ok.stderr.trim(),
        "Checked latticeflow.toml and latticeflow.lock: 2 connectors, the lock is up to date"
    );
    let json = p.run(&["check", "--message-format", "json"]);
    assert_eq!(json.code, 0);
    let event: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(event["type"], "check");
    assert_eq!(event["status"], "fresh");
    assert_eq!(event["connectors"], 2);
    assert_eq!(p.run(&["check", "-q"]).stderr, "");

    let changed = config(
        "required",
        &[
            (
                "alpha",
                "localhost:5000/lf/alpha:2",
                "[\"http.read\", \"log\"]",
            ),
            ("gamma", "localhost:5000/lf/gamma:1", "[]"),
        ],
    );
    p.write("latticeflow.toml", &changed);
    let stale = p.run(&["check"]);
    assert_eq!(stale.code, 1, "{stale:?}");
    insta::assert_snapshot!("check_stale", stale.stderr);
    let json = p.run(&["check", "--message-format", "json"]);
    let event: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(event["type"], "error");
    assert_eq!(event["exit_code"], 1);
    assert_eq!(event["reasons"].as_array().unwrap().len(), 5, "{event}");
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let p = Project::new();
    let help = p.run(&["--help"]);
    assert_eq!(help.code, 0);
    insta::assert_snapshot!("help", help.stdout);
    let add = p.run(&["add", "--help"]);
    assert_eq!(add.code, 0);
    insta::assert_snapshot!("add_help", add.stdout);
}

/// One malformed input: the files, the command, and what the error must say.
struct Bad {
    name: &'static str,
    toml: String,
    lock: Option<String>,
    args: &'static [&'static str],
    code: i32,
    /// Substrings of stderr, including the `file:line:col` location when the
    /// problem is in a file.
    expect: &'static [&'static str],
}

fn bad(
    name: &'static str,
    toml: &str,
    args: &'static [&'static str],
    expect: &'static [&'static str],
) -> Bad {
    Bad {
        name,
        toml: toml.to_owned(),
        lock: None,
        args,
        code: 2,
        expect,
    }
}

fn bad_lock(name: &'static str, lock: String, expect: &'static [&'static str]) -> Bad {
    Bad {
        name,
        toml: config(
            "none",
            &[("alpha", "localhost:5000/lf/alpha:1", "[\"http.read\"]")],
        ),
        lock: Some(lock),
        args: &["check"],
        code: 2,
        expect,
    }
}

fn bad_inputs() -> Vec<Bad> {
    let ok_toml = config(
        "none",
        &[("alpha", "localhost:5000/lf/alpha:1", "[\"http.read\"]")],
    );
    let entry = lock_entry(
        "alpha",
        "localhost:5000/lf/alpha:1",
        "[\"http.read\"]",
        "none",
    );
    let good_lock = lock(std::slice::from_ref(&entry));
    let check: &'static [&'static str] = &["check"];
    vec![
        bad(
            "truncated toml",
            "[connectors.a]\nref = \"localhost:5000/a",
            check,
            &["latticeflow.toml:2:"],
        ),
        bad(
            "unclosed table header",
            "[connectors.a\n",
            check,
            &["latticeflow.toml:1:"],
        ),
        bad(
            "unknown top-level key",
            "[bundel]\nname = \"x\"\n",
            check,
            &["latticeflow.toml:1:2", "unknown field `bundel`"],
        ),
        bad(
            "unknown connector key",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapability = [\"log\"]\n",
            check,
            &["latticeflow.toml:3:1", "unknown field `capability`"],
        ),
        bad(
            "ref of the wrong type",
            "[connectors.a]\nref = 1\n",
            check,
            &["latticeflow.toml:2:7", "string"],
        ),
        bad(
            "capabilities as a string",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapabilities = \"log\"\n",
            check,
            &["latticeflow.toml:3:16"],
        ),
        bad(
            "missing ref",
            "[connectors.a]\ncapabilities = []\n",
            check,
            &["latticeflow.toml:1:", "missing field `ref`"],
        ),
        bad(
            "uppercase repository",
            "[connectors.a]\nref = \"localhost:5000/Lf/a:1\"\n",
            check,
            &["latticeflow.toml:2:7", "must be lowercase"],
        ),
        bad(
            "bad port",
            "[connectors.a]\nref = \"localhost:99999/a:1\"\n",
            check,
            &["latticeflow.toml:2:7", "port"],
        ),
        bad(
            "bad digest in ref",
            "[connectors.a]\nref = \"localhost:5000/a@sha256:abc\"\n",
            check,
            &["latticeflow.toml:2:7", "64 hex digits"],
        ),
        bad(
            "scheme in ref",
            "[connectors.a]\nref = \"https://ghcr.io/a/b:1\"\n",
            check,
            &["latticeflow.toml:2:7", "https"],
        ),
        bad(
            "unknown capability",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapabilities = [\"fs.write\"]\n",
            check,
            &["latticeflow.toml:3:17", "unknown capability `fs.write`"],
        ),
        bad(
            "capability twice",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapabilities = [\"log\", \"log\"]\n",
            check,
            &["latticeflow.toml:3:24", "granted twice"],
        ),
        bad(
            "duplicate connector",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\n[connectors.a]\nref = \"localhost:5000/b:1\"\n",
            check,
            &["latticeflow.toml:3:", "duplicate"],
        ),
        bad(
            "bad connector name",
            "[connectors.Drive-Files]\nref = \"localhost:5000/a:1\"\n",
            check,
            &[
                "latticeflow.toml:1:13",
                "invalid connector name `Drive-Files`",
            ],
        ),
        bad(
            "registry name with scheme",
            "[registries.\"https://ghcr.io\"]\nprotocol = \"https\"\n",
            check,
            &["latticeflow.toml:1:13", "registry"],
        ),
        bad(
            "mirror with a path",
            "[registries.\"ghcr.io\"]\nmirrors = [\"localhost:5000/mirror\"]\n",
            check,
            &["latticeflow.toml:2:12", "mirror"],
        ),
        bad(
            "bad protocol",
            "[registries.\"ghcr.io\"]\nprotocol = \"ftp\"\n",
            check,
            &["latticeflow.toml:2:12", "unknown variant `ftp`"],
        ),
        bad(
            "bad signature policy",
            "[policy]\nsignatures = \"sometimes\"\n",
            check,
            &["latticeflow.toml:2:14", "unknown variant `sometimes`"],
        ),
        bad(
            "keys and identity",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\nsignature = { keys = [\"k.pub\"], identity = \"me@x.io\", issuer = \"https://x.io\" }\n",
            check,
            &["latticeflow.toml:3:13", "both `keys` and a keyless"],
        ),
        bad(
            "identity without issuer",
            "[connectors.a]\nref = \"localhost:5000/a:1\"\nsignature = { identity = \"me@x.io\" }\n",
            check,
            &[
                "latticeflow.toml:3:13",
                "needs both `identity` and `issuer`",
            ],
        ),
        bad(
            "zero timeout",
            "[network]\ntimeout-secs = 0\n",
            check,
            &["latticeflow.toml:2:16", "at least 1"],
        ),
        bad(
            "negative retries",
            "[network]\nretries = -1\n",
            check,
            &["latticeflow.toml:2:11"],
        ),
        bad(
            "runtime with version and path",
            "[generate]\nruntime = { version = \"0.1\", path = \"../runtime\" }\n",
            check,
            &["latticeflow.toml:2:11", "exactly one of"],
        ),
        bad(
            "missing key file",
            "[policy]\nkeys = [\"keys/missing.pub\"]\n",
            check,
            &[
                "latticeflow.toml:2:9",
                "key file `keys/missing.pub` does not exist",
            ],
        ),
        bad(
            "missing sidecar manifest",
            "[policy]\nsignatures = \"none\"\n[connectors.a]\nref = \"localhost:5000/a:1\"\nmanifest = \"connectors/a.yaml\"\n",
            check,
            &[
                "latticeflow.toml:5:12",
                "manifest file `connectors/a.yaml` does not exist",
            ],
        ),
        bad(
            "add: bad name",
            &ok_toml,
            &["add", "Bad", "localhost:5000/a:1"],
            &["invalid connector name `Bad`"],
        ),
        bad(
            "add: bad reference",
            &ok_toml,
            &["add", "b", "localhost:5000/a::1"],
            &["invalid reference `localhost:5000/a::1`"],
        ),
        bad(
            "add: unknown capability",
            &ok_toml,
            &["add", "b", "localhost:5000/b:1", "-c", "http.delete"],
            &["unknown capability `http.delete`"],
        ),
        bad(
            "add: capability twice",
            &ok_toml,
            &["add", "b", "localhost:5000/b:1", "-c", "log", "-c", "log"],
            &["capability `log` is given twice"],
        ),
        bad(
            "add to an invalid file",
            "[connectors.a]\nref = 7\n",
            &["add", "b", "localhost:5000/b:1"],
            &["latticeflow.toml:2:7"],
        ),
        bad(
            "remove unknown",
            &ok_toml,
            &["remove", "zeta"],
            &["no connector named `zeta`", "its connectors are: alpha"],
        ),
        bad(
            "unknown subcommand",
            &ok_toml,
            &["lok"],
            &["unrecognized subcommand 'lok'"],
        ),
        bad(
            "bad message format",
            &ok_toml,
            &["check", "--message-format", "xml"],
            &["invalid value 'xml'"],
        ),
        bad_lock(
            "lock from a future version",
            "# Generated by lf-resolve. Do not edit.\nversion = 2\n[[connector]]\nfuture = true\n"
                .into(),
            &[
                "latticeflow.lock:2:11",
                "newer than this lf-resolve supports",
                "help: upgrade lf-resolve",
            ],
        ),
        bad_lock(
            "lock without version",
            "[[connector]]\nname = \"alpha\"\n".into(),
            &["latticeflow.lock:1:1", "missing `version`"],
        ),
        bad_lock(
            "lock with malformed digest",
            good_lock.replace(D2, "sha256:XYZ"),
            &["latticeflow.lock:9:21", "lowercase hex"],
        ),
        bad_lock(
            "lock with short digest",
            good_lock.replace(D1, "sha256:1234"),
            &["latticeflow.lock:8:10", "64 hex digits, found 4"],
        ),
        bad_lock(
            "lock with unsorted connectors",
            lock(&[
                lock_entry("beta", "localhost:5000/lf/b:1", "[]", "none"),
                entry.clone(),
            ]),
            &[
                "latticeflow.lock:17:8",
                "not sorted by name: `alpha` comes after `beta`",
            ],
        ),
        bad_lock(
            "lock with duplicated connector",
            lock(&[entry.clone(), entry]),
            &["latticeflow.lock:17:8", "connector `alpha` appears twice"],
        ),
        bad_lock(
            "lock with unknown key",
            good_lock.replace("deterministic = true", "deterministic = true\nbuilt-at = 5"),
            &["latticeflow.lock:", "unknown field `built-at`"],
        ),
        bad_lock(
            "lock granting less than requested",
            good_lock.replace("grants = [\"http.read\"]", "grants = []"),
            &[
                "latticeflow.lock:11:17",
                "`http.read` is requested but not in `grants`",
            ],
        ),
        bad_lock(
            "lock with required policy and no signature",
            good_lock.replace("policy = \"none\"", "policy = \"required\""),
            &["latticeflow.lock:14:13", "records no verified signature"],
        ),
        bad_lock(
            "truncated lock",
            good_lock[..good_lock.len() - 20].to_owned(),
            &["latticeflow.lock:14:"],
        ),
    ]
}

#[test]
fn malformed_inputs_fail_clearly_and_change_nothing() {
    let cases = bad_inputs();
    assert!(cases.len() >= 30, "the table holds {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let p = Project::with(&[("latticeflow.toml", &case.toml)]);
        if let Some(lock) = &case.lock {
            p.write("latticeflow.lock", lock);
        }
        let before = p.snapshot_files();
        let run = p.run(case.args);
        let after = p.snapshot_files();
        let mut problems = Vec::new();
        if run.code != case.code {
            problems.push(format!("exit code {} instead of {}", run.code, case.code));
        }
        for needle in case.expect {
            if !run.stderr.contains(needle) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if before != after {
            problems.push("files were modified".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stderr ---\n{}",
                case.name,
                problems.join("; "),
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn errors_in_json_name_file_line_and_column() {
    let p = Project::with(&[(
        "latticeflow.toml",
        "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapabilities = [\"fs.write\"]\n",
    )]);
    let run = p.run(&["check", "--message-format", "json"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, "");
    let event: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(event["type"], "error");
    assert_eq!(event["file"], "latticeflow.toml");
    assert_eq!(event["line"], 3);
    assert_eq!(event["column"], 17);
    assert_eq!(event["exit_code"], 2);
}

#[test]
fn errors_render_the_offending_line() {
    let p = Project::with(&[(
        "latticeflow.toml",
        "[connectors.a]\nref = \"localhost:5000/a:1\"\ncapabilities = [\"fs.write\"]\n",
    )]);
    let run = p.run(&["check"]);
    insta::assert_snapshot!("rendered_error", run.stderr);
}
