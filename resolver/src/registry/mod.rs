//! Registry access: a thin wrapper over `oci-client` that speaks our types
//! (`Reference`, `Digest`, [`crate::store::Store`]) and turns its errors into
//! ones that name the reference and say what to do.
//!
//! Nothing read from the network is trusted here: manifests are hashed and
//! compared with the digest asked for, and blobs go straight into the store's
//! verifying writer, so a caller only ever holds verified bytes.

use std::time::Duration;

use futures_util::StreamExt;
use lf_lockfile::{Config, Digest, Protocol, Reference};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor};
use oci_client::secrets::RegistryAuth;
use sha2::Digest as _;

use crate::store::{Store, StoreError, VerifiedBlob};

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// Docker's manifest media types: asked for so that a Docker image is
/// reported as such rather than as "not found".
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest fetched and checked against its digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The digest of `bytes` (equal to the one asked for, if any).
    pub digest: Digest,
    /// The exact bytes served.
    pub bytes: bytes::Bytes,
}

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tag, digest or repository does not exist.
    #[error("`{reference}` was not found in the registry ({detail})")]
    NotFound {
        /// What was asked for.
        reference: String,
        /// What the registry said.
        detail: String,
    },
    /// Credentials are missing or refused.
    #[error("the registry refused access to `{reference}` ({detail})")]
    Unauthorized {
        /// What was asked for.
        reference: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry cannot be reached.
    #[error("cannot reach the registry for `{reference}`: {detail}")]
    Unreachable {
        /// What was asked for.
        reference: String,
        /// The connection error.
        detail: String,
    },
    /// The registry served bytes whose digest is not the one asked for.
    #[error("digest mismatch for `{reference}`: expected {expected}, the registry served {actual}")]
    DigestMismatch {
        /// What was asked for.
        reference: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what was served.
        actual: Digest,
    },
    /// A blob's bytes did not hash to its digest.
    #[error(
        "blob {digest} of `{reference}` does not match its digest: the registry served {served}"
    )]
    BlobDigestMismatch {
        /// What was asked for.
        reference: String,
        /// The blob's digest.
        digest: Digest,
        /// What the served bytes hash to, as reported.
        served: String,
    },
    /// The manifest is larger than [`MAX_MANIFEST_SIZE`].
    #[error(
        "the manifest of `{reference}` is {size} bytes, over the {MAX_MANIFEST_SIZE}-byte limit"
    )]
    ManifestTooLarge {
        /// What was asked for.
        reference: String,
        /// Its size.
        size: usize,
    },
    /// The store refused a blob (size or digest mismatch, I/O).
    #[error("blob {digest} of `{reference}`: {source}")]
    Store {
        /// What was asked for.
        reference: String,
        /// The blob.
        digest: Digest,
        /// Why.
        source: StoreError,
    },
    /// Anything else the registry or the client reported.
    #[error("registry error for `{reference}`: {detail}")]
    Other {
        /// What was asked for.
        reference: String,
        /// What happened.
        detail: String,
    },
}

impl RegistryError {
    /// Whether the bytes themselves were wrong (as opposed to the registry
    /// being unreachable or refusing).
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            RegistryError::DigestMismatch { .. }
                | RegistryError::BlobDigestMismatch { .. }
                | RegistryError::Store {
                    source: StoreError::DigestMismatch { .. }
                        | StoreError::TooLarge { .. }
                        | StoreError::Truncated { .. },
                    ..
                }
        )
    }
}

/// A client for every registry a configuration names.
#[derive(Clone)]
pub struct RegistryClient {
    client: oci_client::Client,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

/// Whether `host` (with optional port) names this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RegistryClient {
    /// A client honouring the `[registries]` and `[network]` settings.
    ///
    /// `protocol = "auto"` means HTTPS, except plain HTTP for loopback hosts;
    /// HTTPS is never silently downgraded for any other host.
    pub fn new(config: &Config) -> RegistryClient {
        let mut plain_http: Vec<String> = Vec::new();
        let mut hosts: Vec<&str> = config
            .connectors()
            .values()
            .map(|c| c.reference.registry())
            .collect();
        hosts.extend(config.registries().keys().map(String::as_str));
        hosts.sort_unstable();
        hosts.dedup();
        for host in hosts {
            let protocol = config
                .registries()
                .get(host)
                .map_or(Protocol::Auto, |r| r.protocol);
            let http = match protocol {
                Protocol::Http => true,
                Protocol::Https => false,
                Protocol::Auto => is_loopback(host),
            };
            if http {
                plain_http.push(host.to_owned());
            }
        }
        let network = config.network();
        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain_http),
            read_timeout: Some(Duration::from_secs(network.timeout_secs)),
            connect_timeout: Some(Duration::from_secs(network.timeout_secs)),
            max_concurrent_download: network.max_connections_per_registry as usize,
            user_agent: concat!("lf-resolve/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        });
        RegistryClient { client }
    }

