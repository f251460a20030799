//! The compiled-code cache: components compiled once per machine, not once
//! per process.
//!
//! Cranelift needs seconds for a large component (a Python or JavaScript
//! runtime is 12–18 MB of WebAssembly), and a generated application would pay
//! that at every start. So the native code wasmtime produces is kept on disk,
//! keyed by the component's SHA-256 *and* a SHA-256 of the engine's
//! compatibility hash (wasmtime version, target, CPU features, and the
//! settings that change code, such as fuel and epochs), so a different engine
//! never even looks at another engine's entries.
//!
//! Loading native code is the one place where lf-runtime needs `unsafe`:
//! wasmtime runs whatever machine code a serialized artifact contains, so it
//! must only ever see bytes it wrote itself, unmodified. The cache keeps that
//! promise as follows, and [`deserialize_checked`] is the only function that
//! relies on it:
//!
//! - entries live in a directory only this user may write (created `0700`;
//!   a directory writable by group or others, or a symlink, disables the
//!   cache);
//! - an entry is written to a fresh temporary file and renamed into place, so
//!   a reader never sees half an entry;
//! - every entry ends with the CRC-32 of what precedes it; the file is read
//!   into memory once (opened without following symlinks: the opened file
//!   must be the regular file that was checked), the checksum is checked over
//!   exactly the bytes handed to wasmtime, and a mismatch — a truncated,
//!   flipped or partly written file — falls back to compiling and rewrites
//!   the entry.
//!
//! A checksum, not a cryptographic digest: it sits in the same file as what
//! it covers, so whoever could forge the entry could forge any digest too
//! (and the directory is this user's alone); against accidental damage a
//! CRC-32 is as good, and over a 42 MB entry it costs a few milliseconds
//! where SHA-256 cost about 25 of a start whose target is 100 (the first
//! invoke of a 12 MB JavaScript component from the cache went from 128 to
//! 89 ms, release, `scripts/bench/component_start.sh`).
//!
//! Reading into memory instead of `Component::deserialize_file` (which maps
//! the file) costs a copy of the artifact, a few milliseconds, and closes the
//! window in which the mapped file could change after it was checked.
//!
//! A cache that cannot be read or written is never an error: the component
//! is compiled as if there were no cache.
//!
//! Measured on a busy 2-core machine (December 2026, wasmtime 48), building
//! the node of an 18.3 MB componentize-py component / a 12.0 MB
//! componentize-js component:
//!
//! | build | compile | from the cache |
//! |---|---|---|
//! | release | 14.1 s / 15.7 s | 0.12 s / 0.09 s |
//! | dev, Cranelift at opt-level 3 (the workspace's profile) | 19 s / 26 s | 0.12 s / 0.10 s |
//! | dev, Cranelift unoptimised | 262 s / 290 s | 0.17 s / 0.11 s |

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The environment variable naming the cache directory (`off` disables it).
pub const CODE_CACHE_ENV: &str = "LF_CODE_CACHE";

/// The entry format, in the file name: entries written with another
/// trailer (the SHA-256 of earlier builds) are never read.
const ENTRY_FORMAT: &str = "crc32";

/// The length of the checksum after the artifact.
const TRAILER: usize = 4;

/// The largest cache entry read back (larger files are ignored).
const MAX_ENTRY_BYTES: u64 = 2 << 30;

/// Where a component's native code came from when its node was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled by Cranelift now (and written to the cache when it has one).
    Compiled,
    /// Loaded from the compiled-code cache.
    Cached,
}

/// Where compiled components are kept between processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeCache {
    dir: Option<PathBuf>,
}

impl CodeCache {
    /// The cache in `dir` (created when first written).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        CodeCache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every node compiles its component.
    pub fn disabled() -> Self {
        CodeCache { dir: None }
    }

    /// `$LF_CODE_CACHE` when set (`off` or empty disables the cache),
    /// otherwise `latticeflow/wasmtime` in the platform's cache directory
    /// (`$XDG_CACHE_HOME` or `~/.cache` on Linux), or no cache when there is
    /// none.
    pub fn from_env() -> Self {
        match std::env::var_os(CODE_CACHE_ENV) {
            Some(v) if v.is_empty() || v == "off" => CodeCache::disabled(),
            Some(v) => CodeCache::at(PathBuf::from(v)),
            None => CodeCache {
                dir: dirs::cache_dir().map(|d| d.join("latticeflow").join("wasmtime")),
            },
        }
    }

