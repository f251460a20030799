//! Checks that decide whether bytes may enter a lock: the module's ABI and
//! capability imports, a component's world and imports (ABI v2), and cosign
//! signatures.

pub mod component;
pub mod cosign;
pub mod module;
pub mod policy;
