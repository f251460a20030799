//! Sigstore bundles v0.3 signed with a key (cosign v3's default format): a
//! DSSE envelope over an in-toto statement whose subject is the artifact.
//!
//! The signature covers DSSE's pre-authentication encoding (PAE) of the
//! payload type and payload, so neither can be swapped. Keys are chosen by
//! the policy, never by the bundle's `hint` or the envelope's `keyid`
//! (both are advisory). Transparency-log entries a bundle may carry are not
//! checked: for a key-based signature the key alone decides.

use base64::Engine as _;
use lf_lockfile::Digest;
use serde::Deserialize;

use super::trust::TrustedKey;
use super::{MAX_PAYLOAD_SIZE, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, SignatureError};

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The predicate type cosign writes for a plain signature.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The in-toto statement types accepted.
const STATEMENT_TYPES: &[&str] = &[
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    dsse_envelope: Option<Envelope>,
    message_signature: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// The `name`s of the statement subjects whose digest is `subject`, from a
/// bundle that [`verify`] accepted. Subjects without a name are skipped.
pub(crate) fn subject_names(bundle_json: &[u8], subject: &Digest) -> Vec<String> {
    let statement = serde_json::from_slice::<Bundle>(bundle_json)
        .ok()
        .and_then(|b| b.dsse_envelope)
        .and_then(|e| decode_dsse_base64("the DSSE payload", &e.payload).ok())
        .and_then(|p| serde_json::from_slice::<Statement>(&p).ok());
    let Some(statement) = statement else {
        return Vec::new();
    };
    statement
        .subject
        .into_iter()
        .filter(|s| {
            s.digest
                .get(subject.algorithm().as_str())
                .is_some_and(|hex| hex == subject.hex())
        })
        .filter_map(|s| s.name)
        .collect()
}

/// The predicate type a bundle's statement claims, read without verifying
/// anything: only to tell signatures from attestations when choosing which
/// referrers to verify as what. `None` when it cannot be read.
pub(crate) fn peek_predicate_type(bundle_json: &[u8]) -> Option<String> {
    if bundle_json.len() > MAX_PAYLOAD_SIZE {
        return None;
    }
    let payload = serde_json::from_slice::<Bundle>(bundle_json)
        .ok()?
        .dsse_envelope
        .and_then(|e| decode_dsse_base64("the DSSE payload", &e.payload).ok())?;
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "predicateType")]
        predicate_type: String,
    }
    serde_json::from_slice::<Peek>(&payload)
        .ok()
        .map(|p| p.predicate_type)
}

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// DSSE fields are base64; the spec lets writers use either alphabet.
fn decode_dsse_base64(what: &'static str, s: &str) -> Result<Vec<u8>, SignatureError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|e| SignatureError::MalformedBase64 {
            what,
            reason: e.to_string(),
        })
}

/// A bundle whose DSSE signature verified with a trusted key: which key,
/// and the signed payload (not yet read as a statement).
pub(crate) struct Opened {
    /// Index in `keys` of the first key that verifies a signature.
    pub(crate) key_index: usize,
    /// The DSSE payload the signature covers.
    pub(crate) payload: Vec<u8>,
}

/// The bundle's `verificationMaterial.publicKey.hint`, if any (advisory:
/// cosign writes the base64 of the key's SHA-256 fingerprint).
pub(crate) fn key_hint(bundle_json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bundle_json).ok()?;
    value["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .map(str::to_owned)
}

