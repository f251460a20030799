//! `lf-resolve`: resolves the connectors listed in `latticeflow.toml` to exact
//! OCI digests, verifies them, and records them in `latticeflow.lock`.
//!
//! The library holds the commands; `main.rs` only parses arguments, runs one
//! and maps its outcome to an exit code. This crate must never know how Rust
//! wrapper code is generated (that is `lf-wrapper-gen`).
