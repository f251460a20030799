//! `lf-resolve sbom` as the real binary: a project locked against a real
//! registry (connectors pushed, signed with a key and as a bundle, one
//! certified by the real harness) gives a CycloneDX 1.6 document that the
//! vendored schema accepts, byte-identical run to run, with the purls and
//! hashes the lock names. Strings that need escaping round-trip exactly.
//! Bad input fails with exit 2 and writes nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Project, Run};
use lf_lockfile::{
    Abi, Algorithm, BlobRef, CertificationEntry, Digest, LockedConnector, Lockfile, SignatureEntry,
    SignatureFormat, SignatureMode, Signer, VerifiedSignature,
};
use lf_registry_fixtures::Registry;
use serde_json::Value;
use sha2::Digest as _;

const PASSWORD: &str = "correct horse battery staple";

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

fn schema_file(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cyclonedx")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every error the CycloneDX 1.6 schema finds in `bom` (formats checked),
/// resolved offline: the two schemas it references are registered under the
/// URIs its `$ref`s resolve to.
fn schema_errors(bom: &Value) -> Vec<String> {
    let base = "http://cyclonedx.org/schema/";
    let registry = jsonschema::Registry::new()
        .add(
            format!("{base}spdx.SNAPSHOT.schema.json"),
            schema_file("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            format!("{base}jsf-0.82.SNAPSHOT.schema.json"),
            schema_file("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema_file("bom-1.6.SNAPSHOT.schema.json"))
        .unwrap();
    validator
        .iter_errors(bom)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid(bom: &Value) {
    let errors = schema_errors(bom);
    assert!(errors.is_empty(), "{errors:#?}\n{bom:#}");
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn run_with_password(p: &Project, args: &[&str]) -> Run {
    p.run_env(args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn component<'a>(bom: &'a Value, name: &str) -> &'a Value {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {bom:#}"))
}

/// The values of the properties called `name`.
fn property<'a>(component: &'a Value, name: &str) -> Vec<&'a str> {
    component["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap())
        .collect()
}

/// Three connectors pushed to a real registry: `hash` signed with a key
/// (simple-signing) and certified by `certify REF --key`, `kv_counter` signed
/// as a bundle, `fetch` signed with a key and granted a host; locked; then
/// the SBOM checked field by field, against the schema, and for determinism.
#[test]
fn a_locked_signed_certified_project_gives_a_valid_reproducible_sbom() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let host = registry.host();
    let hash_ref = format!("{host}/sbom/hash:1.0");
    let kv_ref = format!("{host}/sbom/team/kv-counter:2.1");
    let fetch_ref = format!("{host}/sbom/http-fetch:0.3");
    for (dir, reference) in [
        ("hash", &hash_ref),
        ("kv-counter", &kv_ref),
        ("http-fetch", &fetch_ref),
    ] {
        let run = p.run(&["push", fixture_dir(dir).to_str().unwrap(), reference]);
        assert_ok(&run);
    }
    std::fs::create_dir_all(p.path().join("keys")).unwrap();
    assert_ok(&run_with_password(
        &p,
        &["generate-key", "--output-key-prefix", "keys/release"],
    ));
    assert_ok(&run_with_password(
        &p,
        &["sign", &hash_ref, "--key", "keys/release.key"],
    ));
    assert_ok(&run_with_password(
        &p,
        &["sign", &kv_ref, "--key", "keys/release.key", "--bundle"],
    ));
    assert_ok(&run_with_password(
        &p,
        &["sign", &fetch_ref, "--key", "keys/release.key"],
    ));
    let contract = fixture_dir("hash").join("tests/contract.yaml");
    assert_ok(&run_with_password(
        &p,
        &[
            "certify",
            &hash_ref,
            "--contract",
            contract.to_str().unwrap(),
            "--key",
            "keys/release.key",
            "--runs",
            "2",
        ],
    ));
    p.write(
        "latticeflow.toml",
        &format!(
            r#"[bundle]
name = "orders-flow"

[policy]
keys = ["keys/release.pub"]

[connectors.hash]
ref = "{hash_ref}"
certification = "required"

[connectors.kv_counter]
ref = "{kv_ref}"
capabilities = ["kv.read", "kv.write"]

[connectors.fetch]
ref = "{fetch_ref}"
capabilities = ["http.read"]
hosts = ["api.example.com"]
"#
        ),
    );
    assert_ok(&p.run(&["lock"]));
    let lock_before = p.read("latticeflow.lock");
    let lock = Lockfile::parse(&p.path().join("latticeflow.lock"), &lock_before).unwrap();

    let first = p.run(&["sbom"]);
    assert_ok(&first);
    assert_eq!(first.stderr, "", "no warning for a fresh lock");
    let second = p.run(&["sbom", "--format", "cyclonedx-json"]);
    assert_ok(&second);
    assert_eq!(first.stdout, second.stdout, "byte-identical run to run");
    let bom: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_valid(&bom);

    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["version"], 1);
    assert!(
        bom["serialNumber"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
    assert!(bom["metadata"].get("timestamp").is_none(), "{bom:#}");
    assert_eq!(bom["metadata"]["component"]["name"], "orders-flow");
    assert_eq!(
        bom["metadata"]["tools"]["components"][0]["name"],
        "lf-resolve"
    );
    let names: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fetch", "hash", "kv_counter"], "sorted by name");

    let fingerprint = match &lock.connectors()[1].signature.verified {
        Some(VerifiedSignature {
            signer: Signer::Key(key),
            ..
        }) => key.to_string(),
        other => panic!("hash is key-signed: {other:?}"),
    };
    for entry in lock.connectors() {
        let c = component(&bom, entry.name.as_str());
        assert_eq!(c["type"], "library");
        let repository = entry.reference.repository();
        let last = repository.rsplit('/').next().unwrap();
        let tag = entry.reference.tag().unwrap();
        assert_eq!(
            c["purl"],
            format!(
                "pkg:oci/{last}@sha256%3A{}?repository_url={host}/{repository}&tag={tag}",
                entry.digest.hex()
            ),
            "{c:#}"
        );
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(c["hashes"][0]["content"], entry.digest.hex());
        let module = &c["components"][0];
        assert_eq!(module["type"], "file");
        assert_eq!(module["hashes"][0]["content"], entry.module.digest.hex());
        // The module hash is the hash of the bytes the registry serves.
        let blob = std::fs::read(registry.blob_path(&entry.module.digest.to_string())).unwrap();
        assert_eq!(
            Digest::from_bytes(Algorithm::Sha256, &sha2::Sha256::digest(&blob)),
            entry.module.digest
        );
        assert_eq!(
            property(c, "latticeflow:signature:key"),
            [fingerprint.as_str()]
        );
        assert_eq!(property(c, "latticeflow:connector-id"), [entry.id.as_str()]);
    }
    let hash = component(&bom, "hash");
    assert_eq!(
        property(hash, "latticeflow:certification:result"),
        ["PASSED"]
    );
    assert_eq!(
        property(hash, "latticeflow:certification:policy"),
        ["required"]
    );
    assert_eq!(
        property(hash, "latticeflow:certification:key"),
        [fingerprint.as_str()]
    );
    assert_eq!(
        property(hash, "latticeflow:signature:format"),
        ["simple-signing"]
    );
    let kv = component(&bom, "kv_counter");
    assert_eq!(
        property(kv, "latticeflow:signature:format"),
        ["bundle-v0.3"]
    );
    assert_eq!(
        property(kv, "latticeflow:capability:granted"),
        ["kv.read", "kv.write"]
    );
    assert_eq!(
        property(kv, "latticeflow:capability:requested"),
        ["kv.read", "kv.write"]
    );
    assert!(property(kv, "latticeflow:certification:result").is_empty());
    let fetch = component(&bom, "fetch");
    assert_eq!(property(fetch, "latticeflow:host"), ["api.example.com"]);
    let deps = bom["dependencies"].as_array().unwrap();
    assert_eq!(deps[0]["ref"], bom["metadata"]["component"]["bom-ref"]);
    assert_eq!(
        deps[0]["dependsOn"],
        serde_json::json!(["fetch", "hash", "kv_counter"])
    );

    // `-o FILE` writes the same bytes; the JSON event carries the same document.
    let written = p.run(&["sbom", "-o", "bundle.cdx.json"]);
    assert_ok(&written);
    assert_eq!(p.read("bundle.cdx.json"), first.stdout);
    let json = p.run(&["sbom", "--message-format", "json"]);
    assert_ok(&json);
    let events = json.events();
    assert_eq!(events.len(), 1, "{}", json.stdout);
    assert_eq!(events[0]["type"], "sbom");
    assert_eq!(events[0]["sbom"], bom);

    // SOURCE_DATE_EPOCH adds that instant; the document still validates and,
    // being different content, gets another serial number.
    let dated = p.run_env(&["sbom"], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ok(&dated);
    let dated: Value = serde_json::from_str(&dated.stdout).unwrap();
    assert_eq!(dated["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_ne!(dated["serialNumber"], bom["serialNumber"]);
    assert_valid(&dated);

    // No network: with the registry gone, the same bytes.
    drop(registry);
    let offline = p.run(&["sbom"]);
    assert_ok(&offline);
    assert_eq!(offline.stdout, first.stdout);
    assert_eq!(
        p.read("latticeflow.lock"),
        lock_before,
        "the lock is only read"
    );
}

fn digest(byte: &str) -> Digest {
    format!("sha256:{}", byte.repeat(32)).parse().unwrap()
}

/// The strings a user or a signer controls (the bundle name, a keyless
/// identity and issuer) with quotes, backslashes, control characters,
/// non-ASCII and markup: the document parses back to exactly them and still
/// validates. The lock is built with lf-lockfile's own writer (the path of a
/// real lock), since no registry serves a keyless signature for these names.
#[test]
fn strings_that_need_escaping_round_trip_exactly_and_validate() {
    let nasty = "q\"uote \\back\\slash\u{1}\u{7f}\t\nnew <script>&amp; é ✓ 😀 \u{2028}";
    let issuer = "https://issuer.example/\"<>\\?a=1&b=\u{0}";
    let entry = LockedConnector {
        name: "odd".parse().unwrap(),
        id: "connector.example.odd".parse().unwrap(),
        reference: "127.0.0.1:5000/lf/odd:1.0".parse().unwrap(),
        digest: digest("ab"),
        module: BlobRef {
            digest: digest("cd"),
            size: 42,
        },
        config: BlobRef {
            digest: digest("ef"),
            size: 2,
        },
        capabilities: BTreeSet::new(),
        grants: BTreeSet::new(),
        hosts: BTreeSet::new(),
        deterministic: true,
        abi: Abi::V1,
        sandboxed: BTreeSet::new(),
        signature: SignatureEntry {
            policy: SignatureMode::Required,
            verified: Some(VerifiedSignature {
                format: SignatureFormat::BundleV03,
                signer: Signer::Keyless {
                    identity: nasty.to_owned(),
                    issuer: issuer.to_owned(),
                },
                digest: digest("01"),
            }),
        },
        certification: CertificationEntry::default(),
        spec: None,
    };
    let lock = Lockfile::new([entry]).unwrap();
    let toml_name: String = nasty
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            c if c.is_control() => format!("\\u{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect();
    let p = Project::with(&[
        (
            "latticeflow.toml",
            &format!(
                "[bundle]\nname = \"{toml_name}\"\n\n[connectors.odd]\nref = \"127.0.0.1:5000/lf/odd:1.0\"\n"
            ),
        ),
        ("latticeflow.lock", &lock.to_toml()),
    ]);
    let run = p.run(&["sbom"]);
    assert_ok(&run);
    assert!(
        !run.stdout.chars().any(|c| u32::from(c) < 0x20 && c != '\n'),
        "C0 control characters are escaped: {}",
        run.stdout
    );
    let bom: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(bom["metadata"]["component"]["name"], nasty);
    let odd = component(&bom, "odd");
    assert_eq!(property(odd, "latticeflow:signature:identity"), [nasty]);
    assert_eq!(property(odd, "latticeflow:signature:issuer"), [issuer]);
    assert_eq!(
        odd["purl"],
        format!(
            "pkg:oci/odd@sha256%3A{}?repository_url=127.0.0.1:5000/lf/odd&tag=1.0",
            "ab".repeat(32)
        )
    );
    assert_valid(&bom);
}

/// The schema check is not vacuous: a document it must refuse is refused.
#[test]
fn the_schema_refuses_a_broken_document() {
    let mut bom = serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "components": [{"type": "library", "name": "x", "hashes": [{"alg": "SHA-256", "content": "ab"}]}],
    });
    assert!(!schema_errors(&bom).is_empty(), "a short hash is refused");
    bom["components"][0]["hashes"][0]["content"] = "ab".repeat(32).into();
    assert_valid(&bom);
    bom["components"][0]["type"] = "wasm".into();
    assert!(
        !schema_errors(&bom).is_empty(),
        "an unknown type is refused"
    );
}

/// Bad input: no lock, a bad SOURCE_DATE_EPOCH, `-o` through a symlink or
/// into a missing directory. Each exits 2 naming the problem and writes
/// nothing.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let p = Project::with(&[(
        "latticeflow.toml",
        "[connectors.odd]\nref = \"127.0.0.1:5000/lf/odd:1.0\"\n",
    )]);
    let no_lock = p.run(&["sbom"]);
    assert_eq!(no_lock.code, 2, "{no_lock:?}");
    assert!(
        no_lock.stderr.contains("latticeflow.lock"),
        "{}",
        no_lock.stderr
    );
    assert!(
        no_lock.stderr.contains("lf-resolve lock"),
        "{}",
        no_lock.stderr
    );
    assert_eq!(no_lock.stdout, "");

    p.write(
        "latticeflow.lock",
        "# Generated by lf-resolve. Do not edit.\nversion = 1\n",
    );
    let stale = p.run(&["sbom"]);
    assert_ok(&stale);
    assert!(stale.stderr.contains("warning"), "{}", stale.stderr);
    assert!(stale.stderr.contains("odd"), "{}", stale.stderr);

    let epoch = p.run_env(&["sbom"], &[("SOURCE_DATE_EPOCH", "yesterday")]);
    assert_eq!(epoch.code, 2, "{epoch:?}");
    assert!(
        epoch.stderr.contains("SOURCE_DATE_EPOCH"),
        "{}",
        epoch.stderr
    );
    assert_eq!(epoch.stdout, "");

    p.write("target.txt", "keep me\n");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(p.path().join("target.txt"), p.path().join("link.json"))
            .unwrap();
        let link = p.run(&["sbom", "-o", "link.json"]);
        assert_eq!(link.code, 2, "{link:?}");
        assert!(link.stderr.contains("symlink"), "{}", link.stderr);
        assert_eq!(p.read("target.txt"), "keep me\n");
        assert!(
            std::fs::symlink_metadata(p.path().join("link.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    let missing = p.run(&["sbom", "-o", "no/such/dir/bom.json"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(!Path::new(&p.path().join("no")).exists());
}
