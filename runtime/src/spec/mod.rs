//! The connector vocabulary: capabilities, effects, value types and the
//! connector manifest (`connector.yaml`).
//!
//! Everything here is plain data with validation at construction, so a value of
//! these types is always one DESIGN.md allows.

mod capability;

pub use capability::{Capability, UnknownCapability};
