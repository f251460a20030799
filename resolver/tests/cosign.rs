//! Interop tests of `verify::cosign` against signatures made by the real
//! cosign (`tests/data/cosign/`, provenance in its README), and against
//! sigstore v0.3 bundles built here with an independent P-256 implementation.
//! Pure and offline: no registry, no network, no clock.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use lf_lockfile::{Algorithm, Digest};
use lf_resolve::verify::cosign::{
    self, BUNDLE_ANNOTATION, CHAIN_ANNOTATION, Keyless, Policy, SIGNATURE_ANNOTATION,
    SIGSTORE_BUNDLE_V03_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, Selected, SignatureError,
    SignatureLayer, Signer, TrustRoot, TrustedKey,
};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::Digest as _;

const KEYLESS_IDENTITY: &str = "mitr@redhat.com";
const KEYLESS_ISSUER: &str = "https://github.com/login/oauth";

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cosign")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn key(name: &str) -> TrustedKey {
    TrustedKey::from_pem(&data(name), name).unwrap()
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_bytes(Algorithm::Sha256, &sha2::Sha256::digest(bytes))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One signature layer as a `.sig1` file stores it.
#[derive(Clone)]
struct Layer {
    media_type: String,
    payload: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

impl Layer {
    /// Parses `\x00sigstore-json\n` + `{"mimeType", "payload", "annotations"}`.
    fn read(name: &str) -> Layer {
        let raw = data(name);
        let json = raw
            .strip_prefix(b"\x00sigstore-json\n")
            .unwrap_or_else(|| panic!("{name}: no sigstore-json header"));
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        Layer {
            media_type: v["mimeType"].as_str().unwrap().to_owned(),
            payload: base64::engine::general_purpose::STANDARD
                .decode(v["payload"].as_str().unwrap())
                .unwrap(),
            annotations: serde_json::from_value(v["annotations"].clone()).unwrap(),
        }
    }

    fn view(&self) -> SignatureLayer<'_> {
        SignatureLayer {
            media_type: &self.media_type,
            payload: &self.payload,
            annotations: &self.annotations,
        }
    }
}

/// A fixture: the signature layer and the digest of the manifest beside it.
fn fixture(name: &str) -> (Layer, Digest) {
    let layer = Layer::read(&format!("{name}.sig1"));
    let manifest = data(&format!("{name}.manifest.json"));
    (layer, sha256(&manifest))
}

