//! `lf-wrapper-gen`: turns a connector manifest and its locked lockfile entry
//! into the files of a vendored wrapper crate (DESIGN.md, "Wrapper crates").
//!
//! It is a pure function of its inputs: it must never touch the network, the
//! cache layout or the registry, so that `generate --check` is reproducible on
//! any machine.

pub mod naming;

pub use naming::{
    NameCollision, NodeNames, RUST_KEYWORDS, RustIdent, camel_case, check_collisions, crate_name,
    field_idents, rust_ident,
};
