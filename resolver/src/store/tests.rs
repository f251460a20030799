use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use lf_lockfile::{Algorithm, Digest};

use super::blob::Hasher;
use super::*;

fn sha256(bytes: &[u8]) -> Digest {
    Hasher::digest(Algorithm::Sha256, bytes)
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("oci")).unwrap();
    (dir, store)
}

/// Every file under `blobs/`, as `<algorithm>/<name>`.
fn blob_files(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for alg in ["sha256", "sha512"] {
        for e in fs::read_dir(store.root().join("blobs").join(alg)).unwrap() {
            out.push(format!(
                "{alg}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

fn assert_blobs_empty(store: &Store) {
    assert_eq!(blob_files(store), Vec::<String>::new());
}

fn entry(ref_name: &str, manifest: &[u8]) -> IndexEntry {
    IndexEntry {
        ref_name: ref_name.to_owned(),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        digest: sha256(manifest),
        size: manifest.len() as u64,
        artifact_type: None,
    }
}

#[test]
fn writer_accepts_right_bytes_in_chunks() {
    let (_dir, store) = store();
    let bytes = body(10_000);
    let digest = sha256(&bytes);
    let mut w = store.writer(&digest, bytes.len() as u64).unwrap();
    for chunk in bytes.chunks(777) {
        w.write(chunk).unwrap();
    }
    w.write(&[]).unwrap();
    assert_eq!(w.written(), 10_000);
    let blob = w.finish().unwrap();
    assert_eq!(blob.digest(), &digest);
    assert_eq!(blob.size(), 10_000);
    assert_eq!(blob.path(), store.blob_path(&digest));
    assert_eq!(blob.read().unwrap(), bytes);
    assert_eq!(blob_files(&store), vec![format!("sha256/{}", digest.hex())]);
    assert_eq!(store.get(&digest, 10_000), Some(blob));
    assert_eq!(store.blobs().unwrap(), vec![digest]);
}

#[test]
fn writer_rejects_short_body() {
    let (_dir, store) = store();
    let bytes = body(1000);
    let digest = sha256(&bytes);
    let mut w = store.writer(&digest, 1000).unwrap();
    w.write(&bytes[..600]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(
        matches!(&err, StoreError::Truncated { digest: d, expected: 1000, got: 600 } if *d == digest),
        "{err:?}"
    );
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    assert_blobs_empty(&store);
    assert_eq!(store.get(&digest, 1000), None);
}

#[test]
fn writer_rejects_over_long_body_and_never_writes_past_size() {
    let (_dir, store) = store();
    let bytes = body(1000);
    let digest = sha256(&bytes);
    let mut w = store.writer(&digest, 1000).unwrap();
    w.write(&bytes[..990]).unwrap();
    let err = w.write(&body(20)).unwrap_err();
    assert!(
        matches!(&err, StoreError::TooLarge { digest: d, expected: 1000 } if *d == digest),
        "{err:?}"
    );
    assert_eq!(w.written(), 990);
    // The refused chunk never reached the disk.
    let temps = blob_files(&store);
    assert_eq!(temps.len(), 1, "{temps:?}");
    assert!(temps[0].starts_with("sha256/.tmp-"), "{temps:?}");
    let on_disk = fs::metadata(store.root().join("blobs").join(&temps[0])).unwrap();
    assert_eq!(on_disk.len(), 990);
    // The writer is spent: even the right remaining bytes are refused.
    assert!(matches!(
        w.write(&bytes[990..]),
        Err(StoreError::TooLarge { .. })
    ));
    assert!(matches!(w.finish(), Err(StoreError::TooLarge { .. })));
    assert_blobs_empty(&store);
}

#[test]
fn writer_rejects_trailing_bytes_after_a_matching_body() {
    let (_dir, store) = store();
    let bytes = body(100);
    let digest = sha256(&bytes);
    let mut w = store.writer(&digest, 100).unwrap();
    w.write(&bytes).unwrap();
    assert!(matches!(w.write(b"x"), Err(StoreError::TooLarge { .. })));
    assert!(matches!(w.finish(), Err(StoreError::TooLarge { .. })));
    assert_blobs_empty(&store);
}

#[test]
fn writer_rejects_digest_mismatch_of_same_length() {
    let (_dir, store) = store();
    let bytes = body(4096);
    let digest = sha256(&bytes);
    let mut other = bytes;
    other[4000] ^= 1;
    let mut w = store.writer(&digest, 4096).unwrap();
    for chunk in other.chunks(1024) {
        w.write(chunk).unwrap();
    }
    let err = w.finish().unwrap_err();
    match &err {
        StoreError::DigestMismatch { expected, actual } => {
            assert_eq!(*expected, digest);
            assert_eq!(*actual, sha256(&other));
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&digest.to_string()) && msg.contains("not stored"),
        "{msg}"
    );
    assert_blobs_empty(&store);
}

#[test]
fn dropping_an_unfinished_writer_removes_its_temp_file() {
    let (_dir, store) = store();
    let bytes = body(10);
    let mut w = store.writer(&sha256(&bytes), 10).unwrap();
    w.write(&bytes[..5]).unwrap();
    assert_eq!(blob_files(&store).len(), 1);
    drop(w);
    assert_blobs_empty(&store);
}

#[test]
fn sha512_blobs_work() {
    let (_dir, store) = store();
    let bytes = body(5000);
    let digest = Hasher::digest(Algorithm::Sha512, &bytes);
    assert_eq!(digest.algorithm(), Algorithm::Sha512);
    let mut w = store.writer(&digest, 5000).unwrap();
    for chunk in bytes.chunks(999) {
        w.write(chunk).unwrap();
    }
    let blob = w.finish().unwrap();
    assert_eq!(
        blob.path(),
        store.root().join("blobs/sha512").join(digest.hex())
    );
    assert_eq!(blob.read().unwrap(), bytes);
    assert!(store.rehash(&digest, 5000).is_ok());
    // A sha256 digest of the same bytes does not find it.
    assert_eq!(store.get(&sha256(&bytes), 5000), None);
}

#[test]
fn put_and_get() {
    let (_dir, store) = store();
    let manifest = br#"{"schemaVersion":2}"#;
    let digest = sha256(manifest);
    let blob = store.put(&digest, manifest).unwrap();
    assert_eq!(blob.read().unwrap(), manifest);
    let mut contents = Vec::new();
    std::io::Read::read_to_end(&mut blob.open().unwrap(), &mut contents).unwrap();
    assert_eq!(contents, manifest);
    assert_eq!(
        store.get(&digest, manifest.len() as u64),
        Some(blob.clone())
    );
    // Putting it again is a no-op that succeeds.
    assert_eq!(store.put(&digest, manifest).unwrap(), blob);
    // Wrong bytes for a digest are refused and stored nowhere.
    let err = store.put(&sha256(b"other"), manifest).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err:?}");
    assert_eq!(blob_files(&store), vec![format!("sha256/{}", digest.hex())]);
}

#[test]
fn get_with_wrong_size_or_missing_is_none() {
    let (_dir, store) = store();
    let bytes = body(64);
    let digest = sha256(&bytes);
    assert_eq!(store.get(&digest, 64), None);
    store.put(&digest, &bytes).unwrap();
    assert_eq!(store.get(&digest, 63), None);
    assert_eq!(store.get(&digest, 65), None);
    assert!(store.get(&digest, 64).is_some());
}

#[test]
fn rehash_detects_changes_to_a_stored_blob() {
    let (_dir, store) = store();
    let bytes = body(200_000);
    let digest = sha256(&bytes);
    store.put(&digest, &bytes).unwrap();
    assert_eq!(store.rehash(&digest, 200_000).unwrap().size(), 200_000);

    let path = store.blob_path(&digest);
    let mut flipped = bytes.clone();
    flipped[150_000] ^= 0x80;
    fs::write(&path, &flipped).unwrap();
    // `get` trusts the store and does not notice; `rehash` does.
    assert!(store.get(&digest, 200_000).is_some());
    let err = store.rehash(&digest, 200_000).unwrap_err();
    match &err {
        StoreError::Corrupted {
            path: p,
            expected,
            actual,
        } => {
            assert_eq!(*p, path);
            assert_eq!(*expected, digest);
            assert_eq!(*actual, sha256(&flipped));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(&digest.to_string()), "{err}");

    fs::write(&path, &bytes[..10]).unwrap();
    assert!(matches!(
        store.rehash(&digest, 200_000),
        Err(StoreError::WrongSize {
            expected: 200_000,
            actual: 10,
            ..
        })
    ));
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        store.rehash(&digest, 200_000),
        Err(StoreError::Missing { .. })
    ));
}

#[test]
fn writer_replaces_a_damaged_blob_of_the_wrong_size() {
    let (_dir, store) = store();
    let bytes = body(300);
    let digest = sha256(&bytes);
    fs::write(store.blob_path(&digest), &bytes[..100]).unwrap();
    let mut w = store.writer(&digest, 300).unwrap();
    w.write(&bytes).unwrap();
    let blob = w.finish().unwrap();
    assert_eq!(blob.read().unwrap(), bytes);
    assert_eq!(blob_files(&store).len(), 1);
}

#[test]
fn layout_files() {
    let (_dir, store) = store();
    let root = store.root();
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let tag = fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap();
    assert!(
        tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n# "),
        "{tag}"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        })
    );
    assert!(root.join("blobs/sha256").is_dir() && root.join("blobs/sha512").is_dir());
    assert_eq!(store.index().unwrap(), vec![]);
    // An empty update of a fresh index changes nothing: open writes the
    // canonical form.
    assert!(!store.update_index([]).unwrap());
}

#[test]
fn open_never_rewrites_existing_files() {
    let (_dir, store) = store();
    let root = store.root().to_path_buf();
    store.update_index([entry("r/a:1", b"a")]).unwrap();
    fs::write(
        root.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    let before: Vec<_> = ["oci-layout", "index.json", "CACHEDIR.TAG"]
        .iter()
        .map(|f| fs::read(root.join(f)).unwrap())
        .collect();
    let again = Store::open(&root).unwrap();
    let after: Vec<_> = ["oci-layout", "index.json", "CACHEDIR.TAG"]
        .iter()
        .map(|f| fs::read(root.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(again.index().unwrap(), vec![entry("r/a:1", b"a")]);
}

#[test]
fn open_removes_dead_writers_temp_files_whatever_their_age() {
    let (_dir, store) = store();
    let dir = store.root().join("blobs/sha256");
    // Files no writer holds: left by a process that died.
    let old = dir.join(".tmp-old123");
    let fresh = dir.join(".tmp-new123");
    fs::write(&old, b"partial").unwrap();
    fs::write(&fresh, b"partial").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 60 * 60);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    // A symlink named like a temporary file is not followed or removed.
    let target = store.root().join("not-a-temp-file");
    fs::write(&target, b"keep").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, dir.join(".tmp-link123")).unwrap();
    let blob = store.put(&sha256(b"x"), b"x").unwrap();
    // A live writer, in this process: its file stays.
    let bytes = body(100);
    let mut live = store.writer(&sha256(&bytes), 100).unwrap();
    live.write(&bytes[..50]).unwrap();

    Store::open(store.root()).unwrap();
    assert!(!old.exists());
    assert!(!fresh.exists());
    assert!(blob.path().exists());
    assert!(target.exists());
    let temps: Vec<String> = blob_files(&store)
        .into_iter()
        .filter(|f| f.starts_with("sha256/.tmp-") && !f.ends_with(".tmp-link123"))
        .collect();
    assert_eq!(temps.len(), 1, "the live writer's file: {temps:?}");
    live.write(&bytes[50..]).unwrap();
    live.finish().unwrap();
    // Listing skips temporary files.
    assert_eq!(store.blobs().unwrap(), {
        let mut both = vec![sha256(b"x"), sha256(&bytes)];
        both.sort();
        both
    });
}

#[test]
fn update_index_is_idempotent() {
    let (_dir, store) = store();
    let path = store.root().join("index.json");
    let entries = [
        entry("reg.example/a:1", b"a"),
        entry("reg.example/b:1", b"b"),
    ];
    assert!(store.update_index(entries.clone()).unwrap());
    let bytes = fs::read(&path).unwrap();
    let meta = fs::metadata(&path).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(!store.update_index(entries.clone()).unwrap());
    assert!(!store.update_index([entries[1].clone()]).unwrap());
    assert!(!store.update_index([]).unwrap());
    let meta2 = fs::metadata(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(meta.modified().unwrap(), meta2.modified().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.ino(), meta2.ino());
    }
    assert_eq!(store.index().unwrap(), entries);
}

#[test]
fn update_index_replaces_entries_with_the_same_ref_name() {
    let (_dir, store) = store();
    store
        .update_index([entry("reg/a:1", b"a"), entry("reg/b:1", b"b")])
        .unwrap();
    let mut newer = entry("reg/a:1", b"a2");
    newer.artifact_type = Some("application/vnd.wasm.config.v0+json".to_owned());
    assert!(store.update_index([newer.clone()]).unwrap());
    assert_eq!(store.index().unwrap(), vec![newer, entry("reg/b:1", b"b")]);

    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0],
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(b"a2").to_string(),
            "size": 2,
            "annotations": { "org.opencontainers.image.ref.name": "reg/a:1" },
            "artifactType": "application/vnd.wasm.config.v0+json",
        })
    );
    assert!(index["manifests"][1].get("artifactType").is_none());
}

