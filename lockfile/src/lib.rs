//! `lf-lockfile`: the models of `latticeflow.toml` and `latticeflow.lock`.
//!
//! It owns parsing with spans (so every error names file, line and column),
//! validation, the deterministic lockfile writer, and the staleness check that
//! says why a lock no longer satisfies a config. It also owns the two value
//! types every other crate passes around: [`Digest`] and [`Reference`].
//!
//! It must never do I/O beyond reading or writing the path it is given: whether
//! a key file exists, or what a registry serves, is the resolver's business.

mod digest;
mod reference;

pub use digest::{Algorithm, Digest, DigestError};
pub use reference::{Reference, ReferenceError};
