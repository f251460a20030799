//! [`SigningKey`]: cosign's encrypted ECDSA P-256 key, read and written with
//! `sigstore`'s key API.
//!
//! `sigstore`'s own loader folds every failure into "Unsupported key type", so
//! the envelope is checked here first, field by field: once it is well formed,
//! a failed decryption can only mean the password is wrong (or the ciphertext
//! was damaged, which the secretbox MAC cannot tell apart).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lf_lockfile::{Algorithm, Digest};
use sha2::{Digest as _, Sha256};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::signing_key::{
    COSIGN_PRIVATE_KEY_PEM_LABEL, PUBLIC_KEY_PEM_LABEL, SIGSTORE_PRIVATE_KEY_PEM_LABEL,
    SigStoreKeyPair, SigStoreSigner, kdf,
};
use sigstore::errors::SigstoreError;
use zeroize::Zeroizing;

use super::KeyError;

/// scrypt cost parameters `sigstore` can decrypt: cosign's legacy (N=2^15) and
/// standard (N=2^16) settings, both with r=8, p=1.
const SCRYPT_N: [u64; 2] = [32_768, 65_536];
const SCRYPT_R: u64 = 8;
const SCRYPT_P: u64 = 1;
/// XSalsa20 nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length: the shortest possible ciphertext.
const TAG_LEN: usize = 16;

/// An ECDSA P-256 private key in cosign's format, ready to sign.
///
/// `Debug` shows only the public fingerprint.
pub struct SigningKey {
    keys: SigStoreKeyPair,
    signer: SigStoreSigner,
    spki_der: Vec<u8>,
}

impl SigningKey {
    /// Loads a cosign encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`,
    /// or the older `ENCRYPTED COSIGN PRIVATE KEY`) with its password.
    ///
    /// # Errors
    /// [`KeyError::WrongPassword`] when the password does not decrypt the key;
    /// [`KeyError::Malformed`] naming what is wrong with the file;
    /// [`KeyError::UnsupportedKey`] for a valid cosign key that is not ECDSA P-256.
    pub fn from_cosign_pem(pem: &[u8], password: &[u8]) -> Result<SigningKey, KeyError> {
        let envelope = parse_envelope(pem)?;
        let der = match kdf::decrypt(&envelope, password) {
            Ok(der) => Zeroizing::new(der),
            // sigstore reports a failed secretbox open as an *encrypt* error.
            Err(SigstoreError::PrivateKeyEncryptError(_)) => return Err(KeyError::WrongPassword),
            Err(e) => {
                return Err(malformed(format!(
                    "the encrypted key could not be opened ({e})"
                )));
            }
        };
        let keys = SigStoreKeyPair::from_der(&der).map_err(|_| {
            malformed("the decrypted content is not a PKCS#8 private key".to_owned())
        })?;
        SigningKey::from_keypair(keys)
    }