#[test]
fn update_index_output_is_deterministic() {
    let names = ["reg/z:1", "reg/a:2", "reg/m:1", "reg/a:1"];
    let render = |order: &[usize], one_by_one: bool| {
        let (_dir, store) = store();
        let entries: Vec<_> = order
            .iter()
            .map(|&i| entry(names[i], names[i].as_bytes()))
            .collect();
        if one_by_one {
            for e in entries {
                store.update_index([e]).unwrap();
            }
        } else {
            store.update_index(entries).unwrap();
        }
        fs::read(store.root().join("index.json")).unwrap()
    };
    let a = render(&[0, 1, 2, 3], false);
    assert_eq!(a, render(&[3, 2, 1, 0], false));
    assert_eq!(a, render(&[2, 0, 3, 1], true));
    let text = String::from_utf8(a).unwrap();
    let positions: Vec<_> = ["reg/a:1", "reg/a:2", "reg/m:1", "reg/z:1"]
        .iter()
        .map(|n| text.find(&format!("\"{n}\"")).unwrap())
        .collect();
    assert!(positions.is_sorted(), "{text}");
    assert!(text.ends_with("}\n"));
}

#[test]
fn update_index_keeps_foreign_entries_and_fields() {
    let (_dir, store) = store();
    let path = store.root().join("index.json");
    let foreign = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(b"f").to_string(),
        "size": 1,
        "platform": { "architecture": "amd64", "os": "linux" },
    });
    let original = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [foreign],
        "annotations": { "note": "kept" },
    });
    fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
    assert!(store.update_index([entry("reg/a:1", b"a")]).unwrap());
    let index: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(index["manifests"][0], foreign);
    assert_eq!(index["annotations"]["note"], "kept");
    assert!(index.get("mediaType").is_none());
    assert_eq!(store.index().unwrap(), vec![entry("reg/a:1", b"a")]);
}

