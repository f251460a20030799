//! `lf-resolve cache dir` and `cache prune` against a real registry: what a
//! prune keeps and removes, what it refuses, and a prune racing a `lock`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::time::{Duration, Instant};

use common::{Project, Run};
use lf_lockfile::Lockfile;
use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
use lf_registry_fixtures::{PushedFixture, Registry, fixtures, push_all_blocking};
use lf_runtime::spec::ConnectorManifest;

/// `latticeflow.toml` locking `refs` (fixture name, reference), granting what
/// each fixture declares.
fn config_for(refs: &[(&str, String)]) -> String {
    let mut toml = String::from("[policy]\nsignatures = \"none\"\n");
    for (fixture, reference) in refs {
        let grants: Vec<String> = fixtures()
            .into_iter()
            .find(|f| f.name == *fixture)
            .map(|f| ConnectorManifest::from_yaml(f.yaml).unwrap())
            .map(|m| {
                m.capabilities()
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect()
            })
            .unwrap_or_default();
        toml.push_str(&format!(
            "\n[connectors.{}]\nref = \"{reference}\"\ncapabilities = [{}]\n",
            fixture.replace('-', "_"),
            grants.join(", ")
        ));
    }
    toml
}

fn good(pushed: &[PushedFixture]) -> Vec<&PushedFixture> {
    pushed.iter().filter(|p| p.rejection.is_none()).collect()
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// The digests (hex) of the blobs in the project's store.
fn stored(p: &Project) -> BTreeSet<String> {
    p.files_under(".cache/blobs")
        .keys()
        .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// The blobs `lock` names directly (manifest, config, module), as hex.
fn locked_blobs(p: &Project) -> BTreeSet<String> {
    let path = p.path().join("latticeflow.lock");
    let lock = Lockfile::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    lock.connectors()
        .iter()
        .flat_map(|c| [&c.digest, &c.config.digest, &c.module.digest])
        .map(|d| d.hex().to_owned())
        .collect()
}

fn prune_event(run: &Run) -> serde_json::Value {
    run.events()
        .into_iter()
        .find(|e| e["type"] == "prune")
        .unwrap_or_else(|| panic!("no prune event: {run:?}"))
}

#[test]
fn prune_keeps_what_the_lock_needs_and_removes_the_rest() {
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let good = good(&pushed);
    let refs: Vec<(&str, String)> = good
        .iter()
        .take(3)
        .map(|p| (p.name.as_str(), p.reference.clone()))
        .collect();
    let p = Project::with(&[("latticeflow.toml", &config_for(&refs))]);

    // `cache dir` prints the store path, `LF_CACHE_DIR` here.
    let dir = p.run(&["cache", "dir"]);
    assert_ok(&dir);
    assert_eq!(dir.stdout.trim(), "[PROJECT]/.cache");

    // Lock three connectors, then drop one from the project and lock again:
    // its blobs stay in the cache until a prune.
    assert_ok(&p.run(&["lock"]));
    let all_three = stored(&p);
    p.write("latticeflow.toml", &config_for(&refs[..2]));
    assert_ok(&p.run(&["lock"]));
    let needed = locked_blobs(&p);
    let dropped: BTreeSet<String> = all_three.difference(&needed).cloned().collect();
    assert_eq!(
        dropped.len(),
        3,
        "manifest, config and module of the dropped one"
    );
    let index_before = p.read(".cache/index.json");
    let dropped_ref = refs[2].1.clone();
    assert!(index_before.contains(&dropped_ref));

    // Bad input first: nothing changes.
    let missing = p.run(&["cache", "prune", "--lock", "nope/latticeflow.lock"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("nope/latticeflow.lock")
            && missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    let elsewhere = Project::new();
    let no_lock = elsewhere.run_env(
        &["cache", "prune"],
        &[("LF_CACHE_DIR", p.cache().to_str().unwrap())],
    );
    assert_eq!(no_lock.code, 2, "{no_lock:?}");
    assert!(no_lock.stderr.contains("--all"), "{}", no_lock.stderr);
    assert_eq!(stored(&p), all_three, "refused prunes removed nothing");

    // Another process using the store: prune waits its `--wait`, then gives
    // up with a clear message, removing nothing.
    let user = File::options()
        .write(true)
        .open(p.cache().join(".use.lock"))
        .unwrap();
    user.lock_shared().unwrap();
    let busy = p.run(&["cache", "prune", "--wait", "1"]);
    assert_eq!(busy.code, 2, "{busy:?}");
    assert!(
        busy.stderr.contains("Waiting")
            && busy.stderr.contains("in use by another lf-resolve process")
            && busy.stderr.contains("nothing was removed"),
        "{}",
        busy.stderr
    );
    assert_eq!(stored(&p), all_three);
    drop(user);

    // A dry run reports, and removes nothing.
    let dry = p.run(&["cache", "prune", "--dry-run", "--message-format", "json"]);
    assert_ok(&dry);
    let event = prune_event(&dry);
    assert_eq!(event["removed"], 3);
    assert_eq!(event["dry_run"], true);
    assert_eq!(stored(&p), all_three);
    assert_eq!(p.read(".cache/index.json"), index_before);

    // Things a prune must leave alone: a temporary file a live writer holds
    // (locked, as the store's writers do), and a symbolic link at a content
    // address (with its target).
    let blobs = p.cache().join("blobs/sha256");
    let temp = blobs.join(".tmp-live-writer");
    std::fs::write(&temp, b"partial").unwrap();
    let held = File::open(&temp).unwrap();
    held.lock().unwrap();
    let outside = p.path().join("outside.bin");
    std::fs::write(&outside, b"not the store's").unwrap();
    let link_name = "ab".repeat(32);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, blobs.join(&link_name)).unwrap();

    // The real prune, with the project's lock by default.
    let pruned = p.run(&["cache", "prune", "--message-format", "json"]);
    assert_ok(&pruned);
    let event = prune_event(&pruned);
    assert_eq!(event["removed"], 3, "{event}");
    assert!(event["bytes"].as_u64().unwrap() > 0);
    let gone: BTreeSet<String> = event["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
                .to_owned()
        })
        .collect();
    assert_eq!(gone, dropped);
    let mut left = stored(&p);
    left.remove(&link_name);
    assert_eq!(left, needed, "exactly what the lock needs is left");
    assert!(temp.exists(), "a live writer's temporary file is kept");
    drop(held);
    #[cfg(unix)]
    {
        assert!(
            blobs.join(&link_name).is_symlink(),
            "the link is left alone"
        );
        assert!(pruned.stdout.contains("not a regular file"), "{pruned:?}");
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"not the store's");
    let index_after = p.read(".cache/index.json");
    assert!(!index_after.contains(&dropped_ref), "{index_after}");
    assert!(index_after.contains(&refs[0].1));
    #[cfg(unix)]
    std::fs::remove_file(blobs.join(&link_name)).unwrap();

    // What is left is intact and enough: offline lock and verify pass.
    assert_ok(&p.run(&["verify"]));
    assert_ok(&p.run(&["lock", "--locked", "--offline"]));
    // A second prune finds nothing to do.
    let again = p.run(&["cache", "prune", "--message-format", "json"]);
    assert_eq!(prune_event(&again)["removed"], 0);

    // `--all` empties the store.
    let all = p.run(&["cache", "prune", "--all", "--message-format", "json"]);
    assert_ok(&all);
    assert_eq!(prune_event(&all)["removed"], 6, "{all:?}");
    assert!(stored(&p).is_empty());
    assert!(!p.read(".cache/index.json").contains("ref.name"));
    // `fetch` brings it back.
    assert_ok(&p.run(&["fetch"]));
    assert_ok(&p.run(&["verify"]));

    // The cache does not fsync its blobs, so every reader re-hashes: a
    // module damaged at its size (what a machine crash can leave) is not
    // used by the registry client's "already stored" shortcut (`inspect`
    // here), but downloaded again.
    let lock = {
        let path = p.path().join("latticeflow.lock");
        Lockfile::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let entry = &lock.connectors()[0];
    let module = blobs.join(entry.module.digest.hex());
    let mut bytes = std::fs::read(&module).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&module, &bytes).unwrap();
    assert_eq!(p.run(&["verify"]).code, 1, "the damage is there");
    let reference = entry
        .reference
        .with_digest(entry.digest.clone())
        .to_string();
    assert_ok(&p.run(&["inspect", &reference]));
    assert_ok(&p.run(&["verify"]));
}

/// Whether someone holds `<store>/.use.lock` (a `lock` with the store open).
fn in_use(cache: &std::path::Path) -> bool {
    let Ok(file) = File::options().write(true).open(cache.join(".use.lock")) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// `cache prune` run again and again while a `lock` downloads (slowly,
/// through the proxy) what the lockfile on disk does not name yet: every
/// prune either waits its turn or gives up with a clear message, the lock
/// succeeds, and the store holds everything the new lock needs.
#[test]
fn prune_racing_a_lock_never_takes_what_the_lock_needs() {
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let refs: Vec<(&str, String)> = good(&pushed)
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.reference.replace(&registry.host(), &proxy.host()),
            )
        })
        .collect();
    assert!(refs.len() >= 5);
    let p = Project::with(&[("latticeflow.toml", &config_for(&refs[..1]))]);
    assert_ok(&p.run(&["lock"]));

    // Now the project names them all; the lockfile on disk still one.
    p.write("latticeflow.toml", &config_for(&refs));
    proxy.add(Rule::new("/blobs/", Fault::Delay(Duration::from_millis(150))).method(Method::GET));
    let mut lock = p.spawn(&["lock", "-j", "2"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !in_use(&p.cache()) {
        assert!(Instant::now() < deadline, "the lock never opened the store");
        if lock.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut busy, mut ran) = (0, 0);
    while lock.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the lock did not finish in time");
        let prune = p.run(&["cache", "prune", "--wait", "0", "--message-format", "json"]);
        match prune.code {
            0 => ran += 1,
            2 => {
                let message = prune.events()[0]["message"].to_string()
                    + &prune.events()[0]["reasons"].to_string();
                assert!(
                    message.contains("in use by another lf-resolve process"),
                    "{prune:?}"
                );
                busy += 1;
            }
            _ => panic!("{prune:?}"),
        }
    }
    let out = lock.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.clear();

    // Everything the new lock needs is there and verifies; a prune now
    // (with the new lockfile) removes nothing it needs.
    let needed = locked_blobs(&p);
    assert_eq!(needed.len(), 3 * refs.len());
    assert!(stored(&p).is_superset(&needed));
    assert_ok(&p.run(&["verify"]));
    // And the race did happen: prunes ran into the lock's hold.
    assert!(busy > 0, "no prune overlapped the lock (ran {ran})");
    let after = p.run(&["cache", "prune", "--message-format", "json"]);
    assert_ok(&after);
    assert_eq!(prune_event(&after)["removed"], 0, "{after:?}");
    assert_ok(&p.run(&["lock", "--locked", "--offline"]));
}
