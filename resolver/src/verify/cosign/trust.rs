//! What a signature is verified against: cosign public keys named by the
//! policy, and the sigstore trust root (Fulcio CAs, Rekor log keys) for
//! keyless signatures and Rekor entries.
//!
//! The trust root is read from the `trusted_root.json` shape sigstore clients
//! share (`application/vnd.dev.sigstore.trustedroot+json`); the one shipped with
//! the project is pinned in `resolver/data/trusted_root.json`. It is never
//! fetched: a stale root fails closed, a fetched one would make `lock` depend
//! on the network.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use lf_lockfile::{Algorithm, Digest};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde::Deserialize;
use sha2::Sha256;
use sigstore::crypto::CosignVerificationKey;
use x509_cert::der::DateTime;

use super::SignatureError;

/// The pinned trust root, shipped with the binary.
const PINNED_TRUSTED_ROOT: &str = include_str!("../../../data/trusted_root.json");

/// The pinned trust root, parsed once.
pub(crate) fn pinned() -> &'static TrustRoot {
    static PINNED: LazyLock<TrustRoot> = LazyLock::new(|| {
        #[allow(clippy::expect_used)]
        TrustRoot::from_json(PINNED_TRUSTED_ROOT.as_bytes())
            .expect("the pinned trusted_root.json is valid (checked by a unit test)")
    });
    &PINNED
}

/// The media type prefix every `trusted_root.json` version carries.
const TRUSTED_ROOT_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// A cosign public key a policy trusts, with the name it is reported by.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    label: String,
    fingerprint: Digest,
    spki_der: Vec<u8>,
    key: CosignVerificationKey,
}

impl TrustedKey {
    /// Reads a PEM `PUBLIC KEY` (what `cosign generate-key-pair` writes to
    /// `cosign.pub`). `label` names the key in messages, usually its path as
    /// written in `latticeflow.toml`.
    pub fn from_pem(pem: &[u8], label: &str) -> Result<TrustedKey, SignatureError> {
        let invalid = |reason: String| SignatureError::InvalidKey {
            label: label.to_owned(),
            reason,
        };
        let (pem_label, der) = x509_cert::der::pem::decode_vec(pem)
            .map_err(|e| invalid(pem_problem(pem, "PUBLIC KEY", &e)))?;
        if pem_label != "PUBLIC KEY" {
            return Err(invalid(format!(
                "PEM block is `{pem_label}`, expected `PUBLIC KEY`"
            )));
        }
        TrustedKey::from_spki_der(&der, label)
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8], label: &str) -> Result<TrustedKey, SignatureError> {
        let key =
            CosignVerificationKey::try_from_der(der).map_err(|e| SignatureError::InvalidKey {
                label: label.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(TrustedKey {
            label: label.to_owned(),
            fingerprint: sha256(der),
            spki_der: der.to_vec(),
            key,
        })
    }

    /// The name given when the key was read.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `sha256` of the key's DER `SubjectPublicKeyInfo`: what the lockfile
    /// records as the signer.
    pub fn fingerprint(&self) -> &Digest {
        &self.fingerprint
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Whether `signature` (DER ECDSA, or the key type's raw form) signs
    /// `message` under this key.
    pub(crate) fn verifies(&self, signature: &[u8], message: &[u8]) -> bool {
        self.key
            .verify_signature(sigstore::crypto::Signature::Raw(signature), message)
            .is_ok()
    }
}

impl fmt::Display for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label, self.fingerprint)
    }
}

/// Says in words why `bytes`, read from a key file, is not the PEM block
/// `label` it should hold. `detail` is the PEM parser's own complaint, shown
/// only when the file does look like PEM: for a binary or plain-text file the
/// parser's first complaint (such as a NUL byte in the preamble) says nothing
/// about what the file should have been.
pub(crate) fn pem_problem(bytes: &[u8], label: &str, detail: &dyn fmt::Display) -> String {
    let begin = format!("-----BEGIN {label}-----");
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return format!("the file is empty; it should hold a `{begin}` block");
    }
    let control = bytes
        .iter()
        .any(|&b| b.is_ascii_control() && !b.is_ascii_whitespace());
    match std::str::from_utf8(bytes) {
        Ok(text) if !control => {
            if text.contains("-----BEGIN ") {
                format!(
                    "its PEM block is malformed ({detail}); it should be a `{begin}` line, \
                     base64 lines and the matching END line"
                )
            } else {
                format!("the file holds no PEM block: there is no `{begin}` line")
            }
        }
        _ => format!(
            "the file is binary ({} bytes), not PEM text; it should hold a `{begin}` block",
            bytes.len()
        ),
    }
}

