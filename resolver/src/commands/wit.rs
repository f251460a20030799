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
    let world = lf_wrapper_gen::wit::world(&manifest)
        .map_err(|e| CliError::input(format!("`{}`: {e}", yaml_path.display()), Some(e.help())))?;
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
        _ =>
        {
            #[allow(clippy::print_stdout, reason = "the world is this command's result")]
            if printer.is_json() {
                println!(
                    "{}",
                    json!({"type": "wit", "connector": connector, "wit": world})
                );
            } else {
                print!("{world}");
            }
        }
    }
    Ok(())
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
fn check_target(out: &Path) -> Result<(), CliError> {
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