/// Checks a bundle's media type and DSSE envelope, and that one of its
/// signatures verifies over the PAE with one of `keys` (the first in order
/// wins). The payload is returned unread: what it must say is the caller's.
pub(crate) fn open(bundle_json: &[u8], keys: &[TrustedKey]) -> Result<Opened, SignatureError> {
    if bundle_json.len() > MAX_PAYLOAD_SIZE {
        return Err(SignatureError::TooLarge {
            what: "sigstore bundle",
            size: bundle_json.len(),
            limit: MAX_PAYLOAD_SIZE,
        });
    }
    let malformed = |reason: String| SignatureError::MalformedBundle { reason };
    let bundle: Bundle =
        serde_json::from_slice(bundle_json).map_err(|e| malformed(e.to_string()))?;
    if bundle.media_type != SIGSTORE_BUNDLE_V03_MEDIA_TYPE {
        return Err(SignatureError::WrongBundleMediaType {
            found: bundle.media_type,
        });
    }
    let Some(envelope) = bundle.dsse_envelope else {
        return Err(malformed(if bundle.message_signature.is_some() {
            "it holds a message signature (`cosign sign-blob`), not a DSSE envelope".to_owned()
        } else {
            "it has no `dsseEnvelope`".to_owned()
        }));
    };
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(SignatureError::WrongDssePayloadType {
            found: envelope.payload_type,
        });
    }
    let payload = decode_dsse_base64("the DSSE payload", &envelope.payload)?;
    if payload.len() > MAX_PAYLOAD_SIZE {
        return Err(SignatureError::TooLarge {
            what: "DSSE payload",
            size: payload.len(),
            limit: MAX_PAYLOAD_SIZE,
        });
    }
    if envelope.signatures.is_empty() {
        return Err(SignatureError::NoSignatures);
    }
    if keys.is_empty() {
        return Err(SignatureError::NoTrustedKeys);
    }
    let signatures = envelope
        .signatures
        .iter()
        .map(|s| decode_dsse_base64("a DSSE signature", &s.sig))
        .collect::<Result<Vec<_>, _>>()?;
    let message = pae(&envelope.payload_type, &payload);
    let key_index = keys
        .iter()
        .position(|key| signatures.iter().any(|sig| key.verifies(sig, &message)))
        .ok_or_else(|| SignatureError::NotSignedByTrustedKey {
            keys: keys.iter().map(ToString::to_string).collect(),
        })?;
    Ok(Opened { key_index, payload })
}

/// The parts of a signed in-toto statement every caller checks: its `_type`
/// is an in-toto statement type, and one subject has `subject`'s digest.
/// Returns its predicate type.
pub(crate) fn check_statement(payload: &[u8], subject: &Digest) -> Result<String, SignatureError> {
    let statement: Statement =
        serde_json::from_slice(payload).map_err(|e| SignatureError::MalformedStatement {
            reason: e.to_string(),
        })?;
    if !STATEMENT_TYPES.contains(&statement.type_.as_str()) {
        return Err(SignatureError::MalformedStatement {
            reason: format!(
                "`_type` is `{}`, expected `{}`",
                statement.type_, STATEMENT_TYPES[0]
            ),
        });
    }
    let algorithm = subject.algorithm().as_str();
    let found: Vec<String> = statement
        .subject
        .iter()
        .filter_map(|s| {
            s.digest
                .iter()
                .find(|(alg, _)| alg.as_str() == algorithm)
                .or_else(|| s.digest.iter().next())
                .map(|(alg, hex)| format!("{alg}:{hex}"))
        })
        .collect();
    if !found.contains(&subject.to_string()) {
        return Err(SignatureError::StatementSubjectMismatch {
            found,
            subject: subject.clone(),
        });
    }
    Ok(statement.predicate_type)
}

/// Verifies a bundle and returns the index (in `keys`) of the first key that
/// verifies one of its signatures.
pub(crate) fn verify(
    bundle_json: &[u8],
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<usize, SignatureError> {
    let opened = open(bundle_json, keys)?;
    // The predicate type is checked before the subject, as it always was:
    // an attestation is refused as "another kind", whatever it is about.
    let statement: Statement = serde_json::from_slice(&opened.payload).map_err(|e| {
        SignatureError::MalformedStatement {
            reason: e.to_string(),
        }
    })?;
    if STATEMENT_TYPES.contains(&statement.type_.as_str())
        && statement.predicate_type != COSIGN_SIGN_PREDICATE_TYPE
    {
        return Err(SignatureError::WrongPredicateType {
            found: statement.predicate_type,
        });
    }
    check_statement(&opened.payload, subject)?;
    Ok(opened.key_index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }
}
