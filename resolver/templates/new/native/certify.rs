//! Certifies the node against tests/contract.yaml with lf-certify: it is
//! registered in a real `NodeRegistry`, as an application registers it, and
//! every case runs with the capabilities the case scripts; then determinism,
//! idempotency and the declared capabilities are checked. The test fails
//! with the harness's report when the result is FAILED (WARNED passes: it
//! means something declared is not exercised by any case).

use std::path::Path;

#[test]
fn certified() {
    let mut registry = lf_runtime::host::NodeRegistry::new();
    {{crate}}::{{node}}_register(&mut registry).expect("the node registers");
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract.yaml");
    lf_certify::assert_certified(&registry, "{{id}}", &contract);
}