#[test]
fn invalid_index_is_a_typed_error() {
    let (_dir, store) = store();
    let path = store.root().join("index.json");
    for bad in [
        "not json",
        r#"{"schemaVersion":1,"manifests":[]}"#,
        r#"{"schemaVersion":2}"#,
        r#"{"schemaVersion":2,"manifests":[1]}"#,
    ] {
        fs::write(&path, bad).unwrap();
        let err = store.update_index([]).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidIndex { path: p, .. } if *p == path),
            "{bad}: {err:?}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
    }
    fs::write(
        &path,
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"md5:00","size":1,
            "annotations":{"org.opencontainers.image.ref.name":"reg/a:1"}}]}"#,
    )
    .unwrap();
    let err = store.index().unwrap_err();
    assert!(err.to_string().contains("reg/a:1"), "{err}");
}

const CHILD_ENV: &str = "LF_STORE_TEST_CHILD_ROOT";

fn shared_body() -> Vec<u8> {
    body(1 << 20)
}

fn write_shared_blob(root: &Path) -> VerifiedBlob {
    let store = Store::open(root).unwrap();
    let bytes = shared_body();
    let digest = sha256(&bytes);
    let mut w = store.writer(&digest, bytes.len() as u64).unwrap();
    for chunk in bytes.chunks(4096) {
        w.write(chunk).unwrap();
        std::thread::yield_now();
    }
    w.finish().unwrap()
}

