//! `lf-resolve add` and the in-place editing it shares with `remove`.
//!
//! Edits go through `toml_edit`, so comments, ordering and whitespace of the
//! user's file survive; the result is checked by the same parser as every
//! other command before it replaces the file.
//!
//! `add` asks the registry whether the reference exists first (a `HEAD`,
//! unless `--offline`): a mistyped tag is cheaper to hear about now than at
//! the next `lock`, possibly in CI.

use std::collections::BTreeSet;

use serde_json::json;
use toml_edit::{Array, DocumentMut, Item, Table, value};

use lf_lockfile::{Config, ConnectorName, Reference};
use lf_runtime::spec::Capability;

use crate::cli::AddArgs;
use crate::commands::{load_config, write_file};
use crate::error::CliError;
use crate::output::Printer;
use crate::registry::{RegistryClient, RegistryError};
use crate::settings::Settings;

/// Adds or updates a connector.
pub fn run(args: &AddArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let name: ConnectorName = args
        .name
        .parse()
        .map_err(|e: lf_lockfile::InvalidName| CliError::input(e.to_string(), None))?;
    let reference: Reference = args
        .reference
        .parse()
        .map_err(|e: lf_lockfile::ReferenceError| CliError::input(e.to_string(), None))?;
    let mut grants = BTreeSet::new();
    for cap in &args.capabilities {
        let capability: Capability =
            cap.parse()
                .map_err(|e: lf_runtime::spec::UnknownCapability| {
                    CliError::input(e.to_string(), None)
                })?;
        if !grants.insert(capability) {
            return Err(CliError::input(
                format!("capability `{capability}` is given twice"),
                None,
            ));
        }
    }

    let config = load_config(settings)?;
    let resolved = if args.offline {
        None
    } else {
        Some(check_resolves(&config, &reference, printer)?)
    };
    let existed = config.connectors().contains_key(&name);
    let mut doc = parse_document(&config)?;
    let connectors = connectors_table(&mut doc, &config)?;
    let mut caps = Array::new();
    for capability in &grants {
        caps.push(capability.as_str());
    }
    match connectors.get_mut(name.as_str()) {
        Some(Item::Table(table)) => {
            table["ref"] = value(args.reference.as_str());
            table["capabilities"] = value(caps);
        }
        Some(Item::Value(toml_edit::Value::InlineTable(table))) => {
            table.insert("ref", args.reference.as_str().into());
            table.insert("capabilities", caps.into());
        }
        Some(_) => {
            return Err(config
                .diagnostic(
                    config.connectors()[&name].span.clone(),
                    format!("`connectors.{name}` is not a table"),
                )
                .into());
        }
        None => {
            let mut table = Table::new();
            table["ref"] = value(args.reference.as_str());
            table["capabilities"] = value(caps);
            connectors.insert(name.as_str(), Item::Table(table));
        }
    }

    let edited = doc.to_string();
    Config::parse(config.path(), edited.as_str())?;
    write_file(config.path(), &edited)?;

    let verb = if existed { "Updated" } else { "Added" };
    let grants_text = if grants.is_empty() {
        "no capabilities".to_owned()
    } else {
        grants
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    printer.status(
        verb,
        format!(
            "{name} ({reference}; {grants_text}) {} {}; run `lf-resolve lock` to pin it",
            if existed { "in" } else { "to" },
            config.path().display()
        ),
        &json!({
            "type": if existed { "updated" } else { "added" },
            "name": name.as_str(),
            "ref": reference.to_string(),
            "capabilities": grants.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "manifest": config.path(),
            "digest": resolved.as_ref().map(ToString::to_string),
        }),
    );
    Ok(())
}

/// Asks REF's registry (mirrors first, as `lock` will) what REF names, so
/// that a typo in a tag or repository is caught before the file changes.
fn check_resolves(
    config: &Config,
    reference: &Reference,
    printer: &Printer,
) -> Result<lf_lockfile::Digest, CliError> {
    let client = RegistryClient::new(config);
    let result = crate::commands::runtime()?.block_on(client.resolve_digest(reference));
    for warning in client.take_warnings() {
        printer.warning(warning);
    }
    result.map_err(|e| {
        let (message, help) = match &e {
            RegistryError::NotFound { .. } => (
                format!(
                    "`{reference}` does not exist in its registry; latticeflow.toml was not changed"
                ),
                "check the repository and tag (`lf-resolve outdated` lists newer tags of locked \
                 connectors), or pass `--offline` to add it without asking the registry",
            ),
            _ => (
                format!("cannot check that `{reference}` exists; latticeflow.toml was not changed"),
                "pass `--offline` to add it without asking the registry",
            ),
        };
        CliError::Failed {
            message,
            reasons: vec![e.to_string()],
            help: Some(help.to_owned()),
            code: crate::error::registry_code(&e),
        }
    })
}

/// The editable document of a configuration that has already been checked.
pub(crate) fn parse_document(config: &Config) -> Result<DocumentMut, CliError> {
    config.source().parse::<DocumentMut>().map_err(|e| {
        CliError::Located(config.diagnostic(e.span().unwrap_or(0..0), e.message().to_owned()))
    })
}

/// The `[connectors]` table, created (as an implicit parent of
/// `[connectors.NAME]` tables) when missing.
fn connectors_table<'d>(
    doc: &'d mut DocumentMut,
    config: &Config,
) -> Result<&'d mut dyn toml_edit::TableLike, CliError> {
    let item = doc.entry("connectors").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    item.as_table_like_mut().ok_or_else(|| {
        CliError::input(
            format!("`connectors` in {} is not a table", config.path().display()),
            None,
        )
    })
}
