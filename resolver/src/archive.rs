//! Air-gapped transfer: the locked artifacts as one tar file, and back.
//!
//! `vendor --archive` writes the OCI layout `vendor` would write (`oci-layout`,
//! `index.json`, `blobs/<algorithm>/<hex>`) as a tar stream, so that the
//! artifacts a lock pins can be carried to a machine without registry access;
//! `lock --from-archive` and `fetch --from-archive` read it back into the
//! content store there.
//!
//! # Why it is built this way
//!
//! - **Reproducible.** The same lock must give the same bytes, so an archive
//!   can itself be checksummed and compared: entries come in a fixed order
//!   (`oci-layout`, `index.json`, the directories, then blobs sorted by path),
//!   every header has mtime 0, uid/gid 0, no user or group names and fixed
//!   modes, and only regular files and directories are written.
//! - **Streamed both ways.** A module can be as large as `max-module-bytes`;
//!   neither direction ever holds a blob in memory. Only `oci-layout` and
//!   `index.json`, both small and bounded, are read whole.
//! - **Nothing is extracted.** An archive never becomes files at the paths it
//!   names: each blob entry is streamed into the store's verifying writer
//!   (hashed against the digest its name claims, and sized against the lock
//!   when the lock names it), so a hostile name cannot reach outside the
//!   store. Names, types, sizes and duplicates are still checked strictly and
//!   refused with the entry named, because an archive that breaks the format
//!   is not one this tool wrote.
//! - **Nothing half-done.** Store writes are atomic (a blob appears only after
//!   its bytes verified), nothing is ever deleted from the store, and the
//!   archive file itself is written to a temporary file, synced, and renamed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use lf_lockfile::{Algorithm, Digest, LockedConnector, Reference, SignatureFormat};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::store::{IndexEntry, Store, StoreError, VerifiedBlob};

/// The content of `oci-layout` (the same the store writes).
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The media type of an OCI image index.
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The annotation naming an artifact in an OCI layout.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The index annotation recording the digest of the `latticeflow.lock` an
/// archive was made from, so that an archive used with another lock can be
/// told apart from a damaged one.
pub const LOCK_ANNOTATION: &str = "dev.latticeflow.lock.digest";

/// The largest `oci-layout` accepted.
const MAX_LAYOUT_BYTES: u64 = 4 * 1024;

/// The largest `index.json` accepted.
const MAX_INDEX_BYTES: u64 = 4 * 1024 * 1024;

/// The most entries an archive may have (a project with a few hundred
/// connectors has a few thousand blobs).
const MAX_ENTRIES: usize = 100_000;

/// Copy buffer size.
const CHUNK: usize = 64 * 1024;

/// File mode of regular entries.
const FILE_MODE: u32 = 0o644;

/// File mode of directory entries.
const DIR_MODE: u32 = 0o755;

