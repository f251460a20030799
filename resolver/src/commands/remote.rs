//! A published connector read back from its registry, as `certify REF`
//! and `inspect` need it: the manifest (its digest is what evidence is
//! about), the module's bytes (checked against the manifest's layer digest
//! by the store, and again when read) and, for `certify`, the
//! connector.yaml embedded in the module. `inspect --offline` reads the same
//! parts from the store or `vendor/oci` instead ([`read_stored`]).
//!
//! Only the embedded section is trusted as the connector's manifest: a
//! sidecar connector.yaml is a project's statement, not the artifact's, and
//! certification is about the artifact.

use lf_lockfile::{Digest, Reference};
use serde_json::json;

use crate::artifact::{self, WasmArtifact};
use crate::commands::push::project_config;
use crate::error::{CliError, EXIT_CHECK_FAILED};
use crate::output::Printer;
use crate::registry::{FetchedManifest, RegistryClient, RegistryError};
use crate::settings::Settings;
use crate::store::Store;
use crate::verify::component::{is_component, scan_component};
use crate::verify::module::scan_module;

/// A connector artifact pulled from a registry.
#[derive(Debug)]
pub struct RemoteConnector {
    /// The reference pinned to the manifest's digest.
    pub pinned: Reference,
    /// The manifest's digest: the subject of signatures and attestations.
    pub manifest_digest: Digest,
    /// The manifest's size in bytes (a referrer's `subject` names it).
    pub manifest_size: usize,
    /// The module (or component) bytes, verified against the layer digest.
    pub module: Vec<u8>,
    /// The module's digest.
    pub module_digest: Digest,
    /// The `latticeflow.connector` section, as text.
    pub connector_yaml: String,
}

/// A connector artifact's manifest and module, read and checked: what
/// `inspect` shows and `certify` runs.
#[derive(Debug)]
pub(crate) struct Pulled {
    /// The reference pinned to the manifest's digest.
    pub pinned: Reference,
    /// The manifest's digest and bytes.
    pub manifest: FetchedManifest,
    /// The manifest read as a connector artifact.
    pub parsed: WasmArtifact,
    /// The module (or component) bytes, hashed again after reading.
    pub module: Vec<u8>,
}

fn not_a_connector(reference: &Reference, e: &crate::artifact::ArtifactError) -> CliError {
    CliError::Failed {
        message: format!("`{reference}` is not a connector artifact"),
        reasons: vec![e.to_string()],
        help: None,
        code: EXIT_CHECK_FAILED,
    }
}

/// Reads `blob`'s bytes and checks them against `expected` once more: the
/// store verified them when they were written, and a cache file changed
/// since is caught here.
fn read_module(
    pinned: &Reference,
    blob: &crate::store::VerifiedBlob,
    expected: &Digest,
) -> Result<Vec<u8>, CliError> {
    let module = blob.read().map_err(|source| CliError::Io {
        context: "cannot read",
        path: blob.path().to_owned(),
        source,
    })?;
    let actual = {
        use sha2::Digest as _;
        Digest::from_bytes(
            lf_lockfile::Algorithm::Sha256,
            &sha2::Sha256::digest(&module),
        )
    };
    if actual != *expected {
        return Err(CliError::Failed {
            message: format!("the cached module of `{pinned}` does not match its digest"),
            reasons: vec![format!("expected {expected}, the file hashes to {actual}")],
            help: Some("remove the content store (`--cache-dir`) and retry".to_owned()),
            code: EXIT_CHECK_FAILED,
        });
    }
    Ok(module)
}

/// Pulls `reference`'s manifest and module from its registry, through
/// `store` (what is there already is not downloaded again). With a
/// printer, says what it fetches.
pub(crate) fn pull(
    reference: &Reference,
    client: &RegistryClient,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    printer: Option<&Printer>,
) -> Result<Pulled, CliError> {
    let failed = |e: RegistryError| CliError::Failed {
        message: format!("cannot read `{reference}`"),
        reasons: vec![e.to_string()],
        help: None,
        code: crate::error::registry_code(&e),
    };
    let manifest = runtime
        .block_on(client.fetch_manifest(reference))
        .map_err(failed)?;
    let parsed =
        artifact::parse_manifest(&manifest.bytes).map_err(|e| not_a_connector(reference, &e))?;
    let pinned = reference
        .without_digest()
        .with_digest(manifest.digest.clone());
    if let Some(printer) = printer {
        printer.status(
            "Fetching",
            format!("{pinned}"),
            &json!({"type": "fetching", "ref": pinned.to_string()}),
        );
    }
    let (blob, _) = runtime
        .block_on(client.pull_blob(
            &pinned,
            &parsed.module.digest,
            parsed.module.size,
            store,
            &|_| {},
        ))
        .map_err(failed)?;
    let module = read_module(&pinned, &blob, &parsed.module.digest)?;
    Ok(Pulled {
        pinned,
        manifest,
        parsed,
        module,
    })
}

