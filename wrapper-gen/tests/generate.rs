//! `lf_wrapper_gen::generate`: snapshots of the generated crates, determinism,
//! the errors, and (ignored by default, slow) a real `cargo clippy` of them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use lf_lockfile::{
    Abi, BlobRef, ConnectorName, Digest, LockedConnector, RuntimeDependency, SignatureEntry,
    SignatureMode,
};
use lf_runtime::spec::ConnectorManifest;
use lf_wrapper_gen::{GenError, GeneratedFile, Input, generate};

use common::FIXTURES;

/// Keyword field names, a renamed field beside its escape, every type, nested
/// groups that are keywords, a group that shadows a primitive, and ids with
/// no group.
const ODD: [(&str, &str); 4] = [
    (
        "s3_list",
        "\
id: connector.acme.s3.type.self.list_v2
inputs:
  - name: type
    type: string
  - name: self
    type: optional<bytes>
  - name: self_
    type: int
  - name: chunks
    type: list<optional<bytes>>
  - name: meta
    type: optional<json>
outputs:
  - name: keys
    type: list<string>
  - name: ratio
    type: float
  - name: raw
    type: bytes
  - name: match
    type: optional<list<int>>
effects: [http.read, log]
deterministic: false
capabilities: [log, http.read, clock]
errors:
  - code: not_found
    retryable: false
",
    ),
    (
        "ping",
        "\
id: connector.acme.ping
inputs: []
outputs:
  - name: ok
    type: bool
  - name: ms
    type: int
effects: []
deterministic: false
capabilities: []
",
    ),
    (
        "bool_check",
        "\
id: connector.acme.bool.check
inputs:
  - name: value
    type: bool
outputs:
  - name: same
    type: bool
effects: [kv.write]
deterministic: true
capabilities: [kv.write]
idempotent: true
",
    ),
    (
        "beta",
        "\
id: connector.beta.fn
inputs:
  - name: x
    type: float
outputs: []
effects: []
deterministic: true
capabilities: []
",
    ),
];

/// A made-up but well-formed digest derived from `seed`.
fn digest(seed: &str) -> Digest {
    let mut hex = String::new();
    for b in seed.bytes().cycle().take(32) {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("sha256:{hex}").parse().unwrap()
}

fn locked(name: &str, manifest: &ConnectorManifest, module_seed: &str) -> LockedConnector {
    LockedConnector {
        name: name.parse().unwrap(),
        id: manifest.id().clone(),
        reference: format!("registry.example.com/latticeflow/{name}:0.1")
            .parse()
            .unwrap(),
        digest: digest(&format!("manifest-{name}")),
        module: BlobRef {
            digest: digest(module_seed),
            size: 1234,
        },
        config: BlobRef {
            digest: digest(&format!("config-{name}")),
            size: 120,
        },
        capabilities: manifest.capabilities().clone(),
        grants: manifest.capabilities().clone(),
        hosts: Default::default(),
        deterministic: manifest.deterministic(),
        abi: Default::default(),
        sandboxed: Default::default(),
        signature: SignatureEntry {
            policy: SignatureMode::None,
            verified: None,
        },
        certification: Default::default(),
        spec: None,
    }
}

/// Owns the locked entries an [`Input`] borrows.
struct Set {
    entries: Vec<(LockedConnector, ConnectorManifest)>,
}

impl Set {
    fn new(docs: &[(&str, &str)]) -> Set {
        Set {
            entries: docs
                .iter()
                .map(|(name, yaml)| {
                    let m = ConnectorManifest::from_yaml(yaml).unwrap();
                    (locked(name, &m, &format!("module-{name}")), m)
                })
                .collect(),
        }
    }

    fn push(&mut self, name: &str, yaml: &str, module_seed: &str) {
        let m = ConnectorManifest::from_yaml(yaml).unwrap();
        self.entries.push((locked(name, &m, module_seed), m));
    }

    fn input(&self, runtime: RuntimeDependency) -> Input<'_> {
        Input {
            connectors: self.entries.iter().map(|(l, m)| (l, m.clone())).collect(),
            module_path: Box::new(|d: &Digest| format!("../../oci/blobs/sha256/{}", d.hex())),
            runtime,
        }
    }
}