fn keyless_policy() -> Keyless {
    Keyless {
        identity: KEYLESS_IDENTITY.to_owned(),
        issuer: KEYLESS_ISSUER.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Key-based simple signing.

#[test]
fn key_signature_verifies_with_its_key() {
    let (layer, subject) = fixture("dir-img-cosign-valid");
    let cosign_pub = key("cosign.pub");
    let signer =
        cosign::verify_simple_signing(&layer.view(), &subject, std::slice::from_ref(&cosign_pub))
            .unwrap();
    assert_eq!(signer, Signer::Key(cosign_pub.fingerprint().clone()));
    // The fingerprint is the sha256 of the SPKI DER, as `openssl pkey -pubin
    // -outform DER | sha256sum` prints it.
    assert_eq!(
        cosign_pub.fingerprint().to_string(),
        format!("sha256:{}", sha256(cosign_pub.spki_der()).hex())
    );
}

#[test]
fn key_signature_with_rekor_set_verifies_with_its_key_and_the_rekor_key() {
    let (layer, subject) = fixture("dir-img-cosign-key-rekor-valid");
    assert!(layer.annotations.contains_key(BUNDLE_ANNOTATION));
    let cosign2 = key("cosign2.pub");
    let signer =
        cosign::verify_simple_signing(&layer.view(), &subject, std::slice::from_ref(&cosign2))
            .unwrap();
    assert_eq!(signer, Signer::Key(cosign2.fingerprint().clone()));

    // The pinned root's Rekor key is the fixture's `rekor.pub`.
    let rekor = key("rekor.pub");
    let root = root_with(&rekor, Some(&data("fulcio_v1.crt.pem")));
    cosign::verify_simple_signing_with_root(
        &layer.view(),
        &subject,
        std::slice::from_ref(&cosign2),
        &root,
    )
    .unwrap();

    // Without that log in the trust root, the SET cannot be checked: refused.
    let other_log = key("cosign.pub");
    let root = root_with(&other_log, None);
    let err = cosign::verify_simple_signing_with_root(&layer.view(), &subject, &[cosign2], &root)
        .unwrap_err();
    assert!(
        matches!(&err, SignatureError::UnknownRekorLog { log_id } if log_id == rekor.fingerprint().hex()),
        "{err}"
    );
}

#[test]
fn must_fail_fixtures_fail_on_the_digest() {
    let cosign_pub = key("cosign.pub");
    let (valid, signed) = fixture("dir-img-cosign-valid");
    for name in [
        "dir-img-cosign-manifest-digest-error",
        "dir-img-cosign-modified-manifest",
    ] {
        let (layer, subject) = fixture(name);
        assert_ne!(subject, signed, "{name}");
        let err = cosign::verify_simple_signing(
            &layer.view(),
            &subject,
            std::slice::from_ref(&cosign_pub),
        )
        .unwrap_err();
        assert_eq!(
            err,
            SignatureError::DigestMismatch {
                signed: signed.to_string(),
                subject: subject.clone(),
            },
            "{name}"
        );
        assert_eq!(
            err.to_string(),
            format!("signature is over {signed}, not {subject}")
        );
    }
    // The signature in them is the valid one (upstream symlinks, resolved).
    assert_eq!(
        Layer::read("dir-img-cosign-modified-manifest.sig1").payload,
        valid.payload
    );
}

#[test]
fn flipped_byte_in_the_manifest_fails_on_the_digest() {
    let (layer, _) = fixture("dir-img-cosign-valid");
    let mut manifest = data("dir-img-cosign-valid.manifest.json");
    manifest[10] ^= 1;
    let err =
        cosign::verify_simple_signing(&layer.view(), &sha256(&manifest), &[key("cosign.pub")])
            .unwrap_err();
    assert!(
        matches!(err, SignatureError::DigestMismatch { .. }),
        "{err}"
    );
}

#[test]
fn flipped_byte_in_the_payload_fails_the_signature() {
    let (layer, subject) = fixture("dir-img-cosign-valid");
    // Every position: the digest text, the type, the JSON punctuation.
    for i in 0..layer.payload.len() {
        let mut tampered = layer.clone();
        tampered.payload[i] ^= 1;
        let err = cosign::verify_simple_signing(&tampered.view(), &subject, &[key("cosign.pub")])
            .unwrap_err();
        assert!(
            matches!(err, SignatureError::NotSignedByTrustedKey { .. }),
            "byte {i}: {err}"
        );
    }
}

#[test]
fn flipped_byte_in_the_signature_fails() {
    let (mut layer, subject) = fixture("dir-img-cosign-valid");
    let sig = layer.annotations[SIGNATURE_ANNOTATION].clone();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_owned(), b64(&raw));
    let err =
        cosign::verify_simple_signing(&layer.view(), &subject, &[key("cosign.pub")]).unwrap_err();
    assert!(
        matches!(err, SignatureError::NotSignedByTrustedKey { .. }),
        "{err}"
    );
}

#[test]
fn the_other_key_fails_and_names_the_keys_tried() {
    let (layer, subject) = fixture("dir-img-cosign-valid");
    let cosign2 = key("cosign2.pub");
    let err =
        cosign::verify_simple_signing(&layer.view(), &subject, std::slice::from_ref(&cosign2))
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "signature does not verify with the trusted key: cosign2.pub ({})",
            cosign2.fingerprint()
        )
    );
    let err = cosign::verify_simple_signing(
        &layer.view(),
        &subject,
        &[cosign2.clone(), key("rekor.pub")],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "signature does not verify with any of the 2 trusted keys: cosign2.pub (sha256:"
        ),
        "{msg}"
    );
    assert!(msg.contains("rekor.pub (sha256:"), "{msg}");

    // Both keys given, in either order: the one that signed is reported.
    let cosign_pub = key("cosign.pub");
    for keys in [
        [cosign2.clone(), cosign_pub.clone()],
        [cosign_pub.clone(), cosign2],
    ] {
        let signer = cosign::verify_simple_signing(&layer.view(), &subject, &keys).unwrap();
        assert_eq!(signer, Signer::Key(cosign_pub.fingerprint().clone()));
    }
    let err = cosign::verify_simple_signing(&layer.view(), &subject, &[]).unwrap_err();
    assert_eq!(err, SignatureError::NoTrustedKeys);
}

