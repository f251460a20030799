//! What a lock entry is, proven from bytes: the one place that turns a
//! connector's stored artifact (OCI manifest, config, module, sidecar) into
//! the fields a lock records, and that re-derives those fields to compare
//! them with a lock someone else wrote.
//!
//! # Why it exists
//!
//! `latticeflow.lock` and `vendor/` arrive in pull requests. A hand-edited
//! entry (another connector's digest and blobs under this connector's name,
//! an `id`, `capabilities` or `deterministic` changed by hand) must not pass
//! the offline checks CI runs. So `lock` derives an entry from the bytes with
//! [`derive`], and `lock --locked/--frozen`, `verify`, `generate` and `check`
//! call [`rederive`], which runs the very same derivation over the stored
//! bytes and reports every field that disagrees, plus every capability the
//! connector requests that `latticeflow.toml` no longer grants. There is no
//! second copy of the rules to drift apart.
//!
//! # What it never does
//!
//! It never trusts a lock field the bytes can prove or disprove, and never
//! touches the network: bytes come from a [`Store`] (the cache or the vendor
//! directory).
//!
//! # Two ABIs
//!
//! A core module (ABI v1) is scanned as a stream and checked against the
//! JSON bridge; a component (ABI v2) is validated whole, its `run` export
//! checked against the world `connector.yaml` generates, and its imports
//! classified against what the manifest declares and `latticeflow.toml`
//! grants. Which one a blob is comes from its own preamble, never from the
//! lock or the artifact's config, and `abi` and the `sandboxed` imports are
//! re-derived like every other field.

use std::collections::BTreeSet;

use lf_lockfile::{
    Abi, BlobRef, Config, ConnectorConfig, ConnectorName, Digest, LockedConnector, Reference,
    SidecarRef, path_string,
};
use lf_runtime::spec::{Capability, ConnectorId, ConnectorManifest};

use crate::artifact::{self, WasmArtifact};
use crate::store::{Store, StoreError, VerifiedBlob};
use crate::verify::component::{self, ComponentInfo, check_component, scan_component};
use crate::verify::module::{ModuleInfo, check_abi, scan_module};

/// Why a connector's bytes cannot be locked, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// What is wrong, naming the connector.
    pub(crate) message: String,
    /// What to do next, when there is something to say.
    pub(crate) help: Option<String>,
}