    /// Generates a new random ECDSA P-256 key, as `cosign generate-key-pair` does.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the random number generator fails.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let keys = ECDSAKeys::new(EllipticCurve::P256).map_err(crypto("generate a key"))?;
        SigningKey::from_keypair(SigStoreKeyPair::ECDSA(keys))
    }

    fn from_keypair(keys: SigStoreKeyPair) -> Result<SigningKey, KeyError> {
        match &keys {
            SigStoreKeyPair::ECDSA(ECDSAKeys::P256(_)) => {}
            SigStoreKeyPair::ECDSA(other) => {
                return Err(KeyError::UnsupportedKey {
                    kind: other.to_string(),
                });
            }
            SigStoreKeyPair::ED25519(_) => {
                return Err(KeyError::UnsupportedKey {
                    kind: "Ed25519".to_owned(),
                });
            }
            SigStoreKeyPair::RSA(_) => {
                return Err(KeyError::UnsupportedKey {
                    kind: "RSA".to_owned(),
                });
            }
        }
        let signer = keys
            .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
            .map_err(|e| malformed(format!("the P-256 key cannot sign ({e})")))?;
        let spki_der = keys
            .public_key_to_der()
            .map_err(|e| malformed(format!("the public key cannot be encoded ({e})")))?;
        Ok(SigningKey {
            keys,
            signer,
            spki_der,
        })
    }

    /// The private key encrypted with `password`, as the `cosign.key` that
    /// `cosign generate-key-pair` writes: PEM label `ENCRYPTED SIGSTORE PRIVATE
    /// KEY`, LF line endings, 64-column base64 of the JSON envelope
    /// `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":
    /// "nacl/secretbox","nonce"},"ciphertext"}` over the PKCS#8 DER.
    ///
    /// The scrypt cost is `sigstore`'s, N=2^15 (r=8, p=1): cosign's "legacy"
    /// setting, which every cosign release decrypts; current cosign itself
    /// writes N=2^16.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the key cannot be exported or encrypted.
    pub fn to_cosign_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        let der = self
            .keys
            .private_key_to_der()
            .map_err(crypto("encrypt the key"))?;
        let envelope = kdf::encrypt(&der, password).map_err(crypto("encrypt the key"))?;
        Ok(encode_pem(SIGSTORE_PRIVATE_KEY_PEM_LABEL, envelope))
    }

    /// The public key as a `PUBLIC KEY` (SPKI) PEM with LF line endings, the
    /// content of the `cosign.pub` cosign writes beside `cosign.key`.
    ///
    /// # Errors
    /// None today (the SPKI was encoded when the key was loaded); fallible so
    /// that the `generate-key` command handles every step the same way.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        Ok(encode_pem(PUBLIC_KEY_PEM_LABEL, self.spki_der.clone()))
    }

    /// The DER-encoded SubjectPublicKeyInfo of the public key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's fingerprint as the lock records it: sha256 of the SPKI DER.
    pub fn fingerprint(&self) -> Digest {
        Digest::from_bytes(Algorithm::Sha256, &Sha256::digest(&self.spki_der))
    }

    /// The `verificationMaterial.publicKey.hint` cosign writes into bundles:
    /// standard base64 of sha256 of the SPKI DER (the fingerprint's raw bytes).
    pub fn bundle_hint(&self) -> String {
        BASE64.encode(Sha256::digest(&self.spki_der))
    }

    /// Signs `message`: an ASN.1 DER ECDSA P-256 signature over SHA-256(message),
    /// what cosign puts (base64) in the `dev.cosignproject.cosign/signature`
    /// annotation.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the random number generator fails (the key
    /// itself was validated when it was loaded).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(message).map_err(crypto("sign"))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

fn malformed(reason: String) -> KeyError {
    KeyError::Malformed { reason }
}

fn crypto(action: &'static str) -> impl Fn(SigstoreError) -> KeyError {
    move |e| KeyError::Crypto {
        action,
        reason: e.to_string(),
    }
}