/// A cosign simple-signing layer made here, for policy-order tests.
fn sign_simple(signing: &SigningKey, subject: &Digest) -> Layer {
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example.com/x"}},"image":{{"docker-manifest-digest":"{subject}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes();
    let sig: p256::ecdsa::Signature = signing.sign(&payload);
    Layer {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
        payload,
        annotations: BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            b64(sig.to_der().as_bytes()),
        )]),
    }
}

#[test]
fn several_layers_select_the_first_key_in_policy_order() {
    // Two layers over the same manifest: one by a fresh key, one by cosign
    // itself (with a Rekor SET), plus one that fails.
    let (cosign_layer, subject) = fixture("dir-img-cosign-key-rekor-valid");
    let fresh = fresh_key();
    let fresh_layer = sign_simple(&fresh, &subject);
    let fresh_pub = trusted(&fresh, "fresh.pub");
    let cosign2 = key("cosign2.pub");
    let (foreign, _) = fixture("dir-img-cosign-valid");
    let layers = [foreign.view(), fresh_layer.view(), cosign_layer.view()];
    let root = TrustRoot::pinned();

    let pick = |keys: &[TrustedKey]| {
        cosign::verify_any_simple_signing(&layers, &subject, Policy::Keys(keys), &root).unwrap()
    };
    assert_eq!(
        pick(&[cosign2.clone(), fresh_pub.clone()]),
        Selected {
            index: 2,
            signer: Signer::Key(cosign2.fingerprint().clone())
        }
    );
    assert_eq!(
        pick(&[fresh_pub.clone(), cosign2.clone()]),
        Selected {
            index: 1,
            signer: Signer::Key(fresh_pub.fingerprint().clone())
        }
    );

    // None verifies: each layer's reason, in order.
    let err = cosign::verify_any_simple_signing(
        &layers,
        &subject,
        Policy::Keys(&[key("cosign.pub")]),
        &root,
    )
    .unwrap_err();
    let SignatureError::NoneVerified { errors } = &err else {
        panic!("{err}")
    };
    assert!(matches!(errors[0], SignatureError::DigestMismatch { .. }));
    assert!(matches!(
        errors[1],
        SignatureError::NotSignedByTrustedKey { .. }
    ));
    assert!(matches!(
        errors[2],
        SignatureError::NotSignedByTrustedKey { .. }
    ));
    assert!(
        err.to_string()
            .starts_with("none of the 3 signatures verifies: #1: signature is over")
    );

    let err = cosign::verify_any_simple_signing(&[], &subject, Policy::Keys(&[cosign2]), &root)
        .unwrap_err();
    assert_eq!(err, SignatureError::NoSignatures);
}

