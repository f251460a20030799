//! Air gap: `vendor --archive` writes the locked artifacts as one
//! reproducible tar, and `lock --from-archive` / `fetch --from-archive` bring
//! them into a fresh store on a machine whose registry is gone. Hostile and
//! damaged archives are built here byte by byte and must be refused with the
//! entry named, leaving the store (nothing removed, nothing half-written)
//! and the lockfile as they were. Driven through the real binary; the setup
//! lock comes from a real registry.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use common::{Project, Run};
use lf_registry_fixtures::Registry;
use sha2::Digest as _;

const PASSWORD: &str = "correct horse battery staple";

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registry-fixtures/connectors")
        .join(name)
}

fn assert_ok(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
}

fn signed(p: &Project, args: &[&str]) -> Run {
    p.run_env(args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(host: &str, connectors: &[(&str, &str)]) -> String {
    let mut out = "[policy]\nsignatures = \"required\"\nkeys = [\"keys/good.pub\"]\n".to_owned();
    for (name, repository) in connectors {
        out.push_str(&format!(
            "\n[connectors.{name}]\nref = \"{host}/{repository}:1.0\"\n"
        ));
        if *name == "http_fetch" {
            out.push_str("capabilities = [\"http.read\"]\n");
        }
    }
    out
}

/// A project directory holding `latticeflow.toml` and the trusted key of
/// `from`, with its own (empty) cache and no lock.
fn sibling(from: &Project, toml: &str) -> Project {
    let p = Project::new();
    p.write("latticeflow.toml", toml);
    p.write("keys/good.pub", &from.read("keys/good.pub"));
    p
}

/// Files of a cache, less the lock file the store takes.
fn store_files(p: &Project) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = p.files_under(".cache");
    files.retain(|path, _| !path.ends_with(".lock"));
    files
}

/// Every file the store held before is still there with the same bytes,
/// and no temporary file was left behind.
fn nothing_lost(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
    for (path, bytes) in before {
        assert_eq!(after.get(path), Some(bytes), "{} changed", path.display());
    }
    for path in after.keys() {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            !name.starts_with(".tmp-"),
            "left behind: {}",
            path.display()
        );
    }
}

