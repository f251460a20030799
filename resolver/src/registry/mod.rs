//! Registry access for pulls: manifests and blobs by reference, through
//! mirrors, with credentials, retries and resumable downloads (see [`http`]),
//! speaking our types (`Reference`, `Digest`, [`crate::store::Store`]) and
//! turning failures into errors that name the reference and say what to do.
//!
//! Nothing read from the network is trusted here: manifests are hashed and
//! compared with the digest asked for, and blobs go straight into the store's
//! verifying writer, so a caller only ever holds verified bytes.
//!
//! Nor is a registry trusted to be reasonable: every answer is bounded in
//! size ([`Limits`], checked against the declared sizes before a download
//! starts and again as bytes arrive) and in time (a deadline per transfer that
//! grows with its size, on top of the per-read idle timeout), so a hostile or
//! broken registry can make a run fail, never hang or fill the disk.

pub mod credentials;
pub mod http;
pub mod push;
pub mod tags;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lf_lockfile::{Algorithm, Config, Digest, Protocol, Reference};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use self::credentials::{Credential, ProcessEnv, Source};
use self::http::{HttpError, RequestOptions, RetryPolicy, Transport};
use crate::store::{Store, StoreError, VerifiedBlob};

/// What a registry may send, and how slowly (`[network]` in
/// `latticeflow.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest manifest (or referrers index) accepted.
    pub manifest: u64,
    /// The largest config blob accepted.
    pub config: u64,
    /// The largest module accepted; also the bound for any blob.
    pub module: u64,
    /// The slowest pace tolerated, in bytes per second.
    pub min_rate: u64,
    /// The idle timeout, also the fixed part of every transfer's deadline.
    pub timeout: Duration,
}

impl Limits {
    /// The limits a `[network]` table sets.
    pub fn new(network: &lf_lockfile::Network) -> Limits {
        Limits {
            manifest: network.max_manifest_bytes,
            config: network.max_config_bytes,
            module: network.max_module_bytes,
            min_rate: network.min_bytes_per_sec.max(1),
            timeout: Duration::from_secs(network.timeout_secs),
        }
    }

    /// How long a transfer of `size` bytes may take once it has started:
    /// the timeout plus `size` at the minimum rate.
    pub fn transfer_time(&self, size: u64) -> Duration {
        self.timeout.saturating_add(Duration::from_millis(
            size.saturating_mul(1000) / self.min_rate,
        ))
    }
}

/// The `Accept` header for manifests. Distribution answers 404 to a
/// manifest request without an OCI type; Docker's types are listed so that a
/// Docker image is reported as such rather than as "not found".
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json;q=0.9, application/vnd.docker.distribution.manifest.v2+json;q=0.5, application/vnd.docker.distribution.manifest.list.v2+json;q=0.5";

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
    /// The manifest is larger than [`Limits::manifest`].
    #[error(
        "the manifest of `{reference}` is {size} bytes, over the {limit}-byte limit (`max-manifest-bytes` in [network])"
    )]
    ManifestTooLarge {
        /// What was asked for.
        reference: String,
        /// Its size (or the bytes received when it crossed the limit).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest names a blob larger than its limit; refused before
    /// downloading any of it.
    #[error(
        "the {what} {digest} of `{reference}` is declared as {size} bytes, over the {limit}-byte limit (`{setting}` in [network])"
    )]
    BlobTooLarge {
        /// What was asked for.
        reference: String,
        /// `config`, `module` or `blob`.
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
        /// The `[network]` key that sets the limit.
        setting: &'static str,
    },
    /// A transfer did not finish within its deadline.
    #[error(
        "the registry is too slow for `{reference}`: {what} sent {received} of {expected} bytes in {}s; the limit is {}s (`timeout-secs` plus the size at `min-bytes-per-sec` in [network])",
        .elapsed.as_secs(),
        .allowed.as_secs()
    )]
    TooSlow {
        /// What was asked for.
        reference: String,
        /// What was being read (`the manifest`, `blob sha256:…`).
        what: String,
        /// Bytes received.
        received: u64,
        /// Bytes expected (the limit when the size was not known).
        expected: u64,
        /// Time spent.
        elapsed: Duration,
        /// Time allowed.
        allowed: Duration,
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
                | RegistryError::ManifestTooLarge { .. }
                | RegistryError::BlobTooLarge { .. }
                | RegistryError::Store {
                    source: StoreError::DigestMismatch { .. }
                        | StoreError::TooLarge { .. }
                        | StoreError::Truncated { .. },
                    ..
                }
        )
    }
}

/// A client for every registry a configuration names: one [`Transport`] per
/// host (origin or mirror), each with its own TLS roots, credentials and
/// connection limit.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Transports by host, built on first use.
    transports: Mutex<HashMap<String, Arc<Transport>>>,
    /// Per-registry settings and shared network settings.
    settings: ClientSettings,
    /// One download per digest at a time within this run.
    inflight: tokio::sync::Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    /// Warnings for the user (a mirror skipped, …), drained by the command.
    warnings: Mutex<Vec<String>>,
}

