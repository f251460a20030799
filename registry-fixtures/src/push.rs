//! Publishing connectors to a registry on loopback, over plain HTTP, with
//! `oci-client` (the client the resolver uses too, so the fixtures exercise
//! the same wire behaviour).
//!
//! [`push_connector`] writes the CNCF Wasm artifact of [`crate::artifact`];
//! [`push_raw`] pushes any manifest and blobs as given, which is how the
//! malformed fixtures get into a registry (distribution 2.8.2 stores any
//! manifest whose blobs exist). [`push_all_blocking`] publishes every good
//! fixture as `latticeflow/<name>:1.0` and every malformed one as
//! `latticeflow/bad-<name>:1.0`, for the sync tests of other crates.
//!
//! Plain HTTP only: this is test support and must never be linked into the
//! `lf-resolve` binary.

use std::collections::BTreeMap;

use lf_runtime::spec::ConnectorManifest;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::Registry;
use crate::artifact::{self, Descriptor, RawArtifact, sha256_digest};
use crate::connectors::{self, Defect, manifest_section};

/// Repository namespace of the pushed fixtures: `latticeflow/<name>`.
pub const FIXTURE_NAMESPACE: &str = "latticeflow";

/// Tag of every pushed fixture.
pub const FIXTURE_TAG: &str = "1.0";

/// Base of the `org.opencontainers.image.source` annotation of the pushed
/// fixtures (`<base>/<name>`); a placeholder, not a real repository.
pub const FIXTURE_SOURCE: &str = "https://example.com/latticeflow/connectors";

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// `registry/repository:tag` is not a valid reference.
    #[error("invalid reference `{reference}`: {source}")]
    Reference {
        /// The reference as assembled.
        reference: String,
        /// What the parser said.
        #[source]
        source: oci_client::ParseError,
    },
    /// The registry refused a request or could not be reached.
    #[error("pushing {what} to {reference} failed: {source}")]
    Registry {
        /// The target reference.
        reference: String,
        /// What was being pushed, e.g. `blob sha256:…` or `manifest`.
        what: String,
        /// What the client reported.
        #[source]
        source: OciDistributionError,
    },
    /// The manifest media type cannot be sent as a `Content-Type` header.
    #[error("invalid manifest media type {media_type:?}")]
    MediaType {
        /// The media type.
        media_type: String,
    },
    /// The blocking wrapper could not start its tokio runtime.
    #[error("cannot start a tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Annotation values and credentials for [`push_connector`]; every field is
/// optional. As with `lf-resolve push`, nothing defaults to anything about the
/// destination (repository or tag): the same module and options give the same
/// digest wherever they are pushed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PushOptions {
    /// `org.opencontainers.image.title`; default: the connector id (see
    /// `connector_id`), left out when there is none.
    pub title: Option<String>,
    /// `org.opencontainers.image.version`; default: `version` of the manifest
    /// in the module's `latticeflow.connector` section, left out when it has
    /// none.
    pub version: Option<String>,
    /// `org.opencontainers.image.source`; left out when `None`.
    pub source: Option<String>,
    /// `dev.latticeflow.connector.id`; default: the `id` of the manifest in
    /// the module's `latticeflow.connector` section, left out when the module
    /// has no valid one.
    pub connector_id: Option<String>,
    /// HTTP basic auth `(user, password)`; anonymous when `None`.
    pub credentials: Option<(String, String)>,
}

impl PushOptions {
    /// Options with basic-auth credentials.
    #[must_use]
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Options with an `org.opencontainers.image.source` annotation.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// What [`push_connector`] published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedArtifact {
    /// `registry/repository:tag`.
    pub reference: String,
    /// The manifest: digest and size of its bytes.
    pub manifest: Descriptor,
    /// The `application/vnd.wasm.config.v0+json` config blob.
    pub config: Descriptor,
    /// The `application/wasm` module layer.
    pub module: Descriptor,
    /// The manifest annotations that were written.
    pub annotations: BTreeMap<String, String>,
}

/// A client for one registry host (`127.0.0.1:PORT`), over plain HTTP.
pub struct Pusher {
    client: Client,
    registry: String,
    auth: RegistryAuth,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("registry", &self.registry)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// A pusher for `registry` (`host:port`), anonymous or with basic auth.
    pub fn new(registry: &str, credentials: Option<(&str, &str)>) -> Self {
        Pusher::with_config(
            registry,
            credentials,
            ClientConfig {
                protocol: ClientProtocol::Http,
                // One PUT per blob: fewer round trips, and what distribution
                // handles most plainly.
                use_monolithic_push: true,
                ..ClientConfig::default()
            },
        )
    }

