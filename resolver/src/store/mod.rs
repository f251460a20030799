//! The content store: an [OCI image layout] directory (`oci-layout`,
//! `index.json`, `blobs/<algorithm>/<hex>`) that holds every manifest, config,
//! layer and signature `lf-resolve` fetched, addressed by digest.
//!
//! # Why it exists
//!
//! It is the one place where downloaded bytes become trusted. Everything
//! downstream (artifact checks, signature verification, the lockfile, vendoring,
//! wrapper generation) reads blobs through a [`VerifiedBlob`], a type only this
//! module can construct. The same layout serves as the shared cache (default
//! `<cache dir>/latticeflow/oci-v1`) and as a vendor directory, and standard
//! tools read it: `skopeo inspect --raw oci:<dir>:<ref.name>`.
//!
//! # Invariants
//!
//! - A file appears at `blobs/<algorithm>/<hex>` only by a rename done in
//!   [`BlobWriter::finish`], after the bytes streamed through the writer were
//!   counted and hashed and matched both the expected size and digest. The
//!   store never writes to a blob path directly, never writes more bytes than
//!   the declared size, and never leaves a partial blob at a content address.
//! - Temporary files are named `.tmp-<random>` in the same `blobs/<algorithm>/`
//!   directory (so the rename is atomic); a name starting with `.` is never a
//!   valid hex digest, so no lookup or listing mistakes one for a blob. A
//!   failed or abandoned writer removes its file. A writer holds an exclusive
//!   lock on its temporary file for as long as it lives, so a temporary file
//!   nobody holds a lock on belongs to a process that died (killed, or
//!   crashed); [`Store::open`] removes those, whatever their age, and never
//!   touches a live writer's file. To close the gap between creating a
//!   temporary file and locking it, writers do both under a shared lock on
//!   `<root>/.lock` and the cleanup runs under the exclusive one.
//! - Existing layout files (`oci-layout`, `index.json`, `CACHEDIR.TAG`) are
//!   never rewritten by [`Store::open`]; `index.json` changes only under the
//!   exclusive lock on `<root>/.lock`, by an atomic replace, and only when its
//!   bytes would change.
//! - Several `lf-resolve` processes may share one store: blob writes race
//!   safely (the first complete rename wins and the others keep it, the
//!   content being identical by construction) and index updates are
//!   serialised by the lock.
//! - Memory stays flat: blobs are streamed in and [`Store::rehash`] streams
//!   them out; nothing buffers a whole layer.
//!
//! # Trust argument for [`Store::get`]
//!
//! `get` checks only that the file exists with the expected size and does not
//! hash it again. That is sound because of the first invariant: within this
//! tool, bytes reach a content address only through the verifying writer. What
//! it cannot rule out is a change made to the directory from outside (a user,
//! another tool, disk damage); `lf-resolve verify` detects that with
//! [`Store::rehash`], which re-reads and re-hashes the file.
//!
//! # Durability: the cache does not fsync each blob
//!
//! A vendor directory ([`Store::open_vendor`]) syncs every blob before its
//! rename and the directory after it: it is committed, archived and read by
//! builds that do not check it again. The cache ([`Store::open`]) does not.
//! Syncing was most of the difference between a cold `lock` and `curl`
//! issuing the same requests (20 × 16 MiB: the file syncs of 320 MiB; 100 ×
//! 1 MiB: 200 file plus 200 directory syncs), and what it protects against
//! here is narrow: only a crash of the whole machine (not of the process)
//! can lose bytes that were renamed into place, and what it leaves behind is
//! a missing, empty or damaged blob at its address. The cache tolerates that
//! because every reader that uses cached bytes hashes them again first:
//!
//! - `lock` re-hashes a cached manifest, config or module before it reads a
//!   field from it (and downloads it again when damaged);
//! - `fetch` re-hashes every locked blob, and `vendor` (hence `generate` and
//!   `publish`, which vendor first) hashes each blob as it copies it out;
//! - the registry client re-hashes a cached blob before it skips a download
//!   (`inspect`, `certify REF`);
//! - signature payloads are checked by their signature;
//! - `verify` re-hashes everything.
//!
//! `lock --locked` looks only at the presence and size of the module and
//! re-derives the entry from its sections: a damaged module shows up there
//! as a disagreement, and is never handed on unchecked. What stays durable:
//! `index.json` (atomic replace with fsync), the lockfile, vendor
//! directories and archives. `LF_CACHE_FSYNC=1` restores per-blob syncing
//! in the cache (for a cache that other tools read without hashing).
//!
//! # Pruning and the use lock
//!
//! `<root>/.use.lock` separates users of the cache from `cache prune`.
//! [`Store::open`] takes a shared lock on it for as long as the `Store` (or
//! any clone) lives, waiting at most [`USE_LOCK_WAIT`] for a running prune.
//! [`Store::open_exclusive`] takes it exclusively, so a prune runs only
//! when no `lock`, `fetch` or other command has the cache open: a blob that
//! a `lock` just verified cannot vanish before it is done, and a lockfile a
//! prune reads cannot change under it. A prune never touches temporary
//! files, removes only regular files at content addresses (never through a
//! symbolic link), and drops the `index.json` entries of what it removes
//! before the blobs.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

