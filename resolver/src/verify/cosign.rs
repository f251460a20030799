//! Cosign signature verification, offline: bytes in, a typed verdict out.
//!
//! Reads what `cosign sign` writes, so that `cosign` and `lf-resolve`
//! interoperate:
//!
//! - simple signing: the layers of the `sha256-<hex>.sig` manifest, each a
//!   JSON payload naming the signed manifest digest, with the signature (and,
//!   for keyless or logged signatures, certificate, chain and Rekor bundle) in
//!   the layer's annotations — [`verify_simple_signing`],
//!   [`verify_simple_signing_keyless`], [`verify_any_simple_signing`];
//! - sigstore bundles v0.3 signed with a key: DSSE over an in-toto statement —
//!   [`verify_bundle_v03`], [`verify_any_bundle_v03`].
//!
//! The caller fetches the signature manifest and blobs and checks their
//! digests; this module never touches the network, the store or the clock
//! (keyless certificates are checked at the time the Rekor log recorded the
//! signature, never at "now"). A signature's payload is believed only after
//! its signature verifies; every failure says which check failed.
//!
//! A signature binds a digest *and* a repository, as in cosign: once a
//! payload verified, [`signed_repositories`] says which repository it names
//! (the simple-signing `docker-reference`, or a bundle statement subject's
//! `name`), and the caller compares that with the repository it locks
//! (`verify::policy` does), so one connector's signed bytes cannot be
//! spliced under another connector's reference.

pub(crate) mod bundle;
mod fulcio;
mod rekor;
mod trust;

use std::collections::BTreeMap;
use std::fmt;

use lf_lockfile::Digest;
use serde::Deserialize;

pub use bundle::{COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, pae};
pub(crate) use trust::pem_problem;
pub use trust::{TrustRoot, TrustRootError, TrustedKey};

/// Media type of a simple-signing layer of a cosign `.sig` manifest.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature over the layer's payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding the PEM Fulcio certificate of a keyless signature.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM certificate chain above the Fulcio leaf.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding the Rekor bundle (SET and log entry) as JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Media type of a sigstore bundle v0.3 (cosign v3's default output).
pub const SIGSTORE_BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The `critical.type` of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// The largest payload (simple-signing layer, DSSE payload, whole bundle)
/// read; larger ones are refused before parsing. Real ones are a few hundred
/// bytes to a few KiB.
pub const MAX_PAYLOAD_SIZE: usize = 1024 * 1024;

/// One layer of a cosign `.sig` manifest: its media type, its blob (fetched
/// and digest-checked by the caller) and its descriptor's annotations.
#[derive(Debug, Clone, Copy)]
pub struct SignatureLayer<'a> {
    /// The layer descriptor's `mediaType`.
    pub media_type: &'a str,
    /// The layer blob: the simple-signing JSON payload.
    pub payload: &'a [u8],
    /// The layer descriptor's annotations.
    pub annotations: &'a BTreeMap<String, String>,
}

/// A keyless policy: who must have signed, as Fulcio certified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyless {
    /// The certificate's subject alternative name (an email or a URI), exactly.
    pub identity: String,
    /// The OIDC issuer recorded in the certificate, exactly.
    pub issuer: String,
}

/// Whom a policy trusts.
#[derive(Debug, Clone, Copy)]
pub enum Policy<'a> {
    /// Any of these keys, preferring earlier ones.
    Keys(&'a [TrustedKey]),
    /// A Fulcio certificate for this identity and issuer.
    Keyless(&'a Keyless),
}

/// Who signed, once a signature verified: what the lockfile records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A policy key, by its fingerprint (sha256 of its DER SPKI).
    Key(Digest),
    /// A keyless signer, as the certificate names it.
    Keyless {
        /// The matched subject alternative name.
        identity: String,
        /// The matched OIDC issuer.
        issuer: String,
    },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Key(fingerprint) => write!(f, "key {fingerprint}"),
            Signer::Keyless { identity, issuer } => write!(f, "{identity} (issuer {issuer})"),
        }
    }
}