    /// A pusher for `registry`'s own address and credentials, over HTTPS
    /// trusting its CA when it serves TLS.
    pub fn for_registry(registry: &Registry) -> Self {
        let protocol = if registry.is_tls() {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        };
        let extra_root_certificates = registry
            .ca_pem()
            .map(|pem| {
                vec![oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data: pem.as_bytes().to_vec(),
                }]
            })
            .unwrap_or_default();
        Pusher::with_config(
            &registry.host(),
            registry.credentials(),
            ClientConfig {
                protocol,
                use_monolithic_push: true,
                extra_root_certificates,
                ..ClientConfig::default()
            },
        )
    }

    fn with_config(
        registry: &str,
        credentials: Option<(&str, &str)>,
        config: ClientConfig,
    ) -> Self {
        let client = Client::new(config);
        let auth = match credentials {
            Some((user, password)) => RegistryAuth::Basic(user.to_owned(), password.to_owned()),
            None => RegistryAuth::Anonymous,
        };
        Pusher {
            client,
            registry: registry.to_owned(),
            auth,
        }
    }

    /// Pushes `module` as a connector artifact under `repository:tag`; see
    /// [`push_connector`].
    ///
    /// # Errors
    ///
    /// [`PushError::Reference`] for an invalid `repository` or `tag`,
    /// [`PushError::Registry`] naming the blob or manifest the registry
    /// refused (or could not be reached for).
    pub async fn push_connector(
        &self,
        repository: &str,
        tag: &str,
        module: &[u8],
        options: &PushOptions,
    ) -> Result<PushedArtifact, PushError> {
        let embedded = embedded_manifest(module);
        let connector_id = options
            .connector_id
            .clone()
            .or_else(|| embedded.as_ref().map(|m| m.id().as_str().to_owned()));
        let title = options.title.clone().or_else(|| connector_id.clone());
        let version = options.version.clone().or_else(|| {
            embedded
                .as_ref()
                .and_then(|m| m.version().map(str::to_owned))
        });
        let annotations = artifact::annotations(
            title.as_deref(),
            version.as_deref(),
            options.source.as_deref(),
            connector_id.as_deref(),
        );
        let built = artifact::connector_artifact(module, &annotations);
        let reference = self.push_raw(repository, tag, &built.raw).await?;
        Ok(PushedArtifact {
            reference,
            manifest: built.manifest,
            config: built.config,
            module: built.layer,
            annotations,
        })
    }

    /// Pushes every blob of `artifact`, then its manifest under
    /// `repository:tag`; returns the reference `registry/repository:tag`.
    ///
    /// # Errors
    ///
    /// [`PushError::Reference`] for an invalid `repository` or `tag`,
    /// [`PushError::Registry`] naming the blob or manifest the registry
    /// refused (or could not be reached for).
    /// [`PushError::MediaType`] if the manifest media type is not a valid
    /// header value.
    pub async fn push_raw(
        &self,
        repository: &str,
        tag: &str,
        artifact: &RawArtifact,
    ) -> Result<String, PushError> {
        let reference_text = format!("{}/{repository}:{tag}", self.registry);
        let reference: Reference =
            reference_text
                .parse()
                .map_err(|source| PushError::Reference {
                    reference: reference_text.clone(),
                    source,
                })?;
        let failed = |what: String| {
            let reference = reference_text.clone();
            move |source| PushError::Registry {
                reference,
                what,
                source,
            }
        };
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        for blob in &artifact.blobs {
            let digest = sha256_digest(blob);
            self.client
                .push_blob(&reference, blob.clone(), &digest)
                .await
                .map_err(failed(format!("blob {digest}")))?;
        }
        let content_type =
            artifact
                .manifest_media_type
                .parse()
                .map_err(|_| PushError::MediaType {
                    media_type: artifact.manifest_media_type.clone(),
                })?;
        self.client
            .push_manifest_raw(&reference, artifact.manifest.clone(), content_type)
            .await
            .map_err(failed(format!("manifest {}", artifact.manifest_digest())))?;
        Ok(reference_text)
    }
}

/// The manifest in the module's `latticeflow.connector` section, if it has
/// a valid one.
fn embedded_manifest(module: &[u8]) -> Option<ConnectorManifest> {
    let yaml = manifest_section(module).ok()??;
    ConnectorManifest::from_yaml(yaml).ok()
}

