//! `lf-resolve push DIR REF`: publish a connector as a CNCF Wasm artifact.
//!
//! The directory holds `connector.yaml` and the wasm: `module.wasm` (or
//! `module.wat`) for a core module, `component.wasm` (or `component.wat`)
//! for a component; which ABI it speaks is read from the bytes, whatever the
//! file is called. The manifest is validated, the wasm is checked against it
//! with the same rules as `lock` (ABI v1 exports and `lf:cap` imports; or
//! for a component, `run` against the generated world and every import
//! classified, with the declared capabilities taken as granted), the
//! manifest is embedded as the `latticeflow.connector` custom section
//! (replacing an older one; in a component only at the top level, never in
//! a nested module), and the artifact is pushed. Same inputs, same digest,
//! on any machine.
//!
//! The digest depends on the directory's content and the `--annotation`s
//! only, never on the destination: the title is the connector id, the version
//! comes from `connector.yaml` (`version`), and nothing is taken from the
//! reference. One connector pushed as `r:1.0`, `r:latest` and `other:1.0` is
//! one artifact, so a signature over it covers every name it has. `tag` adds
//! a name to an artifact already pushed without changing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::json;

use lf_lockfile::{Config, Diagnostic, Reference};
use lf_runtime::spec::ConnectorManifest;

use crate::artifact::{self, CONNECTOR_ID_ANNOTATION, OCI_MANIFEST};
use crate::cli::PushArgs;
use crate::error::{CliError, EXIT_CHECK_FAILED};
use crate::output::{Printer, human_size};
use crate::registry::push::Publisher;
use crate::settings::Settings;
use crate::verify::component::{self, check_component, scan_component};
use crate::verify::module::{MAX_CONNECTOR_SECTION, check_abi, scan_module};

/// A connector directory made ready to push.
pub struct Built {
    /// The module or component, with `connector.yaml` embedded.
    pub module: Vec<u8>,
    /// Whether it is a component (ABI v2).
    pub component: bool,
    /// The connector manifest.
    pub manifest: ConnectorManifest,
    /// The OCI manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The OCI annotation for a human-readable title (the connector id).
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The OCI annotation for the version (`version` in connector.yaml).
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
/// The OCI annotation for where the source lives (`--source`).
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";

/// The most `--annotation`s accepted.
const MAX_ANNOTATIONS: usize = 64;
/// The longest annotation key, in bytes.
const MAX_ANNOTATION_KEY: usize = 256;
/// The longest annotation value, in bytes.
const MAX_ANNOTATION_VALUE: usize = 4096;

/// Reads `--annotation KEY=VALUE` arguments: keys non-empty, printable
/// ASCII without spaces or `=`, values without control characters, each
/// bounded, and never the connector id (which comes from connector.yaml).
pub fn parse_annotations(args: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let hint = || {
        Some(format!(
            "write `--annotation KEY=VALUE`, e.g. `--annotation {VERSION_ANNOTATION}=1.4.0`"
        ))
    };
    if args.len() > MAX_ANNOTATIONS {
        return Err(CliError::input(
            format!(
                "{} annotations given; at most {MAX_ANNOTATIONS} are accepted",
                args.len()
            ),
            None,
        ));
    }
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(CliError::input(
                format!("annotation `{}` has no `=`", arg.escape_debug()),
                hint(),
            ));
        };
        let problem = if key.is_empty() {
            Some("its key is empty")
        } else if key.len() > MAX_ANNOTATION_KEY {
            Some("its key is longer than 256 bytes")
        } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
            Some("its key has a character that is not printable ASCII")
        } else if value.len() > MAX_ANNOTATION_VALUE {
            Some("its value is longer than 4096 bytes")
        } else if value.chars().any(char::is_control) {
            Some("its value has a control character")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(CliError::input(
                format!(
                    "annotation `{}`: {problem}",
                    arg.chars().take(80).collect::<String>().escape_debug()
                ),
                hint(),
            ));
        }
        if key == CONNECTOR_ID_ANNOTATION {
            return Err(CliError::input(
                format!("annotation `{key}` cannot be set: it is the `id` of connector.yaml"),
                Some("change `id` in connector.yaml instead".to_owned()),
            ));
        }
        if out.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(CliError::input(
                format!("annotation `{key}` is given twice"),
                None,
            ));
        }
    }
    Ok(out)
}

/// A connector.yaml error as the error a command ends with: located (file,
/// line, column and the source line) when the error has a place. `origin`
/// names the document: its path, or for a manifest embedded in a module the
/// reference and section.
pub(crate) fn manifest_error(
    origin: &Path,
    yaml: &str,
    e: &lf_runtime::spec::ManifestError,
) -> CliError {
    match e.span_in(yaml) {
        Some(span) => CliError::Located(Diagnostic::new(origin, yaml, span, e.message())),
        None => CliError::input(format!("`{}`: {e}", origin.display()), None),
    }
}

/// Reads `path`, refusing more than [`MAX_CONNECTOR_SECTION`] bytes: `lock`
/// refuses a larger section, so such an artifact must not be pushed.
pub(crate) fn read_connector_yaml(path: &Path) -> Result<String, CliError> {
    let bytes = super::read_bounded(path, MAX_CONNECTOR_SECTION).map_err(|e| match e {
        CliError::Input { .. } => CliError::input(
            format!(
                "`{}` is over the {MAX_CONNECTOR_SECTION}-byte limit of a connector manifest",
                path.display()
            ),
            None,
        ),
        other => other,
    })?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::input(format!("`{}` is not UTF-8", path.display()), None))
}