/// The headers of a tar: (name, type byte, mode, mtime, uid, gid, user name).
fn headers(bytes: &[u8]) -> Vec<(String, u8, u32, u64, u64, u64, String)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.username().unwrap().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The same tar with the entry `name` holding `data` instead.
fn with_entry(bytes: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if entry.path_bytes().as_ref() == name.as_bytes() {
            content = data.to_vec();
            header.set_size(content.len() as u64);
        }
        header.set_cksum();
        out.append(&header, content.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

fn index_of(bytes: &[u8]) -> serde_json::Value {
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == b"index.json" {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            return serde_json::from_slice(&data).unwrap();
        }
    }
    panic!("no index.json");
}

/// Lock online, archive, then rebuild everything from the archive alone
/// with the registry stopped; an archive from another lock, truncated
/// archives and an index that swaps two connectors are refused.
#[test]
fn round_trip_through_an_archive_with_the_registry_gone() {
    let mut registry = Registry::start().unwrap();
    let host = registry.host();
    let online = Project::new();
    std::fs::create_dir_all(online.path().join("keys")).unwrap();
    assert_ok(&signed(
        &online,
        &["generate-key", "--output-key-prefix", "keys/good"],
    ));
    for (dir, repository) in [
        ("text-upper", "lf/text-upper"),
        ("http-fetch", "lf/http-fetch"),
    ] {
        let reference = format!("{host}/{repository}:1.0");
        assert_ok(&online.run(&["push", fixture_dir(dir).to_str().unwrap(), &reference]));
        assert_ok(&signed(
            &online,
            &["sign", &reference, "--key", "keys/good.key"],
        ));
    }
    let both = config(
        &host,
        &[
            ("text_upper", "lf/text-upper"),
            ("http_fetch", "lf/http-fetch"),
        ],
    );
    online.write("latticeflow.toml", &both);
    assert_ok(&online.run(&["lock"]));
    // An archive of a lock that has only one of the two connectors.
    let one = sibling(&online, &config(&host, &[("text_upper", "lf/text-upper")]));
    assert_ok(&one.run(&["lock"]));
    assert_ok(&one.run(&["vendor", "--archive", "one.tar"]));

    let run = online.run(&[
        "--message-format",
        "json",
        "vendor",
        "--archive",
        "bundle.tar",
    ]);
    assert_ok(&run);
    assert!(
        run.events()
            .iter()
            .any(|e| e["type"] == "vendor" && e["blobs"].as_u64().unwrap() >= 8),
        "{run:?}"
    );
    assert_ok(&online.run(&["vendor", "--archive", "again.tar"]));
    let bundle = std::fs::read(online.path().join("bundle.tar")).unwrap();
    assert_eq!(
        bundle,
        std::fs::read(online.path().join("again.tar")).unwrap(),
        "the same lock must give the same bytes"
    );
    let heads = headers(&bundle);
    assert_eq!(heads[0].0, "oci-layout");
    assert_eq!(heads[1].0, "index.json");
    assert_eq!(heads[2].0, "blobs/");
    assert_eq!(heads[3].0, "blobs/sha256/");
    let blob_names: Vec<&String> = heads[4..].iter().map(|h| &h.0).collect();
    let mut sorted = blob_names.clone();
    sorted.sort();
    assert_eq!(blob_names, sorted, "blobs in path order");
    for (name, kind, mode, mtime, uid, gid, user) in &heads {
        assert!(*kind == b'0' || *kind == b'5', "{name}: type {kind}");
        assert_eq!((*mtime, *uid, *gid, user.as_str()), (0, 0, 0, ""), "{name}");
        assert_eq!(*mode, if *kind == b'5' { 0o755 } else { 0o644 }, "{name}");
    }
    let lock = online.read("latticeflow.lock");

    registry.stop();

    // No lock, no cache, no registry: the archive alone gives the same lock.
    let air = sibling(&online, &both);
    let archive = online.path().join("bundle.tar");
    let archive = archive.to_str().unwrap();
    let run = air.run(&["lock", "--offline", "--from-archive", archive]);
    assert_ok(&run);
    assert_eq!(air.read("latticeflow.lock"), lock, "{run:?}");
    assert_ok(&air.run(&["lock", "--frozen", "--from-archive", archive]));

    // `fetch --from-archive` fills a fresh cache; `verify` passes on it.
    let fetched = sibling(&online, &both);
    fetched.write("latticeflow.lock", &lock);
    let run = fetched.run(&["fetch", "--from-archive", archive]);
    assert_ok(&run);
    assert!(run.stderr.contains("Imported"), "{run:?}");
    assert_ok(&fetched.run(&["verify"]));
    assert_ok(&fetched.run(&["lock", "--frozen"]));

    // An archive from another lock: named, and nothing changes.
    let other = sibling(&online, &both);
    other.write("latticeflow.lock", &lock);
    let one_tar = one.path().join("one.tar");
    let before = store_files(&other);
    for args in [
        &["fetch", "--from-archive", one_tar.to_str().unwrap()][..],
        &[
            "lock",
            "--offline",
            "--from-archive",
            one_tar.to_str().unwrap(),
        ],
    ] {
        let run = other.run(args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("made from another lock"), "{run:?}");
        assert!(run.stderr.contains("connector `http_fetch`"), "{run:?}");
        assert!(!run.stderr.contains("connector `text_upper`"), "{run:?}");
        assert_eq!(other.read("latticeflow.lock"), lock);
        nothing_lost(&before, &store_files(&other));
    }

    // Truncated: in the middle of an entry, and at an entry boundary.
    let boundary = {
        // The end of the third entry's data (oci-layout, index.json, blobs/).
        let mut offset = 0usize;
        for _ in 0..3 {
            let header = tar::Header::from_byte_slice(&bundle[offset..offset + 512]);
            let size = header.entry_size().unwrap() as usize;
            offset += 512 + size.div_ceil(512) * 512;
        }
        offset
    };
    for (name, cut) in [("half.tar", bundle.len() / 2), ("boundary.tar", boundary)] {
        let truncated = other.path().join(name);
        std::fs::write(&truncated, &bundle[..cut]).unwrap();
        let before = store_files(&other);
        let run = other.run(&["fetch", "--from-archive", truncated.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(run.stderr.contains("is truncated"), "{name}: {run:?}");
        assert_eq!(other.read("latticeflow.lock"), lock);
        nothing_lost(&before, &store_files(&other));
    }

    // The largest blob (a module) with other bytes of another size: refused
    // on the lock's size before any of it is read.
    let largest = {
        let mut archive = tar::Archive::new(bundle.as_slice());
        let mut sized: Vec<(u64, String)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.size(),
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                )
            })
            .collect();
        sized.sort();
        sized.pop().unwrap().1
    };
    let resized = other.path().join("resized.tar");
    std::fs::write(&resized, with_entry(&bundle, &largest, b"other bytes")).unwrap();
    let before = store_files(&other);
    let run = other.run(&["fetch", "--from-archive", resized.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("but latticeflow.lock records"),
        "{run:?}"
    );
    assert!(run.stderr.contains(&largest), "{run:?}");
    nothing_lost(&before, &store_files(&other));

    // An index that swaps the two repositories' names (tags and signature
    // tags alike): the signatures, bound to their repositories, refuse it.
    let index = String::from_utf8(serde_json::to_vec_pretty(&index_of(&bundle)).unwrap())
        .unwrap()
        .replace("lf/text-upper", "lf/SWAP")
        .replace("lf/http-fetch", "lf/text-upper")
        .replace("lf/SWAP", "lf/http-fetch");
    let swapped = other.path().join("swapped.tar");
    std::fs::write(
        &swapped,
        with_entry(&bundle, "index.json", index.as_bytes()),
    )
    .unwrap();
    let liar = sibling(&online, &both);
    let run = liar.run(&[
        "lock",
        "--offline",
        "--from-archive",
        swapped.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("the signature was made for repository"),
        "{run:?}"
    );
    assert!(!liar.path().join("latticeflow.lock").exists());
}

/// One tar entry written byte by byte, so that names and types the tar
/// crate's builder refuses can be written too.
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: u8, data: &[u8], link: &str) {
    raw_entry_sized(out, name, kind, data, data.len() as u64, link);
}

fn raw_entry_sized(out: &mut Vec<u8>, name: &str, kind: u8, data: &[u8], size: u64, link: &str) {
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    let pad = data.len().div_ceil(512) * 512 - data.len();
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn end(out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(0u8, 1024));
}

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn empty_index() -> Vec<u8> {
    br#"{"schemaVersion":2,"manifests":[]}"#.to_vec()
}

/// An archive with the layout files, then `rest`, then the end blocks.
fn archive(rest: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
    raw_entry(&mut out, "index.json", b'0', &empty_index(), "");
    rest(&mut out);
    end(&mut out);
    out
}

/// Every hostile or malformed archive is refused before anything is
/// resolved: the message names the problem, the store keeps every file it
/// had (and no temporary file), and no lock is written.
#[test]
fn hostile_archives_are_refused() {
    let p = Project::with(&[(
        "latticeflow.toml",
        // Never contacted: every archive here fails before resolving.
        "[network]\nmax-module-bytes = 1024\n\n[connectors.x]\nref = \"127.0.0.1:9/lf/x:1.0\"\n",
    )]);
    // A store that already holds a blob.
    let kept = b"kept in the store";
    let kept_hex = sha256_hex(kept);
    p.write(
        &format!(".cache/blobs/sha256/{kept_hex}"),
        "kept in the store",
    );
    p.write(".cache/oci-layout", std::str::from_utf8(LAYOUT).unwrap());

    let small = b"some blob bytes";
    let small_hex = sha256_hex(small);
    let small_name = format!("blobs/sha256/{small_hex}");
    let cases: Vec<(&str, Vec<u8>, i32, String)> = vec![
        (
            "a blob the store holds, with other bytes",
            archive(|o| {
                let name = format!("blobs/sha256/{kept_hex}");
                raw_entry(o, &name, b'0', b"not kept in store", "");
            }),
            1,
            "content does not match digest".to_owned(),
        ),
        (
            "absolute path",
            archive(|o| raw_entry(o, "/etc/passwd", b'0', b"x", "")),
            2,
            "`/etc/passwd` has an absolute path".to_owned(),
        ),
        (
            "dot-dot",
            archive(|o| raw_entry(o, "blobs/sha256/../../../escape", b'0', b"x", "")),
            2,
            "climbs out of the archive".to_owned(),
        ),
        (
            "outside the layout",
            archive(|o| raw_entry(o, "latticeflow.lock", b'0', b"x", "")),
            2,
            "`latticeflow.lock` is not part of an OCI layout".to_owned(),
        ),
        (
            "symlink",
            archive(|o| raw_entry(o, &small_name, b'2', b"", "/etc/passwd")),
            2,
            "is a symbolic link to `/etc/passwd`".to_owned(),
        ),
        (
            "hard link",
            archive(|o| raw_entry(o, &small_name, b'1', b"", "oci-layout")),
            2,
            "is a hard link".to_owned(),
        ),
        (
            "character device",
            archive(|o| raw_entry(o, "blobs/sha256/dev", b'3', b"", "")),
            2,
            "is a character device".to_owned(),
        ),
        (
            "fifo",
            archive(|o| raw_entry(o, &small_name, b'6', b"", "")),
            2,
            "is a FIFO".to_owned(),
        ),
        (
            "duplicate",
            archive(|o| raw_entry(o, "index.json", b'0', &empty_index(), "")),
            2,
            "`index.json` appears twice".to_owned(),
        ),
        (
            "blob that lies about its digest",
            archive(|o| {
                raw_entry(
                    o,
                    &format!("blobs/sha256/{}", "0".repeat(64)),
                    b'0',
                    small,
                    "",
                );
            }),
            1,
            "content does not match digest".to_owned(),
        ),
        (
            "blob over max-module-bytes",
            archive(|o| {
                let big = vec![7u8; 2048];
                let name = format!("blobs/sha256/{}", sha256_hex(&big));
                raw_entry(o, &name, b'0', &big, "");
            }),
            2,
            "(2048 bytes) is over the limit of 1024 bytes".to_owned(),
        ),
        (
            "oci-layout over its limit",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', &[b' '; 5000], "");
                end(&mut out);
                out
            },
            2,
            "entry `oci-layout` (5000 bytes) is over the limit of 4096 bytes".to_owned(),
        ),
        (
            "index.json over its limit",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
                raw_entry_sized(&mut out, "index.json", b'0', b"", 5 << 20, "");
                end(&mut out);
                out
            },
            2,
            "entry `index.json` (5242880 bytes) is over the limit of 4194304 bytes".to_owned(),
        ),
        (
            "more than the total bound",
            archive(|o| {
                for i in 0..300u32 {
                    let blob = format!("{i:01000}");
                    let name = format!("blobs/sha256/{}", sha256_hex(blob.as_bytes()));
                    raw_entry(o, &name, b'0', blob.as_bytes(), "");
                }
            }),
            2,
            "the archive's content".to_owned(),
        ),
        (
            "gzip",
            {
                let mut gz = vec![0x1f, 0x8b, 8, 0];
                gz.extend(std::iter::repeat_n(0u8, 600));
                gz
            },
            2,
            "is gzip-compressed".to_owned(),
        ),
        (
            "not a tar",
            "this is a text file, not an archive\n"
                .repeat(40)
                .into_bytes(),
            2,
            "is not a tar archive".to_owned(),
        ),
        (
            "truncated blob",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
                raw_entry(&mut out, "index.json", b'0', &empty_index(), "");
                let blob = vec![1u8; 1000];
                let name = format!("blobs/sha256/{}", sha256_hex(&blob));
                raw_entry(&mut out, &name, b'0', &blob, "");
                out.truncate(out.len() - 600);
                out
            },
            2,
            "is truncated".to_owned(),
        ),
        (
            "missing oci-layout",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "index.json", b'0', &empty_index(), "");
                end(&mut out);
                out
            },
            2,
            "has no `oci-layout`".to_owned(),
        ),
        (
            "index naming a blob that is not there",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
                let index = format!(
                    r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":3,"annotations":{{"org.opencontainers.image.ref.name":"127.0.0.1:9/lf/x:1.0"}}}}]}}"#,
                    "1".repeat(64)
                );
                raw_entry(&mut out, "index.json", b'0', index.as_bytes(), "");
                raw_entry(&mut out, &small_name, b'0', small, "");
                end(&mut out);
                out
            },
            1,
            "index.json does not match the blobs".to_owned(),
        ),
        (
            "index giving a wrong size",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
                let index = format!(
                    r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{small_hex}","size":3,"annotations":{{"org.opencontainers.image.ref.name":"127.0.0.1:9/lf/x:1.0"}}}}]}}"#,
                );
                raw_entry(&mut out, "index.json", b'0', index.as_bytes(), "");
                raw_entry(&mut out, &small_name, b'0', small, "");
                end(&mut out);
                out
            },
            1,
            "has 3 bytes, the archive holds 15".to_owned(),
        ),
        (
            "header claiming more than the file holds",
            {
                let mut out = Vec::new();
                raw_entry(&mut out, "oci-layout", b'0', LAYOUT, "");
                raw_entry(&mut out, "index.json", b'0', &empty_index(), "");
                raw_entry_sized(&mut out, &small_name, b'0', small, 1000, "");
                out
            },
            2,
            "is truncated".to_owned(),
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    assert_eq!(
        names.len(),
        names
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    for (what, bytes, code, needle) in cases {
        let file = p.path().join("hostile.tar");
        std::fs::write(&file, &bytes).unwrap();
        let before = store_files(&p);
        let run = p.run(&["lock", "--offline", "--from-archive", "hostile.tar"]);
        assert_eq!(run.code, code, "{what}: {run:?}");
        assert!(
            run.stderr.contains(&needle),
            "{what}: expected `{needle}` in {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("hostile.tar"),
            "{what}: names the file: {}",
            run.stderr
        );
        assert!(!p.path().join("latticeflow.lock").exists(), "{what}");
        let after = store_files(&p);
        nothing_lost(&before, &after);
        assert!(
            !p.path().join("escape").exists() && !p.path().join(".cache/escape").exists(),
            "{what}"
        );
        // A blob that did not verify is not at any content address.
        assert!(
            !after.keys().any(|k| k.ends_with("0".repeat(64))),
            "{what}: an unverified blob was stored"
        );
    }
    // A well-formed archive whose index names nothing the project uses.
    let good = archive(|o| raw_entry(o, &small_name, b'0', small, ""));
    std::fs::write(p.path().join("good.tar"), good).unwrap();
    let run = p.run(&["lock", "--offline", "--from-archive", "good.tar"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("does not name it either"), "{run:?}");
    assert!(p.path().join(".cache").join(&small_name).is_file());
    assert!(!p.path().join("latticeflow.lock").exists());
}

/// `vendor --archive` never writes through a symbolic link.
#[test]
#[cfg(unix)]
fn the_archive_is_not_written_through_a_symlink() {
    let p = Project::with(&[("latticeflow.toml", "")]);
    assert_ok(&p.run(&["lock"]));
    let target = p.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, p.path().join("out.tar")).unwrap();
    let run = p.run(&["vendor", "--archive", "out.tar"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is a symbolic link"), "{run:?}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    // An empty project archives to an empty layout, and reads back.
    assert_ok(&p.run(&["vendor", "--archive", "empty.tar"]));
    assert_ok(&p.run(&["fetch", "--from-archive", "empty.tar"]));
}