#[test]
fn malformed_layers_say_what_is_wrong() {
    let (layer, subject) = fixture("dir-img-cosign-valid");
    let keys = [key("cosign.pub")];
    let check = |l: &Layer| cosign::verify_simple_signing(&l.view(), &subject, &keys).unwrap_err();

    let mut l = layer.clone();
    l.media_type = "application/vnd.oci.image.layer.v1.tar".to_owned();
    assert!(matches!(check(&l), SignatureError::WrongMediaType { .. }));

    let mut l = layer.clone();
    l.annotations.remove(SIGNATURE_ANNOTATION);
    assert_eq!(
        check(&l),
        SignatureError::MissingAnnotation {
            name: SIGNATURE_ANNOTATION
        }
    );

    let mut l = layer.clone();
    l.annotations
        .insert(SIGNATURE_ANNOTATION.to_owned(), "not base64!".to_owned());
    assert!(matches!(check(&l), SignatureError::MalformedBase64 { .. }));

    let mut l = layer;
    l.payload = vec![b' '; cosign::MAX_PAYLOAD_SIZE + 1];
    assert!(matches!(check(&l), SignatureError::TooLarge { .. }));
}

#[test]
fn signed_payloads_that_are_not_cosign_signatures_are_refused() {
    let fresh = fresh_key();
    let keys = [trusted(&fresh, "fresh.pub")];
    let subject = sha256(b"manifest");
    let sign = |payload: &str| {
        let sig: p256::ecdsa::Signature = fresh.sign(payload.as_bytes());
        Layer {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            payload: payload.as_bytes().to_vec(),
            annotations: BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_owned(),
                b64(sig.to_der().as_bytes()),
            )]),
        }
    };
    let check = |l: Layer| cosign::verify_simple_signing(&l.view(), &subject, &keys).unwrap_err();
    assert!(matches!(
        check(sign("not json")),
        SignatureError::MalformedPayload { .. }
    ));
    let wrong_type = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{subject}"}},"type":"atomic container signature"}},"optional":null}}"#
    );
    assert_eq!(
        check(sign(&wrong_type)),
        SignatureError::WrongPayloadType {
            found: "atomic container signature".to_owned()
        }
    );
}

// ---------------------------------------------------------------------------
// Rekor SETs.

fn with_bundle(layer: &Layer, edit: impl FnOnce(&mut serde_json::Value)) -> Layer {
    let mut bundle: serde_json::Value =
        serde_json::from_str(&layer.annotations[BUNDLE_ANNOTATION]).unwrap();
    edit(&mut bundle);
    let mut out = layer.clone();
    out.annotations
        .insert(BUNDLE_ANNOTATION.to_owned(), bundle.to_string());
    out
}

#[test]
fn tampered_rekor_set_fails() {
    let (layer, subject) = fixture("dir-img-cosign-key-rekor-valid");
    let keys = [key("cosign2.pub")];
    for edit in [
        (|b: &mut serde_json::Value| b["Payload"]["integratedTime"] = 1_674_251_860.into())
            as fn(&mut serde_json::Value),
        |b| b["Payload"]["logIndex"] = 1.into(),
        |b| {
            let body = b["Payload"]["body"].as_str().unwrap().replace('A', "B");
            b["Payload"]["body"] = body.into();
        },
    ] {
        let tampered = with_bundle(&layer, edit);
        let err = cosign::verify_simple_signing(&tampered.view(), &subject, &keys).unwrap_err();
        assert!(
            matches!(err, SignatureError::RekorSetInvalid { .. }),
            "{err}"
        );
    }
}

#[test]
fn a_rekor_entry_for_another_signature_fails() {
    // The keyless layer's (valid) Rekor bundle on the key-based layer: the SET
    // verifies, but the entry is for another payload.
    let (layer, subject) = fixture("dir-img-cosign-key-rekor-valid");
    let (keyless, _) = fixture("dir-img-cosign-fulcio-rekor-valid");
    let mut mixed = layer;
    mixed.annotations.insert(
        BUNDLE_ANNOTATION.to_owned(),
        keyless.annotations[BUNDLE_ANNOTATION].clone(),
    );
    let err =
        cosign::verify_simple_signing(&mixed.view(), &subject, &[key("cosign2.pub")]).unwrap_err();
    let SignatureError::RekorBodyMismatch { reason } = &err else {
        panic!("{err}")
    };
    assert!(
        reason.contains("the payload is sha256:5f410774"),
        "{reason}"
    );
}

