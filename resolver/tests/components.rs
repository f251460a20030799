//! ABI v2: WebAssembly components through `push`, `lock`, `lock --locked`
//! and `verify`, against a real registry. The components are written here in
//! the component text format, as small as the checks allow: a core module
//! that does nothing, lifted to the `run` export the world of a
//! connector.yaml asks for, with the type and instance imports real
//! toolchains produce.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use common::{Project, Run};
use lf_registry_fixtures::Registry;
use lf_registry_fixtures::artifact::RawArtifact;

/// A field of a record, as `(wit name, wit type)`.
type Field = (&'static str, &'static str);

/// What a test component looks like.
#[derive(Clone)]
struct Component {
    inputs: Vec<Field>,
    outputs: Vec<Field>,
    /// Top-level imports, WAT text.
    imports: String,
    /// connector.yaml at the top level.
    section: Option<String>,
    /// connector.yaml inside the nested core module.
    nested_section: Option<String>,
}

/// The `query`/`page_size` → `files` node, with the WASI imports a Python
/// component has (a few of its 25).
fn search() -> Component {
    Component {
        inputs: vec![("query", "string"), ("page-size", "option<s64>")],
        outputs: vec![("files", "string")],
        imports: [
            "wasi:io/poll@0.2.9",
            "wasi:cli/stdout@0.2.9",
            "wasi:clocks/wall-clock@0.2.9",
            "wasi:random/random@0.2.12",
            "wasi:filesystem/types@0.2.9",
        ]
        .iter()
        .map(|name| format!("(import \"{name}\" (instance))\n"))
        .collect(),
        section: None,
        nested_section: None,
    }
}

const SEARCH_YAML: &str = "id: connector.acme.search.query
inputs:
  - name: query
    type: string
  - name: page_size
    type: optional<int>
outputs:
  - name: files
    type: json
effects: []
deterministic: true
capabilities: []
";

/// [`SEARCH_YAML`] declaring `http.read`.
fn search_yaml_http() -> String {
    SEARCH_YAML
        .replace("effects: []", "effects:\n  - http.read")
        .replace("capabilities: []", "capabilities:\n  - http.read")
        .replace("deterministic: true", "deterministic: false")
}

fn wat_type(ty: &str) -> String {
    match ty.strip_prefix("option<").and_then(|t| t.strip_suffix('>')) {
        Some(inner) => format!("(option {})", wat_type(inner)),
        None => ty.to_owned(),
    }
}

/// The core value types a lifted parameter of `ty` flattens to.
fn flat(ty: &str) -> String {
    match ty.strip_prefix("option<").and_then(|t| t.strip_suffix('>')) {
        Some(inner) => format!("i32 {}", flat(inner)),
        None => match ty {
            "string" => "i32 i32".to_owned(),
            "s64" => "i64".to_owned(),
            _ => "i32".to_owned(),
        },
    }
}

/// A WAT string literal.
fn wat_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Component {
    fn wat(&self) -> String {
        let record = |fields: &[Field]| -> String {
            fields
                .iter()
                .map(|(n, t)| format!("(field \"{n}\" {})", wat_type(t)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let core_params: Vec<String> = self.inputs.iter().map(|(_, t)| flat(t)).collect();
        let nested = self
            .nested_section
            .as_deref()
            .map(|y| format!("(@custom \"latticeflow.connector\" {})", wat_string(y)))
            .unwrap_or_default();
        let top = self
            .section
            .as_deref()
            .map(|y| format!("(@custom \"latticeflow.connector\" {})", wat_string(y)))
            .unwrap_or_default();
        let (input_type, param) = if self.inputs.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!(
                    "(type $in (record {}))\n  (import \"input\" (type $input (eq $in)))",
                    record(&self.inputs)
                ),
                "(param \"input\" $input)".to_owned(),
            )
        };
        let (output_type, ok) = if self.outputs.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!(
                    "(type $out (record {}))\n  (import \"output\" (type $output (eq $out)))",
                    record(&self.outputs)
                ),
                "$output".to_owned(),
            )
        };
        format!(
            r#"(component
  {imports}
  (core module $m
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "run") (param {core}) (result i32) i32.const 0)
    {nested})
  (core instance $i (instantiate $m))
  {input_type}
  {output_type}
  (type $err (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (import "node-error" (type $node-error (eq $err)))
  (type $run (func {param} (result (result {ok} (error $node-error)))))
  (func (export "run") (type $run)
    (canon lift (core func $i "run") (memory $i "memory") (realloc (func $i "realloc"))))
  {top}
)"#,
            imports = self.imports,
            core = core_params.join(" "),
        )
    }

    fn bytes(&self) -> Vec<u8> {
        wat::parse_str(self.wat()).unwrap()
    }

    fn with_section(mut self, yaml: &str) -> Component {
        self.section = Some(yaml.to_owned());
        self
    }

    fn with_import(mut self, import: &str) -> Component {
        self.imports.push_str(import);
        self.imports.push('\n');
        self
    }
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pushes `bytes` as they are (no checks, no embedding) in our layout,
/// as a third-party tool would; returns the reference.
fn push_bytes(registry: &Registry, repository: &str, bytes: &[u8]) -> String {
    runtime()
        .block_on(
            lf_registry_fixtures::push::Pusher::for_registry(registry).push_connector(
                repository,
                "1.0",
                bytes,
                &Default::default(),
            ),
        )
        .unwrap();
    format!("{}/{repository}:1.0", registry.host())
}

