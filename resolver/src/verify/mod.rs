//! Checks that decide whether bytes may enter a lock: the module's ABI and
//! capability imports (and, with the signature issue, cosign signatures).

pub mod cosign;
pub mod module;
pub mod policy;
