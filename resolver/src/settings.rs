//! Checked settings: the raw flags of [`crate::cli`] merged with the
//! environment and resolved to paths, before any command runs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use lf_lockfile::{CONFIG_FILE, LOCK_FILE};

use crate::cli::{ColorChoice, GlobalArgs, MessageFormat};
use crate::error::CliError;

/// Settings every command sees.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--manifest-path`, if given.
    manifest_path: Option<PathBuf>,
    /// The content store directory.
    pub cache_dir: PathBuf,
    /// 0 normal, 1+ more detail.
    pub verbose: u8,
    /// Only errors.
    pub quiet: bool,
    /// Whether to colour human output.
    pub color: bool,
    /// Human or JSON output.
    pub message_format: MessageFormat,
}

impl Settings {
    /// Checks the global flags.
    pub fn from_args(args: GlobalArgs) -> Result<Settings, CliError> {
        let cache_dir = match args.cache_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(CliError::input(
                    "`--cache-dir` (or LF_CACHE_DIR) is empty",
                    None,
                ));
            }
            Some(dir) => dir,
            None => default_cache_dir()?,
        };
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        Ok(Settings {
            manifest_path: args.manifest_path,
            cache_dir,
            verbose: args.verbose,
            quiet: args.quiet,
            color,
            message_format: args.message_format,
        })
    }

    /// The `latticeflow.toml` to use: `--manifest-path`, or the nearest one
    /// in the current directory or above.
    pub fn manifest_path(&self) -> Result<PathBuf, CliError> {
        if let Some(path) = &self.manifest_path {
            if path.is_dir() {
                return Err(CliError::input(
                    format!("`--manifest-path {}` is a directory", path.display()),
                    format!(
                        "pass the file: `--manifest-path {}`",
                        path.join(CONFIG_FILE).display()
                    ),
                ));
            }
            if !path.exists() {
                return Err(CliError::input(
                    format!("`{}` does not exist", path.display()),
                    "run `lf-resolve init` to create a project".to_owned(),
                ));
            }
            return Ok(path.clone());
        }
        let cwd = current_dir()?;
        cwd.ancestors()
            .map(|dir| dir.join(CONFIG_FILE))
            .find(|candidate| candidate.is_file())
            .map(|found| relative_to(&found, &cwd))
            .ok_or_else(|| {
                CliError::input(
                    format!(
                        "could not find `{CONFIG_FILE}` in `{}` or any parent directory",
                        cwd.display()
                    ),
                    "run `lf-resolve init` to create one, or pass `--manifest-path`".to_owned(),
                )
            })
    }

    /// The lockfile beside `manifest`.
    pub fn lock_path(manifest: &Path) -> PathBuf {
        manifest.with_file_name(LOCK_FILE)
    }
}

/// Shows paths under the working directory relative to it, as cargo does.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_owned(), Path::to_owned)
}

/// The working directory, or an error naming the problem.
pub fn current_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir().map_err(|source| CliError::Io {
        context: "cannot read the current directory",
        path: PathBuf::from("."),
        source,
    })
}

fn default_cache_dir() -> Result<PathBuf, CliError> {
    dirs::cache_dir()
        .map(|d| d.join("latticeflow").join("oci-v1"))
        .ok_or_else(|| {
            CliError::input(
                "cannot determine the platform cache directory",
                "set LF_CACHE_DIR or pass `--cache-dir`".to_owned(),
            )
        })
}
