//! The bytes cosign signs and publishes, written here byte for byte rather
//! than through a serializer's choices: the simple-signing payload and the
//! sigstore v0.3 bundle (DSSE over an in-toto statement).
//!
//! Key order follows cosign (Go structs for simple signing, protobuf field
//! order for the statement and the bundle). Strings from the caller are JSON
//! escaped; OCI references never hold the `<`, `>` and `&` that Go would
//! additionally escape, so the output matches cosign's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lf_lockfile::Digest;

use super::{KeyError, SigningKey};
use crate::verify::cosign::{
    COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
    SIMPLE_SIGNING_TYPE, pae,
};

/// The in-toto statement type cosign v3 writes.
const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// A JSON string literal for `s`, quotes included.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Cosign's simple-signing payload naming `manifest_digest`, exactly as
/// `cosign sign` writes it into a `.sig` layer:
///
/// ```json
/// {"critical":{"identity":{"docker-reference":"…"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
/// ```
///
/// `docker_reference` is the repository (`registry/repo`, no tag or digest),
/// as cosign fills it; verifiers do not require it to match.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":"{manifest_digest}"}},"type":"{SIMPLE_SIGNING_TYPE}"}},"optional":null}}"#,
        json_string(docker_reference),
    )
    .into_bytes()
}

/// The in-toto v1 statement a cosign v3 bundle signs: one subject with
/// `manifest_digest` (and `name`, when given — cosign omits it, sigstore-js
/// writes it), predicate type `https://sigstore.dev/cosign/sign/v1`, empty
/// predicate. Byte for byte what cosign writes; see [`in_toto_statement_for`]
/// for other predicates.
pub fn in_toto_statement(manifest_digest: &Digest, name: Option<&str>) -> Vec<u8> {
    in_toto_statement_for(
        manifest_digest,
        name,
        COSIGN_SIGN_PREDICATE_TYPE,
        &serde_json::Value::Object(serde_json::Map::new()),
    )
}