/// Why a `trusted_root.json` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustRootError {
    /// Not JSON of the `trusted_root.json` shape.
    #[error("trusted root is not a sigstore trusted_root.json: {0}")]
    Malformed(String),
    /// A media type other than `application/vnd.dev.sigstore.trustedroot…`.
    #[error(
        "trusted root has media type `{0}`, expected `{TRUSTED_ROOT_MEDIA_TYPE_PREFIX}+json;version=0.1`"
    )]
    WrongMediaType(String),
    /// A transparency log entry whose key cannot be read, or whose `logId`
    /// is not the sha256 of its key.
    #[error("trusted root tlogs[{index}] ({base_url}): {reason}")]
    BadLog {
        /// Position in `tlogs`.
        index: usize,
        /// The log's `baseUrl`.
        base_url: String,
        /// What is wrong.
        reason: String,
    },
    /// A certificate authority entry whose chain or validity cannot be read.
    #[error("trusted root certificateAuthorities[{index}] ({uri}): {reason}")]
    BadAuthority {
        /// Position in `certificateAuthorities`.
        index: usize,
        /// The CA's `uri`.
        uri: String,
        /// What is wrong.
        reason: String,
    },
}

/// The sigstore roots of trust for keyless signatures: Fulcio certificate
/// authorities and Rekor transparency log keys, each with the period it may
/// be used for.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    authorities: Vec<CertificateAuthority>,
    /// Keyed by log ID: the lowercase hex sha256 of the log key's DER.
    logs: BTreeMap<String, TransparencyLog>,
}

/// One Fulcio CA: the last certificate of its chain is the trust anchor, the
/// others are trusted intermediates.
#[derive(Debug, Clone)]
pub(crate) struct CertificateAuthority {
    pub(crate) uri: String,
    pub(crate) anchor: TrustAnchor<'static>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) valid_for: ValidFor,
}

/// One Rekor log key.
#[derive(Debug, Clone)]
pub(crate) struct TransparencyLog {
    pub(crate) base_url: String,
    pub(crate) key: TrustedKey,
    pub(crate) valid_for: ValidFor,
}

/// A period in seconds since the Unix epoch: `start <= t`, and `t <= end`
/// when there is an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidFor {
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
}

impl ValidFor {
    pub(crate) fn contains(self, t: u64) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

impl TrustRoot {
    /// The trust root shipped with `lf-resolve` (`resolver/data/trusted_root.json`):
    /// the public-good Fulcio root and Rekor key.
    pub fn pinned() -> TrustRoot {
        pinned().clone()
    }

    /// Reads a sigstore `trusted_root.json`. Unknown fields (`ctlogs`,
    /// `timestampAuthorities`, …) are ignored: keyless verification here relies
    /// on the Rekor SET, not on SCTs or RFC 3161 timestamps.
    pub fn from_json(bytes: &[u8]) -> Result<TrustRoot, TrustRootError> {
        let wire: wire::TrustedRoot =
            serde_json::from_slice(bytes).map_err(|e| TrustRootError::Malformed(e.to_string()))?;
        if !wire.media_type.starts_with(TRUSTED_ROOT_MEDIA_TYPE_PREFIX) {
            return Err(TrustRootError::WrongMediaType(wire.media_type));
        }
        let mut logs = BTreeMap::new();
        for (index, tlog) in wire.tlogs.into_iter().enumerate() {
            let bad = |reason: String| TrustRootError::BadLog {
                index,
                base_url: tlog.base_url.clone(),
                reason,
            };
            let der = base64_decode(&tlog.public_key.raw_bytes)
                .map_err(|e| bad(format!("publicKey.rawBytes: {e}")))?;
            let key =
                TrustedKey::from_spki_der(&der, &tlog.base_url).map_err(|e| bad(e.to_string()))?;
            let key_id =
                base64_decode(&tlog.log_id.key_id).map_err(|e| bad(format!("logId.keyId: {e}")))?;
            let log_id = key.fingerprint().hex().to_owned();
            if hex(&key_id) != log_id {
                return Err(bad(format!(
                    "logId.keyId is {}, but the key's sha256 is {log_id}",
                    hex(&key_id)
                )));
            }
            let valid_for = ValidFor::from_wire(tlog.public_key.valid_for.as_ref())
                .map_err(|e| bad(format!("publicKey.validFor: {e}")))?;
            logs.insert(
                log_id,
                TransparencyLog {
                    base_url: tlog.base_url.clone(),
                    key,
                    valid_for,
                },
            );
        }
        let mut authorities = Vec::new();
        for (index, ca) in wire.certificate_authorities.into_iter().enumerate() {
            let uri = ca.uri.clone().unwrap_or_default();
            let bad = |reason: String| TrustRootError::BadAuthority {
                index,
                uri: uri.clone(),
                reason,
            };
            let mut chain = Vec::new();
            for (i, cert) in ca.cert_chain.certificates.iter().enumerate() {
                let der = base64_decode(&cert.raw_bytes)
                    .map_err(|e| bad(format!("certChain.certificates[{i}]: {e}")))?;
                chain.push(CertificateDer::from(der));
            }
            let Some(root) = chain.pop() else {
                return Err(bad("certChain has no certificates".to_owned()));
            };
            let anchor = webpki::anchor_from_trusted_cert(&root)
                .map_err(|e| bad(format!("root certificate: {e}")))?
                .to_owned();
            let valid_for = ValidFor::from_wire(ca.valid_for.as_ref())
                .map_err(|e| bad(format!("validFor: {e}")))?;
            authorities.push(CertificateAuthority {
                uri: uri.clone(),
                anchor,
                intermediates: chain,
                valid_for,
            });
        }
        Ok(TrustRoot { authorities, logs })
    }