/// A Rekor bundle annotation for `layer`, signed by `log` (the SET), whose
/// `hashedrekord` entry records `payload_hash`, `signature` and `key_pem`.
fn rekor_bundle(
    log: &SigningKey,
    payload_hash: &Digest,
    signature: &[u8],
    key_pem: &str,
) -> String {
    let body = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": payload_hash.hex()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(key_pem.as_bytes())}},
        },
    });
    let log_id = hex_of(&sha2::Sha256::digest(trusted(log, "log").spki_der()));
    let payload = serde_json::json!({
        "body": b64(body.to_string().as_bytes()),
        "integratedTime": 1_700_000_000,
        "logIndex": 7,
        "logID": log_id,
    });
    let canonical = serde_json_canonicalizer::to_vec(&payload).unwrap();
    let set: p256::ecdsa::Signature = log.sign(&canonical);
    serde_json::json!({"SignedEntryTimestamp": b64(set.to_der().as_bytes()), "Payload": payload})
        .to_string()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_rekor_entry_must_record_the_layers_own_signature() {
    // A log we control, so the SET verifies and only the entry's content is
    // in question: same payload hash and key, another signature recorded.
    let log = fresh_key();
    let root = root_with(&trusted(&log, "log"), None);
    let signer = fresh_key();
    let subject = sha256(b"the signed manifest");
    let layer = sign_simple(&signer, &subject);
    let key_pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let keys = [trusted(&signer, "signer.pub")];
    let payload_hash = sha256(&layer.payload);
    let own = base64::engine::general_purpose::STANDARD
        .decode(&layer.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    let other: p256::ecdsa::Signature = signer.sign(b"another payload");

    let mut honest = layer.clone();
    honest.annotations.insert(
        BUNDLE_ANNOTATION.to_owned(),
        rekor_bundle(&log, &payload_hash, &own, &key_pem),
    );
    cosign::verify_simple_signing_with_root(&honest.view(), &subject, &keys, &root).unwrap();

    let mut lying = layer;
    lying.annotations.insert(
        BUNDLE_ANNOTATION.to_owned(),
        rekor_bundle(&log, &payload_hash, other.to_der().as_bytes(), &key_pem),
    );
    let err =
        cosign::verify_simple_signing_with_root(&lying.view(), &subject, &keys, &root).unwrap_err();
    let SignatureError::RekorBodyMismatch { reason } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("different signature"), "{reason}");
}

// ---------------------------------------------------------------------------
// Keyless.

#[test]
fn keyless_signature_verifies_offline() {
    let (layer, subject) = fixture("dir-img-cosign-fulcio-rekor-valid");
    let signer = cosign::verify_simple_signing_keyless(
        &layer.view(),
        &subject,
        &keyless_policy(),
        &TrustRoot::pinned(),
    )
    .unwrap();
    assert_eq!(
        signer,
        Signer::Keyless {
            identity: KEYLESS_IDENTITY.to_owned(),
            issuer: KEYLESS_ISSUER.to_owned(),
        }
    );
    let picked = cosign::verify_any_simple_signing(
        &[layer.view()],
        &subject,
        Policy::Keyless(&keyless_policy()),
        &TrustRoot::pinned(),
    )
    .unwrap();
    assert_eq!(picked.index, 0);

    // A trust root built here from the fixture's own `fulcio_v1.crt.pem` and
    // `rekor.pub` works the same as the pinned file.
    let root = root_with(&key("rekor.pub"), Some(&data("fulcio_v1.crt.pem")));
    cosign::verify_simple_signing_keyless(&layer.view(), &subject, &keyless_policy(), &root)
        .unwrap();
}

