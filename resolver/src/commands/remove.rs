//! `lf-resolve remove`.

use serde_json::json;

use lf_lockfile::{Config, ConnectorName};

use crate::cli::RemoveArgs;
use crate::commands::add::parse_document;
use crate::commands::{load_config, write_file};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;

/// Removes a connector from `latticeflow.toml`.
pub fn run(args: &RemoveArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let known = || {
        let names: Vec<&str> = config
            .connectors()
            .keys()
            .map(ConnectorName::as_str)
            .collect();
        if names.is_empty() {
            "it has no connectors".to_owned()
        } else {
            format!("its connectors are: {}", names.join(", "))
        }
    };
    let found = args
        .name
        .parse::<ConnectorName>()
        .ok()
        .filter(|name| config.connectors().contains_key(name));
    let Some(name) = found else {
        return Err(CliError::input(
            format!(
                "no connector named `{}` in {}",
                args.name,
                config.path().display()
            ),
            known(),
        ));
    };
    let mut doc = parse_document(&config)?;
    let removed = doc
        .get_mut("connectors")
        .and_then(|c| c.as_table_like_mut())
        .and_then(|t| t.remove(name.as_str()));
    if removed.is_none() {
        return Err(CliError::input(
            format!(
                "`connectors.{name}` could not be removed from {}",
                config.path().display()
            ),
            None,
        ));
    }
    let edited = doc.to_string();
    Config::parse(config.path(), edited.as_str())?;
    write_file(config.path(), &edited)?;
    printer.status(
        "Removed",
        format!("{name} from {}", config.path().display()),
        &json!({"type": "removed", "name": name.as_str(), "manifest": config.path()}),
    );
    Ok(())
}
