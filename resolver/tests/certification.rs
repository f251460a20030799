//! Certification attestations against a real registry: test-result
//! statements signed with a cosign key (the project's library writes and
//! attaches them, as `certify REF --key` will), then `lock` with
//! `[policy] certification`, `--locked`, `verify`, `vendor` and `inspect`
//! run as the real binary. Every refusal leaves the lock and the store index
//! as they were.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::PathBuf;

use base64::Engine as _;
use common::Project;
use lf_lockfile::{Config, Digest, Reference};
use lf_registry_fixtures::Registry;
use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
use lf_resolve::attest::{CERTIFICATION_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE, attach_bundle};
use lf_resolve::registry::RegistryClient;
use lf_resolve::registry::push::Publisher;
use lf_resolve::sign::{SigningKey, dsse_bundle_v03_for, in_toto_statement_for};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

fn run_with_password(p: &Project, args: &[&str]) -> common::Run {
    p.run_env(args, &[("COSIGN_PASSWORD", PASSWORD)])
}

/// A registry with `hash` as `cert/hash:1.0` and `text-upper` as
/// `cert/hash:2.0`, a project, and two cosign key pairs (`keys/good`,
/// `keys/other`) made by `generate-key`.
struct Setup {
    registry: Registry,
    project: Project,
    first: String,
    second: String,
    good: SigningKey,
    other: SigningKey,
    runtime: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    let registry = Registry::start().unwrap();
    let project = Project::new();
    let first = format!("{}/cert/hash:1.0", registry.host());
    let second = format!("{}/cert/hash:2.0", registry.host());
    for (dir, reference) in [("hash", &first), ("text-upper", &second)] {
        let run = project.run(&["push", fixture_dir(dir).to_str().unwrap(), reference]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    std::fs::create_dir_all(project.path().join("keys")).unwrap();
    for prefix in ["keys/good", "keys/other"] {
        let run = run_with_password(&project, &["generate-key", "--output-key-prefix", prefix]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let load = |name: &str| {
        let pem = std::fs::read(project.path().join(name)).unwrap();
        SigningKey::from_cosign_pem(&pem, PASSWORD.as_bytes()).unwrap()
    };
    let (good, other) = (load("keys/good.key"), load("keys/other.key"));
    Setup {
        registry,
        project,
        first,
        second,
        good,
        other,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    }
}

fn predicate(result: &str) -> Value {
    json!({
        "result": result,
        "configuration": [{"name": "contract.yaml", "digest": {"sha256": "00".repeat(32)}}],
        "passedTests": ["case-1"],
        "warnedTests": if result == "WARNED" { json!(["unused-capability"]) } else { json!([]) },
        "failedTests": if result == "FAILED" { json!(["case-2"]) } else { json!([]) },
    })
}

impl Setup {
    fn config() -> Config {
        Config::parse("latticeflow.toml", "").unwrap()
    }

    /// The manifest digest and size `reference` names.
    fn subject(&self, reference: &str) -> (Digest, usize) {
        let client = RegistryClient::new(&Self::config());
        let r: Reference = reference.parse().unwrap();
        let m = self.runtime.block_on(client.fetch_manifest(&r)).unwrap();
        (m.digest, m.bytes.len())
    }

    /// Attaches `bundle` to `reference`'s manifest with `predicate_type`.
    fn attach(&self, reference: &str, bundle: &[u8], predicate_type: &str) -> Digest {
        let config = Self::config();
        let client = RegistryClient::new(&config);
        let r: Reference = reference.parse().unwrap();
        let publisher = Publisher::new(&config, &r).unwrap();
        let (digest, size) = self.subject(reference);
        self.runtime
            .block_on(attach_bundle(
                &client,
                &publisher,
                &r,
                &digest,
                size,
                bundle,
                predicate_type,
            ))
            .unwrap()
    }

    /// A test-result bundle signed by `key` about `about` (a digest).
    fn bundle(&self, key: &SigningKey, about: &Digest, result: &str) -> Vec<u8> {
        let statement =
            in_toto_statement_for(about, None, TEST_RESULT_PREDICATE_TYPE, &predicate(result));
        dsse_bundle_v03_for(key, &statement).unwrap()
    }

    /// Signs and attaches a test-result attestation for `reference`.
    fn certify(&self, reference: &str, key: &SigningKey, result: &str) -> Digest {
        let (digest, _) = self.subject(reference);
        let bundle = self.bundle(key, &digest, result);
        self.attach(reference, &bundle, TEST_RESULT_PREDICATE_TYPE)
    }

    /// Removes every referrer of `reference`'s manifest (the registry has no
    /// referrers API: the `sha256-<hex>` fallback index is all there is).
    fn clear_referrers(&self, reference: &str) {
        let (digest, _) = self.subject(reference);
        self.put_index(&digest, &json!([]));
    }

    /// The size of the manifest `digest` in `cert/hash`.
    fn manifest_size(&self, digest: &Digest) -> usize {
        let client = RegistryClient::new(&Self::config());
        let r: Reference = format!("{}/cert/hash@{digest}", self.registry.host())
            .parse()
            .unwrap();
        self.runtime
            .block_on(client.fetch_manifest(&r))
            .unwrap()
            .bytes
            .len()
    }

    fn put_index(&self, subject: &Digest, manifests: &Value) {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let put = reqwest::blocking::Client::new()
            .put(format!(
                "{}/v2/cert/hash/manifests/{}",
                self.registry.url(),
                Reference::digest_tag(subject)
            ))
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(serde_json::to_vec(&index).unwrap())
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{put:?}");
    }

    /// Writes `latticeflow.toml` for connector `hash` at `reference`.
    fn project_file(&self, reference: &str, policy: &str) {
        self.project.write(
            "latticeflow.toml",
            &format!(
                "[policy]\nsignatures = \"none\"\nkeys = [\"keys/good.pub\"]\n{policy}\n\n[connectors.hash]\nref = \"{reference}\"\n"
            ),
        );
    }
}

/// The store index and lock, to compare before and after a refusal.
fn snapshot(p: &Project) -> (Option<String>, Option<String>) {
    (
        std::fs::read_to_string(p.path().join("latticeflow.lock")).ok(),
        std::fs::read_to_string(p.cache().join("index.json")).ok(),
    )
}

#[test]
fn a_passed_certification_is_locked_verified_vendored_and_inspected() {
    let s = setup();
    let p = &s.project;
    // A signature and two attestations (test result and full evidence) on
    // one manifest, with signatures required too.
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key", "--bundle"]).code,
        0
    );
    let attestation = s.certify(&s.first, &s.good, "PASSED");
    let (subject, _) = s.subject(&s.first);
    let evidence = in_toto_statement_for(
        &subject,
        None,
        CERTIFICATION_PREDICATE_TYPE,
        &json!({"contract": {"cases": 1}}),
    );
    s.attach(
        &s.first,
        &dsse_bundle_v03_for(&s.good, &evidence).unwrap(),
        CERTIFICATION_PREDICATE_TYPE,
    );
    p.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\ncertification = \"required\"\n\n[connectors.hash]\nref = \"{}\"\n",
            s.first
        ),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains("signature = { policy = \"required\", format = \"bundle-v0.3\""),
        "the signature is the signature bundle: {text}"
    );
    let expected = format!(
        "certification = {{ policy = \"required\", result = \"PASSED\", key = \"{}\", digest = \"{attestation}\" }}",
        s.good.fingerprint()
    );
    assert!(text.contains(&expected), "{text}");

    assert_eq!(p.run(&["lock", "--locked"]).code, 0);
    let verify = p.run(&["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify.stderr.contains("and 1 certification"),
        "{}",
        verify.stderr
    );
    let index = std::fs::read_to_string(p.cache().join("index.json")).unwrap();
    assert!(index.contains(".att\""), "{index}");

    let inspect = p.run(&["inspect", &s.first]);
    assert_eq!(inspect.code, 0, "{inspect:?}");
    assert!(
        inspect.stdout.contains(&format!(
            "certified   PASSED by key {} (keys/good.pub): verified",
            s.good.fingerprint()
        )),
        "{}",
        inspect.stdout
    );

    // vendor: the attestation manifest and its bundle go along.
    let vendor = p.run(&["vendor"]);
    assert_eq!(vendor.code, 0, "{vendor:?}");
    // manifest, config, module, signature manifest + bundle, attestation manifest + bundle
    let blobs = p.files_under("vendor/oci/blobs");
    assert_eq!(blobs.len(), 7, "{:?}", blobs.keys().collect::<Vec<_>>());
    assert!(p.read("vendor/oci/index.json").contains(".att\""));
    // Offline, from the vendor dir alone.
    std::fs::remove_dir_all(p.cache()).unwrap();
    let frozen = p.run(&["lock", "--frozen"]);
    assert_eq!(frozen.code, 0, "{frozen:?}");
    assert_eq!(p.run(&["verify"]).code, 0);

    // The vendored bundle altered: `verify` and `lock --locked` name it.
    let bundle_path = blobs
        .iter()
        .find(|(_, bytes)| {
            String::from_utf8_lossy(bytes).contains("dsseEnvelope")
                && serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| {
                        let payload = B64.decode(v["dsseEnvelope"]["payload"].as_str()?).ok()?;
                        Some(String::from_utf8_lossy(&payload).contains(TEST_RESULT_PREDICATE_TYPE))
                    })
                    .unwrap_or(false)
        })
        .map(|(path, _)| path.clone())
        .unwrap();
    let original = std::fs::read(&bundle_path).unwrap();
    let mut bundle: Value = serde_json::from_slice(&original).unwrap();
    let statement = B64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let altered = String::from_utf8(statement)
        .unwrap()
        .replace("case-1", "case-X");
    bundle["dsseEnvelope"]["payload"] = Value::from(B64.encode(altered));
    let mut bytes = serde_json::to_vec(&bundle).unwrap();
    // Same size, so only the signature can tell.
    bytes.resize(original.len(), b' ');
    assert_eq!(bytes.len(), original.len());
    std::fs::write(&bundle_path, &bytes).unwrap();
    let tampered = p.run(&["verify"]);
    assert_eq!(tampered.code, 1, "{tampered:?}");
    assert!(
        tampered.stderr.contains("certification") && tampered.stderr.contains("bad DSSE signature"),
        "{}",
        tampered.stderr
    );
    let locked = p.run(&["lock", "--locked", "--offline"]);
    assert_eq!(locked.code, 1, "{locked:?}");
    std::fs::write(&bundle_path, &original).unwrap();
    assert_eq!(p.run(&["verify"]).code, 0);

    // No vendor dir, no cache: `fetch` brings the attestation back by its
    // digest, so the offline checks pass again.
    std::fs::remove_dir_all(p.path().join("vendor")).unwrap();
    let fetch = p.run(&["fetch"]);
    assert_eq!(fetch.code, 0, "{fetch:?}");
    let frozen = p.run(&["lock", "--frozen"]);
    assert_eq!(frozen.code, 0, "{frozen:?}");
    assert!(
        std::fs::read_to_string(p.cache().join("index.json"))
            .unwrap()
            .contains(".att\"")
    );

    // A changed policy makes the lock stale.
    let config = p.read("latticeflow.toml");
    p.write(
        "latticeflow.toml",
        &config.replace(
            "certification = \"required\"",
            "certification = \"optional\"",
        ),
    );
    let stale = p.run(&["lock", "--locked"]);
    assert_eq!(stale.code, 1, "{stale:?}");
    assert!(
        stale
            .stderr
            .contains("certification policy of connector `hash`"),
        "{}",
        stale.stderr
    );
    p.write("latticeflow.toml", &config);

    // The lock edited to record another result: `--locked` re-verifies.
    p.write(
        "latticeflow.toml",
        &config.replace(
            "certification = \"required\"",
            "certification = \"required\"\nallow-warned = true",
        ),
    );
    p.write(
        "latticeflow.lock",
        &text.replace("\"PASSED\"", "\"WARNED\""),
    );
    let edited = p.run(&["lock", "--locked"]);
    assert_eq!(edited.code, 1, "{edited:?}");
    assert!(
        edited.stderr.contains("the lock records WARNED"),
        "{}",
        edited.stderr
    );
}

#[test]
fn an_attestation_is_never_taken_for_a_signature() {
    let s = setup();
    let p = &s.project;
    // Only an attestation, by the trusted key; signatures required.
    s.certify(&s.first, &s.good, "PASSED");
    p.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\n\n[connectors.hash]\nref = \"{}\"\n",
            s.first
        ),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 1, "{lock:?}");
    assert!(
        lock.stderr.contains("no signature found") && !lock.stderr.contains("predicate type"),
        "the attestation is not even a candidate: {}",
        lock.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
    // With a real signature beside it, the lock passes on the signature.
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key", "--bundle"]).code,
        0
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    assert!(!p.read("latticeflow.lock").contains("certification ="));
}

