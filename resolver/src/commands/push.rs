//! `lf-resolve push DIR REF`: publish a connector as a CNCF Wasm artifact.
//!
//! The directory holds `connector.yaml` and `module.wasm` (or `module.wat`).
//! The manifest is validated, the module is checked against it with the same
//! ABI and import rules as `lock`, the manifest is embedded as the
//! `latticeflow.connector` custom section (replacing an older one), and the
//! artifact is pushed. Same inputs, same digest, on any machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::json;

use lf_lockfile::{Config, Reference};
use lf_runtime::spec::ConnectorManifest;

use crate::artifact::{self, CONNECTOR_ID_ANNOTATION, OCI_MANIFEST};
use crate::cli::PushArgs;
use crate::error::{CliError, EXIT_CHECK_FAILED};
use crate::output::{Printer, human_size};
use crate::registry::push::Publisher;
use crate::settings::Settings;
use crate::verify::module::{check_abi, scan_module};

/// A connector directory made ready to push.
pub struct Built {
    /// The module, with `connector.yaml` embedded.
    pub module: Vec<u8>,
    /// The connector manifest.
    pub manifest: ConnectorManifest,
    /// The OCI manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Builds the artifact from `dir`: the module with its manifest embedded,
/// and the manifest's annotations.
pub fn build(dir: &Path, reference: &Reference, source: Option<&str>) -> Result<Built, CliError> {
    let yaml_path = dir.join("connector.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).map_err(|source| CliError::Io {
        context: "cannot read",
        path: yaml_path.clone(),
        source,
    })?;
    let manifest = ConnectorManifest::from_yaml(&yaml)
        .map_err(|e| CliError::input(format!("`{}`: {e}", yaml_path.display()), None))?;
    let wasm_path = dir.join("module.wasm");
    let wat_path = dir.join("module.wat");
    let module = if wasm_path.is_file() {
        std::fs::read(&wasm_path).map_err(|source| CliError::Io {
            context: "cannot read",
            path: wasm_path.clone(),
            source,
        })?
    } else if wat_path.is_file() {
        wat::parse_file(&wat_path).map_err(|e| {
            CliError::input(
                format!("`{}` does not compile: {e}", wat_path.display()),
                None,
            )
        })?
    } else {
        return Err(CliError::input(
            format!(
                "`{}` holds neither module.wasm nor module.wat",
                dir.display()
            ),
            "a connector directory holds connector.yaml and module.wasm (or module.wat)".to_owned(),
        ));
    };
    let module = artifact::embed_manifest(&module, &yaml)
        .map_err(|e| CliError::input(format!("the module in `{}`: {e}", dir.display()), None))?;
    let info = scan_module(std::io::Cursor::new(module.as_slice()))
        .map_err(|e| CliError::input(format!("the module in `{}`: {e}", dir.display()), None))?;
    let declared: BTreeSet<_> = manifest.capabilities().clone();
    let violations = check_abi(&info, &declared);
    if !violations.is_empty() {
        return Err(CliError::Failed {
            message: format!(
                "the module in `{}` does not match its connector.yaml ({})",
                dir.display(),
                manifest.id()
            ),
            reasons: violations
                .iter()
                .map(|v| format!("the module {v}"))
                .collect(),
            help: Some(crate::verify::module::abi_help(&violations)),
            code: EXIT_CHECK_FAILED,
        });
    }
    let title = reference
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or(reference.repository())
        .to_owned();
    let mut annotations = BTreeMap::from([
        (
            CONNECTOR_ID_ANNOTATION.to_owned(),
            manifest.id().as_str().to_owned(),
        ),
        ("org.opencontainers.image.title".to_owned(), title),
        (
            "org.opencontainers.image.version".to_owned(),
            reference.tag_or_latest().to_owned(),
        ),
    ]);
    if let Some(source) = source {
        annotations.insert(
            "org.opencontainers.image.source".to_owned(),
            source.to_owned(),
        );
    }
    Ok(Built {
        module,
        manifest,
        annotations,
    })
}

/// `lf-resolve push`.
pub fn run(args: &PushArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let reference: Reference = args
        .reference
        .parse()
        .map_err(|e: lf_lockfile::ReferenceError| CliError::input(e.to_string(), None))?;
    if reference.digest().is_some() {
        return Err(CliError::input(
            format!("`{reference}` pins a digest; push to a tag (the digest is computed)"),
            None,
        ));
    }
    let Built {
        module,
        manifest,
        annotations,
    } = build(&args.dir, &reference, args.source.as_deref())?;
    let (manifest_json, config_json) = artifact::build_artifact(&module, &annotations);
    let config = project_config(settings);
    let publisher = Publisher::new(&config, &reference)
        .map_err(|e| crate::commands::registry_failed("push failed", &e))?;
    let runtime = crate::commands::runtime()?;
    let digest = runtime
        .block_on(async {
            publisher.authenticate().await?;
            publisher.push_blob(&config_json).await?;
            publisher.push_blob(&module).await?;
            publisher
                .push_manifest(
                    &manifest_json,
                    OCI_MANIFEST,
                    Some(reference.tag_or_latest()),
                )
                .await
        })
        .map_err(|e| crate::commands::registry_failed("push failed", &e))?;
    printer.status(
        "Pushed",
        format!(
            "{} ({}, module {}) as {}@{digest}",
            manifest.id(),
            reference.without_digest(),
            human_size(module.len() as u64),
            reference.name()
        ),
        &json!({"type": "pushed", "ref": reference.to_string(), "digest": digest.to_string(), "id": manifest.id().as_str(), "module_size": module.len()}),
    );
    if printer.is_json() {
        return Ok(());
    }
    #[allow(clippy::print_stdout, reason = "the digest is this command's result")]
    {
        println!("{digest}");
    }
    Ok(())
}

/// The project's settings when run inside a project; defaults otherwise.
pub(crate) fn project_config(settings: &Settings) -> Config {
    settings
        .manifest_path()
        .ok()
        .and_then(|path| Config::read(&path).ok())
        .unwrap_or_else(|| {
            Config::parse(lf_lockfile::CONFIG_FILE, "")
                .unwrap_or_else(|_| unreachable!("an empty config is valid"))
        })
}
