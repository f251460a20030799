//! The Rekor evidence cosign attaches to a simple-signing layer
//! (`dev.sigstore.cosign/bundle`): a signed entry timestamp (SET) and the
//! `hashedrekord` entry it covers.
//!
//! The SET is checked before anything in the entry is believed: only a
//! verified SET makes `integratedTime` a time the certificate may be checked
//! at. The entry must then describe *this* signature — the payload's hash,
//! the same signature bytes, the same key or certificate — or it proves
//! nothing about it.

use serde::Deserialize;

use super::SignatureError;
use super::trust::{TrustRoot, base64_decode, format_unix, sha256};

/// A verified Rekor SET: the time the log says it integrated the entry, and
/// the entry itself (not yet compared with the signature).
#[derive(Debug)]
pub(crate) struct VerifiedEntry {
    pub(crate) integrated_time: u64,
    body: HashedRekord,
}

/// What the caller's signature must match.
pub(crate) struct Expected<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
    /// The DER of the signing key (`PUBLIC KEY`) or certificate (`CERTIFICATE`).
    pub(crate) key_der: &'a [u8],
    /// `PUBLIC KEY` or `CERTIFICATE`.
    pub(crate) key_label: &'static str,
}

/// The annotation: `{"SignedEntryTimestamp": b64, "Payload": {...}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// `hashedrekord` 0.0.1, the entry kind cosign writes for a signature.
#[derive(Debug, Deserialize)]
struct HashedRekord {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    spec: Option<Spec>,
}

#[derive(Debug, Deserialize)]
struct Spec {
    data: Data,
    signature: SpecSignature,
}

#[derive(Debug, Deserialize)]
struct Data {
    hash: Hash,
}

#[derive(Debug, Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct SpecSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: SpecPublicKey,
}

#[derive(Debug, Deserialize)]
struct SpecPublicKey {
    content: String,
}

fn malformed(reason: impl Into<String>) -> SignatureError {
    SignatureError::MalformedRekorBundle {
        reason: reason.into(),
    }
}

/// Verifies the SET in the `dev.sigstore.cosign/bundle` annotation with the
/// trust root's key for its log, at a time the key was valid.
pub(crate) fn verify_set(
    annotation: &str,
    root: &TrustRoot,
) -> Result<VerifiedEntry, SignatureError> {
    let bundle: RekorBundle =
        serde_json::from_str(annotation).map_err(|e| malformed(e.to_string()))?;
    let payload = &bundle.payload;
    let log_id = payload.log_id.to_ascii_lowercase();
    let log = root
        .log(&log_id)
        .ok_or_else(|| SignatureError::UnknownRekorLog {
            log_id: log_id.clone(),
        })?;
    let set = base64_decode(&bundle.signed_entry_timestamp)
        .map_err(|e| malformed(format!("SignedEntryTimestamp is not base64: {e}")))?;
    let canonical = serde_json_canonicalizer::to_vec(payload)
        .map_err(|e| malformed(format!("cannot canonicalise the payload: {e}")))?;
    if !log.key.verifies(&set, &canonical) {
        return Err(SignatureError::RekorSetInvalid {
            log_id,
            log: log.base_url.clone(),
        });
    }
    let integrated_time = u64::try_from(payload.integrated_time).map_err(|_| {
        malformed(format!(
            "integratedTime {} is negative",
            payload.integrated_time
        ))
    })?;
    if !log.valid_for.contains(integrated_time) {
        return Err(SignatureError::RekorKeyNotValidAt {
            log: log.base_url.clone(),
            time: format_unix(integrated_time),
        });
    }
    let body = base64_decode(&payload.body)
        .map_err(|e| malformed(format!("Payload.body is not base64: {e}")))?;
    let body: HashedRekord = serde_json::from_slice(&body)
        .map_err(|e| malformed(format!("Payload.body is not a Rekor entry: {e}")))?;
    Ok(VerifiedEntry {
        integrated_time,
        body,
    })
}

impl VerifiedEntry {
    /// Checks that the entry records this very signature.
    pub(crate) fn check_matches(&self, expected: &Expected<'_>) -> Result<(), SignatureError> {
        let mismatch = |reason: String| SignatureError::RekorBodyMismatch { reason };
        let body = &self.body;
        if body.kind != "hashedrekord" || body.api_version != "0.0.1" {
            return Err(mismatch(format!(
                "the entry is `{}` {}, expected `hashedrekord` 0.0.1",
                body.kind, body.api_version
            )));
        }
        let spec = body
            .spec
            .as_ref()
            .ok_or_else(|| mismatch("the entry has no `spec`".to_owned()))?;
        if spec.data.hash.algorithm != "sha256" {
            return Err(mismatch(format!(
                "the entry hashes with `{}`, expected `sha256`",
                spec.data.hash.algorithm
            )));
        }
        let payload_digest = sha256(expected.payload);
        if !spec
            .data
            .hash
            .value
            .eq_ignore_ascii_case(payload_digest.hex())
        {
            return Err(mismatch(format!(
                "the entry is for sha256:{}, the payload is {payload_digest}",
                spec.data.hash.value
            )));
        }
        let signature = base64_decode(&spec.signature.content)
            .map_err(|e| mismatch(format!("its signature is not base64: {e}")))?;
        if signature != expected.signature {
            return Err(mismatch(
                "the entry records a different signature".to_owned(),
            ));
        }
        let key_pem = base64_decode(&spec.signature.public_key.content)
            .map_err(|e| mismatch(format!("its public key is not base64: {e}")))?;
        let (label, der) = x509_cert::der::pem::decode_vec(&key_pem)
            .map_err(|e| mismatch(format!("its public key is not PEM: {e}")))?;
        if label != expected.key_label || der != expected.key_der {
            let what = if expected.key_label == "CERTIFICATE" {
                "certificate"
            } else {
                "key"
            };
            return Err(mismatch(format!(
                "the entry records a different {what} ({label} {})",
                sha256(&der)
            )));
        }
        Ok(())
    }
}