#[test]
fn warned_failed_missing_and_forged_certifications_are_refused_leaving_everything_as_it_was() {
    let s = setup();
    let p = &s.project;
    s.certify(&s.first, &s.good, "PASSED");
    s.project_file(&s.first, "certification = \"required\"");
    assert_eq!(p.run(&["lock"]).code, 0);
    let (first, _) = s.subject(&s.first);
    let (second, _) = s.subject(&s.second);

    let signed = |payload_type: &str, payload: &[u8], key: &SigningKey| -> Vec<u8> {
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(payload);
        let sig = key.sign(&pae).unwrap();
        serde_json::to_vec(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": key.bundle_hint()}, "tlogEntries": []},
            "dsseEnvelope": {"payload": B64.encode(payload), "payloadType": payload_type,
                             "signatures": [{"sig": B64.encode(sig), "keyid": ""}]},
        }))
        .unwrap()
    };
    let forged = {
        // Signed as FAILED, then the statement edited to say PASSED.
        let mut b: Value = serde_json::from_slice(&s.bundle(&s.good, &first, "FAILED")).unwrap();
        let statement = in_toto_statement_for(
            &first,
            None,
            TEST_RESULT_PREDICATE_TYPE,
            &predicate("PASSED"),
        );
        b["dsseEnvelope"]["payload"] = Value::from(B64.encode(statement));
        serde_json::to_vec(&b).unwrap()
    };
    let unsigned = {
        let mut b: Value = serde_json::from_slice(&s.bundle(&s.good, &first, "PASSED")).unwrap();
        b["dsseEnvelope"]["signatures"] = json!([]);
        serde_json::to_vec(&b).unwrap()
    };
    let cases: Vec<(&str, Option<Vec<u8>>, &str, &str)> = vec![
        (
            "WARNED",
            Some(s.bundle(&s.good, &first, "WARNED")),
            "WARNED is not allowed",
            "allow-warned = true",
        ),
        (
            "FAILED",
            Some(s.bundle(&s.good, &first, "FAILED")),
            "certified FAILED by keys/good.pub",
            "contract tests pass",
        ),
        (
            "missing",
            None,
            "missing: no referrer",
            "lf-resolve certify",
        ),
        (
            "unlisted key",
            Some(s.bundle(&s.other, &first, "PASSED")),
            "signed by a key that is not listed in latticeflow.toml",
            "lf-resolve certify",
        ),
        (
            "other digest",
            Some(s.bundle(&s.good, &second, "PASSED")),
            &*Box::leak(format!("about another digest: its subject is {second}").into_boxed_str()),
            "lf-resolve certify",
        ),
        (
            "not in-toto",
            Some(signed(
                "application/vnd.in-toto+json",
                br#"{"hello":"world"}"#,
                &s.good,
            )),
            "not an in-toto statement",
            "lf-resolve certify",
        ),
        (
            "other payload type",
            Some(signed("text/plain", b"PASSED", &s.good)),
            "not an in-toto statement: the DSSE payload type is `text/plain`",
            "lf-resolve certify",
        ),
        (
            "bad signature",
            Some(forged),
            "bad DSSE signature: the bundle names the trusted key keys/good.pub",
            "lf-resolve certify",
        ),
        ("unsigned", Some(unsigned), "unsigned", "lf-resolve certify"),
        (
            "evidence under the test-result annotation",
            Some(
                dsse_bundle_v03_for(
                    &s.good,
                    &in_toto_statement_for(
                        &first,
                        None,
                        CERTIFICATION_PREDICATE_TYPE,
                        &predicate("PASSED"),
                    ),
                )
                .unwrap(),
            ),
            "predicate type `https://latticeflow.dev/attestation/certification/v0.1`",
            "lf-resolve certify",
        ),
    ];
    for (what, bundle, reason, hint) in cases {
        s.clear_referrers(&s.first);
        if let Some(bundle) = bundle {
            s.attach(&s.first, &bundle, TEST_RESULT_PREDICATE_TYPE);
        }
        let before = snapshot(p);
        let run = p.run(&["lock", "--update", "hash"]);
        assert_eq!(run.code, 1, "{what}: {run:?}");
        assert!(
            run.stderr.contains("connector `hash`") && run.stderr.contains(reason),
            "{what}: expected {reason:?} in {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(hint),
            "{what}: hint {hint:?} in {}",
            run.stderr
        );
        assert_eq!(
            snapshot(p),
            before,
            "{what}: the lock and the store index are untouched"
        );
    }

    // WARNED passes with allow-warned, and is recorded as such.
    s.clear_referrers(&s.first);
    s.certify(&s.first, &s.good, "WARNED");
    s.project_file(
        &s.first,
        "certification = \"required\"\nallow-warned = true",
    );
    let warned = p.run(&["lock", "--update", "hash"]);
    assert_eq!(warned.code, 0, "{warned:?}");
    assert!(p.read("latticeflow.lock").contains("result = \"WARNED\""));
    // A PASSED beside it is preferred; a FAILED beside them refuses.
    s.certify(&s.first, &s.other, "PASSED");
    s.project_file(
        &s.first,
        "certification = \"required\"\nallow-warned = true\n",
    );
    p.write(
        "latticeflow.toml",
        &p.read("latticeflow.toml").replace(
            "keys = [\"keys/good.pub\"]",
            "keys = [\"keys/good.pub\", \"keys/other.pub\"]",
        ),
    );
    let both = p.run(&["lock", "--update", "hash"]);
    assert_eq!(both.code, 0, "{both:?}");
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains(&format!(
            "result = \"PASSED\", key = \"{}\"",
            s.other.fingerprint()
        )),
        "{text}"
    );
    s.certify(&s.first, &s.other, "FAILED");
    let failed = p.run(&["lock", "--update", "hash"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stderr.contains("certified FAILED"),
        "{}",
        failed.stderr
    );
    assert_eq!(p.read("latticeflow.lock"), text);
}