fn encode_pem(label: &str, contents: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new(label, contents),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Checks the PEM framing and the JSON envelope of a cosign key, returning the
/// envelope bytes for `kdf::decrypt`. Every check `kdf::decrypt` would make
/// (or panic on: a nonce of the wrong length) happens here, so that its only
/// remaining failure is a secretbox that does not open.
fn parse_envelope(pem_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let block = pem::parse(pem_bytes).map_err(|e| {
        let detail = match &e {
            pem::PemError::MalformedFraming => "broken BEGIN or END line".to_owned(),
            other => other.to_string(),
        };
        malformed(crate::verify::cosign::pem_problem(
            pem_bytes,
            SIGSTORE_PRIVATE_KEY_PEM_LABEL,
            &detail,
        ))
    })?;
    let label = block.tag();
    if label != SIGSTORE_PRIVATE_KEY_PEM_LABEL && label != COSIGN_PRIVATE_KEY_PEM_LABEL {
        let hint = if label.contains("PRIVATE KEY") {
            " (import an unencrypted key with `cosign import-key-pair` first)"
        } else {
            ""
        };
        return Err(malformed(format!(
            "the PEM label is `{}`, expected `{SIGSTORE_PRIVATE_KEY_PEM_LABEL}` or \
             `{COSIGN_PRIVATE_KEY_PEM_LABEL}`{hint}",
            truncate(label)
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(block.contents())
        .map_err(|_| malformed("the PEM body is not the JSON key envelope".to_owned()))?;

    let kdf_name = str_field(&json, &["kdf", "name"])?;
    if kdf_name != kdf::NAME_SCRYPT {
        return Err(malformed(format!(
            "`kdf.name` is `{}`, expected `scrypt`",
            truncate(kdf_name)
        )));
    }
    let n = u64_field(&json, &["kdf", "params", "N"])?;
    let r = u64_field(&json, &["kdf", "params", "r"])?;
    let p = u64_field(&json, &["kdf", "params", "p"])?;
    if !SCRYPT_N.contains(&n) || r != SCRYPT_R || p != SCRYPT_P {
        return Err(malformed(format!(
            "unsupported scrypt parameters N={n}, r={r}, p={p} (supported: N=32768 or \
             65536, r=8, p=1)"
        )));
    }
    base64_field(&json, &["kdf", "salt"])?;
    let cipher_name = str_field(&json, &["cipher", "name"])?;
    if cipher_name != kdf::NAME_SECRET_BOX {
        return Err(malformed(format!(
            "`cipher.name` is `{}`, expected `nacl/secretbox`",
            truncate(cipher_name)
        )));
    }
    let nonce = base64_field(&json, &["cipher", "nonce"])?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed(format!(
            "`cipher.nonce` is {} bytes, expected {NONCE_LEN}",
            nonce.len()
        )));
    }
    let ciphertext = base64_field(&json, &["ciphertext"])?;
    if ciphertext.len() < TAG_LEN {
        return Err(malformed(format!(
            "`ciphertext` is {} bytes, shorter than its {TAG_LEN}-byte authentication tag \
             (the file is truncated)",
            ciphertext.len()
        )));
    }
    Ok(block.into_contents())
}

fn field<'a>(
    json: &'a serde_json::Value,
    path: &[&str],
) -> Result<&'a serde_json::Value, KeyError> {
    let mut at = json;
    for key in path {
        at = at
            .get(key)
            .ok_or_else(|| malformed(format!("the key envelope has no `{}`", path.join("."))))?;
    }
    Ok(at)
}

fn str_field<'a>(json: &'a serde_json::Value, path: &[&str]) -> Result<&'a str, KeyError> {
    field(json, path)?
        .as_str()
        .ok_or_else(|| malformed(format!("`{}` is not a string", path.join("."))))
}

fn u64_field(json: &serde_json::Value, path: &[&str]) -> Result<u64, KeyError> {
    field(json, path)?.as_u64().ok_or_else(|| {
        malformed(format!(
            "`{}` is not a non-negative integer",
            path.join(".")
        ))
    })
}

fn base64_field(json: &serde_json::Value, path: &[&str]) -> Result<Vec<u8>, KeyError> {
    BASE64
        .decode(str_field(json, path)?)
        .map_err(|_| malformed(format!("`{}` is not valid base64", path.join("."))))
}