#[test]
fn keyless_wrong_identity_or_issuer_says_found_and_wanted() {
    let (layer, subject) = fixture("dir-img-cosign-fulcio-rekor-valid");
    let root = TrustRoot::pinned();
    let err = cosign::verify_simple_signing_keyless(
        &layer.view(),
        &subject,
        &Keyless {
            identity: "someone@example.com".to_owned(),
            issuer: KEYLESS_ISSUER.to_owned(),
        },
        &root,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate identity mismatch: found `mitr@redhat.com`, wanted `someone@example.com`"
    );
    let err = cosign::verify_simple_signing_keyless(
        &layer.view(),
        &subject,
        &Keyless {
            identity: KEYLESS_IDENTITY.to_owned(),
            issuer: "https://accounts.google.com".to_owned(),
        },
        &root,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate OIDC issuer mismatch: found `https://github.com/login/oauth`, wanted `https://accounts.google.com`"
    );
}

#[test]
fn keyless_needs_the_chain_the_root_and_a_verified_set() {
    let (layer, subject) = fixture("dir-img-cosign-fulcio-rekor-valid");
    let policy = keyless_policy();
    let root = TrustRoot::pinned();

    // The pinned root holds only the Fulcio root: without the chain
    // annotation's intermediate there is no path.
    let mut no_chain = layer.clone();
    no_chain.annotations.remove(CHAIN_ANNOTATION);
    let err = cosign::verify_simple_signing_keyless(&no_chain.view(), &subject, &policy, &root)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::UntrustedCertificate { .. }),
        "{err}"
    );

    // A trust root without a Fulcio CA.
    let no_ca = root_with(&key("rekor.pub"), None);
    let err = cosign::verify_simple_signing_keyless(&layer.view(), &subject, &policy, &no_ca)
        .unwrap_err();
    assert!(
        err.to_string().contains("the trust root has no Fulcio CA"),
        "{err}"
    );

    // Moving integratedTime (past the 10-minute certificate) breaks the SET
    // before the time is ever used.
    let late = with_bundle(&layer, |b| {
        b["Payload"]["integratedTime"] = (1_674_247_893_i64 + 3600).into();
    });
    let err =
        cosign::verify_simple_signing_keyless(&late.view(), &subject, &policy, &root).unwrap_err();
    assert!(
        matches!(err, SignatureError::RekorSetInvalid { .. }),
        "{err}"
    );

    // No Rekor bundle: no trusted time, refused.
    let mut no_bundle = layer.clone();
    no_bundle.annotations.remove(BUNDLE_ANNOTATION);
    let err = cosign::verify_simple_signing_keyless(&no_bundle.view(), &subject, &policy, &root)
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::MissingAnnotation {
            name: BUNDLE_ANNOTATION
        }
    );

    // The keyless layer against another manifest: the digest check.
    let err =
        cosign::verify_simple_signing_keyless(&layer.view(), &sha256(b"other"), &policy, &root)
            .unwrap_err();
    assert!(
        matches!(err, SignatureError::DigestMismatch { .. }),
        "{err}"
    );

    // A tampered payload: the Rekor entry no longer matches it.
    let mut tampered = layer.clone();
    tampered.payload[20] ^= 1;
    let err = cosign::verify_simple_signing_keyless(&tampered.view(), &subject, &policy, &root)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::RekorBodyMismatch { .. }),
        "{err}"
    );

    // The keyless layer is not signed by any policy key.
    let err =
        cosign::verify_simple_signing(&layer.view(), &subject, &[key("cosign.pub")]).unwrap_err();
    assert!(
        matches!(err, SignatureError::NotSignedByTrustedKey { .. }),
        "{err}"
    );
}

