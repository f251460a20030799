//! Cosign-compatible signing for connector authors: cosign's encrypted key
//! format (read and written through `sigstore`'s key handling, so scrypt and
//! secretbox are not reimplemented here), cosign's simple-signing payload,
//! and the sigstore v0.3 bundle (DSSE over an in-toto statement).
//!
//! Secrets never leave this module: keys have no `Debug` output of their
//! material, and errors never include a password.

use base64::Engine as _;
use lf_lockfile::{Algorithm, Digest};
use sha2::Digest as _;
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::{SigStoreKeyPair, SigStoreSigner};

use crate::verify::cosign::{
    COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, pae,
};

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The password does not decrypt the key.
    #[error("the password does not decrypt this key (set COSIGN_PASSWORD to the key's password)")]
    WrongPassword,
    /// Not a cosign private key.
    #[error("not a cosign private key: {0}")]
    Malformed(String),
    /// Not an ECDSA P-256 key.
    #[error("only ECDSA P-256 cosign keys are supported (this one is {0})")]
    Unsupported(String),
    /// No password available.
    #[error("{0}")]
    NoPassword(String),
    /// Signing or encoding failed.
    #[error("{0}")]
    Crypto(String),
}

/// An ECDSA P-256 cosign signing key.
pub struct SigningKey {
    pair: SigStoreKeyPair,
    signer: SigStoreSigner,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint().to_string())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_pair(pair: SigStoreKeyPair) -> Result<SigningKey, KeyError> {
        if !matches!(pair, SigStoreKeyPair::ECDSA(_)) {
            return Err(KeyError::Unsupported(pair.to_string()));
        }
        let signer = pair
            .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
            .map_err(|e| KeyError::Unsupported(e.to_string()))?;
        let spki_der = pair
            .public_key_to_der()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(SigningKey {
            pair,
            signer,
            spki_der,
        })
    }

    /// Reads a key written by `cosign generate-key-pair` (PEM label
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` or the older `ENCRYPTED COSIGN
    /// PRIVATE KEY`), decrypting it with `password`.
    pub fn from_cosign_pem(pem: &[u8], password: &[u8]) -> Result<SigningKey, KeyError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| KeyError::Malformed("the file is not text".to_owned()))?;
        let label = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
            })
            .ok_or_else(|| KeyError::Malformed("no PEM block".to_owned()))?;
        if !matches!(
            label,
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY"
        ) {
            return Err(KeyError::Malformed(format!(
                "the PEM block is `{label}`, expected `ENCRYPTED SIGSTORE PRIVATE KEY` (what `cosign generate-key-pair` writes)"
            )));
        }
        // Cosign's old label holds the same JSON; sigstore reads the new one.
        let normalised = text.replace(
            "ENCRYPTED COSIGN PRIVATE KEY",
            "ENCRYPTED SIGSTORE PRIVATE KEY",
        );
        let body = pem::parse(normalised.as_bytes())
            .map_err(|e| KeyError::Malformed(format!("bad PEM: {e}")))?;
        let envelope: serde_json::Value =
            serde_json::from_slice(body.contents()).map_err(|_| {
                KeyError::Malformed("the PEM body is not cosign's encrypted-key JSON".to_owned())
            })?;
        if envelope.get("kdf").is_none() || envelope.get("ciphertext").is_none() {
            return Err(KeyError::Malformed(
                "the encrypted-key JSON lacks `kdf` or `ciphertext`".to_owned(),
            ));
        }
        let pair = SigStoreKeyPair::from_encrypted_pem(normalised.as_bytes(), password)
            .map_err(|_| KeyError::WrongPassword)?;
        SigningKey::from_pair(pair)
    }

    /// A new random key.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let pair = signer
            .to_sigstore_keypair()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        SigningKey::from_pair(pair)
    }

    /// The encrypted PEM `cosign generate-key-pair` writes.
    pub fn to_cosign_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        self.pair
            .private_key_to_encrypted_pem(password)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// The public key as `cosign.pub` holds it (SPKI, PEM `PUBLIC KEY`).
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        self.pair
            .public_key_to_pem()
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// sha256 of the public key's SPKI DER: how the lock names a signer.
    pub fn fingerprint(&self) -> Digest {
        Digest::from_bytes(Algorithm::Sha256, &sha2::Sha256::digest(&self.spki_der))
    }

    /// An ASN.1 DER ECDSA P-256 signature over SHA-256(`message`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer
            .sign(message)
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }
}

/// Cosign's simple-signing payload for `manifest_digest`, byte for byte as
/// `cosign sign` writes it.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &Digest) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        critical: Critical<'a>,
        optional: Option<()>,
    }
    #[derive(serde::Serialize)]
    struct Critical<'a> {
        identity: Identity<'a>,
        image: Image,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Identity<'a> {
        #[serde(rename = "docker-reference")]
        docker_reference: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    serde_json::to_vec(&Payload {
        critical: Critical {
            identity: Identity { docker_reference },
            image: Image {
                digest: manifest_digest.to_string(),
            },
            kind: "cosign container image signature",
        },
        optional: None,
    })
    .unwrap_or_default()
}

