//! `lf-resolve vendor [DIR]`: exactly the locked artifacts — manifests,
//! configs, modules, signature artifacts and certification attestations — in an OCI image layout
//! (default `vendor/oci` beside `latticeflow.toml`), for fully offline
//! builds. Every blob is re-hashed as it is copied; blobs and index entries
//! the lock does not name are removed.
//!
//! `vendor --archive FILE` writes the same layout as one reproducible tar
//! (see [`crate::archive`]); `import_archive` is the other half, used by
//! `lock --from-archive` and `fetch --from-archive`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::json;

use lf_lockfile::{Config, Digest, LockedConnector};

use crate::cli::VendorArgs;
use crate::commands::lock::{lock_index_entries, signature_kind};
use crate::commands::{existing_lock, load_config};
use crate::error::CliError;
use crate::output::{Printer, human_size};
use crate::registry::stored_signature;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// The vendor directory of a project: `vendor/oci` beside `latticeflow.toml`.
pub fn default_dir(config: &Config) -> PathBuf {
    config.resolve(std::path::Path::new("vendor/oci"))
}

/// A vendor directory, when the project has one. A vendor directory reached
/// through a symbolic link (`vendor` or `vendor/oci`) is not the project's:
/// it is ignored here, and `vendor` refuses to write through it.
pub fn existing(config: &Config) -> Option<Store> {
    let dir = default_dir(config);
    (check_no_symlinks(config, &dir).is_ok() && dir.join("oci-layout").is_file())
        .then(|| Store::open_vendor(&dir).ok())
        .flatten()
}

/// Refuses a vendor directory that is, or sits below, a symbolic link
/// inside the project (`vendor/` or `vendor/oci/` pointing elsewhere would
/// make `vendor` write and delete outside the project).
fn check_no_symlinks(config: &Config, dir: &std::path::Path) -> Result<(), StoreError> {
    let project = config.resolve(std::path::Path::new(""));
    match dir.strip_prefix(&project) {
        Ok(inside) => crate::store::refuse_symlinks_below(&project, inside),
        Err(_) => Ok(()),
    }
}

/// Every blob a locked connector needs, with its size.
fn blobs_of(cache: &Store, entry: &LockedConnector) -> Result<Vec<(Digest, u64)>, CliError> {
    let size_of = |digest: &Digest| {
        cache
            .stored_size(digest)
            .ok_or_else(|| missing(entry, digest))
    };
    let mut blobs = vec![
        (entry.digest.clone(), size_of(&entry.digest)?),
        (entry.config.digest.clone(), entry.config.size),
        (entry.module.digest.clone(), entry.module.size),
    ];
    if let Some(verified) = &entry.signature.verified {
        let artifact = stored_signature(
            cache,
            &verified.digest,
            signature_kind(verified.format),
            &entry.reference,
        )
        .ok_or_else(|| missing(entry, &verified.digest))?;
        blobs.push((verified.digest.clone(), size_of(&verified.digest)?));
        // The signature manifest's config blob, when stored, goes along too.
        for layer in &artifact.layers {
            blobs.push((layer.blob.digest().clone(), layer.blob.size()));
        }
    }
    if let Some(verified) = &entry.certification.verified {
        let artifact = stored_signature(
            cache,
            &verified.digest,
            crate::registry::SignatureKind::Referrer,
            &entry.reference,
        )
        .ok_or_else(|| missing(entry, &verified.digest))?;
        blobs.push((verified.digest.clone(), size_of(&verified.digest)?));
        for layer in &artifact.layers {
            blobs.push((layer.blob.digest().clone(), layer.blob.size()));
        }
    }
    Ok(blobs)
}

fn missing(entry: &LockedConnector, digest: &Digest) -> CliError {
    CliError::input(
        format!(
            "blob {digest} of connector `{}` is not in the store",
            entry.name
        ),
        "run `lf-resolve fetch` first".to_owned(),
    )
}

