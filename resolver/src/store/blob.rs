//! The verifying blob writer and the type of a verified blob.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lf_lockfile::{Algorithm, Digest};
use sha2::Digest as _;
use tempfile::NamedTempFile;

use super::StoreError;

/// A hash state for one of the accepted algorithms.
pub(super) enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(super) fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub(super) fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_bytes(Algorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_bytes(Algorithm::Sha512, &h.finalize()),
        }
    }

    /// The digest of `bytes` under `algorithm`.
    pub(super) fn digest(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }
}

/// A blob in the store whose bytes matched its digest and size when they
/// entered the store.
///
/// Only the store module can make one: through [`BlobWriter::finish`], or
/// through [`Store::get`](super::Store::get) and
/// [`Store::rehash`](super::Store::rehash) for a file that is already at its
/// content address. Code that holds a `VerifiedBlob` may use its bytes without
/// checking them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBlob {
    digest: Digest,
    size: u64,
    path: PathBuf,
}

impl VerifiedBlob {
    /// Only for callers in the store module that have established the blob's
    /// integrity (see the module docs for the trust argument).
    pub(super) fn new(digest: Digest, size: u64, path: PathBuf) -> VerifiedBlob {
        VerifiedBlob { digest, size, path }
    }

    /// The digest the content matched.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file in the store (`blobs/<algorithm>/<hex>`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole blob into memory; meant for small blobs such as
    /// manifests and configs. Use [`open`](Self::open) to stream large ones.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }

    /// Opens the blob for reading.
    pub fn open(&self) -> io::Result<File> {
        File::open(&self.path)
    }
}

/// The state of a [`BlobWriter`] after an error in [`BlobWriter::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A chunk would have gone past the expected size.
    TooLarge,
    /// Writing to the temporary file failed.
    Io,
}

/// Streams one blob into the store: it writes to a temporary file in
/// `blobs/<algorithm>/`, hashes as it goes, and moves the file to its content
/// address in [`finish`](Self::finish) only when size and digest match.
///
/// Dropping a writer that was not finished, or whose `finish` failed, removes
/// the temporary file.
pub struct BlobWriter {
    digest: Digest,
    size: u64,
    written: u64,
    target: PathBuf,
    file: Option<NamedTempFile>,
    hasher: Option<Hasher>,
    failure: Option<Failure>,
    /// Whether `finish` syncs the file and its directory (see the store's
    /// module docs, "Durability").
    durable: bool,
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("written", &self.written)
            .field("temp", &self.file.as_ref().map(NamedTempFile::path))
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    pub(super) fn new(
        digest: Digest,
        size: u64,
        target: PathBuf,
        file: NamedTempFile,
        durable: bool,
    ) -> Self {
        let hasher = Hasher::new(digest.algorithm());
        BlobWriter {
            digest,
            size,
            written: 0,
            target,
            file: Some(file),
            hasher: Some(hasher),
            failure: None,
            durable,
        }
    }

    /// Appends `chunk`.
    ///
    /// A chunk that would take the blob past its expected size is refused as
    /// a whole ([`StoreError::TooLarge`]): the writer never writes more than
    /// the expected size. After any error the writer is spent; `finish`
    /// reports the failure again and stores nothing.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        match self.failure {
            Some(Failure::TooLarge) => return Err(self.too_large()),
            Some(Failure::Io) => return Err(self.write_failed()),
            None => {}
        }
        let (Some(file), Some(hasher)) = (self.file.as_mut(), self.hasher.as_mut()) else {
            return Err(self.write_failed());
        };
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let total = self.written.saturating_add(len);
        if total > self.size {
            self.failure = Some(Failure::TooLarge);
            return Err(self.too_large());
        }
        if let Err(source) = file.write_all(chunk) {
            let path = file.path().to_path_buf();
            self.failure = Some(Failure::Io);
            return Err(StoreError::Io { path, source });
        }
        hasher.update(chunk);
        self.written = total;
        Ok(())
    }

    /// The number of bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks size and digest, then renames the file to
    /// `blobs/<algorithm>/<hex>`; in a durable store (a vendor directory) it
    /// syncs the file before the rename and the directory after it.
    ///
    /// If another writer (another task or process) stored the same blob
    /// first, its file is kept and this one's temporary file is dropped. On
    /// any error nothing is stored and the temporary file is removed.
    pub fn finish(mut self) -> Result<VerifiedBlob, StoreError> {
        match self.failure {
            Some(Failure::TooLarge) => return Err(self.too_large()),
            Some(Failure::Io) => return Err(self.write_failed()),
            None => {}
        }
        if self.written < self.size {
            return Err(StoreError::Truncated {
                digest: self.digest.clone(),
                expected: self.size,
                got: self.written,
            });
        }
        let (Some(file), Some(hasher)) = (self.file.take(), self.hasher.take()) else {
            return Err(self.write_failed());
        };
        let actual = hasher.finish();
        if actual != self.digest {
            // `file` drops here, removing the temporary file.
            return Err(StoreError::DigestMismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        if self.durable {
            file.as_file()
                .sync_all()
                .map_err(StoreError::io(file.path()))?;
        }
        persist(file, &self.target, self.size, self.durable)?;
        Ok(VerifiedBlob::new(
            self.digest.clone(),
            self.size,
            self.target.clone(),
        ))
    }

    fn too_large(&self) -> StoreError {
        StoreError::TooLarge {
            digest: self.digest.clone(),
            expected: self.size,
        }
    }

    fn write_failed(&self) -> StoreError {
        StoreError::WriteFailed {
            digest: self.digest.clone(),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Best effort: a leftover `.tmp-*` is never mistaken for a blob,
            // and once this process ends `Store::open` removes it.
            let _ = file.close();
        }
    }
}

/// Moves a verified temporary file to `target`, keeping a complete file that
/// is already there (its bytes are the same, by content addressing).
fn persist(file: NamedTempFile, target: &Path, size: u64, durable: bool) -> Result<(), StoreError> {
    let existing =
        |target: &Path| std::fs::metadata(target).is_ok_and(|m| m.is_file() && m.len() == size);
    if existing(target) {
        return Ok(());
    }
    match file.persist_noclobber(target) {
        Ok(_) => {}
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists && existing(target) => {}
        // A damaged file of the wrong size, or a file system without
        // no-clobber renames: a plain rename replaces it atomically.
        Err(e) => {
            e.file.persist(target).map_err(|e| StoreError::Io {
                path: target.to_path_buf(),
                source: e.error,
            })?;
        }
    }
    if durable {
        sync_parent(target);
    }
    Ok(())
}

/// Makes a rename durable (best effort; not available on every platform).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}
