//! The `lf-resolve` binary.
fn main() {}