fn version() -> RuntimeDependency {
    RuntimeDependency::Version("0.1".into())
}

fn snapshot_all(prefix: &str, files: &[GeneratedFile]) {
    for file in files {
        let name = format!(
            "{prefix}__{}",
            file.path.to_string_lossy().replace(['/', '\\'], "__")
        );
        insta::assert_snapshot!(name, file.contents);
    }
}

fn paths(files: &[GeneratedFile]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.path.to_string_lossy().replace('\\', "/"))
        .collect()
}

#[test]
fn fixture_connectors() {
    let set = Set::new(&FIXTURES);
    // The default: the lf-runtime copy beside the crates (written by the caller).
    let files = generate(&set.input(RuntimeDependency::Bundled)).unwrap();
    assert_eq!(
        paths(&files),
        [
            "connector_latticeflow/Cargo.toml",
            "connector_latticeflow/src/http.rs",
            "connector_latticeflow/src/json.rs",
            "connector_latticeflow/src/kv.rs",
            "connector_latticeflow/src/lib.rs",
            "connector_latticeflow/src/text.rs",
            "latticeflow_connectors/Cargo.toml",
            "latticeflow_connectors/src/lib.rs",
        ]
    );
    snapshot_all("fixtures", &files);
}

#[test]
fn keywords_nested_groups_and_root_nodes() {
    let set = Set::new(&ODD);
    let runtime = RuntimeDependency::Path(PathBuf::from("../../runtime"));
    let files = generate(&set.input(runtime)).unwrap();
    assert_eq!(
        paths(&files),
        [
            "connector_acme/Cargo.toml",
            "connector_acme/src/base64_serde.rs",
            "connector_acme/src/bool.rs",
            "connector_acme/src/lib.rs",
            // `PathBuf` order: by component, so `s3/…` before `s3.rs`.
            "connector_acme/src/s3/type/self_.rs",
            "connector_acme/src/s3/type.rs",
            "connector_acme/src/s3.rs",
            "connector_beta/Cargo.toml",
            "connector_beta/src/lib.rs",
            "latticeflow_connectors/Cargo.toml",
            "latticeflow_connectors/src/lib.rs",
        ]
    );
    snapshot_all("odd", &files);
}

#[test]
fn generated_rust_parses_and_toml_is_valid() {
    let mut set = Set::new(&FIXTURES);
    set.entries.extend(Set::new(&ODD).entries);
    let files = generate(&set.input(version())).unwrap();
    for file in &files {
        let path = file.path.to_string_lossy();
        if path.ends_with(".rs") {
            syn::parse_file(&file.contents)
                .unwrap_or_else(|e| panic!("{path} does not parse: {e}\n{}", file.contents));
            assert!(file.contents.starts_with("// @generated by lf-resolve"));
            assert!(!file.contents.contains("unsafe {"), "{path}");
        } else {
            let value: toml::Table = file.contents.parse().unwrap();
            assert!(!value.contains_key("workspace"), "{path}");
        }
    }
}

#[test]
fn output_is_deterministic_and_order_independent() {
    let mut set = Set::new(&FIXTURES);
    set.entries.extend(Set::new(&ODD).entries);
    let first = generate(&set.input(version())).unwrap();
    let second = generate(&set.input(version())).unwrap();
    assert_eq!(first, second);
    set.entries.reverse();
    assert_eq!(generate(&set.input(version())).unwrap(), first);
}