mod blob;
mod error;
mod index;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lf_lockfile::{Algorithm, Digest, write_atomic};

pub use blob::{BlobWriter, VerifiedBlob};
pub use error::StoreError;
pub use index::IndexEntry;

use blob::Hasher;
use index::Index;

/// The content of `oci-layout`.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The content of `CACHEDIR.TAG` (<https://bford.info/cachedir/>).
const CACHEDIR_TAG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by lf-resolve.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The file whose exclusive lock serialises updates of the layout files.
const LOCK_FILE: &str = ".lock";

/// The file users of the cache lock shared and `cache prune` exclusively.
const USE_LOCK_FILE: &str = ".use.lock";

/// How long [`Store::open`] waits for a running `cache prune` to finish.
pub const USE_LOCK_WAIT: Duration = Duration::from_secs(120);

/// The environment variable that turns per-blob fsync back on in the cache.
pub const FSYNC_ENV: &str = "LF_CACHE_FSYNC";

/// The prefix of temporary files in `blobs/<algorithm>/`.
const TEMP_PREFIX: &str = ".tmp-";

/// How long [`Store::open`] waits for the store lock before it leaves the
/// cleanup of temporary files to a later run.
const CLEANUP_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The algorithms that have a `blobs/` directory.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

/// Read buffer size for re-hashing.
const CHUNK: usize = 64 * 1024;

/// An OCI image layout directory used as a content store.
///
/// A `Store` is a path plus, for the cache, its hold on the use lock: clone
/// it freely (clones share the hold), and open the same directory from
/// several threads or processes.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Whether blobs are synced before and after their rename.
    durable: bool,
    /// The use lock, shared or exclusive; released when the last clone drops.
    use_lock: Option<Arc<UseLock>>,
}

/// A hold on `<root>/.use.lock`.
#[derive(Debug)]
struct UseLock {
    _file: File,
    exclusive: bool,
}

/// How [`Store::open_with`] takes the use lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A vendor directory: no use lock, durable writes.
    Vendor,
    /// The cache, shared with other users.
    Shared,
    /// The cache, alone (a prune).
    Exclusive,
}

/// What [`Store::prune`] removed (or would remove, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The blobs removed.
    pub removed: Vec<(Digest, u64)>,
    /// The blobs kept.
    pub kept: usize,
    /// The ref names dropped from `index.json`.
    pub index_removed: Vec<String>,
    /// Content addresses holding something other than a regular file
    /// (a symbolic link, a directory): left alone.
    pub skipped: Vec<PathBuf>,
}

impl PruneReport {
    /// The bytes freed.
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|(_, size)| size).sum()
    }
}

