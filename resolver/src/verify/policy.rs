//! The signature policy of one connector applied to the signatures found
//! for it: which verifies, who signed, and what the lock records.
//!
//! `required` fails closed; `optional` records what verified and otherwise
//! lets the caller warn; `none` never looks. When several signatures verify,
//! the first trusted key in policy order wins, so the lock is deterministic.
//!
//! A signature that verifies must also name the repository being locked
//! ([`RepositoryBinding`]), as cosign requires: otherwise a lock entry could
//! be pointed at another connector's signed bytes copied under its name.

use std::collections::BTreeMap;

use lf_lockfile::{
    Digest, Reference, SignatureEntry, SignatureFormat, SignatureMode, Signer, VerifiedSignature,
};

use crate::registry::{SignatureArtifact, SignatureKind};
use crate::verify::cosign::{
    self, Keyless, PayloadKind, SignatureError, SignatureLayer, TrustRoot, TrustedKey,
};

/// The repositories a connector's signature may name: the repository of its
/// `ref`, and the `signed-repository` `latticeflow.toml` allows for an
/// artifact relocated from elsewhere. Mirrors serve under the original name,
/// so they need nothing.
#[derive(Debug, Clone)]
pub struct RepositoryBinding {
    /// Normalised `registry/repository` names, the ref's first.
    accepted: Vec<String>,
}

impl RepositoryBinding {
    /// The binding for a connector locked from `reference`.
    pub fn new(reference: &Reference, signed_repository: Option<&Reference>) -> RepositoryBinding {
        let mut accepted = vec![reference.name()];
        if let Some(other) = signed_repository
            && other.name() != accepted[0]
        {
            accepted.push(other.name());
        }
        RepositoryBinding { accepted }
    }

    /// Checks the repositories a verified payload names (see
    /// [`cosign::signed_repositories`]). A simple-signing payload must name
    /// one of the accepted repositories; a bundle whose subjects carry no
    /// name is bound by its digest alone.
    fn check(&self, named: Option<Vec<String>>) -> Result<(), SignatureError> {
        let expected = self.accepted.join("` or `");
        let Some(named) = named else {
            return Err(SignatureError::WrongRepository {
                signed: String::new(),
                expected,
                missing: true,
            });
        };
        if named.is_empty() {
            return Ok(());
        }
        let normalised: Vec<String> = named
            .iter()
            .map(|n| {
                n.parse::<Reference>()
                    .map_or_else(|_| n.clone(), |r| r.name())
            })
            .collect();
        if normalised.iter().any(|n| self.accepted.contains(n)) {
            return Ok(());
        }
        Err(SignatureError::WrongRepository {
            signed: normalised.join("`, `"),
            expected,
            missing: false,
        })
    }
}

/// Whom the policy trusts, loaded.
#[derive(Debug)]
pub enum LoadedTrust {
    /// These keys, in policy order.
    Keys(Vec<TrustedKey>),
    /// A keyless identity, checked against the pinned trust root.
    Keyless(Keyless),
}

/// The outcome for one connector.
#[derive(Debug)]
pub enum Outcome {
    /// Record this entry.
    Verified(SignatureEntry),
    /// `optional` and nothing verified: record the policy, warn with these reasons.
    Unverified(SignatureEntry, Vec<String>),
    /// `required` and nothing verified: fail with these reasons.
    Rejected(Vec<String>),
}

/// Applies `mode` and `trust` to `artifacts` found for `subject`.
pub fn apply(
    mode: SignatureMode,
    trust: &LoadedTrust,
    subject: &Digest,
    binding: &RepositoryBinding,
    artifacts: &[SignatureArtifact],
    root: &TrustRoot,
) -> Outcome {
    if mode == SignatureMode::None {
        return Outcome::Verified(SignatureEntry {
            policy: SignatureMode::None,
            verified: None,
        });
    }
    let mut reasons: Vec<String> = Vec::new();
    if artifacts.is_empty() {
        reasons.push(format!(
            "no signature found: neither the `{}.sig` tag nor a sigstore bundle referrer exists",
            lf_lockfile::Reference::digest_tag(subject)
        ));
    }
    // Try trusted keys one by one, in policy order, over every signature, so
    // the first key in the policy that has a valid signature is recorded.
    let mut found: Option<VerifiedSignature> = None;
    match trust {
        LoadedTrust::Keys(keys) if keys.is_empty() => {
            reasons.push("the policy names no key to verify with".to_owned());
        }
        LoadedTrust::Keys(keys) => {
            'keys: for key in keys {
                for artifact in artifacts {
                    for layer in &artifact.layers {
                        match verify_layer(artifact.kind, layer, subject, std::slice::from_ref(key))
                            .and_then(|(signer, payload)| {
                                bind(binding, artifact.kind, &payload, subject).map(|()| signer)
                            }) {
                            Ok(signer) => {
                                found = Some(verified(artifact, signer));
                                break 'keys;
                            }
                            Err(e) => remember(&mut reasons, artifact, &e),
                        }
                    }
                }
            }
        }
        LoadedTrust::Keyless(policy) => {
            'all: for artifact in artifacts {
                for layer in &artifact.layers {
                    let result = read_layer(layer).and_then(|payload| {
                        let view = SignatureLayer {
                            media_type: &layer.media_type,
                            payload: &payload,
                            annotations: &layer.annotations,
                        };
                        let signer =
                            cosign::verify_simple_signing_keyless(&view, subject, policy, root)?;
                        bind(binding, artifact.kind, &payload, subject)?;
                        Ok(signer)
                    });
                    match result {
                        Ok(signer) => {
                            found = Some(verified(artifact, signer));
                            break 'all;
                        }
                        Err(e) => remember(&mut reasons, artifact, &e),
                    }
                }
            }
        }
    }
    match (found, mode) {
        (Some(v), mode) => Outcome::Verified(SignatureEntry {
            policy: mode,
            verified: Some(v),
        }),
        (None, SignatureMode::Optional) => Outcome::Unverified(
            SignatureEntry {
                policy: SignatureMode::Optional,
                verified: None,
            },
            reasons,
        ),
        (None, _) => Outcome::Rejected(reasons),
    }
}

