//! The `latticeflow.toml` model.
//!
//! The file is read through a *wire* form (serde structs that mirror the TOML
//! and keep every span) and then checked into [`Config`], whose values are
//! always valid: references parsed, capabilities from the closed set, hosts
//! well-formed. Every error is a [`Diagnostic`] naming file, line and column.
//!
//! Whether a key file or sidecar manifest exists is not checked here (no I/O
//! beyond the given file); [`Config::paths`] lists them with their spans so the
//! caller can check and report in the same style.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use lf_runtime::spec::{Capability, HostPattern};
use serde::Deserialize;
use toml::Spanned;

use crate::name::ConnectorName;
use crate::reference::validate_registry_host;
use crate::{Diagnostic, Reference};

/// The file name of the project configuration.
pub const CONFIG_FILE: &str = "latticeflow.toml";

/// A checked `latticeflow.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    source: String,
    bundle_name: Option<String>,
    policy: Policy,
    registries: BTreeMap<String, RegistrySettings>,
    network: Network,
    connectors: BTreeMap<ConnectorName, ConnectorConfig>,
    generate: Generate,
}

/// What to do about signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    /// A verified signature is needed; anything else fails the lock.
    Required,
    /// Verify and record what verifies; warn otherwise.
    Optional,
    /// Do not look at signatures.
    None,
}

impl SignatureMode {
    /// The name as written in both files.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignatureMode::Required => "required",
            SignatureMode::Optional => "optional",
            SignatureMode::None => "none",
        }
    }
}

impl std::fmt::Display for SignatureMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path written in `latticeflow.toml`, kept as written (relative to the
/// file's directory) together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigPath {
    /// The path as written.
    pub path: PathBuf,
    /// Byte span of the string in the file.
    pub span: Range<usize>,
}

/// Whom a signature must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Any of these cosign public keys (PEM files), in policy order.
    Keys(Vec<ConfigPath>),
    /// A sigstore keyless identity: the certificate's SAN and OIDC issuer.
    Keyless {
        /// The signer identity (certificate SAN, e.g. an e-mail address).
        identity: String,
        /// The OIDC issuer URL.
        issuer: String,
    },
}

/// The signature policy in force for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Required, optional or none.
    pub mode: SignatureMode,
    /// Whom to trust.
    pub trust: Trust,
}

/// What to do about certification attestations (signed in-toto
/// test-result statements attached to a connector's manifest).
///
/// The same three words as [`SignatureMode`], but a separate type: the
/// default differs (`none`), and so does what "optional" proceeds without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificationMode {
    /// A valid, passing certification is needed; anything else fails the lock.
    Required,
    /// Record a valid certification when there is one, refuse a failing one,
    /// proceed without when there is none.
    Optional,
    /// Do not look for certifications.
    None,
}

impl CertificationMode {
    /// The name as written in both files.
    pub const fn as_str(self) -> &'static str {
        match self {
            CertificationMode::Required => "required",
            CertificationMode::Optional => "optional",
            CertificationMode::None => "none",
        }
    }
}

impl std::fmt::Display for CertificationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The certification policy in force for one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificationPolicy {
    /// Required, optional or none.
    pub mode: CertificationMode,
    /// Whether a `WARNED` result is accepted (a `PASSED` one always is).
    pub allow_warned: bool,
}

impl Default for CertificationPolicy {
    fn default() -> Self {
        CertificationPolicy {
            mode: CertificationMode::None,
            allow_warned: false,
        }
    }
}

/// The `[policy]` table: defaults for every connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `signatures`; `required` when absent.
    pub signatures: SignatureMode,
    /// `keys`.
    pub keys: Vec<ConfigPath>,
    /// `certification` and `allow-warned`; `none` and `false` when absent.
    pub certification: CertificationPolicy,
}

/// How to talk to a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTPS; plain HTTP only for loopback hosts.
    #[default]
    Auto,
    /// HTTPS only.
    Https,
    /// Plain HTTP.
    Http,
}

