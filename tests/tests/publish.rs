//! `lf-resolve publish` against a real cargo registry
//! (ferro-cargo-registry-server on 127.0.0.1, installed by
//! `scripts/install-crate-registry.sh`), and a bundle outside this checkout
//! that depends on the published crates by version: built, fetched, built
//! again offline, and every node invoked.
//!
//! Without the server these tests fail under CI (`CI=true`) and skip
//! locally, saying why.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lf_e2e::{lf_with, ok, workspace, workspace_profiles};
use lf_registry_fixtures::{CrateRegistry, Fault, FaultProxy, Registry, Rule};

/// The registry name the tests configure in `.cargo/config.toml`.
const NAME: &str = "lftest";
/// The connector SDK crates `publish` puts beside lf-runtime, in order.
const SDK: [&str; 3] = ["lf-lockfile", "lf-wrapper-gen", "lf-certify"];
/// The token cargo sends (ferro accepts any; the proxy test refuses it).
const TOKEN: &str = "lftest-secret-token-0xC0FFEE";

/// The crate registry, or `None` (after saying why) when the server is not
/// installed and this is not CI.
fn crate_registry() -> Option<CrateRegistry> {
    match lf_registry_fixtures::crate_registry_binary() {
        Ok(_) => Some(CrateRegistry::start().unwrap()),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the crate registry is missing: {e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// `lf-resolve args` in `dir` with cargo's token for the test registry in
/// the environment (where cargo finds it; lf-resolve never reads it).
fn lf_token(dir: &Path, args: &[&str]) -> Output {
    let var = format!("CARGO_REGISTRIES_{}_TOKEN", NAME.to_uppercase());
    lf_with(dir, args, &[(var.as_str(), Path::new(TOKEN))])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Pushes fixture `name` as `<registry>/latticeflow/<name>:1.0`, with
/// connector.yaml edited by `edit` (in a copy).
fn push_fixture(dir: &Path, registry: &Registry, name: &str, edit: impl Fn(String) -> String) {
    let source = workspace().join("registry-fixtures/connectors").join(name);
    let copy = dir.join("src").join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["connector.yaml", "module.wat"] {
        std::fs::copy(source.join(file), copy.join(file)).unwrap();
    }
    let yaml = std::fs::read_to_string(copy.join("connector.yaml")).unwrap();
    std::fs::write(copy.join("connector.yaml"), edit(yaml)).unwrap();
    let reference = format!("{}/latticeflow/{name}:1.0", registry.host());
    ok(
        lf_with(dir, &["push", copy.to_str().unwrap(), &reference], &[]),
        "push",
    );
}

/// A locked project with text-upper (version 1.2.0), kv-counter (0.3.1) and
/// hash (no version), and `.cargo/config.toml` naming `crates` as `lftest`.
fn locked_project(registry: &Registry, crates: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    push_fixture(dir, registry, "text-upper", |y| {
        format!("version: 1.2.0\n{y}")
    });
    push_fixture(dir, registry, "kv-counter", |y| {
        format!("version: 0.3.1\n{y}")
    });
    push_fixture(dir, registry, "hash", |y| y);
    let reference = |name: &str| format!("{}/latticeflow/{name}:1.0", registry.host());
    std::fs::write(
        dir.join("latticeflow.toml"),
        format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.text_upper]\nref = \"{}\"\n\n[connectors.counter]\nref = \"{}\"\ncapabilities = [\"kv.read\", \"kv.write\"]\n\n[connectors.hash]\nref = \"{}\"\n",
            reference("text-upper"),
            reference("kv-counter"),
            reference("hash"),
        ),
    )
    .unwrap();
    ok(lf_with(dir, &["lock"], &[]), "lock");
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join(".cargo/config.toml"), crates).unwrap();
    project
}

/// The index entries of `name` as the registry serves them (empty when it
/// has none).
fn index(crates: &CrateRegistry, name: &str) -> Vec<serde_json::Value> {
    crates
        .index_file(name)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn published_crates_build_a_bundle_offline_and_every_node_runs() {
    let Some(crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();

    // Dry run: packages, shows, publishes nothing.
    let dry = lf_token(dir, &["publish", "--registry", NAME, "--dry-run"]);
    let text = stderr(&dry);
    assert!(dry.status.success(), "{text}");
    assert!(text.contains("Would publish lf-runtime 0.1.0"), "{text}");
    // The SDK a native connector crate builds against, from the same binary.
    for sdk in SDK {
        assert!(
            text.contains(&format!("Would publish {sdk} 0.1.0")),
            "{text}"
        );
        assert!(index(&crates, sdk).is_empty());
    }
    // 1.2.0 + 0.3.1 + (none) = 1.5.1
    assert!(
        text.contains("Would publish connector_latticeflow 1.5.1"),
        "{text}"
    );
    assert!(index(&crates, "lf-runtime").is_empty());
    assert!(index(&crates, "connector_latticeflow").is_empty());

    let lock = std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap();
    let publish = lf_token(
        dir,
        &["publish", "--registry", NAME, "--message-format", "json"],
    );
    let text = stderr(&publish);
    assert!(publish.status.success(), "{text}");
    let stdout = String::from_utf8(publish.stdout).unwrap();
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let published = |name: &str| {
        events
            .iter()
            .find(|e| e["status"] == "published" && e["crate"] == name)
            .unwrap_or_else(|| panic!("{name} not published: {stdout}"))["cksum"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Staged elsewhere: nothing written into the project.
    assert!(!dir.join("vendor").exists());
    assert!(!dir.join("target").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("latticeflow.lock")).unwrap(),
        lock
    );
    assert!(!text.contains(TOKEN), "the token is never printed: {text}");
    assert!(
        !stdout.contains(TOKEN),
        "the token is never printed: {stdout}"
    );
    // What lf-resolve packaged is byte for byte what cargo published.
    assert_eq!(
        index(&crates, "lf-runtime")[0]["cksum"],
        published("lf-runtime").as_str()
    );
    for sdk in SDK {
        let entries = index(&crates, sdk);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["cksum"], published(sdk).as_str());
    }
    // Their dependencies on each other: exact versions from this registry.
    let wrapper_gen = &index(&crates, "lf-wrapper-gen")[0];
    for dep in ["lf-lockfile", "lf-runtime"] {
        assert!(
            wrapper_gen["deps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["name"] == dep && d["req"] == "=0.1.0" && d["registry"].is_null()),
            "{wrapper_gen}"
        );
    }
    let entries = index(&crates, "connector_latticeflow");
    assert_eq!(
        entries[0]["cksum"],
        published("connector_latticeflow").as_str()
    );
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["vers"], "1.5.1");
    let cksum = entries[0]["cksum"].as_str().unwrap().to_owned();
    assert!(
        entries[0]["deps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "lf-runtime" && d["req"] == "=0.1.0"),
        "{entries:?}"
    );

    // Republishing the same lock: a no-op.
    let again = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&again);
    assert!(again.status.success(), "{text}");
    assert!(
        text.contains("Unchanged connector_latticeflow 1.5.1"),
        "{text}"
    );
    assert!(text.contains("Unchanged lf-runtime 0.1.0"), "{text}");
    assert!(text.contains("Unchanged lf-certify 0.1.0"), "{text}");
    assert!(!text.contains("Published"), "{text}");
    assert_eq!(index(&crates, "connector_latticeflow").len(), 1);
    assert_eq!(
        index(&crates, "connector_latticeflow")[0]["cksum"],
        cksum.as_str()
    );

    // A native connector crate as `lf-resolve new --lang native --registry`
    // scaffolds it (build.rs codegen with lf-wrapper-gen, lf-certify for its
    // test, all from the same registry), published with plain `cargo publish`.
    let native = tempfile::tempdir().unwrap();
    publish_native(native.path(), &crates);
    assert_eq!(index(&crates, "connector_wordstat")[0]["vers"], "0.1.0");

    // A fresh bundle outside this checkout, depending on the crates by
    // version from the registry.
    let bundle = tempfile::tempdir().unwrap();
    assert!(!bundle.path().starts_with(workspace()));
    let bundle = bundle.path();
    write_bundle(bundle, &crates);
    cargo(bundle, &["build", "--quiet"]);
    cargo(bundle, &["fetch", "--quiet"]);
    let binary = cargo(bundle, &["build", "--offline", "--quiet"]);
    let run = Command::new(binary).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0]["output"]["text"], "HELLO, REGISTRY");
    assert_eq!(lines[1]["output"]["count"], 1);
    assert_eq!(lines[2]["output"]["count"], 2);
    assert_eq!(lines[3]["output"]["length"], 15);
    assert_eq!(lines[4]["node"], "connector.wordstat.text.greet");
    assert_eq!(lines[4]["output"]["greeting"], "Hello, registry!");
    // The bundle got the crate from the registry, not from a path.
    let lock = std::fs::read_to_string(bundle.join("Cargo.lock")).unwrap();
    let entry = &lock[lock.find("name = \"connector_latticeflow\"").unwrap()..];
    assert!(entry.contains("version = \"1.5.1\""), "{entry}");
    assert!(
        entry.contains("source = \"sparse+http://127.0.0.1:"),
        "{entry}"
    );
    assert!(
        entry.contains(&format!("checksum = \"{cksum}\"")),
        "{entry}"
    );
    // So did the native crate's build-time codegen.
    for name in ["connector_wordstat", "lf-wrapper-gen", "lf-lockfile"] {
        let entry = &lock[lock.find(&format!("name = \"{name}\"")).unwrap()..];
        assert!(
            entry.contains("source = \"sparse+http://127.0.0.1:"),
            "{name}: {entry}"
        );
    }
}

/// A binary crate in `dir` that registers every published node and invokes
/// each, printing one JSON line per call.
fn write_bundle(dir: &Path, crates: &CrateRegistry) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join(".cargo/config.toml"), crates.cargo_config(NAME)).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lf-publish-bundle\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nconnector_latticeflow = {{ version = \"1.5.1\", registry = \"{NAME}\" }}\nconnector_wordstat = {{ version = \"0.1\", registry = \"{NAME}\" }}\nlf-runtime = {{ version = \"=0.1.0\", registry = \"{NAME}\" }}\nserde_json = \"1\"\n\n[workspace]\n{}",
            workspace_profiles()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        r#"use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lf_runtime::host::{Capabilities, HostError, HostResult, NodeRegistry};
use lf_runtime::spec::ConnectorId;
use serde_json::{Value, json};

#[derive(Default)]
struct Kv(Mutex<HashMap<String, String>>);

impl Capabilities for Kv {
    fn kv_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let key = request["key"].as_str().ok_or_else(|| HostError::new("bad_request", "key"))?;
        Ok(json!({ "value": self.0.lock().unwrap().get(key) }))
    }

    fn kv_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        let (Some(k), Some(v)) = (request["key"].as_str(), request["value"].as_str()) else {
            return Err(HostError::new("bad_request", "key and value"));
        };
        self.0.lock().unwrap().insert(k.to_owned(), v.to_owned());
        Ok(json!({}))
    }
}

