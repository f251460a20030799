//! Content digests (`sha256:<hex>`, `sha512:<hex>`), parsed once at the edge.

use std::fmt;
use std::str::FromStr;

/// A digest algorithm this project accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: 64 hex digits.
    Sha256,
    /// SHA-512: 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// The name as written before the `:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The number of lowercase hex digits of an encoded digest.
    pub const fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest: an algorithm and its lowercase hex encoding of
/// exactly the right length.
///
/// Two digests are equal exactly when their canonical strings are equal, and
/// `Display` prints that canonical string (`sha256:9f86…`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: Box<str>,
}

/// Why a string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error(
        "`{0}` is not a digest: expected `sha256:<64 hex digits>` or `sha512:<128 hex digits>`"
    )]
    MissingAlgorithm(String),
    /// An algorithm other than sha256/sha512.
    #[error("unsupported digest algorithm `{0}`: expected `sha256` or `sha512`")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length.
    #[error("{algorithm} digest must have {expected} hex digits, found {found}")]
    WrongLength {
        /// The algorithm.
        algorithm: Algorithm,
        /// The length it needs.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The encoded part holds something other than lowercase hex digits.
    #[error("{algorithm} digest must be lowercase hex digits (0-9, a-f), found `{found}`")]
    NotLowercaseHex {
        /// The algorithm.
        algorithm: Algorithm,
        /// The first offending character.
        found: char,
    },
}

impl Digest {
    /// Builds a digest from an algorithm and the raw hash bytes.
    ///
    /// # Panics
    /// If `bytes` has the wrong length for `algorithm` (a programming error).
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        assert_eq!(bytes.len() * 2, algorithm.hex_len(), "wrong hash length");
        let mut hex = String::with_capacity(algorithm.hex_len());
        for b in bytes {
            use fmt::Write;
            let _ = write!(hex, "{b:02x}");
        }
        Digest {
            algorithm,
            hex: hex.into_boxed_str(),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding (the part after `:`), as used in
    /// `blobs/<algorithm>/<hex>` paths.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        };
        if let Some(found) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(DigestError::NotLowercaseHex { algorithm, found });
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.into(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const E3B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays_canonically() {
        let d: Digest = format!("sha256:{E3B}").parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), E3B);
        assert_eq!(d.to_string(), format!("sha256:{E3B}"));
        let long = "a".repeat(128);
        let d: Digest = format!("sha512:{long}").parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn rejects_malformed_digests() {
        let upper = format!("sha256:{}", E3B.to_uppercase());
        let cases: &[(&str, &str)] = &[
            ("", "not a digest"),
            ("e3b0c442", "not a digest"),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported digest algorithm `md5`",
            ),
            ("SHA256:00", "unsupported digest algorithm `SHA256`"),
            ("sha256:", "must have 64 hex digits, found 0"),
            ("sha256:abc", "must have 64 hex digits, found 3"),
            (&upper, "lowercase hex"),
            ("sha512:00", "must have 128 hex digits, found 2"),
            (
                "sha256:g000000000000000000000000000000000000000000000000000000000000000",
                "found `g`",
            ),
        ];
        for (input, expected) in cases {
            let err = input.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn from_bytes_matches_parse() {
        let bytes = [0xab_u8; 32];
        let d = Digest::from_bytes(Algorithm::Sha256, &bytes);
        assert_eq!(d.hex(), "ab".repeat(32));
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    proptest! {
        #[test]
        fn parse_display_round_trip(bytes in proptest::collection::vec(any::<u8>(), 32), wide in any::<bool>()) {
            let d = if wide {
                let mut b = bytes.clone();
                b.extend_from_slice(&bytes);
                Digest::from_bytes(Algorithm::Sha512, &b)
            } else {
                Digest::from_bytes(Algorithm::Sha256, &bytes)
            };
            prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        }
    }
}