#[test]
fn concurrent_writers_of_one_blob_in_threads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("oci");
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (root, barrier) = (root.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                write_shared_blob(&root)
            })
        })
        .collect();
    let blobs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let digest = sha256(&shared_body());
    assert!(blobs.iter().all(|b| *b.digest() == digest));
    let store = Store::open(&root).unwrap();
    assert_eq!(blob_files(&store), vec![format!("sha256/{}", digest.hex())]);
    store.rehash(&digest, 1 << 20).unwrap();
}

/// The store root a test binary re-run as a helper process works on, and
/// whether it is one: the tests below start their own binary again with
/// `--exact <their own name>` and [`CHILD_ENV`] set, and the test function
/// then plays the helper's part instead of the test's.
fn helper_root() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

/// Starts this test binary again as a helper running `test` on `root`.
fn spawn_helper(test: &str, root: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_writers_of_one_blob_in_processes() {
    if let Some(root) = helper_root() {
        write_shared_blob(&root);
        Store::open(&root)
            .unwrap()
            .update_index([entry("reg/shared:1", b"shared")])
            .unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("oci");
    let children: Vec<_> = (0..3)
        .map(|_| {
            spawn_helper(
                "store::tests::concurrent_writers_of_one_blob_in_processes",
                &root,
            )
        })
        .collect();
    write_shared_blob(&root);
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the helper did not run: {stdout}"
        );
    }
    let store = Store::open(&root).unwrap();
    let digest = sha256(&shared_body());
    assert_eq!(blob_files(&store), vec![format!("sha256/{}", digest.hex())]);
    store.rehash(&digest, 1 << 20).unwrap();
    assert_eq!(
        store.index().unwrap(),
        vec![entry("reg/shared:1", b"shared")]
    );
}