/// A `[registries."host"]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrySettings {
    /// Mirrors tried first, in order: `host[:port]`, or
    /// `host[:port]/prefix` for a mirror that keeps the origin's
    /// repositories under `prefix/` (see [`split_mirror`]).
    pub mirrors: Vec<String>,
    /// `protocol`.
    pub protocol: Protocol,
    /// `ca-file`: extra trusted roots.
    pub ca_file: Option<ConfigPath>,
}

/// Splits a `mirrors` entry into its host and its repository prefix:
/// `mirror.internal:5000/copies` is the host `mirror.internal:5000` with the
/// prefix `copies`, under which the mirror keeps `<origin repository>`.
pub fn split_mirror(entry: &str) -> (&str, Option<&str>) {
    match entry.split_once('/') {
        Some((host, prefix)) => (host, Some(prefix)),
        None => (entry, None),
    }
}

/// The `[network]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Retries per request for 429/5xx/resets/timeouts.
    pub retries: u32,
    /// Per-request timeout in seconds.
    pub timeout_secs: u64,
    /// Connection limit per registry.
    pub max_connections_per_registry: u32,
    /// `max-manifest-bytes`: the largest manifest accepted.
    pub max_manifest_bytes: u64,
    /// `max-config-bytes`: the largest config blob accepted.
    pub max_config_bytes: u64,
    /// `max-module-bytes`: the largest module (or any other blob) accepted.
    pub max_module_bytes: u64,
    /// `min-bytes-per-sec`: the slowest transfer rate tolerated. A transfer
    /// of `n` bytes must end within `timeout-secs + n / min-bytes-per-sec`
    /// seconds, whatever the pace of its bytes.
    pub min_bytes_per_sec: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            retries: 4,
            timeout_secs: 30,
            max_connections_per_registry: 16,
            max_manifest_bytes: 4 * 1024 * 1024,
            max_config_bytes: 4 * 1024 * 1024,
            max_module_bytes: 1024 * 1024 * 1024,
            min_bytes_per_sec: 32 * 1024,
        }
    }
}

/// How generated crates depend on `lf-runtime`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RuntimeDependency {
    /// The default: `generate` writes the `lf-runtime` sources it was built
    /// with into the output directory, and the generated crates depend on that
    /// copy by relative path, so they build anywhere with no registry holding
    /// `lf-runtime`.
    #[default]
    Bundled,
    /// `{ version = "..." }`: a version requirement, for a registry that has
    /// `lf-runtime`.
    Version(String),
    /// `{ path = "..." }`: a path, relative to `latticeflow.toml`.
    Path(PathBuf),
}

/// The `[generate]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generate {
    /// Where wrapper crates are written, relative to `latticeflow.toml`.
    pub out: PathBuf,
    /// The `lf-runtime` dependency of generated crates.
    pub runtime: RuntimeDependency,
}

impl Default for Generate {
    fn default() -> Self {
        Generate {
            out: PathBuf::from("vendor/crates"),
            runtime: RuntimeDependency::Bundled,
        }
    }
}

/// One `[connectors.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// `ref`.
    pub reference: Reference,
    /// Span of the `ref` string.
    pub reference_span: Range<usize>,
    /// `capabilities`: what the project grants.
    pub grants: BTreeSet<Capability>,
    /// The signature policy in force (the connector's `signature` over `[policy]`).
    pub signature: SignaturePolicy,
    /// The certification policy in force (the connector's `certification`
    /// and `allow-warned` over `[policy]`).
    pub certification: CertificationPolicy,
    /// `manifest`: a sidecar connector manifest.
    pub manifest: Option<ConfigPath>,
    /// `signed-repository`: the repository (`registry/repo`) a signature may
    /// name when the artifact was relocated from there; by default a
    /// signature must name the repository of `ref`.
    pub signed_repository: Option<Reference>,
    /// `hosts`: where the connector may send HTTP requests (`host[:port]`,
    /// `*.suffix`), a grant alongside `http.read`/`http.write`. Empty when
    /// absent: then no destination is allowed.
    pub hosts: BTreeSet<HostPattern>,
    /// Span of the table header or key, for errors about the whole connector.
    pub span: Range<usize>,
}

