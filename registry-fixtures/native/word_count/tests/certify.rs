//! Certifies the node, registered in a real `NodeRegistry` exactly as an
//! application registers it, against `tests/contract.yaml` with the
//! certification harness (`lf-certify`): every case, determinism over
//! several runs, idempotency, and the capabilities it declares.

use std::path::Path;

use lf_certify::Verdict;
use lf_runtime::host::NodeRegistry;

#[test]
fn certified_passed() {
    let mut registry = NodeRegistry::new();
    lf_native_word_count::word_count_register(&mut registry).expect("the node registers");
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract.yaml");
    let evidence =
        lf_certify::assert_certified(&registry, "connector.native.text.word_count", &contract);
    assert_eq!(
        evidence.result(),
        Verdict::Passed,
        "{}",
        evidence.human_report()
    );
}