/// The signature chosen among several: its position in the input and signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Index of the layer or bundle that verified.
    pub index: usize,
    /// Who signed it.
    pub signer: Signer,
}

/// Why a signature was not accepted. Each variant names the check that
/// failed, and what was found where something else was wanted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The layer is not a simple-signing payload.
    #[error("signature layer has media type `{found}`, expected `{SIMPLE_SIGNING_MEDIA_TYPE}`")]
    WrongMediaType {
        /// The layer's media type.
        found: String,
    },
    /// Refused before reading: larger than [`MAX_PAYLOAD_SIZE`].
    #[error("{what} is {size} bytes, more than the {limit}-byte limit; refusing to read it")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A required layer annotation is absent.
    #[error("signature layer has no `{name}` annotation")]
    MissingAnnotation {
        /// The annotation key.
        name: &'static str,
    },
    /// A signature (or other base64 field) does not decode.
    #[error("{what} is not valid base64: {reason}")]
    MalformedBase64 {
        /// Which field.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The signed payload is not cosign's simple-signing JSON.
    #[error("signed payload is not cosign simple-signing JSON: {reason}")]
    MalformedPayload {
        /// What is wrong.
        reason: String,
    },
    /// The payload's `critical.type` is not [`SIMPLE_SIGNING_TYPE`].
    #[error("signed payload has `critical.type` `{found}`, expected `{SIMPLE_SIGNING_TYPE}`")]
    WrongPayloadType {
        /// The type found.
        found: String,
    },
    /// The signature is valid but over another manifest.
    #[error("signature is over {signed}, not {subject}")]
    DigestMismatch {
        /// The digest the payload names.
        signed: String,
        /// The digest being verified.
        subject: Digest,
    },
    /// The policy lists no keys.
    #[error("no trusted keys to verify the signature with")]
    NoTrustedKeys,
    /// No policy key verifies the signature.
    #[error(
        "signature does not verify with {}: {}",
        if keys.len() == 1 { "the trusted key".to_owned() } else { format!("any of the {} trusted keys", keys.len()) },
        keys.join(", ")
    )]
    NotSignedByTrustedKey {
        /// Each key tried, as `label (sha256:…)`, in policy order.
        keys: Vec<String>,
    },
    /// A public key cannot be read.
    #[error("`{label}` is not a usable public key: {reason}")]
    InvalidKey {
        /// The key's label (its path).
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A certificate (leaf, chain annotation) cannot be parsed.
    #[error("{what} is not a valid certificate: {reason}")]
    MalformedCertificate {
        /// Which certificate.
        what: String,
        /// The parser's message.
        reason: String,
    },
    /// The certificate's path does not end at a pinned Fulcio root, or a
    /// certificate on it fails a check (validity, key usage, signature).
    #[error("certificate chain does not lead to a pinned Fulcio root: {reason}")]
    UntrustedCertificate {
        /// What path building reported.
        reason: String,
    },
    /// The (short-lived) leaf was not valid when Rekor integrated the entry.
    #[error(
        "certificate was not valid at {time}, when Rekor integrated the signature: valid from {not_before} to {not_after}"
    )]
    CertificateNotValidAt {
        /// The Rekor integrated time.
        time: String,
        /// The certificate's `notBefore`.
        not_before: String,
        /// The certificate's `notAfter`.
        not_after: String,
    },
    /// The certificate was issued to someone else.
    #[error(
        "certificate identity mismatch: found {}, wanted `{wanted}`",
        if found.is_empty() { "no email or URI".to_owned() } else { found.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ") }
    )]
    IdentityMismatch {
        /// The certificate's SAN emails and URIs.
        found: Vec<String>,
        /// The policy's identity.
        wanted: String,
    },
    /// The certificate's OIDC issuer is another one.
    #[error(
        "certificate OIDC issuer mismatch: found {}, wanted `{wanted}`",
        found.as_deref().map_or_else(|| "none".to_owned(), |f| format!("`{f}`"))
    )]
    IssuerMismatch {
        /// The issuer extension's value.
        found: Option<String>,
        /// The policy's issuer.
        wanted: String,
    },
    /// The Rekor bundle annotation cannot be read.
    #[error("Rekor bundle is malformed: {reason}")]
    MalformedRekorBundle {
        /// What is wrong.
        reason: String,
    },
    /// The Rekor entry names a log the trust root does not hold.
    #[error("Rekor log {log_id} is not in the trusted root")]
    UnknownRekorLog {
        /// The log ID (hex sha256 of its key).
        log_id: String,
    },
    /// The signed entry timestamp does not verify with the log's key.
    #[error("Rekor signed entry timestamp does not verify with the key of {log} (log {log_id})")]
    RekorSetInvalid {
        /// The log ID.
        log_id: String,
        /// The log's URL.
        log: String,
    },
    /// The log key was not valid at the integrated time.
    #[error("Rekor key of {log} was not valid at {time}")]
    RekorKeyNotValidAt {
        /// The log's URL.
        log: String,
        /// The integrated time.
        time: String,
    },
    /// The Rekor entry is about another signature, payload or signer.
    #[error("Rekor entry does not match the signature: {reason}")]
    RekorBodyMismatch {
        /// Which field differs.
        reason: String,
    },
    /// The payload signature does not verify with the certificate's key.
    #[error("signature does not verify with the key of its Fulcio certificate")]
    CertificateSignatureInvalid,
    /// Not a v0.3 sigstore bundle.
    #[error("bundle has media type `{found}`, expected `{SIGSTORE_BUNDLE_V03_MEDIA_TYPE}`")]
    WrongBundleMediaType {
        /// The media type found.
        found: String,
    },
    /// The bundle's JSON is not a sigstore bundle with a DSSE envelope.
    #[error("sigstore bundle is malformed: {reason}")]
    MalformedBundle {
        /// What is wrong.
        reason: String,
    },
    /// The DSSE payload is not an in-toto statement.
    #[error("DSSE payload type is `{found}`, expected `{IN_TOTO_PAYLOAD_TYPE}`")]
    WrongDssePayloadType {
        /// The payload type found.
        found: String,
    },
    /// The signed in-toto statement cannot be read.
    #[error("signed in-toto statement is malformed: {reason}")]
    MalformedStatement {
        /// What is wrong.
        reason: String,
    },
    /// The statement is another kind of attestation.
    #[error(
        "in-toto statement has predicate type `{found}`, expected `{COSIGN_SIGN_PREDICATE_TYPE}`"
    )]
    WrongPredicateType {
        /// The predicate type found.
        found: String,
    },
    /// The statement is about other artifacts.
    #[error(
        "signed statement is about {}, not {subject}",
        if found.is_empty() { "no digest".to_owned() } else { found.join(", ") }
    )]
    StatementSubjectMismatch {
        /// The subjects' digests.
        found: Vec<String>,
        /// The digest being verified.
        subject: Digest,
    },
    /// The signature verified, but for another repository than the one
    /// locked (the artifact was copied from elsewhere).
    #[error(
        "the signature was made for repository `{signed}`, not `{expected}`{}",
        if *missing { " (it names no repository)" } else { "" }
    )]
    WrongRepository {
        /// The repository the signed payload names (empty when none).
        signed: String,
        /// The repository (or repositories) accepted.
        expected: String,
        /// Whether the payload names no repository at all.
        missing: bool,
    },
    /// Nothing to verify: no layers, bundles, or envelope signatures.
    #[error("no signatures to verify")]
    NoSignatures,
    /// The caller could not read a signature blob it meant to verify (kept
    /// here so a caller can report every signature failure as one type;
    /// this module itself does no I/O).
    #[error("{0}")]
    Io(String),
    /// Several signatures were offered and none verified.
    #[error(
        "none of the {} signatures verifies: {}",
        errors.len(),
        errors.iter().enumerate().map(|(i, e)| format!("#{}: {e}", i + 1)).collect::<Vec<_>>().join("; ")
    )]
    NoneVerified {
        /// Why each one failed, in input order.
        errors: Vec<SignatureError>,
    },
}

