//! `lf-registry-fixtures`: real parts for tests and the demo.
//!
//! It starts a real CNCF distribution registry (Debian's `docker-registry`) on
//! 127.0.0.1, and will carry the sample connectors and the fault-injecting
//! proxy. It must never be linked into the `lf-resolve` binary.