    /// Fetches the manifest `reference` names (by digest when it has one,
    /// else by tag), with OCI `Accept` headers, and checks its digest.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let target = to_oci(reference);
        let shown = reference.to_string();
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                &target,
                &RegistryAuth::Anonymous,
                &[
                    OCI_IMAGE_MEDIA_TYPE,
                    OCI_IMAGE_INDEX_MEDIA_TYPE,
                    DOCKER_MANIFEST,
                    DOCKER_MANIFEST_LIST,
                ],
            )
            .await
            .map_err(|e| map_error(&shown, e))?;
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge {
                reference: shown,
                size: bytes.len(),
            });
        }
        // oci-client checks too, but only against the digest it was asked
        // for; we always hash what we keep.
        let actual = Digest::from_bytes(
            lf_lockfile::Algorithm::Sha256,
            &sha2::Sha256::digest(&bytes),
        );
        if let Some(expected) = reference.digest() {
            let actual = match expected.algorithm() {
                lf_lockfile::Algorithm::Sha256 => actual,
                lf_lockfile::Algorithm::Sha512 => Digest::from_bytes(
                    lf_lockfile::Algorithm::Sha512,
                    &sha2::Sha512::digest(&bytes),
                ),
            };
            if actual != *expected {
                return Err(RegistryError::DigestMismatch {
                    reference: shown,
                    expected: expected.clone(),
                    actual,
                });
            }
            return Ok(FetchedManifest {
                digest: actual,
                bytes,
            });
        }
        Ok(FetchedManifest {
            digest: actual,
            bytes,
        })
    }

    /// Streams blob `digest` of `size` bytes from `reference`'s repository
    /// into the store, and returns it once verified. `on_bytes` is called
    /// with each chunk's length, for progress.
    pub async fn pull_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        store: &Store,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<VerifiedBlob, RegistryError> {
        let shown = reference.to_string();
        let store_error = |source| RegistryError::Store {
            reference: shown.clone(),
            digest: digest.clone(),
            source,
        };
        let target = to_oci(reference);
        let descriptor = OciDescriptor {
            digest: digest.to_string(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let mut writer = store.writer(digest, size).map_err(store_error)?;
        self.client
            .store_auth_if_needed(target.resolve_registry(), &RegistryAuth::Anonymous)
            .await;
        let mut stream = self
            .client
            .pull_blob_stream(&target, &descriptor)
            .await
            .map_err(|e| map_error(&shown, e))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| map_stream_error(&shown, digest, &e))?;
            writer.write(&chunk).map_err(store_error)?;
            on_bytes(chunk.len() as u64);
        }
        writer.finish().map_err(store_error)
    }
}

fn map_stream_error(reference: &str, digest: &Digest, e: &std::io::Error) -> RegistryError {
    // oci-client's verifying stream reports a digest mismatch as an I/O error;
    // our writer would catch it too, but name it as what it is.
    let detail = e.to_string();
    if let Some((_, served)) = detail
        .split_once("Invalid digest. Expected ")
        .and_then(|(_, rest)| rest.split_once(", got "))
    {
        return RegistryError::BlobDigestMismatch {
            reference: reference.to_owned(),
            digest: digest.clone(),
            served: served.trim().to_owned(),
        };
    }
    RegistryError::Unreachable {
        reference: reference.to_owned(),
        detail: format!("the download of blob {digest} failed: {detail}"),
    }
}

/// Our reference in oci-client's type (no re-parse: the parts are valid).
pub fn to_oci(reference: &Reference) -> oci_client::Reference {
    let registry = reference.registry().to_owned();
    let repository = reference.repository().to_owned();
    match (reference.tag(), reference.digest()) {
        (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
            registry,
            repository,
            tag.to_owned(),
            digest.to_string(),
        ),
        (None, Some(digest)) => {
            oci_client::Reference::with_digest(registry, repository, digest.to_string())
        }
        (tag, None) => oci_client::Reference::with_tag(
            registry,
            repository,
            tag.unwrap_or("latest").to_owned(),
        ),
    }
}

fn map_error(reference: &str, e: OciDistributionError) -> RegistryError {
    let reference = reference.to_owned();
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let detail = envelope
                .errors
                .iter()
                .map(|err| format!("{:?}: {}", err.code, err.message))
                .collect::<Vec<_>>()
                .join("; ");
            let not_found = envelope.errors.iter().any(|err| {
                matches!(
                    err.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            });
            let denied = envelope
                .errors
                .iter()
                .any(|err| matches!(err.code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
            if not_found {
                RegistryError::NotFound { reference, detail }
            } else if denied {
                RegistryError::Unauthorized { reference, detail }
            } else {
                RegistryError::Other { reference, detail }
            }
        }
        OciDistributionError::UnauthorizedError { url } => RegistryError::Unauthorized {
            reference,
            detail: format!("401 from {url}"),
        },
        OciDistributionError::ImageManifestNotFoundError(detail) => {
            RegistryError::NotFound { reference, detail }
        }
        OciDistributionError::ServerError {
            code: 404, message, ..
        } => RegistryError::NotFound {
            reference,
            detail: message,
        },
        OciDistributionError::DigestError(d) => RegistryError::Other {
            reference,
            detail: d.to_string(),
        },
        OciDistributionError::RequestError(e) => RegistryError::Unreachable {
            reference,
            detail: error_chain(&e),
        },
        other => RegistryError::Other {
            reference,
            detail: other.to_string(),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn references_convert_without_reparsing() {
        let r: Reference = "127.0.0.1:5000/lf/a:1.0".parse().unwrap();
        let o = to_oci(&r);
        assert_eq!(o.registry(), "127.0.0.1:5000");
        assert_eq!(o.repository(), "lf/a");
        assert_eq!(o.tag(), Some("1.0"));
        let pinned = r.with_digest(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap(),
        );
        assert!(to_oci(&pinned).digest().is_some());
    }
}