/// The parts of the simple-signing payload that are checked.
#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(default)]
    identity: Option<Identity>,
    image: Image,
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference", default)]
    docker_reference: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Checks media type and size, and decodes the signature annotation.
fn layer_signature(layer: &SignatureLayer<'_>) -> Result<Vec<u8>, SignatureError> {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(SignatureError::WrongMediaType {
            found: layer.media_type.to_owned(),
        });
    }
    if layer.payload.len() > MAX_PAYLOAD_SIZE {
        return Err(SignatureError::TooLarge {
            what: "simple-signing payload",
            size: layer.payload.len(),
            limit: MAX_PAYLOAD_SIZE,
        });
    }
    let signature = annotation(layer, SIGNATURE_ANNOTATION)?;
    trust::base64_decode(signature.trim()).map_err(|reason| SignatureError::MalformedBase64 {
        what: "the signature annotation",
        reason,
    })
}

fn annotation<'a>(
    layer: &SignatureLayer<'a>,
    name: &'static str,
) -> Result<&'a str, SignatureError> {
    layer
        .annotations
        .get(name)
        .map(String::as_str)
        .ok_or(SignatureError::MissingAnnotation { name })
}

/// Checks a payload whose signature has verified: cosign's type and the
/// subject digest.
fn check_payload(payload: &[u8], subject: &Digest) -> Result<(), SignatureError> {
    let parsed: SimpleSigning =
        serde_json::from_slice(payload).map_err(|e| SignatureError::MalformedPayload {
            reason: e.to_string(),
        })?;
    if parsed.critical.type_ != SIMPLE_SIGNING_TYPE {
        return Err(SignatureError::WrongPayloadType {
            found: parsed.critical.type_,
        });
    }
    let signed = parsed.critical.image.docker_manifest_digest;
    if signed != subject.to_string() {
        return Err(SignatureError::DigestMismatch {
            signed,
            subject: subject.clone(),
        });
    }
    Ok(())
}