/// Why writing or reading an archive failed. Every message names the archive
/// file and, where there is one, the entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The archive file could not be read or written.
    #[error("cannot {what} `{}`: {source}", path.display())]
    Io {
        /// `read`, `write`, …
        what: &'static str,
        /// The archive (or its temporary file).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The output path is a symbolic link or a directory.
    #[error("`{}` {problem}; lf-resolve does not write an archive through a symbolic link or over a directory", path.display())]
    BadTarget {
        /// The path given.
        path: PathBuf,
        /// What it is.
        problem: &'static str,
    },
    /// The file is compressed.
    #[error("`{}` is {format}-compressed; lf-resolve reads plain tar archives (decompress it first)", path.display())]
    Compressed {
        /// The archive.
        path: PathBuf,
        /// `gzip`, `zstd`, …
        format: &'static str,
    },
    /// The file is not a tar archive, or its headers are damaged.
    #[error("`{}` is not a tar archive lf-resolve can read: {detail}", path.display())]
    NotTar {
        /// The archive.
        path: PathBuf,
        /// What the tar reader said.
        detail: String,
    },
    /// The archive ends early.
    #[error("`{}` is truncated: {detail}; nothing from it was lost or half-written (copy the archive again)", path.display())]
    Truncated {
        /// The archive.
        path: PathBuf,
        /// Where it ended.
        detail: String,
    },
    /// An entry this format never contains.
    #[error("`{}`: entry `{entry}` {reason}; refusing the archive", path.display())]
    Refused {
        /// The archive.
        path: PathBuf,
        /// The entry's name as written in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// A size bound was exceeded.
    #[error("`{}`: {what} ({size} bytes) is over the limit of {limit} bytes; refusing the archive", path.display())]
    TooLarge {
        /// The archive.
        path: PathBuf,
        /// The entry, or "the archive".
        what: String,
        /// The size claimed or reached.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// A blob could not be stored: its bytes do not match the name, or the
    /// store could not be written.
    #[error("`{}`: entry `{entry}`: {source}", path.display())]
    Blob {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What the store said.
        #[source]
        source: StoreError,
    },
    /// A blob's size disagrees with the size the lock records.
    #[error("`{}`: entry `{entry}` has {size} bytes, but latticeflow.lock records {locked} for {digest}; refusing the archive", path.display())]
    LockSize {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// The digest.
        digest: Digest,
        /// Its size in the archive.
        size: u64,
        /// Its size in the lock.
        locked: u64,
    },
    /// `oci-layout` or `index.json` is missing or invalid.
    #[error("`{}` is not an OCI layout archive: {problem}", path.display())]
    Layout {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `index.json` names content the archive does not hold, or names it
    /// inconsistently.
    #[error("`{}`: index.json does not match the blobs in the archive: {}", path.display(), reasons.join("; "))]
    IndexLies {
        /// The archive.
        path: PathBuf,
        /// One line per problem.
        reasons: Vec<String>,
    },
    /// A locked blob could not be read from the store while writing.
    #[error("cannot archive blob {digest} from `{}`: {source}", store.display())]
    Source {
        /// The blob.
        digest: Digest,
        /// The store.
        store: PathBuf,
        /// What went wrong.
        #[source]
        source: StoreError,
    },
}

impl ArchiveError {
    /// Whether the failure is content that does not verify (exit 1) rather
    /// than an unusable input (exit 2).
    pub fn is_integrity_failure(&self) -> bool {
        match self {
            ArchiveError::Blob { source, .. } => matches!(
                source,
                StoreError::DigestMismatch { .. } | StoreError::TooLarge { .. }
            ),
            ArchiveError::IndexLies { .. } | ArchiveError::LockSize { .. } => true,
            _ => false,
        }
    }
}

/// One named artifact of an archive's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The `org.opencontainers.image.ref.name` annotation.
    pub ref_name: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest size.
    pub size: u64,
}

/// What an import brought into the store.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Every blob in the archive, all verified and now in the store.
    pub blobs: BTreeMap<Digest, u64>,
    /// The named artifacts of `index.json`.
    pub named: Vec<Named>,
    /// The digest of the lock the archive was made from, when it says.
    pub lock: Option<Digest>,
    /// Bytes written into the store (blobs it did not hold yet).
    pub added: u64,
}

/// What the artifacts of one connector are pinned to in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    /// The manifest.
    pub digest: Digest,
    /// The signature artifact, when the archive carries one.
    pub signature: Option<(SignatureFormat, Digest)>,
    /// The certification attestation, when the archive carries one.
    pub certification: Option<Digest>,
}

impl Imported {
    /// Resolves `reference` through the archive's index: its digest (or the
    /// digest its tag names there) and the signature and attestation stored
    /// beside it under cosign's tag names.
    pub fn pins(&self, reference: &Reference) -> Option<Pins> {
        let digest = match reference.digest() {
            Some(digest) => digest.clone(),
            None => {
                let wanted = reference.without_digest().to_string();
                self.named
                    .iter()
                    .find(|n| n.ref_name == wanted)?
                    .digest
                    .clone()
            }
        };
        let by_name = |suffix: &str| {
            let wanted = format!(
                "{}:{}.{suffix}",
                reference.name(),
                Reference::digest_tag(&digest)
            );
            self.named
                .iter()
                .find(|n| n.ref_name == wanted)
                .map(|n| n.digest.clone())
        };
        let signature = by_name("sig")
            .map(|d| (SignatureFormat::SimpleSigning, d))
            .or_else(|| by_name("bundle").map(|d| (SignatureFormat::BundleV03, d)));
        Some(Pins {
            signature,
            certification: by_name("att"),
            digest,
        })
    }