/// A `latticeflow.toml` without signatures and these `[connectors.NAME]`
/// tables: `(name, ref, extra lines)`.
fn config(connectors: &[(&str, &str, &str)]) -> String {
    let mut out = "[policy]\nsignatures = \"none\"\n".to_owned();
    for (name, reference, extra) in connectors {
        out.push_str(&format!(
            "\n[connectors.{name}]\nref = \"{reference}\"\n{extra}"
        ));
    }
    out
}

/// The references the store's index holds.
fn store_index(p: &Project) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p.cache().join("index.json"))
        .ok()
        .map(|text| {
            let index: serde_json::Value = serde_json::from_str(&text).unwrap();
            index["manifests"].as_array().unwrap().clone()
        })
        .unwrap_or_default()
}

/// `lock` refuses with exit 1, naming `needles`, and writes neither the
/// lock nor the store's index.
#[track_caller]
fn lock_refuses(p: &Project, needles: &[&str]) -> Run {
    let lock = std::fs::read_to_string(p.path().join("latticeflow.lock")).ok();
    let index = store_index(p);
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "expected {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(p.path().join("latticeflow.lock")).ok(),
        lock,
        "the lock is left as it was"
    );
    assert_eq!(store_index(p), index, "the store's index is left as it was");
    run
}

/// Every offline check refuses, naming `needle`, and the lock stays as it is.
#[track_caller]
fn offline_checks_refuse(p: &Project, needle: &str) {
    let lock = p.read("latticeflow.lock");
    for check in [
        &["lock", "--locked"][..],
        &["lock", "--frozen"],
        &["verify"],
    ] {
        let run = p.run(check);
        assert_eq!(run.code, 1, "`{}` must refuse: {run:?}", check.join(" "));
        assert!(
            run.stderr.contains(needle),
            "`{}` must name {needle}:\n{}",
            check.join(" "),
            run.stderr
        );
        assert_eq!(p.read("latticeflow.lock"), lock, "`{}`", check.join(" "));
    }
}

fn lock_doc(p: &Project) -> toml_edit::DocumentMut {
    p.read("latticeflow.lock").parse().unwrap()
}

/// Rewrites the lock entry called `name` with `edit`.
fn edit_entry(p: &Project, name: &str, edit: impl FnOnce(&mut toml_edit::Table)) {
    let mut doc = lock_doc(p);
    let table = doc["connector"]
        .as_array_of_tables_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"].as_str() == Some(name))
        .unwrap();
    edit(table);
    p.write("latticeflow.lock", &doc.to_string());
}

fn text_upper_dir() -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors/text-upper")
        .display()
        .to_string()
}

