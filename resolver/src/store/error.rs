//! The one error type of the content store.

use std::io;
use std::path::PathBuf;

use lf_lockfile::Digest;

/// Why a content-store operation failed.
///
/// Every message names the blob (by digest) or the file concerned, and says
/// whether anything was stored and what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A directory or file the store writes or deletes in is a symbolic
    /// link; the store never follows one (it could lead outside the store).
    #[error(
        "`{}` is a symbolic link; lf-resolve does not write or delete through symbolic links (replace it with a real directory or file)",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A file or directory of the store could not be read, written or locked.
    #[error(
        "cannot access `{}` in the content store: {source}; check that the directory is writable and the disk is not full",
        path.display()
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// More bytes arrived than the descriptor declares; the extra bytes were
    /// not written and the blob was not stored.
    #[error(
        "blob {digest} is larger than the {expected} bytes its descriptor declares; it was not stored (the registry or a proxy served different content: retry, or check the registry)"
    )]
    TooLarge {
        /// The expected digest.
        digest: Digest,
        /// The declared size in bytes.
        expected: u64,
    },
    /// The body ended before the declared size; the blob was not stored.
    #[error(
        "blob {digest} ended after {got} of {expected} bytes; it was not stored (the download was cut short: retry)"
    )]
    Truncated {
        /// The expected digest.
        digest: Digest,
        /// The declared size in bytes.
        expected: u64,
        /// The bytes received.
        got: u64,
    },
    /// The received bytes hash to another digest; the blob was not stored.
    #[error(
        "content does not match digest {expected}: it hashes to {actual}; it was not stored (the registry or a proxy served different content: retry, or check the registry)"
    )]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// A write into a [`BlobWriter`](super::BlobWriter) failed earlier, so
    /// the blob cannot be finished.
    #[error("an earlier write of blob {digest} failed; it was not stored: retry the download")]
    WriteFailed {
        /// The expected digest.
        digest: Digest,
    },
    /// A blob that should be in the store is not there.
    #[error(
        "blob {digest} is not in the content store (expected at `{}`): fetch it again",
        path.display()
    )]
    Missing {
        /// The digest looked for.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// A stored blob has another size than the one recorded for it.
    #[error(
        "stored blob {digest} at `{}` has {actual} bytes, expected {expected}: the cache is damaged; delete that file and fetch it again",
        path.display()
    )]
    WrongSize {
        /// The digest of the blob.
        digest: Digest,
        /// The file.
        path: PathBuf,
        /// The recorded size.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// A stored blob's content no longer matches its digest.
    #[error(
        "stored blob at `{}` is corrupted: expected {expected}, its content hashes to {actual}; delete that file and fetch it again",
        path.display()
    )]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// The digest it is stored under.
        expected: Digest,
        /// The digest of its current content.
        actual: Digest,
    },
    /// The use lock could not be had in time: a prune is running (for a
    /// shared hold), or other commands have the cache open (for a prune).
    #[error(
        "{}: gave up after {} s; {}",
        if *exclusive { format!("the content store `{}` is in use by another lf-resolve process", path.display()) } else { format!("`lf-resolve cache prune` is running on the content store `{}`", path.display()) },
        waited.as_secs(),
        if *exclusive { "nothing was removed: run `cache prune` again when the other commands are done (or give a longer `--wait`)" } else { "nothing was changed: run the command again when the prune is done" }
    )]
    Busy {
        /// The store's root.
        path: PathBuf,
        /// How long it waited.
        waited: std::time::Duration,
        /// Whether the exclusive (prune) hold was wanted.
        exclusive: bool,
    },
    /// A prune was asked of a store not opened with `Store::open_exclusive`.
    #[error(
        "the content store `{}` was not opened for pruning (an internal error); nothing was removed",
        path.display()
    )]
    NotExclusive {
        /// The store's root.
        path: PathBuf,
    },
    /// `index.json` is not an OCI image index this store can update.
    #[error(
        "`{}` is not a valid OCI image index: {message}; fix or delete it (the blobs stay valid; `lf-resolve` rewrites the index as it fetches)",
        path.display()
    )]
    InvalidIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl StoreError {
    /// Wraps an I/O error on `path`.
    pub(super) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}
