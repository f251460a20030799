//! `lf-resolve wit`, driven through the real binary: a directory or a
//! connector.yaml in, the world on stdout or in a file; every refusal exits 2
//! with the file named and leaves the output file as it was.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;
use lf_runtime::spec::ConnectorManifest;

const CONNECTOR: &str = "\
id: connector.acme.search
version: 2.1.0
inputs:
  - name: query
    type: string
  - name: page_size
    type: optional<int>
  - name: type
    type: list<json>
outputs:
  - name: hits
    type: list<string>
effects: [http.read]
deterministic: false
capabilities: [http.read, kv.read, log]
errors:
  - code: upstream_failed
    retryable: true
";

fn expected(yaml: &str) -> String {
    lf_wrapper_gen::wit::world(&ConnectorManifest::from_yaml(yaml).unwrap()).unwrap()
}

#[test]
fn a_directory_prints_its_world_on_stdout() {
    let p = Project::with(&[("search/connector.yaml", CONNECTOR)]);
    let run = p.run(&["wit", "search"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, expected(CONNECTOR));
    assert_eq!(run.stderr, "");
    assert!(
        run.stdout
            .contains("record input {\n    query: string,\n    page-size: option<s64>,")
    );
    assert!(run.stdout.contains("    %type: list<string>,"));
    assert!(run.stdout.contains("  import wasi:http/outgoing-handler@0.2.0;\n  import latticeflow:capabilities/kv@0.2.0;\n  import wasi:logging/logging@0.1.0-draft;\n"));
    assert!(run.stdout.contains("`connector.acme.search` version 2.1.0"));
}

#[test]
fn a_connector_yaml_path_gives_the_same_world() {
    let p = Project::with(&[("search/connector.yaml", CONNECTOR)]);
    let by_dir = p.run(&["wit", "search"]);
    let by_file = p.run(&["wit", "search/connector.yaml"]);
    assert_eq!(by_file.code, 0, "{}", by_file.stderr);
    assert_eq!(by_file.stdout, by_dir.stdout);
    let dash = p.run(&["wit", "search", "-o", "-"]);
    assert_eq!(dash.stdout, by_dir.stdout);
}

#[test]
fn output_file_is_written_and_replaced() {
    let p = Project::with(&[
        ("search/connector.yaml", CONNECTOR),
        ("search/wit/world.wit", "stale\n"),
    ]);
    let run = p.run(&["wit", "search", "-o", "search/wit/world.wit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("Wrote the WIT world of `connector.acme.search` to search/wit/world.wit"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("search/wit/world.wit"), expected(CONNECTOR));
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(p.path().join("search/wit"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["world.wit"]);

    let json = p.run(&[
        "--message-format",
        "json",
        "wit",
        "search",
        "--output",
        "search/wit/world.wit",
    ]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let events = json.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "wit");
    assert_eq!(events[0]["connector"], "connector.acme.search");
    assert_eq!(events[0]["path"], "search/wit/world.wit");
}

#[test]
fn json_format_puts_the_world_in_one_event() {
    let p = Project::with(&[("search/connector.yaml", CONNECTOR)]);
    let run = p.run(&["--message-format", "json", "wit", "search"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "wit");
    assert_eq!(events[0]["wit"], expected(CONNECTOR).as_str());
}

#[cfg(unix)]
#[test]
fn a_symlinked_output_is_refused() {
    let p = Project::with(&[
        ("search/connector.yaml", CONNECTOR),
        ("elsewhere/target.wit", "keep me\n"),
    ]);
    std::os::unix::fs::symlink(
        p.path().join("elsewhere/target.wit"),
        p.path().join("world.wit"),
    )
    .unwrap();
    let run = p.run(&["wit", "search", "-o", "world.wit"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: `world.wit` is a symlink; refusing to write through it"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("elsewhere/target.wit"), "keep me\n");
    assert!(
        std::fs::symlink_metadata(p.path().join("world.wit"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn an_output_that_cannot_be_a_file_is_refused() {
    let p = Project::with(&[("search/connector.yaml", CONNECTOR)]);
    let missing = p.run(&["wit", "search", "-o", "no/such/dir/world.wit"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("error: `no/such/dir` does not exist"),
        "{}",
        missing.stderr
    );
    assert!(!p.path().join("no").exists());

    let dir = p.run(&["wit", "search", "-o", "search"]);
    assert_eq!(dir.code, 2);
    assert!(
        dir.stderr.contains("error: `search` is a directory")
            && dir.stderr.contains("search/world.wit"),
        "{}",
        dir.stderr
    );
}

#[test]
fn missing_inputs_are_named() {
    let p = Project::with(&[("empty/README.md", "nothing here\n")]);
    let none = p.run(&["wit", "nowhere"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("error: `nowhere` does not exist"),
        "{}",
        none.stderr
    );
    let empty = p.run(&["wit", "empty"]);
    assert_eq!(empty.code, 2);
    assert!(
        empty
            .stderr
            .contains("error: `empty` has no connector.yaml"),
        "{}",
        empty.stderr
    );
    assert_eq!(none.stdout, "");
    assert_eq!(empty.stdout, "");
}

#[test]
fn a_bad_manifest_is_located_and_the_output_is_left_alone() {
    let bad = CONNECTOR.replace("type: optional<int>", "type: optional<integer>");
    let p = Project::with(&[("search/connector.yaml", &bad), ("world.wit", "previous\n")]);
    let run = p.run(&["wit", "search", "-o", "world.wit"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("search/connector.yaml:7:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("integer"), "{}", run.stderr);
    assert_eq!(p.read("world.wit"), "previous\n");
}

#[test]
fn a_field_without_a_wit_name_is_refused() {
    let bad = CONNECTOR.replace("name: page_size", "name: page__size");
    let p = Project::with(&[("search/connector.yaml", &bad), ("world.wit", "previous\n")]);
    let run = p.run(&["wit", "search", "-o", "world.wit"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: input `page__size` has no WIT name (`page--size`)")
            && run.stderr.contains("search/connector.yaml:6:11"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("help: rename it in connector.yaml, e.g. `page_size`"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("world.wit"), "previous\n");
}

#[test]
fn an_oversized_manifest_is_refused() {
    let mut big = CONNECTOR.to_owned();
    big.push_str(&format!("# {}\n", "x".repeat(1024 * 1024)));
    let p = Project::with(&[("search/connector.yaml", &big)]);
    let run = p.run(&["wit", "search"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("byte limit of a connector manifest"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}