impl Config {
    /// Parses and checks `source`, the content of `path`.
    pub fn parse(
        path: impl Into<PathBuf>,
        source: impl Into<String>,
    ) -> Result<Config, Diagnostic> {
        let path = path.into();
        let source = source.into();
        let wire: wire::Config = toml::from_str(&source).map_err(|e| {
            Diagnostic::new(
                &path,
                &source,
                e.span().unwrap_or(0..0),
                e.message().to_owned(),
            )
        })?;
        Checker {
            path: &path,
            source: &source,
        }
        .check(wire)
        .map(|checked| Config {
            path: path.clone(),
            source: source.clone(),
            ..checked
        })
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Config, ReadError> {
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let source = String::from_utf8(bytes).map_err(|e| not_utf8(path, &e))?;
        Ok(Config::parse(path, source)?)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A path written in the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new("")).join(path)
    }

    /// A diagnostic at `span` of this file.
    pub fn diagnostic(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, &self.source, span, message)
    }

    /// `[bundle] name`.
    pub fn bundle_name(&self) -> Option<&str> {
        self.bundle_name.as_deref()
    }

    /// `[policy]`.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// `[registries]`, by host.
    pub fn registries(&self) -> &BTreeMap<String, RegistrySettings> {
        &self.registries
    }

    /// `[network]`.
    pub fn network(&self) -> Network {
        self.network
    }

    /// `[connectors]`, sorted by name.
    pub fn connectors(&self) -> &BTreeMap<ConnectorName, ConnectorConfig> {
        &self.connectors
    }

    /// `[generate]`.
    pub fn generate(&self) -> &Generate {
        &self.generate
    }

    /// Every file path the configuration names (keys, CA files, sidecar
    /// manifests) with what it is for, so the caller can check they exist.
    pub fn paths(&self) -> Vec<(&'static str, &ConfigPath)> {
        let mut out: Vec<(&'static str, &ConfigPath)> = Vec::new();
        out.extend(self.policy.keys.iter().map(|p| ("key file", p)));
        for settings in self.registries.values() {
            out.extend(settings.ca_file.iter().map(|p| ("CA file", p)));
        }
        for connector in self.connectors.values() {
            if let Trust::Keys(keys) = &connector.signature.trust {
                out.extend(keys.iter().map(|p| ("key file", p)));
            }
            out.extend(connector.manifest.iter().map(|p| ("manifest file", p)));
        }
        out.sort_by_key(|(_, p)| p.span.start);
        out.dedup_by_key(|(_, p)| p.span.start);
        out
    }
}

/// A file that is not UTF-8, located at its first bad byte. The snippet shows
/// the text up to there (the rest replaced), so the user sees where it is.
fn not_utf8(path: &Path, e: &std::string::FromUtf8Error) -> Diagnostic {
    let at = e.utf8_error().valid_up_to();
    let shown = String::from_utf8_lossy(e.as_bytes());
    let byte = e.as_bytes()[at];
    Diagnostic::new(
        path,
        shown.into_owned(),
        at..at + '\u{FFFD}'.len_utf8(),
        format!("the file is not UTF-8: byte 0x{byte:02x} at offset {at} is not valid here"),
    )
    .with_help("TOML files are UTF-8; re-save the file in that encoding")
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error(transparent)]
    Invalid(#[from] Diagnostic),
}

struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.path, self.source, span, message)
    }

    /// A `[network]` number that must be positive, or `default` when absent.
    fn at_least_one(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: u64,
    ) -> Result<u64, Diagnostic> {
        match value {
            Some(v) if *v.get_ref() == 0 => {
                Err(self.error(v.span(), format!("`{key}` must be at least 1")))
            }
            Some(v) => Ok(v.into_inner()),
            None => Ok(default),
        }
    }

    fn config_path(&self, s: Spanned<String>, what: &str) -> Result<ConfigPath, Diagnostic> {
        let span = s.span();
        let value = s.into_inner();
        if value.is_empty() {
            return Err(self.error(span, format!("{what} path is empty")));
        }
        Ok(ConfigPath {
            path: PathBuf::from(value),
            span,
        })
    }

    fn host(&self, s: &Spanned<String>, what: &str) -> Result<String, Diagnostic> {
        validate_registry_host(s.get_ref())
            .map(|()| s.get_ref().clone())
            .map_err(|e| self.error(s.span(), format!("invalid {what}: {e}")))
    }

    /// A `mirrors` entry: `host[:port]`, optionally followed by
    /// `/prefix`, a repository path under which the mirror keeps the
    /// origin's repositories.
    fn mirror(&self, s: &Spanned<String>) -> Result<String, Diagnostic> {
        let (host, prefix) = split_mirror(s.get_ref());
        // `https://…` is a scheme to remove, not a prefix.
        if let Some(prefix) = prefix.filter(|_| !s.get_ref().contains("://")) {
            validate_registry_host(host)
                .map_err(|e| self.error(s.span(), format!("invalid mirror: {e}")))?;
            // A prefix follows the repository grammar: check it as the path
            // of a reference in that mirror.
            if prefix.is_empty() || format!("{host}/{prefix}/x").parse::<Reference>().is_err() {
                return Err(self
                    .error(
                        s.span(),
                        format!("invalid mirror `{}`: `{prefix}` is not a repository prefix", s.get_ref()),
                    )
                    .with_help("write `host[:port]` or `host[:port]/prefix`, where the prefix is lowercase path components such as `mirrors/acme`"));
            }
            return Ok(s.get_ref().clone());
        }
        self.host(s, "mirror")
    }

    fn keys(&self, keys: Vec<Spanned<String>>) -> Result<Vec<ConfigPath>, Diagnostic> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let span = key.span();
            if !seen.insert(key.get_ref().clone()) {
                return Err(self.error(span, format!("key `{}` is listed twice", key.get_ref())));
            }
            out.push(self.config_path(key, "key file")?);
        }
        Ok(out)
    }

    fn check(&self, wire: wire::Config) -> Result<Config, Diagnostic> {
        let bundle_name = match wire.bundle {
            Some(b) => {
                if b.name.get_ref().trim().is_empty() {
                    return Err(self.error(b.name.span(), "`bundle.name` is empty"));
                }
                Some(b.name.into_inner())
            }
            None => None,
        };
        let policy = Policy {
            signatures: wire.policy.signatures.unwrap_or(SignatureMode::Required),
            keys: self.keys(wire.policy.keys.unwrap_or_default())?,
            certification: CertificationPolicy {
                mode: wire.policy.certification.unwrap_or(CertificationMode::None),
                allow_warned: wire.policy.allow_warned.unwrap_or(false),
            },
        };

        let mut registries = BTreeMap::new();
        // Host names are not case-sensitive: by lowercase name, the name as
        // written and its span.
        let mut hosts: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
        for (host, reg) in wire.registries {
            let name = self.host(&host, "registry name")?;
            if let Some((other, other_span)) =
                hosts.insert(name.to_ascii_lowercase(), (name.clone(), host.span()))
            {
                let (first, (second, span)) = if other_span.start < host.span().start {
                    (other, (name, host.span()))
                } else {
                    (name, (other, other_span))
                };
                return Err(self
                    .error(
                        span,
                        format!("registry `{second}` is configured twice (also as `{first}`)"),
                    )
                    .with_help("host names are not case-sensitive; merge the two tables"));
            }
            let mut mirrors: Vec<String> = Vec::with_capacity(reg.mirrors.len());
            for mirror in &reg.mirrors {
                let m = self.mirror(mirror)?;
                if m.eq_ignore_ascii_case(&name) {
                    return Err(self.error(
                        mirror.span(),
                        format!("registry `{name}` lists itself as a mirror"),
                    ));
                }
                if mirrors.iter().any(|other| other.eq_ignore_ascii_case(&m)) {
                    return Err(self.error(mirror.span(), format!("mirror `{m}` is listed twice")));
                }
                mirrors.push(m);
            }
            let ca_file = reg
                .ca_file
                .map(|c| self.config_path(c, "CA file"))
                .transpose()?;
            if let (Some(ca), Protocol::Http) = (&ca_file, reg.protocol) {
                return Err(self
                    .error(
                        ca.span.clone(),
                        format!("registry `{name}` has a `ca-file` but `protocol = \"http\"`"),
                    )
                    .with_help(
                        "a CA file only applies to HTTPS; use `protocol = \"https\"` or \"auto\"",
                    ));
            }
            registries.insert(
                name,
                RegistrySettings {
                    mirrors,
                    protocol: reg.protocol,
                    ca_file,
                },
            );
        }

        let defaults = Network::default();
        let network = Network {
            retries: wire.network.retries.unwrap_or(defaults.retries),
            timeout_secs: match wire.network.timeout_secs {
                Some(t) if *t.get_ref() == 0 => {
                    return Err(self.error(t.span(), "`timeout-secs` must be at least 1"));
                }
                Some(t) => t.into_inner(),
                None => defaults.timeout_secs,
            },
            max_connections_per_registry: match wire.network.max_connections_per_registry {
                Some(m) if *m.get_ref() == 0 => {
                    return Err(self.error(
                        m.span(),
                        "`max-connections-per-registry` must be at least 1",
                    ));
                }
                Some(m) => m.into_inner(),
                None => defaults.max_connections_per_registry,
            },
            max_manifest_bytes: self.at_least_one(
                wire.network.max_manifest_bytes,
                "max-manifest-bytes",
                defaults.max_manifest_bytes,
            )?,
            max_config_bytes: self.at_least_one(
                wire.network.max_config_bytes,
                "max-config-bytes",
                defaults.max_config_bytes,
            )?,
            max_module_bytes: self.at_least_one(
                wire.network.max_module_bytes,
                "max-module-bytes",
                defaults.max_module_bytes,
            )?,
            min_bytes_per_sec: self.at_least_one(
                wire.network.min_bytes_per_sec,
                "min-bytes-per-sec",
                defaults.min_bytes_per_sec,
            )?,
        };

        let mut connectors = BTreeMap::new();
        for (name, c) in wire.connectors {
            let span = name.span();
            let connector_name: ConnectorName = name
                .get_ref()
                .parse()
                .map_err(|e: crate::name::InvalidName| self.error(span.clone(), e.to_string()))?;
            let reference: Reference = c.reference.get_ref().parse().map_err(|e| {
                self.error(
                    c.reference.span(),
                    format!("connector `{connector_name}`: {e}"),
                )
            })?;
            let mut grants = BTreeSet::new();
            for cap in &c.capabilities {
                let capability: Capability =
                    cap.get_ref()
                        .parse()
                        .map_err(|e: lf_runtime::spec::UnknownCapability| {
                            self.error(cap.span(), e.to_string())
                        })?;
                if !grants.insert(capability) {
                    return Err(self.error(
                        cap.span(),
                        format!("capability `{capability}` is granted twice"),
                    ));
                }
            }
            let hosts = self.hosts(c.hosts, &connector_name, &grants)?;
            let signature = self.signature_policy(&policy, c.signature, &connector_name)?;
            let certification = CertificationPolicy {
                mode: c.certification.unwrap_or(policy.certification.mode),
                allow_warned: c.allow_warned.unwrap_or(policy.certification.allow_warned),
            };
            let manifest = c
                .manifest
                .map(|m| self.config_path(m, "manifest"))
                .transpose()?;
            let signed_repository = c
                .signed_repository
                .map(|r| {
                    let parsed: Reference = r.get_ref().parse().map_err(|e| {
                        self.error(r.span(), format!("connector `{connector_name}`: `signed-repository`: {e}"))
                    })?;
                    if parsed.tag().is_some() || parsed.digest().is_some() {
                        return Err(self.error(
                            r.span(),
                            format!(
                                "connector `{connector_name}`: `signed-repository` names a repository (`{}`), without a tag or digest",
                                parsed.name()
                            ),
                        ));
                    }
                    Ok(parsed)
                })
                .transpose()?;
            connectors.insert(
                connector_name,
                ConnectorConfig {
                    reference,
                    reference_span: c.reference.span(),
                    grants,
                    signature,
                    certification,
                    manifest,
                    signed_repository,
                    hosts,
                    span,
                },
            );
        }

        let generate = match wire.generate {
            None => Generate::default(),
            Some(g) => {
                let defaults = Generate::default();
                Generate {
                    out: g
                        .out
                        .map(|o| self.config_path(o, "`generate.out`"))
                        .transpose()?
                        .map_or(defaults.out, |p| p.path),
                    runtime: match g.runtime {
                        None => defaults.runtime,
                        Some(r) => {
                            let span = r.span();
                            let r = r.into_inner();
                            match (r.version, r.path) {
                                (Some(v), None) if !v.trim().is_empty() => {
                                    RuntimeDependency::Version(v)
                                }
                                (None, Some(p)) if !p.is_empty() => {
                                    RuntimeDependency::Path(PathBuf::from(p))
                                }
                                (Some(_), None) | (None, Some(_)) => {
                                    return Err(
                                        self.error(span, "`generate.runtime` has an empty value")
                                    );
                                }
                                _ => return Err(self.error(
                                    span,
                                    "`generate.runtime` needs exactly one of `version` or `path`",
                                )),
                            }
                        }
                    },
                }
            }
        };

        Ok(Config {
            path: PathBuf::new(),
            source: String::new(),
            bundle_name,
            policy,
            registries,
            network,
            connectors,
            generate,
        })
    }

    /// A connector's `hosts`: each a valid pattern, none twice (after
    /// normalisation: `API.example.com` is `api.example.com`), and only
    /// beside an HTTP grant, since without one they would allow nothing.
    fn hosts(
        &self,
        hosts: Option<Spanned<Vec<Spanned<String>>>>,
        name: &ConnectorName,
        grants: &BTreeSet<Capability>,
    ) -> Result<BTreeSet<HostPattern>, Diagnostic> {
        let Some(hosts) = hosts else {
            return Ok(BTreeSet::new());
        };
        let list_span = hosts.span();
        let mut out = BTreeSet::new();
        for host in hosts.into_inner() {
            let pattern = HostPattern::parse(host.get_ref()).map_err(|e| {
                self.error(host.span(), format!("connector `{name}`: `hosts`: {e}"))
                    .with_help("write `host[:port]` or `*.example.com[:port]`, e.g. `api.example.com` or `*.googleapis.com:443`")
            })?;
            if !out.insert(pattern.clone()) {
                return Err(self.error(
                    host.span(),
                    format!("connector `{name}`: host `{pattern}` is listed twice in `hosts`"),
                ));
            }
        }
        if !out.is_empty()
            && !grants.contains(&Capability::HttpRead)
            && !grants.contains(&Capability::HttpWrite)
        {
            return Err(self
                .error(
                    list_span,
                    format!("connector `{name}` lists `hosts` but is granted neither `http.read` nor `http.write`"),
                )
                .with_help("`hosts` says where HTTP requests may go; grant `http.read` or `http.write` in `capabilities`, or remove `hosts`"));
        }
        Ok(out)
    }

    fn signature_policy(
        &self,
        policy: &Policy,
        signature: Option<Spanned<wire::Signature>>,
        name: &ConnectorName,
    ) -> Result<SignaturePolicy, Diagnostic> {
        let Some(signature) = signature else {
            return Ok(SignaturePolicy {
                mode: policy.signatures,
                trust: Trust::Keys(policy.keys.clone()),
            });
        };
        let span = signature.span();
        let s = signature.into_inner();
        let mode = s.policy.unwrap_or(policy.signatures);
        let trust = match (s.keys, s.identity, s.issuer) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(self.error(span, format!("the `signature` of connector `{name}` gives both `keys` and a keyless `identity`/`issuer`"))
                    .with_help("a connector trusts either keys or one keyless identity"));
            }
            (Some(keys), None, None) => Trust::Keys(self.keys(keys)?),
            (None, Some(identity), Some(issuer)) => {
                if identity.trim().is_empty() || issuer.trim().is_empty() {
                    return Err(self.error(span, format!("the `signature` of connector `{name}` has an empty `identity` or `issuer`"))
                        .with_help("write the certificate identity (e.g. an e-mail address) and the OIDC issuer URL"));
                }
                Trust::Keyless { identity, issuer }
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(self.error(span, format!("the `signature` of connector `{name}` needs both `identity` and `issuer` for keyless verification")));
            }
            (None, None, None) => Trust::Keys(policy.keys.clone()),
        };
        Ok(SignaturePolicy { mode, trust })
    }
}