impl Rejection {
    fn new(message: impl Into<String>, help: impl Into<Option<String>>) -> Rejection {
        Rejection {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The fields of a lock entry that its bytes determine.
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    /// The connector manifest (embedded section or sidecar).
    pub(crate) manifest: ConnectorManifest,
    /// The sidecar manifest and its digest, when one is configured.
    pub(crate) spec: Option<SidecarRef>,
    /// The module layer, as the OCI manifest names it.
    pub(crate) module: BlobRef,
    /// The config blob, as the OCI manifest names it.
    pub(crate) config: BlobRef,
    /// A core module (1) or a component (2), from the wasm's preamble.
    pub(crate) abi: Abi,
    /// A component's WASI imports linked to an empty sandbox.
    pub(crate) sandboxed: BTreeSet<String>,
}

impl Derived {
    /// The connector id.
    pub(crate) fn id(&self) -> &ConnectorId {
        self.manifest.id()
    }

    /// What the connector requests.
    pub(crate) fn capabilities(&self) -> &BTreeSet<Capability> {
        self.manifest.capabilities()
    }
}

/// Derives a connector's lock fields from its verified bytes and checks them
/// against `latticeflow.toml`: the connector manifest is valid, every
/// capability it requests is granted, the module speaks ABI v1 and imports
/// only what it declares, and the manifest's connector-id annotation agrees
/// with the module.
///
/// `reference` is what the user configured (for hints).
pub(crate) fn derive(
    config: &Config,
    name: &ConnectorName,
    connector: &ConnectorConfig,
    reference: &Reference,
    artifact: &WasmArtifact,
    module: &VerifiedBlob,
) -> Result<Derived, Rejection> {
    let wasm = read_wasm(config, name, reference, module)?;
    let (yaml, spec) = match &connector.manifest {
        Some(sidecar) => {
            let path = config.resolve(&sidecar.path);
            let bytes = read_bounded(&path).map_err(|e| {
                Rejection::new(
                    format!(
                        "connector `{name}`: cannot read the sidecar manifest `{}`: {e}",
                        path.display()
                    ),
                    None,
                )
            })?;
            let digest = Digest::from_bytes(
                lf_lockfile::Algorithm::Sha256,
                &<sha2::Sha256 as sha2::Digest>::digest(&bytes),
            );
            let spec = SidecarRef {
                path: path_string(&sidecar.path),
                digest,
            };
            let text = String::from_utf8(bytes).map_err(|_| {
                Rejection::new(
                    format!(
                        "connector `{name}`: the sidecar manifest `{}` is not UTF-8",
                        path.display()
                    ),
                    None,
                )
            })?;
            (text, Some(spec))
        }
        None => match wasm.connector_section() {
            Some(section) => (
                String::from_utf8(section).map_err(|_| {
                    Rejection::new(
                        format!(
                            "connector `{name}`: the `latticeflow.connector` section is not UTF-8"
                        ),
                        None,
                    )
                })?,
                None,
            ),
            None => {
                return Err(Rejection::new(
                    match &wasm {
                        Wasm::Module(_) => format!(
                            "connector `{name}`: the module has no `latticeflow.connector` custom section"
                        ),
                        Wasm::Component(_) => format!(
                            "connector `{name}`: the component has no top-level `latticeflow.connector` custom section (one inside a nested module does not count)"
                        ),
                    },
                    format!(
                        "publish it with `lf-resolve push`, or name a sidecar `manifest = \"...\"` for `{name}` in {}",
                        config.path().display()
                    ),
                ));
            }
        },
    };
    let manifest = ConnectorManifest::from_yaml(&yaml).map_err(|e| {
        // Located like a `latticeflow.toml` error: the sidecar's path, or the
        // section inside the module, then line:column and the line itself.
        let origin = match &spec {
            Some(sidecar) => sidecar.path.clone(),
            None => format!("{reference} (latticeflow.connector section)"),
        };
        let detail = match e.span_in(&yaml) {
            Some(span) => {
                lf_lockfile::Diagnostic::new(origin, yaml.as_str(), span, e.message()).render(false)
            }
            None => format!("{origin}: {e}"),
        };
        Rejection::new(
            format!("connector `{name}`: its connector manifest is invalid:\n{detail}"),
            None,
        )
    })?;
    // A component's imports are checked before the grants, so that a
    // refused import is named rather than only the capability it needs.
    let sandboxed = match &wasm {
        Wasm::Component(info) => check_component(info, &manifest, &connector.grants)
            .map_err(|violations| {
                let list: Vec<String> = violations
                    .iter()
                    .map(|v| format!("  - the component {v}"))
                    .collect();
                Rejection::new(
                    format!(
                        "connector `{name}` ({}) is a component (ABI v2) that does not fit its connector.yaml or its grants:\n{}",
                        manifest.id(),
                        list.join("\n")
                    ),
                    component::help(&violations),
                )
            })?
            .sandboxed,
        Wasm::Module(_) => BTreeSet::new(),
    };
    let requested = manifest.capabilities();
    let ungranted: Vec<String> = requested
        .difference(&connector.grants)
        .map(|c| format!("`{c}`"))
        .collect();
    if !ungranted.is_empty() {
        let flags: String = requested.iter().map(|c| format!(" -c {c}")).collect();
        return Err(Rejection::new(
            format!(
                "connector `{name}` ({}) requests capabilit{} {} that {} does not grant",
                manifest.id(),
                if ungranted.len() == 1 { "y" } else { "ies" },
                ungranted.join(", "),
                config.path().display()
            ),
            format!("if you trust it, grant them: `lf-resolve add {name} {reference}{flags}`"),
        ));
    }
    let violations = match &wasm {
        Wasm::Module(info) => check_abi(info, requested),
        Wasm::Component(_) => Vec::new(),
    };
    if !violations.is_empty() {
        let list: Vec<String> = violations
            .iter()
            .map(|v| format!("  - the module {v}"))
            .collect();
        return Err(Rejection::new(
            format!(
                "connector `{name}` ({}) breaks ABI v1 or its declared capabilities:\n{}",
                manifest.id(),
                list.join("\n")
            ),
            crate::verify::module::abi_help(&violations),
        ));
    }
    if let Some(annotated) = artifact.annotations.get(artifact::CONNECTOR_ID_ANNOTATION)
        && annotated != manifest.id().as_str()
    {
        return Err(Rejection::new(
            format!(
                "connector `{name}`: the manifest annotation says `{annotated}` but the module's connector manifest says `{}`",
                manifest.id()
            ),
            None,
        ));
    }
    Ok(Derived {
        manifest,
        spec,
        module: artifact.module.clone(),
        config: artifact.config.clone(),
        abi: match wasm {
            Wasm::Module(_) => Abi::V1,
            Wasm::Component(_) => Abi::V2,
        },
        sandboxed,
    })
}

/// A connector's wasm, read according to its preamble.
enum Wasm {
    /// A core module: ABI v1.
    Module(ModuleInfo),
    /// A component: ABI v2.
    Component(ComponentInfo),
}

impl Wasm {
    fn connector_section(&self) -> Option<Vec<u8>> {
        match self {
            Wasm::Module(info) => info.connector_section.clone(),
            Wasm::Component(info) => info.connector_section.clone(),
        }
    }
}

/// Reads a stored module or component. A module is scanned as a stream; a
/// component is read whole for validation, within the `[network]
/// max-module-bytes` cap it was downloaded under.
fn read_wasm(
    config: &Config,
    name: &ConnectorName,
    reference: &Reference,
    module: &VerifiedBlob,
) -> Result<Wasm, Rejection> {
    use std::io::Read as _;
    let unreadable = |e: std::io::Error| {
        Rejection::new(
            format!(
                "connector `{name}`: cannot read the module `{}`: {e}",
                module.path().display()
            ),
            None,
        )
    };
    let mut file = module.open().map_err(unreadable)?;
    let mut preamble = [0u8; 8];
    let is_component = match file.read_exact(&mut preamble) {
        Ok(()) => component::is_component(&preamble),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(unreadable(e)),
    };
    if !is_component {
        let info = scan_module(std::io::BufReader::new(file)).map_err(|e| {
            Rejection::new(
                format!(
                    "connector `{name}`: the module {} is not a valid connector module: {e}",
                    module.digest()
                ),
                None,
            )
        })?;
        return Ok(Wasm::Module(info));
    }
    let limit = config.network().max_module_bytes;
    if module.size() > limit {
        return Err(Rejection::new(
            format!(
                "connector `{name}`: the component {} is {} bytes, larger than the {limit}-byte limit",
                module.digest(),
                module.size()
            ),
            "raise `max-module-bytes` in `[network]` if you trust it".to_owned(),
        ));
    }
    let bytes = module.read().map_err(unreadable)?;
    let info = scan_component(&bytes).map_err(|e| {
        Rejection::new(
            format!(
                "connector `{name}`: the component {} of `{reference}` is not a valid connector component: {e}",
                module.digest()
            ),
            None,
        )
    })?;
    Ok(Wasm::Component(info))
}

/// The largest sidecar manifest read (a real one is a few KiB).
const MAX_SIDECAR_SIZE: u64 = 1024 * 1024;

fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SIDECAR_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SIDECAR_SIZE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_SIDECAR_SIZE} bytes"
        )));
    }
    Ok(bytes)
}

