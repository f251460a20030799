//! End-to-end tests of `lf-resolve` against a real registry live in `tests/`;
//! this library is empty on purpose.
