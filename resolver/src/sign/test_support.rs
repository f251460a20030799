//! Independent checks of what `sign` produces, shared by its tests.

use std::process::Command;

use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

/// Verifies with the `openssl` command line: an implementation that shares
/// no code with ours or sigstore's.
pub(crate) fn openssl_verifies(public_pem: &str, message: &[u8], der_sig: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let pub_pem = write("pub.pem", public_pem.as_bytes());
    let sig = write("sig.der", der_sig);
    let payload = write("payload", message);
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pub_pem)
        .arg("-signature")
        .arg(&sig)
        .arg(&payload)
        .output()
        .expect("the `openssl` command must be installed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    out.status.success() && stdout.trim() == "Verified OK"
}

/// Verifies with `sigstore`'s `CosignVerificationKey`, as cosign-rs users would.
pub(crate) fn sigstore_verifies(public_pem: &str, message: &[u8], der_sig: &[u8]) -> bool {
    let key = CosignVerificationKey::from_pem(
        public_pem.as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    key.verify_signature(Signature::Raw(der_sig), message)
        .is_ok()
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