#[derive(Clone)]
struct ClientSettings {
    registries: HashMap<String, lf_lockfile::RegistrySettings>,
    base_dir: std::path::PathBuf,
    network: lf_lockfile::Network,
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

/// One place to read a repository from: a host, and the prefix under which
/// it keeps the origin's repositories (a mirror written by `mirror
/// DEST/prefix`).
#[derive(Debug, Clone)]
struct Candidate {
    host: String,
    prefix: Option<String>,
}

impl Candidate {
    /// Where this source keeps `repository` of the origin.
    fn repository(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_owned(),
        }
    }
}

/// A registry error about a reference.
fn at(reference: &str, e: HttpError) -> RegistryError {
    let reference = reference.to_owned();
    match e {
        e if e.is_not_found() => RegistryError::NotFound {
            reference,
            detail: e.to_string(),
        },
        HttpError::Unauthorized(detail) => RegistryError::Unauthorized { reference, detail },
        HttpError::Status { status, .. } if status == StatusCode::FORBIDDEN => {
            RegistryError::Unauthorized {
                reference,
                detail: e.to_string(),
            }
        }
        HttpError::Connect(detail) => RegistryError::Unreachable { reference, detail },
        other => RegistryError::Other {
            reference,
            detail: other.to_string(),
        },
    }
}

impl RegistryClient {
    /// A client honouring the `[registries]` and `[network]` settings.
    ///
    /// `protocol = "auto"` means HTTPS, except plain HTTP for loopback hosts;
    /// HTTPS is never silently downgraded, not even by a redirect.
    pub fn new(config: &Config) -> RegistryClient {
        RegistryClient {
            inner: Arc::new(Inner {
                transports: Mutex::new(HashMap::new()),
                settings: ClientSettings {
                    registries: config
                        .registries()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    base_dir: config.resolve(std::path::Path::new("")),
                    network: config.network(),
                },
                inflight: tokio::sync::Mutex::new(HashMap::new()),
                warnings: Mutex::new(Vec::new()),
            }),
        }
    }

