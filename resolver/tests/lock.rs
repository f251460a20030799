//! `lf-resolve lock`, `fetch` and `verify` against a real registry
//! (CNCF distribution, started per test on 127.0.0.1) holding the fixture
//! connectors of `lf-registry-fixtures`.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;

use common::{Project, Run};
use lf_lockfile::Lockfile;
use lf_registry_fixtures::{PushedFixture, Registry, fixtures, push_all_blocking};
use lf_runtime::spec::ConnectorManifest;

/// A registry with every fixture pushed, and a project that uses the good ones.
struct Setup {
    registry: Registry,
    pushed: Vec<PushedFixture>,
    project: Project,
}

fn connector_name(fixture: &str) -> String {
    fixture.replace('-', "_")
}

/// `latticeflow.toml` for these fixtures (name, reference), granting what
/// each declares.
fn config_for(entries: &[(String, String)]) -> String {
    let mut toml = String::from("[policy]\nsignatures = \"none\"\n");
    for (fixture, reference) in entries {
        let manifest = fixtures()
            .into_iter()
            .find(|f| f.name == fixture.as_str())
            .map(|f| ConnectorManifest::from_yaml(f.yaml).unwrap());
        let grants: Vec<String> = manifest
            .map(|m| {
                m.capabilities()
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect()
            })
            .unwrap_or_default();
        toml.push_str(&format!(
            "\n[connectors.{}]\nref = \"{reference}\"\ncapabilities = [{}]\n",
            connector_name(fixture),
            grants.join(", ")
        ));
    }
    toml
}

fn setup() -> Setup {
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let good: Vec<(String, String)> = pushed
        .iter()
        .filter(|p| p.rejection.is_none())
        .map(|p| (p.name.clone(), p.reference.clone()))
        .collect();
    assert!(good.len() >= 5, "at least five good fixtures");
    let project = Project::with(&[("latticeflow.toml", &config_for(&good))]);
    Setup {
        registry,
        pushed,
        project,
    }
}

fn lock_of(p: &Project) -> Lockfile {
    Lockfile::parse(
        &p.path().join("latticeflow.lock"),
        &p.read("latticeflow.lock"),
    )
    .unwrap()
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn store_blobs(p: &Project) -> BTreeSet<String> {
    p.files_under(".cache/blobs")
        .keys()
        .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn locks_every_fixture_and_a_second_lock_is_a_no_op() {
    let s = setup();
    let p = &s.project;
    let first = p.run(&["lock", "--message-format", "json"]);
    assert_ok(&first);
    let lock = lock_of(p);
    assert_eq!(lock.connectors().len(), 5);
    for entry in lock.connectors() {
        let pushed = s
            .pushed
            .iter()
            .find(|f| connector_name(&f.name) == entry.name.as_str())
            .unwrap();
        assert_eq!(
            entry.digest.to_string(),
            pushed.manifest_digest,
            "{}",
            entry.name
        );
        let artifact = pushed.artifact.as_ref().unwrap();
        assert_eq!(entry.module.digest.to_string(), artifact.module.digest);
        assert_eq!(entry.module.size, artifact.module.size);
        assert_eq!(entry.config.digest.to_string(), artifact.config.digest);
        assert!(entry.capabilities.is_subset(&entry.grants));
        assert!(entry.id.as_str().starts_with("connector.latticeflow."));
    }
    let downloaded: u64 = first
        .events()
        .iter()
        .filter(|e| e["type"] == "resolved")
        .map(|e| e["downloaded"].as_u64().unwrap())
        .sum();
    assert!(downloaded > 0);
    assert_eq!(first.events().last().unwrap()["status"], "written");

    let bytes = p.read("latticeflow.lock");
    let modified = std::fs::metadata(p.path().join("latticeflow.lock"))
        .unwrap()
        .modified()
        .unwrap();
    let second = p.run(&["lock", "--message-format", "json"]);
    assert_ok(&second);
    assert_eq!(p.read("latticeflow.lock"), bytes, "byte-identical");
    assert_eq!(
        std::fs::metadata(p.path().join("latticeflow.lock"))
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "not rewritten"
    );
    assert!(
        second
            .events()
            .iter()
            .filter(|e| e["type"] == "resolved")
            .all(|e| e["downloaded"] == 0)
    );
    assert_eq!(second.events().last().unwrap()["status"], "unchanged");

    // The store is an OCI layout that names each artifact by reference.
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.cache().join("index.json")).unwrap())
            .unwrap();
    let names: BTreeSet<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    for entry in lock.connectors() {
        assert!(
            names.contains(entry.reference.to_string().as_str()),
            "{names:?}"
        );
    }
    assert!(p.cache().join("CACHEDIR.TAG").is_file());
    assert_ok(&p.run(&["verify"]));
    drop(s.registry);
}