#[test]
fn keyless_certificate_is_checked_at_the_integrated_time() {
    // A SET that verifies but places the signature after the certificate
    // expired: build it with a Rekor key made here.
    let (layer, subject) = fixture("dir-img-cosign-fulcio-rekor-valid");
    let log_key = fresh_key();
    let log_pub = trusted(&log_key, "test-rekor");
    let root = root_with(&log_pub, Some(&data("fulcio_v1.crt.pem")));
    let mut bundle: serde_json::Value =
        serde_json::from_str(&layer.annotations[BUNDLE_ANNOTATION]).unwrap();
    let payload = &mut bundle["Payload"];
    payload["logID"] = log_pub.fingerprint().hex().into();
    payload["integratedTime"] = (1_674_247_893_i64 + 3600).into();
    let canonical = serde_json_canonicalizer::to_vec(payload).unwrap();
    let set: p256::ecdsa::Signature = log_key.sign(&canonical);
    bundle["SignedEntryTimestamp"] = b64(set.to_der().as_bytes()).into();
    let mut late = layer;
    late.annotations
        .insert(BUNDLE_ANNOTATION.to_owned(), bundle.to_string());

    let err =
        cosign::verify_simple_signing_keyless(&late.view(), &subject, &keyless_policy(), &root)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate was not valid at 2023-01-20T21:51:33Z, when Rekor integrated the signature: valid from 2023-01-20T20:51:31Z to 2023-01-20T21:01:31Z"
    );
}

// ---------------------------------------------------------------------------
// Sigstore bundles v0.3 (DSSE), key-based.

fn fresh_key() -> SigningKey {
    loop {
        let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn trusted(signing: &SigningKey, label: &str) -> TrustedKey {
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    TrustedKey::from_pem(pem.as_bytes(), label).unwrap()
}

/// A trust root JSON with one log key and optionally one Fulcio root (PEM).
fn root_with(log: &TrustedKey, fulcio_pem: Option<&[u8]>) -> TrustRoot {
    let cas: Vec<serde_json::Value> = fulcio_pem
        .map(|pem| {
            let body: String = String::from_utf8_lossy(pem)
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            serde_json::json!({
                "uri": "https://fulcio.example",
                "certChain": {"certificates": [{"rawBytes": body}]},
            })
        })
        .into_iter()
        .collect();
    let key_id = b64(&sha2::Sha256::digest(log.spki_der()));
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.example",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(log.spki_der()), "keyDetails": "PKIX_ECDSA_P256_SHA_256"},
            "logId": {"keyId": key_id},
        }],
        "certificateAuthorities": cas,
    });
    TrustRoot::from_json(json.to_string().as_bytes()).unwrap()
}

fn statement(subject: &Digest, with_name: bool, predicate_type: &str) -> Vec<u8> {
    let mut s = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": subject.hex()}}],
        "predicateType": predicate_type,
        "predicate": {},
    });
    if with_name {
        s["subject"][0]["name"] = "registry.example/connector".into();
    }
    s.to_string().into_bytes()
}

/// DSSE PAE, written out here independently of the crate's `pae`.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

fn bundle(signing: &SigningKey, payload_type: &str, payload: &[u8]) -> serde_json::Value {
    let sig: p256::ecdsa::Signature = signing.sign(&pae(payload_type, payload));
    serde_json::json!({
        "mediaType": SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": "not-a-real-hint"}},
        "dsseEnvelope": {
            "payload": b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": b64(sig.to_der().as_bytes()), "keyid": ""}],
        },
    })
}

const PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
const IN_TOTO: &str = "application/vnd.in-toto+json";

fn verify_bundle(
    bundle: &serde_json::Value,
    subject: &Digest,
    keys: &[TrustedKey],
) -> Result<Signer, SignatureError> {
    cosign::verify_bundle_v03(bundle.to_string().as_bytes(), subject, keys)
}