/// Bounds an untrusted identifier quoted in an error message.
fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::sign::test_support::{hex, openssl_verifies, sigstore_verifies};

    /// Written by `cosign generate-key-pair` with an empty password.
    const COSIGN_KEY: &[u8] =
        include_bytes!("../../tests/data/sign/cosign_generated_encrypted_empty_private.key");

    /// The fixture key, decrypted once: scrypt at cosign's N=2^16 takes seconds
    /// in an unoptimised build.
    fn cosign_key() -> &'static SigningKey {
        static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| SigningKey::from_cosign_pem(COSIGN_KEY, b"").unwrap())
    }

    #[test]
    fn cosign_generated_key_loads_and_signs_verifiably() {
        let key = cosign_key();
        let pem = key.public_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(!pem.contains('\r'));
        assert_eq!(
            key.fingerprint().to_string(),
            format!("sha256:{}", hex(&Sha256::digest(key.public_key_der())))
        );

        let message = b"{\"critical\":{}}";
        let sig = key.sign(message).unwrap();
        assert_eq!(sig[0], 0x30, "an ASN.1 DER SEQUENCE");
        assert!(
            openssl_verifies(&pem, message, &sig),
            "openssl rejected our signature"
        );
        assert!(
            sigstore_verifies(&pem, message, &sig),
            "sigstore rejected our signature"
        );
        assert!(!openssl_verifies(&pem, b"another message", &sig));
        assert!(!sigstore_verifies(&pem, b"another message", &sig));
    }

    #[test]
    fn wrong_password_is_reported_as_such() {
        let err = SigningKey::from_cosign_pem(COSIGN_KEY, b"not the password").unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("wrong password") && msg.contains("COSIGN_PASSWORD"),
            "{msg}"
        );
    }

    #[test]
    fn the_older_cosign_label_is_accepted() {
        let block = pem::parse(COSIGN_KEY).unwrap();
        let relabelled = encode_pem(COSIGN_PRIVATE_KEY_PEM_LABEL, block.into_contents());
        let key = SigningKey::from_cosign_pem(relabelled.as_bytes(), b"").unwrap();
        assert_eq!(key.fingerprint(), cosign_key().fingerprint());
    }

    /// Re-encodes the fixture's envelope after `edit` changes its JSON.
    fn with_envelope(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let block = pem::parse(COSIGN_KEY).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(block.contents()).unwrap();
        edit(&mut json);
        encode_pem(
            SIGSTORE_PRIVATE_KEY_PEM_LABEL,
            serde_json::to_vec(&json).unwrap(),
        )
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        let text = std::str::from_utf8(COSIGN_KEY).unwrap();
        let truncated = &text[..text.len() / 2];
        let no_end = text.replace("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----", "");
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "the file is empty"),
            (
                "garbage\x00\x01\x02".to_owned(),
                "the file is binary (10 bytes)",
            ),
            (
                "hello\n".to_owned(),
                "there is no `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----` line",
            ),
            (truncated.to_owned(), "its PEM block is malformed"),
            (no_end, "its PEM block is malformed"),
            (
                encode_pem("PUBLIC KEY", vec![1, 2, 3]),
                "the PEM label is `PUBLIC KEY`",
            ),
            (
                encode_pem("EC PRIVATE KEY", vec![1, 2, 3]),
                "cosign import-key-pair",
            ),
            (
                encode_pem(SIGSTORE_PRIVATE_KEY_PEM_LABEL, b"{not json".to_vec()),
                "not the JSON key envelope",
            ),
            (
                with_envelope(|j| j["kdf"]["name"] = "pbkdf2".into()),
                "`kdf.name` is `pbkdf2`",
            ),
            (
                with_envelope(|j| j["kdf"]["params"]["N"] = 1024.into()),
                "unsupported scrypt parameters N=1024",
            ),
            (
                with_envelope(|j| {
                    j["kdf"].as_object_mut().unwrap().remove("salt");
                }),
                "no `kdf.salt`",
            ),
            (
                with_envelope(|j| j["cipher"]["name"] = "aes-gcm".into()),
                "`cipher.name` is `aes-gcm`",
            ),
            (
                with_envelope(|j| j["cipher"]["nonce"] = "AAAA".into()),
                "`cipher.nonce` is 3 bytes",
            ),
            (
                with_envelope(|j| j["ciphertext"] = "!!".into()),
                "`ciphertext` is not valid base64",
            ),
            (
                with_envelope(|j| j["ciphertext"] = "AAAA".into()),
                "(the file is truncated)",
            ),
        ];
        for (pem, expected) in cases {
            let err = SigningKey::from_cosign_pem(pem.as_bytes(), b"").unwrap_err();
            assert!(
                matches!(err, KeyError::Malformed { .. }),
                "{expected}: got {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(expected), "expected `{expected}` in `{msg}`");
            assert!(msg.contains("cosign generate-key-pair"), "{msg}");
        }
    }

    #[test]
    fn a_damaged_ciphertext_does_not_decrypt() {
        let pem = with_envelope(|j| {
            let mut ct = BASE64.decode(j["ciphertext"].as_str().unwrap()).unwrap();
            ct[5] ^= 1;
            j["ciphertext"] = BASE64.encode(ct).into();
        });
        let err = SigningKey::from_cosign_pem(pem.as_bytes(), b"").unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword), "{err:?}");
    }

    #[test]
    fn a_non_p256_key_is_unsupported() {
        let p384 = SigStoreKeyPair::ECDSA(ECDSAKeys::new(EllipticCurve::P384).unwrap());
        let pem = p384.private_key_to_encrypted_pem(b"pw").unwrap();
        let err = SigningKey::from_cosign_pem(pem.as_bytes(), b"pw").unwrap_err();
        assert!(
            matches!(&err, KeyError::UnsupportedKey { kind } if kind == "ECDSA P384"),
            "{err:?}"
        );
        assert!(err.to_string().contains("lf-resolve generate-key"));
    }

    #[test]
    fn generated_keys_round_trip_through_the_cosign_format() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_cosign_pem(b"correct horse").unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert!(pem.ends_with("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(!pem.contains('\r'), "cosign writes LF line endings");
        assert!(pem.lines().all(|l| l.len() <= 64));

        // The JSON shape cosign writes and reads, keys in cosign's order.
        let json = pem::parse(&pem).unwrap().into_contents();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let shape = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let text = std::str::from_utf8(&json).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""cipher":{"name":"nacl/secretbox","nonce":""#));
        assert_eq!(shape(&value).len(), 3);
        assert_eq!(shape(&value["kdf"]).len(), 3);
        assert_eq!(shape(&value["cipher"]).len(), 2);

        let loaded = SigningKey::from_cosign_pem(pem.as_bytes(), b"correct horse").unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint());
        assert_eq!(
            loaded.public_key_pem().unwrap(),
            key.public_key_pem().unwrap()
        );
        assert!(matches!(
            SigningKey::from_cosign_pem(pem.as_bytes(), b"Correct horse"),
            Err(KeyError::WrongPassword)
        ));
        let sig = loaded.sign(b"payload").unwrap();
        assert!(openssl_verifies(
            &key.public_key_pem().unwrap(),
            b"payload",
            &sig
        ));

        // Two generated keys differ.
        assert_ne!(
            SigningKey::generate().unwrap().fingerprint(),
            key.fingerprint()
        );
    }

    #[test]
    fn the_public_key_pem_is_what_openssl_derives_from_the_private_key() {
        let key = SigningKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let der = key.keys.private_key_to_der().unwrap();
        let priv_path = dir.path().join("key.der");
        std::fs::write(&priv_path, der.as_slice()).unwrap();
        let out = Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-pubout", "-in"])
            .arg(&priv_path)
            .output()
            .expect("the `openssl` command must be installed for this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            key.public_key_pem().unwrap()
        );
    }

    #[test]
    fn hint_is_base64_of_the_fingerprint() {
        let key = cosign_key();
        let raw = BASE64.decode(key.bundle_hint()).unwrap();
        assert_eq!(hex(&raw), key.fingerprint().hex());
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = cosign_key();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("SigningKey {{ fingerprint: {:?}, .. }}", key.fingerprint())
        );
    }
}
