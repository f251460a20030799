//! The locked-digest check of embedded module bytes.

use sha2::{Digest as _, Sha256};

use super::NodeError;
use crate::spec::ConnectorId;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 64 lowercase hex digits of a SHA-256 digest written as `<hex>` or
/// `sha256:<hex>` (either case), or `None` if it is not one.
pub(crate) fn normalise_sha256(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// Outcome of comparing bytes against a locked digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestCheck {
    /// The bytes hash to the digest.
    Match,
    /// The digest is not a SHA-256 digest.
    Invalid,
    /// The bytes hash to something else (hex).
    Mismatch {
        /// The locked digest, normalised to lowercase hex.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
}

/// Hashes `bytes` once and compares with `expected` (`<hex>` or `sha256:<hex>`).
pub fn check_sha256(bytes: &[u8], expected: &str) -> DigestCheck {
    let Some(expected) = normalise_sha256(expected) else {
        return DigestCheck::Invalid;
    };
    let actual = sha256_hex(bytes);
    if actual == expected {
        DigestCheck::Match
    } else {
        DigestCheck::Mismatch { expected, actual }
    }
}

/// [`check_sha256`] as the hosts need it before they build a node from
/// embedded bytes: `Ok` on a match, otherwise the error naming `connector`
/// (a digest that is not SHA-256, or bytes that hash to something else — a
/// tampered vendor directory).
pub(crate) fn check_locked(
    bytes: &[u8],
    expected: &str,
    connector: &ConnectorId,
) -> Result<(), NodeError> {
    match check_sha256(bytes, expected) {
        DigestCheck::Match => Ok(()),
        DigestCheck::Invalid => Err(NodeError::InvalidDigest {
            connector: connector.clone(),
            digest: expected.to_owned(),
        }),
        DigestCheck::Mismatch { expected, actual } => Err(NodeError::DigestMismatch {
            connector: connector.clone(),
            expected,
            actual,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_and_compares() {
        assert_eq!(sha256_hex(b""), EMPTY);
        assert_eq!(check_sha256(b"", EMPTY), DigestCheck::Match);
        assert_eq!(
            check_sha256(b"", &format!("sha256:{}", EMPTY.to_uppercase())),
            DigestCheck::Match
        );
        assert_eq!(check_sha256(b"", "sha256:abc"), DigestCheck::Invalid);
        assert_eq!(check_sha256(b"", &"g".repeat(64)), DigestCheck::Invalid);
        assert!(matches!(
            check_sha256(b"x", EMPTY),
            DigestCheck::Mismatch { expected, .. } if expected == EMPTY
        ));
    }
}