    /// This client without `mirror` (`host[:port]` or `host[:port]/prefix`)
    /// among the mirrors of any registry: `mirror` must ask the origin what
    /// it holds, not the copy it is updating.
    pub fn without_mirror(&self, mirror: &str) -> RegistryClient {
        let mut settings = self.inner.settings.clone();
        for registry in settings.registries.values_mut() {
            registry.mirrors.retain(|m| !m.eq_ignore_ascii_case(mirror));
        }
        RegistryClient {
            inner: Arc::new(Inner {
                transports: Mutex::new(HashMap::new()),
                settings,
                inflight: tokio::sync::Mutex::new(HashMap::new()),
                warnings: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The size and time bounds in force.
    pub fn limits(&self) -> Limits {
        Limits::new(&self.inner.settings.network)
    }

    /// Checks the sizes a connector manifest declares against the limits,
    /// before anything is downloaded: a config over [`Limits::config`] or a
    /// module over [`Limits::module`] is refused.
    pub fn check_artifact(
        &self,
        reference: &Reference,
        artifact: &crate::artifact::WasmArtifact,
    ) -> Result<(), RegistryError> {
        let limits = self.limits();
        for (what, blob, limit, setting) in [
            (
                "config",
                &artifact.config,
                limits.config,
                "max-config-bytes",
            ),
            (
                "module",
                &artifact.module,
                limits.module,
                "max-module-bytes",
            ),
        ] {
            if blob.size > limit {
                return Err(RegistryError::BlobTooLarge {
                    reference: reference.to_string(),
                    what,
                    digest: blob.digest.clone(),
                    size: blob.size,
                    limit,
                    setting,
                });
            }
        }
        Ok(())
    }

    /// Warnings gathered so far (each once), for the command to print.
    pub fn take_warnings(&self) -> Vec<String> {
        self.inner
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    fn warn(&self, message: String) {
        if let Ok(mut w) = self.inner.warnings.lock()
            && !w.contains(&message)
        {
            w.push(message);
        }
    }

    /// The sources to try for `registry`: its mirrors in order, then itself.
    fn candidates(&self, registry: &str) -> Vec<Candidate> {
        let mut sources: Vec<Candidate> = self
            .inner
            .settings
            .registries
            .get(registry)
            .map(|r| {
                r.mirrors
                    .iter()
                    .map(|m| {
                        let (host, prefix) = lf_lockfile::split_mirror(m);
                        Candidate {
                            host: host.to_owned(),
                            prefix: prefix.map(str::to_owned),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        sources.push(Candidate {
            host: registry.to_owned(),
            prefix: None,
        });
        sources
    }

    /// The transport for `host`; `origin` is the registry whose settings
    /// (protocol, CA file) apply when `host` is one of its mirrors.
    fn transport(&self, host: &str, origin: &str) -> Result<Arc<Transport>, RegistryError> {
        let mut map = self
            .inner
            .transports
            .lock()
            .map_err(|_| RegistryError::Other {
                reference: host.to_owned(),
                detail: "internal lock poisoned".to_owned(),
            })?;
        if let Some(t) = map.get(host) {
            return Ok(Arc::clone(t));
        }
        let transport = Arc::new(self.build_transport(host, origin, None)?);
        map.insert(host.to_owned(), Arc::clone(&transport));
        Ok(transport)
    }

    /// The transport for `host` with its own settings, for writes
    /// ([`push::Destination`]).
    pub(crate) fn transport_for(&self, host: &str) -> Result<Arc<Transport>, RegistryError> {
        self.transport(host, host)
    }

    /// Checks that `credential` is accepted by `host` (`GET /v2/`, following
    /// its challenge), as `login` does.
    pub async fn ping(&self, host: &str, credential: Credential) -> Result<(), RegistryError> {
        let transport = self.build_transport(host, host, Some(credential))?;
        transport
            .send(Method::GET, "", "", &RequestOptions::default())
            .await
            .map(drop)
            .map_err(|e| at(host, e))
    }

    fn build_transport(
        &self,
        host: &str,
        origin: &str,
        credential: Option<Credential>,
    ) -> Result<Transport, RegistryError> {
        let settings = &self.inner.settings;
        let own = settings.registries.get(host);
        let inherited = settings.registries.get(origin);
        let protocol = own.or(inherited).map_or(Protocol::Auto, |r| r.protocol);
        let plain_http = match protocol {
            Protocol::Http => true,
            Protocol::Https => false,
            Protocol::Auto => is_loopback(host),
        };
        let network = settings.network;
        let timeout = Duration::from_secs(network.timeout_secs);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("lf-resolve/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .pool_max_idle_per_host(network.max_connections_per_registry as usize)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let downgrade = attempt.url().scheme() == "http"
                    && attempt.previous().iter().any(|u| u.scheme() == "https");
                if downgrade {
                    attempt.error("refusing a redirect from HTTPS to plain HTTP")
                } else if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }));
        if let Some(ca) = own.or(inherited).and_then(|r| r.ca_file.as_ref()) {
            let path = settings.base_dir.join(&ca.path);
            let pem = std::fs::read(&path).map_err(|e| RegistryError::Other {
                reference: host.to_owned(),
                detail: format!("cannot read the CA file `{}`: {e}", path.display()),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| RegistryError::Other {
                    reference: host.to_owned(),
                    detail: format!(
                        "the CA file `{}` holds no valid PEM certificate: {e}",
                        path.display()
                    ),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| RegistryError::Other {
            reference: host.to_owned(),
            detail: format!("cannot set up the HTTP client: {}", http::error_chain(&e)),
        })?;
        let credential = match credential {
            Some(given) => given,
            None => {
                let (found, source) = credentials::lookup(host, &ProcessEnv).map_err(|e| {
                    RegistryError::Unauthorized {
                        reference: host.to_owned(),
                        detail: e.to_string(),
                    }
                })?;
                if source != Source::Anonymous {
                    tracing::info!("credentials for {host}: from {source}");
                }
                found
            }
        };
        let policy = RetryPolicy {
            retries: network.retries,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            budget: timeout
                .saturating_mul(network.retries + 1)
                .max(Duration::from_secs(30)),
        };
        Ok(Transport::new(
            client,
            host,
            plain_http,
            credential,
            network.max_connections_per_registry,
            policy,
            timeout,
        ))
    }

    /// Asks for the digest a reference names without downloading the
    /// manifest (HEAD), trying mirrors first. `None` when no host answers
    /// with a usable `Docker-Content-Digest`.
    pub async fn head_manifest(&self, reference: &Reference) -> Option<Digest> {
        let tag_or_digest = manifest_path(reference);
        for source in self.candidates(reference.registry()) {
            let Ok(transport) = self.transport(&source.host, reference.registry()) else {
                continue;
            };
            let options = RequestOptions {
                accept: Some(MANIFEST_ACCEPT),
                range_from: None,
            };
            if let Ok((response, _permit)) = transport
                .send(
                    Method::HEAD,
                    &source.repository(reference.repository()),
                    &tag_or_digest,
                    &options,
                )
                .await
                && let Some(digest) = response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<Digest>().ok())
            {
                return Some(digest);
            }
        }
        None
    }

    /// Fetches the manifest `reference` names (by digest when it has one,
    /// else by tag), trying mirrors first; checks size and digest.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let hosts = self.candidates(reference.registry());
        let last = hosts.len() - 1;
        let mut first_error = None;
        for (i, source) in hosts.iter().enumerate() {
            match self.fetch_manifest_from(source, reference).await {
                Ok(found) => return Ok(found),
                Err(e) if i < last => {
                    let host = &source.host;
                    self.warn(format!(
                        "mirror {host} failed for `{reference}`: {e}; trying the next source"
                    ));
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_error.unwrap_or_else(|| RegistryError::Other {
            reference: reference.to_string(),
            detail: "no registry to ask".to_owned(),
        }))
    }

    async fn fetch_manifest_from(
        &self,
        source: &Candidate,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let shown = reference.to_string();
        let transport = self.transport(&source.host, reference.registry())?;
        let options = RequestOptions {
            accept: Some(MANIFEST_ACCEPT),
            range_from: None,
        };
        let (response, _permit) = transport
            .send(
                Method::GET,
                &source.repository(reference.repository()),
                &manifest_path(reference),
                &options,
            )
            .await
            .map_err(|e| at(&shown, e))?;
        let served_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let limits = self.limits();
        let expected = response
            .content_length()
            .unwrap_or(limits.manifest)
            .min(limits.manifest);
        let allowed = limits.transfer_time(expected);
        let started = Instant::now();
        let body = http::read_body(response, limits.manifest, started + allowed)
            .await
            .map_err(|e| match e {
                http::BodyError::TooLarge { size } => RegistryError::ManifestTooLarge {
                    reference: shown.clone(),
                    size,
                    limit: limits.manifest,
                },
                http::BodyError::TooSlow { read } => RegistryError::TooSlow {
                    reference: shown.clone(),
                    what: "the manifest".to_owned(),
                    received: read,
                    expected,
                    elapsed: started.elapsed(),
                    allowed,
                },
                http::BodyError::Broken { reason, .. } => RegistryError::Unreachable {
                    reference: shown.clone(),
                    detail: format!("reading the manifest failed: {reason}"),
                },
            })?;
        let bytes = bytes::Bytes::from(body);
        let digest_as = |alg: Algorithm| match alg {
            Algorithm::Sha256 => Digest::from_bytes(alg, &sha2::Sha256::digest(&bytes)),
            Algorithm::Sha512 => Digest::from_bytes(alg, &sha2::Sha512::digest(&bytes)),
        };
        let actual = digest_as(Algorithm::Sha256);
        if let Some(expected) = reference.digest() {
            let actual = digest_as(expected.algorithm());
            if actual != *expected {
                return Err(RegistryError::DigestMismatch {
                    reference: shown,
                    expected: expected.clone(),
                    actual,
                });
            }
        } else if let Some(served) = served_digest {
            let actual = digest_as(served.algorithm());
            if actual != served {
                return Err(RegistryError::DigestMismatch {
                    reference: shown,
                    expected: served,
                    actual,
                });
            }
        }
        Ok(FetchedManifest {
            digest: actual,
            bytes,
        })
    }

    /// Streams blob `digest` of `size` bytes from `reference`'s repository
    /// into the store, trying mirrors first, resuming an interrupted download
    /// with `Range` where the registry allows it. Returns it once verified;
    /// a blob already in the store (or fetched by a concurrent job of this
    /// run) is not downloaded again. `on_bytes` is called per chunk.
    pub async fn pull_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        store: &Store,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(VerifiedBlob, u64), RegistryError> {
        let limit = self.limits().module;
        if size > limit {
            return Err(RegistryError::BlobTooLarge {
                reference: reference.to_string(),
                what: "blob",
                digest: digest.clone(),
                size,
                limit,
                setting: "max-module-bytes",
            });
        }
        let gate = {
            let mut map = self.inner.inflight.lock().await;
            Arc::clone(map.entry(digest.clone()).or_default())
        };
        let _guard = gate.lock().await;
        // Re-hashed, not just found: the cache does not fsync its blobs, so
        // after a machine crash a stored blob may be damaged (store docs).
        match store.rehash(digest, size) {
            Ok(found) => {
                on_bytes(size);
                return Ok((found, 0));
            }
            Err(crate::store::StoreError::Missing { .. }) => {}
            Err(_) => store
                .discard(digest)
                .map_err(|source| RegistryError::Store {
                    reference: reference.to_string(),
                    digest: digest.clone(),
                    source,
                })?,
        }
        let hosts = self.candidates(reference.registry());
        let last = hosts.len() - 1;
        let mut first_error = None;
        for (i, source) in hosts.iter().enumerate() {
            match self
                .pull_blob_from(source, reference, digest, size, store, on_bytes)
                .await
            {
                Ok(found) => return Ok((found, size)),
                Err(e) if i < last => {
                    let host = &source.host;
                    self.warn(format!("mirror {host} failed for blob {digest} of `{reference}`: {e}; trying the next source"));
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_error.unwrap_or_else(|| RegistryError::Other {
            reference: reference.to_string(),
            detail: "no registry to ask".to_owned(),
        }))
    }

    async fn pull_blob_from(
        &self,
        source: &Candidate,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        store: &Store,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<VerifiedBlob, RegistryError> {
        let host = source.host.as_str();
        let repository = source.repository(reference.repository());
        let shown = reference.to_string();
        let store_error = |source| RegistryError::Store {
            reference: shown.clone(),
            digest: digest.clone(),
            source,
        };
        let transport = self.transport(host, reference.registry())?;
        let path = format!("blobs/{digest}");
        let mut writer = store.writer(digest, size).map_err(store_error)?;
        let started = Instant::now();
        let allowed = self.limits().transfer_time(size);
        // Set when the first answer arrives; resumes do not extend it.
        let mut deadline: Option<Instant> = None;
        let mut interruptions = 0u32;
        loop {
            let resume_at = writer.written();
            let options = RequestOptions {
                accept: None,
                range_from: (resume_at > 0).then_some(resume_at),
            };
            let (response, _permit) = transport
                .send(Method::GET, &repository, &path, &options)
                .await
                .map_err(|e| at(&shown, e))?;
            if resume_at > 0 && response.status() != StatusCode::PARTIAL_CONTENT {
                // The server ignored the Range: start over from byte 0.
                tracing::info!(
                    "{host} ignored the Range request for {digest}; downloading it again from the start"
                );
                writer = store.writer(digest, size).map_err(store_error)?;
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + allowed);
            let mut stream = response.bytes_stream();
            let mut failed = None;
            loop {
                let Ok(next) = tokio::time::timeout_at(deadline.into(), stream.next()).await else {
                    return Err(RegistryError::TooSlow {
                        reference: shown,
                        what: format!("blob {digest}"),
                        received: writer.written(),
                        expected: size,
                        elapsed: started.elapsed(),
                        allowed,
                    });
                };
                let Some(chunk) = next else { break };
                match chunk {
                    Ok(chunk) => {
                        writer.write(&chunk).map_err(store_error)?;
                        on_bytes(chunk.len() as u64);
                    }
                    Err(e) => {
                        failed = Some(http::error_chain(&e));
                        break;
                    }
                }
            }
            let Some(reason) = failed else {
                if writer.written() < size && interruptions < transport.policy().retries {
                    // The body ended early (a truncated response): resume.
                    interruptions += 1;
                    tracing::info!(
                        "blob {digest} from {host} ended after {} of {size} bytes; resuming ({interruptions}/{})",
                        writer.written(),
                        transport.policy().retries
                    );
                    continue;
                }
                return writer.finish().map_err(store_error);
            };
            if !transport.may_retry(interruptions, started, None) {
                return Err(RegistryError::Unreachable {
                    reference: shown,
                    detail: format!(
                        "the download of blob {digest} failed after {} bytes: {reason}",
                        writer.written()
                    ),
                });
            }
            interruptions += 1;
            let delay = transport.policy().delay(interruptions, None);
            tracing::info!(
                "blob {digest} from {host} broke off after {} bytes ({reason}); resuming in {:.1}s ({interruptions}/{})",
                writer.written(),
                delay.as_secs_f64(),
                transport.policy().retries
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// A signature artifact found for a subject, with its blobs in the store.
#[derive(Debug, Clone)]
pub struct SignatureArtifact {
    /// `sha256-<hex>.sig` (cosign simple signing) or a referrer (bundle).
    pub kind: SignatureKind,
    /// The signature manifest's digest and bytes (stored).
    pub manifest: FetchedManifest,
    /// Its layers: media type, annotations, and the verified blob.
    pub layers: Vec<SignatureLayerBlob>,
    /// The reference the manifest was read as (for the store index).
    pub reference: Reference,
}

/// How a signature is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// The `sha256-<hex>.sig` tag.
    SimpleSigning,
    /// An OCI 1.1 referrer (or its `sha256-<hex>` tag fallback).
    Referrer,
}

/// One layer of a signature manifest.
#[derive(Debug, Clone)]
pub struct SignatureLayerBlob {
    /// Its media type.
    pub media_type: String,
    /// Its descriptor annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Its bytes, verified against the descriptor digest.
    pub blob: VerifiedBlob,
}

/// The largest signature layer accepted.
pub const MAX_SIGNATURE_LAYER: u64 = 1024 * 1024;

/// The most referrers of one kind examined for a subject: more is refused
/// rather than downloaded one by one (real artifacts carry a handful).
pub const MAX_REFERRERS: usize = 64;

/// The most layers of one signature manifest examined (cosign adds one per
/// signature to a `.sig` manifest; a bundle referrer has one).
pub const MAX_SIGNATURE_LAYERS: usize = 256;

/// The annotation cosign (and `attach_bundle`) puts on a bundle referrer
/// and its index entry: the predicate type of the statement inside.
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// Which bundle referrers a search wants.
#[derive(Debug, Clone, Copy)]
enum ReferrerKind<'a> {
    /// Signatures: statements with cosign's signature predicate type.
    Signature,
    /// Attestations with this predicate type.
    Attestation(&'a str),
}

impl ReferrerKind<'_> {
    fn wants(self, predicate_type: &str) -> bool {
        match self {
            ReferrerKind::Signature => {
                predicate_type == crate::verify::cosign::COSIGN_SIGN_PREDICATE_TYPE
            }
            ReferrerKind::Attestation(wanted) => predicate_type == wanted,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ReferrerKind::Signature => "signature",
            ReferrerKind::Attestation(_) => "attestation",
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerDescriptor {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct SignatureManifestWire {
    #[serde(default)]
    layers: Vec<LayerDescriptor>,
}

#[derive(serde::Deserialize)]
struct IndexWire {
    #[serde(default)]
    manifests: Vec<LayerDescriptor>,
}

impl RegistryClient {
    /// Finds the signatures attached to `subject` in `reference`'s
    /// repository: the cosign `sha256-<hex>.sig` tag, and referrers through
    /// the OCI 1.1 API or, where the registry lacks it (distribution 2.8),
    /// the `sha256-<hex>` tag fallback. Every manifest and blob is verified
    /// against its digest and kept in the store. Not finding any is `Ok(vec![])`.
    pub async fn fetch_signatures(
        &self,
        reference: &Reference,
        subject: &Digest,
        store: &Store,
    ) -> Result<Vec<SignatureArtifact>, RegistryError> {
        let mut found = Vec::new();
        let tag_base = Reference::digest_tag(subject);
        let sibling = |tag: String| {
            reference.with_tag(&tag).map_err(|e| RegistryError::Other {
                reference: reference.to_string(),
                detail: e.to_string(),
            })
        };
        let sig_ref = sibling(format!("{tag_base}.sig"))?;
        if let Some(manifest) = self.optional_manifest(&sig_ref, store).await? {
            let layers = self
                .signature_layers(&sig_ref, &manifest, store, |_| true)
                .await?;
            found.push(SignatureArtifact {
                kind: SignatureKind::SimpleSigning,
                manifest,
                layers,
                reference: sig_ref,
            });
        }
        found.extend(
            self.fetch_referrers(reference, subject, store, ReferrerKind::Signature)
                .await?,
        );
        Ok(found)
    }

    /// Finds the attestations attached to `subject` whose statement has
    /// `predicate_type` (e.g. the test-result predicate of a certification),
    /// through the referrers API or its tag fallback, as
    /// [`fetch_signatures`](Self::fetch_signatures) does for bundles. A
    /// referrer is a candidate when its `dev.sigstore.bundle.predicateType`
    /// annotation names `predicate_type`, or, without that annotation, when
    /// its statement does. Nothing is verified here. Not finding any is
    /// `Ok(vec![])`.
    pub async fn fetch_attestations(
        &self,
        reference: &Reference,
        subject: &Digest,
        store: &Store,
        predicate_type: &str,
    ) -> Result<Vec<SignatureArtifact>, RegistryError> {
        self.fetch_referrers(
            reference,
            subject,
            store,
            ReferrerKind::Attestation(predicate_type),
        )
        .await
    }

    /// The sigstore bundle referrers of `subject` of one kind (see
    /// [`ReferrerKind`]), at most [`MAX_REFERRERS`] examined.
    async fn fetch_referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        store: &Store,
        kind: ReferrerKind<'_>,
    ) -> Result<Vec<SignatureArtifact>, RegistryError> {
        let mut found = Vec::new();
        let index_ref = reference
            .with_tag(&Reference::digest_tag(subject))
            .map_err(|e| RegistryError::Other {
                reference: reference.to_string(),
                detail: e.to_string(),
            })?;
        // Referrers: the fallback tag holds an index of them on registries
        // without the API (distribution 2.8 answers the API with 404).
        let index = match self.referrers_api(reference, subject).await {
            Some(index) => Some(index),
            None => self
                .optional_manifest(&index_ref, store)
                .await?
                .map(|m| m.bytes.to_vec()),
        };
        let Some(index) = index else {
            return Ok(found);
        };
        let index: IndexWire =
            serde_json::from_slice(&index).map_err(|e| RegistryError::Other {
                reference: index_ref.to_string(),
                detail: format!("the referrers index is not valid JSON: {e}"),
            })?;
        let mut examined = 0usize;
        let mut seen = std::collections::BTreeSet::new();
        for entry in index.manifests {
            let Ok(digest) = entry.digest.parse::<Digest>() else {
                continue;
            };
            let annotated = entry.annotations.get(PREDICATE_TYPE_ANNOTATION);
            if annotated.is_some_and(|t| !kind.wants(t)) {
                continue;
            }
            // Every listed candidate counts toward the cap, repeats included
            // (a repeat is examined only once).
            examined += 1;
            if examined > MAX_REFERRERS {
                return Err(RegistryError::Other {
                    reference: index_ref.to_string(),
                    detail: format!(
                        "the referrers of {subject} hold more than {MAX_REFERRERS} {} candidates; refusing to examine more (a registry should not attach that many)",
                        kind.noun()
                    ),
                });
            }
            if !seen.insert(digest.clone()) {
                continue;
            }
            // Only layers of a bundle media type count (older cosign wrote
            // an empty-config type as the index entry's artifactType).
            let mut artifact = self
                .fetch_signature_by_digest(reference, &digest, SignatureKind::Referrer, store)
                .await?;
            if annotated.is_none() {
                // No annotation: the statement's (unverified) predicate type
                // says what the bundle claims to be.
                artifact.layers.retain(|layer| {
                    let peeked = layer
                        .blob
                        .read()
                        .ok()
                        .and_then(|b| crate::verify::cosign::bundle::peek_predicate_type(&b));
                    match (kind, peeked) {
                        (ReferrerKind::Signature, None) => true,
                        (_, Some(t)) => kind.wants(&t),
                        (ReferrerKind::Attestation(_), None) => false,
                    }
                });
            }
            if !artifact.layers.is_empty() {
                found.push(artifact);
            }
        }
        Ok(found)
    }

    /// Downloads a signature artifact the lock names, by its manifest digest
    /// (never by tag), into the store.
    pub async fn fetch_signature_by_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
        kind: SignatureKind,
        store: &Store,
    ) -> Result<SignatureArtifact, RegistryError> {
        let by_digest = reference.without_digest().with_digest(digest.clone());
        let manifest = self.fetch_manifest(&by_digest).await?;
        store
            .put(&manifest.digest, &manifest.bytes)
            .map_err(|source| RegistryError::Store {
                reference: by_digest.to_string(),
                digest: manifest.digest.clone(),
                source,
            })?;
        let layers = self
            .signature_layers(&by_digest, &manifest, store, |mt| match kind {
                SignatureKind::SimpleSigning => true,
                SignatureKind::Referrer => mt.starts_with("application/vnd.dev.sigstore.bundle"),
            })
            .await?;
        Ok(SignatureArtifact {
            kind,
            manifest,
            layers,
            reference: by_digest,
        })
    }

    /// The index of `subject`'s referrers as the registry lists it: the OCI
    /// 1.1 referrers API where the origin offers it (`true`), else the
    /// `sha256-<hex>` fallback tag, through mirrors (`false`); `None` when
    /// neither exists. Bounded by the manifest limit; not parsed.
    pub async fn referrers_index(
        &self,
        reference: &Reference,
        subject: &Digest,
    ) -> Result<Option<(FetchedManifest, bool)>, RegistryError> {
        if let Some(bytes) = self.referrers_api(reference, subject).await {
            let bytes = bytes::Bytes::from(bytes);
            let digest = Digest::from_bytes(Algorithm::Sha256, &sha2::Sha256::digest(&bytes));
            return Ok(Some((FetchedManifest { digest, bytes }, true)));
        }
        let index_ref = reference
            .with_tag(&Reference::digest_tag(subject))
            .map_err(|e| RegistryError::Other {
                reference: reference.to_string(),
                detail: e.to_string(),
            })?;
        Ok(self
            .fetch_optional_manifest(&index_ref)
            .await?
            .map(|found| (found, false)))
    }

    /// The OCI 1.1 referrers API; `None` when the registry does not offer it.
    async fn referrers_api(&self, reference: &Reference, subject: &Digest) -> Option<Vec<u8>> {
        let transport = self
            .transport(reference.registry(), reference.registry())
            .ok()?;
        let options = RequestOptions {
            accept: Some("application/vnd.oci.image.index.v1+json"),
            range_from: None,
        };
        let (response, _permit) = transport
            .send(
                Method::GET,
                reference.repository(),
                &format!("referrers/{subject}"),
                &options,
            )
            .await
            .ok()?;
        let is_index = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/vnd.oci.image.index.v1+json"));
        if !is_index {
            return None;
        }
        let limits = self.limits();
        let deadline = Instant::now() + limits.transfer_time(limits.manifest);
        http::read_body(response, limits.manifest, deadline)
            .await
            .ok()
    }

    /// A manifest that may legitimately be absent (404 → `None`), kept in
    /// the store when present.
    async fn optional_manifest(
        &self,
        reference: &Reference,
        store: &Store,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        match self.fetch_optional_manifest(reference).await? {
            Some(manifest) => {
                store
                    .put(&manifest.digest, &manifest.bytes)
                    .map_err(|source| RegistryError::Store {
                        reference: reference.to_string(),
                        digest: manifest.digest.clone(),
                        source,
                    })?;
                Ok(Some(manifest))
            }
            None => Ok(None),
        }
    }

    /// Like [`fetch_manifest`](Self::fetch_manifest) for a manifest that may
    /// legitimately be absent (a `.sig` tag, a referrers list): `None` when
    /// the origin says it does not exist, and also when the origin cannot be
    /// reached but a mirror said so (with a warning). A mirror is a copy, and
    /// a complete one must be usable with the origin gone; trusting its "not
    /// there" can only make a signature missing, never accepted.
    pub async fn fetch_optional_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        let hosts = self.candidates(reference.registry());
        let last = hosts.len() - 1;
        let mut absent_at = None;
        for (i, source) in hosts.iter().enumerate() {
            match self.fetch_manifest_from(source, reference).await {
                Ok(found) => return Ok(Some(found)),
                Err(RegistryError::NotFound { .. }) if i == last => return Ok(None),
                Err(e) if i < last => {
                    if matches!(e, RegistryError::NotFound { .. }) {
                        absent_at.get_or_insert_with(|| source.host.clone());
                    }
                    let host = &source.host;
                    self.warn(format!(
                        "mirror {host} failed for `{reference}`: {e}; trying the next source"
                    ));
                }
                Err(e) => match &absent_at {
                    Some(host) if !e.is_integrity_failure() => {
                        self.warn(format!(
                            "`{reference}`: {e}; taking the answer of mirror {host} that it does not exist"
                        ));
                        return Ok(None);
                    }
                    _ => return Err(e),
                },
            }
        }
        Ok(None)
    }

    async fn signature_layers(
        &self,
        reference: &Reference,
        manifest: &FetchedManifest,
        store: &Store,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<SignatureLayerBlob>, RegistryError> {
        let wire: SignatureManifestWire =
            serde_json::from_slice(&manifest.bytes).map_err(|e| RegistryError::Other {
                reference: reference.to_string(),
                detail: format!("the signature manifest is not valid JSON: {e}"),
            })?;
        let wire_layers: Vec<LayerDescriptor> = wire
            .layers
            .into_iter()
            .filter(|l| wanted(&l.media_type))
            .collect();
        if wire_layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(RegistryError::Other {
                reference: reference.to_string(),
                detail: format!(
                    "the signature manifest has {} layers, more than the {MAX_SIGNATURE_LAYERS} examined",
                    wire_layers.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for layer in wire_layers {
            let digest: Digest = layer
                .digest
                .parse()
                .map_err(|e: lf_lockfile::DigestError| RegistryError::Other {
                    reference: reference.to_string(),
                    detail: format!("a signature layer has an invalid digest: {e}"),
                })?;
            let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
            if size > MAX_SIGNATURE_LAYER {
                return Err(RegistryError::Other {
                    reference: reference.to_string(),
                    detail: format!(
                        "signature layer {digest} is {size} bytes, over the {MAX_SIGNATURE_LAYER}-byte limit"
                    ),
                });
            }
            let (blob, _) = self
                .pull_blob(reference, &digest, size, store, &|_| {})
                .await?;
            layers.push(SignatureLayerBlob {
                media_type: layer.media_type,
                annotations: layer.annotations,
                blob,
            });
        }
        Ok(layers)
    }
}

/// The largest signature manifest read from a store (real ones are under a
/// KiB; the default manifest cap of `[network]`).
const MAX_STORED_SIGNATURE_MANIFEST: u64 = 4 * 1024 * 1024;

/// A signature artifact already in the store (by its manifest digest), for
/// pinned connectors and offline runs; `None` when any part is missing.
pub fn stored_signature(
    store: &Store,
    digest: &Digest,
    kind: SignatureKind,
    subject_reference: &Reference,
) -> Option<SignatureArtifact> {
    // The store (or a vendor directory from a pull request) is re-checked
    // here: the manifest is small, so it is bounded and re-hashed before it
    // is believed.
    let size = store.stored_size(digest)?;
    if size > MAX_STORED_SIGNATURE_MANIFEST {
        return None;
    }
    let manifest_blob = store.rehash(digest, size).ok()?;
    let bytes = bytes::Bytes::from(manifest_blob.read().ok()?);
    let wire: SignatureManifestWire = serde_json::from_slice(&bytes).ok()?;
    let mut layers = Vec::new();
    for layer in wire.layers {
        let wanted = match kind {
            SignatureKind::SimpleSigning => true,
            SignatureKind::Referrer => layer
                .media_type
                .starts_with("application/vnd.dev.sigstore.bundle"),
        };
        if !wanted {
            continue;
        }
        let layer_digest: Digest = layer.digest.parse().ok()?;
        let layer_size = u64::try_from(layer.size).ok()?;
        // Payloads are verified by signature, not by digest; they are only
        // bounded here, so that nothing larger is ever read into memory.
        if layer_size > crate::verify::cosign::MAX_PAYLOAD_SIZE as u64 {
            return None;
        }
        let blob = store.get(&layer_digest, layer_size)?;
        layers.push(SignatureLayerBlob {
            media_type: layer.media_type,
            annotations: layer.annotations,
            blob,
        });
    }
    Some(SignatureArtifact {
        kind,
        manifest: FetchedManifest {
            digest: digest.clone(),
            bytes,
        },
        layers,
        reference: subject_reference
            .without_digest()
            .with_digest(digest.clone()),
    })
}

/// The last part of a manifest URL: the digest if pinned, else the tag.
fn manifest_path(reference: &Reference) -> String {
    match reference.digest() {
        Some(digest) => format!("manifests/{digest}"),
        None => format!("manifests/{}", reference.tag_or_latest()),
    }
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
    fn transfer_time_grows_with_size_at_the_minimum_rate() {
        let limits = Limits::new(&lf_lockfile::Network {
            timeout_secs: 2,
            min_bytes_per_sec: 1000,
            ..lf_lockfile::Network::default()
        });
        assert_eq!(limits.transfer_time(0), Duration::from_secs(2));
        assert_eq!(limits.transfer_time(500), Duration::from_millis(2500));
        assert_eq!(limits.transfer_time(10_000), Duration::from_secs(12));
        // No overflow for absurd declared sizes.
        assert!(limits.transfer_time(u64::MAX) > Duration::from_secs(1 << 40));
    }

    #[test]
    fn manifest_paths_prefer_the_digest() {
        let r: Reference = "127.0.0.1:5000/lf/a:1.0".parse().unwrap();
        assert_eq!(manifest_path(&r), "manifests/1.0");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            manifest_path(&r.with_digest(d.parse().unwrap())),
            format!("manifests/{d}")
        );
        let bare: Reference = "127.0.0.1:5000/lf/a".parse().unwrap();
        assert_eq!(manifest_path(&bare), "manifests/latest");
    }
}
