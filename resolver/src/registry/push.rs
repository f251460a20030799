//! Registry writes. Two writers:
//!
//! - [`Publisher`], for connector authors (`push`, `sign`): small blobs and
//!   manifests held in memory, through oci-client, which does uploads and
//!   the push-scoped token flow well.
//! - [`Destination`], for `mirror`: copies whole artifacts, modules
//!   included, so blobs are streamed from the content store and never held
//!   in memory, each re-hashed on its way out; it asks before it writes
//!   (`HEAD`), so a rerun only sends what is missing, and mounts a blob from
//!   another repository of the destination instead of uploading it again.
//!   oci-client takes blobs as `Vec<u8>` and has no mount, so this one
//!   speaks HTTP through the pull client's [`Transport`] (same credentials,
//!   challenges, retries and bounds), with a push scope.
//!
//! Credentials, protocol and CA roots come from the same settings as pulls.

use std::time::Duration;

use lf_lockfile::{Config, Digest, Protocol, Reference};
use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use super::credentials::{self, Credential, ProcessEnv};
use super::http::{Transport, Write};
use super::{Limits, RegistryClient, RegistryError, at, is_loopback};

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

/// Every manifest type we copy; the destination answers `HEAD` for any.
const ANY_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// How a blob reached the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// It was already there.
    Present,
    /// Mounted from another repository of the destination.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// A registry that artifacts are copied into, by `mirror` (see the module
/// docs). Repositories are named in full (prefix included) by the caller.
#[derive(Debug)]
pub struct Destination {
    transport: std::sync::Arc<Transport>,
    host: String,
    limits: Limits,
}

impl Destination {
    /// A writer for `host`, with the credentials, protocol and CA file the
    /// configuration and docker's credential store give for it.
    pub fn new(client: &RegistryClient, host: &str) -> Result<Destination, RegistryError> {
        Ok(Destination {
            transport: client.transport_for(host)?,
            host: host.to_owned(),
            limits: client.limits(),
        })
    }

    /// Checks that the registry answers at all (`GET /v2/`, following its
    /// auth challenge), so that a destination that is down fails the run at
    /// once instead of once per artifact.
    pub async fn check(&self) -> Result<(), RegistryError> {
        self.bounded(
            0,
            self.transport
                .send(Method::GET, "", "", &super::http::RequestOptions::default()),
        )
        .await
        .map(drop)
        .map_err(|e| at(&self.host, e))
    }

    /// A failed write as a registry error; `405` gets its likely cause.
    fn refused(shown: &str, e: super::http::HttpError) -> RegistryError {
        match e {
            super::http::HttpError::Status { status, .. }
                if status == StatusCode::METHOD_NOT_ALLOWED =>
            {
                RegistryError::Other {
                    reference: shown.to_owned(),
                    detail: format!(
                        "the registry does not accept pushes ({e}): it is read-only, or a pull-through cache (`proxy.remoteurl`)"
                    ),
                }
            }
            other => at(shown, other),
        }
    }

    fn shown(&self, repository: &str, what: &str) -> String {
        format!("{}/{repository}{what}", self.host)
    }

    fn write<'a>(repository: &str, extra_pull: Option<&str>) -> Write<'a> {
        let mut scope = format!("repository:{repository}:pull,push");
        if let Some(from) = extra_pull {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        Write {
            scope,
            accept: None,
            content_type: None,
            content_length: 0,
            body: None,
        }
    }

    /// Whether `repository` has blob `digest` (`HEAD`).
    pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let target = format!("/v2/{repository}/blobs/{digest}");
        let shown = self.shown(repository, &format!("@{digest}"));
        let write = Self::write(repository, None);
        match self
            .bounded(0, self.transport.send_write(Method::HEAD, &target, &write))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(at(&shown, e)),
        }
    }

    /// The digest of the manifest `tag_or_digest` names in `repository`
    /// (`HEAD`), `None` when there is none.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        tag_or_digest: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let target = format!("/v2/{repository}/manifests/{tag_or_digest}");
        let shown = self.shown(repository, &format!(":{tag_or_digest}"));
        let write = Write {
            accept: Some(ANY_MANIFEST),
            ..Self::write(repository, None)
        };
        let answer = self
            .bounded(0, self.transport.send_write(Method::HEAD, &target, &write))
            .await;
        match answer {
            Ok((response, _permit)) => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(at(&shown, e)),
        }
    }

    /// Copies the stored blob at `path` (`digest`, `size` bytes) into
    /// `repository` (ask [`has_blob`](Self::has_blob) first): mounted from
    /// `mount_from` (another repository of this registry that has it) when
    /// the registry allows, else uploaded from the file, re-hashed as it
    /// goes (a file that no longer matches its digest aborts the upload).
    pub async fn copy_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &std::path::Path,
        mount_from: Option<&str>,
    ) -> Result<BlobOutcome, RegistryError> {
        let shown = self.shown(repository, &format!("@{digest}"));
        let start = match mount_from {
            Some(from) if from != repository => {
                format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
            }
            _ => format!("/v2/{repository}/blobs/uploads/"),
        };
        let write = Self::write(repository, mount_from);
        let (response, permit) = self
            .bounded(0, self.transport.send_write(Method::POST, &start, &write))
            .await
            .map_err(|e| Self::refused(&shown, e))?;
        if response.status() == StatusCode::CREATED {
            return Ok(BlobOutcome::Mounted);
        }
        // 202: an upload session (also the answer to a mount the registry
        // would not do).
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Other {
                reference: shown.clone(),
                detail: format!(
                    "the registry answered {} to an upload request without a Location",
                    response.status()
                ),
            })?;
        drop(response);
        drop(permit);
        let separator = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{separator}digest={digest}");
        let file_path = path.to_owned();
        let expected = digest.clone();
        let make = move || file_body(file_path.clone(), expected.clone(), size);
        let write = Write {
            content_type: Some("application/octet-stream"),
            content_length: size,
            body: Some(&make),
            ..Self::write(repository, None)
        };
        let (_response, _permit) = self
            .bounded(
                size,
                self.transport.send_write(Method::PUT, &target, &write),
            )
            .await
            .map_err(|e| Self::refused(&shown, e))?;
        Ok(BlobOutcome::Uploaded)
    }

    /// Puts `bytes` (a manifest of `media_type`) into `repository` under
    /// `tag_or_digest`; checks that the registry computed the same digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag_or_digest: &str,
        bytes: &bytes::Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let digest =
            Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &sha2::Sha256::digest(bytes));
        let shown = self.shown(repository, &format!(":{tag_or_digest}"));
        let target = format!("/v2/{repository}/manifests/{tag_or_digest}");
        let body = bytes.clone();
        let make = move || reqwest::Body::from(body.clone());
        let write = Write {
            content_type: Some(media_type),
            content_length: bytes.len() as u64,
            body: Some(&make),
            ..Self::write(repository, None)
        };
        let (response, _permit) = self
            .bounded(
                bytes.len() as u64,
                self.transport.send_write(Method::PUT, &target, &write),
            )
            .await
            .map_err(|e| Self::refused(&shown, e))?;
        let served = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        if let Some(served) = served
            && served != digest
        {
            return Err(RegistryError::DigestMismatch {
                reference: shown,
                expected: digest,
                actual: served,
            });
        }
        Ok(digest)
    }

    /// Runs `request` within the time a transfer of `size` bytes may take.
    async fn bounded<T>(
        &self,
        size: u64,
        request: impl std::future::Future<Output = Result<T, super::http::HttpError>>,
    ) -> Result<T, super::http::HttpError> {
        let allowed = self.limits.transfer_time(size);
        tokio::time::timeout(allowed, request).await.map_err(|_| {
            super::http::HttpError::Connect(format!(
                "no complete answer within {}s (`timeout-secs` plus the size at `min-bytes-per-sec` in [network])",
                allowed.as_secs()
            ))
        })?
    }
}

