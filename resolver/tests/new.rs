//! `lf-resolve new` and `lf-resolve test`, through the real binary.
//!
//! The scaffold tests check what `new` writes and what it refuses. The
//! contract tests run `tests/contract.yaml` files against the ABI v1 fixture
//! connectors in the real host, with scripted KV and HTTP replies. The
//! toolchain tests build real components with the pinned componentize-py and
//! componentize-js (and cargo for wasm32-wasip2): they need the variables
//! `scripts/install-componentize.sh` prints (scripts/test.sh sets them), and
//! say why they skip when those are unset.
#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;
use lf_runtime::spec::ConnectorManifest;

/// `lf-resolve test ARGS` in `p`, with the compiled-code cache of
/// components inside the project (each test run builds new components, so
/// a shared cache would only grow).
fn run_test(p: &Project, args: &[&str]) -> common::Run {
    let cache = p.cache().join("code");
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    p.run_env(&all, &[("LF_CODE_CACHE", cache.to_str().unwrap())])
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

/// A project holding a copy of fixture connector `name` in `name/`, with
/// `contract` as its tests/contract.yaml.
fn v1_connector(name: &str, contract: &str) -> Project {
    let src = fixture(name);
    Project::with(&[
        (
            &format!("{name}/connector.yaml"),
            &std::fs::read_to_string(src.join("connector.yaml")).unwrap(),
        ),
        (
            &format!("{name}/module.wat"),
            &std::fs::read_to_string(src.join("module.wat")).unwrap(),
        ),
        (&format!("{name}/tests/contract.yaml"), contract),
    ])
}

#[test]
fn new_writes_a_complete_directory_for_each_language() {
    let p = Project::new();
    for (lang, source) in [
        ("python", "app.py"),
        ("js", "app.js"),
        ("rust", "src/lib.rs"),
    ] {
        let name = format!("greet-{lang}");
        let run = p.run(&["new", &name, "--lang", lang]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("Next steps:"), "{}", run.stderr);
        let dir = p.path().join(&name);
        let mut expected = vec![
            ".gitignore",
            "README.md",
            "build.sh",
            "connector.yaml",
            source,
            "tests/contract.yaml",
            "wit/world.wit",
        ];
        if lang == "rust" {
            expected.push("Cargo.toml");
        }
        expected.sort_unstable();
        let mut found: Vec<String> = p
            .files_under(&name)
            .keys()
            .map(|k| {
                k.strip_prefix(&dir)
                    .unwrap_or(k)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        found.sort_unstable();
        assert_eq!(found, expected, "{lang}");
        for (file, content) in p.files_under(&name) {
            let text = String::from_utf8(content).unwrap();
            assert!(
                !text.contains("{{"),
                "{}: an unfilled placeholder",
                file.display()
            );
        }
        // The id is derived from the name, and the world is exactly what
        // `lf-resolve wit` prints for that connector.yaml.
        let yaml = p.read(&format!("{name}/connector.yaml"));
        let manifest = ConnectorManifest::from_yaml(&yaml).unwrap();
        assert_eq!(
            manifest.id().as_str(),
            format!("connector.example.greet_{lang}")
        );
        let wit = p.run(&["wit", &name]);
        assert_eq!(wit.stdout, p.read(&format!("{name}/wit/world.wit")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("build.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "build.sh is executable");
        }
    }
    // The language-specific pitfalls are in the worked examples.
    assert!(
        p.read("greet-python/app.py")
            .contains("class WitWorld(wit_world.WitWorld)")
    );
    assert!(
        p.read("greet-python/app.py")
            .contains("raise Err(NodeError(")
    );
    assert!(
        p.read("greet-js/app.js")
            .contains("throw { code: \"empty_name\"")
    );
    assert!(
        p.read("greet-js/build.sh")
            .contains("-d stdio random clocks http fetch-event -o module.wasm")
    );
    assert!(
        p.read("greet-rust/Cargo.toml")
            .contains("name = \"greet_rust\"")
    );
}

#[test]
fn new_declares_the_capabilities_asked_for() {
    let p = Project::new();
    let run = p.run(&[
        "new",
        "fetch",
        "--lang",
        "js",
        "--id",
        "connector.acme.web.fetch",
        "-c",
        "http.read",
        "-c",
        "kv.read",
        "-c",
        "http.read",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // JavaScript reaches HTTP through `fetch`: no warning.
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // Python has no HTTP client over wasi:http: the author is told.
    let py = p.run(&["new", "pyfetch", "--lang", "python", "-c", "http.write"]);
    assert_eq!(py.code, 0, "{}", py.stderr);
    assert!(
        py.stderr.contains(
            "warning: `http.write` is declared, but a Python component has no HTTP client"
        ),
        "{}",
        py.stderr
    );
    let manifest = ConnectorManifest::from_yaml(&p.read("fetch/connector.yaml")).unwrap();
    assert_eq!(manifest.id().as_str(), "connector.acme.web.fetch");
    let caps: Vec<&str> = manifest.capabilities().iter().map(|c| c.as_str()).collect();
    assert_eq!(caps, ["http.read", "kv.read"]);
    assert!(!manifest.deterministic());
    let world = p.read("fetch/wit/world.wit");
    // WASI is the language runtime's to import; the world says which.
    assert!(!world.contains("import wasi:"), "{world}");
    assert!(
        world.contains("//   wasi:http/outgoing-handler@0.2.0"),
        "{world}"
    );
    assert!(world.contains("import latticeflow:capabilities/kv@0.2.0;"));
    // The kv interface is there for the toolchain to resolve.
    assert!(
        p.read("fetch/wit/deps/latticeflow-capabilities/capabilities.wit")
            .contains("package latticeflow:capabilities@0.2.0;")
    );
    // http is kept; every other feature is disabled.
    assert!(
        p.read("fetch/build.sh")
            .contains("-d stdio random clocks fetch-event -o module.wasm")
    );
}

#[test]
fn new_refuses_what_it_must_not_write_into() {
    let p = Project::with(&[("taken/keep.txt", "mine\n"), ("afile", "x")]);
    let before = p.files_under("taken");
    let run = p.run(&["new", "taken", "--lang", "python"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: `taken` already exists and is not empty"),
        "{}",
        run.stderr
    );
    assert_eq!(p.files_under("taken"), before);

    let run = p.run(&["new", "x", "--lang", "js", "--path", "afile"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`afile` exists and is not a directory"),
        "{}",
        run.stderr
    );

    #[cfg(unix)]
    {
        std::fs::create_dir(p.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(p.path().join("elsewhere"), p.path().join("link")).unwrap();
        let run = p.run(&["new", "link", "--lang", "js"]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("`link` is a symlink"), "{}", run.stderr);
        assert_eq!(
            std::fs::read_dir(p.path().join("elsewhere"))
                .unwrap()
                .count(),
            0
        );
    }

    // An empty directory is fine, as with `cargo new`.
    std::fs::create_dir(p.path().join("empty")).unwrap();
    let run = p.run(&["new", "empty", "--lang", "rust"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn new_refuses_bad_names_ids_and_capabilities() {
    let p = Project::new();
    for bad in ["Greet", "../up", "a.b", "x-"] {
        let run = p.run(&["new", bad, "--lang", "js"]);
        assert_eq!(run.code, 2, "{bad}");
        assert!(
            run.stderr.contains("is not a connector name"),
            "{}",
            run.stderr
        );
    }
    let run = p.run(&["new", "ok", "--lang", "js", "--id", "connector.x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot make connector.yaml"),
        "{}",
        run.stderr
    );
    let run = p.run(&["new", "ok", "--lang", "js", "-c", "http-read"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("http.read"), "{}", run.stderr);
    // `--registry` is for native crates, names a registry, and excludes
    // `--runtime-path`.
    let run = p.run(&["new", "ok", "--lang", "js", "--registry", "acme"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--registry"), "{}", run.stderr);
    let run = p.run(&["new", "ok", "--lang", "native", "--registry", "no/such"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such"), "{}", run.stderr);
    let run = p.run(&[
        "new",
        "ok",
        "--lang",
        "native",
        "--registry",
        "acme",
        "--runtime-path",
        ".",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    assert!(!p.path().join("ok").exists());
}

const KV_CONTRACT: &str = "\
cases:
  - name: first count
    input: {key: visits}
    output: {count: 1}
  - name: counts up from the initial state
    input: {key: visits}
    kv: {visits: \"41\"}
    output: {count: 42}
  - name: subset
    input: {key: visits}
    kv: {visits: \"1\"}
    output-subset: {count: 2}
  - name: a stored value that is no number
    input: {key: visits}
    kv: {visits: \"abc\"}
    error: {code: bad_value, retryable: false}
";

#[test]
fn test_passes_a_v1_connector_with_scripted_kv() {
    let p = v1_connector("kv-counter", KV_CONTRACT);
    let run = run_test(&p, &["kv-counter"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "running 4 cases from kv-counter/tests/contract.yaml (connector.latticeflow.kv.counter, ABI v1)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("case counts up from the initial state ... ok")
    );
    assert!(
        run.stdout
            .contains("test result: ok. 4 passed; 0 failed; 0 filtered out"),
        "{}",
        run.stdout
    );

    let run = run_test(&p, &["kv-counter", "count", "--message-format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2]["type"], "test-result");
    assert_eq!(events[2]["passed"], 2);
    assert_eq!(events[2]["filtered"], 2);
}

#[test]
fn test_fails_on_each_kind_of_mismatch() {
    let contract = "\
cases:
  - name: wrong output
    input: {key: visits}
    output: {count: 7}
  - name: wrong subset
    input: {key: visits}
    output-subset: {count: 9}
  - name: output where an error is expected
    input: {key: visits}
    error: {code: bad_value}
  - name: wrong retryable
    input: {key: visits}
    kv: {visits: \"abc\"}
    error: {code: bad_value, retryable: true}
  - name: wrong error code
    input: {key: visits}
    kv: {visits: \"abc\"}
    error: {code: kv_failed}
  - name: an error where an output is expected
    input: {key: visits}
    kv: {visits: \"abc\"}
    output: {count: 1}
  - name: passes
    input: {key: visits}
    output: {count: 1}
";
    let p = v1_connector("kv-counter", contract);
    let run = run_test(&p, &["kv-counter"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for needle in [
        "case wrong output ... FAILED",
        "case passes ... ok",
        "output differs\n  expected: {\"count\":7}\n       got: {\"count\":1}",
        "output-subset differs at `count`: expected 9, got 1",
        "expected error `bad_value`, got output {\"count\":1}",
        "error `bad_value` has retryable = false; the case expects true",
        "expected error `kv_failed`, got error `bad_value`",
        "returned error `bad_value`",
        "test result: FAILED. 1 passed; 6 failed; 0 filtered out",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            run.stdout
        );
    }
    assert!(
        run.stderr
            .contains("error: 6 of 7 contract cases failed for `connector.latticeflow.kv.counter`"),
        "{}",
        run.stderr
    );
}

#[test]
fn test_scripts_http_replies_by_method_and_url() {
    let contract = "\
cases:
  - name: fetches
    input: {url: \"https://api.example.com/x\"}
    http:
      - {method: GET, url: \"https://api.example.com/x\", status: 200, headers: {content-type: text/plain}, body: hi}
    output: {status: 200, body: hi}
  - name: a request without a scripted reply
    input: {url: \"https://api.example.com/other\"}
    http:
      - {method: GET, url: \"https://api.example.com/x\", status: 200}
    error: {code: http_failed, retryable: true}
";
    let p = v1_connector("http-fetch", contract);
    let run = run_test(&p, &["http-fetch"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("case fetches ... ok"), "{}", run.stdout);
    // The node got an error and returned its declared one, but the case
    // still fails: it asked for something not scripted, and a scripted
    // reply went unused.
    assert!(
        run.stdout
            .contains("GET https://api.example.com/other has no scripted reply"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("scripted reply to GET https://api.example.com/x was never requested"),
        "{}",
        run.stdout
    );
}

#[test]
fn test_refuses_a_contract_it_cannot_run() {
    for (contract, message) in [
        (
            "cases:\n  - name: a\n    input: {}\n    error: {code: nope}\n",
            "case `a`: expects error `nope`, which connector.yaml does not declare",
        ),
        (
            "cases:\n  - name: a\n    input: {}\n    ouput: {}\n",
            "unknown field `ouput`",
        ),
        (
            "cases:\n  - name: a\n    input: {}\n",
            "case `a`: give exactly one of `output`, `output-subset` and `error`",
        ),
        (
            "cases:\n  - name: a\n    input: {}\n    output: {}\n  - name: a\n    input: {}\n    output: {}\n",
            "case `a`: the name is used by an earlier case",
        ),
        ("cases: []\n", "`cases` is empty"),
    ] {
        let p = v1_connector("kv-counter", contract);
        let run = run_test(&p, &["kv-counter"]);
        assert_eq!(run.code, 2, "{contract}");
        assert!(
            run.stderr.contains("kv-counter/tests/contract.yaml"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(message),
            "{message:?} in {}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    let p = Project::with(&[(
        "c/connector.yaml",
        &std::fs::read_to_string(fixture("hash").join("connector.yaml")).unwrap(),
    )]);
    let run = run_test(&p, &["c"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read `c/tests/contract.yaml`"),
        "{}",
        run.stderr
    );
    p.write(
        "c/tests/contract.yaml",
        "cases:\n  - name: a\n    input: {}\n    output: {}\n",
    );
    let run = run_test(&p, &["c"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`c` holds neither module.wasm nor module.wat"),
        "{}",
        run.stderr
    );
}

// ---- real toolchains ----

/// The binary a variable of scripts/install-componentize.sh names, or why
/// the test skips.
#[test]
fn test_runs_a_component_with_scripted_kv() {
    let fixture = lf_registry_fixtures::components::kv_user("kv.read, kv.write");
    let p = Project::with(&[
        ("kv/connector.yaml", &fixture.yaml),
        (
            "kv/tests/contract.yaml",
            "cases:\n  - name: sets then gets\n    input: {key: k}\n    kv: {k: old, other: x}\n    output: {status: 0, value: v1}\n  - name: wrong on purpose\n    input: {key: k}\n    output-subset: {value: old}\n",
        ),
    ]);
    std::fs::write(p.path().join("kv/module.wasm"), fixture.bytes()).unwrap();
    let run = run_test(&p, &["kv"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("(connector.test.kv.user, ABI v2)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("case sets then gets ... ok"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("output-subset differs at `value`: expected \"old\", got \"v1\""),
        "{}",
        run.stdout
    );
}

fn tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            eprintln!(
                "skipped: {var} is not set; run `eval \"$(bash scripts/install-componentize.sh)\"` (scripts/test.sh does)"
            );
            None
        }
    }
}

fn sh(dir: &Path, script: &str, env: &[(&str, &Path)]) {
    let mut cmd = Command::new("bash");
    cmd.arg(script).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    eprintln!(
        "{script} in {} took {:.1?}",
        dir.display(),
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks `dir/module.wasm` is a valid component exporting the node's `run`
/// and importing nothing outside `allowed` prefixes.
fn assert_component(dir: &Path, allowed: &[&str]) {
    let bytes = std::fs::read(dir.join("module.wasm")).unwrap();
    assert_eq!(&bytes[..4], b"\0asm");
    assert_eq!(&bytes[6..8], &[1, 0], "a component, not a core module");
    if let Some(wasm_tools) = tool("LF_WASM_TOOLS") {
        let validate = Command::new(&wasm_tools)
            .args(["validate", "module.wasm"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            validate.status.success(),
            "{}",
            String::from_utf8_lossy(&validate.stderr)
        );
        let wit = Command::new(&wasm_tools)
            .args(["component", "wit", "module.wasm"])
            .current_dir(dir)
            .output()
            .unwrap();
        let wit = String::from_utf8(wit.stdout).unwrap();
        assert!(
            wit.contains("export run: func(input: input) -> result<output, node-error>;"),
            "{wit}"
        );
        for line in wit
            .lines()
            .filter(|l| l.trim_start().starts_with("import "))
        {
            let name = line.trim().trim_start_matches("import ");
            assert!(
                allowed.iter().any(|a| name.starts_with(a)),
                "unexpected import {name} in {}",
                dir.display()
            );
        }
    }
}

/// Changes the greeting in the source and the contract, as an author would.
fn edit_greeting(p: &Project, name: &str, source: &str) {
    let code = p.read(&format!("{name}/{source}"));
    assert!(code.contains("Hello, "), "{code}");
    p.write(
        &format!("{name}/{source}"),
        &code.replace("Hello, ", "Hi there, "),
    );
    let contract = p.read(&format!("{name}/tests/contract.yaml"));
    p.write(
        &format!("{name}/tests/contract.yaml"),
        &contract.replace("Hello, Ada!", "Hi there, Ada!"),
    );
}

/// `lf-resolve test` passes the edited connector on the ABI v2 host, and
/// fails once the contract expects what the code no longer does.
fn assert_contract_runs_on_the_component(p: &Project, name: &str) {
    let run = run_test(p, &[name]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(", ABI v2)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("test result: ok. 2 passed; 0 failed"),
        "{}",
        run.stdout
    );
    let contract = p.read(&format!("{name}/tests/contract.yaml"));
    p.write(
        &format!("{name}/tests/contract.yaml"),
        &format!(
            "{contract}  - name: the old greeting\n    input: {{name: Ada}}\n    output: {{greeting: \"Hello, Ada!\"}}\n  - name: not an error\n    input: {{name: Ada}}\n    error: {{code: empty_name}}\n"
        ),
    );
    let run = run_test(p, &[name]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for needle in [
        "case greets by name ... ok",
        "case the old greeting ... FAILED",
        "expected: {\"greeting\":\"Hello, Ada!\"}\n       got: {\"greeting\":\"Hi there, Ada!\"}",
        "expected error `empty_name`, got output {\"greeting\":\"Hi there, Ada!\"}",
        "test result: FAILED. 2 passed; 2 failed",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn python_connector_builds_into_a_component() {
    let Some(cpy) = tool("LF_COMPONENTIZE_PY") else {
        return;
    };
    let p = Project::new();
    let run = p.run(&["new", "greet", "--lang", "python"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    edit_greeting(&p, "greet", "app.py");
    sh(
        &p.path().join("greet"),
        "build.sh",
        &[("LF_COMPONENTIZE_PY", &cpy)],
    );
    // componentize-py links the WASI 0.2 interfaces its runtime uses; the
    // host sandboxes them.
    assert_component(&p.path().join("greet"), &["wasi:"]);
    assert_contract_runs_on_the_component(&p, "greet");
}

#[test]
fn js_connector_builds_into_a_component() {
    let Some(cjs) = tool("LF_COMPONENTIZE_JS") else {
        return;
    };
    let p = Project::new();
    let run = p.run(&["new", "greet", "--lang", "js"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    edit_greeting(&p, "greet", "app.js");
    sh(
        &p.path().join("greet"),
        "build.sh",
        &[("LF_COMPONENTIZE_JS", &cjs)],
    );
    // Every feature disabled: the component imports nothing at all.
    assert_component(&p.path().join("greet"), &[]);
    assert_contract_runs_on_the_component(&p, "greet");
}

#[test]
fn rust_template_is_a_cargo_package_and_builds_where_the_target_is_installed() {
    let p = Project::new();
    let run = p.run(&["new", "greet", "--lang", "rust"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = p.path().join("greet");
    // The manifest parses, offline and without resolving dependencies.
    let meta = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!(meta["packages"][0]["name"], "greet");
    assert_eq!(
        meta["packages"][0]["dependencies"][0]["name"],
        "wit-bindgen"
    );
    if std::env::var_os("LF_RUST_WASIP2").is_none() {
        eprintln!(
            "skipped the build: LF_RUST_WASIP2 is not set (scripts/test.sh sets it when the wasm32-wasip2 target is installed)"
        );
        return;
    }
    // The build needs wit-bindgen from crates.io; without a network (and an
    // empty cargo cache) there is nothing to build with.
    let fetch = Command::new(env!("CARGO"))
        .arg("fetch")
        .current_dir(&dir)
        .output()
        .unwrap();
    if !fetch.status.success() {
        eprintln!(
            "skipped the build: `cargo fetch` failed (offline?): {}",
            String::from_utf8_lossy(&fetch.stderr)
        );
        return;
    }
    edit_greeting(&p, "greet", "src/lib.rs");
    // A shared target directory keeps wit-bindgen compiled between runs.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-rust-target");
    sh(&dir, "build.sh", &[("CARGO_TARGET_DIR", &target)]);
    assert_component(&dir, &["wasi:"]);
    assert_contract_runs_on_the_component(&p, "greet");
}

/// The committed component fixture is the scaffold as `new` writes it today,
/// and its compressed build is a component.
#[test]
fn the_prebuilt_fixture_is_the_current_scaffold() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../registry-fixtures/components/greet-js");
    let p = Project::new();
    let run = p.run(&["new", "greet-js", "--lang", "js"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (path, content) in p.files_under("greet-js") {
        let rel = path.strip_prefix(p.path().join("greet-js")).unwrap();
        let committed = std::fs::read(fixture.join(rel)).unwrap();
        assert!(
            committed == content,
            "registry-fixtures/components/greet-js/{} differs from what `new` writes; run `lf-resolve new` again and registry-fixtures/components/rebuild.sh",
            rel.display()
        );
    }
    let out = Command::new("gzip")
        .args(["-dc"])
        .arg(fixture.join("module.wasm.gz"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..8], b"\0asm\x0d\0\x01\0", "a component");
    // And it passes its contract on the ABI v2 host, as the demo runs it.
    std::fs::write(p.path().join("greet-js/module.wasm"), &out.stdout).unwrap();
    // Its bytes do not change between runs, so its compiled code is cached
    // across runs (in cargo's target directory), unlike the fresh builds.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-code-cache");
    let run = p.run_env(
        &["test", "greet-js"],
        &[("LF_CODE_CACHE", cache.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("(connector.example.greet_js, ABI v2)")
            && run.stdout.contains("test result: ok. 2 passed; 0 failed"),
        "{}",
        run.stdout
    );
}

/// A JavaScript connector that declares `http.read` and calls `fetch`: its
/// requests reach the case's scripted replies through the ABI v2 host's HTTP
/// policy, and a request nobody scripted fails the case. The scaffold builds
/// as written: componentize-js imports wasi:http itself.
#[test]
fn js_connector_fetches_through_scripted_http() {
    let Some(cjs) = tool("LF_COMPONENTIZE_JS") else {
        return;
    };
    let p = Project::new();
    let run = p.run(&["new", "fetch", "--lang", "js", "-c", "http.read"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    p.write(
        "fetch/app.js",
        "export async function run(input) {\n  const response = await fetch(`https://api.example.com/hello?name=${encodeURIComponent(input.name)}`);\n  return { greeting: `${response.status} ${await response.text()}` };\n}\n",
    );
    p.write(
        "fetch/tests/contract.yaml",
        "cases:\n  - name: fetches\n    input: {name: Ada}\n    http:\n      - {method: GET, url: \"https://api.example.com/hello?name=Ada\", status: 200, body: \"Hello, Ada!\"}\n    output: {greeting: \"200 Hello, Ada!\"}\n  - name: asks for another URL\n    input: {name: Bob}\n    http:\n      - {method: GET, url: \"https://api.example.com/hello?name=Ada\", status: 200}\n    output: {greeting: \"200 \"}\n",
    );
    sh(
        &p.path().join("fetch"),
        "build.sh",
        &[("LF_COMPONENTIZE_JS", &cjs)],
    );
    assert_component(
        &p.path().join("fetch"),
        &["wasi:io/", "wasi:http/", "wasi:clocks/"],
    );
    let run = run_test(&p, &["fetch"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for needle in [
        "case fetches ... ok",
        "case asks for another URL ... FAILED",
        "GET https://api.example.com/hello?name=Bob has no scripted reply",
        "scripted reply to GET https://api.example.com/hello?name=Ada was never requested",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            run.stdout
        );
    }
}