/// Which kind of payload [`signed_repositories`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// A simple-signing layer payload.
    SimpleSigning,
    /// A sigstore bundle v0.3 (JSON).
    BundleV03,
}

/// The repositories a payload that has *already verified* says it signs for:
/// the simple-signing `critical.identity.docker-reference` (cosign always
/// writes it; `None` when absent), or the `name` of every statement subject
/// with `subject`'s digest in a bundle (`Some(empty)` when the subjects carry
/// no name, which cosign's bundles do not: then only the digest binds).
///
/// Call it only after a verify function accepted the payload: an unverified
/// payload's claims mean nothing.
pub fn signed_repositories(
    kind: PayloadKind,
    payload: &[u8],
    subject: &Digest,
) -> Option<Vec<String>> {
    match kind {
        PayloadKind::SimpleSigning => {
            let parsed: SimpleSigning = serde_json::from_slice(payload).ok()?;
            parsed
                .critical
                .identity
                .and_then(|i| i.docker_reference)
                .map(|r| vec![r])
        }
        PayloadKind::BundleV03 => Some(bundle::subject_names(payload, subject)),
    }
}

/// Verifies one layer with policy keys; returns the index of the first key
/// (in policy order) whose signature verifies.
fn verify_layer_with_keys(
    layer: &SignatureLayer<'_>,
    subject: &Digest,
    keys: &[TrustedKey],
    root: &TrustRoot,
) -> Result<usize, SignatureError> {
    let signature = layer_signature(layer)?;
    if keys.is_empty() {
        return Err(SignatureError::NoTrustedKeys);
    }
    let index = keys
        .iter()
        .position(|key| key.verifies(&signature, layer.payload))
        .ok_or_else(|| SignatureError::NotSignedByTrustedKey {
            keys: keys.iter().map(ToString::to_string).collect(),
        })?;
    check_payload(layer.payload, subject)?;
    if let Some(bundle) = layer.annotations.get(BUNDLE_ANNOTATION) {
        let entry = rekor::verify_set(bundle, root)?;
        entry.check_matches(&rekor::Expected {
            payload: layer.payload,
            signature: &signature,
            key_der: keys[index].spki_der(),
            key_label: "PUBLIC KEY",
        })?;
    }
    Ok(index)
}