#[test]
fn optional_certification_records_what_verifies_and_refuses_a_failure() {
    let s = setup();
    let p = &s.project;
    s.project_file(&s.first, "certification = \"optional\"");
    let none = p.run(&["lock"]);
    assert_eq!(none.code, 0, "{none:?}");
    assert!(
        none.stderr
            .contains("no certification verified (policy `optional`)"),
        "{}",
        none.stderr
    );
    assert!(
        p.read("latticeflow.lock")
            .contains("certification = { policy = \"optional\" }\n")
    );
    // Offline, a pinned connector locked without a certification stays so.
    let offline = p.run(&["lock", "--offline"]);
    assert_eq!(offline.code, 0, "{offline:?}");
    s.certify(&s.first, &s.good, "PASSED");
    let found = p.run(&["lock", "--update", "hash"]);
    assert_eq!(found.code, 0, "{found:?}");
    assert!(
        p.read("latticeflow.lock")
            .contains("certification = { policy = \"optional\", result = \"PASSED\"")
    );
    // The certifying key no longer trusted: `--locked` says so.
    let config = p.read("latticeflow.toml");
    p.write(
        "latticeflow.toml",
        &config.replace("keys/good.pub", "keys/other.pub"),
    );
    let untrusted = p.run(&["lock", "--locked"]);
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(
        untrusted
            .stderr
            .contains("the key that certified connector `hash`"),
        "{}",
        untrusted.stderr
    );
    p.write("latticeflow.toml", &config);
    s.certify(&s.first, &s.good, "FAILED");
    let failed = p.run(&["lock", "--update", "hash"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stderr.contains("certified FAILED"),
        "{}",
        failed.stderr
    );

    // `none` (the default) never looks: the FAILED one is not even read.
    s.project_file(&s.first, "");
    let ignored = p.run(&["lock"]);
    assert_eq!(ignored.code, 0, "{ignored:?}");
    assert!(!p.read("latticeflow.lock").contains("certification"));
}

#[test]
fn huge_and_endless_referrers_are_refused_with_a_clear_error() {
    let s = setup();
    let p = &s.project;
    s.project_file(&s.first, "");
    assert_eq!(p.run(&["lock"]).code, 0, "a lock to leave untouched");
    s.project_file(&s.first, "certification = \"required\"");
    let (subject, _) = s.subject(&s.first);

    // An oversized bundle layer: refused by its declared size.
    s.clear_referrers(&s.first);
    let mut big = s.bundle(&s.good, &subject, "PASSED");
    big.resize(2 * 1024 * 1024, b' ');
    s.attach(&s.first, &big, TEST_RESULT_PREDICATE_TYPE);
    let before = snapshot(p);
    let run = p.run(&["lock"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("over the 1048576-byte limit"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(p), before);

    // A referrers index listing one attestation thousands of times:
    // refused at the cap, having fetched it once.
    s.clear_referrers(&s.first);
    let one = s.certify(&s.first, &s.good, "PASSED");
    let entry = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": s.manifest_size(&one),
        "digest": one.to_string(),
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "annotations": {"dev.sigstore.bundle.predicateType": TEST_RESULT_PREDICATE_TYPE},
    });
    s.put_index(&subject, &Value::from(vec![entry; 5000]));
    let started = std::time::Instant::now();
    let run = p.run(&["lock"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("more than 64 attestation candidates"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(snapshot(p), before);

    // An endless referrers index (through a proxy that serves a 64 MiB
    // one): refused at the manifest size limit.
    let proxy = FaultProxy::start(s.registry.addr()).unwrap();
    proxy.add(
        Rule::new(
            "manifests/sha256-",
            Fault::OversizedManifest { size: 64 << 20 },
        )
        .method(Method::GET),
    );
    s.project_file(
        &s.first.replace(&s.registry.host(), &proxy.host()),
        "certification = \"required\"",
    );
    let before = snapshot(p);
    let run = p.run(&["lock"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("byte limit") && run.stderr.contains("sha256-"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(p), before);
}

/// `certify REF --key` end to end: the real harness certifies the pushed
/// artifact, signs and attaches both statements, and `lock` with
/// `certification = "required"` accepts what it attached; sigstore-js
/// verifies the bundle it wrote. A FAILED result is reported but not
/// attached, so the lock still finds no certification.
#[test]
fn certify_ref_attaches_evidence_that_lock_and_sigstore_js_accept() {
    let s = setup();
    let p = &s.project;
    let contract = fixture_dir("hash").join("tests/contract.yaml");
    let contract = contract.to_str().unwrap();

    // Refused before anything runs: a REF without its contract, and --key on
    // a directory.
    let no_contract = run_with_password(p, &["certify", &s.first, "--key", "keys/good.key"]);
    assert_eq!(no_contract.code, 2, "{no_contract:?}");
    assert!(
        no_contract.stderr.contains("needs its contract vectors"),
        "{}",
        no_contract.stderr
    );
    let dir = fixture_dir("hash");
    let dir_key = run_with_password(
        p,
        &["certify", dir.to_str().unwrap(), "--key", "keys/good.key"],
    );
    assert_eq!(dir_key.code, 2, "{dir_key:?}");
    assert!(
        dir_key.stderr.contains("a directory is not one"),
        "{}",
        dir_key.stderr
    );

    let run = run_with_password(
        p,
        &[
            "certify",
            &s.first,
            "--contract",
            contract,
            "--key",
            "keys/good.key",
            "--output",
            "evidence",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("certification result: PASSED"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr.matches("Attached").count(), 2, "{}", run.stderr);
    let (subject, _) = s.subject(&s.first);
    // The statements written are about the manifest, named by repository.
    let statement: Value =
        serde_json::from_str(&p.read("evidence/statement-test-result.json")).unwrap();
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        subject.hex(),
        "{statement}"
    );
    assert_eq!(statement["predicate"]["result"], "PASSED");

    s.project_file(&s.first, "certification = \"required\"");
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains(&format!(
            "certification = {{ policy = \"required\", result = \"PASSED\", key = \"{}\"",
            s.good.fingerprint()
        )),
        "{text}"
    );

    // The bundle certify signed verifies with sigstore-js and the public key.
    if let Some(prefix) = common::sigstore_js() {
        let verified = common::node_verify(
            &prefix,
            &p.path().join("evidence/test-result.sigstore.json"),
            &p.path().join("keys/good.pub"),
            &subject,
        );
        assert_eq!(verified, Ok("verified PASSED\n".to_owned()));
    }

    // A connector that fails its contract: reported, exit 1, nothing attached.
    let failing = format!("{}/cert/failing:1.0", s.registry.host());
    let failing_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../certify/tests/fixtures/undeclared-error");
    assert_eq!(
        p.run(&["push", failing_dir.to_str().unwrap(), &failing])
            .code,
        0
    );
    let failing_contract = failing_dir.join("tests/contract.yaml");
    let run = run_with_password(
        p,
        &[
            "certify",
            &failing,
            "--contract",
            failing_contract.to_str().unwrap(),
            "--key",
            "keys/good.key",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("certification result: FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("not signed or attached"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Attached"), "{}", run.stderr);
    p.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\nkeys = [\"keys/good.pub\"]\ncertification = \"required\"\n\n[connectors.failing]\nref = \"{failing}\"\n"
        ),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 1, "{lock:?}");
    assert!(lock.stderr.contains("missing"), "{}", lock.stderr);
}