/// Pushes `module` to `registry` (`host:port`, plain HTTP) as the connector
/// artifact `repository:tag`: the module as the single `application/wasm`
/// layer, the Wasm config, and the annotated manifest of
/// [`crate::artifact`]. The same module and options always give the same
/// manifest digest.
///
/// # Errors
///
/// As [`Pusher::push_connector`].
pub async fn push_connector(
    registry: &str,
    repository: &str,
    tag: &str,
    module: &[u8],
    options: &PushOptions,
) -> Result<PushedArtifact, PushError> {
    pusher(registry, options)
        .push_connector(repository, tag, module, options)
        .await
}

/// Pushes `artifact` exactly as given (blobs, then the manifest bytes) to
/// `registry` as `repository:tag`; only `options.credentials` is used.
/// Returns `registry/repository:tag`.
///
/// # Errors
///
/// As [`Pusher::push_raw`].
pub async fn push_raw(
    registry: &str,
    repository: &str,
    tag: &str,
    artifact: &RawArtifact,
    options: &PushOptions,
) -> Result<String, PushError> {
    pusher(registry, options)
        .push_raw(repository, tag, artifact)
        .await
}

fn pusher(registry: &str, options: &PushOptions) -> Pusher {
    let credentials = options
        .credentials
        .as_ref()
        .map(|(user, password)| (user.as_str(), password.as_str()));
    Pusher::new(registry, credentials)
}

/// A fixture published by [`push_all_blocking`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedFixture {
    /// The fixture name (`text-upper`, or `bad-two-wasm-layers`).
    pub name: String,
    /// `registry/latticeflow/<name>:1.0`.
    pub reference: String,
    /// `sha256:<hex>` of the pushed manifest.
    pub manifest_digest: String,
    /// For a good fixture: what was pushed.
    pub artifact: Option<PushedArtifact>,
    /// For a malformed fixture: which check must reject it, and why.
    pub rejection: Option<(Defect, &'static str)>,
}

/// Pushes every good fixture as `latticeflow/<name>:1.0` and every malformed
/// one as `latticeflow/bad-<name>:1.0` to `registry`, with its credentials.
/// Good fixtures come first, in [`connectors::fixtures`] order.
///
/// Blocking: it runs its own single-threaded tokio runtime, so it must not be
/// called from inside an async runtime.
///
/// # Errors
///
/// The first failed push ([`PushError::Registry`], naming the reference and
/// blob or manifest), or [`PushError::Runtime`].
pub fn push_all_blocking(registry: &Registry) -> Result<Vec<PushedFixture>, PushError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PushError::Runtime)?;
    runtime.block_on(push_all(&Pusher::for_registry(registry)))
}

/// [`push_all_blocking`] for a registry given as `host:port` and optional
/// basic-auth credentials.
///
/// # Errors
///
/// As [`push_all_blocking`].
pub fn push_all_blocking_to(
    registry: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Vec<PushedFixture>, PushError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PushError::Runtime)?;
    runtime.block_on(push_all(&Pusher::new(registry, credentials)))
}

async fn push_all(pusher: &Pusher) -> Result<Vec<PushedFixture>, PushError> {
    let mut pushed = Vec::new();
    for fixture in connectors::fixtures() {
        let options =
            PushOptions::default().with_source(format!("{FIXTURE_SOURCE}/{}", fixture.name));
        let repository = format!("{FIXTURE_NAMESPACE}/{}", fixture.name);
        let artifact = pusher
            .push_connector(&repository, FIXTURE_TAG, &fixture.module, &options)
            .await?;
        pushed.push(PushedFixture {
            name: fixture.name.to_owned(),
            reference: artifact.reference.clone(),
            manifest_digest: artifact.manifest.digest.clone(),
            artifact: Some(artifact),
            rejection: None,
        });
    }
    for fixture in connectors::malformed() {
        let name = format!("bad-{}", fixture.name);
        let repository = format!("{FIXTURE_NAMESPACE}/{name}");
        let reference = pusher
            .push_raw(&repository, FIXTURE_TAG, &fixture.artifact)
            .await?;
        pushed.push(PushedFixture {
            name,
            reference,
            manifest_digest: fixture.artifact.manifest_digest(),
            artifact: None,
            rejection: Some((fixture.defect, fixture.reason)),
        });
    }
    Ok(pushed)
}