/// The body of a blob upload: the stored file in 64 KiB chunks, hashed as
/// it is read. Reading more than `size` bytes, or bytes that do not hash to
/// `expected`, ends the stream with an error, so the upload fails instead of
/// sending other bytes under the digest.
fn file_body(path: std::path::PathBuf, expected: Digest, size: u64) -> reqwest::Body {
    reqwest::Body::wrap_stream(file_stream(path, expected, size))
}

/// The stream behind [`file_body`].
fn file_stream(
    path: std::path::PathBuf,
    expected: Digest,
    size: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt as _;
    enum Hasher {
        Sha256(sha2::Sha256),
        Sha512(sha2::Sha512),
    }
    struct State {
        file: Option<tokio::fs::File>,
        hasher: Hasher,
        read: u64,
    }
    let start = State {
        file: None,
        hasher: match expected.algorithm() {
            lf_lockfile::Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            lf_lockfile::Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        },
        read: 0,
    };
    futures_util::stream::try_unfold(start, move |mut state| {
        let path = path.clone();
        let expected = expected.clone();
        async move {
            let file = match state.file.as_mut() {
                Some(file) => file,
                None => state.file.insert(tokio::fs::File::open(&path).await?),
            };
            let mut buf = vec![0u8; 64 * 1024];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                let actual =
                    match std::mem::replace(&mut state.hasher, Hasher::Sha256(sha2::Sha256::new()))
                    {
                        Hasher::Sha256(h) => {
                            Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &h.finalize())
                        }
                        Hasher::Sha512(h) => {
                            Digest::from_bytes(lf_lockfile::Algorithm::Sha512, &h.finalize())
                        }
                    };
                if state.read != size || actual != expected {
                    return Err(std::io::Error::other(format!(
                        "`{}` no longer holds blob {expected} ({} bytes hashing to {actual})",
                        path.display(),
                        state.read
                    )));
                }
                return Ok(None);
            }
            state.read += n as u64;
            if state.read > size {
                return Err(std::io::Error::other(format!(
                    "`{}` is larger than blob {expected} ({size} bytes)",
                    path.display()
                )));
            }
            buf.truncate(n);
            match &mut state.hasher {
                Hasher::Sha256(h) => h.update(&buf),
                Hasher::Sha512(h) => h.update(&buf),
            }
            Ok(Some((bytes::Bytes::from(buf), state)))
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    async fn drain(path: &std::path::Path, digest: &Digest, size: u64) -> std::io::Result<Vec<u8>> {
        let stream = file_stream(path.to_owned(), digest.clone(), size);
        futures_util::pin_mut!(stream);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[test]
    fn uploads_stop_when_the_file_is_not_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content = vec![7u8; 200_000];
        std::fs::write(&path, &content).unwrap();
        let digest = Digest::from_bytes(
            lf_lockfile::Algorithm::Sha256,
            &sha2::Sha256::digest(&content),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let size = content.len() as u64;
        assert_eq!(
            runtime.block_on(drain(&path, &digest, size)).unwrap(),
            content
        );

        // Same size, one byte changed: the end of the stream is an error.
        let mut changed = content.clone();
        changed[150_000] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        let err = runtime.block_on(drain(&path, &digest, size)).unwrap_err();
        assert!(err.to_string().contains("no longer holds"), "{err}");

        // Longer than declared: stopped as soon as it is.
        std::fs::write(&path, [content.as_slice(), b"x"].concat()).unwrap();
        let err = runtime.block_on(drain(&path, &digest, size)).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
