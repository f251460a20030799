//! `lf-resolve wit`: the WIT world of an ABI v2 connector, from its
//! `connector.yaml`.
//!
//! The world is derived, never written by hand, so that connector.yaml stays
//! the one description of a node's inputs, outputs and capabilities; the
//! derivation itself is `lf_wrapper_gen::wit` (docs/wit.md). This command
//! only reads the manifest (bounded like `push` reads it), reports its errors
//! located, and puts the text on stdout or, with `-o`, in a file replaced
//! atomically. It refuses to replace a symlink, so it never writes through
//! one somewhere the user did not name.

use std::path::{Path, PathBuf};

use lf_runtime::spec::ConnectorManifest;
use serde_json::json;

use crate::cli::WitArgs;
use crate::error::CliError;
use crate::output::Printer;

/// Runs `wit`.
pub fn run(args: &WitArgs, printer: &Printer) -> Result<(), CliError> {
    let yaml_path = manifest_path(&args.path)?;
    let yaml = crate::commands::push::read_connector_yaml(&yaml_path)?;
    let manifest = ConnectorManifest::from_yaml(&yaml)
        .map_err(|e| crate::commands::push::manifest_error(&yaml_path, &yaml, &e))?;
    let wasi = if args.no_wasi {
        lf_wrapper_gen::wit::WasiImports::FromToolchain
    } else {
        lf_wrapper_gen::wit::WasiImports::Listed
    };
    let world = lf_wrapper_gen::wit::world_with(&manifest, wasi)
        .map_err(|e| world_error(&yaml_path, &yaml, &e))?;
    let connector = manifest.id().to_string();
    match args.output.as_deref() {
        Some(out) if out != Path::new("-") => {
            check_target(out)?;
            crate::commands::write_file(out, &world)?;
            printer.status(
                "Wrote",
                format!("the WIT world of `{connector}` to {}", out.display()),
                &json!({"type": "wit", "connector": connector, "path": out}),
            );
        }
        _ => print_world(printer, &connector, &world)?,
    }
    Ok(())
}

/// The world on stdout: as it is, or as the `wit` field of one JSON event.
#[allow(clippy::print_stdout, reason = "the world is this command's result")]
fn print_world(printer: &Printer, connector: &str, world: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    if printer.is_json() {
        println!(
            "{}",
            json!({"type": "wit", "connector": connector, "wit": world})
        );
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(world.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Io {
            context: "cannot write the world to",
            path: "stdout".into(),
            source,
        })
}

/// A field without a WIT name, located at its `name:` in connector.yaml
/// when that line can be found unambiguously (block style, the usual one),
/// else naming the file only.
fn world_error(yaml_path: &Path, yaml: &str, e: &lf_wrapper_gen::wit::WitError) -> CliError {
    let lf_wrapper_gen::wit::WitError::FieldName { field, .. } = e;
    let spans = name_spans(yaml, field);
    match spans.as_slice() {
        [span] => CliError::Located(
            lf_lockfile::Diagnostic::new(yaml_path, yaml, span.clone(), e.to_string())
                .with_help(e.help()),
        ),
        _ => CliError::input(format!("`{}`: {e}", yaml_path.display()), Some(e.help())),
    }
}

/// The byte ranges of `field` where a line reads `name: FIELD` (or
/// `- name: FIELD`, quoted or not, with or without a trailing comment).
fn name_spans(yaml: &str, field: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for line in yaml.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed).trim_start();
        let Some(rest) = trimmed.strip_prefix("name:") else {
            continue;
        };
        let value = rest.trim_start();
        let value_start = start + (line.len() - value.len());
        let (value_start, value) = match value.strip_prefix(['"', '\'']) {
            Some(unquoted) => (value_start + 1, unquoted),
            None => (value_start, value),
        };
        if value.starts_with(field)
            && !value[field.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            spans.push(value_start..value_start + field.len());
        }
    }
    spans
}

/// `PATH/connector.yaml` for a directory, `PATH` itself otherwise.
fn manifest_path(path: &Path) -> Result<PathBuf, CliError> {
    if path.is_dir() {
        let yaml = path.join("connector.yaml");
        if !yaml.is_file() {
            return Err(CliError::input(
                format!("`{}` has no connector.yaml", path.display()),
                Some("give a connector directory, or the path of a connector.yaml".to_owned()),
            ));
        }
        return Ok(yaml);
    }
    if !path.is_file() {
        return Err(CliError::input(
            format!("`{}` does not exist", path.display()),
            Some("give a connector directory, or the path of a connector.yaml".to_owned()),
        ));
    }
    Ok(path.to_owned())
}

/// Refuses an output path that is a symlink or a directory, or whose
/// directory does not exist.
pub(crate) fn check_target(out: &Path) -> Result<(), CliError> {
    match std::fs::symlink_metadata(out) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(CliError::input(
                format!(
                    "`{}` is a symlink; refusing to write through it",
                    out.display()
                ),
                Some("remove the link, or give the path of the file it points to".to_owned()),
            ));
        }
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::input(
                format!("`{}` is a directory", out.display()),
                Some(format!(
                    "give a file name, e.g. `{}`",
                    out.join("world.wit").display()
                )),
            ));
        }
        _ => {}
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(CliError::input(
            format!("`{}` does not exist", parent.display()),
            Some(format!("create it first (`mkdir -p {}`)", parent.display())),
        ));
    }
    Ok(())
}
