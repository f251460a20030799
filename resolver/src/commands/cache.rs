//! `lf-resolve cache dir` and `lf-resolve cache prune`.
//!
//! The cache only grows: every tag a project ever locked leaves its blobs
//! behind. `prune` removes what no given lockfile needs. It must never pull
//! a blob from under a command that is using it, so it opens the store with
//! [`Store::open_exclusive`]: it waits (a bounded time) until no other
//! `lf-resolve` process has the cache open, and every other command waits
//! for it in turn. The lockfiles are read only once that hold is taken, so
//! a `lock` that finished just before is seen with what it wrote.
//!
//! What a lockfile needs is computed from the lock and the stored manifests:
//! each connector's manifest, config and module, its signature and
//! attestation manifests, and every blob those manifests name (config and
//! layers). Reading the manifests generically keeps a superset of what
//! `vendor` copies, which is the safe side for a cache.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use lf_lockfile::{Digest, Lockfile};

use crate::cli::{CacheCommand, PruneArgs};
use crate::error::CliError;
use crate::output::{Printer, human_size};
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// Manifests larger than this are not read for the blobs they name (the
/// registry client refuses manifests this large anyway).
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// `lf-resolve cache …`.
pub fn run(command: &CacheCommand, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    match command {
        CacheCommand::Dir => dir(settings, printer),
        CacheCommand::Prune(args) => prune(args, settings, printer),
    }
}

fn dir(settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let dir = &settings.cache_dir;
    if printer.is_json() {
        printer.status(
            "Cache",
            dir.display(),
            &json!({"type": "cache-dir", "path": dir}),
        );
        return Ok(());
    }
    #[allow(clippy::print_stdout, reason = "the path is this command's result")]
    {
        println!("{}", dir.display());
    }
    Ok(())
}

fn prune(args: &PruneArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let locks = if args.all {
        Vec::new()
    } else if args.locks.is_empty() {
        match default_lock(settings) {
            Some(lock) => vec![lock],
            None => {
                return Err(CliError::input(
                    "`cache prune` needs a lockfile whose artifacts to keep, and none was found",
                    "run it in a project that has a `latticeflow.lock`, name lockfiles with `--lock FILE`, or pass `--all` to empty the store".to_owned(),
                ));
            }
        }
    } else {
        args.locks.clone()
    };
    // Bad input is reported before the store is touched (or waited for).
    for path in &locks {
        if !path.is_file() {
            return Err(CliError::input(
                format!("lockfile `{}` does not exist", path.display()),
                "nothing was removed; check the `--lock` path".to_owned(),
            ));
        }
    }
    let root = &settings.cache_dir;
    if !root.join("oci-layout").is_file() {
        printer.status(
            "Pruned",
            format!("nothing: there is no content store at {}", root.display()),
            &json!({"type": "prune", "path": root, "removed": 0, "bytes": 0, "kept": 0, "dry_run": args.dry_run}),
        );
        return Ok(());
    }
    let store = match Store::open_exclusive(root, Duration::ZERO) {
        Ok(store) => store,
        Err(StoreError::Busy { .. }) if args.wait > 0 => {
            printer.status(
                "Waiting",
                format!(
                    "for other lf-resolve processes using {} (at most {} s)",
                    root.display(),
                    args.wait
                ),
                &json!({"type": "prune-waiting", "path": root, "wait_secs": args.wait}),
            );
            Store::open_exclusive(root, Duration::from_secs(args.wait))
                .map_err(|e| store_failed(root, e))?
        }
        Err(e) => return Err(store_failed(root, e)),
    };
    // Read only now: a `lock` that finished while we waited has written its
    // lockfile, and none can start until the prune is over.
    let mut keep = BTreeSet::new();
    for path in &locks {
        let lock = Lockfile::read(path)?.ok_or_else(|| {
            CliError::input(
                format!("lockfile `{}` does not exist", path.display()),
                "nothing was removed; check the `--lock` path".to_owned(),
            )
        })?;
        keep.extend(needed(&store, &lock));
    }
    let report = store
        .prune(&keep, args.dry_run)
        .map_err(|e| store_failed(root, e))?;
    for skipped in &report.skipped {
        printer.warning(format!(
            "`{}` is not a regular file; left alone",
            skipped.display()
        ));
    }
    let count = report.removed.len();
    let bytes = report.bytes();
    let message = format!(
        "{count} blob{} ({}) from {}; kept {} blob{} needed by {}",
        plural(count),
        human_size(bytes),
        root.display(),
        report.kept,
        plural(report.kept),
        if locks.is_empty() {
            "no lockfile (--all)".to_owned()
        } else {
            locks
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    printer.status(
        if args.dry_run { "Would prune" } else { "Pruned" },
        message,
        &json!({
            "type": "prune",
            "path": root,
            "dry_run": args.dry_run,
            "removed": count,
            "bytes": bytes,
            "kept": report.kept,
            "index_removed": report.index_removed,
            "locks": locks,
            "blobs": report.removed.iter().map(|(d, size)| json!({"digest": d.to_string(), "size": size})).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

/// The current project's lockfile, if there is a project and it has one.
fn default_lock(settings: &Settings) -> Option<PathBuf> {
    let manifest = settings.manifest_path().ok()?;
    let lock = Settings::lock_path(&manifest);
    lock.is_file().then_some(lock)
}

/// Every blob `lock` needs from the store: see the module docs.
fn needed(store: &Store, lock: &Lockfile) -> BTreeSet<Digest> {
    let mut keep = BTreeSet::new();
    for entry in lock.connectors() {
        let mut manifests = vec![entry.digest.clone()];
        manifests.extend(entry.signature.verified.as_ref().map(|v| v.digest.clone()));
        manifests.extend(
            entry
                .certification
                .verified
                .as_ref()
                .map(|v| v.digest.clone()),
        );
        keep.insert(entry.config.digest.clone());
        keep.insert(entry.module.digest.clone());
        for manifest in manifests {
            keep.extend(named_by(store, &manifest));
            keep.insert(manifest);
        }
    }
    keep
}

/// The blobs a stored manifest names (its config, layers, and for an index
/// its manifests); nothing when it is missing, too large or not JSON.
fn named_by(store: &Store, manifest: &Digest) -> Vec<Digest> {
    let Some(size) = store
        .stored_size(manifest)
        .filter(|s| *s <= MAX_MANIFEST_BYTES)
    else {
        return Vec::new();
    };
    let Some(bytes) = store.get(manifest, size).and_then(|b| b.read().ok()) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    let descriptor = |d: &Value| d.get("digest")?.as_str()?.parse::<Digest>().ok();
    let mut out: Vec<Digest> = value
        .get("config")
        .and_then(descriptor)
        .into_iter()
        .collect();
    for list in ["layers", "manifests", "blobs"] {
        if let Some(items) = value.get(list).and_then(Value::as_array) {
            out.extend(items.iter().filter_map(descriptor));
        }
    }
    out
}

fn store_failed(root: &Path, e: StoreError) -> CliError {
    match e {
        StoreError::Busy { .. } => CliError::Failed {
            message: format!("cannot prune `{}`", root.display()),
            reasons: vec![e.to_string()],
            help: Some(
                "see which lf-resolve commands are running (`ps`), or pass a longer `--wait SECS`"
                    .to_owned(),
            ),
            code: crate::error::EXIT_ERROR,
        },
        e => CliError::input(
            format!("cannot prune the content store: {e}"),
            "nothing the lockfiles need was removed; fix the problem and run it again".to_owned(),
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