    /// What the locked `entries` need and this archive lacks: one line per
    /// missing artifact, naming the connector and the digest.
    pub fn lacking<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a LockedConnector>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for entry in entries {
            let mut wanted = vec![
                ("manifest", &entry.digest, None),
                ("config", &entry.config.digest, Some(entry.config.size)),
                ("module", &entry.module.digest, Some(entry.module.size)),
            ];
            if let Some(v) = &entry.signature.verified {
                wanted.push(("signature", &v.digest, None));
            }
            if let Some(v) = &entry.certification.verified {
                wanted.push(("certification", &v.digest, None));
            }
            for (what, digest, size) in wanted {
                let present = self
                    .blobs
                    .get(digest)
                    .is_some_and(|have| size.is_none_or(|s| s == *have));
                if !present {
                    out.push(format!(
                        "connector `{}` ({}): its {what} {digest} is not in the archive",
                        entry.name, entry.reference
                    ));
                }
            }
        }
        out
    }
}

/// A digest of `algorithm` computed while bytes stream past.
enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_bytes(Algorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_bytes(Algorithm::Sha512, &h.finalize()),
        }
    }
}

/// The sha256 digest of `bytes` (the lock's digest in the index).
pub fn sha256(bytes: &[u8]) -> Digest {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    hasher.update(bytes);
    hasher.finish()
}

/// A reader that hashes and counts what it hands out.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// The `index.json` of an archive: `entries` sorted by ref name, and the
/// digest of the lock they come from.
fn render_index(entries: &[IndexEntry], lock: &Digest) -> Vec<u8> {
    let mut sorted: Vec<&IndexEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
    sorted.dedup_by(|a, b| a.ref_name == b.ref_name);
    let manifests: Vec<Value> = sorted
        .iter()
        .map(|e| {
            let mut map = Map::new();
            map.insert("mediaType".into(), json!(e.media_type));
            map.insert("digest".into(), json!(e.digest.to_string()));
            map.insert("size".into(), json!(e.size));
            map.insert("annotations".into(), json!({ REF_NAME: e.ref_name }));
            if let Some(t) = &e.artifact_type {
                map.insert("artifactType".into(), json!(t));
            }
            Value::Object(map)
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
        "annotations": { LOCK_ANNOTATION: lock.to_string() },
    });
    let mut out = serde_json::to_vec_pretty(&index).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A header with every field that could vary between machines fixed.
fn header(entry_type: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Writes `blobs` (each re-hashed as it streams out of `store`) and
/// `index` as an OCI layout tar at `path`, atomically. Returns the archive's
/// size in bytes.
pub fn write(
    path: &Path,
    store: &Store,
    index: &[IndexEntry],
    blobs: &BTreeSet<(Digest, u64)>,
    lock: &Digest,
) -> Result<u64, ArchiveError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(ArchiveError::BadTarget {
                path: path.to_owned(),
                problem: "is a symbolic link",
            });
        }
        Ok(meta) if meta.is_dir() => {
            return Err(ArchiveError::BadTarget {
                path: path.to_owned(),
                problem: "is a directory",
            });
        }
        _ => {}
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let io_error = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ArchiveError::Io { what, path, source }
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".lf-archive-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let temp = builder
        .tempfile_in(&parent)
        .map_err(io_error("create a temporary file in", &parent))?;
    let temp_path = temp.path().to_owned();
    let mut tar = tar::Builder::new(BufWriter::new(temp));
    let write_error = io_error("write", &temp_path);

    let index = render_index(index, lock);
    let small = [("oci-layout", OCI_LAYOUT), ("index.json", index.as_slice())];
    for (name, bytes) in small {
        let mut h = header(tar::EntryType::Regular, bytes.len() as u64, FILE_MODE);
        tar.append_data(&mut h, name, bytes)
            .map_err(io_error("write", &temp_path))?;
    }
    let algorithms: BTreeSet<Algorithm> = blobs.iter().map(|(d, _)| d.algorithm()).collect();
    let mut dirs = vec!["blobs/".to_owned()];
    dirs.extend(algorithms.iter().map(|a| format!("blobs/{a}/")));
    for dir in dirs {
        let mut h = header(tar::EntryType::Directory, 0, DIR_MODE);
        tar.append_data(&mut h, &dir, io::empty())
            .map_err(io_error("write", &temp_path))?;
    }
    // Sorted by path: the set is ordered by digest, whose text is the path.
    let mut ordered: Vec<&(Digest, u64)> = blobs.iter().collect();
    ordered.sort_by_key(|(d, _)| format!("blobs/{}/{}", d.algorithm(), d.hex()));
    for (digest, size) in ordered {
        let source = |source: StoreError| ArchiveError::Source {
            digest: digest.clone(),
            store: store.root().to_owned(),
            source,
        };
        let blob: VerifiedBlob = store.get(digest, *size).ok_or_else(|| {
            source(StoreError::Missing {
                digest: digest.clone(),
                path: store.root().to_owned(),
            })
        })?;
        let file = blob.open().map_err(io_error("read", blob.path()))?;
        let mut reader = HashingReader {
            inner: file.take(*size),
            hasher: Hasher::new(digest.algorithm()),
            read: 0,
        };
        let name = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
        let mut h = header(tar::EntryType::Regular, *size, FILE_MODE);
        tar.append_data(&mut h, &name, &mut reader)
            .map_err(io_error("write", &temp_path))?;
        let HashingReader { hasher, read, .. } = reader;
        if read != *size {
            return Err(source(StoreError::WrongSize {
                digest: digest.clone(),
                path: blob.path().to_owned(),
                expected: *size,
                actual: read,
            }));
        }
        let actual = hasher.finish();
        if actual != *digest {
            return Err(source(StoreError::Corrupted {
                path: blob.path().to_owned(),
                expected: digest.clone(),
                actual,
            }));
        }
    }
    let temp = tar
        .into_inner()
        .map_err(io_error("write", &temp_path))?
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    temp.as_file()
        .sync_all()
        .map_err(io_error("sync", &temp_path))?;
    let size = temp
        .as_file()
        .metadata()
        .map_err(io_error("read", &temp_path))?
        .len();
    temp.persist(path).map_err(|e| ArchiveError::Io {
        what: "write",
        path: path.to_owned(),
        source: e.error,
    })?;
    if let Ok(dir) = File::open(&parent) {
        let _ = dir.sync_all();
    }
    Ok(size)
}

