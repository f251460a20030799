//! `lf-resolve generate [--out DIR] [--check]`: the wrapper crates of the
//! locked connectors (README, "Generated crates and the runtime"), written by
//! `lf-wrapper-gen` from the lockfile and the vendor directory — never the
//! network. Modules are embedded straight from `vendor/oci/blobs`, so the
//! bytes are stored once; `generate` vendors first when needed. Unless
//! `[generate] runtime` names another source, the `lf-runtime` this binary was
//! built with is written beside the crates ([`crate::runtime_copy`]), so they
//! build outside this repository.
//!
//! What it must never do: write through a symbolic link below the project (or
//! `--out`) — a link there could point anywhere, so every path is checked
//! before the first write — or delete a file.

use std::path::{Component, Path, PathBuf};

use serde_json::json;

use lf_lockfile::RuntimeDependency;
use lf_wrapper_gen::{GeneratedFile, Input};

use crate::cli::{GenerateArgs, VendorArgs};
use crate::commands::{existing_lock, load_config};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;

/// `lf-resolve generate`.
pub fn run(args: &GenerateArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (_, lock) = existing_lock(&config)?;
    let vendor_dir = crate::commands::vendor::default_dir(&config);
    let vendor = match crate::commands::vendor::existing(&config) {
        Some(v)
            if lock
                .connectors()
                .iter()
                .all(|c| v.get(&c.module.digest, c.module.size).is_some()) =>
        {
            v
        }
        _ if args.check => {
            return Err(CliError::CheckFailed {
                message: format!(
                    "`{}` does not hold the locked modules",
                    vendor_dir.display()
                ),
                reasons: Vec::new(),
                help: Some("run `lf-resolve vendor` and `lf-resolve generate`".to_owned()),
            });
        }
        _ => {
            crate::commands::vendor::run(
                &VendorArgs {
                    dir: None,
                    offline: false,
                    archive: None,
                },
                settings,
                printer,
            )?;
            crate::commands::vendor::existing(&config).ok_or_else(|| {
                CliError::input(
                    format!("`{}` could not be created", vendor_dir.display()),
                    None,
                )
            })?
        }
    };

    // What the crates embed and declare comes from the vendored bytes, each
    // re-hashed and re-derived here; a lock entry that disagrees with its
    // bytes (or with the grants in latticeflow.toml) generates nothing.
    let mut connectors = Vec::with_capacity(lock.connectors().len());
    let mut problems = Vec::new();
    for entry in lock.connectors() {
        match crate::locked::rederive(&config, &vendor, entry, crate::locked::Hashing::Full) {
            Ok(derived) => connectors.push((entry, derived.manifest)),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "`{}` and the vendored artifacts in `{}` disagree",
                crate::settings::Settings::lock_path(config.path()).display(),
                vendor_dir.display()
            ),
            reasons: problems,
            help: Some(
                "run `lf-resolve vendor` to restore damaged files; if the lock was edited by hand, run `lf-resolve lock` to derive it again, and review the change".to_owned(),
            ),
        });
    }

    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => config.resolve(&config.generate().out),
    };
    let out_abs = absolute(&out)?;
    let blobs_abs = absolute(&vendor_dir.join("blobs"))?;
    let runtime = match &config.generate().runtime {
        RuntimeDependency::Bundled => RuntimeDependency::Bundled,
        RuntimeDependency::Version(v) => RuntimeDependency::Version(v.clone()),
        RuntimeDependency::Path(p) => {
            RuntimeDependency::Path(relative(&out_abs, &absolute(&config.resolve(p))?))
        }
    };
    let bundled = runtime == RuntimeDependency::Bundled;
    // From a crate directory (`<out>/<crate>`) to `vendor/oci/blobs/<alg>/<hex>`.
    let crate_to_blobs = relative(&out_abs.join("crate"), &blobs_abs);
    let input = Input {
        connectors,
        module_path: Box::new(move |digest| {
            let path = crate_to_blobs
                .join(digest.algorithm().as_str())
                .join(digest.hex());
            path.to_string_lossy().replace('\\', "/")
        }),
        runtime,
    };
    let mut files =
        lf_wrapper_gen::generate(&input).map_err(|e| CliError::input(e.to_string(), None))?;
    if bundled {
        files.extend(crate::runtime_copy::files());
        files.sort();
    }

    // Nothing is written, or trusted, through a symbolic link below the
    // project (or below `--out`): checked for every file before the first
    // one is written.
    let project = config.resolve(Path::new(""));
    let (root, below) = match out_abs.strip_prefix(absolute(&project)?) {
        Ok(rel) if args.out.is_none() => (project, rel.to_owned()),
        _ => (out.clone(), PathBuf::new()),
    };
    for file in &files {
        refuse_symlinks_below(&root, &below.join(&file.path))?;
    }

    if args.check {
        let differing = differences(&out, &files);
        if !differing.is_empty() {
            return Err(CliError::CheckFailed {
                message: format!(
                    "the generated crates in `{}` are not what `generate` writes",
                    out.display()
                ),
                reasons: differing,
                help: Some("run `lf-resolve generate`".to_owned()),
            });
        }
        printer.status(
            "Checked",
            format!("{} ({} files) is up to date", out.display(), files.len()),
            &json!({"type": "generate", "status": "fresh", "out": out, "files": files.len()}),
        );
        return Ok(());
    }
    let mut written = 0usize;
    for file in &files {
        let path = out.join(&file.path);
        if std::fs::read(&path).is_ok_and(|old| old == file.contents.as_bytes()) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
                context: "cannot create",
                path: dir.to_owned(),
                source,
            })?;
        }
        lf_lockfile::write_atomic(&path, file.contents.as_bytes()).map_err(|source| {
            CliError::Io {
                context: "cannot write",
                path: path.clone(),
                source,
            }
        })?;
        written += 1;
    }
    printer.status(
        "Generated",
        format!(
            "{} crate files for {} connector{} in {} ({written} written)",
            files.len(),
            lock.connectors().len(),
            if lock.connectors().len() == 1 { "" } else { "s" },
            out.display()
        ),
        &json!({"type": "generate", "status": "written", "out": out, "files": files.len(), "written": written}),
    );
    Ok(())
}

/// Files that are missing or differ.
fn differences(out: &Path, files: &[GeneratedFile]) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            let path = out.join(&file.path);
            match std::fs::read(&path) {
                Ok(bytes) if bytes == file.contents.as_bytes() => None,
                Ok(_) => Some(format!("`{}` differs", path.display())),
                Err(_) => Some(format!("`{}` is missing", path.display())),
            }
        })
        .collect()
}

/// Refuses a symbolic link at any step from `root` (excluded) down to
/// `root/rel`, stopping at the first step that does not exist yet.
fn refuse_symlinks_below(root: &Path, rel: &Path) -> Result<(), CliError> {
    crate::store::refuse_symlinks_below(root, rel).map_err(|e| match e {
        crate::store::StoreError::Symlink { .. } => CliError::input(
            e.to_string(),
            Some(
                "remove the link (a real directory, or nothing, may stand there), then run `lf-resolve generate` again"
                    .to_owned(),
            ),
        ),
        other => CliError::input(other.to_string(), None),
    })
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        crate::settings::current_dir()?.join(path)
    };
    // Lexical normalisation: the directories may not exist yet.
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `to` relative to the directory `from` (both absolute and normalised).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(
                Path::new("/p/vendor/crates/crate"),
                Path::new("/p/vendor/oci/blobs")
            ),
            PathBuf::from("../../oci/blobs")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
    }
}
