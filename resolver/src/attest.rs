//! Certification attestations: signed in-toto statements about a connector's
//! manifest digest, attached to it as OCI referrers, and the `[policy]
//! certification` rule that `lock` applies to them.
//!
//! Why a separate module: a certification is not a signature. Both are
//! sigstore v0.3 bundles (DSSE over an in-toto statement) hung off the same
//! manifest, so they must never be mistaken for each other — a signature
//! says "this key vouches for these bytes", a certification says "these
//! bytes passed (or failed) their contract tests". The referrer annotation
//! and the statement's predicate type tell them apart; registry discovery
//! ([`RegistryClient::fetch_attestations`]) keeps them apart, and this
//! module verifies what a certification claims.
//!
//! Three pieces:
//!
//! - writing: [`attach_bundle`] pushes any bundle as a referrer of a
//!   manifest with its predicate type annotated (the form `cosign attest`
//!   writes), and records it in the `sha256-<hex>` tag fallback index for
//!   registries without the referrers API; statements and bundles come from
//!   [`crate::sign::in_toto_statement_for`] and
//!   [`crate::sign::dsse_bundle_v03_for`];
//! - verifying one attestation: [`verify_test_result`] checks, in order, the
//!   bundle, the DSSE signature against the trusted keys, that the payload is
//!   an in-toto statement, that its subject is the manifest digest, its
//!   predicate type, and reads its `result`;
//! - the policy: [`apply`] picks what the lock records among every
//!   attestation found (see its documentation for the rule).

use serde::Deserialize;
use serde_json::{Value, json};

use lf_lockfile::{
    CertificationEntry, CertificationMode, CertificationPolicy, CertificationResult, Digest,
    Reference, VerifiedCertification,
};

use crate::artifact::{OCI_INDEX, OCI_MANIFEST};
use crate::registry::push::Publisher;
use crate::registry::{
    PREDICATE_TYPE_ANNOTATION, RegistryClient, RegistryError, SignatureArtifact,
};
use crate::verify::cosign::bundle;
use crate::verify::cosign::{
    COSIGN_SIGN_PREDICATE_TYPE, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, SignatureError, TrustedKey,
};

/// The predicate type of the standard in-toto test-result attestation: the
/// statement `lock` checks (`result` PASSED / WARNED / FAILED).
pub const TEST_RESULT_PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// The predicate type of the full certification evidence (attached beside
/// the test result; `lock` does not read it).
pub const CERTIFICATION_PREDICATE_TYPE: &str =
    "https://latticeflow.dev/attestation/certification/v0.1";

/// The annotation saying what a bundle referrer holds, as cosign writes it.
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";

/// The OCI empty descriptor's media type, and its blob `{}`.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_BLOB: &[u8] = b"{}";

