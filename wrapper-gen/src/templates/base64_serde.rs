//! Base64 (standard alphabet, padded) for `bytes` fields, as ABI v1 maps them.
//!
//! Used through `#[serde(with = "crate::base64_serde")]` on any field whose
//! type holds `Vec<u8>`, also inside `Option` and `Vec`. Non-canonical input
//! (missing padding, stray bits after the last byte) is rejected.

use ::serde::de::{Deserialize, Deserializer, Error as _};
use ::serde::ser::{Serialize, Serializer};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A value whose byte strings travel as base64 strings.
pub(crate) trait Base64: Sized {
    /// Serialises `self`, each byte string as base64.
    fn serialize_base64<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Deserialises a value whose byte strings are base64.
    fn deserialize_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// The `serialize_with` half of `#[serde(with = "crate::base64_serde")]`.
pub(crate) fn serialize<T: Base64, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.serialize_base64(serializer)
}

/// The `deserialize_with` half of `#[serde(with = "crate::base64_serde")]`.
pub(crate) fn deserialize<'de, T: Base64, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize_base64(deserializer)
}

struct Ser<'a, T>(&'a T);

impl<T: Base64> Serialize for Ser<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_base64(serializer)
    }
}

struct De<T>(T);

impl<'de, T: Base64> Deserialize<'de> for De<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_base64(deserializer).map(De)
    }
}

impl Base64 for Vec<u8> {
    fn serialize_base64<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(self))
    }

    fn deserialize_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text)
            .ok_or_else(|| D::Error::custom("expected bytes as base64 (standard alphabet, padded)"))
    }
}

impl<T: Base64> Base64 for Option<T> {
    fn serialize_base64<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(value) => serializer.serialize_some(&Ser(value)),
            None => serializer.serialize_none(),
        }
    }

    fn deserialize_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<De<T>>::deserialize(deserializer)?.map(|value| value.0))
    }
}

impl<T: Base64> Base64 for Vec<T> {
    fn serialize_base64<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Ser))
    }

    fn deserialize_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<De<T>>::deserialize(deserializer)?
            .into_iter()
            .map(|value| value.0)
            .collect())
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(chunk[0]) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let quads = bytes.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (index, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && index + 1 != quads) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | u32::from(sextet(c)?);
        }
        n <<= 6 * pad;
        if n & ((1 << (8 * pad)) - 1) != 0 {
            return None;
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}