impl Store {
    /// Opens the store at `root`, creating the directory, `blobs/sha256`,
    /// `blobs/sha512`, `oci-layout`, an empty `index.json` and `CACHEDIR.TAG`
    /// where missing. Existing files are never rewritten. Also removes the
    /// temporary files of writers that died (best effort).
    ///
    /// Holds a shared use lock for as long as the store lives (see the
    /// module docs), waiting at most [`USE_LOCK_WAIT`] for a running prune.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(root, Use::Shared, USE_LOCK_WAIT)
    }

    /// Opens the cache alone, for a prune: waits at most `wait` until no
    /// other process has it open.
    pub fn open_exclusive(root: &Path, wait: Duration) -> Result<Store, StoreError> {
        Store::open_with(root, Use::Exclusive, wait)
    }

    /// Opens a vendor directory: the same layout, but without `CACHEDIR.TAG`
    /// (a vendor directory is meant to be committed and backed up), and with
    /// every blob synced to disk.
    pub fn open_vendor(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(root, Use::Vendor, Duration::ZERO)
    }

    fn open_with(root: &Path, mode: Use, wait: Duration) -> Result<Store, StoreError> {
        let cache = mode != Use::Vendor;
        let mut store = Store {
            root: root.to_path_buf(),
            durable: !cache || std::env::var_os(FSYNC_ENV).is_some_and(|v| v == "1"),
            use_lock: None,
        };
        // The store writes, renames and deletes inside its own directories:
        // none of them (nor its layout files) may lead elsewhere. The root
        // itself may be a symlink the user made (a cache on another disk).
        let mut inner = vec![store.root.join("blobs")];
        inner.extend(ALGORITHMS.iter().map(|a| store.blob_dir(*a)));
        inner.extend(
            [
                "oci-layout",
                "index.json",
                "CACHEDIR.TAG",
                LOCK_FILE,
                USE_LOCK_FILE,
            ]
            .iter()
            .map(|f| store.root.join(f)),
        );
        for path in &inner {
            refuse_symlink(path)?;
        }
        for algorithm in ALGORITHMS {
            let dir = store.blob_dir(algorithm);
            fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        }
        if cache {
            store.use_lock = Some(Arc::new(store.take_use_lock(mode == Use::Exclusive, wait)?));
        }
        let mut files = vec![
            ("oci-layout", OCI_LAYOUT.to_vec()),
            ("index.json", Index::empty().render(&store.index_path())?),
        ];
        if cache {
            files.push(("CACHEDIR.TAG", CACHEDIR_TAG.to_vec()));
        }
        if files
            .iter()
            .any(|(name, _)| !store.root.join(name).exists())
        {
            // Under the lock, so that a concurrent `update_index` is never
            // overwritten by an empty index.
            let _lock = store.lock()?;
            for (name, content) in files {
                let path = store.root.join(name);
                if !path.exists() {
                    write_atomic(&path, &content).map_err(StoreError::io(&path))?;
                }
            }
        }
        store.remove_stale_temp_files();
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives: `<root>/blobs/<algorithm>/<hex>`.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blob_dir(digest.algorithm()).join(digest.hex())
    }

    /// The blob with `digest`, if it is stored with exactly `size` bytes.
    ///
    /// The content is not hashed again: bytes only reach a content address
    /// through the verifying [`BlobWriter`] (see the module docs for the trust
    /// argument, and [`rehash`](Self::rehash) to check a stored blob).
    pub fn get(&self, digest: &Digest, size: u64) -> Option<VerifiedBlob> {
        let path = self.blob_path(digest);
        let meta = fs::metadata(&path).ok()?;
        (meta.is_file() && meta.len() == size)
            .then(|| VerifiedBlob::new(digest.clone(), size, path))
    }

    /// The blob with `digest` at whatever size it is stored (for manifests,
    /// whose size the lock does not record). Not hashed again: see
    /// [`get`](Self::get).
    pub fn get_any_size(&self, digest: &Digest) -> Option<VerifiedBlob> {
        let size = self.stored_size(digest)?;
        self.get(digest, size)
    }

    /// The size of the stored blob with `digest`, if a regular file holds it.
    pub fn stored_size(&self, digest: &Digest) -> Option<u64> {
        let meta = fs::symlink_metadata(self.blob_path(digest)).ok()?;
        meta.is_file().then_some(meta.len())
    }

    /// [`rehash`](Self::rehash) at whatever size the blob is stored: for
    /// manifests, which are small and whose size the lock does not record;
    /// the digest alone decides.
    pub fn rehash_any_size(&self, digest: &Digest) -> Result<VerifiedBlob, StoreError> {
        match self.stored_size(digest) {
            Some(size) => self.rehash(digest, size),
            None => Err(StoreError::Missing {
                digest: digest.clone(),
                path: self.blob_path(digest),
            }),
        }
    }

    /// Removes the blob with `digest` (a damaged one, before it is written
    /// again). Only a regular file at the content address is removed; a
    /// symlink there is refused, never followed. A missing blob is fine.
    pub fn discard(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => fs::remove_file(&path).map_err(StoreError::io(&path)),
            Ok(_) => Err(StoreError::Symlink { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// Starts writing the blob with `digest` and `size` bytes.
    ///
    /// The bytes go to a temporary file in `blobs/<algorithm>/`; see
    /// [`BlobWriter`]. Callers that want to skip a download check
    /// [`get`](Self::get) first.
    pub fn writer(&self, digest: &Digest, size: u64) -> Result<BlobWriter, StoreError> {
        let dir = self.blob_dir(digest.algorithm());
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX);
        // Blobs are shared like any cache file, not private like a temp file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let file = {
            // Shared: writers do not wait for each other, only for a cleanup.
            let _creating = self.lock_with(File::lock_shared)?;
            let file = builder.tempfile_in(&dir).map_err(StoreError::io(&dir))?;
            file.as_file().lock().map_err(StoreError::io(file.path()))?;
            file
        };
        Ok(BlobWriter::new(
            digest.clone(),
            size,
            self.blob_path(digest),
            file,
            self.durable,
        ))
    }

    /// Stores a small blob held in memory (a manifest, a config), with the
    /// same checks as [`writer`](Self::writer): the bytes must hash to
    /// `digest`.
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<VerifiedBlob, StoreError> {
        let actual = Hasher::digest(digest.algorithm(), bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        match self.rehash(digest, size) {
            Ok(blob) => return Ok(blob),
            Err(StoreError::Missing { .. }) => {}
            // Damaged: replace it with the bytes that just verified.
            Err(_) => self.discard(digest)?,
        }
        let mut writer = self.writer(digest, size)?;
        writer.write(bytes)?;
        writer.finish()
    }

    /// Reads a stored blob again and checks its size and digest, streaming
    /// (for `lf-resolve verify`). Reports a missing blob, a wrong size or
    /// content that no longer matches; it never modifies the store.
    pub fn rehash(&self, digest: &Digest, size: u64) -> Result<VerifiedBlob, StoreError> {
        let path = self.blob_path(digest);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    digest: digest.clone(),
                    path,
                });
            }
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let wrong_size = |path: PathBuf, actual: u64| StoreError::WrongSize {
            digest: digest.clone(),
            path,
            expected: size,
            actual,
        };
        let len = file.metadata().map_err(StoreError::io(&path))?.len();
        if len != size {
            return Err(wrong_size(path, len));
        }
        let mut hasher = Hasher::new(digest.algorithm());
        let mut buf = vec![0; CHUNK];
        let mut read = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::Io { path, source: e }),
            };
            hasher.update(&buf[..n]);
            read += n as u64;
        }
        if read != size {
            return Err(wrong_size(path, read));
        }
        let actual = hasher.finish();
        if actual != *digest {
            return Err(StoreError::Corrupted {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(VerifiedBlob::new(digest.clone(), size, path))
    }

    /// Adds `entries` to `index.json`: under the store lock, replaces entries
    /// with the same ref name, keeps the others, sorts by ref name, and
    /// replaces the file atomically only if its bytes change.
    ///
    /// Returns whether the file was written. A missing `index.json` counts as
    /// an empty index.
    pub fn update_index(
        &self,
        entries: impl IntoIterator<Item = IndexEntry>,
    ) -> Result<bool, StoreError> {
        let path = self.index_path();
        let _lock = self.lock()?;
        let old = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let mut index = match &old {
            Some(bytes) => Index::parse(&path, bytes)?,
            None => Index::empty(),
        };
        index.merge(entries);
        let new = index.render(&path)?;
        if old.as_deref() == Some(new.as_slice()) {
            return Ok(false);
        }
        write_atomic(&path, &new).map_err(StoreError::io(&path))?;
        Ok(true)
    }

    /// Removes every blob whose digest is not in `keep`, and the
    /// `index.json` entries that name one (index first, then blobs, so the
    /// index never names a removed blob). With `dry_run`, only reports.
    ///
    /// Only for a store opened with [`open_exclusive`](Self::open_exclusive):
    /// anything else is refused with [`StoreError::NotExclusive`], since a
    /// concurrent `lock` could be about to use what is removed. Temporary
    /// files are never touched; a content address that holds anything but
    /// a regular file is left alone and reported.
    pub fn prune(&self, keep: &BTreeSet<Digest>, dry_run: bool) -> Result<PruneReport, StoreError> {
        if !self.use_lock.as_ref().is_some_and(|l| l.exclusive) {
            return Err(StoreError::NotExclusive {
                path: self.root.clone(),
            });
        }
        let mut report = PruneReport {
            index_removed: self.prune_index(keep, dry_run)?,
            ..PruneReport::default()
        };
        for algorithm in ALGORITHMS {
            let dir = self.blob_dir(algorithm);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Io { path: dir, source }),
            };
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(StoreError::io(&dir))?;
                names.push(entry.file_name());
            }
            names.sort();
            for name in names {
                // Temporary files (`.tmp-*`) and strangers are not digests.
                let Some(digest) = name
                    .to_str()
                    .and_then(|n| format!("{algorithm}:{n}").parse::<Digest>().ok())
                else {
                    continue;
                };
                let path = dir.join(&name);
                let meta = match fs::symlink_metadata(&path) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(StoreError::Io { path, source }),
                };
                if !meta.is_file() {
                    report.skipped.push(path);
                    continue;
                }
                if keep.contains(&digest) {
                    report.kept += 1;
                    continue;
                }
                if !dry_run {
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(source) => return Err(StoreError::Io { path, source }),
                    }
                }
                report.removed.push((digest, meta.len()));
            }
        }
        Ok(report)
    }

    /// Drops the `index.json` entries whose digest is not in `keep`, under
    /// the store lock; returns their ref names (or their digests, for
    /// entries without one).
    fn prune_index(
        &self,
        keep: &BTreeSet<Digest>,
        dry_run: bool,
    ) -> Result<Vec<String>, StoreError> {
        let path = self.index_path();
        let _lock = self.lock()?;
        let old = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let mut index = Index::parse(&path, &old)?;
        let removed = index.retain(|digest| digest.is_some_and(|d| keep.contains(d)));
        if !dry_run && !removed.is_empty() {
            let new = index.render(&path)?;
            write_atomic(&path, &new).map_err(StoreError::io(&path))?;
        }
        Ok(removed)
    }

    /// The entries of `index.json` that carry a ref name, in file order
    /// (sorted by ref name when this store wrote the file). Descriptors
    /// without a ref name are not listed. A missing `index.json` counts as an
    /// empty index.
    pub fn index(&self) -> Result<Vec<IndexEntry>, StoreError> {
        let path = self.index_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        Index::parse(&path, &bytes)?.entries(&path)
    }

    /// The digests of all blobs in the store, sorted. Temporary files and
    /// anything else that is not named by a digest are skipped.
    pub fn blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for algorithm in ALGORITHMS {
            let dir = self.blob_dir(algorithm);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(StoreError::Io {
                        path: dir,
                        source: e,
                    });
                }
            };
            for entry in entries {
                let entry = entry.map_err(StoreError::io(&dir))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if let Ok(digest) = format!("{algorithm}:{name}").parse::<Digest>()
                    && entry.file_type().is_ok_and(|t| t.is_file())
                {
                    out.push(digest);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn blob_dir(&self, algorithm: Algorithm) -> PathBuf {
        self.root.join("blobs").join(algorithm.as_str())
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Takes the exclusive store lock; it is released when the file drops.
    fn lock(&self) -> Result<File, StoreError> {
        self.lock_with(File::lock)
    }

    /// Opens (creating it) `<root>/.lock`, unlocked.
    fn lock_file(&self) -> Result<File, StoreError> {
        let path = self.root.join(LOCK_FILE);
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io(&path))
    }

    /// Opens `<root>/.lock` and locks it with `how`.
    fn lock_with(&self, how: fn(&File) -> io::Result<()>) -> Result<File, StoreError> {
        let file = self.lock_file()?;
        how(&file).map_err(StoreError::io(self.root.join(LOCK_FILE)))?;
        Ok(file)
    }

    /// Locks `<root>/.use.lock`, shared or exclusive, waiting at most
    /// `wait` for a holder of the other kind.
    fn take_use_lock(&self, exclusive: bool, wait: Duration) -> Result<UseLock, StoreError> {
        let path = self.root.join(USE_LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        let started = Instant::now();
        loop {
            let attempt = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match attempt {
                Ok(()) => {
                    return Ok(UseLock {
                        _file: file,
                        exclusive,
                    });
                }
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy {
                        path: self.root.clone(),
                        waited: wait,
                        exclusive,
                    });
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(StoreError::Io { path, source });
                }
            }
        }
    }

    /// The exclusive store lock if it can be had within `wait`.
    fn try_lock_for(&self, wait: Duration) -> Option<File> {
        let file = self.lock_file().ok()?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        }
    }

    /// Removes the `.tmp-*` files no writer holds a lock on: their writer
    /// died. Best effort: errors are ignored, and nothing is removed when the
    /// store lock cannot be had quickly (a later run will do it).
    fn remove_stale_temp_files(&self) {
        let temps: Vec<PathBuf> = ALGORITHMS
            .iter()
            .filter_map(|algorithm| fs::read_dir(self.blob_dir(*algorithm)).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(TEMP_PREFIX))
                    // Not through a symlink, not a directory or a FIFO.
                    && entry.file_type().is_ok_and(|t| t.is_file())
            })
            .map(|entry| entry.path())
            .collect();
        if temps.is_empty() {
            return;
        }
        let Some(_lock) = self.try_lock_for(CLEANUP_LOCK_WAIT) else {
            return;
        };
        for path in temps {
            let Ok(file) = File::open(&path) else {
                continue;
            };
            // A live writer holds the lock; it fails here and keeps its file.
            if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
                tracing::debug!(path = %path.display(), "removed the temporary file of a writer that died");
            }
        }
    }
}

/// Fails with [`StoreError::Symlink`] when `path` is a symbolic link (a
/// missing path is fine).
pub fn refuse_symlink(path: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::Symlink {
            path: path.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Fails with [`StoreError::Symlink`] at the first symbolic link among
/// `root/a`, `root/a/b`, … down to `root/rel` (`root` itself is the user's
/// choice and is not checked). A path that does not exist ends the walk:
/// nothing below it can be a link yet.
pub fn refuse_symlinks_below(root: &Path, rel: &Path) -> Result<(), StoreError> {
    let mut path = root.to_owned();
    for part in rel.components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(StoreError::Symlink { path }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StoreError::Io { path, source }),
        }
    }
    Ok(())
}
