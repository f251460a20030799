//! `lf-runtime`: what a latticeflow node *is*, shared by every other crate.
//!
//! [`spec`] is the vocabulary — capabilities, effects, value types, the
//! connector manifest — and is cheap to compile, so `lf-lockfile` and
//! `lf-wrapper-gen` depend on this crate with `default-features = false`.
//! `host` (feature `host`, on by default) is the node registry and the
//! wasmtime host for ABI v1 (docs/abi.md).
//!
//! This crate must never depend on the resolver, and `spec` must never make its
//! users compile wasmtime.

#[cfg(feature = "host")]
pub mod host;
pub mod spec;
