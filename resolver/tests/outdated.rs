//! `lf-resolve outdated` and `add`'s reference check against a real
//! registry (CNCF distribution on 127.0.0.1). One registry and one scenario
//! per binary, to keep the suite fast: connectors are pushed, signed and
//! locked with the real binary, then tags are moved under the lock.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Project, Run};
use lf_registry_fixtures::Registry;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn fixture_dir(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn ok(run: &Run) -> &Run {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn sign(p: &Project, reference: &str, key: &str) {
    ok(&p.run_env(
        &["sign", reference, "--key", key],
        &[("COSIGN_PASSWORD", PASSWORD)],
    ));
}

/// The digest `push` printed (its last JSON event names it).
fn push(p: &Project, dir: &str, reference: &str) -> String {
    let run = p.run(&[
        "push",
        &fixture_dir(dir),
        reference,
        "--message-format",
        "json",
    ]);
    ok(&run);
    run.events()
        .iter()
        .rev()
        .find_map(|e| e["digest"].as_str().map(str::to_owned))
        .unwrap()
}

/// Everything `outdated` must leave alone: the two project files and every
/// file of the store, byte for byte.
fn state(p: &Project) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = p.files_under(".cache");
    for name in ["latticeflow.toml", "latticeflow.lock"] {
        files.insert(PathBuf::from(name), p.read(name).into_bytes());
    }
    files
}

/// Tags `repository`'s manifest at `from` with each of `tags`, by `PUT`.
fn put_tags(registry: &Registry, repository: &str, from: &str, tags: impl Iterator<Item = String>) {
    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    let client = reqwest::blocking::Client::new();
    let url = |tag: &str| format!("{}/v2/{repository}/manifests/{tag}", registry.url());
    let manifest = client
        .get(url(from))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    for tag in tags {
        let put = client
            .put(url(&tag))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{put:?}");
    }
}

fn by_name<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn outdated_reports_moved_signed_unsigned_unchanged_newer_and_pinned_and_writes_nothing() {
    let mut registry = Registry::start().unwrap();
    let host = registry.host();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("keys")).unwrap();
    for prefix in ["keys/good", "keys/other"] {
        ok(&p.run_env(
            &["generate-key", "--output-key-prefix", prefix],
            &[("COSIGN_PASSWORD", PASSWORD)],
        ));
    }
    let r = |repo: &str| format!("{host}/o/{repo}");
    let hash = push(&p, "hash", &format!("{}:1.0", r("signed")));
    for repo in ["unsigned", "same", "many"] {
        push(&p, "hash", &format!("{}:1.0", r(repo)));
    }
    for repo in ["signed", "unsigned", "same"] {
        sign(&p, &format!("{}:1.0", r(repo)), "keys/good.key");
    }
    // `retries = 0`: the registry-down case below fails at once.
    p.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\n\n[network]\nretries = 0\n\n\
             [connectors.signed]\nref = \"{}:1.0\"\n\n\
             [connectors.unsigned]\nref = \"{}:1.0\"\n\n\
             [connectors.same]\nref = \"{}:1.0\"\n\n\
             [connectors.pinned]\nref = \"{}@{hash}\"\n\n\
             [connectors.many]\nref = \"{}:1.0\"\nsignature = {{ policy = \"none\" }}\n",
            r("signed"),
            r("unsigned"),
            r("same"),
            r("signed"),
            r("many"),
        ),
    );
    ok(&p.run(&["lock"]));

    // Nothing moved yet: --exit-code passes... but `same` gets newer tags below.
    let calm = p.run(&["outdated", "--exit-code"]);
    ok(&calm);
    assert!(calm.stdout.contains("up to date"), "{}", calm.stdout);

    // Move two tags to another connector; sign one move with the trusted
    // key, the other with a key the project does not trust.
    let upper = push(&p, "text-upper", &format!("{}:1.0", r("signed")));
    assert_ne!(upper, hash);
    sign(&p, &format!("{}:1.0", r("signed")), "keys/good.key");
    push(&p, "text-upper", &format!("{}:1.0", r("unsigned")));
    sign(&p, &format!("{}:1.0", r("unsigned")), "keys/other.key");
    // Newer tags beside `same:1.0`: versions, a pre-release and a word.
    for tag in ["0.9", "1.1.0", "v2.0.0", "2.1.0-rc.1", "latest"] {
        ok(&p.run(&["tag", &format!("{}:1.0", r("same")), tag]));
    }

    // More tags than one page of the tag list (distribution pages by
    // `n`, with a `Link` header), put straight through the registry API.
    put_tags(
        &registry,
        "o/many",
        "1.0",
        (1..=120).map(|i| format!("1.{i}.0")),
    );

    let before = state(&p);
    let human = p.run(&["outdated"]);
    ok(&human);
    let json = p.run(&["outdated", "--message-format", "json"]);
    ok(&json);
    let failing = p.run(&["outdated", "--exit-code"]);
    assert_eq!(failing.code, 1, "{failing:?}");
    assert_eq!(state(&p), before, "outdated wrote something");

    let report = &json.events()[0];
    assert_eq!(report["type"], "outdated");
    let signed = by_name(report, "signed");
    assert_eq!(signed["status"], "moved");
    assert_eq!(signed["locked"], hash.as_str());
    assert_eq!(signed["current"], upper.as_str());
    assert_eq!(signed["signature"]["verified"], true, "{signed}");
    assert_eq!(signed["signature"]["signer"]["key_file"], "keys/good.pub");
    let unsigned = by_name(report, "unsigned");
    assert_eq!(unsigned["status"], "moved");
    assert_eq!(unsigned["signature"]["verified"], false, "{unsigned}");
    assert!(
        !unsigned["signature"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{unsigned}"
    );
    let same = by_name(report, "same");
    assert_eq!(same["status"], "unchanged");
    assert_eq!(
        same["newer"],
        serde_json::json!(["1.1.0", "v2.0.0"]),
        "older versions, pre-releases and words are not newer: {same}"
    );
    let many = by_name(report, "many");
    let newer: Vec<&str> = many["newer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(newer.len(), 120, "every page was read: {many}");
    assert_eq!(
        (newer[0], newer[119]),
        ("1.1.0", "1.120.0"),
        "in version order"
    );
    assert_eq!(many["newer_truncated"], false);
    let pinned = by_name(report, "pinned");
    assert_eq!(pinned["status"], "pinned");
    assert!(pinned["newer"].is_null());

    let out = &human.stdout;
    assert!(out.contains("NOT signed by a trusted key"), "{out}");
    assert!(out.contains("signed by key sha256:"), "{out}");
    assert!(out.contains("(keys/good.pub)"), "{out}");
    assert!(out.contains("1.1.0, v2.0.0"), "{out}");
    assert!(out.contains("pinned by digest"), "{out}");
    assert!(
        out.contains("1.1.0, 1.2.0, …, 1.119.0, 1.120.0 (120 newer)"),
        "a long list is shortened for people: {out}"
    );
    assert!(
        failing
            .stderr
            .contains("4 connectors drifted from the lock"),
        "{}",
        failing.stderr
    );

    // `add` asks the registry first: a missing tag or repository is exit 3
    // naming the reference, and the file is left as it was.
    let toml = p.read("latticeflow.toml");
    for missing in [format!("{}:9.9", r("same")), format!("{}:1.0", r("nope"))] {
        let run = p.run(&["add", "extra", &missing]);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.contains(&format!("`{missing}` does not exist")),
            "{}",
            run.stderr
        );
        assert_eq!(p.read("latticeflow.toml"), toml);
    }
    let added = p.run(&[
        "add",
        "extra",
        &format!("{}:1.1.0", r("same")),
        "--message-format",
        "json",
    ]);
    ok(&added);
    assert_eq!(added.events()[0]["digest"], hash.as_str());
    assert!(p.read("latticeflow.toml").contains("[connectors.extra]"));
    p.write("latticeflow.toml", &toml);

    // The registry is down: exit 3, still nothing written.
    registry.stop();
    let down = p.run(&["outdated", "--exit-code"]);
    assert_eq!(down.code, 3, "{down:?}");
    assert!(
        down.stderr.contains("could not be asked"),
        "{}",
        down.stderr
    );
    let unreachable = p.run(&["add", "extra", &format!("{}:1.0", r("same"))]);
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    // --offline adds without asking.
    ok(&p.run(&["add", "extra", &format!("{}:1.0", r("same")), "--offline"]));
    assert!(p.read("latticeflow.toml").contains("[connectors.extra]"));
    p.write("latticeflow.toml", &toml);
    assert_eq!(state(&p), before);
}