/// A component (ABI v2) that reaches the network, and one that does not.
const COMPONENTS: [(&str, &str); 2] = [
    (
        "weather",
        "\
id: connector.acme.weather.forecast
inputs:
  - name: city
    type: string
  - name: days
    type: optional<int>
outputs:
  - name: summary
    type: string
effects: [http.read]
deterministic: false
capabilities: [http.read]
errors:
  - code: unknown_city
    retryable: false
",
    ),
    (
        "words",
        "\
id: connector.acme.words
inputs:
  - name: text
    type: string
outputs:
  - name: words
    type: int
effects: []
deterministic: true
capabilities: []
",
    ),
];

/// `Set::new(&COMPONENTS)` locked as components, the first with two hosts.
fn components() -> Set {
    let mut set = Set::new(&COMPONENTS);
    for (locked, _) in &mut set.entries {
        locked.abi = Abi::V2;
    }
    set.entries[0].0.hosts = ["api.weather.example", "*.cdn.example:8443"]
        .into_iter()
        .map(|h| h.parse().unwrap())
        .collect();
    set
}

#[test]
fn components_register_through_the_component_host() {
    let set = components();
    let files = generate(&set.input(RuntimeDependency::Bundled)).unwrap();
    snapshot_all("components", &files);
    let weather = files
        .iter()
        .find(|f| f.path == Path::new("connector_acme/src/weather.rs"))
        .unwrap();
    assert!(
        weather
            .contents
            .contains("ComponentNode::from_locked(\n        FORECAST_MODULE,"),
        "{}",
        weather.contents
    );
    assert!(
        weather.contents.contains(
            "pub const FORECAST_HTTP_HOSTS: &[&str] = &[\"api.weather.example\", \"*.cdn.example:8443\"];"
        ),
        "{}",
        weather.contents
    );
    assert!(!weather.contents.contains("WasmNode"));
    // A module keeps the ABI v1 host and gets no hosts constant.
    let mut set = Set::new(&COMPONENTS[1..]);
    set.entries[0].0.abi = Abi::V1;
    let files = generate(&set.input(RuntimeDependency::Bundled)).unwrap();
    let lib = files
        .iter()
        .find(|f| f.path == Path::new("connector_acme/src/lib.rs"))
        .unwrap();
    assert!(
        lib.contents.contains("WasmNode::from_locked"),
        "{}",
        lib.contents
    );
    assert!(!lib.contents.contains("HTTP_HOSTS"), "{}", lib.contents);
}

#[test]
fn one_component_under_two_names_needs_one_http_policy() {
    let mut set = components();
    let (mut again, manifest) = set.entries[0].clone();
    again.name = "weather_again".parse().unwrap();
    set.entries.push((again, manifest));
    // The same hosts: one node, two features.
    assert!(generate(&set.input(version())).is_ok());
    // Different hosts: refused, naming both.
    set.entries.last_mut().unwrap().0.hosts.clear();
    let err = generate(&set.input(version())).err().unwrap();
    assert!(
        matches!(&err, GenError::HostsDiffer { first, second, .. }
            if first.as_str() == "weather" && second.as_str() == "weather_again"),
        "{err:?}"
    );
    insta::assert_snapshot!(err.to_string(), @"connector id `connector.acme.weather.forecast` is locked as `weather` and `weather_again` with different `hosts`; the bundle links it once, so give both the same `hosts` in latticeflow.toml (or remove one) and run `lf-resolve lock`");
}