/// How much of a stored module [`rederive`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// Re-hash every blob, the module included (`verify`, `generate`).
    Full,
    /// Re-hash the small blobs (manifest, config); scan the module's
    /// sections without hashing its code (`lock --locked`, `check`): the
    /// imports and the connector manifest still come from the bytes.
    Sections,
}

/// Re-derives a lock entry from the bytes in `store` and compares it with
/// what the lock says, and with what `latticeflow.toml` grants now.
///
/// Returns the derivation when everything agrees, otherwise every
/// disagreement (each naming the connector and the field).
pub(crate) fn rederive(
    config: &Config,
    store: &Store,
    entry: &LockedConnector,
    hashing: Hashing,
) -> Result<Derived, Vec<String>> {
    let name = &entry.name;
    let fail = |message: String| vec![format!("connector `{name}`: {message}")];
    let Some(connector) = config.connectors().get(name) else {
        return Err(fail(format!(
            "is locked but not configured in {}",
            config.path().display()
        )));
    };
    let network = config.network();
    // Bounded before it is hashed: a planted file may be any size.
    if let Some(size) = store.stored_size(&entry.digest)
        && size > network.max_manifest_bytes
    {
        return Err(fail(format!(
            "manifest {} is {size} bytes, larger than the {}-byte limit",
            entry.digest, network.max_manifest_bytes
        )));
    }
    let manifest = store
        .rehash_any_size(&entry.digest)
        .map_err(|e| fail(format!("manifest {}: {e}", entry.digest)))?;
    let manifest_bytes = read_small(&manifest, network.max_manifest_bytes).map_err(fail)?;
    let artifact = artifact::parse_manifest(&manifest_bytes)
        .map_err(|e| fail(format!("manifest {}: {e}", entry.digest)))?;
    let mut problems = Vec::new();
    if artifact.module != entry.module {
        problems.push(format!(
            "connector `{name}`: the lock says module {} ({} bytes), but its manifest {} names {} ({} bytes)",
            entry.module.digest,
            entry.module.size,
            entry.digest,
            artifact.module.digest,
            artifact.module.size
        ));
    }
    if artifact.config != entry.config {
        problems.push(format!(
            "connector `{name}`: the lock says config {}, but its manifest {} names {}",
            entry.config.digest, entry.digest, artifact.config.digest
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let config_blob = store
        .rehash(&artifact.config.digest, artifact.config.size)
        .map_err(|e| fail(format!("config {}: {e}", artifact.config.digest)))?;
    let config_bytes = read_small(&config_blob, network.max_config_bytes).map_err(fail)?;
    artifact::check_config(&config_bytes)
        .map_err(|e| fail(format!("config {}: {e}", artifact.config.digest)))?;
    let module = match hashing {
        Hashing::Full => store.rehash(&artifact.module.digest, artifact.module.size),
        Hashing::Sections => store
            .get(&artifact.module.digest, artifact.module.size)
            .ok_or_else(|| StoreError::Missing {
                digest: artifact.module.digest.clone(),
                path: store.root().to_owned(),
            }),
    }
    .map_err(|e| fail(format!("module {}: {e}", artifact.module.digest)))?;
    let derived = derive(
        config,
        name,
        connector,
        &connector.reference,
        &artifact,
        &module,
    )
    .map_err(|r| vec![r.message])?;

    let mut problems = Vec::new();
    let mut differs = |field: &str, locked: String, bytes: String| {
        problems.push(format!(
            "connector `{name}`: the lock says {field} {locked}, but the bytes it pins say {bytes}"
        ));
    };
    if &entry.id != derived.id() {
        differs(
            "`id`",
            format!("`{}`", entry.id),
            format!("`{}`", derived.id()),
        );
    }
    if &entry.capabilities != derived.capabilities() {
        differs(
            "`capabilities`",
            list(&entry.capabilities),
            list(derived.capabilities()),
        );
    }
    if entry.abi != derived.abi {
        differs(
            "`abi`",
            entry.abi.to_string(),
            format!(
                "{} ({})",
                derived.abi,
                match derived.abi {
                    Abi::V1 => "a core module",
                    Abi::V2 => "a component",
                }
            ),
        );
    }
    if entry.sandboxed != derived.sandboxed {
        differs(
            "`sandboxed`",
            strings(&entry.sandboxed),
            strings(&derived.sandboxed),
        );
    }
    if entry.deterministic != derived.manifest.deterministic() {
        differs(
            "`deterministic`",
            format!("`{}`", entry.deterministic),
            format!("`{}`", derived.manifest.deterministic()),
        );
    }
    match (&entry.spec, &derived.spec) {
        (None, None) => {}
        (Some(locked), Some(now)) if locked == now => {}
        (Some(locked), Some(now)) if locked.path == now.path => differs(
            &format!("the sidecar `{}` has digest", locked.path),
            locked.digest.to_string(),
            now.digest.to_string(),
        ),
        (locked, now) => differs(
            "sidecar",
            format!("{:?}", locked.as_ref().map(|s| &s.path)),
            format!("{:?}", now.as_ref().map(|s| &s.path)),
        ),
    }
    if entry.grants != connector.grants {
        differs(
            "`grants`",
            list(&entry.grants),
            format!("(latticeflow.toml grants) {}", list(&connector.grants)),
        );
    }
    if entry.hosts != connector.hosts {
        let hosts = |set: &BTreeSet<lf_runtime::spec::HostPattern>| {
            strings(&set.iter().map(ToString::to_string).collect())
        };
        differs(
            "`hosts`",
            hosts(&entry.hosts),
            format!("(latticeflow.toml grants) {}", hosts(&connector.hosts)),
        );
    }
    if problems.is_empty() {
        Ok(derived)
    } else {
        Err(problems)
    }
}

fn strings(set: &BTreeSet<String>) -> String {
    let items: Vec<String> = set.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", items.join(", "))
}

/// Reads a manifest or config whole, refusing one over `limit` (the
/// `[network]` cap `lock` applied when it downloaded it).
fn read_small(blob: &VerifiedBlob, limit: u64) -> Result<Vec<u8>, String> {
    if blob.size() > limit {
        return Err(format!(
            "{} is {} bytes, larger than the {limit}-byte limit",
            blob.digest(),
            blob.size()
        ));
    }
    blob.read()
        .map_err(|e| format!("cannot read `{}`: {e}", blob.path().display()))
}

fn list(capabilities: &BTreeSet<Capability>) -> String {
    let names: Vec<String> = capabilities.iter().map(|c| format!("\"{c}\"")).collect();
    format!("[{}]", names.join(", "))
}
