//! Components end to end, as a connector author and then a bundle author
//! would go: a Python and a JavaScript connector are scaffolded with `new`,
//! their logic edited, built with the real toolchains (componentize-py from
//! PyPI, componentize-js from npm), their contract vectors run through the
//! host (`lf-resolve test`), pushed and signed to a real registry, locked with
//! signatures required, vendored, generated, built offline into a bundle and
//! invoked through the generated typed API.
//!
//! The JavaScript connector calls `fetch` (wasi:http) against a server this
//! test runs on 127.0.0.1: allowed for the host the project grants, refused
//! for another host and for a write method under `http.read`, and rejected at
//! `lock` when `http.read` is not granted.
//!
//! The toolchains come from `scripts/install-componentize.sh`, which
//! `scripts/test.sh` runs; it exports `LF_COMPONENTIZE_PY` and
//! `LF_COMPONENTIZE_JS`. Without them the test says so and passes only
//! outside CI: under `CI` a missing toolchain fails it.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use lf_e2e::{build_offline, lf_with, ok, workspace_profiles};
use lf_registry_fixtures::Registry;

/// A toolchain binary named by `var`, or `None` (outside CI) after saying so.
fn tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if Path::new(&path).is_file() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is not set: scripts/test.sh installs the component toolchains and sets it"
            );
            eprintln!(
                "skipped: {var} is not set (run scripts/install-componentize.sh, or scripts/test.sh)"
            );
            None
        }
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `200` and the body `<METHOD> <path>`, and records what it was asked.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length.min(1 << 16)];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let mut parts = line.split_whitespace();
                let reply = format!(
                    "{} {}",
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or("")
                );
                log.lock().unwrap().push(reply.clone());
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Server { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

const PY_APP: &str = r#""""Counts the words of a text (edited from the `lf-resolve new` example)."""

import wit_world
from wit_world import Input, NodeError, Output
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def run(self, input: Input) -> Output:
        name = input.name.strip()
        if not name:
            raise Err(NodeError(code="empty_name", message="`name` is empty", retryable=False))
        return Output(greeting=f"{name.upper()} has {len(name.split())} words")
"#;

const PY_CONTRACT: &str = r#"cases:
  - name: counts words
    input: {name: "ada lovelace"}
    output: {greeting: "ADA LOVELACE has 2 words"}
  - name: an empty name is the declared error
    input: {name: "  "}
    error: {code: empty_name, retryable: false}
"#;

const JS_MANIFEST: &str = "id: connector.acme.web.fetch
version: 0.1.0
inputs:
  - name: url
    type: string
  - name: method
    type: string
outputs:
  - name: status
    type: int
  - name: body
    type: string
effects: [http.read]
deterministic: false
capabilities: [http.read]
errors:
  - code: refused
    retryable: false
";

const JS_APP: &str = r#"// Fetches a URL with a method (edited from the `lf-resolve new` example).
export async function run(input) {
  let response;
  try {
    response = await fetch(input.url, { method: input.method });
  } catch (e) {
    throw { code: "refused", message: String(e), retryable: false };
  }
  return { status: BigInt(response.status), body: await response.text() };
}
"#;

const JS_CONTRACT: &str = r#"cases:
  - name: reads a page
    input: {url: "https://api.example.com/items", method: GET}
    output: {status: 200, body: "[]"}
    http:
      - {method: GET, url: "https://api.example.com/items", status: 200, body: "[]"}
  - name: a write under http.read is refused
    input: {url: "https://api.example.com/items", method: POST}
    error: {code: refused}
"#;

/// The bundle: the generated crates, used through their typed API.
const BUNDLE_MAIN: &str = r#"use std::sync::Arc;

use connector_acme::text::{WordsInput, WordsOutput};
use connector_acme::web::{FetchInput, FetchOutput};
use lf_runtime::host::{Capabilities, NoCapabilities, NodeExt, NodeRegistry};

fn main() {
    let mut args = std::env::args().skip(1);
    let port = args.next().unwrap();
    let mut registry = NodeRegistry::new();
    latticeflow_connectors::register_all(&mut registry).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(NoCapabilities);

    let words = registry.require("connector.acme.text.words").unwrap();
    let out: WordsOutput = words
        .invoke_typed(&WordsInput { name: "typed from rust".into() }, &caps)
        .unwrap();
    println!("words {}", out.greeting);

    let fetch = registry.require("connector.acme.web.fetch").unwrap();
    for (url, method) in [
        (format!("http://127.0.0.1:{port}/allowed"), "GET"),
        (format!("http://localhost:{port}/other-host"), "GET"),
        (format!("http://127.0.0.1:{port}/write"), "POST"),
    ] {
        let input = FetchInput { url, method: method.into() };
        match fetch.invoke_typed::<_, FetchOutput>(&input, &caps) {
            Ok(out) => println!("fetch ok {} {}", out.status, out.body),
            Err(e) => println!("fetch err {e}"),
        }
    }
}
"#;

#[test]
fn python_and_javascript_components_from_new_to_a_bundle() {
    let (Some(cpy), Some(cjs)) = (tool("LF_COMPONENTIZE_PY"), tool("LF_COMPONENTIZE_JS")) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // Compiled code is cached across `lf-resolve test` and the bundle: the
    // same engine, so the bundle's first call loads what `test` compiled.
    let code_cache = dir.join("code-cache");
    let toolchains: [(&str, &Path); 3] = [
        ("LF_COMPONENTIZE_PY", &cpy),
        ("LF_COMPONENTIZE_JS", &cjs),
        ("LF_CODE_CACHE", &code_cache),
    ];

    // Author: scaffold, edit, build, test.
    ok(
        lf_with(
            dir,
            &[
                "new",
                "words",
                "--lang",
                "python",
                "--id",
                "connector.acme.text.words",
            ],
            &toolchains,
        ),
        "new words",
    );
    std::fs::write(dir.join("words/app.py"), PY_APP).unwrap();
    std::fs::write(dir.join("words/tests/contract.yaml"), PY_CONTRACT).unwrap();
    ok(
        lf_with(
            dir,
            &[
                "new",
                "fetch",
                "--lang",
                "js",
                "--id",
                "connector.acme.web.fetch",
                "-c",
                "http.read",
            ],
            &toolchains,
        ),
        "new fetch",
    );
    std::fs::write(dir.join("fetch/connector.yaml"), JS_MANIFEST).unwrap();
    ok(
        lf_with(
            &dir.join("fetch"),
            &["wit", ".", "--no-wasi", "-o", "wit/world.wit"],
            &toolchains,
        ),
        "wit fetch",
    );
    std::fs::write(dir.join("fetch/app.js"), JS_APP).unwrap();
    std::fs::write(dir.join("fetch/tests/contract.yaml"), JS_CONTRACT).unwrap();
    for name in ["words", "fetch"] {
        let mut build = Command::new("bash");
        build
            .arg(dir.join(name).join("build.sh"))
            .stdin(Stdio::null());
        for (k, v) in &toolchains {
            build.env(k, v);
        }
        let out = build.output().unwrap();
        assert!(
            out.status.success(),
            "{name}/build.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = ok(
            lf_with(dir, &["test", name], &toolchains),
            &format!("test {name}"),
        );
        assert!(report.contains("test result: ok. 2 passed"), "{report}");
    }
    // A contract the edited logic no longer meets fails.
    std::fs::write(
        dir.join("words/tests/contract.yaml"),
        PY_CONTRACT.replace("ADA LOVELACE has 2", "ADA LOVELACE has 3"),
    )
    .unwrap();
    let failed = lf_with(dir, &["test", "words"], &toolchains);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");

    // Publish: push and sign.
    let mut registry = Registry::start().unwrap();
    let reference = |name: &str| format!("{}/acme/{name}:0.1.0", registry.host());
    ok(lf_with(dir, &["generate-key"], &toolchains), "generate-key");
    for name in ["words", "fetch"] {
        ok(
            lf_with(dir, &["push", name, &reference(name)], &toolchains),
            "push",
        );
        ok(
            lf_with(
                dir,
                &["sign", &reference(name), "--key", "cosign.key"],
                &toolchains,
            ),
            "sign",
        );
    }

    // A project: without the http.read grant the fetch connector is refused.
    let server = Server::start();
    let config = |fetch_grant: &str| {
        format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"cosign.pub\"]\n\n[connectors.words]\nref = \"{}\"\n\n[connectors.fetch]\nref = \"{}\"\n{fetch_grant}",
            reference("words"),
            reference("fetch"),
        )
    };
    std::fs::write(dir.join("latticeflow.toml"), config("")).unwrap();
    let refused = lf_with(dir, &["lock"], &toolchains);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("wasi:http"), "{stderr}");
    assert!(!dir.join("latticeflow.lock").exists());

    std::fs::write(
        dir.join("latticeflow.toml"),
        config(&format!(
            "capabilities = [\"http.read\"]\nhosts = [\"127.0.0.1:{}\"]\n",
            server.port
        )),
    )
    .unwrap();
    for args in [&["lock"][..], &["vendor"][..], &["generate"][..]] {
        ok(lf_with(dir, args, &toolchains), &format!("{args:?}"));
    }
    let lock = std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap();
    assert_eq!(lock.matches("abi = 2").count(), 2, "{lock}");
    assert_eq!(
        lock.matches("format = \"simple-signing\"").count(),
        2,
        "{lock}"
    );
    assert!(
        lock.contains(&format!("hosts = [\"127.0.0.1:{}\"]", server.port)),
        "{lock}"
    );

    // Offline from here: the registry stops.
    registry.stop();
    for args in [
        &["lock", "--frozen"][..],
        &["verify"][..],
        &["generate", "--check"][..],
    ] {
        ok(lf_with(dir, args, &toolchains), &format!("{args:?}"));
    }

    // The bundle builds offline and calls both nodes through the typed API.
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("src")).unwrap();
    std::fs::write(
        bundle.join("Cargo.toml"),
        format!(
            "[package]\nname = \"components-bundle\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nconnector_acme = {{ path = \"../vendor/crates/connector_acme\" }}\nlatticeflow_connectors = {{ path = \"../vendor/crates/latticeflow_connectors\" }}\nlf-runtime = {{ path = \"../vendor/crates/lf-runtime\" }}\n\n[workspace]\n{}",
            workspace_profiles()
        ),
    )
    .unwrap();
    std::fs::write(bundle.join("src/main.rs"), BUNDLE_MAIN).unwrap();
    let run = Command::new(build_offline(&bundle, "components-bundle"))
        .arg(server.port.to_string())
        .env("LF_CODE_CACHE", &code_cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "words TYPED FROM RUST has 3 words", "{stdout}");
    assert_eq!(lines[1], "fetch ok 200 GET /allowed", "{stdout}");
    assert!(
        lines[2].starts_with("fetch err ") && lines[2].contains("refused"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("fetch err ") && lines[3].contains("refused"),
        "{stdout}"
    );
    // Only the allowed request reached the server.
    assert_eq!(server.seen(), ["GET /allowed"]);
}
