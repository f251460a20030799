//! `lf-resolve certify DIR` end to end: the real binary certifies the
//! registry fixtures (PASSED, or WARNED for a documented reason), fails the
//! four connectors built to fail each check for the right reason (naming the
//! case and the check), writes the two in-toto statements atomically and
//! never through a symlink, and refuses bad contracts without writing
//! anything.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certify/tests/fixtures")
}

fn registry_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

/// Copies a connector directory (its three files) into the project.
fn copy_dir(from: &Path, p: &Project, to: &str) {
    for file in ["connector.yaml", "module.wat", "tests/contract.yaml"] {
        p.write(
            &format!("{to}/{file}"),
            &std::fs::read_to_string(from.join(file)).unwrap(),
        );
    }
}

fn certify(dir: &Path, extra: &[&str]) -> common::Run {
    let p = Project::new();
    let mut args = vec!["certify", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    p.run(&args)
}

#[test]
fn registry_fixtures_certify_passed_or_warned() {
    for (name, verdict) in [
        ("text-upper", "PASSED"),
        ("json-reshape", "PASSED"),
        ("http-fetch", "PASSED"),
        ("kv-counter", "WARNED"),
        ("hash", "PASSED"),
    ] {
        let run = certify(&registry_fixture(name), &[]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains(&format!("certification result: {verdict}.")),
            "{name}: {}",
            run.stdout
        );
    }
    // kv-counter's one warning: a declared code no case can reach.
    let run = certify(&registry_fixture("kv-counter"), &[]);
    assert!(
        run.stdout
            .contains("contract::declared-error::bad_host_reply ... WARNED"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_undeclared_error_code_fails_the_contract_check() {
    let run = certify(&fixtures().join("undeclared-error"), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("contract::missing text ... FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("returned error code `invalid_input`, which connector.yaml does not declare"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("certification result: FAILED."),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("failed certification: contract::missing text"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_deterministic_node_reading_the_clock_fails_the_determinism_check() {
    let run = certify(&fixtures().join("clock-reader"), &["--runs", "3"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("determinism::reads the clock ... FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("run 2 of 3 (clock 1800000000007 ms, seed 0x")
            && run.stdout.contains("differs from run 1 at `now.unix_ms`"),
        "{}",
        run.stdout
    );
    // The first run used the default clock, so the contract itself passes.
    assert!(
        run.stdout.contains("contract::reads the clock ... ok"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_idempotent_node_that_writes_again_on_replay_fails_the_idempotency_check() {
    let run = certify(&fixtures().join("replay-writes"), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("idempotency::counts up ... FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("replaying the case gives another outcome at `count`")
            && run
                .stdout
                .contains("first run wrote: [kv.write {\"key\":\"visits\",\"value\":\"42\"}]")
            && run
                .stdout
                .contains("replay wrote: [kv.write {\"key\":\"visits\",\"value\":\"43\"}]"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_declared_but_unused_write_capability_warns() {
    let run = certify(&fixtures().join("unused-write"), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for line in [
        "capabilities::http.write ... WARNED",
        "idempotency::declared-not-idempotent ... WARNED",
        "`http.write` is declared but no case uses it",
        "certification result: WARNED. 5 passed; 2 warned; 0 failed",
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
    }
}

#[test]
fn json_lines_name_every_check_and_end_with_the_result() {
    let p = Project::new();
    let dir = fixtures().join("unused-write");
    let run = p.run(&["--message-format", "json", "certify", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let events = run.events();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "certification");
    assert_eq!(last["result"], "WARNED");
    assert_eq!(last["warned"], 2);
    let warned: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "check" && e["result"] == "WARNED")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        warned,
        [
            "idempotency::declared-not-idempotent",
            "capabilities::http.write"
        ]
    );
}

fn sha256_file_of_wat(path: &Path) -> String {
    let bytes = wat::parse_file(path).unwrap();
    lf_certify::module_digest(&bytes)
}

#[test]
fn output_writes_both_statements_deterministically() {
    let p = Project::new();
    copy_dir(&registry_fixture("kv-counter"), &p, "kv");
    let run = p.run(&["certify", "kv", "--output", "out"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let test_result: Value =
        serde_json::from_str(&p.read("out/statement-test-result.json")).unwrap();
    let certification: Value =
        serde_json::from_str(&p.read("out/statement-certification.json")).unwrap();
    let digest = sha256_file_of_wat(&p.path().join("kv/module.wat"));
    let hex = digest.strip_prefix("sha256:").unwrap();
    for statement in [&test_result, &certification] {
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["subject"],
            serde_json::json!([{"name": "connector.latticeflow.kv.counter", "digest": {"sha256": hex}}])
        );
    }
    assert_eq!(
        test_result["predicateType"],
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    let predicate = &test_result["predicate"];
    assert_eq!(predicate["result"], "WARNED");
    assert_eq!(
        predicate["warnedTests"],
        serde_json::json!(["contract::declared-error::bad_host_reply"])
    );
    assert_eq!(predicate["failedTests"], serde_json::json!([]));
    assert!(
        predicate["passedTests"]
            .as_array()
            .unwrap()
            .contains(&Value::from("idempotency::declared-not-idempotent"))
    );
    let contract = std::fs::read(p.path().join("kv/tests/contract.yaml")).unwrap();
    assert_eq!(
        predicate["configuration"][0]["digest"]["sha256"],
        lf_certify::module_digest(&contract)
            .strip_prefix("sha256:")
            .unwrap()
    );
    assert_eq!(predicate["configuration"][1]["name"], "lf-certify");
    assert_eq!(
        certification["predicateType"],
        "https://latticeflow.dev/attestation/certification/v0.1"
    );
    assert_eq!(certification["predicate"]["result"], "WARNED");
    assert_eq!(certification["predicate"]["node"], "abi-v1");
    assert_eq!(
        certification["predicate"]["enforcement"]["enforced-by-linking"],
        serde_json::json!([
            "clock",
            "db.read",
            "db.write",
            "http.read",
            "http.write",
            "log",
            "random"
        ])
    );

    // Certifying again gives the same bytes.
    let before = p.read("out/statement-certification.json");
    let run = p.run(&["certify", "kv", "--output", "out"]);
    assert_eq!(run.code, 0);
    assert_eq!(p.read("out/statement-certification.json"), before);
    let leftovers: Vec<_> = std::fs::read_dir(p.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn output_never_writes_through_a_symlink() {
    let p = Project::new();
    copy_dir(&registry_fixture("hash"), &p, "hash");
    std::fs::create_dir(p.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(p.path().join("elsewhere"), p.path().join("link")).unwrap();
    let run = p.run(&["certify", "hash", "--output", "link"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is a symlink"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(p.path().join("elsewhere"))
            .unwrap()
            .count(),
        0
    );

    // A statement file that is a symlink is refused too, and its target kept.
    std::fs::create_dir(p.path().join("out")).unwrap();
    p.write("victim", "keep");
    std::os::unix::fs::symlink(
        p.path().join("victim"),
        p.path().join("out/statement-certification.json"),
    )
    .unwrap();
    let run = p.run(&["certify", "hash", "--output", "out"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is a symlink"), "{}", run.stderr);
    assert_eq!(p.read("victim"), "keep");
    assert!(!p.path().join("out/statement-test-result.json").exists());
}

/// Each bad contract: the error names the file and the place, the exit code
/// is 2, and the output directory is not created.
#[test]
fn bad_contracts_are_refused_and_nothing_is_written() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "cases:\n  - name: a\n    input: {text: [1, 2}\n    output: {}\n",
            "kv/tests/contract.yaml:3:",
            "syntax",
        ),
        (
            "cases:\n  - name: a\n    input: {key: x}\n    output: {count: 1}\n    ouptut: {}\n",
            "kv/tests/contract.yaml:5:",
            "unknown key",
        ),
        (
            "cases:\n  - name: typo\n    input: {kye: visits}\n    output: {count: 1}\n",
            "case `typo`: input `kye` is not declared by connector.yaml (inputs: key)",
            "undeclared input",
        ),
        (
            "cases:\n  - name: fetches\n    input: {key: visits}\n    output: {count: 1}\n    http: [{method: GET, url: 'https://a.example/', status: 200}]\n",
            "case `fetches`: scripts `http` replies, but connector.yaml declares neither `http.read` nor `http.write`",
            "undeclared capability",
        ),
    ];
    for (contract, expected, what) in cases {
        let p = Project::new();
        copy_dir(&registry_fixture("kv-counter"), &p, "kv");
        p.write("kv/tests/contract.yaml", contract);
        let run = p.run(&["certify", "kv", "--output", "out"]);
        assert_eq!(run.code, 2, "{what}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(expected), "{what}: {}", run.stderr);
        assert!(!p.path().join("out").exists(), "{what}");
        // `test` refuses it the same way.
        let run = p.run(&["test", "kv"]);
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
    }
    // A schema violation names the value's path.
    let p = Project::new();
    copy_dir(&registry_fixture("http-fetch"), &p, "fetch");
    p.write(
        "fetch/tests/contract.yaml",
        "cases:\n  - name: a\n    input: {url: 'https://a.example/'}\n    output: {status: 200, body: ''}\n    http: [{method: GET, url: 'https://a.example/', status: 700}]\n",
    );
    let run = p.run(&["certify", "fetch"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("fetch/tests/contract.yaml:5:61: cases[0].http[0].status: "),
        "{}",
        run.stderr
    );
}

/// What `new` scaffolds validates against the schema and its own manifest,
/// whatever the capabilities.
#[test]
fn new_scaffolds_a_valid_contract() {
    for (lang, caps) in [
        ("js", vec![]),
        ("python", vec!["--capability", "kv.read"]),
        (
            "rust",
            vec!["--capability", "http.read", "--capability", "db.write"],
        ),
    ] {
        let p = Project::new();
        let mut args = vec!["new", "c", "--lang", lang];
        args.extend(caps);
        let run = p.run(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let manifest =
            lf_runtime::spec::ConnectorManifest::from_yaml(&p.read("c/connector.yaml")).unwrap();
        let spec = lf_runtime::spec::NodeSpec::from_manifest(&manifest, "sha256:00");
        let contract = lf_certify::Contract::from_yaml(&p.read("c/tests/contract.yaml"), &spec);
        assert!(contract.is_ok(), "{lang}: {contract:?}");
    }
}

/// The prebuilt JavaScript component certifies on the ABI v2 host: its
/// clock and random are fixed by the host (not declared), so every
/// determinism run agrees.
#[test]
fn the_prebuilt_component_certifies() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../registry-fixtures/components/greet-js");
    let p = Project::new();
    for file in ["connector.yaml", "tests/contract.yaml"] {
        p.write(
            &format!("greet/{file}"),
            &std::fs::read_to_string(fixture.join(file)).unwrap(),
        );
    }
    let out = Command::new("gzip")
        .args(["-dc"])
        .arg(fixture.join("module.wasm.gz"))
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(p.path().join("greet/module.wasm"), &out.stdout).unwrap();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-code-cache");
    let run = p.run_env(
        &["certify", "greet", "--runs", "3", "--output", "out"],
        &[("LF_CODE_CACHE", cache.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("certifying connector.example.greet_js (ABI v2)")
            && run.stdout.contains("determinism::greets by name ... ok")
            && run.stdout.contains("certification result: PASSED."),
        "{}",
        run.stdout
    );
    let certification: Value =
        serde_json::from_str(&p.read("out/statement-certification.json")).unwrap();
    assert_eq!(certification["predicate"]["node"], "abi-v2");
    assert!(
        certification["predicate"]["enforcement"]["clock"]
            .as_str()
            .unwrap()
            .starts_with("fixed by the host"),
        "{certification}"
    );
}

/// A component declared deterministic that reads a declared clock: the
/// harness varies the clock between runs (through the host's determinism
/// probe) and the outputs differ. Without `clock` the host fixes the clock,
/// and the same component certifies.
#[test]
fn a_deterministic_component_reading_a_declared_clock_fails_determinism() {
    for (capabilities, code, verdict) in [("clock", 1, "FAILED"), ("", 0, "PASSED")] {
        let fixture = lf_registry_fixtures::components::clock_reader(capabilities);
        let p = Project::new();
        p.write(
            "c/connector.yaml",
            &fixture
                .yaml
                .replace("deterministic: false", "deterministic: true"),
        );
        p.write(
            "c/tests/contract.yaml",
            "cases:\n  - name: now\n    input: {}\n    output: {seconds: 1700000000}\n",
        );
        std::fs::write(p.path().join("c/module.wasm"), fixture.bytes()).unwrap();
        let run = p.run(&["certify", "c", "--runs", "2"]);
        assert_eq!(run.code, code, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains(&format!("certification result: {verdict}.")),
            "{}",
            run.stdout
        );
        if code == 1 {
            assert!(
                run.stdout.contains("determinism::now ... FAILED")
                    && run.stdout.contains("differs from run 1 at `seconds`"),
                "{}",
                run.stdout
            );
        }
    }
}

/// `kv-after`, an error's `message` and unused `host-errors` are part of the
/// contract: a case that gets them wrong fails, in `test` and `certify`.
#[test]
fn kv_after_messages_and_unused_host_errors_are_checked() {
    let cases = [
        (
            "cases:\n  - name: counts\n    input: {key: visits}\n    kv: {visits: \"41\"}\n    kv-after: {visits: \"41\"}\n    output: {count: 42}\n",
            "kv-after differs",
        ),
        (
            "cases:\n  - name: counts\n    input: {}\n    error: {code: invalid_input, message: \"another message\"}\n",
            "error `invalid_input` has message \"input `key` must be a string\"; the case expects \"another message\"",
        ),
        (
            "cases:\n  - name: counts\n    input: {key: visits}\n    kv-after: {}\n    host-errors: {kv.write: [{code: a}, {code: b}]}\n    error: {code: kv_failed}\n",
            "1 scripted `kv.write` host error was never served",
        ),
    ];
    for (contract, expected) in cases {
        let p = Project::new();
        copy_dir(&registry_fixture("kv-counter"), &p, "kv");
        p.write("kv/tests/contract.yaml", contract);
        let run = p.run(&["test", "kv"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
        let run = p.run(&["certify", "kv"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("contract::counts ... FAILED") && run.stdout.contains(expected),
            "{expected}: {}",
            run.stdout
        );
    }
}
