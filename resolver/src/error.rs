//! The errors a command ends with, and the exit code each maps to.

use std::path::PathBuf;

use lf_lockfile::Diagnostic;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: a check failed (stale or missing lock).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit status: the command could not run (usage, input or I/O error).
pub const EXIT_ERROR: u8 = 2;
/// Exit status: a registry could not be reached or refused, or content needed
/// offline is not in the store.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// Why a command failed. Each variant says what happened, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An error at a place in an input file.
    #[error(transparent)]
    Located(#[from] Diagnostic),
    /// Bad input that is not in a file (an argument, a missing file).
    #[error("{message}")]
    Input {
        /// What is wrong.
        message: String,
        /// What to do about it.
        help: Option<String>,
    },
    /// A check that did not pass.
    #[error("{message}")]
    CheckFailed {
        /// The verdict.
        message: String,
        /// Each reason, one per line.
        reasons: Vec<String>,
        /// What to do about it.
        help: Option<String>,
    },
    /// A command that failed for several connectors, with its own exit code.
    #[error("{message}")]
    Failed {
        /// The verdict.
        message: String,
        /// One line per connector.
        reasons: Vec<String>,
        /// What to do about it.
        help: Option<String>,
        /// The exit status.
        code: u8,
    },
    /// A file could not be read or written.
    #[error("{context} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl CliError {
    /// An input error with a hint.
    pub fn input(message: impl Into<String>, help: impl Into<Option<String>>) -> CliError {
        CliError::Input {
            message: message.into(),
            help: help.into(),
        }
    }

    /// A command line clap refused, as an input error (exit 2): clap's first
    /// paragraph is the message, its tips (`a similar value exists: …`) and
    /// the usage line are the help.
    pub fn from_clap(e: &clap::Error) -> CliError {
        let text = e.render().to_string();
        let mut message = String::new();
        let mut tips = Vec::new();
        let mut usage = None;
        let mut first_paragraph = true;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                first_paragraph = false;
            } else if let Some(tip) = line.strip_prefix("tip: ") {
                tips.push(tip.to_owned());
            } else if let Some(rest) = line.strip_prefix("Usage: ") {
                usage = Some(format!("usage: {rest}"));
            } else if first_paragraph {
                if !message.is_empty() {
                    message.push(' ');
                }
                message.push_str(line.strip_prefix("error: ").unwrap_or(line));
            }
        }
        tips.extend(usage);
        let help = (!tips.is_empty()).then(|| tips.join("; "));
        CliError::Input { message, help }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::CheckFailed { .. } => EXIT_CHECK_FAILED,
            CliError::Failed { code, .. } => *code,
            CliError::Located(_) | CliError::Input { .. } | CliError::Io { .. } => EXIT_ERROR,
        }
    }

    /// The hint, if any.
    pub fn help(&self) -> Option<&str> {
        match self {
            CliError::Located(d) => d.help(),
            CliError::Input { help, .. }
            | CliError::CheckFailed { help, .. }
            | CliError::Failed { help, .. } => help.as_deref(),
            CliError::Io { .. } => None,
        }
    }
}

impl From<lf_lockfile::ReadError> for CliError {
    fn from(e: lf_lockfile::ReadError) -> Self {
        match e {
            lf_lockfile::ReadError::Io { path, source } => CliError::Io {
                context: "cannot read",
                path,
                source,
            },
            lf_lockfile::ReadError::Invalid(d) => CliError::Located(d),
        }
    }
}

impl From<lf_lockfile::LockError> for CliError {
    fn from(e: lf_lockfile::LockError) -> Self {
        match e {
            lf_lockfile::LockError::Io { path, source } => CliError::Io {
                context: "cannot read",
                path,
                source,
            },
            lf_lockfile::LockError::UnsupportedVersion { diagnostic, .. }
            | lf_lockfile::LockError::Invalid(diagnostic) => CliError::Located(diagnostic),
        }
    }
}

/// The exit code of a registry failure: 1 when the bytes were wrong (a
/// digest or size mismatch), 3 when the registry could not be used. The one
/// place that decides it, for every command.
pub(crate) fn registry_code(e: &crate::registry::RegistryError) -> u8 {
    if e.is_integrity_failure() {
        EXIT_CHECK_FAILED
    } else {
        EXIT_UNAVAILABLE
    }
}

/// The exit code of a store failure: 1 when bytes (received or stored) do
/// not match their digest or size, 3 when the store could not be used.
pub(crate) fn store_code(e: &crate::store::StoreError) -> u8 {
    use crate::store::StoreError;
    match e {
        StoreError::DigestMismatch { .. }
        | StoreError::TooLarge { .. }
        | StoreError::Truncated { .. }
        | StoreError::Corrupted { .. }
        | StoreError::WrongSize { .. } => EXIT_CHECK_FAILED,
        _ => EXIT_UNAVAILABLE,
    }
}
