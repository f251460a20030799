//! `lf-resolve mirror` against real registries (distribution 2.8 on
//! loopback): every locked artifact with its signatures and attestations
//! copied byte for byte, nothing sent twice, a project locking from the copy
//! with the origin stopped, a destination prefix, a destination refusing
//! pushes midway (through the fault proxy), and a pull-through cache
//! (`proxy.remoteurl`) as a mirror and as a source.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Project, Run};
use lf_lockfile::{Config, Digest, Reference};
use lf_registry_fixtures::Registry;
use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
use lf_resolve::attest::{TEST_RESULT_PREDICATE_TYPE, attach_bundle};
use lf_resolve::registry::RegistryClient;
use lf_resolve::registry::push::Publisher;
use lf_resolve::sign::{SigningKey, dsse_bundle_v03_for, in_toto_statement_for};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

fn run(p: &Project, args: &[&str]) -> Run {
    p.run_env(args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn ok(p: &Project, args: &[&str]) -> Run {
    let r = run(p, args);
    assert_eq!(r.code, 0, "{args:?}: {r:?}");
    r
}

/// The origin's two connectors (`lf/hash:1.0`, `lf/text-upper:1.0`), both
/// signed twice (a `.sig` signature and a bundle referrer) and certified (a
/// test-result attestation); a project locking them with signatures and
/// certification required; `keys/good.*` in it.
struct Origin {
    registry: Registry,
    project: Project,
    refs: Vec<(String, String)>,
}

fn origin() -> Origin {
    let registry = Registry::start().unwrap();
    let project = Project::new();
    std::fs::create_dir_all(project.path().join("keys")).unwrap();
    ok(
        &project,
        &["generate-key", "--output-key-prefix", "keys/good"],
    );
    let refs: Vec<(String, String)> = ["hash", "text-upper"]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                format!("{}/lf/{name}:1.0", registry.host()),
            )
        })
        .collect();
    for (name, reference) in &refs {
        ok(
            &project,
            &["push", fixture_dir(name).to_str().unwrap(), reference],
        );
        ok(&project, &["sign", reference, "--key", "keys/good.key"]);
        ok(
            &project,
            &["sign", reference, "--key", "keys/good.key", "--bundle"],
        );
    }
    for (_, reference) in &refs {
        attest(&project, reference);
    }
    project.write("latticeflow.toml", &toml(&refs, ""));
    ok(&project, &["lock"]);
    Origin {
        registry,
        project,
        refs,
    }
}

/// Attaches a test-result attestation to `reference` (as `certify` does).
fn attest(p: &Project, reference: &str) {
    let pem = std::fs::read(p.path().join("keys/good.key")).unwrap();
    let key = SigningKey::from_cosign_pem(&pem, PASSWORD.as_bytes()).unwrap();
    let config = Config::parse("latticeflow.toml", "").unwrap();
    let client = RegistryClient::new(&config);
    let r: Reference = reference.parse().unwrap();
    let publisher = Publisher::new(&config, &r).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let subject = runtime.block_on(client.fetch_manifest(&r)).unwrap();
    let statement = in_toto_statement_for(
        &subject.digest,
        None,
        TEST_RESULT_PREDICATE_TYPE,
        &json!({"result": "PASSED", "configuration": [], "passedTests": ["a"], "warnedTests": [], "failedTests": []}),
    );
    let bundle = dsse_bundle_v03_for(&key, &statement).unwrap();
    runtime
        .block_on(attach_bundle(
            &client,
            &publisher,
            &r,
            &subject.digest,
            subject.bytes.len(),
            &bundle,
            TEST_RESULT_PREDICATE_TYPE,
        ))
        .unwrap();
}

/// `latticeflow.toml` for the connectors, signatures and certification
/// required, no retries (a stopped registry fails at once).
fn toml(refs: &[(String, String)], extra: &str) -> String {
    let mut text = format!(
        "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\ncertification = \"required\"\n\n[network]\nretries = 0\n{extra}\n"
    );
    for (name, reference) in refs {
        text.push_str(&format!(
            "[connectors.{}]\nref = \"{reference}\"\n",
            name.replace('-', "_")
        ));
    }
    text
}