/// Verifies a key-based simple-signing layer over `subject`.
///
/// Keys are tried in the order given (the policy's); the first that verifies
/// is the signer. The payload must be cosign's, with `critical.type`
/// [`SIMPLE_SIGNING_TYPE`] and `docker-manifest-digest` equal to `subject`.
/// When the layer carries a Rekor bundle ([`BUNDLE_ANNOTATION`]) it must
/// verify against the pinned trust root ([`TrustRoot::pinned`]) and record
/// this signature and key; a layer without one is accepted on the key alone.
pub fn verify_simple_signing(
    layer: &SignatureLayer<'_>,
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<Signer, SignatureError> {
    verify_simple_signing_with_root(layer, subject, keys, trust::pinned())
}

/// [`verify_simple_signing`], checking a Rekor bundle against `root`
/// instead of the pinned trust root.
pub fn verify_simple_signing_with_root(
    layer: &SignatureLayer<'_>,
    subject: &Digest,
    keys: &[TrustedKey],
    root: &TrustRoot,
) -> Result<Signer, SignatureError> {
    let index = verify_layer_with_keys(layer, subject, keys, root)?;
    Ok(Signer::Key(keys[index].fingerprint().clone()))
}

/// Verifies a keyless simple-signing layer over `subject`, offline.
///
/// In order: the Rekor SET ([`BUNDLE_ANNOTATION`]) verifies with a log key of
/// `root`, which makes its `integratedTime` trustworthy; the certificate
/// ([`CERTIFICATE_ANNOTATION`]) chains, through the [`CHAIN_ANNOTATION`]
/// certificates taken as untrusted intermediates, to a Fulcio root of `root`
/// at that time, with the code-signing key usage; its SAN and OIDC issuer are
/// the policy's; the Rekor entry records this payload, signature and
/// certificate; the signature verifies with the certificate's key; the
/// payload names `subject`.
pub fn verify_simple_signing_keyless(
    layer: &SignatureLayer<'_>,
    subject: &Digest,
    policy: &Keyless,
    root: &TrustRoot,
) -> Result<Signer, SignatureError> {
    let signature = layer_signature(layer)?;
    let entry = rekor::verify_set(annotation(layer, BUNDLE_ANNOTATION)?, root)?;
    let leaf = fulcio::Leaf::from_pem(annotation(layer, CERTIFICATE_ANNOTATION)?)?;
    let chain = layer.annotations.get(CHAIN_ANNOTATION).map(String::as_str);
    leaf.verify_chain(chain, root, entry.integrated_time)?;
    let identities = leaf.identities()?;
    if !identities.contains(&policy.identity) {
        return Err(SignatureError::IdentityMismatch {
            found: identities,
            wanted: policy.identity.clone(),
        });
    }
    let issuer = leaf.issuer()?;
    if issuer.as_deref() != Some(policy.issuer.as_str()) {
        return Err(SignatureError::IssuerMismatch {
            found: issuer,
            wanted: policy.issuer.clone(),
        });
    }
    entry.check_matches(&rekor::Expected {
        payload: layer.payload,
        signature: &signature,
        key_der: &leaf.der,
        key_label: "CERTIFICATE",
    })?;
    if !leaf.key()?.verifies(&signature, layer.payload) {
        return Err(SignatureError::CertificateSignatureInvalid);
    }
    check_payload(layer.payload, subject)?;
    Ok(Signer::Keyless {
        identity: policy.identity.clone(),
        issuer: policy.issuer.clone(),
    })
}

/// Verifies the layers of one `.sig` manifest and picks the signature the
/// lock records.
///
/// With keys, the winner is the layer signed by the earliest key in policy
/// order (the first such layer on a tie), so the result does not depend on
/// the order signatures were pushed in. Keyless, it is the first layer that
/// verifies. When none does, [`SignatureError::NoneVerified`] says why for
/// each layer (a single layer's error is returned as is).
pub fn verify_any_simple_signing(
    layers: &[SignatureLayer<'_>],
    subject: &Digest,
    policy: Policy<'_>,
    root: &TrustRoot,
) -> Result<Selected, SignatureError> {
    select(
        layers,
        |layer| match policy {
            Policy::Keys(keys) => verify_layer_with_keys(layer, subject, keys, root),
            Policy::Keyless(keyless) => {
                verify_simple_signing_keyless(layer, subject, keyless, root).map(|_| 0)
            }
        },
        |rank| match policy {
            Policy::Keys(keys) => Signer::Key(keys[rank].fingerprint().clone()),
            Policy::Keyless(keyless) => Signer::Keyless {
                identity: keyless.identity.clone(),
                issuer: keyless.issuer.clone(),
            },
        },
    )
}

/// Verifies a key-signed sigstore bundle v0.3 for `subject`.
///
/// The bundle's media type must be [`SIGSTORE_BUNDLE_V03_MEDIA_TYPE`]; its
/// DSSE envelope must carry [`IN_TOTO_PAYLOAD_TYPE`] and a signature over the
/// PAE that verifies with one of `keys` (the first in policy order wins); the
/// statement's predicate type must be [`COSIGN_SIGN_PREDICATE_TYPE`] and one
/// of its subjects must have `subject`'s digest (a `name` is allowed and not
/// checked). The key `hint` and DSSE `keyid` are ignored.
pub fn verify_bundle_v03(
    bundle_json: &[u8],
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<Signer, SignatureError> {
    let index = bundle::verify(bundle_json, subject, keys)?;
    Ok(Signer::Key(keys[index].fingerprint().clone()))
}

/// Verifies several bundles for `subject` and picks the one signed by the
/// earliest key in policy order, as [`verify_any_simple_signing`] does.
pub fn verify_any_bundle_v03(
    bundles: &[&[u8]],
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<Selected, SignatureError> {
    select(
        bundles,
        |bundle| bundle::verify(bundle, subject, keys),
        |rank| Signer::Key(keys[rank].fingerprint().clone()),
    )
}

/// Verifies every candidate, keeps the lowest rank (first on ties), and
/// reports every failure when none verifies.
fn select<T>(
    candidates: &[T],
    verify: impl Fn(&T) -> Result<usize, SignatureError>,
    signer: impl Fn(usize) -> Signer,
) -> Result<Selected, SignatureError> {
    let mut best: Option<(usize, usize)> = None;
    let mut errors = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        match verify(candidate) {
            Ok(rank) => {
                if best.is_none_or(|(_, best_rank)| rank < best_rank) {
                    best = Some((index, rank));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    match best {
        Some((index, rank)) => Ok(Selected {
            index,
            signer: signer(rank),
        }),
        None if errors.len() == 1 => Err(errors.remove(0)),
        None if errors.is_empty() => Err(SignatureError::NoSignatures),
        None => Err(SignatureError::NoneVerified { errors }),
    }
}
