//! A published connector read back from its registry, as `certify REF`
//! needs it: the manifest (its digest is what evidence is about), the
//! module's bytes (checked against the manifest's layer digest by the
//! store) and the connector.yaml embedded in the module.
//!
//! Only the embedded section is trusted as the connector's manifest: a
//! sidecar connector.yaml is a project's statement, not the artifact's, and
//! certification is about the artifact.

use lf_lockfile::{Digest, Reference};
use serde_json::json;

use crate::artifact;
use crate::commands::push::project_config;
use crate::error::{CliError, EXIT_CHECK_FAILED};
use crate::output::Printer;
use crate::registry::{RegistryClient, RegistryError};
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

/// Pulls `reference`'s manifest and module through the content store.
pub fn fetch(
    reference: &Reference,
    settings: &Settings,
    printer: &Printer,
) -> Result<(RemoteConnector, RegistryClient), CliError> {
    let config = project_config(settings);
    let client = RegistryClient::new(&config);
    let store = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    let failed = |e: RegistryError| CliError::Failed {
        message: format!("cannot read `{reference}`"),
        reasons: vec![e.to_string()],
        help: None,
        code: crate::error::registry_code(&e),
    };
    let runtime = crate::commands::runtime()?;
    let manifest = runtime
        .block_on(client.fetch_manifest(reference))
        .map_err(failed)?;
    let parsed = artifact::parse_manifest(&manifest.bytes).map_err(|e| CliError::Failed {
        message: format!("`{reference}` is not a connector artifact"),
        reasons: vec![e.to_string()],
        help: None,
        code: EXIT_CHECK_FAILED,
    })?;
    let pinned = reference
        .without_digest()
        .with_digest(manifest.digest.clone());
    printer.status(
        "Fetching",
        format!("{pinned}"),
        &json!({"type": "fetching", "ref": pinned.to_string()}),
    );
    let (blob, _) = runtime
        .block_on(client.pull_blob(
            &pinned,
            &parsed.module.digest,
            parsed.module.size,
            &store,
            &|_| {},
        ))
        .map_err(failed)?;
    let module = blob.read().map_err(|source| CliError::Io {
        context: "cannot read",
        path: blob.path().to_owned(),
        source,
    })?;
    // The store verified the digest when the blob was written; the bytes
    // read now are hashed again, so a cache file changed since is caught.
    let module_digest = {
        use sha2::Digest as _;
        Digest::from_bytes(
            lf_lockfile::Algorithm::Sha256,
            &sha2::Sha256::digest(&module),
        )
    };
    if module_digest != parsed.module.digest {
        return Err(CliError::Failed {
            message: format!("the cached module of `{pinned}` does not match its digest"),
            reasons: vec![format!(
                "expected {}, the file hashes to {module_digest}",
                parsed.module.digest
            )],
            help: Some("remove the content store (`lf-resolve cache dir`) and retry".to_owned()),
            code: EXIT_CHECK_FAILED,
        });
    }
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
