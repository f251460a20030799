//! A hostile pull request: `latticeflow.lock` and `vendor/` edited by hand,
//! signed bytes copied under another connector's name, damaged caches,
//! symbolic links planted in the project. Every offline check CI runs
//! (`check`, `lock --frozen`, `verify`, `generate --check`) must refuse, and
//! nothing may be written on failure. Driven through the real binary against
//! a real registry.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Project, Run};
use lf_registry_fixtures::Registry;
use lf_registry_fixtures::artifact::RawArtifact;

const PASSWORD: &str = "correct horse battery staple";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

/// Two signed connectors (`text_upper` with no capability, `http_fetch`
/// with `http.read`), locked with signatures required, vendored and
/// generated.
struct Setup {
    registry: Registry,
    project: Project,
}

impl Setup {
    fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}:1.0", self.registry.host())
    }
}

fn signed(p: &Project, args: &[&str]) -> Run {
    p.run_env(args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn assert_ok(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
}

fn config(s: &Setup, extra: &str) -> String {
    format!(
        "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\n\n\
         [connectors.text_upper]\nref = \"{}\"\n\n\
         [connectors.http_fetch]\nref = \"{}\"\ncapabilities = [\"http.read\"]\n{extra}",
        s.reference("lf/text-upper"),
        s.reference("lf/http-fetch"),
    )
}

fn setup() -> Setup {
    let registry = Registry::start().unwrap();
    let project = Project::new();
    let s = Setup { registry, project };
    let p = &s.project;
    std::fs::create_dir_all(p.path().join("keys")).unwrap();
    assert_ok(&signed(
        p,
        &["generate-key", "--output-key-prefix", "keys/good"],
    ));
    for (dir, repository) in [
        ("text-upper", "lf/text-upper"),
        ("http-fetch", "lf/http-fetch"),
    ] {
        let reference = s.reference(repository);
        assert_ok(&p.run(&["push", fixture_dir(dir).to_str().unwrap(), &reference]));
        assert_ok(&signed(p, &["sign", &reference, "--key", "keys/good.key"]));
    }
    p.write("latticeflow.toml", &config(&s, ""));
    assert_ok(&p.run(&["lock"]));
    assert_ok(&p.run(&["generate"]));
    for check in [
        &["check"][..],
        &["lock", "--frozen"],
        &["verify"],
        &["generate", "--check"],
    ] {
        assert_ok(&p.run(check));
    }
    s
}

/// Every offline check CI might run fails with exit 1, naming `needle`, and
/// leaves the lock and `vendor/` as they were.
fn every_offline_check_refuses(p: &Project, needle: &str) {
    let lock = p.read("latticeflow.lock");
    let vendor = p.files_under("vendor");
    for check in [
        &["check"][..],
        &["lock", "--frozen"],
        &["lock", "--locked"],
        &["verify"],
        &["generate", "--check"],
    ] {
        let run = p.run(check);
        assert_eq!(run.code, 1, "`{}` must refuse: {run:?}", check.join(" "));
        assert!(
            run.stderr.contains(needle),
            "`{}` must name {needle}: {}",
            check.join(" "),
            run.stderr
        );
        assert_eq!(p.read("latticeflow.lock"), lock, "`{}`", check.join(" "));
        assert!(p.files_under("vendor") == vendor, "`{}`", check.join(" "));
    }
}

/// The `[[connector]]` tables of the lock, by name.
fn lock_entries(p: &Project) -> (toml_edit::DocumentMut, BTreeMap<String, usize>) {
    let doc: toml_edit::DocumentMut = p.read("latticeflow.lock").parse().unwrap();
    let names = doc["connector"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| (t["name"].as_str().unwrap().to_owned(), i))
        .collect();
    (doc, names)
}

/// Rewrites one field of one lock entry.
fn edit_lock(p: &Project, name: &str, field: &str, value: toml_edit::Item) {
    let (mut doc, names) = lock_entries(p);
    let tables = doc["connector"].as_array_of_tables_mut().unwrap();
    tables.get_mut(names[name]).unwrap()[field] = value;
    p.write("latticeflow.lock", &doc.to_string());
}

/// The lock fields the artifact's bytes decide (besides `capabilities`).
const BYTE_FIELDS: [&str; 6] = [
    "id",
    "digest",
    "module",
    "config",
    "deterministic",
    "signature",
];

#[test]
fn another_connectors_signed_entry_spliced_into_the_lock_is_refused() {
    let s = setup();
    let p = &s.project;
    let original = p.read("latticeflow.lock");
    // Copy everything the bytes decide from `http_fetch` into `text_upper`,
    // keeping what latticeflow.toml decides (name, ref, grants): the splice
    // the integrity review found passing every check.
    let (doc, names) = lock_entries(p);
    let tables = doc["connector"].as_array_of_tables().unwrap();
    let donor = tables.get(names["http_fetch"]).unwrap().clone();
    for field in BYTE_FIELDS {
        edit_lock(p, "text_upper", field, donor[field].clone());
    }
    every_offline_check_refuses(p, "connector `text_upper`");
    let verify = p.run(&["verify"]);
    assert!(
        verify.stderr.contains("http.read") && verify.stderr.contains("lf/http-fetch"),
        "names the capability and the repository the signature was made for: {}",
        verify.stderr
    );

    // The same with the donor's capabilities too: the lock no longer parses
    // as one that grants what it requests, or the grant check refuses.
    p.write("latticeflow.lock", &original);
    for field in BYTE_FIELDS.iter().chain(&["capabilities"]) {
        edit_lock(p, "text_upper", field, donor[field].clone());
    }
    for check in [
        &["lock", "--frozen"][..],
        &["verify"],
        &["generate", "--check"],
    ] {
        let run = p.run(check);
        assert_ne!(run.code, 0, "`{}` must refuse: {run:?}", check.join(" "));
    }
}

#[test]
fn hand_edited_fields_are_re_derived_from_the_bytes() {
    let s = setup();
    let p = &s.project;
    let original = p.read("latticeflow.lock");
    let edits: [(&str, &str, toml_edit::Item, &str); 3] = [
        (
            "text_upper",
            "id",
            toml_edit::value("connector.latticeflow.text.lower"),
            "`id`",
        ),
        (
            "http_fetch",
            "deterministic",
            toml_edit::value(true),
            "`deterministic`",
        ),
        (
            "http_fetch",
            "module",
            {
                let (doc, names) = lock_entries(p);
                let tables = doc["connector"].as_array_of_tables().unwrap();
                tables.get(names["text_upper"]).unwrap()["module"].clone()
            },
            "module",
        ),
    ];
    for (name, field, value, needle) in edits {
        p.write("latticeflow.lock", &original);
        edit_lock(p, name, field, value);
        every_offline_check_refuses(p, needle);
    }
    // Capabilities edited down: the connector still imports `http_read`.
    p.write("latticeflow.lock", &original);
    let mut array = toml_edit::Array::new();
    array.push("log");
    p.write(
        "latticeflow.toml",
        &config(&s, "").replace(
            "capabilities = [\"http.read\"]",
            "capabilities = [\"http.read\", \"log\"]",
        ),
    );
    assert_ok(&p.run(&["lock"]));
    let relocked = p.read("latticeflow.lock");
    edit_lock(
        p,
        "http_fetch",
        "capabilities",
        toml_edit::Item::Value(array.into()),
    );
    every_offline_check_refuses(p, "`capabilities`");
    p.write("latticeflow.lock", &relocked);
    assert_ok(&p.run(&["lock", "--frozen"]));
}

/// Copies the manifest `tag` of `from` (with its blobs) to `to:tag`,
/// byte for byte, as `skopeo copy` or `oras cp` would.
fn copy_manifest(registry: &Registry, from: &str, tag: &str, to: &str) {
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let response = client
            .get(format!("{}/v2/{path}", registry.url()))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
        response.bytes().unwrap().to_vec()
    };
    let manifest = get(&format!("{from}/manifests/{tag}"));
    let parsed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut blobs = vec![get(&format!(
        "{from}/blobs/{}",
        parsed["config"]["digest"].as_str().unwrap()
    ))];
    for layer in parsed["layers"].as_array().unwrap() {
        blobs.push(get(&format!(
            "{from}/blobs/{}",
            layer["digest"].as_str().unwrap()
        )));
    }
    let raw = RawArtifact::image(manifest, blobs);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(lf_registry_fixtures::push_raw(
            &registry.host(),
            to,
            tag,
            &raw,
            &Default::default(),
        ))
        .unwrap();
}

#[test]
fn a_signature_binds_the_repository_it_was_made_for() {
    let s = setup();
    let p = &s.project;
    // Copy the signed text-upper artifact and its `.sig` to another name.
    let digest = {
        let (doc, names) = lock_entries(p);
        let tables = doc["connector"].as_array_of_tables().unwrap();
        tables.get(names["text_upper"]).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    copy_manifest(&s.registry, "lf/text-upper", "1.0", "lf/impostor");
    copy_manifest(
        &s.registry,
        "lf/text-upper",
        &format!("{}.sig", digest.replace(':', "-")),
        "lf/impostor",
    );
    let impostor = s.reference("lf/impostor");
    let with_impostor = |extra: &str| {
        config(
            &s,
            &format!("\n[connectors.impostor]\nref = \"{impostor}\"\n{extra}"),
        )
    };
    p.write("latticeflow.toml", &with_impostor(""));
    let before = p.read("latticeflow.lock");
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    let host = s.registry.host();
    assert!(
        run.stderr.contains(&format!("{host}/lf/text-upper"))
            && run.stderr.contains(&format!("{host}/lf/impostor")),
        "names both repositories: {}",
        run.stderr
    );
    assert!(run.stderr.contains("signed-repository"), "{}", run.stderr);
    assert_eq!(p.read("latticeflow.lock"), before, "nothing written");

    // Relocation on purpose: allowed for that connector only.
    p.write(
        "latticeflow.toml",
        &with_impostor(&format!("signed-repository = \"{host}/lf/text-upper\"\n")),
    );
    assert_ok(&p.run(&["lock"]));
    assert_ok(&p.run(&["verify"]));
    // ... and withdrawing the allowance fails the offline checks.
    p.write("latticeflow.toml", &with_impostor(""));
    let locked = p.run(&["lock", "--locked"]);
    assert_eq!(locked.code, 1, "{locked:?}");
    assert!(locked.stderr.contains("lf/impostor"), "{}", locked.stderr);
    let verify = p.run(&["verify"]);
    assert_eq!(verify.code, 1, "{verify:?}");

    // A tag or digest is not a repository.
    p.write(
        "latticeflow.toml",
        &with_impostor(&format!(
            "signed-repository = \"{host}/lf/text-upper:1.0\"\n"
        )),
    );
    let bad = p.run(&["lock"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("latticeflow.toml:"), "{}", bad.stderr);
}

/// The path of a blob in an OCI layout.
fn blob(root: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap();
    root.join("blobs").join(algorithm).join(hex)
}

/// Flips one byte in the middle of a file, keeping its size.
fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    // Vendored blobs may be read-only; the attacker does not care.
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

fn module_digest(p: &Project, name: &str) -> String {
    let (doc, names) = lock_entries(p);
    let tables = doc["connector"].as_array_of_tables().unwrap();
    tables.get(names[name]).unwrap()["module"]["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn bytes_changed_at_the_same_size_are_noticed_where_they_are_used() {
    let s = setup();
    let p = &s.project;
    let lock = p.read("latticeflow.lock");
    let module = module_digest(p, "text_upper");

    // vendor/: generate --check and verify notice; vendor repairs.
    let vendored = blob(&p.path().join("vendor/oci"), &module);
    let good = std::fs::read(&vendored).unwrap();
    flip_a_byte(&vendored);
    for check in [&["generate", "--check"][..], &["verify"]] {
        let run = p.run(check);
        assert_eq!(run.code, 1, "`{}`: {run:?}", check.join(" "));
        assert!(run.stderr.contains(&module), "{}", run.stderr);
    }
    let repair = p.run(&["vendor"]);
    assert_ok(&repair);
    assert!(!repair.stderr.contains(" 0 B copied"), "{}", repair.stderr);
    assert_eq!(std::fs::read(&vendored).unwrap(), good);
    assert_ok(&p.run(&["generate", "--check"]));

    // The cache (with no vendor/ to copy from): `fetch` and `lock --update`
    // re-download rather than trust.
    std::fs::remove_dir_all(p.path().join("vendor")).unwrap();
    let cached = blob(&p.cache(), &module);
    flip_a_byte(&cached);
    let fetch = p.run(&["fetch"]);
    assert_ok(&fetch);
    assert!(
        fetch.stderr.contains("downloading it again"),
        "{}",
        fetch.stderr
    );
    assert_eq!(std::fs::read(&cached).unwrap(), good);
    flip_a_byte(&cached);
    let relock = p.run(&["lock", "--update", "text_upper"]);
    assert_ok(&relock);
    assert!(
        relock.stderr.contains("connector `text_upper`")
            && relock.stderr.contains("downloading it again"),
        "the damaged blob is named: {}",
        relock.stderr
    );
    assert_eq!(p.read("latticeflow.lock"), lock);
    assert_eq!(std::fs::read(&cached).unwrap(), good);

    // Offline, a damaged cache blob cannot be repaired: fail, name it.
    flip_a_byte(&cached);
    let offline = p.run(&["lock", "--offline"]);
    assert_eq!(
        offline.code, 1,
        "damaged bytes are a failed check: {offline:?}"
    );
    assert!(offline.stderr.contains(&module), "{}", offline.stderr);
    assert_eq!(p.read("latticeflow.lock"), lock);
}

#[cfg(unix)]
#[test]
fn vendor_never_writes_or_deletes_through_a_symlink() {
    let s = setup();
    let p = &s.project;
    let outside = tempfile::tempdir().unwrap();
    let victims = outside.path().join("sha256");
    std::fs::create_dir_all(&victims).unwrap();
    let hex = "ab".repeat(32);
    std::fs::write(victims.join(&hex), b"not yours").unwrap();
    std::fs::write(victims.join("cd".repeat(32)), b"not yours either").unwrap();
    let before = std::fs::read_dir(&victims).unwrap().count();

    for planted in ["vendor/oci/blobs", "vendor/oci"] {
        let vendor = p.path().join("vendor");
        std::fs::remove_dir_all(&vendor).unwrap();
        std::fs::create_dir_all(p.path().join("vendor/oci")).unwrap();
        let link = p.path().join(planted);
        if link.exists() {
            std::fs::remove_dir_all(&link).unwrap();
        }
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let run = p.run(&["vendor"]);
        assert_ne!(run.code, 0, "{planted}: {run:?}");
        assert!(
            run.stderr.contains("symbolic link") && run.stderr.contains(planted),
            "{planted}: {}",
            run.stderr
        );
        assert_eq!(std::fs::read_dir(&victims).unwrap().count(), before);
        assert_eq!(
            std::fs::read(victims.join(&hex)).unwrap(),
            b"not yours",
            "{planted}"
        );
        assert!(!outside.path().join("index.json").exists(), "{planted}");
    }
}

#[test]
fn verify_remote_tells_an_artifact_gone_from_a_registry_down() {
    let mut s = setup();
    let p = &s.project;
    assert_ok(&p.run(&["verify", "--remote"]));
    let (doc, names) = lock_entries(p);
    let tables = doc["connector"].as_array_of_tables().unwrap();
    let digest = tables.get(names["text_upper"]).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = reqwest::blocking::Client::new()
        .delete(format!(
            "{}/v2/lf/text-upper/manifests/{digest}",
            s.registry.url()
        ))
        .send()
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    let gone = p.run(&["verify", "--remote"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(
        gone.stderr.contains("no longer serves") && gone.stderr.contains(&digest),
        "{}",
        gone.stderr
    );
    s.registry.stop();
    let down = p.run(&["verify", "--remote"]);
    assert_eq!(down.code, 3, "{down:?}");
    assert!(down.stderr.contains("unreachable"), "{}", down.stderr);
}