/// A new project with the origin project's keys and connectors, whose
/// origin has `mirror` as its mirror.
fn mirrored_project(origin: &Origin, mirror: &str) -> Project {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("keys")).unwrap();
    std::fs::copy(
        origin.project.path().join("keys/good.pub"),
        p.path().join("keys/good.pub"),
    )
    .unwrap();
    let extra = format!(
        "\n[registries.\"{}\"]\nmirrors = [\"{mirror}\"]\n",
        origin.registry.host()
    );
    p.write("latticeflow.toml", &toml(&origin.refs, &extra));
    p
}

/// The digest and bytes `url` serves for a manifest (`None`: 404).
fn manifest_at(url: &str) -> Option<(String, Vec<u8>)> {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .header("Accept", ACCEPT)
        .send()
        .unwrap();
    if response.status() == 404 {
        return None;
    }
    assert!(response.status().is_success(), "{url}: {response:?}");
    let digest = response.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    Some((digest, response.bytes().unwrap().to_vec()))
}

fn blob_exists(url: &str) -> bool {
    let response = reqwest::blocking::Client::new().head(url).send().unwrap();
    response.status().is_success()
}

/// Every manifest (by tag: the locked tag, `.sig`, the referrers list; and
/// each referrer by digest) and blob of `repository` at `base`, with its
/// bytes' digest, for comparing registries.
fn artifacts(base: &str, repository: &str, tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (subject, bytes) =
        manifest_at(&format!("{base}/v2/{repository}/manifests/{tag}")).expect("the locked tag");
    out.insert(format!("tag {tag}"), subject.clone());
    let subject: Digest = subject.parse().unwrap();
    let mut manifests = vec![bytes];
    let sig_tag = format!("{}.sig", Reference::digest_tag(&subject));
    let index_tag = Reference::digest_tag(&subject);
    for t in [&sig_tag, &index_tag] {
        if let Some((digest, bytes)) = manifest_at(&format!("{base}/v2/{repository}/manifests/{t}"))
        {
            out.insert(format!("tag {t}"), digest);
            if *t == index_tag {
                let index: Value = serde_json::from_slice(&bytes).unwrap();
                for entry in index["manifests"].as_array().unwrap() {
                    let d = entry["digest"].as_str().unwrap();
                    let (served, bytes) =
                        manifest_at(&format!("{base}/v2/{repository}/manifests/{d}"))
                            .unwrap_or_else(|| panic!("referrer {d} at {base}"));
                    out.insert(format!("referrer {d}"), served);
                    manifests.push(bytes);
                }
            } else {
                manifests.push(bytes);
            }
        }
    }
    for bytes in manifests {
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        let blobs = m["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(m.get("config").cloned());
        for blob in blobs {
            let d = blob["digest"].as_str().unwrap();
            let present = blob_exists(&format!("{base}/v2/{repository}/blobs/{d}"));
            out.insert(format!("blob {d}"), present.to_string());
        }
    }
    out
}

/// The `mirror` summary event of a `--message-format json` run.
fn summary(r: &Run) -> Value {
    r.events()
        .into_iter()
        .find(|e| e["type"] == "mirror")
        .unwrap_or_else(|| panic!("no summary: {r:?}"))
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn mirror_copies_everything_once_and_a_project_locks_from_it_with_the_origin_stopped() {
    let mut origin = origin();
    let dest = Registry::start().unwrap();
    let p = &origin.project;
    let locked = p.read("latticeflow.lock");

    // --dry-run writes nothing.
    let dry = ok(
        p,
        &[
            "mirror",
            &dest.host(),
            "--dry-run",
            "--message-format",
            "json",
        ],
    );
    assert!(summary(&dry)["pushed"].as_u64().unwrap() > 0, "{dry:?}");
    assert!(manifest_at(&format!("{}/v2/lf/hash/manifests/1.0", dest.url())).is_none());

    let first = ok(
        p,
        &[
            "mirror",
            &dest.host(),
            "-j",
            "1",
            "--message-format",
            "json",
        ],
    );
    let s = summary(&first);
    assert!(s["pushed"].as_u64().unwrap() > 10, "{s}");
    // The bundles' empty config blob is shared: the second repository mounts it.
    assert!(s["mounted"].as_u64().unwrap() >= 1, "{s}");
    for (name, _) in &origin.refs {
        let repository = format!("lf/{name}");
        let at_origin = artifacts(&origin.registry.url(), &repository, "1.0");
        let at_dest = artifacts(&dest.url(), &repository, "1.0");
        assert_eq!(at_dest, at_origin, "{name}");
        assert!(
            at_origin.keys().any(|k| k.ends_with(".sig")),
            "{at_origin:?}"
        );
        let referrers = at_origin
            .keys()
            .filter(|k| k.starts_with("referrer"))
            .count();
        assert_eq!(
            referrers, 2,
            "a signature and an attestation: {at_origin:?}"
        );
        assert!(!at_dest.values().any(|v| v == "false"), "{at_dest:?}");
    }

    // A second run sends nothing.
    let second = ok(p, &["mirror", &dest.host()]);
    assert!(
        second.stderr.contains(": 0 copied, 0 mounted,"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("already present"),
        "{}",
        second.stderr
    );

    // A prefixed copy, made with the origin stopped: from the store, with
    // the locked signatures (the origin cannot list the others).
    origin.registry.stop();
    let prefixed = format!("{}/copies/acme", dest.host());
    let third = ok(p, &["mirror", &prefixed]);
    assert!(
        third.stderr.contains("cannot list the signatures"),
        "{}",
        third.stderr
    );
    assert!(
        manifest_at(&format!(
            "{}/v2/copies/acme/lf/hash/manifests/1.0",
            dest.url()
        ))
        .is_some()
    );

    // New projects lock from either copy, signatures required, the origin
    // stopped, to the same lock.
    for mirror in [dest.host(), prefixed] {
        let q = mirrored_project(&origin, &mirror);
        let lock = run(&q, &["lock"]);
        assert_eq!(lock.code, 0, "{mirror}: {lock:?}");
        assert_eq!(q.read("latticeflow.lock"), locked, "{mirror}");
    }

    // A signature added at the origin later reaches DEST on the next run,
    // also from a project that has DEST as a mirror (it is not read from).
    origin.registry.restart().unwrap();
    let (_, hash) = &origin.refs[0];
    ok(p, &["sign", hash, "--key", "keys/good.key"]);
    let q = mirrored_project(&origin, &dest.host());
    ok(&q, &["lock"]);
    ok(&q, &["mirror", &dest.host()]);
    assert_eq!(
        artifacts(&dest.url(), "lf/hash", "1.0"),
        artifacts(&origin.registry.url(), "lf/hash", "1.0")
    );
}

#[test]
fn a_destination_refusing_pushes_midway_is_named_and_a_rerun_completes() {
    let origin = origin();
    let dest = Registry::start().unwrap();
    let proxy = FaultProxy::start(dest.addr()).unwrap();
    let p = &origin.project;
    let store_before = files(&p.cache());
    // The fourth PUT on (blob uploads and manifests alike) is refused.
    proxy.add(
        Rule::new("/v2/", Fault::status(403))
            .method(Method::PUT)
            .after(3),
    );
    let failed = run(p, &["mirror", &proxy.host(), "-j", "1"]);
    assert_eq!(failed.code, 3, "{failed:?}");
    assert!(
        failed
            .stderr
            .contains(&format!("missing at `{}`", proxy.host())),
        "{}",
        failed.stderr
    );
    // Each missing item names its connector, what it is and its digest.
    assert!(
        failed.stderr.contains("connector `hash`: ")
            || failed.stderr.contains("connector `text_upper`: "),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("config blob sha256:")
            && failed.stderr.contains(" of the manifest: "),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("again"), "{}", failed.stderr);
    // Nothing was lost from the store.
    let store_after = files(&p.cache());
    for (path, bytes) in &store_before {
        assert_eq!(store_after.get(path), Some(bytes), "{}", path.display());
    }

    // The rerun completes the copy. DEST now declines to mount (it answers
    // the mount request with a plain upload): the blob is uploaded instead.
    proxy.clear();
    proxy.add(Rule::new("mount=", Fault::DropQuery).method(Method::POST));
    let rerun = ok(
        p,
        &[
            "mirror",
            &proxy.host(),
            "-j",
            "1",
            "--message-format",
            "json",
        ],
    );
    let s = summary(&rerun);
    assert!(s["present"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["pushed"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["mounted"], 0, "{s}");
    assert!(
        proxy.count(&Method::POST, "mount=") >= 1,
        "a mount was tried"
    );
    for (name, _) in &origin.refs {
        let repository = format!("lf/{name}");
        assert_eq!(
            artifacts(&dest.url(), &repository, "1.0"),
            artifacts(&origin.registry.url(), &repository, "1.0"),
            "{name}"
        );
    }
}

/// Also: DEST asks for credentials (docker's path: `LF_REGISTRY_*` here)
/// and tokens are asked for with `pull,push`.
#[test]
fn a_store_blob_that_changed_is_not_sent() {
    let origin = origin();
    let dest = Registry::builder()
        .token_auth(&[("mirror-bot", "s3cret")])
        .start()
        .unwrap();
    let p = &origin.project;
    let host = dest.host();
    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", "mirror-bot"),
        ("LF_REGISTRY_PASSWORD", "s3cret"),
    ];
    // A destination that does not answer fails at once.
    let down = run(p, &["mirror", "127.0.0.1:1"]);
    assert_eq!(down.code, 3, "{down:?}");
    assert!(
        down.stderr.contains("cannot mirror to `127.0.0.1:1`")
            && down.stderr.contains("cannot reach"),
        "{}",
        down.stderr
    );

    let anonymous = run(p, &["mirror", &host]);
    assert_eq!(anonymous.code, 3, "{anonymous:?}");
    assert!(
        anonymous.stderr.contains("lf-resolve login"),
        "{}",
        anonymous.stderr
    );

    let lock = lf_lockfile::Lockfile::read(&p.path().join("latticeflow.lock"))
        .unwrap()
        .unwrap();
    let module = lock.connectors()[0].module.digest.clone();
    let path = p.cache().join("blobs/sha256").join(module.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let r = p.run_env(&["mirror", &host], &env);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&module.to_string()), "{}", r.stderr);
    assert!(r.stderr.contains("content store"), "{}", r.stderr);
    // The signatures waiting for the manifest are named, with their digests.
    assert!(
        r.stderr.contains("connector `hash`: signature `sha256-"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Mirrored `text_upper`"),
        "the other connector is copied: {}",
        r.stderr
    );
    assert!(
        dest.token_requests().iter().any(|t| t.authenticated
            && t.scopes
                .iter()
                .any(|s| s == "repository:lf/text-upper:pull,push")),
        "{:?}",
        dest.token_requests()
    );
    // The registry requires auth: ask it with the same credentials.
    let status = {
        let c = reqwest::blocking::Client::new();
        let token: Value = c
            .get(format!(
                "{}?service=lf-registry-fixtures&scope=repository:lf/hash:pull",
                dest.token_realm().unwrap()
            ))
            .basic_auth("mirror-bot", Some("s3cret"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let response = c
            .head(format!("{}/v2/lf/hash/blobs/{module}", dest.url()))
            .bearer_auth(token["token"].as_str().unwrap())
            .send()
            .unwrap();
        response.status().as_u16()
    };
    assert_eq!(status, 404, "the changed module never reached DEST");
}

#[test]
fn a_pull_through_cache_serves_as_a_mirror_and_as_a_source_but_takes_no_pushes() {
    let mut origin = origin();
    let cache = Registry::builder()
        .proxy_remote(origin.registry.url())
        .start()
        .unwrap();
    let dest = Registry::start().unwrap();

    // The cache takes no pushes: a clear refusal. (Under a prefix: without
    // one, it would find every artifact "present", served from the origin.)
    let refused = run(
        &origin.project,
        &["mirror", &format!("{}/copies", cache.host())],
    );
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("405"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not accept pushes"),
        "{}",
        refused.stderr
    );

    // Through the cache: a project whose origin has the cache as mirror
    // locks, and mirrors from it (mirrors are read first) to DEST.
    let q = mirrored_project(&origin, &cache.host());
    ok(&q, &["lock"]);
    assert_eq!(
        q.read("latticeflow.lock"),
        origin.project.read("latticeflow.lock")
    );
    std::fs::remove_dir_all(q.cache()).unwrap();
    ok(&q, &["mirror", &dest.host()]);
    for (name, _) in &origin.refs {
        let repository = format!("lf/{name}");
        let at_origin = artifacts(&origin.registry.url(), &repository, "1.0");
        assert_eq!(
            artifacts(&dest.url(), &repository, "1.0"),
            at_origin,
            "{name}"
        );
        assert_eq!(
            artifacts(&cache.url(), &repository, "1.0"),
            at_origin,
            "{name}"
        );
    }
    // The cache keeps what it served: with the origin stopped, a project
    // still locks through it.
    origin.registry.stop();
    std::fs::remove_dir_all(q.cache()).unwrap();
    std::fs::remove_file(q.path().join("latticeflow.lock")).unwrap();
    ok(&q, &["lock"]);
    assert_eq!(
        q.read("latticeflow.lock"),
        origin.project.read("latticeflow.lock")
    );
}