/// A sigstore bundle v0.3 holding a DSSE envelope over an in-toto statement
/// (predicate `https://sigstore.dev/cosign/sign/v1`) about `manifest_digest`.
pub fn dsse_bundle_v03(
    key: &SigningKey,
    manifest_digest: &Digest,
    name: Option<&str>,
) -> Result<Vec<u8>, KeyError> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut subject = serde_json::json!({ "digest": { manifest_digest.algorithm().as_str(): manifest_digest.hex() } });
    if let Some(name) = name {
        subject["name"] = serde_json::Value::from(name);
    }
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": COSIGN_SIGN_PREDICATE_TYPE,
        "predicate": {},
    }))
    .map_err(|e| KeyError::Crypto(e.to_string()))?;
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement))?;
    serde_json::to_vec(&serde_json::json!({
        "mediaType": SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": { "hint": b64(&sha2::Sha256::digest(&key.spki_der)) },
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": b64(&statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{ "sig": b64(&signature), "keyid": "" }],
        },
    }))
    .map_err(|e| KeyError::Crypto(e.to_string()))
}

/// The key password: `COSIGN_PASSWORD` (which may be empty), or a prompt
/// when stdin is a terminal (asked twice when `confirm`).
pub fn password_from_env_or_prompt(confirm: bool) -> Result<String, KeyError> {
    if let Ok(password) = std::env::var("COSIGN_PASSWORD") {
        return Ok(password);
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoPassword(
            "no password: set COSIGN_PASSWORD (it may be empty), or run on a terminal to be asked"
                .to_owned(),
        ));
    }
    let first = rpassword::prompt_password("Enter password for private key: ")
        .map_err(|e| KeyError::NoPassword(format!("cannot read the password: {e}")))?;
    if confirm {
        let again = rpassword::prompt_password("Enter password for private key again: ")
            .map_err(|e| KeyError::NoPassword(format!("cannot read the password: {e}")))?;
        if again != first {
            return Err(KeyError::NoPassword(
                "the passwords do not match".to_owned(),
            ));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COSIGN_KEY: &[u8] =
        include_bytes!("../../tests/data/sign/cosign_generated_encrypted_empty_private.key");

    #[test]
    fn a_key_written_by_cosign_loads_and_signs_verifiably() {
        let key = SigningKey::from_cosign_pem(COSIGN_KEY, b"").unwrap();
        let message = b"hello";
        let signature = key.sign(message).unwrap();
        let public = key.public_key_pem().unwrap();
        let trusted =
            crate::verify::cosign::TrustedKey::from_pem(public.as_bytes(), "test").unwrap();
        assert_eq!(trusted.fingerprint(), &key.fingerprint());
        let vk = sigstore::crypto::CosignVerificationKey::from_pem(
            public.as_bytes(),
            &SigningScheme::ECDSA_P256_SHA256_ASN1,
        )
        .unwrap();
        vk.verify_signature(sigstore::crypto::Signature::Raw(&signature), message)
            .unwrap();
    }

    #[test]
    fn wrong_passwords_and_garbage_are_clear_errors() {
        assert!(matches!(
            SigningKey::from_cosign_pem(COSIGN_KEY, b"nope"),
            Err(KeyError::WrongPassword)
        ));
        assert!(matches!(
            SigningKey::from_cosign_pem(b"garbage", b""),
            Err(KeyError::Malformed(_))
        ));
        let truncated = &COSIGN_KEY[..COSIGN_KEY.len() / 2];
        assert!(matches!(
            SigningKey::from_cosign_pem(truncated, b""),
            Err(KeyError::Malformed(_))
        ));
        let public = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let err = SigningKey::from_cosign_pem(public, b"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`PUBLIC KEY`"), "{err}");
    }

    #[test]
    fn generated_keys_round_trip_through_cosigns_format() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_cosign_pem(b"pw").unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
            "{pem}"
        );
        let back = SigningKey::from_cosign_pem(pem.as_bytes(), b"pw").unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        assert!(matches!(
            SigningKey::from_cosign_pem(pem.as_bytes(), b"other"),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn what_we_sign_verifies_with_openssl() {
        let Ok(status) = std::process::Command::new("openssl")
            .arg("version")
            .output()
        else {
            return;
        };
        assert!(status.status.success());
        let key = SigningKey::generate().unwrap();
        let digest: Digest =
            "sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"
                .parse()
                .unwrap();
        let payload = simple_signing_payload("registry.example/a/b", &digest);
        let signature = key.sign(&payload).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pub.pem"), key.public_key_pem().unwrap()).unwrap();
        std::fs::write(dir.path().join("payload"), &payload).unwrap();
        std::fs::write(dir.path().join("sig.der"), &signature).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.der",
                "payload",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
            "{out:?}"
        );
    }

    #[test]
    fn the_payload_is_cosigns_format_and_bundles_verify() {
        let digest: Digest =
            "sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"
                .parse()
                .unwrap();
        let payload = simple_signing_payload("docker.io/library/busybox", &digest);
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"docker.io/library/busybox"},"image":{"docker-manifest-digest":"sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"},"type":"cosign container image signature"},"optional":null}"#
        );
        let key = SigningKey::generate().unwrap();
        let bundle = dsse_bundle_v03(&key, &digest, Some("registry.example/a")).unwrap();
        let trusted = crate::verify::cosign::TrustedKey::from_pem(
            key.public_key_pem().unwrap().as_bytes(),
            "k",
        )
        .unwrap();
        let signer = crate::verify::cosign::verify_bundle_v03(
            &bundle,
            &digest,
            std::slice::from_ref(&trusted),
        )
        .unwrap();
        assert_eq!(
            signer,
            crate::verify::cosign::Signer::Key(key.fingerprint())
        );
    }
}