/// The TOML shape, with spans. Unknown keys are rejected by serde.
mod wire {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use toml::Spanned;

    use super::{CertificationMode, Protocol, SignatureMode};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Config {
        pub(super) bundle: Option<Bundle>,
        #[serde(default)]
        pub(super) policy: Policy,
        #[serde(default)]
        pub(super) registries: BTreeMap<Spanned<String>, Registry>,
        #[serde(default)]
        pub(super) network: Network,
        #[serde(default)]
        pub(super) connectors: BTreeMap<Spanned<String>, Connector>,
        pub(super) generate: Option<Generate>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Bundle {
        pub(super) name: Spanned<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub(super) struct Policy {
        pub(super) signatures: Option<SignatureMode>,
        pub(super) keys: Option<Vec<Spanned<String>>>,
        pub(super) certification: Option<CertificationMode>,
        pub(super) allow_warned: Option<bool>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub(super) struct Registry {
        #[serde(default)]
        pub(super) mirrors: Vec<Spanned<String>>,
        #[serde(default)]
        pub(super) protocol: Protocol,
        pub(super) ca_file: Option<Spanned<String>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub(super) struct Network {
        pub(super) retries: Option<u32>,
        pub(super) timeout_secs: Option<Spanned<u64>>,
        pub(super) max_connections_per_registry: Option<Spanned<u32>>,
        pub(super) max_manifest_bytes: Option<Spanned<u64>>,
        pub(super) max_config_bytes: Option<Spanned<u64>>,
        pub(super) max_module_bytes: Option<Spanned<u64>>,
        pub(super) min_bytes_per_sec: Option<Spanned<u64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Connector {
        #[serde(rename = "ref")]
        pub(super) reference: Spanned<String>,
        #[serde(default)]
        pub(super) capabilities: Vec<Spanned<String>>,
        pub(super) signature: Option<Spanned<Signature>>,
        pub(super) certification: Option<CertificationMode>,
        #[serde(rename = "allow-warned")]
        pub(super) allow_warned: Option<bool>,
        pub(super) manifest: Option<Spanned<String>>,
        #[serde(rename = "signed-repository")]
        pub(super) signed_repository: Option<Spanned<String>>,
        pub(super) hosts: Option<Spanned<Vec<Spanned<String>>>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Signature {
        pub(super) policy: Option<SignatureMode>,
        pub(super) keys: Option<Vec<Spanned<String>>>,
        pub(super) identity: Option<String>,
        pub(super) issuer: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Generate {
        pub(super) out: Option<Spanned<String>>,
        pub(super) runtime: Option<Spanned<Runtime>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Runtime {
        pub(super) version: Option<String>,
        pub(super) path: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FULL: &str = r#"
[bundle]
name = "orders-flow"

[policy]
signatures = "required"
keys = ["keys/latticeflow.pub"]

[registries."registry.example.com"]
mirrors = ["localhost:5000"]
protocol = "auto"
ca-file = "certs/internal-ca.pem"

[network]
retries = 4
timeout-secs = 30
max-connections-per-registry = 8

[connectors.drive_files]
ref = "registry.example.com/latticeflow/google-drive-files-list:0.3"
capabilities = ["http.read"]
signature = { keys = ["keys/google.pub"] }

[connectors.counter]
ref = "localhost:5000/lf/kv-counter@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
capabilities = ["kv.read", "kv.write"]
signature = { policy = "optional", identity = "dev@example.com", issuer = "https://accounts.example.com" }
manifest = "connectors/counter.yaml"

[generate]
out = "vendor/crates"
runtime = { path = "../runtime" }
"#;

    #[test]
    fn parses_every_key_of_the_design() {
        let config = Config::parse("latticeflow.toml", FULL).unwrap();
        assert_eq!(config.bundle_name(), Some("orders-flow"));
        assert_eq!(config.policy().signatures, SignatureMode::Required);
        let reg = &config.registries()["registry.example.com"];
        assert_eq!(reg.mirrors, ["localhost:5000"]);
        assert_eq!(
            reg.ca_file.as_ref().unwrap().path,
            Path::new("certs/internal-ca.pem")
        );
        // The design's example writes 8 connections; the default is 16.
        assert_eq!(
            config.network(),
            Network {
                max_connections_per_registry: 8,
                ..Network::default()
            }
        );
        let names: Vec<_> = config
            .connectors()
            .keys()
            .map(ConnectorName::as_str)
            .collect();
        assert_eq!(names, ["counter", "drive_files"]);
        let drive = &config.connectors()[&"drive_files".parse().unwrap()];
        assert_eq!(drive.grants, BTreeSet::from([Capability::HttpRead]));
        assert_eq!(drive.signature.mode, SignatureMode::Required);
        match &drive.signature.trust {
            Trust::Keys(keys) => assert_eq!(keys[0].path, Path::new("keys/google.pub")),
            other => panic!("{other:?}"),
        }
        let counter = &config.connectors()[&"counter".parse().unwrap()];
        assert_eq!(counter.signature.mode, SignatureMode::Optional);
        assert!(matches!(counter.signature.trust, Trust::Keyless { .. }));
        assert!(counter.reference.digest().is_some());
        assert_eq!(
            config.generate().runtime,
            RuntimeDependency::Path("../runtime".into())
        );
        let paths: Vec<_> = config
            .paths()
            .iter()
            .map(|(_, p)| p.path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "keys/latticeflow.pub",
                "certs/internal-ca.pem",
                "keys/google.pub",
                "connectors/counter.yaml"
            ]
        );
    }

    #[test]
    fn network_size_and_rate_bounds() {
        let defaults = Config::parse("latticeflow.toml", "").unwrap().network();
        assert_eq!(defaults.max_manifest_bytes, 4 << 20);
        assert_eq!(defaults.max_config_bytes, 4 << 20);
        assert_eq!(defaults.max_module_bytes, 1 << 30);
        assert_eq!(defaults.min_bytes_per_sec, 32 << 10);
        let set = Config::parse(
            "latticeflow.toml",
            "[network]\nmax-manifest-bytes = 10\nmax-config-bytes = 20\nmax-module-bytes = 30\nmin-bytes-per-sec = 40\n",
        )
        .unwrap()
        .network();
        assert_eq!(
            (
                set.max_manifest_bytes,
                set.max_config_bytes,
                set.max_module_bytes,
                set.min_bytes_per_sec
            ),
            (10, 20, 30, 40)
        );
        let zero = Config::parse("latticeflow.toml", "[network]\nmax-config-bytes = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            zero.contains("`max-config-bytes` must be at least 1"),
            "{zero}"
        );
    }

    #[test]
    fn an_empty_file_is_a_valid_project_with_defaults() {
        let config = Config::parse("latticeflow.toml", "").unwrap();
        assert!(config.connectors().is_empty());
        assert_eq!(config.policy().signatures, SignatureMode::Required);
        assert_eq!(config.generate().out, Path::new("vendor/crates"));
        assert_eq!(config.generate().runtime, RuntimeDependency::Bundled);
    }

    #[test]
    fn errors_point_at_the_offending_text() {
        let src =
            "[connectors.a]\nref = \"x.io/a:1\"\ncapabilities = [\"http.read\", \"fs.write\"]\n";
        let err = Config::parse("p/latticeflow.toml", src).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("p/latticeflow.toml:3:30: {}", err.message())
        );
        assert!(
            err.message().contains("unknown capability `fs.write`"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod encoding {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, b"[bundle]\nname = \"caf\xe9\"\n").unwrap();
        let Err(ReadError::Invalid(d)) = Config::read(&path) else {
            panic!("a non-UTF-8 file must be a located error");
        };
        assert_eq!(d.line_column(), (2, 12));
        assert!(
            d.message().contains("byte 0xe9 at offset 20"),
            "{}",
            d.message()
        );
    }
}

#[cfg(test)]
mod example {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_shipped_example_is_valid_and_uses_every_table() {
        let source = include_str!("../../latticeflow.toml.example");
        let config = super::Config::parse("latticeflow.toml.example", source).unwrap();
        assert_eq!(config.bundle_name(), Some("orders-flow"));
        assert_eq!(config.connectors().len(), 2);
        assert_eq!(config.registries().len(), 1);
        assert_eq!(config.paths().len(), 4);
    }
}