    /// The Fulcio CAs that were valid at `t` (seconds since the Unix epoch).
    pub(crate) fn authorities_at(&self, t: u64) -> impl Iterator<Item = &CertificateAuthority> {
        self.authorities
            .iter()
            .filter(move |ca| ca.valid_for.contains(t))
    }

    /// Whether the root holds any Fulcio CA at all.
    pub(crate) fn has_authorities(&self) -> bool {
        !self.authorities.is_empty()
    }

    /// The Rekor log with this ID (lowercase hex sha256 of its key's DER).
    pub(crate) fn log(&self, log_id: &str) -> Option<&TransparencyLog> {
        self.logs.get(log_id)
    }
}

impl ValidFor {
    fn from_wire(range: Option<&wire::TimeRange>) -> Result<ValidFor, String> {
        let Some(range) = range else {
            return Ok(ValidFor {
                start: None,
                end: None,
            });
        };
        let parse = |s: &Option<String>| s.as_deref().map(parse_rfc3339).transpose();
        Ok(ValidFor {
            start: parse(&range.start)?,
            end: parse(&range.end)?,
        })
    }
}

/// Parses the RFC 3339 timestamps of `trusted_root.json`
/// (`2021-01-12T11:53:27.000Z`, `…+00:00`) to whole seconds since the epoch;
/// fractions are dropped.
pub(crate) fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not an RFC 3339 timestamp");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<u16, String> {
        let part = s.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let narrow = |v: u16| u8::try_from(v).map_err(|_| bad());
    let (year, month, day) = (num(0..4)?, narrow(num(5..7)?)?, narrow(num(8..10)?)?);
    let (hour, minute, second) = (
        narrow(num(11..13)?)?,
        narrow(num(14..16)?)?,
        narrow(num(17..19)?)?,
    );
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &fraction[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hhmm) = match rest.split_at_checked(1) {
                Some(("+", hhmm)) => (1, hhmm),
                Some(("-", hhmm)) => (-1, hhmm),
                _ => return Err(bad()),
            };
            let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
            if h.len() != 2 || m.len() != 2 {
                return Err(bad());
            }
            let h: i64 = h.parse().map_err(|_| bad())?;
            let m: i64 = m.parse().map_err(|_| bad())?;
            sign * (h * 3600 + m * 60)
        }
    };
    let utc = DateTime::new(year, month, day, hour, minute, second).map_err(|_| bad())?;
    let secs = i64::try_from(utc.unix_duration().as_secs()).map_err(|_| bad())?;
    u64::try_from(secs - offset).map_err(|_| bad())
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_unix(t: u64) -> String {
    match DateTime::from_unix_duration(Duration::from_secs(t)) {
        Ok(dt) => dt.to_string(),
        Err(_) => format!("{t} s after the Unix epoch"),
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    use sha2::Digest as _;
    Digest::from_bytes(Algorithm::Sha256, &Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Standard base64 with padding, as sigstore writes it.
pub(crate) fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| e.to_string())
}

/// The on-disk shape of `trusted_root.json` (the protobuf-specs JSON
/// mapping), read leniently: only the fields used here.
mod wire {
    use super::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct TrustedRoot {
        pub(super) media_type: String,
        #[serde(default)]
        pub(super) tlogs: Vec<TransparencyLogInstance>,
        #[serde(default)]
        pub(super) certificate_authorities: Vec<CertificateAuthority>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct TransparencyLogInstance {
        pub(super) base_url: String,
        pub(super) public_key: PublicKey,
        pub(super) log_id: LogId,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct PublicKey {
        pub(super) raw_bytes: String,
        pub(super) valid_for: Option<TimeRange>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct LogId {
        pub(super) key_id: String,
    }

    #[derive(Deserialize)]
    pub(super) struct TimeRange {
        pub(super) start: Option<String>,
        pub(super) end: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct CertificateAuthority {
        pub(super) uri: Option<String>,
        pub(super) cert_chain: CertChain,
        pub(super) valid_for: Option<TimeRange>,
    }

    #[derive(Deserialize)]
    pub(super) struct CertChain {
        pub(super) certificates: Vec<RawBytes>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct RawBytes {
        pub(super) raw_bytes: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REKOR_LOG_ID: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

    #[test]
    fn pinned_root_parses() {
        let root = TrustRoot::pinned();
        assert_eq!(root.authorities.len(), 1);
        assert_eq!(root.authorities[0].uri, "https://fulcio.sigstore.dev");
        let log = root.log(REKOR_LOG_ID).unwrap();
        assert_eq!(log.base_url, "https://rekor.sigstore.dev");
        assert_eq!(log.valid_for.start, Some(1_610_452_407));
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27.000Z"), Ok(1_610_452_407));
        assert_eq!(
            parse_rfc3339("2021-01-12T12:53:27+01:00"),
            Ok(1_610_452_407)
        );
        assert_eq!(
            parse_rfc3339("2021-01-12T10:53:27.5-01:00"),
            Ok(1_610_452_407)
        );
        for bad in [
            "",
            "2021-01-12",
            "2021-01-12T11:53:27",
            "2021-13-12T11:53:27Z",
            "2021-01-12T11:53:27.Z",
            "2021-01-12T11:53:27+0100",
            "2021-01-12 11:53:27Z",
            "+021-01-12T11:53:27Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(format_unix(1_674_247_893), "2023-01-20T20:51:33Z");
    }

    #[test]
    fn valid_for_bounds() {
        let v = ValidFor {
            start: Some(10),
            end: Some(20),
        };
        assert!(!v.contains(9));
        assert!(v.contains(10));
        assert!(v.contains(20));
        assert!(!v.contains(21));
    }

    fn root_json(key_id: &str, media_type: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(PINNED_TRUSTED_ROOT).unwrap();
        v["mediaType"] = media_type.into();
        v["tlogs"][0]["logId"]["keyId"] = key_id.into();
        v.to_string()
    }

    #[test]
    fn refuses_wrong_media_type_and_log_id() {
        let pinned: serde_json::Value = serde_json::from_str(PINNED_TRUSTED_ROOT).unwrap();
        let key_id = pinned["tlogs"][0]["logId"]["keyId"].as_str().unwrap();
        let err =
            TrustRoot::from_json(root_json(key_id, "application/json").as_bytes()).unwrap_err();
        assert!(matches!(err, TrustRootError::WrongMediaType(_)), "{err}");
        let err = TrustRoot::from_json(
            root_json(
                "AAAAatQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=",
                "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("logId.keyId"), "{err}");
        let err = TrustRoot::from_json(b"{}").unwrap_err();
        assert!(matches!(err, TrustRootError::Malformed(_)), "{err}");
    }

    #[test]
    fn trusted_key_from_pem() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr\nkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==\n-----END PUBLIC KEY-----\n";
        let key = TrustedKey::from_pem(pem, "rekor.pub").unwrap();
        assert_eq!(key.fingerprint().hex(), REKOR_LOG_ID);
        assert_eq!(key.label(), "rekor.pub");
        assert!(key.to_string().starts_with("rekor.pub (sha256:c0d23d6a"));

        let err = TrustedKey::from_pem(b"not a key", "x.pub").unwrap_err();
        assert!(err.to_string().contains("x.pub"), "{err}");
        let cert = String::from_utf8_lossy(pem).replace("PUBLIC KEY", "CERTIFICATE");
        let err = TrustedKey::from_pem(cert.as_bytes(), "x.pub").unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    }

    #[test]
    fn garbage_key_files_are_described_not_parsed() {
        let message = |bytes: &[u8]| {
            TrustedKey::from_pem(bytes, "k.pub")
                .unwrap_err()
                .to_string()
        };
        let binary = message(b"\x00\x9f\x92\x96garbage");
        assert!(binary.contains("binary (11 bytes)"), "{binary}");
        assert!(!binary.contains("NUL"), "{binary}");
        let control = message(b"garbage\x00 key");
        assert!(control.contains("binary"), "{control}");
        let text = message(b"hello\n");
        assert!(
            text.contains("no PEM block: there is no `-----BEGIN PUBLIC KEY-----` line"),
            "{text}"
        );
        assert!(message(b" \n").contains("empty"));
        let bad_body =
            message(b"-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n");
        assert!(bad_body.contains("PEM block is malformed"), "{bad_body}");
    }
}