/// An in-toto v1 statement about one subject (`subject` digest, and `name`
/// when given) with any predicate: `predicate_type` and the `predicate` JSON,
/// serialised compactly with its keys sorted. Key order of the statement is
/// protobuf field order, as cosign and sigstore-js write it.
pub fn in_toto_statement_for(
    subject: &Digest,
    name: Option<&str>,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Vec<u8> {
    let name = name
        .map(|n| format!(r#""name":{},"#, json_string(n)))
        .unwrap_or_default();
    format!(
        r#"{{"_type":"{IN_TOTO_STATEMENT_V1}","subject":[{{{name}"digest":{{"{}":"{}"}}}}],"predicateType":{},"predicate":{predicate}}}"#,
        subject.algorithm(),
        subject.hex(),
        json_string(predicate_type),
    )
    .into_bytes()
}

/// A sigstore bundle v0.3 signed with `key`, as `cosign sign --key` writes it
/// without a transparency log: the key's hint (base64 of its fingerprint),
/// no log entries, and a DSSE envelope whose one signature is an ECDSA P-256
/// signature over the PAE of the [`in_toto_statement`] about
/// `manifest_digest`.
///
/// # Errors
/// [`KeyError::Crypto`] if signing fails.
pub fn dsse_bundle_v03(
    key: &SigningKey,
    manifest_digest: &Digest,
    name: Option<&str>,
) -> Result<Vec<u8>, KeyError> {
    dsse_bundle_v03_for(key, &in_toto_statement(manifest_digest, name))
}

/// A sigstore bundle v0.3 signed with `key` over any in-toto `statement`
/// (from [`in_toto_statement_for`]), in the form of [`dsse_bundle_v03`]: what
/// `cosign attest --key` writes without a transparency log.
///
/// # Errors
/// [`KeyError::Crypto`] if signing fails.
pub fn dsse_bundle_v03_for(key: &SigningKey, statement: &[u8]) -> Result<Vec<u8>, KeyError> {
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement))?;
    Ok(format!(
        r#"{{"mediaType":"{SIGSTORE_BUNDLE_V03_MEDIA_TYPE}","verificationMaterial":{{"publicKey":{{"hint":"{}"}},"tlogEntries":[]}},"dsseEnvelope":{{"payload":"{}","payloadType":"{IN_TOTO_PAYLOAD_TYPE}","signatures":[{{"sig":"{}","keyid":""}}]}}}}"#,
        key.bundle_hint(),
        BASE64.encode(statement),
        BASE64.encode(&signature),
    )
    .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::test_support::{openssl_verifies, sigstore_verifies};
    use crate::verify::cosign::{Signer, TrustedKey, verify_bundle_v03};

    /// A real cosign signature layer (containers/image fixture).
    const COSIGN_SIG1: &[u8] = include_bytes!("../../tests/data/sign/dir-img-cosign-valid.sig1");

    fn digest(s: &str) -> Digest {
        s.parse().unwrap()
    }

    #[test]
    fn simple_signing_payload_is_byte_exact_to_cosigns() {
        let body = COSIGN_SIG1.strip_prefix(b"\x00sigstore-json\n").unwrap();
        let layer: serde_json::Value = serde_json::from_slice(body).unwrap();
        let theirs = BASE64.decode(layer["payload"].as_str().unwrap()).unwrap();

        let parsed: serde_json::Value = serde_json::from_slice(&theirs).unwrap();
        let reference = parsed["critical"]["identity"]["docker-reference"]
            .as_str()
            .unwrap();
        let manifest = digest(
            parsed["critical"]["image"]["docker-manifest-digest"]
                .as_str()
                .unwrap(),
        );
        let ours = simple_signing_payload(reference, &manifest);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    #[test]
    fn simple_signing_payload_escapes_the_reference() {
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        let payload = simple_signing_payload("a\"b\\c", &d);
        let parsed: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            parsed["critical"]["identity"]["docker-reference"],
            "a\"b\\c"
        );
    }

    #[test]
    fn a_signed_simple_signing_payload_verifies_independently() {
        let key = SigningKey::generate().unwrap();
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        let payload = simple_signing_payload("registry.example/a/b", &d);
        let sig = key.sign(&payload).unwrap();
        let pem = key.public_key_pem().unwrap();
        assert!(openssl_verifies(&pem, &payload, &sig));
        assert!(sigstore_verifies(&pem, &payload, &sig));
    }

    #[test]
    fn statement_has_the_subject_and_predicate_cosign_writes() {
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        assert_eq!(
            String::from_utf8(in_toto_statement(&d, None)).unwrap(),
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}"#
        );
        let named: serde_json::Value =
            serde_json::from_slice(&in_toto_statement(&d, Some("reg.example/a"))).unwrap();
        assert_eq!(named["subject"][0]["name"], "reg.example/a");
    }

    #[test]
    fn the_bundle_signature_verifies_over_a_recomputed_pae() {
        let key = SigningKey::generate().unwrap();
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        let bundle = dsse_bundle_v03(&key, &d, Some("registry.example/a")).unwrap();
        let text = String::from_utf8(bundle.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""#),
            "{text}"
        );
        let b: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
        assert_eq!(
            b["verificationMaterial"]["publicKey"]["hint"],
            key.bundle_hint()
        );
        assert_eq!(
            b["verificationMaterial"]["tlogEntries"],
            serde_json::json!([])
        );
        let envelope = &b["dsseEnvelope"];
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);
        assert_eq!(envelope["signatures"][0]["keyid"], "");

        let payload = BASE64
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["predicateType"],
            "https://sigstore.dev/cosign/sign/v1"
        );
        assert_eq!(statement["predicate"], serde_json::json!({}));
        assert_eq!(
            statement["subject"],
            serde_json::json!([{"name": "registry.example/a", "digest": {"sha256": d.hex()}}])
        );

        // PAE written out here, not taken from the code under test.
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(&payload);
        let sig = BASE64
            .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        let pem = key.public_key_pem().unwrap();
        assert!(
            openssl_verifies(&pem, &pae, &sig),
            "openssl rejected the DSSE signature"
        );
        assert!(sigstore_verifies(&pem, &pae, &sig));
        assert!(
            !openssl_verifies(&pem, &payload, &sig),
            "the signature is over the PAE"
        );
    }

    #[test]
    fn statements_for_other_predicates_keep_the_form_and_carry_the_predicate() {
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        let predicate =
            serde_json::json!({"result": "PASSED", "configuration": [], "passedTests": ["a"]});
        let text = String::from_utf8(in_toto_statement_for(
            &d,
            None,
            "https://in-toto.io/attestation/test-result/v0.1",
            &predicate,
        ))
        .unwrap();
        assert_eq!(
            text,
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f"}}],"predicateType":"https://in-toto.io/attestation/test-result/v0.1","predicate":{"configuration":[],"passedTests":["a"],"result":"PASSED"}}"#
        );
        // The signature case is the general one with cosign's predicate.
        assert_eq!(
            in_toto_statement(&d, Some("r/a")),
            in_toto_statement_for(
                &d,
                Some("r/a"),
                COSIGN_SIGN_PREDICATE_TYPE,
                &serde_json::json!({})
            )
        );
    }

    #[test]
    fn the_bundle_verifies_with_the_projects_verifier() {
        let key = SigningKey::generate().unwrap();
        let d = digest("sha256:0489474dbe2ac6ba2e4afab3ffd8b28aa8b3f5f4ffd4046d08ce2ab5b4b4b23f");
        let trusted = TrustedKey::from_pem(key.public_key_pem().unwrap().as_bytes(), "k").unwrap();
        assert_eq!(trusted.fingerprint(), &key.fingerprint());
        for name in [None, Some("registry.example/a")] {
            let bundle = dsse_bundle_v03(&key, &d, name).unwrap();
            let signer = verify_bundle_v03(&bundle, &d, std::slice::from_ref(&trusted)).unwrap();
            assert_eq!(signer, Signer::Key(key.fingerprint()));
            let other =
                digest("sha256:1111111111111111111111111111111111111111111111111111111111111111");
            assert!(verify_bundle_v03(&bundle, &other, std::slice::from_ref(&trusted)).is_err());
        }
    }
}