/// Bounds on what an import accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest blob (the project's `max-module-bytes`).
    pub blob: u64,
    /// The most bytes of entries in total.
    pub total: u64,
}

impl Limits {
    /// The bounds for a project: any blob up to `max-module-bytes`, and
    /// in total 256 times that.
    pub fn for_module_limit(module: u64) -> Limits {
        Limits {
            blob: module,
            total: module.saturating_mul(256),
        }
    }
}

/// A reader that remembers whether the file ended under a read that wanted
/// more: the mark of an archive cut short at an entry boundary (a complete
/// one ends with zero blocks the tar reader stops at first).
struct EofWatch<R> {
    inner: R,
    hit_eof: bool,
}

impl<R: Read> Read for EofWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        Ok(n)
    }
}

/// What an entry's name is, once checked.
enum Kind {
    Dir,
    Layout,
    Index,
    Blob(Digest),
}

/// Checks an entry name: relative, no `..`, and one of the names an OCI
/// layout has. A leading `./` (as `tar -C dir .` writes) is accepted.
fn classify(name: &str, is_dir: bool) -> Result<Kind, String> {
    if name.starts_with('/') {
        return Err("has an absolute path".to_owned());
    }
    if name.split('/').any(|part| part == "..") {
        return Err("climbs out of the archive with `..`".to_owned());
    }
    if name.contains('\\') || name.contains('\0') {
        return Err("has a backslash or NUL in its name".to_owned());
    }
    let trimmed = name.strip_prefix("./").unwrap_or(name);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if is_dir {
        return match trimmed {
            "" | "." | "blobs" | "blobs/sha256" | "blobs/sha512" => Ok(Kind::Dir),
            _ => Err(
                "is a directory outside `blobs/sha256` and `blobs/sha512`, which an OCI layout does not have"
                    .to_owned(),
            ),
        };
    }
    match trimmed {
        "oci-layout" => return Ok(Kind::Layout),
        "index.json" => return Ok(Kind::Index),
        _ => {}
    }
    let outside = || {
        "is not part of an OCI layout (only `oci-layout`, `index.json` and `blobs/<algorithm>/<hex>`)"
            .to_owned()
    };
    let rest = trimmed.strip_prefix("blobs/").ok_or_else(outside)?;
    let (algorithm, hex) = rest.split_once('/').ok_or_else(outside)?;
    let digest: Digest = format!("{algorithm}:{hex}")
        .parse()
        .map_err(|e| format!("is not named by a digest: {e}"))?;
    Ok(Kind::Blob(digest))
}