/// The repository check of a payload that verified.
fn bind(
    binding: &RepositoryBinding,
    kind: SignatureKind,
    payload: &[u8],
    subject: &Digest,
) -> Result<(), SignatureError> {
    let kind = match kind {
        SignatureKind::SimpleSigning => PayloadKind::SimpleSigning,
        SignatureKind::Referrer => PayloadKind::BundleV03,
    };
    binding.check(cosign::signed_repositories(kind, payload, subject))
}

/// Verifies one layer; returns the signer and the payload that verified.
fn verify_layer(
    kind: SignatureKind,
    layer: &crate::registry::SignatureLayerBlob,
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<(cosign::Signer, Vec<u8>), SignatureError> {
    let payload = read_layer(layer)?;
    let signer = match kind {
        SignatureKind::SimpleSigning => {
            let view = SignatureLayer {
                media_type: &layer.media_type,
                payload: &payload,
                annotations: &layer.annotations,
            };
            cosign::verify_simple_signing(&view, subject, keys)
        }
        SignatureKind::Referrer => cosign::verify_bundle_v03(&payload, subject, keys),
    }?;
    Ok((signer, payload))
}

fn read_layer(layer: &crate::registry::SignatureLayerBlob) -> Result<Vec<u8>, SignatureError> {
    layer.blob.read().map_err(|e| {
        SignatureError::Io(format!(
            "cannot read signature layer {}: {e}",
            layer.blob.digest()
        ))
    })
}

fn verified(artifact: &SignatureArtifact, signer: cosign::Signer) -> VerifiedSignature {
    VerifiedSignature {
        format: match artifact.kind {
            SignatureKind::SimpleSigning => SignatureFormat::SimpleSigning,
            SignatureKind::Referrer => SignatureFormat::BundleV03,
        },
        signer: match signer {
            cosign::Signer::Key(fingerprint) => Signer::Key(fingerprint),
            cosign::Signer::Keyless { identity, issuer } => Signer::Keyless { identity, issuer },
        },
        digest: artifact.manifest.digest.clone(),
    }
}

fn remember(reasons: &mut Vec<String>, artifact: &SignatureArtifact, e: &SignatureError) {
    let what = match artifact.kind {
        SignatureKind::SimpleSigning => "simple-signing signature",
        SignatureKind::Referrer => "sigstore bundle",
    };
    let mut line = format!("{what} {}: {e}", artifact.manifest.digest);
    if let SignatureError::WrongRepository {
        signed,
        missing: false,
        ..
    } = e
    {
        line.push_str(&format!(
            "; if the artifact was copied from `{signed}` on purpose, allow it with `signed-repository = \"{signed}\"` for this connector in latticeflow.toml"
        ));
    }
    if !reasons.contains(&line) {
        reasons.push(line);
    }
}

/// Loads the keys a policy names (paths resolved by the caller), keyed by
/// the path as written for messages.
pub fn load_keys(files: &[(String, Vec<u8>)]) -> Result<Vec<TrustedKey>, SignatureError> {
    files
        .iter()
        .map(|(label, pem)| TrustedKey::from_pem(pem, label))
        .collect()
}

/// Fingerprints of loaded keys, for the staleness check of `--locked`.
pub fn fingerprints(keys: &[TrustedKey]) -> BTreeMap<Digest, String> {
    keys.iter()
        .map(|k| (k.fingerprint().clone(), k.label().to_owned()))
        .collect()
}
