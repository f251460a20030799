//! One module per command. Each takes checked settings and its own arguments
//! and returns `Ok` or the [`CliError`] it ends with.

pub mod add;
pub mod cache;
pub mod certify;
pub mod check;
pub mod completions;
pub mod generate;
pub mod init;
pub mod inspect;
pub mod list;
pub mod lock;
pub mod login;
pub mod mirror;
pub mod new;
pub mod outdated;
pub mod publish;

pub mod push;
pub mod remote;
pub mod remove;
pub mod sbom;
pub mod sign;
pub mod tag;
pub mod test;
pub mod trust;
pub mod vendor;
pub mod wit;

use std::path::Path;

use lf_lockfile::Config;

use crate::error::CliError;
use crate::settings::Settings;

/// Reads and checks `latticeflow.toml`.
pub(crate) fn load_config(settings: &Settings) -> Result<Config, CliError> {
    let path = settings.manifest_path()?;
    Ok(Config::read(&path)?)
}

/// Checks that every file the configuration names exists.
pub(crate) fn check_named_files(config: &Config) -> Result<(), CliError> {
    for (what, path) in config.paths() {
        let resolved = config.resolve(&path.path);
        if !resolved.is_file() {
            let problem = if resolved.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            return Err(config
                .diagnostic(
                    path.span.clone(),
                    format!("{what} `{}` {problem}", path.path.display()),
                )
                .with_help(format!(
                    "paths are relative to the directory of {}; looked for `{}`",
                    config.path().display(),
                    resolved.display()
                ))
                .into());
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of `path`, refusing a larger file (one
/// implementation: `lf_certify::read_bounded`).
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, CliError> {
    lf_certify::read_bounded(path, limit).map_err(|e| match e {
        lf_certify::ReadError::Io { path, source } => CliError::Io {
            context: "cannot read",
            path,
            source,
        },
        other => CliError::input(other.to_string(), None),
    })
}

/// Replaces `path` with `content` atomically.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<(), CliError> {
    lf_lockfile::write_atomic(path, content.as_bytes()).map_err(|source| CliError::Io {
        context: "cannot write",
        path: path.to_owned(),
        source,
    })
}

/// A registry failure as the error a command ends with (exit 1 when the
/// bytes were wrong, 3 when the registry could not be used).
pub(crate) fn registry_failed(message: &str, e: &crate::registry::RegistryError) -> CliError {
    CliError::Failed {
        message: message.to_owned(),
        reasons: vec![e.to_string()],
        help: None,
        code: crate::error::registry_code(e),
    }
}

/// The async runtime commands run their network work on: two workers, the
/// machine size this tool is measured on (more showed no gain).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            context: "cannot start the async runtime",
            path: ".".into(),
            source,
        })
}

/// `latticeflow.lock` beside the configuration, which must exist.
pub(crate) fn existing_lock(
    config: &Config,
) -> Result<(std::path::PathBuf, lf_lockfile::Lockfile), CliError> {
    let lock_path = crate::settings::Settings::lock_path(config.path());
    match lf_lockfile::Lockfile::read(&lock_path)? {
        Some(lock) => Ok((lock_path, lock)),
        None => Err(CliError::input(
            format!("`{}` does not exist", lock_path.display()),
            "run `lf-resolve lock` to create it".to_owned(),
        )),
    }
}