#[test]
fn a_component_is_pushed_locked_and_re_derived_offline() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    p.write("search/connector.yaml", SEARCH_YAML);
    p.write("search/component.wat", &search().wat());
    let search_ref = format!("{}/acme/search:1.0", registry.host());
    let pushed = p.run(&["push", "search", &search_ref, "--message-format", "json"]);
    assert_ok(&pushed);
    assert_eq!(pushed.events()[0]["abi"], 2, "{pushed:?}");
    let upper_ref = format!("{}/acme/upper:1.0", registry.host());
    assert_ok(&p.run(&["push", &text_upper_dir(), &upper_ref]));

    p.write(
        "latticeflow.toml",
        &config(&[("search", &search_ref, ""), ("upper", &upper_ref, "")]),
    );
    let lock = p.run(&["lock", "--message-format", "json"]);
    assert_ok(&lock);
    let resolved: Vec<serde_json::Value> = lock
        .events()
        .into_iter()
        .filter(|e| e["type"] == "resolved")
        .collect();
    assert_eq!(resolved[0]["name"], "search");
    assert_eq!(resolved[0]["abi"], 2);
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains(
            "abi = 2\ncapabilities = []\ngrants = []\ndeterministic = true\nsandboxed = [\"wasi:cli/stdout@0.2.9\", \"wasi:filesystem/types@0.2.9\", \"wasi:io/poll@0.2.9\"]\n"
        ),
        "{text}"
    );
    // The core module's entry has no `abi` (1) and no `sandboxed`.
    let upper = text.split("name = \"upper\"").nth(1).unwrap();
    assert!(
        !upper.contains("\nabi = ") && !upper.contains("\nsandboxed = "),
        "{upper}"
    );

    for check in [
        &["lock", "--locked"][..],
        &["lock", "--frozen"],
        &["verify"],
        &["check"],
    ] {
        assert_ok(&p.run(check));
    }
    // Locking again changes nothing: the same bytes.
    let again = p.run(&["lock"]);
    assert_ok(&again);
    assert_eq!(p.read("latticeflow.lock"), text);

    // `inspect` shows the component and its imports.
    let inspect = p.run(&["inspect", "search"]);
    assert_ok(&inspect);
    assert!(
        inspect.stdout.contains("ABI v2")
            && inspect
                .stdout
                .contains("import      wasi:io/poll@0.2.9 (instance)")
            && inspect.stdout.contains("id: connector.acme.search.query"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn hand_edited_abi_and_sandboxed_are_caught_offline() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    p.write("search/connector.yaml", SEARCH_YAML);
    p.write("search/component.wat", &search().wat());
    let search_ref = format!("{}/acme/search:1.0", registry.host());
    assert_ok(&p.run(&["push", "search", &search_ref]));
    let upper_ref = format!("{}/acme/upper:1.0", registry.host());
    assert_ok(&p.run(&["push", &text_upper_dir(), &upper_ref]));
    p.write(
        "latticeflow.toml",
        &config(&[("search", &search_ref, ""), ("upper", &upper_ref, "")]),
    );
    assert_ok(&p.run(&["lock"]));
    let original = p.read("latticeflow.lock");

    // A sandboxed import dropped from the list.
    edit_entry(&p, "search", |t| {
        t["sandboxed"] = toml_edit::value(toml_edit::Array::from_iter([
            "wasi:cli/stdout@0.2.9",
            "wasi:io/poll@0.2.9",
        ]));
    });
    offline_checks_refuse(&p, "connector `search`: the lock says `sandboxed`");

    // The component passed off as a core module.
    p.write("latticeflow.lock", &original);
    edit_entry(&p, "search", |t| {
        t.remove("abi");
        t.remove("sandboxed");
    });
    offline_checks_refuse(
        &p,
        "the lock says `abi` 1, but the bytes it pins say 2 (a component)",
    );

    // A core module passed off as a component.
    p.write("latticeflow.lock", &original);
    edit_entry(&p, "upper", |t| {
        t["abi"] = toml_edit::value(2);
        t["sandboxed"] = toml_edit::value(toml_edit::Array::new());
    });
    offline_checks_refuse(
        &p,
        "connector `upper`: the lock says `abi` 2, but the bytes it pins say 1 (a core module)",
    );
}

#[test]
fn a_wrong_run_signature_is_refused_by_push_and_by_lock_naming_the_field() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let mut wrong = search();
    wrong.inputs[1] = ("page-size", "option<s32>");
    let expected = "`run` input field `page-size`: the component has `option<s32>`, connector.yaml says `optional<int>` (option<s64>)";

    p.write("bad/connector.yaml", SEARCH_YAML);
    p.write("bad/component.wat", &wrong.wat());
    let push_ref = format!("{}/acme/pushed:1.0", registry.host());
    let push = p.run(&["push", "bad", &push_ref]);
    assert_eq!(push.code, 1, "{push:?}");
    assert!(push.stderr.contains(expected), "{}", push.stderr);
    assert_ne!(p.run(&["inspect", &push_ref]).code, 0, "nothing was pushed");

    // Published by another tool, it is refused at lock.
    let reference = push_bytes(
        &registry,
        "acme/bad",
        &wrong.with_section(SEARCH_YAML).bytes(),
    );
    p.write("latticeflow.toml", &config(&[("bad", &reference, "")]));
    lock_refuses(
        &p,
        &[
            "connector `bad` (connector.acme.search.query) is a component (ABI v2) that does not fit",
            expected,
            "lf-resolve wit",
        ],
    );

    // An output of another name, and no outputs at all.
    let mut renamed = search();
    renamed.outputs = vec![("file", "string")];
    let reference = push_bytes(
        &registry,
        "acme/renamed",
        &renamed.with_section(SEARCH_YAML).bytes(),
    );
    p.write("latticeflow.toml", &config(&[("bad", &reference, "")]));
    lock_refuses(
        &p,
        &[
            "`run` output has no field `files`; connector.yaml declares it as `json` (string)",
            "`run` output field `file` (`string`) is not declared in connector.yaml",
        ],
    );
}