#[test]
fn dsse_bundle_verifies_with_a_fresh_key() {
    let signing = fresh_key();
    let key = trusted(&signing, "fresh.pub");
    let subject = sha256(b"the manifest");
    for with_name in [false, true] {
        let b = bundle(
            &signing,
            IN_TOTO,
            &statement(&subject, with_name, PREDICATE),
        );
        assert_eq!(
            verify_bundle(&b, &subject, std::slice::from_ref(&key)).unwrap(),
            Signer::Key(key.fingerprint().clone())
        );
    }
    // The crate's PAE is the spec's.
    assert_eq!(cosign::pae(IN_TOTO, b"{}"), pae(IN_TOTO, b"{}"));
}

#[test]
fn dsse_bundle_tampering_fails_with_the_check_that_caught_it() {
    let signing = fresh_key();
    let keys = [trusted(&signing, "fresh.pub")];
    let subject = sha256(b"the manifest");
    let good = bundle(&signing, IN_TOTO, &statement(&subject, false, PREDICATE));

    // Payload swapped for another statement (same signature).
    let mut b = good.clone();
    b["dsseEnvelope"]["payload"] = b64(&statement(&sha256(b"other"), false, PREDICATE)).into();
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::NotSignedByTrustedKey { .. }),
        "{err}"
    );

    // Signature flipped.
    let mut b = good.clone();
    let sig = b["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    let n = raw.len();
    raw[n - 1] ^= 1;
    b["dsseEnvelope"]["signatures"][0]["sig"] = b64(&raw).into();
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::NotSignedByTrustedKey { .. }),
        "{err}"
    );

    // Payload type changed.
    let mut b = good.clone();
    b["dsseEnvelope"]["payloadType"] = "application/json".into();
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert_eq!(
        err,
        SignatureError::WrongDssePayloadType {
            found: "application/json".to_owned()
        }
    );

    // Another subject digest: the verified statement is about something else.
    let other = sha256(b"another manifest");
    let err = verify_bundle(&good, &other, &keys).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("signed statement is about {subject}, not {other}")
    );
    // Same, with the statement signed over another subject.
    let b = bundle(&signing, IN_TOTO, &statement(&other, true, PREDICATE));
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::StatementSubjectMismatch { .. }),
        "{err}"
    );

    // Signed, but another predicate.
    let b = bundle(
        &signing,
        IN_TOTO,
        &statement(&subject, false, "https://slsa.dev/provenance/v1"),
    );
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::WrongPredicateType { .. }),
        "{err}"
    );

    // Another bundle version.
    let mut b = good.clone();
    b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
    let err = verify_bundle(&b, &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::WrongBundleMediaType { .. }),
        "{err}"
    );

    // Another key.
    let err = verify_bundle(&good, &subject, &[trusted(&fresh_key(), "other.pub")]).unwrap_err();
    assert!(err.to_string().contains("other.pub (sha256:"), "{err}");

    // Not a bundle at all.
    let err = cosign::verify_bundle_v03(b"[]", &subject, &keys).unwrap_err();
    assert!(
        matches!(err, SignatureError::MalformedBundle { .. }),
        "{err}"
    );
}

#[test]
fn dsse_bundles_select_the_first_key_in_policy_order() {
    let (a, b) = (fresh_key(), fresh_key());
    let (a_pub, b_pub) = (trusted(&a, "a.pub"), trusted(&b, "b.pub"));
    let subject = sha256(b"the manifest");
    let by_a = bundle(&a, IN_TOTO, &statement(&subject, false, PREDICATE)).to_string();
    let by_b = bundle(&b, IN_TOTO, &statement(&subject, false, PREDICATE)).to_string();
    let bundles = [by_a.as_bytes(), by_b.as_bytes()];
    let picked =
        cosign::verify_any_bundle_v03(&bundles, &subject, &[b_pub.clone(), a_pub.clone()]).unwrap();
    assert_eq!(
        picked,
        Selected {
            index: 1,
            signer: Signer::Key(b_pub.fingerprint().clone())
        }
    );
    let picked = cosign::verify_any_bundle_v03(&bundles, &subject, &[a_pub, b_pub]).unwrap();
    assert_eq!(picked.index, 0);
}
