//! `lf-lockfile`: the models of `latticeflow.toml` and `latticeflow.lock`.
//!
//! It owns parsing with spans (so every error names file, line and column),
//! validation, the deterministic lockfile writer, and the staleness check that
//! says why a lock no longer satisfies a config. It also owns the two value
//! types every other crate passes around: [`Digest`] and [`Reference`].
//!
//! It must never do I/O beyond reading or writing the path it is given: whether
//! a key file exists, or what a registry serves, is the resolver's business.

mod config;
mod diagnostic;
mod digest;
mod lock;
mod name;
mod reference;

pub use config::{
    CONFIG_FILE, CertificationMode, CertificationPolicy, Config, ConfigPath, ConnectorConfig,
    Generate, Network, Policy, Protocol, ReadError, RegistrySettings, RuntimeDependency,
    SignatureMode, SignaturePolicy, Trust, split_mirror,
};
pub use diagnostic::Diagnostic;
pub use digest::{Algorithm, Digest, DigestError};
pub use lock::{
    Abi, BlobRef, CertificationEntry, CertificationResult, InvalidEntry, LOCK_FILE, LOCK_HEADER,
    LOCK_VERSION, LockError, LockedConnector, Lockfile, SidecarRef, SignatureEntry,
    SignatureFormat, Signer, Stale, VerifiedCertification, VerifiedSignature, path_string,
    write_atomic,
};
pub use name::{ConnectorName, InvalidName, MAX_NAME_LEN};
pub use reference::{Reference, ReferenceError, validate_registry_host};
