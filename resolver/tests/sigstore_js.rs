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

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use lf_lockfile::Digest;
use lf_resolve::attest::TEST_RESULT_PREDICATE_TYPE;
use lf_resolve::sign::{SigningKey, dsse_bundle_v03_for, in_toto_statement_for};
use serde_json::json;

/// The install prefix, or `None` (after saying why) when the test may skip.
fn sigstore_js() -> Option<PathBuf> {
    match std::env::var_os("LF_SIGSTORE_JS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("node_modules/@sigstore/verify/package.json")
                    .is_file(),
                "LF_SIGSTORE_JS={} has no @sigstore/verify: run scripts/install-sigstore-js.sh",
                dir.display()
            );
            Some(dir)
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "LF_SIGSTORE_JS is unset under CI: run `eval \"$(scripts/install-sigstore-js.sh)\"` (scripts/test.sh does)"
        ),
        None => {
            eprintln!(
                "skipping: LF_SIGSTORE_JS is unset; run `eval \"$(scripts/install-sigstore-js.sh)\"` to check sigstore-js interoperability"
            );
            None
        }
    }
}

/// Runs the verifier script; `Ok(stdout)` or `Err(stderr)`.
fn node_verify(
    prefix: &Path,
    bundle: &Path,
    key: &Path,
    subject: &Digest,
) -> Result<String, String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-js/verify-attestation.cjs");
    let out = Command::new("node")
        .arg(script)
        .arg(bundle)
        .arg(key)
        .arg(subject.to_string())
        .arg(TEST_RESULT_PREDICATE_TYPE)
        .env("NODE_PATH", prefix.join("node_modules"))
        .output()
        .expect("node runs (scripts/install-sigstore-js.sh installs it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

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