#[test]
fn a_killed_writer_leaves_a_temp_file_that_the_next_open_removes() {
    if let Some(root) = helper_root() {
        // Half a blob, then wait to be killed (at most a minute).
        let store = Store::open(&root).unwrap();
        let bytes = shared_body();
        let mut w = store.writer(&sha256(&bytes), bytes.len() as u64).unwrap();
        w.write(&bytes[..bytes.len() / 2]).unwrap();
        fs::write(root.join("helper-ready"), b"").unwrap();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let (_dir, store) = store();
    let mut child = spawn_helper(
        "store::tests::a_killed_writer_leaves_a_temp_file_that_the_next_open_removes",
        store.root(),
    );
    let ready = store.root().join("helper-ready");
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the helper never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let temps = blob_files(&store);
    assert_eq!(temps.len(), 1, "{temps:?}");
    assert!(temps[0].starts_with("sha256/.tmp-"), "{temps:?}");

    // The writer is alive: opening the store leaves its file alone.
    Store::open(store.root()).unwrap();
    assert_eq!(
        blob_files(&store),
        temps,
        "a live writer's file was removed"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(blob_files(&store), temps, "killing leaves the file behind");
    Store::open(store.root()).unwrap();
    assert_eq!(blob_files(&store), Vec::<String>::new());
}

#[test]
fn skopeo_reads_the_layout() {
    let (_dir, store) = store();
    let wasm = b"\0asm\x01\0\0\0".to_vec();
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#.to_vec();
    let descriptor = |media_type: &str, bytes: &[u8]| {
        serde_json::json!({
            "mediaType": media_type,
            "digest": sha256(bytes).to_string(),
            "size": bytes.len(),
        })
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.wasm.config.v0+json", &config),
        "layers": [descriptor("application/wasm", &wasm)],
    }))
    .unwrap();
    for bytes in [&wasm, &config, &manifest] {
        store.put(&sha256(bytes), bytes).unwrap();
    }
    let ref_name = "localhost:5000/demo/x:1.0";
    let mut e = entry(ref_name, &manifest);
    e.artifact_type = Some("application/vnd.wasm.config.v0+json".to_owned());
    store.update_index([e]).unwrap();

    let target = format!("oci:{}:{ref_name}", store.root().display());
    let out = match Command::new("skopeo")
        .args(["inspect", "--raw", &target])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: skopeo not found, skipping the layout check");
            return;
        }
        Err(e) => panic!("running skopeo: {e}"),
    };
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, manifest);
}