/// Copies every blob the lock needs from `from` into `to` (re-hashing each
/// on the way in), skipping those `to` already holds intact: a blob in `to`
/// is re-hashed, and one whose bytes changed (even at the same size) is
/// replaced. Returns the set of blobs the lock needs and the bytes copied.
pub(crate) fn copy_locked(
    from: &Store,
    to: &Store,
    lock: &lf_lockfile::Lockfile,
) -> Result<(BTreeSet<Digest>, u64), CliError> {
    let store_error = |e: StoreError| {
        CliError::input(format!("copying into `{}`: {e}", to.root().display()), None)
    };
    let (cache, vendor) = (from, to);
    let mut wanted: BTreeSet<Digest> = BTreeSet::new();
    let mut copied = 0u64;
    for entry in lock.connectors() {
        for (digest, size) in blobs_of(cache, entry)? {
            wanted.insert(digest.clone());
            match vendor.rehash(&digest, size) {
                Ok(_) => continue,
                Err(StoreError::Missing { .. }) => {}
                Err(_) => vendor.discard(&digest).map_err(store_error)?,
            }
            let source = cache
                .get(&digest, size)
                .ok_or_else(|| missing(entry, &digest))?;
            let mut reader = source.open().map_err(|e| CliError::Io {
                context: "cannot read",
                path: source.path().to_owned(),
                source: e,
            })?;
            let mut writer = vendor.writer(&digest, size).map_err(store_error)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = std::io::Read::read(&mut reader, &mut buf).map_err(|e| CliError::Io {
                    context: "cannot read",
                    path: source.path().to_owned(),
                    source: e,
                })?;
                if n == 0 {
                    break;
                }
                writer.write(&buf[..n]).map_err(store_error)?;
            }
            writer.finish().map_err(store_error)?;
            copied += size;
        }
    }
    Ok((wanted, copied))
}

/// `lf-resolve vendor`.
pub fn run(args: &VendorArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (_, lock) = existing_lock(&config)?;
    let cache = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    crate::commands::lock::ensure_locked(
        &config,
        &lock,
        &cache,
        crate::commands::lock::Mode {
            offline: args.offline,
        },
        crate::commands::lock::Presence::Verified,
        None,
        printer,
    )?;
    if let Some(file) = &args.archive {
        return write_archive(file, &config, &cache, &lock, printer);
    }
    let dir = args.dir.clone().unwrap_or_else(|| default_dir(&config));
    check_no_symlinks(&config, &dir).map_err(|e| {
        CliError::input(format!("cannot vendor into `{}`: {e}", dir.display()), None)
    })?;
    let vendor = Store::open_vendor(&dir)
        .map_err(|e| CliError::input(format!("cannot open the vendor directory: {e}"), None))?;
    let store_error =
        |e: StoreError| CliError::input(format!("vendoring into `{}`: {e}", dir.display()), None);

    let (wanted, copied) = copy_locked(&cache, &vendor, &lock)?;
    // Exactly the locked artifacts: a fresh index, and no other blobs.
    let index_path = dir.join("index.json");
    let _ = std::fs::remove_file(&index_path);
    let vendor = Store::open_vendor(&dir).map_err(store_error)?;
    vendor
        .update_index(lock_index_entries(&cache, &lock))
        .map_err(store_error)?;
    let mut removed = 0usize;
    for digest in vendor.blobs().map_err(store_error)? {
        if !wanted.contains(&digest) {
            vendor.discard(&digest).map_err(store_error)?;
            removed += 1;
        }
    }
    printer.status(
        "Vendored",
        format!(
            "{} connector{} ({} blobs, {} copied{}) into {}",
            lock.connectors().len(),
            if lock.connectors().len() == 1 { "" } else { "s" },
            wanted.len(),
            human_size(copied),
            if removed > 0 { format!(", {removed} stale removed") } else { String::new() },
            dir.display()
        ),
        &json!({"type": "vendor", "dir": dir, "connectors": lock.connectors().len(), "blobs": wanted.len(), "copied": copied, "removed": removed}),
    );
    Ok(())
}

