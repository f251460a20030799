//! Registry writes for connector authors (`push`, `sign`): blobs and
//! manifests, through oci-client, which does uploads and the push-scoped
//! token flow well. Credentials, protocol and CA roots come from the same
//! settings as pulls.

use std::time::Duration;

use lf_lockfile::{Config, Digest, Protocol, Reference};
use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use reqwest::header::HeaderValue;
use sha2::Digest as _;

use super::credentials::{self, Credential, ProcessEnv};
use super::{RegistryError, is_loopback};

/// Writes to one repository.
pub struct Publisher {
    client: oci_client::Client,
    auth: RegistryAuth,
    target: oci_client::Reference,
    shown: String,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("target", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher for `reference`'s repository, honouring the project's
    /// `[registries]` settings for its host.
    pub fn new(config: &Config, reference: &Reference) -> Result<Publisher, RegistryError> {
        let host = reference.registry();
        let shown = reference.to_string();
        let settings = config.registries().get(host);
        let protocol = settings.map_or(Protocol::Auto, |r| r.protocol);
        let plain = match protocol {
            Protocol::Http => true,
            Protocol::Https => false,
            Protocol::Auto => is_loopback(host),
        };
        let mut extra_root_certificates = Vec::new();
        if let Some(ca) = settings.and_then(|r| r.ca_file.as_ref()) {
            let path = config.resolve(&ca.path);
            let data = std::fs::read(&path).map_err(|e| RegistryError::Other {
                reference: shown.clone(),
                detail: format!("cannot read the CA file `{}`: {e}", path.display()),
            })?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let timeout = Duration::from_secs(config.network().timeout_secs);
        let client = oci_client::Client::new(ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            use_monolithic_push: true,
            extra_root_certificates,
            read_timeout: Some(timeout),
            connect_timeout: Some(timeout),
            user_agent: concat!("lf-resolve/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        });
        let (credential, _) =
            credentials::lookup(host, &ProcessEnv).map_err(|e| RegistryError::Unauthorized {
                reference: shown.clone(),
                detail: e.to_string(),
            })?;
        let auth = match credential {
            Credential::Anonymous => RegistryAuth::Anonymous,
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username, password.expose().to_owned())
            }
            Credential::Bearer(token) | Credential::IdentityToken(token) => {
                RegistryAuth::Bearer(token.expose().to_owned())
            }
        };
        let target = oci_client::Reference::with_tag(
            host.to_owned(),
            reference.repository().to_owned(),
            reference.tag_or_latest().to_owned(),
        );
        Ok(Publisher {
            client,
            auth,
            target,
            shown,
        })
    }

    fn error(&self, what: &str, e: &oci_client::errors::OciDistributionError) -> RegistryError {
        let detail = format!("{what}: {}", super::http::error_chain(e));
        match e {
            oci_client::errors::OciDistributionError::UnauthorizedError { .. }
            | oci_client::errors::OciDistributionError::AuthenticationFailure(_) => {
                RegistryError::Unauthorized {
                    reference: self.shown.clone(),
                    detail,
                }
            }
            oci_client::errors::OciDistributionError::RequestError(_) => {
                RegistryError::Unreachable {
                    reference: self.shown.clone(),
                    detail,
                }
            }
            _ => RegistryError::Other {
                reference: self.shown.clone(),
                detail,
            },
        }
    }

    /// Authenticates for pushing (a push-scoped token where the registry
    /// uses tokens).
    pub async fn authenticate(&self) -> Result<(), RegistryError> {
        if matches!(self.auth, RegistryAuth::Anonymous) {
            return Ok(());
        }
        self.client
            .auth(&self.target, &self.auth, RegistryOperation::Push)
            .await
            .map(drop)
            .map_err(|e| self.error("authentication for push failed", &e))
    }

    /// Uploads `bytes` unless the repository already has them; returns
    /// their digest.
    pub async fn push_blob(&self, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let digest =
            Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &sha2::Sha256::digest(bytes));
        let exists = self
            .client
            .blob_exists(&self.target, &digest.to_string())
            .await
            .unwrap_or(false);
        if !exists {
            self.client
                .push_blob(&self.target, bytes.to_vec(), &digest.to_string())
                .await
                .map_err(|e| self.error(&format!("uploading blob {digest}"), &e))?;
        }
        Ok(digest)
    }

    /// Puts a manifest under `tag` (or by its digest when `tag` is `None`);
    /// returns its digest.
    pub async fn push_manifest(
        &self,
        bytes: &[u8],
        media_type: &str,
        tag: Option<&str>,
    ) -> Result<Digest, RegistryError> {
        let digest =
            Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &sha2::Sha256::digest(bytes));
        let target = match tag {
            Some(tag) => oci_client::Reference::with_tag(
                self.target.registry().to_owned(),
                self.target.repository().to_owned(),
                tag.to_owned(),
            ),
            None => oci_client::Reference::with_digest(
                self.target.registry().to_owned(),
                self.target.repository().to_owned(),
                digest.to_string(),
            ),
        };
        let content_type = HeaderValue::from_str(media_type).map_err(|_| RegistryError::Other {
            reference: self.shown.clone(),
            detail: format!("`{media_type}` is not a valid media type"),
        })?;
        self.client
            .push_manifest_raw(&target, bytes.to_vec(), content_type)
            .await
            .map_err(|e| self.error("putting the manifest", &e))?;
        Ok(digest)
    }
}