    /// The cache directory, if there is one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The path of the entry for a component with `component_sha256_hex` on
    /// `engine`, if there is a cache.
    pub(crate) fn entry_path(
        &self,
        engine: &Engine,
        component_sha256_hex: &str,
    ) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join("components").join(format!(
            "{component_sha256_hex}-{}.{ENTRY_FORMAT}.cwasm",
            engine_key(engine)
        )))
    }

    /// The component for `bytes`, from the cache or compiled (and then
    /// cached). Only compilation errors are errors.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256_hex: &str,
    ) -> wasmtime::Result<(Component, CodeSource)> {
        let path = self.entry_path(engine, component_sha256_hex);
        if let Some(path) = &path
            && let Some(artifact) = read_entry(path)
            && let Ok(component) = deserialize_checked(engine, &artifact)
        {
            return Ok((component, CodeSource::Cached));
        }
        let component = Component::from_binary(engine, bytes)?;
        if let Some(path) = &path
            && let Ok(artifact) = component.serialize()
        {
            // Best effort: a cache that cannot be written is not an error.
            let _ = write_entry(path, &artifact);
        }
        Ok((component, CodeSource::Compiled))
    }
}

/// A checked artifact: bytes that are, by construction, the unmodified
/// output of `Component::serialize` as this process's cache wrote it.
pub(crate) struct CheckedArtifact(Vec<u8>);

/// Loads a checked cache entry into `engine`.
///
/// # Safety argument (the only `unsafe` in lf-runtime)
///
/// `Component::deserialize` requires its bytes to be the unmodified output
/// of `Component::serialize` (or `Engine::precompile_component`): wasmtime
/// maps them as executable code. A [`CheckedArtifact`] can only be made by
/// [`read_entry`], which hands out bytes only when
///
/// 1. they were read from a regular file (not a symlink; the opened file is
///    the one checked) in a cache directory that is not writable by group or
///    others, i.e. written by this user, and only by [`write_entry`];
/// 2. their CRC-32 matches the checksum [`write_entry`] appended after
///    `Component::serialize`'s output, so they are what was serialized: a
///    truncated, flipped or partly written file is refused.
///
/// An artifact from another wasmtime version, configuration or CPU passes
/// those checks but is refused safely by wasmtime itself (an `Err`), and the
/// entry key already separates engines. What the checks cannot stop is this
/// same user deliberately forging an entry together with its checksum; that
/// user can already run any code as themselves.
#[allow(unsafe_code)]
fn deserialize_checked(engine: &Engine, artifact: &CheckedArtifact) -> wasmtime::Result<Component> {
    // SAFETY: see the function's documentation: the bytes are the unmodified
    // output of `Component::serialize` written by this cache.
    unsafe { Component::deserialize(engine, &artifact.0) }
}

/// A SHA-256 of the engine's compatibility hash, hex, shortened.
fn engine_key(engine: &Engine) -> String {
    use std::hash::Hash as _;
    struct Sha(Sha256);
    impl std::hash::Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `dir` is a real directory (not a symlink) that only its owner
/// may write.
fn private_dir(dir: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o022 != 0 {
            return false;
        }
    }
    true
}

/// The artifact in the entry at `path`, if it is there and intact.
fn read_entry(path: &Path) -> Option<CheckedArtifact> {
    if !private_dir(path.parent()?) {
        return None;
    }
    let checked = fs::symlink_metadata(path).ok()?;
    if !checked.is_file() || checked.len() > MAX_ENTRY_BYTES || checked.len() <= TRAILER as u64 {
        return None;
    }
    let mut file = fs::File::open(path).ok()?;
    let opened = file.metadata().ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if (opened.dev(), opened.ino()) != (checked.dev(), checked.ino()) {
            return None;
        }
    }
    if !opened.is_file() {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(opened.len()).ok()?);
    std::io::Read::by_ref(&mut file)
        .take(MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    let split = bytes.len().checked_sub(TRAILER)?;
    let (artifact, trailer) = bytes.split_at(split);
    if crc32fast::hash(artifact).to_le_bytes().as_slice() != trailer {
        return None;
    }
    bytes.truncate(split);
    Some(CheckedArtifact(bytes))
}

/// Writes `artifact` and its CRC-32 to a temporary file beside `path` and
/// renames it into place.
fn write_entry(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    create_private_dir(dir)?;
    if !private_dir(dir) {
        return Err(std::io::Error::other(
            "the cache directory is a symlink or writable by others",
        ));
    }
    let name = path
        .file_name()
        .ok_or(std::io::ErrorKind::InvalidInput)?
        .to_string_lossy();
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fastrand_suffix()
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(artifact)?;
        file.write_all(&crc32fast::hash(artifact).to_le_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// A suffix that differs between threads and calls of one process.
fn fastrand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    NEXT.fetch_add(1, Ordering::Relaxed) ^ (u64::from(nanos) << 20)
}

/// Creates `dir` and its missing parents, owner-only on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}