/// What an entry type is called in an error.
fn type_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::Continuous => "a contiguous file",
        tar::EntryType::GNUSparse => "a sparse file",
        _ => "of an unsupported type",
    }
}

/// The layout files as read from an archive.
#[derive(Deserialize)]
struct LayoutWire {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

#[derive(Deserialize)]
struct IndexWire {
    #[serde(rename = "schemaVersion")]
    schema_version: u64,
    manifests: Vec<DescriptorWire>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DescriptorWire {
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads the archive at `path` as a stream and imports every blob into
/// `store` through its verifying writer. `locked` holds the sizes the lock
/// records (a blob of another size is refused before it is read). On error,
/// blobs that already verified stay in the store (content-addressed, they
/// are correct); nothing is removed or half-written.
pub fn import(
    path: &Path,
    store: &Store,
    limits: Limits,
    locked: &BTreeMap<Digest, u64>,
) -> Result<Imported, ArchiveError> {
    let file = File::open(path).map_err(|source| ArchiveError::Io {
        what: "read",
        path: path.to_owned(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(
        CHUNK,
        EofWatch {
            inner: file,
            hit_eof: false,
        },
    );
    let head = io::BufRead::fill_buf(&mut reader).map_err(|source| ArchiveError::Io {
        what: "read",
        path: path.to_owned(),
        source,
    })?;
    let compressed = match head {
        [0x1f, 0x8b, ..] => Some("gzip"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd"),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some("xz"),
        [b'B', b'Z', b'h', ..] => Some("bzip2"),
        _ => None,
    };
    if let Some(format) = compressed {
        return Err(ArchiveError::Compressed {
            path: path.to_owned(),
            format,
        });
    }
    if head.is_empty() {
        return Err(ArchiveError::NotTar {
            path: path.to_owned(),
            detail: "the file is empty".to_owned(),
        });
    }
    let mut archive = tar::Archive::new(reader);
    let result = read_entries(path, &mut archive, store, limits, locked);
    let hit_eof = archive.into_inner().get_ref().hit_eof;
    if !hit_eof {
        return result;
    }
    // An archive that ended early explains whatever went wrong after it.
    Err(ArchiveError::Truncated {
        path: path.to_owned(),
        detail: match result {
            Err(ArchiveError::NotTar { detail, .. }) => detail,
            Err(ArchiveError::Blob {
                entry,
                source: StoreError::Truncated { expected, got, .. },
                ..
            }) => format!("entry `{entry}` ends after {got} of {expected} bytes"),
            _ => "it ends without the end-of-archive blocks".to_owned(),
        },
    })
}

/// The entry loop of [`import`]; also checks the index against the blobs.
fn read_entries<R: Read>(
    path: &Path,
    archive: &mut tar::Archive<R>,
    store: &Store,
    limits: Limits,
    locked: &BTreeMap<Digest, u64>,
) -> Result<Imported, ArchiveError> {
    let not_tar = |e: io::Error| ArchiveError::NotTar {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let refused = |entry: &str, reason: String| ArchiveError::Refused {
        path: path.to_owned(),
        entry: entry.to_owned(),
        reason,
    };
    let mut imported = Imported::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut layout_seen = false;
    let mut index: Option<IndexWire> = None;
    let mut total = 0u64;
    let mut count = 0usize;
    for entry in archive.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooLarge {
                path: path.to_owned(),
                what: "the number of entries".to_owned(),
                size: count as u64,
                limit: MAX_ENTRIES as u64,
            });
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let entry_type = entry.header().entry_type();
        let is_dir = entry_type.is_dir();
        if !(is_dir || entry_type.is_file()) {
            let mut reason = format!("is {}", type_name(entry_type));
            if let Ok(Some(target)) = entry.link_name() {
                reason.push_str(&format!(" to `{}`", target.display()));
            }
            return Err(refused(&name, reason));
        }
        let kind = classify(&name, is_dir).map_err(|reason| refused(&name, reason))?;
        let key = name
            .strip_prefix("./")
            .unwrap_or(&name)
            .trim_end_matches('/')
            .to_owned();
        if !seen.insert(key) {
            return Err(refused(
                &name,
                "appears twice (a later copy could replace what was checked)".to_owned(),
            ));
        }
        let size = entry.size();
        // Checked from the header, before any of the entry is read.
        let limit = match kind {
            Kind::Dir => 0,
            Kind::Layout => MAX_LAYOUT_BYTES,
            Kind::Index => MAX_INDEX_BYTES,
            Kind::Blob(_) => limits.blob,
        };
        if size > limit {
            return Err(ArchiveError::TooLarge {
                path: path.to_owned(),
                what: format!("entry `{name}`"),
                size,
                limit,
            });
        }
        total = total.saturating_add(size);
        if total > limits.total {
            return Err(ArchiveError::TooLarge {
                path: path.to_owned(),
                what: "the archive's content".to_owned(),
                size: total,
                limit: limits.total,
            });
        }
        match kind {
            Kind::Dir => {}
            Kind::Layout => {
                let bytes = read_small(path, &name, &mut entry, size)?;
                let layout: LayoutWire =
                    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Layout {
                        path: path.to_owned(),
                        problem: format!("oci-layout is not valid: {e}"),
                    })?;
                if !layout.version.starts_with("1.") {
                    return Err(ArchiveError::Layout {
                        path: path.to_owned(),
                        problem: format!(
                            "oci-layout has imageLayoutVersion {}, expected 1.x",
                            layout.version
                        ),
                    });
                }
                layout_seen = true;
            }
            Kind::Index => {
                let bytes = read_small(path, &name, &mut entry, size)?;
                let parsed: IndexWire =
                    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Layout {
                        path: path.to_owned(),
                        problem: format!("index.json is not a valid OCI image index: {e}"),
                    })?;
                if parsed.schema_version != 2 {
                    return Err(ArchiveError::Layout {
                        path: path.to_owned(),
                        problem: format!(
                            "index.json has schemaVersion {}, expected 2",
                            parsed.schema_version
                        ),
                    });
                }
                index = Some(parsed);
            }
            Kind::Blob(digest) => {
                if let Some(&want) = locked.get(&digest)
                    && want != size
                {
                    return Err(ArchiveError::LockSize {
                        path: path.to_owned(),
                        entry: name,
                        digest,
                        size,
                        locked: want,
                    });
                }
                imported.added += import_blob(path, &name, &mut entry, store, &digest, size)?;
                imported.blobs.insert(digest, size);
            }
        }
    }
    if !layout_seen {
        return Err(ArchiveError::Layout {
            path: path.to_owned(),
            problem: "it has no `oci-layout` file".to_owned(),
        });
    }
    let Some(index) = index else {
        return Err(ArchiveError::Layout {
            path: path.to_owned(),
            problem: "it has no `index.json`".to_owned(),
        });
    };
    check_index(path, index, &mut imported)?;
    Ok(imported)
}

/// Reads a small entry whole, checking it has the size its header claims.
fn read_small(
    path: &Path,
    name: &str,
    entry: &mut impl Read,
    size: u64,
) -> Result<Vec<u8>, ArchiveError> {
    let mut bytes = Vec::new();
    entry
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| ArchiveError::NotTar {
            path: path.to_owned(),
            detail: format!("entry `{name}`: {e}"),
        })?;
    if bytes.len() as u64 != size {
        return Err(ArchiveError::NotTar {
            path: path.to_owned(),
            detail: format!("entry `{name}` ends after {} of {size} bytes", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Streams one blob entry into the store, or only hashes it when the store
/// holds it already (its bytes must still match their name). Returns the
/// bytes added to the store.
fn import_blob(
    path: &Path,
    name: &str,
    entry: &mut impl Read,
    store: &Store,
    digest: &Digest,
    size: u64,
) -> Result<u64, ArchiveError> {
    let blob_error = |source: StoreError| ArchiveError::Blob {
        path: path.to_owned(),
        entry: name.to_owned(),
        source,
    };
    let read_error = |e: io::Error| ArchiveError::NotTar {
        path: path.to_owned(),
        detail: format!("entry `{name}`: {e}"),
    };
    let mut buf = vec![0u8; CHUNK];
    let mut entry = entry.take(size);
    if store.get(digest, size).is_some() {
        let mut hasher = Hasher::new(digest.algorithm());
        let mut got = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(read_error)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            got += n as u64;
        }
        if got != size {
            return Err(blob_error(StoreError::Truncated {
                digest: digest.clone(),
                expected: size,
                got,
            }));
        }
        let actual = hasher.finish();
        if actual != *digest {
            return Err(blob_error(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            }));
        }
        return Ok(0);
    }
    let mut writer = store.writer(digest, size).map_err(blob_error)?;
    loop {
        let n = entry.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        writer.write(&buf[..n]).map_err(blob_error)?;
    }
    writer.finish().map_err(blob_error)?;
    Ok(size)
}

/// Checks that every descriptor of `index.json` names a blob of the archive
/// with the size it claims, and that no ref name is given twice.
fn check_index(path: &Path, index: IndexWire, imported: &mut Imported) -> Result<(), ArchiveError> {
    let mut reasons = Vec::new();
    let mut names = BTreeSet::new();
    for (i, descriptor) in index.manifests.into_iter().enumerate() {
        let label = descriptor
            .annotations
            .get(REF_NAME)
            .map_or_else(|| format!("manifests[{i}]"), |n| format!("`{n}`"));
        let digest: Digest = match descriptor.digest.parse() {
            Ok(d) => d,
            Err(e) => {
                reasons.push(format!("{label} has an invalid digest: {e}"));
                continue;
            }
        };
        match imported.blobs.get(&digest) {
            None => reasons.push(format!(
                "{label} names {digest}, which is not in the archive"
            )),
            Some(&have) if have != descriptor.size => reasons.push(format!(
                "{label} says {digest} has {} bytes, the archive holds {have}",
                descriptor.size
            )),
            Some(_) => {}
        }
        if let Some(ref_name) = descriptor.annotations.get(REF_NAME) {
            if !names.insert(ref_name.clone()) {
                reasons.push(format!("{label} is named twice"));
            }
            imported.named.push(Named {
                ref_name: ref_name.clone(),
                digest,
                size: descriptor.size,
            });
        }
    }
    imported.lock = index
        .annotations
        .get(LOCK_ANNOTATION)
        .and_then(|d| d.parse().ok());
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(ArchiveError::IndexLies {
            path: path.to_owned(),
            reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_damaged_in_the_store_is_not_archived() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let bytes = b"module bytes";
        let digest = sha256(bytes);
        store.put(&digest, bytes).unwrap();
        let stored = store.get(&digest, bytes.len() as u64).unwrap();
        // Changed from outside, at the same size: `get` cannot see it.
        fs::write(stored.path(), b"MODULE BYTES").unwrap();
        let out = dir.path().join("out.tar");
        let blobs = BTreeSet::from([(digest.clone(), bytes.len() as u64)]);
        let err = write(&out, &store, &[], &blobs, &digest).unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::Source {
                    source: StoreError::Corrupted { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(!out.exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".lf-archive-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn names_outside_the_layout_are_refused() {
        for (name, dir) in [
            ("/etc/passwd", false),
            ("../x", false),
            ("blobs/../../x", false),
            ("blobs/sha256/../../x", false),
            ("blobs/md5/abc", false),
            ("blobs/sha256/ABC", false),
            ("blobs/sha256/abc", false),
            ("latticeflow.lock", false),
            ("blobs/sha256/x/", true),
            ("other/", true),
        ] {
            assert!(classify(name, dir).is_err(), "{name}");
        }
        let hex = "a".repeat(64);
        assert!(matches!(
            classify(&format!("blobs/sha256/{hex}"), false),
            Ok(Kind::Blob(_))
        ));
        assert!(matches!(
            classify(&format!("./blobs/sha256/{hex}"), false),
            Ok(Kind::Blob(_))
        ));
        assert!(matches!(classify("./", true), Ok(Kind::Dir)));
        assert!(matches!(classify("index.json", false), Ok(Kind::Index)));
    }
}