#[test]
fn invalid_component_bytes_are_refused_naming_the_reference() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    // A valid preamble and top-level section framing, but an export of a
    // function index that does not exist: only validation notices.
    let mut bytes = search().with_section(SEARCH_YAML).bytes();
    bytes.extend_from_slice(&[11, 9, 1, 0, 3, b'b', b'a', b'd', 1, 99, 0]);
    let bytes = &bytes[..];
    let reference = push_bytes(&registry, "acme/invalid", bytes);
    p.write("latticeflow.toml", &config(&[("invalid", &reference, "")]));
    lock_refuses(
        &p,
        &[
            "connector `invalid`: the component sha256:",
            &format!(
                "of `{reference}` is not a valid connector component: invalid WebAssembly component at byte"
            ),
        ],
    );
    p.write("invalid/connector.yaml", SEARCH_YAML);
    std::fs::write(p.path().join("invalid/component.wasm"), bytes).unwrap();
    let push = p.run(&[
        "push",
        "invalid",
        &format!("{}/acme/pushed:1.0", registry.host()),
    ]);
    assert_eq!(push.code, 2, "{push:?}");
    assert!(
        push.stderr
            .contains("invalid/component.wasm`: invalid WebAssembly component at byte"),
        "{}",
        push.stderr
    );
}

#[test]
fn refused_imports_are_named() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let cases = [
        (
            "(import \"acme:evil/backdoor@1.0.0\" (instance))",
            "imports `acme:evil/backdoor@1.0.0` (instance), which is refused",
        ),
        (
            "(import \"wasi:cli/environment@0.3.0\" (instance))",
            "imports `wasi:cli/environment@0.3.0` (instance), which is refused: only WASI 0.2 interfaces",
        ),
        (
            "(import \"backdoor\" (instance))",
            "imports `backdoor` (instance), which is refused: it is not an interface name",
        ),
        (
            "(import \"host-call\" (func))",
            "imports `host-call` (function), which is refused",
        ),
    ];
    for (i, (import, expected)) in cases.into_iter().enumerate() {
        let component = search().with_import(import).with_section(SEARCH_YAML);
        let reference = push_bytes(&registry, &format!("acme/refused-{i}"), &component.bytes());
        p.write("latticeflow.toml", &config(&[("refused", &reference, "")]));
        lock_refuses(&p, &["connector `refused`", expected]);
    }
}