fn main() {
    let mut registry = NodeRegistry::new();
    connector_latticeflow::text::upper_register(&mut registry).unwrap();
    connector_latticeflow::kv::counter_register(&mut registry).unwrap();
    connector_latticeflow::text::hash_register(&mut registry).unwrap();
    connector_wordstat::greet_register(&mut registry).unwrap();
    let caps: Arc<dyn Capabilities> = Arc::new(Kv::default());
    for (id, input) in [
        ("connector.latticeflow.text.upper", json!({ "text": "hello, registry" })),
        ("connector.latticeflow.kv.counter", json!({ "key": "runs" })),
        ("connector.latticeflow.kv.counter", json!({ "key": "runs" })),
        ("connector.latticeflow.text.hash", json!({ "text": "HELLO, REGISTRY" })),
        ("connector.wordstat.text.greet", json!({ "name": "registry" })),
    ] {
        let output = registry.invoke(id, input, &caps).unwrap();
        println!("{}", json!({ "node": id, "output": output }));
    }
}
"#,
    )
    .unwrap();
    // This workspace's lock: crates.io dependencies at versions already
    // downloaded and built in the shared target directory.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

/// Scaffolds the native connector crate `connector_wordstat`
/// (`connector.wordstat.text.greet`) with `lf-resolve new --lang native
/// --registry`, and publishes it to the test registry with `cargo publish`,
/// which resolves its SDK dependencies there. `--no-verify`: verifying would
/// build it and lf-runtime again in a target directory of its own (minutes
/// on two cores); the bundle builds it anyway.
fn publish_native(dir: &Path, crates: &CrateRegistry) {
    let krate = dir.join("connector_wordstat");
    ok(
        lf_with(
            dir,
            &[
                "new",
                "connector_wordstat",
                "--lang",
                "native",
                "--id",
                "connector.wordstat.text.greet",
                "--registry",
                NAME,
            ],
            &[],
        ),
        "new --lang native --registry",
    );
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    for dep in ["lf-runtime", "lf-wrapper-gen", "lf-certify"] {
        assert!(
            manifest.contains(&format!(
                "{dep} = {{ version = \"=0.1.0\", registry = \"{NAME}\" }}"
            )),
            "{manifest}"
        );
    }
    assert!(
        manifest.contains(&format!("publish = [\"{NAME}\"]")),
        "{manifest}"
    );
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let var = format!("CARGO_REGISTRIES_{}_TOKEN", NAME.to_uppercase());
    let out = Command::new(env!("CARGO"))
        .args(["publish", "--no-verify", "--quiet", "--registry", NAME])
        .arg("--config")
        .arg(format!(
            "registries.{NAME}.index=\"{}\"",
            crates.index_url()
        ))
        .current_dir(&krate)
        .env(var, TOKEN)
        .env("CARGO_TARGET_DIR", krate.join("target"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs cargo in the bundle with the shared target directory; the path of
/// the bundle's binary.
fn cargo(dir: &Path, args: &[&str]) -> PathBuf {
    let target = workspace().join("target");
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo {args:?}: {}", stderr(&out));
    target.join("debug/lf-publish-bundle")
}

#[test]
fn a_stale_lock_or_a_down_registry_publishes_nothing() {
    let Some(mut crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();

    // Stale: latticeflow.toml changed since the lock.
    let toml = std::fs::read_to_string(dir.join("latticeflow.toml")).unwrap();
    std::fs::write(
        dir.join("latticeflow.toml"),
        toml.replace("[connectors.hash]", "[connectors.hashed]"),
    )
    .unwrap();
    let stale = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&stale);
    assert_eq!(stale.status.code(), Some(1), "{text}");
    assert!(text.contains("nothing was published"), "{text}");
    assert!(text.contains("latticeflow.lock"), "{text}");
    assert!(index(&crates, "lf-runtime").is_empty());
    std::fs::write(dir.join("latticeflow.toml"), toml).unwrap();

    // A registry name cargo does not know.
    let unknown = lf_token(dir, &["publish", "--registry", "nowhere"]);
    let text = stderr(&unknown);
    assert_eq!(unknown.status.code(), Some(2), "{text}");
    assert!(text.contains("cargo has no registry `nowhere`"), "{text}");

    // Down.
    crates.stop();
    let down = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&down);
    assert_eq!(down.status.code(), Some(3), "{text}");
    assert!(text.contains("registry `lftest`: cannot read"), "{text}");
    assert!(text.contains("nothing was published"), "{text}");
}

#[test]
fn a_damaged_vendored_module_publishes_nothing() {
    let Some(crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();
    ok(lf_with(dir, &["vendor"], &[]), "vendor");
    // Same size, one byte changed, in every vendored module.
    let blobs = dir.join("vendor/oci/blobs/sha256");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(b"\0asm") {
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert_eq!(damaged, 3);
    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("nothing was published"), "{text}");
    assert!(text.contains("connector `text_upper`"), "{text}");
    assert!(index(&crates, "lf-runtime").is_empty());
    assert!(index(&crates, "connector_latticeflow").is_empty());
}

#[test]
fn without_a_token_cargo_says_so_and_nothing_is_published() {
    let Some(crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();
    // An empty CARGO_HOME would lose the crates.io cache; no token variable
    // and no credentials for this fresh registry name is enough.
    let out = lf_with(dir, &["publish", "--registry", NAME], &[]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("no token found for `lftest`"), "{text}");
    assert!(text.contains("published: none"), "{text}");
    assert!(index(&crates, "lf-runtime").is_empty());
}

#[test]
fn a_registry_refusing_the_token_part_way_says_what_was_published() {
    let Some(plain) = crate_registry() else {
        return;
    };
    drop(plain);
    // ferro accepts any token: a proxy in front refuses the second upload,
    // as a registry whose token may publish lf-runtime but not the next
    // crate would.
    let upstream = CrateRegistry::free_addr().unwrap();
    let proxy = FaultProxy::start(upstream).unwrap();
    let crates = CrateRegistry::start_behind(upstream, &proxy.url()).unwrap();
    let registry = Registry::start().unwrap();
    let config = format!("[registries.{NAME}]\nindex = \"sparse+{}/\"\n", proxy.url());
    let project = locked_project(&registry, &config);
    let dir = project.path();
    // The first upload (lf-runtime) passes, every later one gets 403.
    let put = lf_registry_fixtures::proxy::Method::PUT;
    proxy.add(
        Rule::new("/api/v1/crates/new", Fault::Delay(Duration::ZERO))
            .method(put.clone())
            .times(1),
    );
    proxy.add(Rule::new("/api/v1/crates/new", Fault::status(403)).method(put));
    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(!text.contains(TOKEN), "the token is never printed: {text}");
    assert!(
        text.contains("`cargo publish` of `lf-lockfile` 0.1.0 to registry `lftest` failed"),
        "{text}"
    );
    assert!(text.contains("published: lf-runtime 0.1.0"), "{text}");
    assert!(text.contains("failed: lf-lockfile 0.1.0"), "{text}");
    assert!(
        text.contains(
            "not attempted: lf-wrapper-gen 0.1.0, lf-certify 0.1.0, connector_latticeflow 1.5.1"
        ),
        "{text}"
    );
    assert!(text.contains("403"), "cargo's reason: {text}");
    assert_eq!(index(&crates, "lf-runtime").len(), 1);
    assert!(index(&crates, "lf-lockfile").is_empty());
    assert!(index(&crates, "connector_latticeflow").is_empty());
    assert!(
        proxy
            .requests()
            .iter()
            .filter(|s| s.path.contains("/api/v1/crates/new"))
            .all(|s| s.authorization),
        "cargo sent its token with every upload"
    );

    // The registry accepts again: what was published is skipped.
    proxy.clear();
    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Unchanged lf-runtime 0.1.0"), "{text}");
    assert!(text.contains("Published lf-lockfile 0.1.0"), "{text}");
    assert!(
        text.contains("Published connector_latticeflow 1.5.1"),
        "{text}"
    );
}

#[test]
fn a_changed_module_under_a_published_version_is_refused() {
    let Some(crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();
    ok(lf_token(dir, &["publish", "--registry", NAME]), "publish");
    let published = index(&crates, "connector_latticeflow");
    assert_eq!(published.len(), 1);
    let cksum = published[0]["cksum"].as_str().unwrap().to_owned();

    // text-upper changes (one more declared error) but keeps 1.2.0.
    push_fixture(dir, &registry, "text-upper", |y| {
        format!("version: 1.2.0\n{y}  - code: too_long\n    retryable: false\n")
    });
    ok(
        lf_with(dir, &["lock", "--update", "text_upper"], &[]),
        "lock --update",
    );
    for args in [
        &["publish", "--registry", NAME, "--dry-run"][..],
        &["publish", "--registry", NAME][..],
    ] {
        let out = lf_token(dir, args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("crate `connector_latticeflow` 1.5.1 is already in registry `lftest` with other content"),
            "{text}"
        );
        assert!(
            text.contains(&cksum),
            "names the published checksum: {text}"
        );
        assert!(text.contains("nothing was published"), "{text}");
    }
    assert_eq!(index(&crates, "connector_latticeflow"), published);

    // A new release of the connector moves the crate version: published.
    push_fixture(dir, &registry, "text-upper", |y| {
        format!("version: 1.3.0\n{y}  - code: too_long\n    retryable: false\n")
    });
    ok(
        lf_with(dir, &["lock", "--update", "text_upper"], &[]),
        "lock --update",
    );
    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Published connector_latticeflow 1.6.1"),
        "{text}"
    );
    assert!(text.contains("Unchanged lf-runtime 0.1.0"), "{text}");
    assert_eq!(index(&crates, "connector_latticeflow").len(), 2);

    // Going back to an older connector version gives a lower crate version
    // with new content: cargo would take it, but bundles would keep 1.6.1.
    push_fixture(dir, &registry, "text-upper", |y| {
        format!("version: 1.1.0\n{y}  - code: too_long\n    retryable: false\n")
    });
    ok(
        lf_with(dir, &["lock", "--update", "text_upper"], &[]),
        "lock --update",
    );
    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "this lock gives version 1.4.1, lower than 1.6.1 already in registry `lftest`"
        ),
        "{text}"
    );
    assert_eq!(index(&crates, "connector_latticeflow").len(), 2);
}

#[test]
fn a_crate_name_that_folds_onto_another_is_refused() {
    let Some(crates) = crate_registry() else {
        return;
    };
    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let dir = project.path();
    // Another vendor's crate, `connector-latticeflow`, is in the registry
    // already; cargo folds `-` and `_`, so ours cannot be published.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("src")).unwrap();
    std::fs::write(other.path().join("src/lib.rs"), "//! Another vendor.\n").unwrap();
    std::fs::write(
        other.path().join("Cargo.toml"),
        "[package]\nname = \"connector-latticeflow\"\nversion = \"9.0.0\"\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"x\"\n\n[workspace]\n",
    )
    .unwrap();
    let var = format!("CARGO_REGISTRIES_{}_TOKEN", NAME.to_uppercase());
    let out = Command::new(env!("CARGO"))
        .args(["publish", "--no-verify", "--quiet", "--registry", NAME])
        .arg("--config")
        .arg(format!(
            "registries.{NAME}.index=\"{}\"",
            crates.index_url()
        ))
        .current_dir(other.path())
        .env(var, TOKEN)
        .env("CARGO_TARGET_DIR", other.path().join("target"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = lf_token(dir, &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("crate `connector_latticeflow` would collide with `connector-latticeflow`"),
        "{text}"
    );
    assert!(index(&crates, "lf-runtime").is_empty(), "nothing published");
}

#[test]
fn an_sdk_crate_already_in_the_registry_with_other_content_is_refused() {
    let Some(crates) = crate_registry() else {
        return;
    };
    // Someone published their own `lf-wrapper-gen` 0.1.0 first: native
    // crates built against this registry would run its code at build time.
    let squat = tempfile::tempdir().unwrap();
    let dir = squat.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lf-wrapper-gen\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"not the real one\"\npublish = [\"{NAME}\"]\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "//! Not the real one.\n").unwrap();
    let var = format!("CARGO_REGISTRIES_{}_TOKEN", NAME.to_uppercase());
    let out = Command::new(env!("CARGO"))
        .args(["publish", "--no-verify", "--quiet", "--registry", NAME])
        .arg("--config")
        .arg(format!(
            "registries.{NAME}.index=\"{}\"",
            crates.index_url()
        ))
        .current_dir(dir)
        .env(var, TOKEN)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let squatted = index(&crates, "lf-wrapper-gen")[0]["cksum"]
        .as_str()
        .unwrap()
        .to_owned();

    let registry = Registry::start().unwrap();
    let project = locked_project(&registry, &crates.cargo_config(NAME));
    let out = lf_token(project.path(), &["publish", "--registry", NAME]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("refusing to publish"), "{text}");
    assert!(
        text.contains(&format!(
            "crate `lf-wrapper-gen` 0.1.0 is already in registry `{NAME}` with other content (sha256 {squatted}"
        )),
        "{text}"
    );
    // Checked before the first upload: not even lf-runtime went out.
    for name in [
        "lf-runtime",
        "lf-lockfile",
        "lf-certify",
        "connector_latticeflow",
    ] {
        assert!(index(&crates, name).is_empty(), "{name}");
    }
    assert_eq!(index(&crates, "lf-wrapper-gen").len(), 1);
}
