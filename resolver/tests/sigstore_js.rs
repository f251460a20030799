//! Interoperability: a certification attestation bundle written by
//! lf-resolve's signing code verifies with sigstore-js (`@sigstore/verify`,
//! installed by `scripts/install-sigstore-js.sh`) using only the public key,
//! and its statement names the manifest digest. A tampered signature must be
//! refused by sigstore-js too, so the check cannot pass vacuously.
//!
//! Needs `LF_SIGSTORE_JS` (the install prefix). Without it the test fails
//! under CI (`CI=true`) and skips locally, saying why.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests: a skip says why"
)]

mod common;

use base64::Engine as _;
use lf_lockfile::Digest;
use lf_resolve::attest::TEST_RESULT_PREDICATE_TYPE;
use lf_resolve::sign::{SigningKey, dsse_bundle_v03_for, in_toto_statement_for};
use serde_json::json;

use common::{node_verify, sigstore_js};

#[test]
fn sigstore_js_verifies_our_test_result_attestation_and_refuses_a_tampered_one() {
    let Some(prefix) = sigstore_js() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let key_path = dir.path().join("cosign.pub");
    std::fs::write(&key_path, key.public_key_pem().unwrap()).unwrap();
    let manifest: Digest =
        "sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"
            .parse()
            .unwrap();
    let predicate = json!({
        "result": "PASSED",
        "configuration": [{"name": "tests/contract.yaml", "digest": {"sha256": "11".repeat(32)}}],
        "passedTests": ["echo"], "warnedTests": [], "failedTests": [],
    });
    let statement = in_toto_statement_for(
        &manifest,
        Some("registry.example/lf/hash"),
        TEST_RESULT_PREDICATE_TYPE,
        &predicate,
    );
    let bundle = dsse_bundle_v03_for(&key, &statement).unwrap();
    let bundle_path = dir.path().join("bundle.json");
    std::fs::write(&bundle_path, &bundle).unwrap();

    let verified = node_verify(&prefix, &bundle_path, &key_path, &manifest);
    assert_eq!(verified, Ok("verified PASSED\n".to_owned()));

    // The statement must name this manifest: another digest is refused.
    let other: Digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
        .parse()
        .unwrap();
    let wrong = node_verify(&prefix, &bundle_path, &key_path, &other).unwrap_err();
    assert!(wrong.contains("not sha256:1111"), "{wrong}");

    // One bit of the signature flipped: sigstore-js refuses it.
    let mut value: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64
        .decode(
            value["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    value["dsseEnvelope"]["signatures"][0]["sig"] = b64.encode(sig).into();
    std::fs::write(&bundle_path, serde_json::to_vec(&value).unwrap()).unwrap();
    let tampered = node_verify(&prefix, &bundle_path, &key_path, &manifest).unwrap_err();
    assert!(
        tampered.contains("refused the bundle") && tampered.contains("SIGNATURE_ERROR"),
        "{tampered}"
    );

    // And another key does not verify the original.
    std::fs::write(&bundle_path, &bundle).unwrap();
    let stranger = SigningKey::generate().unwrap();
    std::fs::write(&key_path, stranger.public_key_pem().unwrap()).unwrap();
    let unlisted = node_verify(&prefix, &bundle_path, &key_path, &manifest).unwrap_err();
    assert!(unlisted.contains("refused the bundle"), "{unlisted}");
}
