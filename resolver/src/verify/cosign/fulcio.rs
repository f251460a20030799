//! Fulcio certificates of keyless signatures: the chain to a pinned root at
//! the time Rekor integrated the entry, and the identity the certificate was
//! issued to.
//!
//! The `dev.sigstore.cosign/chain` annotation is only a hint: its
//! certificates are offered to path building as untrusted intermediates, and
//! the path must end at a trust anchor of the pinned root.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use x509_cert::Certificate;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::SignatureError;
use super::trust::{TrustRoot, TrustedKey, format_unix};

/// Fulcio's OIDC issuer extension, v1: the raw issuer URL as the extension value.
const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, v2: a DER `UTF8String`.
const OIDC_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER-encoded OID value.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The signature algorithms Fulcio roots, intermediates and leaves use.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
];

/// A leaf certificate read from the `dev.sigstore.cosign/certificate`
/// annotation, not yet trusted.
pub(crate) struct Leaf {
    pub(crate) der: Vec<u8>,
    cert: Certificate,
}

impl Leaf {
    /// Reads a PEM certificate.
    pub(crate) fn from_pem(pem: &str) -> Result<Leaf, SignatureError> {
        let bad = |reason: String| SignatureError::MalformedCertificate {
            what: "the signing certificate".to_owned(),
            reason,
        };
        let (label, der) =
            x509_cert::der::pem::decode_vec(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(bad(format!(
                "PEM block is `{label}`, expected `CERTIFICATE`"
            )));
        }
        let cert = Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
        Ok(Leaf { der, cert })
    }

    /// Checks that the certificate chains to a Fulcio CA of `root` that was
    /// valid at `time`, that every certificate on the path was valid at `time`,
    /// and that the leaf may sign code.
    pub(crate) fn verify_chain(
        &self,
        chain_pem: Option<&str>,
        root: &TrustRoot,
        time: u64,
    ) -> Result<(), SignatureError> {
        let validity = self.cert.tbs_certificate().validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if time < not_before || time > not_after {
            return Err(SignatureError::CertificateNotValidAt {
                time: format_unix(time),
                not_before: format_unix(not_before),
                not_after: format_unix(not_after),
            });
        }
        let mut intermediates = Vec::new();
        if let Some(chain_pem) = chain_pem {
            let chain = Certificate::load_pem_chain(chain_pem.as_bytes()).map_err(|e| {
                SignatureError::MalformedCertificate {
                    what: "the certificate chain annotation".to_owned(),
                    reason: e.to_string(),
                }
            })?;
            for cert in chain {
                let der = cert
                    .to_der()
                    .map_err(|e| SignatureError::MalformedCertificate {
                        what: "the certificate chain annotation".to_owned(),
                        reason: e.to_string(),
                    })?;
                intermediates.push(CertificateDer::from(der));
            }
        }
        let mut anchors: Vec<TrustAnchor<'_>> = Vec::new();
        let mut uris = Vec::new();
        for ca in root.authorities_at(time) {
            anchors.push(ca.anchor.clone());
            uris.push(ca.uri.as_str());
            intermediates.extend(ca.intermediates.iter().cloned());
        }
        if anchors.is_empty() {
            let reason = if root.has_authorities() {
                format!(
                    "no Fulcio CA of the trust root was valid at {}",
                    format_unix(time)
                )
            } else {
                "the trust root has no Fulcio CA".to_owned()
            };
            return Err(SignatureError::UntrustedCertificate { reason });
        }
        let leaf_der = CertificateDer::from(self.der.as_slice());
        let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| {
            SignatureError::MalformedCertificate {
                what: "the signing certificate".to_owned(),
                reason: e.to_string(),
            }
        })?;
        leaf.verify_for_usage(
            ALGORITHMS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(time)),
            webpki::KeyUsage::required(EKU_CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| SignatureError::UntrustedCertificate {
            reason: format!(
                "{} (checked at {} against the roots of {})",
                describe(&e),
                format_unix(time),
                uris.join(", ")
            ),
        })?;
        Ok(())
    }

    /// The SAN emails and URIs.
    pub(crate) fn identities(&self) -> Result<Vec<String>, SignatureError> {
        let san = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(|e| SignatureError::MalformedCertificate {
                what: "the signing certificate's subjectAltName".to_owned(),
                reason: e.to_string(),
            })?;
        let Some((_, SubjectAltName(names))) = san else {
            return Ok(Vec::new());
        };
        Ok(names
            .iter()
            .filter_map(|name| match name {
                GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                    Some(s.to_string())
                }
                _ => None,
            })
            .collect())
    }

    /// The OIDC issuer Fulcio recorded: extension .1.8 when present, else .1.1.
    pub(crate) fn issuer(&self) -> Result<Option<String>, SignatureError> {
        let bad = |reason: String| SignatureError::MalformedCertificate {
            what: "the signing certificate's OIDC issuer extension".to_owned(),
            reason,
        };
        let extensions = self
            .cert
            .tbs_certificate()
            .extensions()
            .map_or(&[][..], Vec::as_slice);
        if let Some(ext) = extensions.iter().find(|e| e.extn_id == OIDC_ISSUER_V2) {
            let s = Utf8StringRef::from_der(ext.extn_value.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            return Ok(Some(s.as_str().to_owned()));
        }
        if let Some(ext) = extensions.iter().find(|e| e.extn_id == OIDC_ISSUER_V1) {
            let s =
                std::str::from_utf8(ext.extn_value.as_bytes()).map_err(|e| bad(e.to_string()))?;
            return Ok(Some(s.to_owned()));
        }
        Ok(None)
    }

    /// The certificate's public key, to verify the payload signature with.
    pub(crate) fn key(&self) -> Result<TrustedKey, SignatureError> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| SignatureError::MalformedCertificate {
                what: "the signing certificate's public key".to_owned(),
                reason: e.to_string(),
            })?;
        TrustedKey::from_spki_der(&spki, "the Fulcio certificate")
    }
}

/// Path building's verdict, in words for the common cases.
fn describe(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => {
            "no path from the certificate through the chain annotation to a trusted root".to_owned()
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "a certificate's signature does not verify with its issuer's key".to_owned()
        }
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the certificate is not for code signing".to_owned()
        }
        other => format!("{other}"),
    }
}