/// Reads the artifact `pinned` (a reference with a digest) from the first
/// of `stores` that holds each part, without the network. What is missing
/// is named, with exit status 3 (as for `lock --offline`).
pub(crate) fn read_stored(
    pinned: &Reference,
    stores: &[Store],
    limits: crate::registry::Limits,
) -> Result<Pulled, CliError> {
    let missing = |what: String| CliError::Failed {
        message: format!("{what} is not in the content store or vendor/oci"),
        reasons: Vec::new(),
        help: Some(format!(
            "run `lf-resolve fetch` (or `lf-resolve inspect {pinned}` without --offline) while the registry is reachable"
        )),
        code: crate::error::EXIT_UNAVAILABLE,
    };
    let Some(digest) = pinned.digest() else {
        return Err(missing(format!("`{pinned}`")));
    };
    let found = stores.iter().find_map(|store| {
        let size = store.stored_size(digest)?;
        (size <= limits.manifest).then(|| store.rehash(digest, size).ok())?
    });
    let Some(blob) = found else {
        return Err(missing(format!("the manifest {digest} of `{pinned}`")));
    };
    let bytes = blob.read().map_err(|source| CliError::Io {
        context: "cannot read",
        path: blob.path().to_owned(),
        source,
    })?;
    let parsed = artifact::parse_manifest(&bytes).map_err(|e| not_a_connector(pinned, &e))?;
    let module_blob = stores
        .iter()
        .find_map(|store| store.get(&parsed.module.digest, parsed.module.size))
        .ok_or_else(|| missing(format!("the module {} of `{pinned}`", parsed.module.digest)))?;
    let module = read_module(pinned, &module_blob, &parsed.module.digest)?;
    Ok(Pulled {
        pinned: pinned.clone(),
        manifest: FetchedManifest {
            digest: digest.clone(),
            bytes: bytes.into(),
        },
        parsed,
        module,
    })
}

/// Pulls `reference`'s manifest and module through the content store, and
/// reads the connector.yaml embedded in the module (required).
pub fn fetch(
    reference: &Reference,
    settings: &Settings,
    printer: &Printer,
) -> Result<(RemoteConnector, RegistryClient), CliError> {
    let config = project_config(settings);
    let client = RegistryClient::new(&config);
    let store = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    let runtime = crate::commands::runtime()?;
    let Pulled {
        pinned,
        manifest,
        parsed,
        module,
    } = pull(reference, &client, &store, &runtime, Some(printer))?;
    let module_digest = parsed.module.digest;
    let unreadable = |e: String| CliError::Failed {
        message: format!("the module of `{pinned}` is not readable"),
        reasons: vec![e],
        help: None,
        code: EXIT_CHECK_FAILED,
    };
    let section = if is_component(&module) {
        scan_component(&module)
            .map_err(|e| unreadable(e.to_string()))?
            .connector_section
    } else {
        scan_module(std::io::Cursor::new(&module))
            .map_err(|e| unreadable(e.to_string()))?
            .connector_section
    };
    let Some(section) = section else {
        return Err(CliError::Failed {
            message: format!("`{pinned}` has no latticeflow.connector section"),
            reasons: vec![
                "certification is about the artifact, so only the connector.yaml embedded in \
                 the module is used, never a sidecar"
                    .to_owned(),
            ],
            help: Some(
                "push the connector with `lf-resolve push DIR REF`, which embeds it".to_owned(),
            ),
            code: EXIT_CHECK_FAILED,
        });
    };
    let connector_yaml = String::from_utf8(section)
        .map_err(|_| unreadable("its latticeflow.connector section is not UTF-8".to_owned()))?;
    Ok((
        RemoteConnector {
            pinned,
            manifest_digest: manifest.digest,
            manifest_size: manifest.bytes.len(),
            module,
            module_digest,
            connector_yaml,
        },
        client,
    ))
}