#[test]
fn http_needs_the_capability_declared_and_granted_and_hosts_are_a_grant() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let http = search().with_import("(import \"wasi:http/outgoing-handler@0.2.10\" (instance))");

    // Declared in connector.yaml, not granted by the project.
    p.write("fetch/connector.yaml", &search_yaml_http());
    p.write("fetch/component.wat", &http.wat());
    let reference = format!("{}/acme/fetch:1.0", registry.host());
    assert_ok(&p.run(&["push", "fetch", &reference]));
    p.write("latticeflow.toml", &config(&[("fetch", &reference, "")]));
    lock_refuses(
        &p,
        &[
            "connector `fetch`",
            "imports `wasi:http/outgoing-handler@0.2.10`, which needs `http.read` or `http.write` granted in latticeflow.toml",
        ],
    );

    // Granted without hosts: locked, with a warning that nothing is reachable.
    p.write(
        "latticeflow.toml",
        &config(&[("fetch", &reference, "capabilities = [\"http.read\"]\n")]),
    );
    let warned = p.run(&["lock"]);
    assert_ok(&warned);
    assert!(
        warned
            .stderr
            .contains("connector `fetch` is granted HTTP but no `hosts`: every request it makes will be refused"),
        "{}",
        warned.stderr
    );
    assert!(!p.read("latticeflow.lock").contains("hosts ="));

    // Granted, with hosts: locked, hosts recorded, no warning.
    let grant =
        "capabilities = [\"http.read\"]\nhosts = [\"*.googleapis.com:443\", \"API.example.com\"]\n";
    p.write("latticeflow.toml", &config(&[("fetch", &reference, grant)]));
    let locked = p.run(&["lock"]);
    assert_ok(&locked);
    assert!(!locked.stderr.contains("warning"), "{}", locked.stderr);
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains(
            "grants = [\"http.read\"]\nhosts = [\"api.example.com\", \"*.googleapis.com:443\"]\n"
        ),
        "{text}"
    );
    assert_ok(&p.run(&["lock", "--locked"]));
    assert_ok(&p.run(&["verify"]));

    // Another host: the lock is stale, and says why.
    p.write(
        "latticeflow.toml",
        &config(&[(
            "fetch",
            &reference,
            &grant.replace("API.example.com", "api.example.com:8443"),
        )]),
    );
    let locked = p.run(&["lock", "--locked"]);
    assert_eq!(locked.code, 1, "{locked:?}");
    assert!(
        locked.stderr.contains(
            "the `hosts` granted to connector `fetch` changed from [api.example.com, *.googleapis.com:443] to [api.example.com:8443, *.googleapis.com:443]"
        ),
        "{}",
        locked.stderr
    );
    assert_eq!(p.read("latticeflow.lock"), text);
    // `verify` compares the recorded grant with latticeflow.toml too.
    let verify = p.run(&["verify"]);
    assert_eq!(verify.code, 1, "{verify:?}");
    assert!(
        verify.stderr.contains("the lock says `hosts`"),
        "{}",
        verify.stderr
    );

    // Granted by the project but not declared by connector.yaml (pushed by
    // another tool: `push` refuses it).
    let undeclared = http.clone().with_section(SEARCH_YAML);
    p.write("quiet/connector.yaml", SEARCH_YAML);
    p.write("quiet/component.wat", &http.wat());
    let push = p.run(&[
        "push",
        "quiet",
        &format!("{}/acme/quiet:1.0", registry.host()),
    ]);
    assert_eq!(push.code, 1, "{push:?}");
    assert!(
        push.stderr
            .contains("declares neither `http.read` nor `http.write`"),
        "{}",
        push.stderr
    );
    let reference = push_bytes(&registry, "acme/undeclared", &undeclared.bytes());
    p.write(
        "latticeflow.toml",
        &config(&[("quiet", &reference, "capabilities = [\"http.read\"]\n")]),
    );
    lock_refuses(
        &p,
        &[
            "connector `quiet`",
            "imports `wasi:http/outgoing-handler@0.2.10`, but connector.yaml declares neither `http.read` nor `http.write`",
        ],
    );
}

#[test]
fn a_connector_section_inside_a_nested_module_is_not_trusted() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    // Only the nested module has one: no manifest at all.
    let mut hidden = search();
    hidden.nested_section = Some(SEARCH_YAML.to_owned());
    let reference = push_bytes(&registry, "acme/hidden", &hidden.bytes());
    p.write("latticeflow.toml", &config(&[("hidden", &reference, "")]));
    lock_refuses(
        &p,
        &[
            "connector `hidden`: the component has no top-level `latticeflow.connector` custom section",
        ],
    );

    // The nested one declares HTTP, the top-level one does not: the
    // top-level one decides, and the HTTP import is refused.
    let mut split = search()
        .with_import("(import \"wasi:http/outgoing-handler@0.2.10\" (instance))")
        .with_section(SEARCH_YAML);
    split.nested_section = Some(search_yaml_http());
    let reference = push_bytes(&registry, "acme/split", &split.bytes());
    p.write(
        "latticeflow.toml",
        &config(&[("split", &reference, "capabilities = [\"http.read\"]\n")]),
    );
    lock_refuses(
        &p,
        &[
            "connector `split`",
            "declares neither `http.read` nor `http.write`",
        ],
    );

    // `push` replaces the top-level section and leaves the nested one.
    let mut dir = search();
    dir.nested_section = Some("id: connector.nested.never.used\n".to_owned());
    p.write("nested/connector.yaml", SEARCH_YAML);
    p.write(
        "nested/component.wat",
        &dir.with_section("id: stale\n").wat(),
    );
    let reference = format!("{}/acme/nested:1.0", registry.host());
    assert_ok(&p.run(&["push", "nested", &reference]));
    p.write("latticeflow.toml", &config(&[("nested", &reference, "")]));
    assert_ok(&p.run(&["lock"]));
    assert!(
        p.read("latticeflow.lock")
            .contains("id = \"connector.acme.search.query\"")
    );
}