/// `vendor --archive FILE`: the locked artifacts as one reproducible tar.
fn write_archive(
    file: &std::path::Path,
    config: &Config,
    cache: &Store,
    lock: &lf_lockfile::Lockfile,
    printer: &Printer,
) -> Result<(), CliError> {
    let mut blobs = BTreeSet::new();
    for entry in lock.connectors() {
        blobs.extend(blobs_of(cache, entry)?);
    }
    let lock_path = crate::settings::Settings::lock_path(config.path());
    let lock_bytes = std::fs::read(&lock_path).map_err(|source| CliError::Io {
        context: "cannot read",
        path: lock_path.clone(),
        source,
    })?;
    let size = crate::archive::write(
        file,
        cache,
        &lock_index_entries(cache, lock),
        &blobs,
        &crate::archive::sha256(&lock_bytes),
    )
    .map_err(|e| {
        archive_error(
            &e,
            "run `lf-resolve verify`, then `lf-resolve fetch` to repair the store",
        )
    })?;
    let count = lock.connectors().len();
    printer.status(
        "Archived",
        format!(
            "{count} connector{} ({} blobs, {}) into {}",
            if count == 1 { "" } else { "s" },
            blobs.len(),
            human_size(size),
            file.display()
        ),
        &json!({"type": "vendor", "archive": file, "connectors": count, "blobs": blobs.len(), "bytes": size}),
    );
    Ok(())
}

/// An archive failure as the error a command ends with: exit 1 when bytes
/// did not verify, 2 when the archive is unusable.
fn archive_error(e: &crate::archive::ArchiveError, help: &str) -> CliError {
    CliError::Failed {
        message: e.to_string(),
        reasons: Vec::new(),
        help: Some(help.to_owned()),
        code: if e.is_integrity_failure() {
            crate::error::EXIT_CHECK_FAILED
        } else {
            crate::error::EXIT_ERROR
        },
    }
}

/// Imports the archive `file` into `store`, verifying every blob (against
/// its name, and its size against `lock` where the lock names it). Nothing
/// is removed from the store, whatever happens.
pub(crate) fn import_archive(
    file: &std::path::Path,
    config: &Config,
    store: &Store,
    lock: Option<&lf_lockfile::Lockfile>,
    printer: &Printer,
) -> Result<crate::archive::Imported, CliError> {
    let mut locked = std::collections::BTreeMap::new();
    for entry in lock
        .map(lf_lockfile::Lockfile::connectors)
        .unwrap_or_default()
    {
        locked.insert(entry.config.digest.clone(), entry.config.size);
        locked.insert(entry.module.digest.clone(), entry.module.size);
    }
    let limits = crate::archive::Limits::for_module_limit(config.network().max_module_bytes);
    let imported = crate::archive::import(file, store, limits, &locked).map_err(|e| {
        archive_error(
            &e,
            "make the archive again with `lf-resolve vendor --archive FILE` where the registry is reachable, and copy it whole; nothing was removed from the store and the lockfile was not changed",
        )
    })?;
    printer.status(
        "Imported",
        format!(
            "{} blob{} from {} ({} new)",
            imported.blobs.len(),
            if imported.blobs.len() == 1 { "" } else { "s" },
            file.display(),
            human_size(imported.added)
        ),
        &json!({"type": "import", "archive": file, "blobs": imported.blobs.len(), "added": imported.added}),
    );
    Ok(imported)
}

/// Fails, naming each connector and digest, when the archive lacks
/// something `entries` pin.
pub(crate) fn archive_covers<'a>(
    file: &std::path::Path,
    imported: &crate::archive::Imported,
    lock_path: &std::path::Path,
    entries: impl IntoIterator<Item = &'a LockedConnector>,
) -> Result<(), CliError> {
    let lacking = imported.lacking(entries);
    if lacking.is_empty() {
        return Ok(());
    }
    let origin = match (&imported.lock, std::fs::read(lock_path)) {
        (Some(made_from), Ok(bytes)) if *made_from != crate::archive::sha256(&bytes) => format!(
            "it was made from another lock ({made_from}), not `{}` ({})",
            lock_path.display(),
            crate::archive::sha256(&bytes)
        ),
        _ => format!("it does not hold everything `{}` pins", lock_path.display()),
    };
    Err(CliError::Failed {
        message: format!("cannot use `{}`: {origin}", file.display()),
        reasons: lacking,
        help: Some(
            "make the archive from this lock with `lf-resolve vendor --archive FILE`; the lockfile was not changed and nothing was removed from the store".to_owned(),
        ),
        code: crate::error::EXIT_ERROR,
    })
}