#[test]
fn same_id_and_module_under_two_names_is_one_node_two_features() {
    let mut set = Set::new(&FIXTURES[..1]);
    set.push("hash_again", FIXTURES[0].1, "module-hash");
    let files = generate(&set.input(version())).unwrap();
    let umbrella = files
        .iter()
        .find(|f| f.path == Path::new("latticeflow_connectors/src/lib.rs"))
        .unwrap();
    assert_eq!(
        umbrella
            .contents
            .matches("hash_register(registry)?")
            .count(),
        1,
        "{}",
        umbrella.contents
    );
    assert!(
        umbrella
            .contents
            .contains(r#"#[cfg(any(feature = "hash", feature = "hash_again"))]"#),
        "{}",
        umbrella.contents
    );
    let toml = files
        .iter()
        .find(|f| f.path == Path::new("latticeflow_connectors/Cargo.toml"))
        .unwrap();
    assert!(
        toml.contents
            .contains("hash_again = [\"dep:connector_latticeflow\"]")
    );
}

#[test]
fn same_id_with_two_modules_is_an_error() {
    let mut set = Set::new(&FIXTURES[..1]);
    set.push("hash_v2", FIXTURES[0].1, "another-module");
    let err = generate(&set.input(version())).err().unwrap();
    match &err {
        GenError::DuplicateId(d) => {
            assert_eq!(d.id.as_str(), "connector.latticeflow.text.hash");
            assert_eq!(d.first.as_str(), "hash");
            assert_eq!(d.second.as_str(), "hash_v2");
            assert_eq!(d.first_digest, digest("module-hash"));
            assert_eq!(d.second_digest, digest("another-module"));
        }
        other => panic!("unexpected {other:?}"),
    }
    insta::assert_snapshot!(err.to_string(), @"connector id `connector.latticeflow.text.hash` is locked twice with different modules: `hash` (sha256:6d6f64756c652d686173686d6f64756c652d686173686d6f64756c652d686173) and `hash_v2` (sha256:616e6f746865722d6d6f64756c65616e6f746865722d6d6f64756c65616e6f74); a bundle can hold one module per id, so remove one of them from latticeflow.toml and run `lf-resolve lock`");
}

#[test]
fn other_errors() {
    // A feature cannot be called `default`.
    let set = Set::new(&[("default", FIXTURES[0].1)]);
    let err = generate(&set.input(version())).err().unwrap();
    assert!(matches!(err, GenError::ReservedName(ref n) if n.as_str() == "default"));

    // Ids whose Rust names collide.
    let set = Set::new(&[
        (
            "a",
            "id: connector.acme.kv.a_1\ninputs: []\noutputs: []\neffects: []\ndeterministic: true\ncapabilities: []\n",
        ),
        (
            "b",
            "id: connector.acme.kv.a1\ninputs: []\noutputs: []\neffects: []\ndeterministic: true\ncapabilities: []\n",
        ),
    ]);
    let err = generate(&set.input(version())).err().unwrap();
    assert!(matches!(err, GenError::NameCollision(_)), "{err}");

    // The lock and the manifest disagree on the id.
    let mut set = Set::new(&FIXTURES[..2]);
    set.entries[0].0.id = set.entries[1].1.id().clone();
    let err = generate(&set.input(version())).err().unwrap();
    assert!(matches!(err, GenError::IdMismatch { .. }), "{err}");

    // A module locked by sha512 cannot be checked by the generated code.
    let mut set = Set::new(&FIXTURES[..1]);
    set.entries[0].0.module.digest = format!("sha512:{}", "ab".repeat(64)).parse().unwrap();
    let err = generate(&set.input(version())).err().unwrap();
    assert!(matches!(err, GenError::UnsupportedDigest { .. }), "{err}");

    // The same name twice.
    let mut set = Set::new(&FIXTURES[..1]);
    set.push("hash", FIXTURES[4].1, "x");
    let err = generate(&set.input(version())).err().unwrap();
    let name: ConnectorName = "hash".parse().unwrap();
    assert_eq!(err, GenError::DuplicateName(name));
}

#[test]
fn empty_lock_gives_an_umbrella_crate_only() {
    let set = Set::new(&[]);
    let files = generate(&set.input(version())).unwrap();
    assert_eq!(
        paths(&files),
        [
            "latticeflow_connectors/Cargo.toml",
            "latticeflow_connectors/src/lib.rs"
        ]
    );
    for file in &files {
        if file.path.extension().is_some_and(|e| e == "rs") {
            syn::parse_file(&file.contents).unwrap();
        }
    }
}

/// Writes the generated crates of `set` with placeholder module blobs into a
/// temporary workspace and runs `cargo clippy -D warnings` on every crate,
/// with all and with no connector features. It shares the main workspace's
/// target directory and `Cargo.lock`, so lf-runtime's host (wasmtime
/// included) is checked once for all callers.
fn clippy_generated(set: &Set) {
    let main = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crates = dir.path().join("vendor/crates");
    let blobs = dir.path().join("vendor/oci/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for (locked, _) in &set.entries {
        std::fs::write(blobs.join(locked.module.digest.hex()), b"\0asm").unwrap();
    }
    let files = generate(&set.input(RuntimeDependency::Path(main.join("runtime")))).unwrap();
    let mut members = std::collections::BTreeSet::new();
    for file in &files {
        let path = crates.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.contents).unwrap();
        members.insert(format!("{:?}", file.path.iter().next().unwrap()));
    }
    std::fs::write(
        crates.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
    .unwrap();
    // Same dependency versions as the main workspace, so its build is reused.
    std::fs::copy(main.join("Cargo.lock"), crates.join("Cargo.lock")).unwrap();

    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| main.join("target"), PathBuf::from);
    for features in [
        &["--all-features"][..],
        &["-p", "latticeflow_connectors", "--no-default-features"],
    ] {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["clippy", "--offline", "--quiet", "--workspace"])
            .args(features)
            .args(["--", "-D", "warnings", "-D", "missing_docs"])
            .current_dir(&crates)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo clippy {features:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The generated crates of the fixtures and the odd cases pass clippy. Slow
/// the first time (it checks lf-runtime's host, wasmtime included, unless the
/// workspace target dir already has it): run with
/// `cargo test -p lf-wrapper-gen -- --ignored`.
#[test]
#[ignore = "slow: spawns `cargo clippy` on the generated crates; run with --ignored"]
fn generated_crates_pass_clippy() {
    let mut set = Set::new(&FIXTURES);
    set.entries.extend(Set::new(&ODD).entries);
    clippy_generated(&set);
}

/// A manifest with [`ConnectorManifest::MAX_FIELDS`] inputs and as many
/// outputs, of every type.
fn widest_manifest() -> String {
    const TYPES: [&str; 8] = [
        "string",
        "optional<bytes>",
        "int",
        "list<optional<string>>",
        "json",
        "bool",
        "bytes",
        "optional<float>",
    ];
    let fields = |prefix: &str| -> String {
        (0..ConnectorManifest::MAX_FIELDS)
            .map(|i| {
                format!(
                    "  - name: {prefix}{i}\n    type: {}\n",
                    TYPES[i % TYPES.len()]
                )
            })
            .collect()
    };
    format!(
        "id: connector.wide.widest\ninputs:\n{}outputs:\n{}effects: []\ndeterministic: true\ncapabilities: []\n",
        fields("in_"),
        fields("out_"),
    )
}

/// The generated code of a connector at the field limit compiles (rustc
/// overflowed its stack on the derives of a 10,000-field struct; the limit
/// keeps manifests well below that). Same cost as the test above once its
/// build is shared (a few seconds for the wide crate itself).
#[test]
#[ignore = "slow: spawns `cargo clippy` on a generated crate; run with --ignored"]
fn generated_crates_pass_clippy_at_the_field_limit() {
    let yaml = widest_manifest();
    let mut set = Set::new(&[]);
    set.push("widest", &yaml, "module-widest");
    assert_eq!(
        set.entries[0].1.inputs().len(),
        ConnectorManifest::MAX_FIELDS
    );
    clippy_generated(&set);
}

#[test]
fn one_field_past_the_limit_is_refused_before_generation() {
    let yaml = widest_manifest().replacen(
        "outputs:\n",
        "  - name: one_more\n    type: string\noutputs:\n",
        1,
    );
    let e = ConnectorManifest::from_yaml(&yaml).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("at most {} inputs", ConnectorManifest::MAX_FIELDS)),
        "{e}"
    );
}
