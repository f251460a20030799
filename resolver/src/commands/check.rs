//! `lf-resolve check`: both files valid, and the lock satisfies the config.
//! No network, no cache; when the project has a vendor directory, the lock
//! entries are also re-derived from the vendored bytes (as `lock --frozen`
//! does), since that is what a build will embed.

use serde_json::json;

use lf_lockfile::{LOCK_FILE, Lockfile};

use crate::commands::{check_named_files, load_config};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;

/// Validates `latticeflow.toml` and `latticeflow.lock` and reports staleness.
pub fn run(settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    check_named_files(&config)?;
    let lock_path = Settings::lock_path(config.path());
    let Some(lock) = Lockfile::read(&lock_path)? else {
        return Err(CliError::CheckFailed {
            message: format!("`{}` does not exist", lock_path.display()),
            reasons: Vec::new(),
            help: Some("run `lf-resolve lock` to create it".to_owned()),
        });
    };
    let reasons = lock.staleness(&config);
    if !reasons.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "`{}` does not satisfy `{}`",
                lock_path.display(),
                config.path().display()
            ),
            reasons: reasons.iter().map(ToString::to_string).collect(),
            help: Some("run `lf-resolve lock` to update it".to_owned()),
        });
    }
    let vendored = match crate::commands::vendor::existing(&config) {
        Some(vendor) => {
            let problems = crate::commands::lock::disagreements(
                &config,
                &vendor,
                &lock,
                crate::locked::Hashing::Sections,
            )?;
            if !problems.is_empty() {
                return Err(CliError::CheckFailed {
                    message: format!(
                        "`{}` does not match the artifacts vendored in `{}`",
                        lock_path.display(),
                        vendor.root().display()
                    ),
                    reasons: problems,
                    help: Some(
                        "if the lock or vendor/ was edited by hand, run `lf-resolve lock` and `lf-resolve vendor` to derive them again, and review the change".to_owned(),
                    ),
                });
            }
            true
        }
        None => false,
    };
    let count = lock.connectors().len();
    printer.status(
        "Checked",
        format!(
            "{} and {LOCK_FILE}: {count} connector{}, the lock is up to date{}",
            config.path().display(),
            if count == 1 { "" } else { "s" },
            if vendored { " and matches vendor/" } else { "" }
        ),
        &json!({"type": "check", "status": "fresh", "connectors": count, "lock": lock_path}),
    );
    Ok(())
}