#[test]
fn prune_needs_the_exclusive_hold() {
    let (_dir, store) = store();
    let a = store.put(&sha256(b"a"), b"a").unwrap();
    let err = store.prune(&BTreeSet::new(), false).unwrap_err();
    assert!(matches!(err, StoreError::NotExclusive { .. }), "{err}");
    assert!(store.rehash(a.digest(), 1).is_ok(), "nothing removed");
}

#[test]
fn prune_and_users_of_the_cache_exclude_each_other() {
    let (_dir, store) = store();
    let root = store.root().to_path_buf();
    let wait = Duration::from_millis(60);
    // A user holds the cache: a prune gives up after its wait.
    let err = Store::open_exclusive(&root, wait).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Busy {
                exclusive: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("in use by another lf-resolve process"),
        "{err}"
    );
    // The hold lives as long as any clone.
    let clone = store.clone();
    drop(store);
    assert!(Store::open_exclusive(&root, wait).is_err());
    drop(clone);
    let pruning = Store::open_exclusive(&root, wait).unwrap();
    // A prune holds the cache: users wait, then give up.
    let err = Store::open_with(&root, Use::Shared, wait).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Busy {
                exclusive: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cache prune"), "{err}");
    // A vendor directory has no use lock.
    assert!(Store::open_vendor(&root).is_ok());
    drop(pruning);
    assert!(Store::open_with(&root, Use::Shared, wait).is_ok());
}

#[test]
fn prune_removes_what_is_not_kept_and_its_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("oci");
    let digests: Vec<Digest> = {
        let store = Store::open(&root).unwrap();
        let mut out = Vec::new();
        for bytes in [&b"keep"[..], b"drop-1", b"drop-2"] {
            out.push(store.put(&sha256(bytes), bytes).unwrap().digest().clone());
        }
        store
            .update_index([entry("r/keep:1", b"keep"), entry("r/drop:1", b"drop-1")])
            .unwrap();
        out
    };
    let keep: BTreeSet<Digest> = [digests[0].clone()].into();
    let store = Store::open_exclusive(&root, Duration::ZERO).unwrap();
    let index_before = fs::read(root.join("index.json")).unwrap();

    let dry = store.prune(&keep, true).unwrap();
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(dry.bytes(), 12);
    assert_eq!(dry.kept, 1);
    assert_eq!(dry.index_removed, vec!["r/drop:1".to_owned()]);
    assert_eq!(blob_files(&store).len(), 3, "a dry run removes nothing");
    assert_eq!(fs::read(root.join("index.json")).unwrap(), index_before);

    let report = store.prune(&keep, false).unwrap();
    assert_eq!(report, dry);
    assert_eq!(
        blob_files(&store),
        vec![format!("sha256/{}", digests[0].hex())]
    );
    assert_eq!(store.index().unwrap(), vec![entry("r/keep:1", b"keep")]);
    assert!(store.rehash(&digests[0], 4).is_ok());
    // Nothing left to do.
    assert_eq!(store.prune(&keep, false).unwrap().removed, vec![]);
}