#[test]
fn bad_hosts_are_located_in_latticeflow_toml() {
    let p = Project::new();
    let cases = [
        (
            "capabilities = [\"http.read\"]\nhosts = [\"api.example.com\", \"https://x.example.com\"]\n",
            (
                "latticeflow.toml:7:29",
                "connector `fetch`: `hosts`: invalid host pattern `https://x.example.com`",
            ),
        ),
        (
            "capabilities = [\"http.read\"]\nhosts = [\"*\"]\n",
            (
                "latticeflow.toml:7:10",
                "connector `fetch`: `hosts`: invalid host pattern `*`",
            ),
        ),
        (
            "hosts = [\"api.example.com\"]\n",
            (
                "latticeflow.toml:6:9",
                "connector `fetch` lists `hosts` but is granted neither `http.read` nor `http.write`",
            ),
        ),
    ];
    for (extra, (place, expected)) in cases {
        p.write(
            "latticeflow.toml",
            &config(&[("fetch", "127.0.0.1:1/acme/fetch:1.0", extra)]),
        );
        for command in [&["lock"][..], &["check"]] {
            let run = p.run(command);
            assert_eq!(run.code, 2, "{run:?}");
            assert!(
                run.stderr.contains(expected) && run.stderr.contains(&format!("--> {place}")),
                "expected {expected:?} at {place} in:\n{}",
                run.stderr
            );
            assert!(!p.path().join("latticeflow.lock").exists());
        }
    }
}

/// The manifest and config wkg 0.16 writes (oci-wasm 0.6's config with
/// `created`, `author: null`, `os: wasip2` and a `component` object;
/// oci-client's manifest with the file name as the layer's title).
fn wkg_artifact(component: &[u8], imports: &[&str]) -> RawArtifact {
    use sha2::Digest as _;
    let sha = |b: &[u8]| format!("sha256:{:x}", sha2::Sha256::digest(b));
    let layer = sha(component);
    let imports: Vec<String> = imports.iter().map(|i| format!("\"{i}\"")).collect();
    let config = format!(
        r#"{{"created":"2026-12-06T04:51:07.123456789Z","author":null,"architecture":"wasm","os":"wasip2","layerDigests":["{layer}"],"component":{{"exports":["run"],"imports":[{}],"target":null}}}}"#,
        imports.join(",")
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/wasm","digest":"{layer}","size":{},"annotations":{{"org.opencontainers.image.title":"search.wasm"}}}}]}}"#,
        sha(config.as_bytes()),
        config.len(),
        component.len()
    );
    RawArtifact::image(
        manifest.into_bytes(),
        vec![config.into_bytes(), component.to_vec()],
    )
}

#[test]
fn an_artifact_pushed_as_wkg_writes_it_locks() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let component = search().with_section(SEARCH_YAML).bytes();
    let raw = wkg_artifact(
        &component,
        &[
            "wasi:io/poll@0.2.9",
            "wasi:cli/stdout@0.2.9",
            "wasi:clocks/wall-clock@0.2.9",
            "wasi:random/random@0.2.12",
            "wasi:filesystem/types@0.2.9",
        ],
    );
    let digest = raw.manifest_digest();
    runtime()
        .block_on(lf_registry_fixtures::push_raw(
            &registry.host(),
            "acme/wkg-search",
            "1.0",
            &raw,
            &Default::default(),
        ))
        .unwrap();
    let reference = format!("{}/acme/wkg-search:1.0", registry.host());
    p.write("latticeflow.toml", &config(&[("search", &reference, "")]));
    assert_ok(&p.run(&["lock"]));
    let text = p.read("latticeflow.lock");
    assert!(text.contains(&format!("digest = \"{digest}\"")), "{text}");
    assert!(text.contains("abi = 2\n"), "{text}");
    assert_ok(&p.run(&["lock", "--frozen"]));
    assert_ok(&p.run(&["verify"]));
}