/// Pushes `bundle` as an OCI 1.1 referrer of `subject` (a manifest of
/// `subject_size` bytes in `reference`'s repository), annotated with
/// `predicate_type` (`dev.sigstore.bundle.predicateType`) as `cosign attest`
/// and `cosign sign` v3 write it, and adds it to the `sha256-<hex>` tag
/// fallback index (distribution 2.8 has no referrers API). Attaching the same
/// bundle twice is harmless. Returns the referrer manifest's digest.
///
/// # Errors
/// Whatever the registry refuses, as [`RegistryError`].
pub async fn attach_bundle(
    client: &RegistryClient,
    publisher: &Publisher,
    reference: &Reference,
    subject: &Digest,
    subject_size: usize,
    bundle: &[u8],
    predicate_type: &str,
) -> Result<Digest, RegistryError> {
    publisher.authenticate().await?;
    let bundle_digest = publisher.push_blob(bundle).await?;
    let empty_digest = publisher.push_blob(EMPTY_BLOB).await?;
    let annotations = json!({
        BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
        PREDICATE_TYPE_ANNOTATION: predicate_type,
    });
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        "config": { "mediaType": EMPTY_MEDIA_TYPE, "size": EMPTY_BLOB.len(), "digest": empty_digest.to_string() },
        "layers": [{ "mediaType": SIGSTORE_BUNDLE_V03_MEDIA_TYPE, "size": bundle.len(), "digest": bundle_digest.to_string() }],
        "subject": { "mediaType": OCI_MANIFEST, "size": subject_size, "digest": subject.to_string() },
        "annotations": annotations,
    }))
    .unwrap_or_default();
    let manifest_digest = publisher
        .push_manifest(&manifest, OCI_MANIFEST, None)
        .await?;

    // The tag fallback: an index of the subject's referrers.
    let tag = Reference::digest_tag(subject);
    let index_ref = reference.with_tag(&tag).map_err(|e| RegistryError::Other {
        reference: reference.to_string(),
        detail: e.to_string(),
    })?;
    let mut entries: Vec<Value> = match client.fetch_manifest(&index_ref).await {
        Ok(existing) => serde_json::from_slice::<Value>(&existing.bytes)
            .ok()
            .and_then(|v| v.get("manifests").and_then(Value::as_array).cloned())
            .unwrap_or_default(),
        Err(RegistryError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    if !entries
        .iter()
        .any(|e| e["digest"] == manifest_digest.to_string())
    {
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "size": manifest.len(),
            "digest": manifest_digest.to_string(),
            "artifactType": SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
            "annotations": annotations,
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .unwrap_or_default();
    publisher
        .push_manifest(&index, OCI_INDEX, Some(&tag))
        .await?;
    Ok(manifest_digest)
}

/// [`attach_bundle`] for a signature bundle (cosign's sign predicate type).
///
/// # Errors
/// As [`attach_bundle`].
pub async fn attach_signature_bundle(
    client: &RegistryClient,
    publisher: &Publisher,
    reference: &Reference,
    subject: &Digest,
    subject_size: usize,
    bundle: &[u8],
) -> Result<Digest, RegistryError> {
    attach_bundle(
        client,
        publisher,
        reference,
        subject,
        subject_size,
        bundle,
        COSIGN_SIGN_PREDICATE_TYPE,
    )
    .await
}

/// Why one test-result attestation was not accepted. Each message names the
/// problem in the words the lock's refusal uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The DSSE envelope carries no signature at all.
    #[error("unsigned: the DSSE envelope holds no signature")]
    Unsigned,
    /// The policy names no key to verify with.
    #[error("no trusted key to verify it with: the policy names no key")]
    NoTrustedKeys,
    /// Its hint names a trusted key, but no signature verifies with it:
    /// the statement or the signature was altered.
    #[error(
        "bad DSSE signature: the bundle names the trusted key {key}, but its signature does not verify (the statement or the signature was altered)"
    )]
    BadSignature {
        /// The key the hint names, as `label (sha256:…)`.
        key: String,
    },
    /// Signed, but by none of the trusted keys.
    #[error("signed by a key that is not listed in latticeflow.toml (tried {})", keys.join(", "))]
    UnlistedKey {
        /// Each key tried, as `label (sha256:…)`.
        keys: Vec<String>,
    },
    /// The signed payload is not an in-toto statement.
    #[error("not an in-toto statement: {reason}")]
    NotInToto {
        /// What is wrong.
        reason: String,
    },
    /// The statement is about other artifacts.
    #[error(
        "about another digest: its subject is {}, not the manifest {subject}",
        if found.is_empty() { "no digest".to_owned() } else { found.join(", ") }
    )]
    OtherDigest {
        /// The subjects' digests.
        found: Vec<String>,
        /// The manifest digest being locked.
        subject: Digest,
    },
    /// Another kind of statement.
    #[error("the statement has predicate type `{found}`, expected `{TEST_RESULT_PREDICATE_TYPE}`")]
    WrongPredicateType {
        /// The predicate type found.
        found: String,
    },
    /// The test-result predicate cannot be read.
    #[error("the test-result predicate is malformed: {reason}")]
    MalformedPredicate {
        /// What is wrong.
        reason: String,
    },
    /// The bundle itself is unusable (media type, size, JSON, base64).
    #[error("{0}")]
    Bundle(SignatureError),
}

