//! `lf-resolve push` (and, as it lands, `sign` and `inspect`) against a real
//! registry.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::Project;
use lf_registry_fixtures::{Registry, push_all_blocking};

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

#[test]
fn push_is_reproducible_and_matches_an_independent_pusher() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    let dir = fixture_dir("hash");
    let reference = format!("{}/authors/hash:1.0", registry.host());
    let source = "https://example.com/latticeflow/connectors/hash";
    let first = p.run(&[
        "push",
        dir.to_str().unwrap(),
        &reference,
        "--source",
        source,
    ]);
    assert_eq!(first.code, 0, "{first:?}");
    let digest = first.stdout.trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let again = p.run(&[
        "push",
        dir.to_str().unwrap(),
        &reference,
        "--source",
        source,
        "--message-format",
        "json",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    let event = &again.events()[0];
    assert_eq!(event["digest"], digest.as_str(), "same inputs, same digest");
    assert_eq!(
        event["annotations"]["org.opencontainers.image.source"],
        source
    );

    // The fixture pusher (oci-client, its own manifest writer) makes the same
    // artifact from the same WAT and YAML: same bytes, same digest.
    let pushed = push_all_blocking(&registry).unwrap();
    let independent = pushed.iter().find(|f| f.name == "hash").unwrap();
    assert_eq!(independent.manifest_digest, digest);

    // And it locks.
    p.write(
        "latticeflow.toml",
        &format!("[policy]\nsignatures = \"none\"\n\n[connectors.hash]\nref = \"{reference}\"\n"),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    assert!(p.read("latticeflow.lock").contains(&digest));
}

#[test]
fn push_refuses_a_module_that_does_not_match_its_manifest() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    p.write(
        "bad/connector.yaml",
        "id: connector.acme.bad.writer\ninputs: []\noutputs: []\neffects: []\ndeterministic: true\ncapabilities: []\n",
    );
    p.write(
        "bad/module.wat",
        r#"(module
  (import "lf:cap" "http_write" (func (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "lf_abi_version") (result i32) i32.const 1)
  (func (export "lf_alloc") (param i32) (result i32) i32.const 0)
  (func (export "lf_invoke") (param i32 i32) (result i64) i64.const 0))"#,
    );
    let reference = format!("{}/authors/bad:1.0", registry.host());
    let run = p.run(&["push", "bad", &reference]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("but its manifest does not declare `http.write`"),
        "{}",
        run.stderr
    );

    let missing = p.run(&["push", "nowhere", &reference]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("nowhere/connector.yaml"),
        "{}",
        missing.stderr
    );
}

/// The manifest `registry` serves for `repository:tag_or_digest`: its digest
/// (hashed here) and its annotations; `None` when it is not there.
fn served_manifest(
    registry: &Registry,
    repository: &str,
    tag_or_digest: &str,
) -> Option<(String, BTreeMap<String, String>)> {
    use sha2::Digest as _;
    let response = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v2/{repository}/manifests/{tag_or_digest}",
            registry.url()
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert!(response.status().is_success(), "{}", response.status());
    let bytes = response.bytes().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let annotations = serde_json::from_value(manifest["annotations"].clone()).unwrap();
    Some((
        format!("sha256:{:x}", sha2::Sha256::digest(&bytes)),
        annotations,
    ))
}

#[test]
fn push_and_tag_help_teach_content_only_digests() {
    let p = Project::new();
    let push = p.run(&["push", "--help"]);
    assert_eq!(push.code, 0, "{push:?}");
    assert!(push.stdout.contains("never on REF"), "{}", push.stdout);
    insta::assert_snapshot!("push_help", push.stdout);
    let tag = p.run(&["tag", "--help"]);
    assert_eq!(tag.code, 0, "{tag:?}");
    insta::assert_snapshot!("tag_help", tag.stdout);
}

#[test]
fn push_digests_depend_on_content_only() {
    let registry = Registry::start().unwrap();
    let host = registry.host();
    let p = Project::new();
    let dir = fixture_dir("hash");
    let dir = dir.to_str().unwrap();
    let push = |reference: &str, extra: &[&str]| {
        let mut args = vec!["push", dir, reference];
        args.extend_from_slice(extra);
        let run = p.run(&args);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.trim().to_owned()
    };

    // One directory, three destinations, one digest.
    let digest = push(&format!("{host}/authors/hash:1.0"), &[]);
    assert_eq!(push(&format!("{host}/authors/hash:latest"), &[]), digest);
    assert_eq!(push(&format!("{host}/elsewhere/copy:2.0"), &[]), digest);
    for (repository, tag) in [
        ("authors/hash", "1.0"),
        ("authors/hash", "latest"),
        ("elsewhere/copy", "2.0"),
    ] {
        let (served, annotations) = served_manifest(&registry, repository, tag).unwrap();
        assert_eq!(served, digest, "{repository}:{tag}");
        // Nothing about the destination is in the manifest.
        assert_eq!(
            annotations,
            BTreeMap::from([
                (
                    "dev.latticeflow.connector.id".to_owned(),
                    "connector.latticeflow.text.hash".to_owned()
                ),
                (
                    "org.opencontainers.image.title".to_owned(),
                    "connector.latticeflow.text.hash".to_owned()
                ),
            ]),
            "{repository}:{tag}"
        );
    }

    // The version comes from connector.yaml, not from the tag.
    let read = |file: &str| std::fs::read_to_string(fixture_dir("hash").join(file)).unwrap();
    p.write("versioned/module.wat", &read("module.wat"));
    p.write(
        "versioned/connector.yaml",
        &read("connector.yaml").replacen('\n', "\nversion: 1.4.0\n", 1),
    );
    let versioned = p.run(&["push", "versioned", &format!("{host}/authors/hash:latest")]);
    assert_eq!(versioned.code, 0, "{versioned:?}");
    let versioned = versioned.stdout.trim().to_owned();
    assert_ne!(versioned, digest);
    let again = p.run(&["push", "versioned", &format!("{host}/authors/hash:1.4.0")]);
    assert_eq!(again.stdout.trim(), versioned, "{again:?}");
    let (_, annotations) = served_manifest(&registry, "authors/hash", "1.4.0").unwrap();
    assert_eq!(annotations["org.opencontainers.image.version"], "1.4.0");
    // The fixtures' pusher takes the version from the embedded manifest too,
    // and writes the same artifact.
    let module = lf_registry_fixtures::embed_manifest(
        &lf_registry_fixtures::fixture("hash").unwrap().module,
        &p.read("versioned/connector.yaml"),
    )
    .unwrap();
    let independent = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(lf_registry_fixtures::push_connector(
            &host,
            "independent/hash",
            "whatever",
            &module,
            &lf_registry_fixtures::PushOptions::default(),
        ))
        .unwrap();
    assert_eq!(independent.manifest.digest, versioned);

    // `--annotation` adds and overrides; the same annotations give the same
    // digest anywhere.
    let annotated = push(
        &format!("{host}/authors/hash:2.0"),
        &[
            "--annotation",
            "org.opencontainers.image.version=2.0",
            "-a",
            "org.opencontainers.image.title=Hash",
        ],
    );
    assert_ne!(annotated, digest);
    assert_eq!(
        push(
            &format!("{host}/elsewhere/copy:latest"),
            &[
                "-a",
                "org.opencontainers.image.title=Hash",
                "-a",
                "org.opencontainers.image.version=2.0",
            ],
        ),
        annotated
    );
    let (_, annotations) = served_manifest(&registry, "authors/hash", "2.0").unwrap();
    assert_eq!(annotations["org.opencontainers.image.version"], "2.0");
    assert_eq!(annotations["org.opencontainers.image.title"], "Hash");

    // Bad annotations are refused before anything is pushed.
    for (bad, expected) in [
        ("novalue", "has no `=`"),
        ("=x", "its key is empty"),
        ("a b=x", "not printable ASCII"),
        (
            "dev.latticeflow.connector.id=connector.evil.other",
            "it is the `id` of connector.yaml",
        ),
    ] {
        let run = p.run(&["push", dir, &format!("{host}/refused/hash:1.0"), "-a", bad]);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
        assert!(run.stderr.contains(expected), "{bad}: {}", run.stderr);
    }
    assert_eq!(served_manifest(&registry, "refused/hash", "1.0"), None);
}

#[test]
fn tag_names_the_same_digest() {
    let registry = Registry::start().unwrap();
    let host = registry.host();
    let p = Project::new();
    let source = format!("{host}/authors/hash:1.0");
    let pushed = p.run(&["push", fixture_dir("hash").to_str().unwrap(), &source]);
    assert_eq!(pushed.code, 0, "{pushed:?}");
    let digest = pushed.stdout.trim().to_owned();

    let tagged = p.run(&["tag", &source, "stable"]);
    assert_eq!(tagged.code, 0, "{tagged:?}");
    assert_eq!(tagged.stdout.trim(), digest);
    assert!(
        tagged.stderr.contains(&format!(
            "{host}/authors/hash@{digest} as {host}/authors/hash:stable"
        )),
        "{}",
        tagged.stderr
    );
    assert_eq!(
        served_manifest(&registry, "authors/hash", "stable").map(|m| m.0),
        Some(digest.clone())
    );

    // By digest too, with a JSON event.
    let by_digest = p.run(&[
        "tag",
        &format!("{host}/authors/hash@{digest}"),
        "1",
        "--message-format",
        "json",
    ]);
    assert_eq!(by_digest.code, 0, "{by_digest:?}");
    let event = &by_digest.events()[0];
    assert_eq!(event["type"], "tagged");
    assert_eq!(event["digest"], digest.as_str());
    assert_eq!(
        served_manifest(&registry, "authors/hash", "1").map(|m| m.0),
        Some(digest.clone())
    );

    // The new tag locks to the same digest.
    p.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\n\n[connectors.hash]\nref = \"{host}/authors/hash:stable\"\n"
        ),
    );
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    assert!(p.read("latticeflow.lock").contains(&digest));

    // A source that does not exist: exit 3, nothing tagged.
    let missing = p.run(&["tag", &format!("{host}/authors/hash:nope"), "ghost"]);
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains(&format!("{host}/authors/hash:nope")),
        "{}",
        missing.stderr
    );
    assert_eq!(served_manifest(&registry, "authors/hash", "ghost"), None);

    // Bad references and tags: exit 2, before any request.
    for (args, expected) in [
        (
            vec!["tag", "https://x/y:1", "z"],
            "references have no scheme",
        ),
        (vec!["tag", &source, "a/b"], "is not a tag"),
        (
            vec!["tag", &source, &format!("{host}/other:1")],
            "is not a tag",
        ),
        (vec!["tag", &source, ".x"], "tag `.x` is invalid"),
    ] {
        let run = p.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn connector_yaml_errors_name_file_line_and_column() {
    let registry = Registry::start().unwrap();
    let host = registry.host();
    let p = Project::new();
    let module = std::fs::read_to_string(fixture_dir("hash").join("module.wat")).unwrap();
    let yaml = std::fs::read_to_string(fixture_dir("hash").join("connector.yaml")).unwrap();
    p.write("bad/module.wat", &module);
    let cases = [
        (
            yaml.replacen("type: string", "type: list<integer>", 1),
            "error: `inputs[0].type`: invalid type `list<integer>`: unknown type `integer`",
            "bad/connector.yaml:4:16",
            "    type: list<integer>",
            "^^^^^^^",
        ),
        (
            yaml.replacen("deterministic: true", "deterministic: 3", 1),
            "error: connector manifest: invalid boolean",
            "bad/connector.yaml:14:16",
            "deterministic: 3",
            "^",
        ),
        (
            yaml.replacen('\n', "\nversion: 1.0 beta\n", 1),
            "error: `version`: `1.0 beta` is not a valid version",
            "bad/connector.yaml:2:10",
            "version: 1.0 beta",
            "^^^^^^^^",
        ),
    ];
    for (text, message, location, line, carets) in cases {
        p.write("bad/connector.yaml", &text);
        let run = p.run(&["push", "bad", &format!("{host}/authors/bad:1.0")]);
        assert_eq!(run.code, 2, "{run:?}");
        for expected in [message, location, line, carets] {
            assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
        }
        assert!(!run.stderr.contains("offset"), "{}", run.stderr);

        let json = p.run(&[
            "push",
            "bad",
            &format!("{host}/authors/bad:1.0"),
            "--message-format",
            "json",
        ]);
        let event = &json.events()[0];
        assert_eq!(event["file"], "bad/connector.yaml");
        let (l, c) = location
            .trim_start_matches("bad/connector.yaml:")
            .split_once(':')
            .unwrap();
        assert_eq!(event["line"].to_string(), l);
        assert_eq!(event["column"].to_string(), c);
    }

    // A manifest `lock` would refuse for its size is not pushed.
    let padding = format!("# {}\n", "x".repeat(1024 * 1024));
    p.write("bad/connector.yaml", &format!("{yaml}{padding}"));
    let run = p.run(&["push", "bad", &format!("{host}/authors/bad:1.0")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("bad/connector.yaml` is over the 1048576-byte limit"),
        "{}",
        run.stderr
    );
    std::fs::write(
        p.path().join("bad/connector.yaml"),
        [yaml.as_bytes(), b"# \xff\n"].concat(),
    )
    .unwrap();
    let run = p.run(&["push", "bad", &format!("{host}/authors/bad:1.0")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not UTF-8"), "{}", run.stderr);
    assert_eq!(served_manifest(&registry, "authors/bad", "1.0"), None);
}

#[test]
fn lock_refuses_a_connector_id_annotation_that_disagrees_with_the_module() {
    let registry = Registry::start().unwrap();
    let host = registry.host();
    let fixture = lf_registry_fixtures::fixture("hash").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut options = lf_registry_fixtures::PushOptions::default();
    options.connector_id = Some("connector.evil.impostor".to_owned());
    runtime
        .block_on(lf_registry_fixtures::push_connector(
            &host,
            "authors/liar",
            "1.0",
            &fixture.module,
            &options,
        ))
        .unwrap();
    let p = Project::new();
    let config = format!(
        "[policy]\nsignatures = \"none\"\n\n[connectors.liar]\nref = \"{host}/authors/liar:1.0\"\n"
    );
    p.write("latticeflow.toml", &config);
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 1, "{lock:?}");
    assert!(
        lock.stderr.contains(
            "connector `liar`: the manifest annotation says `connector.evil.impostor` but the module's connector manifest says `connector.latticeflow.text.hash`"
        ),
        "{}",
        lock.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
    assert_eq!(p.read("latticeflow.toml"), config);
}

/// A registry with `hash` pushed as `signing/hash:1.0` and `text-upper` as
/// `signing/hash:2.0` (same repository), a project, and two key pairs.
struct Signing {
    registry: Registry,
    project: Project,
    first: String,
    second: String,
}

const PASSWORD: &str = "correct horse battery staple";

fn signing_setup() -> Signing {
    let registry = Registry::start().unwrap();
    let project = Project::new();
    let first = format!("{}/signing/hash:1.0", registry.host());
    let second = format!("{}/signing/hash:2.0", registry.host());
    for (dir, reference) in [("hash", &first), ("text-upper", &second)] {
        let run = project.run(&["push", fixture_dir(dir).to_str().unwrap(), reference]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    for prefix in ["keys/good", "keys/other"] {
        std::fs::create_dir_all(project.path().join("keys")).unwrap();
        let run = run_with_password(&project, &["generate-key", "--output-key-prefix", prefix]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    Signing {
        registry,
        project,
        first,
        second,
    }
}

fn run_with_password(p: &Project, args: &[&str]) -> common::Run {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .current_dir(p.path())
        .env("LF_CACHE_DIR", p.cache())
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn require(s: &Signing, reference: &str, keys: &[&str]) {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    s.project.write(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"required\"\nkeys = [{}]\n\n[connectors.hash]\nref = \"{reference}\"\n",
            keys.join(", ")
        ),
    );
    let _ = std::fs::remove_file(s.project.path().join("latticeflow.lock"));
}

#[test]
fn signed_connectors_lock_and_record_the_signer() {
    let s = signing_setup();
    let p = &s.project;
    let sign = run_with_password(p, &["sign", &s.first, "--key", "keys/good.key"]);
    assert_eq!(sign.code, 0, "{sign:?}");

    require(&s, &s.first, &["keys/good.pub"]);
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    let text = p.read("latticeflow.lock");
    assert!(
        text.contains(
            "signature = { policy = \"required\", format = \"simple-signing\", key = \"sha256:"
        ),
        "{text}"
    );
    assert_eq!(p.run(&["verify"]).code, 0);
    assert_eq!(p.run(&["lock", "--locked"]).code, 0);

    // A fresh cache: `fetch` brings the signature too, so offline checks pass.
    std::fs::remove_dir_all(p.cache()).unwrap();
    assert_eq!(p.run(&["fetch"]).code, 0);
    let frozen = p.run(&["lock", "--frozen"]);
    assert_eq!(frozen.code, 0, "{frozen:?}");
    let verify = p.run(&["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify.stderr.contains("and 1 signature of 1 connector"),
        "{}",
        verify.stderr
    );
    let index = std::fs::read_to_string(p.cache().join("index.json")).unwrap();
    assert!(
        index.contains(".sig\""),
        "the signature is named in the store index: {index}"
    );

    // The trusted key changes: --locked notices, and a relock fails.
    require(&s, &s.first, &["keys/other.pub"]);
    p.write("latticeflow.lock", &text);
    let locked = p.run(&["lock", "--locked"]);
    assert_eq!(locked.code, 1, "{locked:?}");
    assert!(
        locked.stderr.contains("is no longer trusted"),
        "{}",
        locked.stderr
    );

    // Unsigned (the other tag): fails closed, naming what is missing.
    require(&s, &s.second, &["keys/good.pub"]);
    let unsigned = p.run(&["lock"]);
    assert_eq!(unsigned.code, 1, "{unsigned:?}");
    assert!(
        unsigned.stderr.contains("requires a verified signature"),
        "{}",
        unsigned.stderr
    );
    assert!(
        unsigned.stderr.contains("no signature found"),
        "{}",
        unsigned.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
}

#[test]
fn the_wrong_key_and_a_copied_signature_fail_and_one_valid_signature_is_enough() {
    let s = signing_setup();
    let p = &s.project;
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/other.key"]).code,
        0
    );

    // Signed with another key: fails.
    require(&s, &s.first, &["keys/good.pub"]);
    let wrong = p.run(&["lock"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("keys/good.pub"),
        "names the key it tried: {}",
        wrong.stderr
    );

    // Two signatures, one valid: passes, and the good key is recorded.
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key"]).code,
        0
    );
    let two = p.run(&["lock"]);
    assert_eq!(two.code, 0, "{two:?}");

    // A signature copied from another digest: the `.sig` of 1.0 put under 2.0's tag.
    let client = reqwest::blocking::Client::new();
    let base = s.registry.url();
    let digest_of = |tag: &str| {
        client
            .head(format!("{base}/v2/signing/hash/manifests/{tag}"))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .unwrap()
            .headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let sig_tag = |digest: &str| digest.replace(':', "-") + ".sig";
    let first_sig = client
        .get(format!(
            "{base}/v2/signing/hash/manifests/{}",
            sig_tag(&digest_of("1.0"))
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let put = client
        .put(format!(
            "{base}/v2/signing/hash/manifests/{}",
            sig_tag(&digest_of("2.0"))
        ))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(first_sig)
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    require(&s, &s.second, &["keys/good.pub"]);
    let copied = p.run(&["lock"]);
    assert_eq!(copied.code, 1, "{copied:?}");
    assert!(
        copied.stderr.contains("signature is over"),
        "says which check failed: {}",
        copied.stderr
    );
}

#[test]
fn bundles_verify_through_the_tag_fallback() {
    let s = signing_setup();
    let p = &s.project;
    let sign = run_with_password(p, &["sign", &s.first, "--key", "keys/good.key", "--bundle"]);
    assert_eq!(sign.code, 0, "{sign:?}");
    require(&s, &s.first, &["keys/good.pub"]);
    let lock = p.run(&["lock"]);
    assert_eq!(lock.code, 0, "{lock:?}");
    assert!(
        p.read("latticeflow.lock")
            .contains("format = \"bundle-v0.3\"")
    );
    assert_eq!(p.run(&["verify"]).code, 0);
    let inspect = p.run(&["inspect", &s.first]);
    assert_eq!(inspect.code, 0, "{inspect:?}");
    assert!(
        inspect.stdout.contains("signature   bundle-v0.3"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn bad_keys_and_passwords_are_clear_errors_that_write_nothing() {
    let s = signing_setup();
    let p = &s.project;
    p.write("keys/garbage.key", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nnot base64\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    let garbage = run_with_password(p, &["sign", &s.first, "--key", "keys/garbage.key"]);
    assert_eq!(garbage.code, 2, "{garbage:?}");
    assert!(
        garbage.stderr.contains("keys/garbage.key"),
        "{}",
        garbage.stderr
    );

    let out = std::process::Command::new(common::BIN)
        .args(["sign", &s.first, "--key", "keys/good.key"])
        .current_dir(p.path())
        .env("COSIGN_PASSWORD", "wrong")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{out:?}"
    );

    // Nothing was written: the artifact is still unsigned.
    require(&s, &s.first, &["keys/good.pub"]);
    assert_eq!(p.run(&["lock"]).code, 1);

    // A malformed public key in the policy is located in latticeflow.toml.
    p.write(
        "keys/bad.pub",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    require(&s, &s.first, &["keys/bad.pub"]);
    let bad = p.run(&["lock"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("latticeflow.toml:3:"), "{}", bad.stderr);
}

/// Puts a hand-made `.sig` manifest with one layer (`media_type`, `payload`,
/// signature annotation `signature`) under the signature tag of `tag`.
fn put_signature(s: &Signing, tag: &str, media_type: &str, payload: &[u8], signature: &str) {
    use lf_registry_fixtures::artifact::{Descriptor, RawArtifact};
    let client = reqwest::blocking::Client::new();
    let digest = client
        .head(format!(
            "{}/v2/signing/hash/manifests/{tag}",
            s.registry.url()
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let config =
        br#"{"architecture":"","config":{},"os":"","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config_desc = Descriptor::of("application/vnd.oci.image.config.v1+json", &config);
    let layer = Descriptor::of(media_type, payload);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_desc.media_type, "digest": config_desc.digest, "size": config_desc.size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size,
                    "annotations": {"dev.cosignproject.cosign/signature": signature}}],
    }))
    .unwrap();
    let raw = RawArtifact::image(manifest, vec![config, payload.to_vec()]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(lf_registry_fixtures::push_raw(
            &s.registry.host(),
            "signing/hash",
            &format!("{}.sig", digest.replace(':', "-")),
            &raw,
            &Default::default(),
        ))
        .unwrap();
}

#[test]
fn malformed_signature_artifacts_fail_with_the_check_that_caught_them() {
    let s = signing_setup();
    let p = &s.project;
    // A real signature made for 1.0, to reuse its payload and signature.
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key"]).code,
        0
    );
    let client = reqwest::blocking::Client::new();
    let base = s.registry.url();
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let digest = client
        .head(format!("{base}/v2/signing/hash/manifests/1.0"))
        .header("Accept", accept)
        .send()
        .unwrap()
        .headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let sig: serde_json::Value = client
        .get(format!(
            "{base}/v2/signing/hash/manifests/{}.sig",
            digest.replace(':', "-")
        ))
        .header("Accept", accept)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let layer = &sig["layers"][0];
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let payload = client
        .get(format!(
            "{base}/v2/signing/hash/blobs/{}",
            layer["digest"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    require(&s, &s.first, &["keys/good.pub"]);
    assert_eq!(p.run(&["lock"]).code, 0, "the real one verifies");

    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("application/octet-stream", payload.clone(), "media type"),
        (
            "application/vnd.dev.cosign.simplesigning.v1+json",
            [payload, b" ".to_vec()].concat(),
            "does not verify with the trusted key",
        ),
        (
            "application/vnd.dev.cosign.simplesigning.v1+json",
            vec![b' '; 2 * 1024 * 1024],
            "limit",
        ),
    ];
    for (media_type, body, expected) in cases {
        put_signature(&s, "1.0", media_type, &body, &signature);
        require(&s, &s.first, &["keys/good.pub"]);
        let run = p.run(&["lock"]);
        assert_ne!(run.code, 0, "{media_type}: {run:?}");
        assert!(
            run.stderr.to_lowercase().contains(expected),
            "{media_type}: expected {expected:?} in {}",
            run.stderr
        );
        assert!(
            !p.path().join("latticeflow.lock").exists(),
            "nothing written"
        );
    }
}

#[test]
fn vendor_holds_exactly_the_locked_artifacts_and_serves_offline_builds() {
    let mut s = signing_setup();
    let p = &s.project;
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key"]).code,
        0
    );
    require(&s, &s.first, &["keys/good.pub"]);
    assert_eq!(p.run(&["lock"]).code, 0);
    let vendor = p.run(&["vendor"]);
    assert_eq!(vendor.code, 0, "{vendor:?}");
    let layout = p.path().join("vendor/oci");
    assert!(layout.join("oci-layout").is_file());
    assert!(
        !layout.join("CACHEDIR.TAG").exists(),
        "a vendor dir is meant to be committed"
    );
    // manifest, config, module, signature manifest and its payload layer
    let blobs = p.files_under("vendor/oci/blobs");
    assert_eq!(blobs.len(), 5, "{:?}", blobs.keys().collect::<Vec<_>>());
    let index = p.read("vendor/oci/index.json");
    assert!(index.contains("signing/hash:1.0\""), "{index}");
    assert!(index.contains(".sig\""), "{index}");
    if std::path::Path::new("/usr/bin/skopeo").exists() {
        let name = s.first.clone();
        let out = std::process::Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                &format!("oci:{}:{name}", layout.display()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("application/wasm"));
    }

    // No cache, no registry: the vendor dir alone.
    s.registry.stop();
    std::fs::remove_dir_all(p.cache()).unwrap();
    let frozen = p.run(&["lock", "--frozen"]);
    assert_eq!(frozen.code, 0, "{frozen:?}");
    let verify = p.run(&["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    // `fetch` fills an empty cache from the vendor dir, with no registry.
    let fetch = p.run(&["fetch"]);
    assert_eq!(fetch.code, 0, "{fetch:?}");
    assert!(
        fetch.stderr.contains("from [PROJECT]/vendor/oci") || fetch.stderr.contains("vendor/oci"),
        "{}",
        fetch.stderr
    );
    assert_eq!(p.files_under(".cache/blobs").len(), 5);

    // A tampered module in the vendor dir is named.
    let module = p
        .read("latticeflow.lock")
        .lines()
        .find(|l| l.starts_with("module = "))
        .unwrap()
        .to_owned();
    let hex = module.split("sha256:").nth(1).unwrap()[..64].to_owned();
    let path = layout.join("blobs/sha256").join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let tampered = p.run(&["verify"]);
    assert_eq!(tampered.code, 1, "{tampered:?}");
    assert!(tampered.stderr.contains(&hex), "{}", tampered.stderr);
}

#[test]
fn remote_verification_and_truncated_signature_manifests() {
    use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
    let mut s = signing_setup();
    let p = &s.project;
    assert_eq!(
        run_with_password(p, &["sign", &s.first, "--key", "keys/good.key"]).code,
        0
    );

    // Through a proxy that cuts the `.sig` manifest short: a clear error, no lock.
    let proxy = FaultProxy::start(s.registry.addr()).unwrap();
    proxy.add(Rule::new(".sig", Fault::Truncate { keep: 40 }).method(Method::GET));
    let through = s.first.replace(&s.registry.host(), &proxy.host());
    require(&s, &through, &["keys/good.pub"]);
    let cut = p.run(&["lock"]);
    assert_ne!(cut.code, 0, "{cut:?}");
    assert!(
        cut.stderr.contains(".sig"),
        "names the signature manifest: {}",
        cut.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
    drop(proxy);

    // `verify --remote`: fine while the registry serves everything, an
    // error naming what it no longer serves afterwards.
    require(&s, &s.first, &["keys/good.pub"]);
    assert_eq!(p.run(&["lock"]).code, 0);
    let remote = p.run(&["verify", "--remote"]);
    assert_eq!(remote.code, 0, "{remote:?}");
    s.registry.stop();
    assert_eq!(
        p.run(&["verify"]).code,
        0,
        "offline verification needs no registry"
    );
    // Down is not gone: exit 3 (try again), no advice to delete anything.
    let down = p.run(&["verify", "--remote"]);
    assert_eq!(down.code, 3, "{down:?}");
    assert!(
        down.stderr.contains("unreachable") && !down.stderr.contains("delete"),
        "{}",
        down.stderr
    );
}