#[test]
fn a_warm_store_locks_offline_and_locked_with_the_registry_stopped() {
    let mut s = setup();
    let p = &s.project;
    assert_ok(&p.run(&["lock"]));
    let bytes = p.read("latticeflow.lock");
    s.registry.stop();
    assert_ok(&p.run(&["lock", "--offline"]));
    assert_ok(&p.run(&["lock", "--locked"]));
    assert_ok(&p.run(&["lock", "--frozen"]));
    assert_ok(&p.run(&["lock"]));
    assert_eq!(p.read("latticeflow.lock"), bytes);

    // `-q` prints nothing on success; JSON is one object per line.
    let quiet = p.run(&["lock", "-q"]);
    assert_ok(&quiet);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    let json = p.run(&["lock", "--locked", "--message-format", "json"]);
    assert_ok(&json);
    assert_eq!(json.stderr, "");
    let events = json.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "lock");
    assert_eq!(events[0]["status"], "fresh");
}

#[test]
fn offline_with_a_cold_cache_names_what_is_missing() {
    let s = setup();
    let p = &s.project;
    assert_ok(&p.run(&["lock"]));
    let lock = p.read("latticeflow.lock");
    std::fs::remove_dir_all(p.cache()).unwrap();
    let run = p.run(&["lock", "--frozen"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("is not in the store, and --offline forbids downloading it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("/latticeflow/text-upper:1.0@sha256:"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("latticeflow.lock"), lock);

    // Not pinned at all: --offline cannot resolve a tag.
    std::fs::remove_file(p.path().join("latticeflow.lock")).unwrap();
    let run = p.run(&["lock", "--offline"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("is not pinned in latticeflow.lock, and --offline forbids resolving"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());

    // `fetch` brings a fresh cache up to the lock, by digest.
    p.write("latticeflow.lock", &lock);
    let fetched = p.run(&["fetch"]);
    assert_ok(&fetched);
    assert!(
        fetched.stderr.contains("Fetched 5 connectors"),
        "{}",
        fetched.stderr
    );
    assert_ok(&p.run(&["lock", "--frozen"]));
    assert_ok(&p.run(&["verify"]));
}

/// Pushes fixture `from` under `latticeflow/moving:1.0`.
fn push_as_moving(registry: &Registry, from: &str) -> String {
    let fixture = fixtures().into_iter().find(|f| f.name == from).unwrap();
    let pusher = lf_registry_fixtures::Pusher::new(&registry.host(), None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let artifact = runtime
        .block_on(pusher.push_connector(
            "latticeflow/moving",
            "1.0",
            &fixture.module,
            &Default::default(),
        ))
        .unwrap();
    artifact.manifest.digest
}

#[test]
fn a_moved_tag_stays_pinned_until_update() {
    let registry = Registry::start().unwrap();
    let first = push_as_moving(&registry, "text-upper");
    let p = Project::with(&[(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.moving]\nref = \"{}/latticeflow/moving:1.0\"\n",
            registry.host()
        ),
    )]);
    assert_ok(&p.run(&["lock"]));
    assert_eq!(lock_of(&p).connectors()[0].digest.to_string(), first);

    let second = push_as_moving(&registry, "hash");
    assert_ne!(first, second);
    assert_ok(&p.run(&["lock"]));
    assert_eq!(
        lock_of(&p).connectors()[0].digest.to_string(),
        first,
        "stays pinned"
    );

    let run = p.run(&["lock", "--update", "moving"]);
    assert_ok(&run);
    assert_eq!(
        lock_of(&p).connectors()[0].digest.to_string(),
        second,
        "moved"
    );

    // A changed latticeflow.toml: --locked fails and writes nothing.
    let before = p.read("latticeflow.lock");
    p.write(
        "latticeflow.toml",
        &p.read("latticeflow.toml").replace(
            "[connectors.moving]",
            "[connectors.moving]\ncapabilities = [\"log\"]",
        ),
    );
    let run = p.run(&["lock", "--locked"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("needs to be updated, but `--locked` was given"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "the capabilities granted to connector `moving` changed from [none] to [log]"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("latticeflow.lock"), before);

    let run = p.run(&["lock", "--update", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`--update nope`: no connector named `nope`"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_references_and_unserved_digests_are_named() {
    let s = setup();
    let host = s.registry.host();
    let zero = format!("sha256:{}", "0".repeat(64));
    let text = &s
        .pushed
        .iter()
        .find(|f| f.name == "text-upper")
        .unwrap()
        .reference;
    let cases = [
        (
            format!("{host}/latticeflow/text-upper:9.9"),
            "was not found in the registry",
        ),
        (
            format!("{host}/latticeflow/no-such-repo:1.0"),
            "was not found in the registry",
        ),
        (format!("{text}@{zero}"), "was not found in the registry"),
    ];
    for (reference, expected) in cases {
        let p = Project::with(&[(
            "latticeflow.toml",
            &format!("[policy]\nsignatures = \"none\"\n\n[connectors.a]\nref = \"{reference}\"\n"),
        )]);
        let run = p.run(&["lock"]);
        assert_eq!(run.code, 3, "{reference}: {run:?}");
        assert!(
            run.stderr.contains(&format!("`{reference}`")),
            "names the reference: {}",
            run.stderr
        );
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(!p.path().join("latticeflow.lock").exists());
    }
    // A digest written in the reference must be what the registry serves
    // for it: pin the digest of another fixture under this tag.
    let other = &s
        .pushed
        .iter()
        .find(|f| f.name == "hash")
        .unwrap()
        .manifest_digest;
    let p = Project::with(&[(
        "latticeflow.toml",
        &format!("[policy]\nsignatures = \"none\"\n\n[connectors.a]\nref = \"{text}@{other}\"\n"),
    )]);
    let run = p.run(&["lock"]);
    assert_ne!(run.code, 0, "{run:?}");
}

#[test]
fn a_blob_corrupted_in_the_registry_is_refused_and_nothing_is_kept() {
    let s = setup();
    let p = &s.project;
    let text = s.pushed.iter().find(|f| f.name == "text-upper").unwrap();
    let module = &text.artifact.as_ref().unwrap().module;
    let path = s.registry.blob_path(&module.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot lock connector `text_upper`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&module.digest), "{}", run.stderr);
    assert!(
        !p.path().join("latticeflow.lock").exists(),
        "no lock written"
    );
    let hex = module.digest.trim_start_matches("sha256:");
    assert!(!store_blobs(p).contains(hex), "no bad blob in the store");
    assert!(
        store_blobs(p).iter().all(|name| !name.starts_with(".tmp")),
        "no temp files"
    );
}

#[test]
fn every_malformed_fixture_is_rejected_with_its_reason() {
    let s = setup();
    let bad: Vec<&PushedFixture> = s.pushed.iter().filter(|f| f.rejection.is_some()).collect();
    assert!(bad.len() >= 6, "{} malformed fixtures", bad.len());
    let mut failures = Vec::new();
    let mut transcript = String::new();
    for fixture in bad {
        let p = Project::with(&[(
            "latticeflow.toml",
            &format!(
                "[policy]\nsignatures = \"none\"\n\n[connectors.bad]\nref = \"{}\"\ncapabilities = [\"http.read\"]\n",
                fixture.reference
            ),
        )]);
        let run = p.run(&["lock"]);
        let (_, reason) = fixture.rejection.unwrap();
        let expected = expected_rejection(&fixture.name);
        transcript.push_str(&format!("$ lock  # {}\n{}\n", fixture.name, run.stderr));
        if run.code != 1
            || !run.stderr.contains(expected)
            || p.path().join("latticeflow.lock").exists()
        {
            failures.push(format!(
                "{} ({reason}): exit {}, expected {expected:?} in:\n{}",
                fixture.name, run.code, run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    insta::assert_snapshot!("malformed_rejections", filter(&transcript, &s.registry));
}

/// Replaces what changes from run to run: the registry's port and digests.
fn filter(text: &str, registry: &Registry) -> String {
    let mut out = text.replace(&registry.host(), "[REGISTRY]");
    while let Some(start) = out.find("sha256:") {
        let end = out[start + 7..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(out.len(), |i| start + 7 + i);
        out.replace_range(start..end, "[DIGEST]");
    }
    out
}

/// What `lock` says about each malformed fixture.
fn expected_rejection(name: &str) -> &'static str {
    match name.strip_prefix("bad-").unwrap_or(name) {
        "two-wasm-layers" => "exactly one `application/wasm` layer; this manifest has 2",
        "octet-stream-layer" => "the layer media type is `application/octet-stream`",
        "image-config" => "the config media type is `application/vnd.oci.image.config.v1+json`",
        "undeclared-capability" => "but its manifest does not declare `http.write`",
        "foreign-import" => "imports `wasi_snapshot_preview1`.`fd_write`",
        "missing-abi-export" => "does not export `lf_invoke`",
        "bad-abi-signature" => "exports `lf_invoke` as a function (i32) -> (i32)",
        "corrupt-module" => "is not a valid connector module",
        "no-connector-section" => "has no `latticeflow.connector` custom section",
        "invalid-yaml-section" | "unknown-capability-section" => {
            "its connector manifest is invalid"
        }
        other => panic!("no expectation for malformed fixture `{other}`"),
    }
}

#[test]
fn two_processes_share_one_cache() {
    let s = setup();
    let p = &s.project;
    let other = Project::with(&[("latticeflow.toml", &p.read("latticeflow.toml"))]);
    // Both runs use the first project's cache.
    let cache = p.cache();
    let spawn = |project: &Project| {
        std::process::Command::new(common::BIN)
            .arg("lock")
            .current_dir(project.path())
            .env("LF_CACHE_DIR", &cache)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| spawn(p));
        let b = scope.spawn(|| spawn(&other));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{a:?}");
    assert!(b.status.success(), "{b:?}");
    assert_eq!(p.read("latticeflow.lock"), other.read("latticeflow.lock"));
    assert_ok(&p.run(&["verify"]));
    assert!(store_blobs(p).iter().all(|name| !name.starts_with(".tmp")));
}

#[test]
fn verify_names_each_corrupted_blob_in_the_store() {
    let s = setup();
    let p = &s.project;
    assert_ok(&p.run(&["lock"]));
    let lock = lock_of(p);
    let victim = &lock.connectors()[0];
    let path = p
        .cache()
        .join("blobs/sha256")
        .join(victim.module.digest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let run = p.run(&["verify"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "connector `{}`: module {}",
            victim.name, victim.module.digest
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 problem with the 15 locked blobs"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_ungranted_capability_names_the_connector_and_the_capability() {
    let s = setup();
    let counter = &s
        .pushed
        .iter()
        .find(|f| f.name == "kv-counter")
        .unwrap()
        .reference;
    let p = Project::with(&[(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.counter]\nref = \"{counter}\"\ncapabilities = [\"kv.read\"]\n"
        ),
    )]);
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "connector `counter` (connector.latticeflow.kv.counter) requests capability `kv.write`"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("help: if you trust it, grant them: `lf-resolve add counter"),
        "{}",
        run.stderr
    );
}

#[test]
fn required_signatures_fail_closed_until_verification_lands() {
    let s = setup();
    let text = &s
        .pushed
        .iter()
        .find(|f| f.name == "text-upper")
        .unwrap()
        .reference;
    let p = Project::with(&[(
        "latticeflow.toml",
        &format!("[connectors.text]\nref = \"{text}\"\n"),
    )]);
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("requires a verified signature"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
}

#[test]
fn generate_writes_the_wrapper_crates_and_check_notices_drift() {
    let s = setup();
    let p = &s.project;
    assert_ok(&p.run(&["lock"]));
    let run = p.run(&["generate"]);
    assert_ok(&run);
    assert!(
        p.path().join("vendor/oci/oci-layout").is_file(),
        "generate vendors first"
    );
    let umbrella = p.read("vendor/crates/latticeflow_connectors/Cargo.toml");
    for feature in [
        "hash",
        "http_fetch",
        "json_reshape",
        "kv_counter",
        "text_upper",
    ] {
        assert!(
            umbrella.contains(&format!("{feature} = [")),
            "feature {feature}: {umbrella}"
        );
    }
    let lib = p.read("vendor/crates/connector_latticeflow/src/text.rs");
    assert!(lib.contains("include_bytes!"), "{lib}");
    assert!(
        lib.contains("../../oci/blobs/sha256/"),
        "embeds from the vendor dir: {lib}"
    );
    assert_ok(&p.run(&["generate", "--check"]));
    let again = p.run(&["generate"]);
    assert_ok(&again);
    assert!(
        again.stderr.contains("(0 written)"),
        "deterministic: {}",
        again.stderr
    );

    p.write(
        "vendor/crates/connector_latticeflow/src/text.rs",
        &format!("{lib}\n// edited\n"),
    );
    let drift = p.run(&["generate", "--check"]);
    assert_eq!(drift.code, 1, "{drift:?}");
    assert!(
        drift.stderr.contains("text.rs` differs"),
        "{}",
        drift.stderr
    );
}

#[test]
fn update_of_an_unknown_name_suggests_the_close_one() {
    let p = Project::with(&[(
        "latticeflow.toml",
        "[policy]\nsignatures = \"none\"\n\n[connectors.upper]\nref = \"127.0.0.1:1/a/b:1\"\n\n[connectors.hash]\nref = \"127.0.0.1:1/a/c:1\"\n",
    )]);
    let run = p.run(&["lock", "--update", "uper"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no connector named `uper`")
            && run.stderr.contains("did you mean `upper`?"),
        "{}",
        run.stderr
    );
    let far = p.run(&["lock", "--update", "zzzzzz"]);
    assert_eq!(far.code, 2, "{far:?}");
    assert!(
        far.stderr.contains("hash, upper") && !far.stderr.contains("did you mean"),
        "{}",
        far.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
}