/// A test-result attestation that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// Index in the trusted keys of the key that signed it.
    pub key_index: usize,
    /// The attested result.
    pub result: CertificationResult,
}

#[derive(Deserialize)]
struct TestResultPredicate {
    result: CertificationResult,
}

#[derive(Deserialize)]
struct PredicateOnly {
    predicate: Option<Value>,
}

/// Verifies a test-result attestation bundle about `subject`: a v0.3 bundle
/// whose DSSE signature verifies with one of `keys` (the first in order
/// wins), whose payload is an in-toto statement (type `application/vnd.in-toto+json`,
/// `_type` v1) with a subject of `subject`'s digest and predicate type
/// [`TEST_RESULT_PREDICATE_TYPE`], and whose predicate has a `result` of
/// `PASSED`, `WARNED` or `FAILED`. A `FAILED` attestation verifies: what to
/// do with its result is the policy's ([`apply`]).
///
/// # Errors
/// The first check that failed, as [`AttestationError`].
pub fn verify_test_result(
    bundle_json: &[u8],
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<Attested, AttestationError> {
    let opened = bundle::open(bundle_json, keys).map_err(|e| match e {
        SignatureError::NoSignatures => AttestationError::Unsigned,
        SignatureError::NoTrustedKeys => AttestationError::NoTrustedKeys,
        SignatureError::NotSignedByTrustedKey { keys: tried } => {
            let hinted = bundle::key_hint(bundle_json)
                .and_then(|hint| keys.iter().find(|k| hint_of(k) == hint));
            match hinted {
                Some(key) => AttestationError::BadSignature {
                    key: key.to_string(),
                },
                None => AttestationError::UnlistedKey { keys: tried },
            }
        }
        SignatureError::WrongDssePayloadType { found } => AttestationError::NotInToto {
            reason: format!("the DSSE payload type is `{found}`"),
        },
        other => AttestationError::Bundle(other),
    })?;
    let predicate_type =
        bundle::check_statement(&opened.payload, subject).map_err(|e| match e {
            SignatureError::MalformedStatement { reason } => AttestationError::NotInToto { reason },
            SignatureError::StatementSubjectMismatch { found, subject } => {
                AttestationError::OtherDigest { found, subject }
            }
            other => AttestationError::Bundle(other),
        })?;
    if predicate_type != TEST_RESULT_PREDICATE_TYPE {
        return Err(AttestationError::WrongPredicateType {
            found: predicate_type,
        });
    }
    let malformed = |reason: String| AttestationError::MalformedPredicate { reason };
    let predicate = serde_json::from_slice::<PredicateOnly>(&opened.payload)
        .map_err(|e| malformed(e.to_string()))?
        .predicate
        .ok_or_else(|| malformed("the statement has no `predicate`".to_owned()))?;
    let parsed: TestResultPredicate = serde_json::from_value(predicate)
        .map_err(|e| malformed(format!("{e} (`result` must be PASSED, WARNED or FAILED)")))?;
    Ok(Attested {
        key_index: opened.key_index,
        result: parsed.result,
    })
}

/// The bundle hint cosign writes for a key: base64 of its fingerprint.
fn hint_of(key: &TrustedKey) -> String {
    use base64::Engine as _;
    let hex = key.fingerprint().hex();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What the policy decided for one connector.
#[derive(Debug)]
pub enum Outcome {
    /// Record this entry (with warnings to show, e.g. `optional` and none
    /// valid).
    Accepted(CertificationEntry, Vec<String>),
    /// Refuse the connector: why (one line each), and what to do.
    Refused {
        /// The headline reason.
        message: String,
        /// Each attestation's problem, or what was missing.
        reasons: Vec<String>,
        /// What to do about it.
        help: String,
    },
}

/// A verified attestation with where it came from.
struct Candidate {
    attested: Attested,
    digest: Digest,
}

/// Applies a connector's certification `policy` to the `artifacts` found for
/// `subject`, verifying each with `keys` (in policy order).
///
/// The rule, whatever the order attestations were attached in:
///
/// - a valid `FAILED` attestation (signed by a trusted key, about this
///   digest) refuses the connector, even beside a `PASSED` one: a trusted
///   signer saw these very bytes fail;
/// - otherwise the lock records a valid `PASSED` one, else (with
///   `allow-warned`) a valid `WARNED` one; among equals, the one signed by the
///   earliest key in policy order, then the lowest attestation digest;
/// - valid `WARNED` ones without `allow-warned` refuse the connector (under
///   `required` and `optional` alike: the result is known and not accepted);
/// - no valid attestation: `required` refuses, naming each problem;
///   `optional` records the policy alone and warns.
///
/// `reference` and `name` only shape the messages.
pub fn apply(
    policy: CertificationPolicy,
    keys: &[TrustedKey],
    subject: &Digest,
    artifacts: &[SignatureArtifact],
    name: &str,
    reference: &Reference,
) -> Outcome {
    if policy.mode == CertificationMode::None {
        return Outcome::Accepted(CertificationEntry::default(), Vec::new());
    }
    let certify_hint = format!(
        "certify it with `lf-resolve certify {} --contract <its tests/contract.yaml> --key <cosign.key>`, signed by a key that latticeflow.toml trusts for `{name}`, or relax `certification` for this connector",
        reference.without_digest()
    );
    let mut reasons: Vec<String> = Vec::new();
    let mut valid: Vec<Candidate> = Vec::new();
    if artifacts.is_empty() {
        reasons.push(format!(
            "missing: no referrer of {subject} holds a `{TEST_RESULT_PREDICATE_TYPE}` attestation"
        ));
    }
    if keys.is_empty() {
        reasons.push(
            "the policy names no key to verify certifications with (`keys` in [policy] or the connector's `signature`)".to_owned(),
        );
    } else {
        for artifact in artifacts {
            for layer in &artifact.layers {
                let result = layer
                    .blob
                    .read()
                    .map_err(|e| {
                        AttestationError::Bundle(SignatureError::Io(format!(
                            "cannot read attestation layer {}: {e}",
                            layer.blob.digest()
                        )))
                    })
                    .and_then(|bytes| verify_test_result(&bytes, subject, keys));
                match result {
                    Ok(attested) => valid.push(Candidate {
                        attested,
                        digest: artifact.manifest.digest.clone(),
                    }),
                    Err(e) => {
                        let line = format!("attestation {}: {e}", artifact.manifest.digest);
                        if !reasons.contains(&line) {
                            reasons.push(line);
                        }
                    }
                }
            }
        }
    }
    let signer = |c: &Candidate| keys[c.attested.key_index].to_string();
    if let Some(failed) = valid
        .iter()
        .filter(|c| c.attested.result == CertificationResult::Failed)
        .min_by(|a, b| (a.attested.key_index, &a.digest).cmp(&(b.attested.key_index, &b.digest)))
    {
        return Outcome::Refused {
            message: format!(
                "connector `{name}` ({subject}) is certified FAILED by {} (attestation {})",
                signer(failed),
                failed.digest
            ),
            reasons: Vec::new(),
            help: format!(
                "fix the connector so that its contract tests pass, publish it and certify the new digest (`lf-resolve certify {} --contract <its tests/contract.yaml> --key <cosign.key>`)",
                reference.without_digest()
            ),
        };
    }
    let acceptable = |r: CertificationResult| {
        r == CertificationResult::Passed
            || (r == CertificationResult::Warned && policy.allow_warned)
    };
    let rank = |r: CertificationResult| u8::from(r != CertificationResult::Passed);
    let best = valid
        .iter()
        .filter(|c| acceptable(c.attested.result))
        .min_by(|a, b| {
            (rank(a.attested.result), a.attested.key_index, &a.digest).cmp(&(
                rank(b.attested.result),
                b.attested.key_index,
                &b.digest,
            ))
        });
    if let Some(best) = best {
        return Outcome::Accepted(
            CertificationEntry {
                policy: policy.mode,
                verified: Some(VerifiedCertification {
                    result: best.attested.result,
                    key: keys[best.attested.key_index].fingerprint().clone(),
                    digest: best.digest.clone(),
                }),
            },
            Vec::new(),
        );
    }
    if let Some(warned) = valid
        .iter()
        .find(|c| c.attested.result == CertificationResult::Warned)
    {
        return Outcome::Refused {
            message: format!(
                "connector `{name}` ({subject}) is certified WARNED by {} (attestation {}), and WARNED is not allowed",
                signer(warned),
                warned.digest
            ),
            reasons: Vec::new(),
            help: format!(
                "review the warnings of the certification; to accept them, set `allow-warned = true` in [policy] or for connector `{name}` in latticeflow.toml"
            ),
        };
    }
    match policy.mode {
        CertificationMode::Optional => {
            let mut warnings = vec!["no certification verified (policy `optional`)".to_owned()];
            warnings.extend(reasons);
            Outcome::Accepted(
                CertificationEntry {
                    policy: CertificationMode::Optional,
                    verified: None,
                },
                warnings,
            )
        }
        _ => Outcome::Refused {
            message: format!(
                "connector `{name}` ({subject}) requires a certification (policy `required`), and none verified"
            ),
            reasons,
            help: certify_hint,
        },
    }
}

/// What `inspect` shows of one attestation bundle: its claimed result and
/// signer, and whether it verifies with the keys at hand.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The `result` the statement claims (unverified), when readable.
    pub result: Option<CertificationResult>,
    /// The signer's key fingerprint as the bundle's hint names it
    /// (unverified), when present.
    pub signer: Option<Digest>,
    /// The verdict with the keys given.
    pub verified: Result<Attested, AttestationError>,
}

/// Reads what a test-result bundle claims and verifies it with `keys`.
pub fn summarize(bundle_json: &[u8], subject: &Digest, keys: &[TrustedKey]) -> Summary {
    use base64::Engine as _;
    let signer = bundle::key_hint(bundle_json)
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
        .filter(|bytes| bytes.len() == 32)
        .map(|bytes| Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &bytes));
    let result = (|| {
        let value: Value = serde_json::from_slice(bundle_json).ok()?;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(value["dsseEnvelope"]["payload"].as_str()?)
            .ok()?;
        let statement: Value = serde_json::from_slice(&payload).ok()?;
        serde_json::from_value(statement["predicate"]["result"].clone()).ok()
    })();
    Summary {
        result,
        signer,
        verified: verify_test_result(bundle_json, subject, keys),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::registry::{FetchedManifest, SignatureKind, SignatureLayerBlob};
    use crate::sign::{SigningKey, dsse_bundle_v03_for, in_toto_statement_for};
    use crate::store::Store;

    fn sha256(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &sha2::Sha256::digest(bytes))
    }

    /// A stored referrer holding a test-result bundle by `key` saying `result`.
    fn artifact(
        store: &Store,
        key: &SigningKey,
        subject: &Digest,
        result: &str,
    ) -> SignatureArtifact {
        let statement = in_toto_statement_for(
            subject,
            None,
            TEST_RESULT_PREDICATE_TYPE,
            &json!({"result": result, "configuration": [], "passedTests": [], "warnedTests": [], "failedTests": []}),
        );
        let bundle = dsse_bundle_v03_for(key, &statement).unwrap();
        let blob = store.put(&sha256(&bundle), &bundle).unwrap();
        // A distinct manifest per bundle, as a registry would hold.
        let manifest = format!("{{\"layer\":\"{}\"}}", blob.digest()).into_bytes();
        SignatureArtifact {
            kind: SignatureKind::Referrer,
            manifest: FetchedManifest {
                digest: sha256(&manifest),
                bytes: manifest.into(),
            },
            layers: vec![SignatureLayerBlob {
                media_type: SIGSTORE_BUNDLE_V03_MEDIA_TYPE.to_owned(),
                annotations: Default::default(),
                blob,
            }],
            reference: "127.0.0.1:5000/a/b:1".parse().unwrap(),
        }
    }

    fn trusted(key: &SigningKey, label: &str) -> TrustedKey {
        TrustedKey::from_pem(key.public_key_pem().unwrap().as_bytes(), label).unwrap()
    }

    fn recorded(outcome: Outcome) -> VerifiedCertification {
        match outcome {
            Outcome::Accepted(entry, _) => entry.verified.unwrap(),
            Outcome::Refused { message, .. } => panic!("{message}"),
        }
    }

    #[test]
    fn the_choice_does_not_depend_on_the_order_attestations_were_attached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let subject = sha256(b"manifest");
        let (first, second) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let keys = [trusted(&first, "first.pub"), trusted(&second, "second.pub")];
        let policy = CertificationPolicy {
            mode: CertificationMode::Required,
            allow_warned: true,
        };
        let reference: Reference = "127.0.0.1:5000/a/b:1".parse().unwrap();
        let mut artifacts = vec![
            artifact(&store, &second, &subject, "PASSED"),
            artifact(&store, &first, &subject, "WARNED"),
            artifact(&store, &first, &subject, "PASSED"),
            artifact(&store, &second, &subject, "WARNED"),
        ];
        let chosen = recorded(apply(policy, &keys, &subject, &artifacts, "b", &reference));
        // PASSED before WARNED, then the first key in policy order.
        assert_eq!(chosen.result, CertificationResult::Passed);
        assert_eq!(chosen.key, first.fingerprint());
        assert_eq!(chosen.digest, artifacts[2].manifest.digest);
        artifacts.reverse();
        assert_eq!(
            recorded(apply(policy, &keys, &subject, &artifacts, "b", &reference)),
            chosen
        );
        // Two PASSED by the same key: the lowest attestation digest.
        let a = artifact(&store, &first, &subject, "PASSED");
        let b = artifact(&store, &first, &subject, "PASSED");
        let lowest = a.manifest.digest.clone().min(b.manifest.digest.clone());
        for pair in [[a.clone(), b.clone()], [b, a]] {
            assert_eq!(
                recorded(apply(policy, &keys, &subject, &pair, "b", &reference)).digest,
                lowest
            );
        }
    }

    #[test]
    fn a_valid_failure_refuses_even_beside_a_pass_and_none_never_looks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let subject = sha256(b"manifest");
        let key = SigningKey::generate().unwrap();
        let keys = [trusted(&key, "k.pub")];
        let reference: Reference = "127.0.0.1:5000/a/b:1".parse().unwrap();
        let artifacts = [
            artifact(&store, &key, &subject, "PASSED"),
            artifact(&store, &key, &subject, "FAILED"),
        ];
        for mode in [CertificationMode::Required, CertificationMode::Optional] {
            let policy = CertificationPolicy {
                mode,
                allow_warned: true,
            };
            assert!(matches!(
                apply(policy, &keys, &subject, &artifacts, "b", &reference),
                Outcome::Refused { .. }
            ));
        }
        let none = CertificationPolicy::default();
        assert!(matches!(
            apply(none, &keys, &subject, &artifacts, "b", &reference),
            Outcome::Accepted(
                CertificationEntry {
                    policy: CertificationMode::None,
                    verified: None
                },
                _
            )
        ));
    }
}