/// Builds the artifact from `dir`: the module with its manifest embedded,
/// and the manifest's annotations (from the directory, then `source`, then
/// `extra`, each overriding the one before).
pub fn build(
    dir: &Path,
    source: Option<&str>,
    extra: &BTreeMap<String, String>,
) -> Result<Built, CliError> {
    let yaml_path = dir.join("connector.yaml");
    let yaml = read_connector_yaml(&yaml_path)?;
    let manifest =
        ConnectorManifest::from_yaml(&yaml).map_err(|e| manifest_error(&yaml_path, &yaml, &e))?;
    let (module, path) = read_wasm(dir)?;
    let component = component::is_component(&module);
    let module = if component {
        check_component_dir(dir, &path, &module, &yaml, &manifest)?
    } else {
        check_module_dir(dir, &module, &yaml, &manifest)?
    };
    let id = manifest.id().as_str().to_owned();
    let mut annotations = BTreeMap::from([
        (CONNECTOR_ID_ANNOTATION.to_owned(), id.clone()),
        (TITLE_ANNOTATION.to_owned(), id),
    ]);
    if let Some(version) = manifest.version() {
        annotations.insert(VERSION_ANNOTATION.to_owned(), version.to_owned());
    }
    if let Some(source) = source {
        annotations.insert(SOURCE_ANNOTATION.to_owned(), source.to_owned());
    }
    annotations.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Built {
        module,
        component,
        manifest,
        annotations,
    })
}

/// The wasm of a connector directory and the file it came from. A module
/// file and a component file side by side are ambiguous.
fn read_wasm(dir: &Path) -> Result<(Vec<u8>, std::path::PathBuf), CliError> {
    let pick = |stem: &str| {
        let wasm = dir.join(format!("{stem}.wasm"));
        let wat = dir.join(format!("{stem}.wat"));
        if wasm.is_file() {
            Some(wasm)
        } else if wat.is_file() {
            Some(wat)
        } else {
            None
        }
    };
    let path = match (pick("module"), pick("component")) {
        (Some(module), Some(component)) => {
            return Err(CliError::input(
                format!(
                    "`{}` holds both `{}` and `{}`",
                    dir.display(),
                    file_name(&module),
                    file_name(&component)
                ),
                "a connector directory holds one wasm: remove the one you do not mean to push"
                    .to_owned(),
            ));
        }
        (Some(path), None) | (None, Some(path)) => path,
        (None, None) => {
            return Err(CliError::input(
                format!(
                    "`{}` holds none of module.wasm, module.wat, component.wasm, component.wat",
                    dir.display()
                ),
                "a connector directory holds connector.yaml and module.wasm (or module.wat), or component.wasm for a component".to_owned(),
            ));
        }
    };
    let bytes = if path.extension().is_some_and(|e| e == "wat") {
        wat::parse_file(&path).map_err(|e| {
            CliError::input(format!("`{}` does not compile: {e}", path.display()), None)
        })?
    } else {
        std::fs::read(&path).map_err(|source| CliError::Io {
            context: "cannot read",
            path: path.clone(),
            source,
        })?
    };
    Ok((bytes, path))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A core module with `yaml` embedded, checked against ABI v1.
fn check_module_dir(
    dir: &Path,
    module: &[u8],
    yaml: &str,
    manifest: &ConnectorManifest,
) -> Result<Vec<u8>, CliError> {
    let module = artifact::embed_manifest(module, yaml)
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
    Ok(module)
}

/// A component with `yaml` embedded at its top level, checked against the
/// world generated from `manifest` and with its imports classified (the
/// declared capabilities count as granted: the project decides at `lock`).
fn check_component_dir(
    dir: &Path,
    path: &Path,
    component: &[u8],
    yaml: &str,
    manifest: &ConnectorManifest,
) -> Result<Vec<u8>, CliError> {
    let invalid =
        |e: component::ComponentError| CliError::input(format!("`{}`: {e}", path.display()), None);
    let component = component::embed_manifest(component, yaml).map_err(invalid)?;
    let info = scan_component(&component).map_err(invalid)?;
    if let Err(violations) = check_component(&info, manifest, manifest.capabilities()) {
        return Err(CliError::Failed {
            message: format!(
                "the component in `{}` does not match its connector.yaml ({})",
                dir.display(),
                manifest.id()
            ),
            reasons: violations
                .iter()
                .map(|v| format!("the component {v}"))
                .collect(),
            help: Some(component::help(&violations)),
            code: EXIT_CHECK_FAILED,
        });
    }
    Ok(component)
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
    let extra = parse_annotations(&args.annotations)?;
    if let Some(source) = &args.source {
        parse_annotations(&[format!("{SOURCE_ANNOTATION}={source}")])?;
    }
    let Built {
        module,
        component,
        manifest,
        annotations,
    } = build(&args.dir, args.source.as_deref(), &extra)?;
    let (manifest_json, config_json) = artifact::build_artifact(&module, component, &annotations);
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
            "{} ({}, {} {}) as {}@{digest}",
            manifest.id(),
            reference.without_digest(),
            if component { "component" } else { "module" },
            human_size(module.len() as u64),
            reference.name()
        ),
        &json!({"type": "pushed", "ref": reference.to_string(), "digest": digest.to_string(), "id": manifest.id().as_str(), "module_size": module.len(), "abi": if component { 2 } else { 1 }, "annotations": annotations}),
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
