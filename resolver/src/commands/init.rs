//! `lf-resolve init`: start a project.

use serde_json::json;

use lf_lockfile::{CONFIG_FILE, Config};

use crate::cli::InitArgs;
use crate::commands::write_file;
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::current_dir;

/// Writes a starter `latticeflow.toml` into the current directory.
pub fn run(args: &InitArgs, printer: &Printer) -> Result<(), CliError> {
    let dir = current_dir()?;
    let path = dir.join(CONFIG_FILE);
    if path.exists() {
        return Err(CliError::input(
            format!("`{}` already exists", path.display()),
            "edit it, or add connectors with `lf-resolve add NAME REF`".to_owned(),
        ));
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .map_or_else(|| "bundle".to_owned(), |n| n.to_string_lossy().into_owned()),
    };
    let content = template(&name);
    // Whatever we write must be a valid configuration.
    Config::parse(&path, content.as_str())?;
    write_file(&path, &content)?;
    printer.status(
        "Created",
        format!("{CONFIG_FILE} for bundle `{name}`"),
        &json!({"type": "created", "path": path, "bundle": name}),
    );
    Ok(())
}

fn template(name: &str) -> String {
    let name = toml_edit::Value::from(name).to_string();
    format!(
        "\
# The connectors this project uses. Add one with
#   lf-resolve add NAME REF --capability CAP
# then pin them with `lf-resolve lock`.

[bundle]
name = {name}

[policy]
# required | optional | none
signatures = \"required\"
# cosign public keys (PEM), relative to this file
keys = []
"
    )
}
