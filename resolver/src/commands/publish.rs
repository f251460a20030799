//! `lf-resolve publish --registry NAME [--dry-run]`: the wrapper crates of the
//! locked connectors, packaged with their modules inside and published to a
//! cargo alternative registry, so that a bundle depends on them by version
//! like on any crate (docs/publishing.md).
//!
//! Why it is built this way:
//! - Every crate is staged in a temporary directory, never in `vendor/`: the
//!   generated sources (the same `lf-wrapper-gen` output as `generate`, with
//!   modules at `modules/<hex>.wasm` inside the crate), a manifest naming the
//!   version, the registry, and `lf-runtime` from that same registry.
//! - Versions come from the connectors (a documented rule, [`crate_version`]),
//!   so the same lock gives the same versions, and `cargo package` gives the
//!   same `.crate` bytes (cargo writes fixed mtimes; the staged `Cargo.lock`
//!   is the one this binary was built with, so dependency versions do not
//!   float). Comparing the checksum the index already holds with ours makes a
//!   republish a no-op and refuses other content under an existing version.
//! - Everything is checked before the first upload (the lock is fresh, the
//!   registry answers, no version conflicts, no name folds onto another
//!   crate), and then `cargo publish` runs in dependency order: first the
//!   crates embedded in this binary that the registry lacks (`lf-runtime`,
//!   then the SDK a native connector crate builds with: `lf-lockfile`,
//!   `lf-wrapper-gen`, `lf-certify`; see `runtime_copy`), each depending on
//!   the others at their exact version from the same registry, then the
//!   connector crates. A failure part-way says which crates were published.
//! - The registry token is cargo's: `lf-resolve` never reads or prints it.
//!   It reads the index anonymously and leaves uploads to `cargo publish`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use lf_lockfile::{LockedConnector, RuntimeDependency};
use lf_runtime::spec::{ConnectorId, ConnectorManifest};
use lf_wrapper_gen::{GeneratedFile, Input, UMBRELLA_CRATE};

use crate::cli::PublishArgs;
use crate::commands::{check_named_files, existing_lock, load_config};
use crate::crate_index::{IndexEntry, IndexError, SparseIndex};
use crate::error::{CliError, EXIT_CHECK_FAILED, EXIT_UNAVAILABLE};
use crate::output::Printer;
use crate::settings::Settings;
use crate::store::Store;

/// The `Cargo.lock` of the workspace this binary was built in: staged beside
/// every package so that `cargo package` pins the same dependency versions
/// each time (and the `.crate` bytes are reproducible).
const WORKSPACE_LOCK: &str = include_str!("../../../Cargo.lock");

/// The version of `lf-runtime` this binary generates code for.
const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long one `cargo package` or `cargo publish` may run.
const CARGO_TIMEOUT: Duration = Duration::from_secs(600);

/// The most output of a failed cargo run repeated in an error, in bytes.
const MAX_CARGO_OUTPUT: usize = 4000;

/// One crate to publish.
struct Package {
    /// The crate name.
    name: String,
    /// The version it is published at.
    version: String,
    /// Its staged directory.
    dir: PathBuf,
    /// The connector ids it holds (none for the embedded crates).
    ids: Vec<String>,
    /// The sha256 of the `.crate` file `cargo package` made, in hex.
    cksum: String,
    /// What the registry does with it.
    action: Action,
    /// One of the embedded crates (lf-runtime or the SDK).
    sdk: bool,
    /// The embedded crates it was packaged against from their staged copies,
    /// because the registry lacks them: `(name, dir)`.
    patches: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Not in the registry: published.
    Publish,
    /// Already there with the same checksum: nothing to do.
    Unchanged,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Unchanged => "unchanged",
        }
    }
}

/// `lf-resolve publish`.
pub fn run(args: &PublishArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let registry = args.registry.as_str();
    crate::crate_index::check_name(registry).map_err(|e| CliError::input(e.to_string(), None))?;
    let config = load_config(settings)?;
    check_named_files(&config)?;
    let (lock_path, lock) = existing_lock(&config)?;
    let stale = lock.staleness(&config);
    if !stale.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "`{}` does not satisfy `{}`; nothing was published",
                lock_path.display(),
                config.path().display()
            ),
            reasons: stale.iter().map(ToString::to_string).collect(),
            help: Some("run `lf-resolve lock`, review the change, then publish again".to_owned()),
        });
    }
    if lock.connectors().is_empty() {
        return Err(CliError::input(
            format!(
                "`{}` locks no connector: nothing to publish",
                lock_path.display()
            ),
            "add connectors with `lf-resolve add` and run `lf-resolve lock`".to_owned(),
        ));
    }

    // The registry, as cargo is configured for the project.
    let project_dir = config.resolve(Path::new(""));
    let project_dir = if project_dir.as_os_str().is_empty() {
        crate::settings::current_dir()?
    } else {
        project_dir
    };
    let index_url = crate::crate_index::configured_index(registry, &project_dir).map_err(|e| {
        CliError::input(
            e.to_string(),
            format!(
                "add to `.cargo/config.toml`:\n  [registries.{registry}]\n  index = \"sparse+https://<your registry>/\""
            ),
        )
    })?;
    let index =
        SparseIndex::new(registry, &index_url).map_err(|e| CliError::input(e.to_string(), None))?;
    let rt = crate::commands::runtime()?;
    rt.block_on(index.ping()).map_err(|e| unavailable(&e))?;

    // The locked connectors with the manifests re-derived from their bytes.
    let (vendor, connectors) = locked_manifests(&config, &lock, settings, printer)?;

    // Versions by vendor crate, from the connectors' versions.
    let mut members: BTreeMap<String, Vec<(ConnectorId, Option<String>)>> = BTreeMap::new();
    for (entry, manifest) in &connectors {
        members
            .entry(lf_wrapper_gen::crate_name(&entry.id))
            .or_default()
            .push((entry.id.clone(), manifest.version().map(str::to_owned)));
    }
    let mut versions = BTreeMap::new();
    for (name, ids) in &mut members {
        ids.sort();
        ids.dedup();
        let version = crate_version(ids).map_err(|problem| {
            CliError::input(
                format!("crate `{name}`: {problem}; nothing was published"),
                "publish derives crate versions from the connectors' `version` (docs/publishing.md)"
                    .to_owned(),
            )
        })?;
        versions.insert(name.clone(), version);
    }

    // The generated sources, with modules inside each crate.
    let input = Input {
        connectors,
        module_path: Box::new(|digest| format!("modules/{}.wasm", digest.hex())),
        runtime: RuntimeDependency::Version(format!("={RUNTIME_VERSION}")),
    };
    let files =
        lf_wrapper_gen::generate(&input).map_err(|e| CliError::input(e.to_string(), None))?;

    let staging = tempfile::Builder::new()
        .prefix("lf-publish-")
        .tempdir()
        .map_err(|source| CliError::Io {
            context: "cannot create a staging directory in",
            path: std::env::temp_dir(),
            source,
        })?;
    let stage = staging.path();
    let target_dir = stage.join("target");

    // The embedded crates first, in dependency order (lf-runtime, then the
    // SDK native connector crates build with): the connector crates depend
    // on lf-runtime.
    let mut packages = Vec::new();
    let sdk_dir = stage.join("sdk");
    for embedded in crate::runtime_copy::crates() {
        let dir = sdk_dir.join(embedded.name);
        write_files(
            &dir,
            embedded.files.iter().map(|(path, contents)| GeneratedFile {
                path: PathBuf::from(path),
                contents: (*contents).to_owned(),
            }),
        )?;
        rewrite_manifest(&dir.join("Cargo.toml"), registry, None, None)?;
        packages.push(Package {
            name: embedded.name.to_owned(),
            version: RUNTIME_VERSION.to_owned(),
            dir,
            ids: Vec::new(),
            cksum: String::new(),
            action: Action::Publish,
            sdk: true,
            patches: Vec::new(),
        });
    }
    for (name, version) in &versions {
        let dir = stage.join(name);
        write_files(
            stage,
            files.iter().filter(|f| f.path.starts_with(name)).cloned(),
        )?;
        rewrite_manifest(
            &dir.join("Cargo.toml"),
            registry,
            Some(version),
            Some(&digests_of(&members[name], &input)),
        )?;
        packages.push(Package {
            name: name.clone(),
            version: version.clone(),
            dir,
            ids: members[name].iter().map(|(id, _)| id.to_string()).collect(),
            cksum: String::new(),
            action: Action::Publish,
            sdk: false,
            patches: Vec::new(),
        });
    }
    debug_assert!(files.iter().all(|f| {
        f.path.starts_with(UMBRELLA_CRATE) || versions.keys().any(|n| f.path.starts_with(n))
    }));
    // The modules, copied from the vendor directory and hashed again.
    for (entry, _) in &input.connectors {
        let crate_dir = stage.join(lf_wrapper_gen::crate_name(&entry.id));
        copy_module(&vendor, entry, &crate_dir)?;
    }
    for package in &packages {
        std::fs::write(package.dir.join("Cargo.lock"), WORKSPACE_LOCK).map_err(|source| {
            CliError::Io {
                context: "cannot write",
                path: package.dir.join("Cargo.lock"),
                source,
            }
        })?;
    }

    // What the registry holds already, and names that fold onto ours.
    let mut conflicts = Vec::new();
    let mut existing: Vec<Vec<IndexEntry>> = Vec::new();
    for package in &packages {
        let entries = rt
            .block_on(index.versions(&package.name))
            .map_err(|e| unavailable(&e))?;
        let mut folded = vec![
            package.name.replace('_', "-"),
            package.name.replace('-', "_"),
        ];
        folded.dedup();
        for spelling in folded.iter().filter(|f| **f != package.name) {
            let others = rt
                .block_on(index.versions(spelling))
                .map_err(|e| unavailable(&e))?;
            // A server that folds names itself answers with our own crate.
            if let Some(other) = others.iter().find(|e| e.name != package.name) {
                conflicts.push(format!(
                    "crate `{}` would collide with `{}`, already in registry `{registry}` (cargo treats `-` and `_` as the same)",
                    package.name, other.name
                ));
            }
        }
        if let Some(other) = entries.iter().find(|e| e.name != package.name) {
            conflicts.push(format!(
                "crate `{}` would collide with `{}`, already in registry `{registry}` (cargo treats `-` and `_` as the same)",
                package.name, other.name
            ));
        }
        existing.push(entries);
    }
    conflicts.dedup();
    if !conflicts.is_empty() {
        return Err(refused(
            conflicts,
            "a connector vendor's crate name is taken in this registry; publish to another registry or rename the vendor",
        ));
    }

    // Package everything. The embedded crates the registry lacks (all of
    // them in a dry run) are needed by the resolution of the crates after
    // them, so they are patched in from the staged copies for packaging only.
    let missing: Vec<(usize, String, PathBuf)> = packages
        .iter()
        .zip(&existing)
        .enumerate()
        .filter(|(_, (p, entries))| {
            p.sdk && !entries.iter().any(|e| same_version(&e.vers, &p.version))
        })
        .map(|(i, (p, _))| (i, p.name.clone(), p.dir.clone()))
        .collect();
    let cargo = Cargo {
        registry,
        index_url: &index_url,
        target_dir: &target_dir,
    };
    for (i, package) in packages.iter_mut().enumerate() {
        // Only what it depends on: the embedded crates on earlier ones, the
        // connector crates on lf-runtime.
        let sdk = package.sdk;
        package.patches = missing
            .iter()
            .filter(|(j, name, _)| *j < i && (sdk || name == "lf-runtime"))
            .map(|(_, name, dir)| (name.clone(), dir.clone()))
            .collect();
        let crate_file = cargo.package(package, &package.patches)?;
        package.cksum = sha256_file(&crate_file)?;
        printer.status(
            "Packaged",
            format!("{} {} ({})", package.name, package.version, short(&package.cksum)),
            &json!({"type": "publish", "status": "packaged", "crate": package.name, "version": package.version, "cksum": package.cksum}),
        );
    }

    // Versions that exist: the same bytes are a no-op, others are refused.
    let mut refusals = Vec::new();
    for (package, entries) in packages.iter_mut().zip(&existing) {
        if let Some(entry) = entries
            .iter()
            .find(|e| same_version(&e.vers, &package.version))
        {
            if entry.cksum.eq_ignore_ascii_case(&package.cksum) {
                package.action = Action::Unchanged;
            } else if package.patches.is_empty() {
                refusals.push(format!(
                    "crate `{}` {} is already in registry `{registry}` with other content: the registry has sha256 {}, this lock packages sha256 {}",
                    package.name, entry.vers, entry.cksum, package.cksum
                ));
            } else {
                refusals.push(format!(
                    "crate `{}` {} is already in registry `{registry}` with other content (sha256 {}, this lf-resolve packages sha256 {}), while {} that it depends on {} not",
                    package.name,
                    entry.vers,
                    entry.cksum,
                    package.cksum,
                    package
                        .patches
                        .iter()
                        .map(|(n, _)| format!("`{n}` {}", package.version))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if package.patches.len() == 1 { "is" } else { "are" }
                ));
            }
        } else if !package.ids.is_empty()
            && let Some(newer) = entries
                .iter()
                .filter(|e| !e.yanked)
                .filter(|e| version_key(&e.vers) > version_key(&package.version))
                .max_by_key(|e| version_key(&e.vers))
        {
            // Cargo would accept a lower version, but consumers asking for
            // `^x` would keep the higher, older crate: never go backwards.
            refusals.push(format!(
                "crate `{}`: this lock gives version {}, lower than {} already in registry `{registry}`; a bundle depending on it would keep the older, higher version",
                package.name, package.version, newer.vers
            ));
        }
    }
    if !refusals.is_empty() {
        return Err(refused(
            refusals,
            "a published version never changes: give the changed connector a new `version` in its connector.yaml (the crate version derives from it, docs/publishing.md), push and lock it again",
        ));
    }

    if args.dry_run {
        for package in &packages {
            let verb = match package.action {
                Action::Publish => "Would publish",
                Action::Unchanged => "Unchanged",
            };
            printer.status(
                verb,
                describe(package),
                &json!({"type": "publish", "status": package.action.as_str(), "dry_run": true, "crate": package.name, "version": package.version, "cksum": package.cksum, "connectors": package.ids}),
            );
        }
        printer.status(
            "Dry run",
            format!("nothing was published to `{registry}`"),
            &json!({"type": "publish", "status": "dry-run", "registry": registry}),
        );
        return Ok(());
    }

    let mut published: Vec<String> = Vec::new();
    for i in 0..packages.len() {
        if packages[i].action == Action::Unchanged {
            let package = &packages[i];
            printer.status(
                "Unchanged",
                describe(package),
                &json!({"type": "publish", "status": "unchanged", "crate": package.name, "version": package.version, "cksum": package.cksum, "connectors": package.ids}),
            );
            continue;
        }
        // Packaged against staged embedded crates above; now that the
        // registry has them, packaged again as cargo will publish it.
        let mut outcome = Ok(());
        if !packages[i].patches.is_empty() {
            outcome = cargo
                .package(&packages[i], &[])
                .map_err(|e| e.to_string())
                .and_then(|file| sha256_file(&file).map_err(|e| e.to_string()))
                .map(|cksum| packages[i].cksum = cksum);
        }
        let package = &packages[i];
        if let Err(detail) = outcome.and_then(|()| cargo.publish(package)) {
            let rest: Vec<String> = packages[i + 1..]
                .iter()
                .filter(|p| p.action == Action::Publish)
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let mut reasons = vec![format!(
                "published: {}",
                if published.is_empty() {
                    "none".to_owned()
                } else {
                    published.join(", ")
                }
            )];
            reasons.push(format!("failed: {} {}", package.name, package.version));
            if !rest.is_empty() {
                reasons.push(format!("not attempted: {}", rest.join(", ")));
            }
            reasons.push(format!("cargo said: {detail}"));
            return Err(CliError::Failed {
                message: format!(
                    "`cargo publish` of `{}` {} to registry `{registry}` failed",
                    package.name, package.version
                ),
                reasons,
                help: Some(format!(
                    "fix the cause (a missing token: `cargo login --registry {registry}` or `{}`), then run `lf-resolve publish --registry {registry}` again: what was published is skipped",
                    crate::crate_index::env_var(registry, "TOKEN")
                )),
                code: EXIT_UNAVAILABLE,
            });
        }
        published.push(format!("{} {}", package.name, package.version));
        printer.status(
            "Published",
            describe(package),
            &json!({"type": "publish", "status": "published", "crate": package.name, "version": package.version, "cksum": package.cksum, "connectors": package.ids}),
        );
    }
    Ok(())
}

/// Lock entries with the manifests re-derived from their bytes.
type Rederived<'l> = Vec<(&'l LockedConnector, ConnectorManifest)>;

/// Where the locked artifacts are read from, and every lock entry with the
/// manifest re-derived from those bytes (fully re-hashed). The project's
/// `vendor/oci` when it holds every locked module; otherwise the content
/// store, brought up to the lock first (by digest). `publish` never writes
/// into the project: no vendoring here.
fn locked_manifests<'l>(
    config: &lf_lockfile::Config,
    lock: &'l lf_lockfile::Lockfile,
    settings: &Settings,
    printer: &Printer,
) -> Result<(Store, Rederived<'l>), CliError> {
    let store = match crate::commands::vendor::existing(config) {
        Some(vendor)
            if lock
                .connectors()
                .iter()
                .all(|c| vendor.get(&c.module.digest, c.module.size).is_some()) =>
        {
            vendor
        }
        _ => {
            let cache = Store::open(&settings.cache_dir).map_err(|e| {
                CliError::input(format!("cannot open the content store: {e}"), None)
            })?;
            crate::commands::lock::ensure_locked(
                config,
                lock,
                &cache,
                crate::commands::lock::Mode { offline: false },
                crate::commands::lock::Presence::Verified,
                None,
                printer,
            )?;
            cache
        }
    };
    let mut connectors = Vec::with_capacity(lock.connectors().len());
    let mut problems = Vec::new();
    for entry in lock.connectors() {
        match crate::locked::rederive(config, &store, entry, crate::locked::Hashing::Full) {
            Ok(derived) => connectors.push((entry, derived.manifest)),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "`{}` and the artifacts in `{}` disagree; nothing was published",
                Settings::lock_path(config.path()).display(),
                store.root().display()
            ),
            reasons: problems,
            help: Some(
                "run `lf-resolve vendor` (or `lf-resolve fetch`) to restore damaged files; if the lock was edited by hand, run `lf-resolve lock` to derive it again, and review the change".to_owned(),
            ),
        });
    }
    Ok((store, connectors))
}

/// The version rule (docs/publishing.md): a vendor crate's version is the
/// component-wise sum of its connectors' `version`s read as
/// `MAJOR[.MINOR[.PATCH]]` (build metadata after `+` ignored; a connector
/// without a version counts as 0.0.0). One connector: its own version. Any
/// connector's release going up moves the sum up, so a new release gives a
/// new crate version, while a changed module under the same versions gives
/// the same crate version, which publishing then refuses.
pub(crate) fn crate_version(members: &[(ConnectorId, Option<String>)]) -> Result<String, String> {
    let mut sum = [0u64; 3];
    for (id, version) in members {
        let Some(version) = version else { continue };
        let core = version.split('+').next().unwrap_or_default();
        if core.contains('-') {
            return Err(format!(
                "connector `{id}` has the pre-release version `{version}`, which cannot make a crate version; publish released versions (`MAJOR.MINOR.PATCH`)"
            ));
        }
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(format!(
                "connector `{id}` has version `{version}`, more than MAJOR.MINOR.PATCH"
            ));
        }
        for (slot, part) in sum.iter_mut().zip(&parts) {
            let n: u64 = part
                .parse()
                .ok()
                .filter(|_| part.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| {
                    format!(
                        "connector `{id}` has version `{version}`, which is not MAJOR[.MINOR[.PATCH]] in digits"
                    )
                })?;
            *slot = slot.checked_add(n).ok_or_else(|| {
                format!("the versions of `{id}` and its neighbours are too large")
            })?;
        }
    }
    Ok(format!("{}.{}.{}", sum[0], sum[1], sum[2]))
}

/// `MAJOR.MINOR.PATCH` as numbers, for ordering (build metadata and a
/// pre-release part ignored; what does not parse sorts lowest).
fn version_key(version: &str) -> [u64; 3] {
    let core = version.split(['+', '-']).next().unwrap_or("");
    let mut key = [0; 3];
    for (slot, part) in key.iter_mut().zip(core.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    key
}

/// Equal semver versions (build metadata is not part of the identity).
fn same_version(a: &str, b: &str) -> bool {
    a.split('+').next() == b.split('+').next()
}

fn short(cksum: &str) -> &str {
    cksum.get(..12).unwrap_or(cksum)
}

fn describe(package: &Package) -> String {
    if package.ids.is_empty() {
        format!("{} {}", package.name, package.version)
    } else {
        format!(
            "{} {} ({})",
            package.name,
            package.version,
            package.ids.join(", ")
        )
    }
}

fn refused(reasons: Vec<String>, help: &str) -> CliError {
    CliError::Failed {
        message: "refusing to publish; nothing was published".to_owned(),
        reasons,
        help: Some(help.to_owned()),
        code: EXIT_CHECK_FAILED,
    }
}

fn unavailable(e: &IndexError) -> CliError {
    CliError::Failed {
        message: format!("{e}; nothing was published"),
        reasons: Vec::new(),
        help: Some(
            "check that the registry is running and that `[registries.NAME] index` in `.cargo/config.toml` points at it".to_owned(),
        ),
        code: EXIT_UNAVAILABLE,
    }
}

/// The module digests of a vendor crate's connectors, sorted, as
/// `id sha256:<hex>` lines for its manifest metadata.
fn digests_of(members: &[(ConnectorId, Option<String>)], input: &Input<'_>) -> Vec<String> {
    let mut out: Vec<String> = input
        .connectors
        .iter()
        .filter(|(entry, _)| members.iter().any(|(id, _)| id == &entry.id))
        .map(|(entry, _)| format!("{} {}", entry.id, entry.module.digest))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Writes `files` below `root` (a fresh staging directory).
fn write_files(root: &Path, files: impl Iterator<Item = GeneratedFile>) -> Result<(), CliError> {
    for file in files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
                context: "cannot create",
                path: dir.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, file.contents).map_err(|source| CliError::Io {
            context: "cannot write",
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Turns a staged manifest into a publishable one: `publish = [registry]`,
/// the version, `lf-runtime` from the same registry, and (for connector
/// crates) the locked module digests as package metadata.
fn rewrite_manifest(
    path: &Path,
    registry: &str,
    version: Option<&str>,
    modules: Option<&[String]>,
) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        context: "cannot rewrite",
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| CliError::input(format!("internal error: `{}`: {e}", path.display()), None))?;
    let package = doc["package"].as_table_mut().ok_or_else(|| {
        CliError::input(
            format!("internal error: `{}` has no [package]", path.display()),
            None,
        )
    })?;
    // The generated header says "do not edit … from latticeflow.lock"; the
    // published manifest says where it came from instead.
    package.decor_mut().set_prefix(format!(
        "# Published by `lf-resolve publish --registry {registry}`.\n"
    ));
    let mut registries = toml_edit::Array::new();
    registries.push(registry);
    package["publish"] = toml_edit::value(registries);
    // The embedded crates' dependencies on each other: from this registry.
    for table in ["dependencies", "build-dependencies", "dev-dependencies"] {
        let Some(deps) = doc
            .get_mut(table)
            .and_then(toml_edit::Item::as_table_like_mut)
        else {
            continue;
        };
        for embedded in crate::runtime_copy::crates() {
            if let Some(dep) = deps
                .get_mut(embedded.name)
                .and_then(toml_edit::Item::as_table_like_mut)
            {
                dep.insert("registry", toml_edit::value(registry));
            }
        }
    }
    let package = doc["package"].as_table_mut().ok_or_else(|| {
        CliError::input(
            format!("internal error: `{}` has no [package]", path.display()),
            None,
        )
    })?;
    if let Some(version) = version {
        // No `license`: the modules are their authors', and the lock does
        // not say under which terms.
        package["version"] = toml_edit::value(version);
    }
    if let Some(modules) = modules {
        let mut list = toml_edit::Array::new();
        for m in modules {
            list.push(m.as_str());
        }
        let mut lf = toml_edit::Table::new();
        lf["modules"] = toml_edit::value(list);
        let mut metadata = toml_edit::Table::new();
        metadata.set_implicit(true);
        metadata["latticeflow"] = toml_edit::Item::Table(lf);
        package["metadata"] = toml_edit::Item::Table(metadata);
        let mut dep = toml_edit::InlineTable::new();
        dep.insert("version", format!("={RUNTIME_VERSION}").into());
        dep.insert("registry", registry.into());
        doc["dependencies"]["lf-runtime"] = toml_edit::value(dep);
    }
    std::fs::write(path, doc.to_string()).map_err(io)
}

/// Copies a connector's module from the vendor directory into
/// `crate_dir/modules/<hex>.wasm`, hashing it on the way.
fn copy_module(vendor: &Store, entry: &LockedConnector, crate_dir: &Path) -> Result<(), CliError> {
    let digest = &entry.module.digest;
    let blob = vendor.get(digest, entry.module.size).ok_or_else(|| {
        CliError::input(
            format!("the module of `{}` ({digest}) is not vendored", entry.name),
            "run `lf-resolve vendor`".to_owned(),
        )
    })?;
    let bytes = blob.read().map_err(|source| CliError::Io {
        context: "cannot read",
        path: blob.path().to_owned(),
        source,
    })?;
    let hex = format!("{:x}", Sha256::digest(&bytes));
    if hex != digest.hex() {
        return Err(CliError::CheckFailed {
            message: format!(
                "the vendored module of `{}` does not hash to its locked digest {digest}; nothing was published",
                entry.name
            ),
            reasons: vec![format!(
                "`{}` hashes to sha256:{hex}",
                blob.path().display()
            )],
            help: Some("run `lf-resolve vendor` to restore it".to_owned()),
        });
    }
    let dir = crate_dir.join("modules");
    std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
        context: "cannot create",
        path: dir.clone(),
        source,
    })?;
    let path = dir.join(format!("{hex}.wasm"));
    std::fs::write(&path, &bytes).map_err(|source| CliError::Io {
        context: "cannot write",
        path,
        source,
    })
}

fn sha256_file(path: &Path) -> Result<String, CliError> {
    let mut file = std::fs::File::open(path).map_err(|source| CliError::Io {
        context: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|source| CliError::Io {
            context: "cannot read",
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// How cargo is run: against the registry as `lf-resolve` found it
/// configured (the staging directory is outside the project, so its
/// `.cargo/config.toml` would not apply), with one target directory.
struct Cargo<'a> {
    registry: &'a str,
    index_url: &'a str,
    target_dir: &'a Path,
}

impl Cargo<'_> {
    fn command(&self, subcommand: &str, package: &Package) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg(subcommand)
            .arg("--no-verify")
            .arg("--quiet")
            .args(["--registry", self.registry])
            .arg("--config")
            .arg(format!(
                "registries.{}.index={}",
                self.registry,
                toml_string(self.index_url)
            ))
            .arg("--manifest-path")
            .arg(package.dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(self.target_dir)
            .current_dir(&package.dir)
            .env_remove("CARGO_TARGET_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `cargo package`; the path of the `.crate` file.
    fn package(
        &self,
        package: &Package,
        patches: &[(String, PathBuf)],
    ) -> Result<PathBuf, CliError> {
        let mut cmd = self.command("package", package);
        for (name, dir) in patches {
            cmd.arg("--config").arg(format!(
                "patch.{}.{name}.path={}",
                self.registry,
                toml_string(&dir.to_string_lossy())
            ));
        }
        run_bounded(cmd).map_err(|detail| CliError::Failed {
            message: format!(
                "`cargo package` of `{}` {} failed; nothing was published",
                package.name, package.version
            ),
            reasons: vec![detail],
            help: Some(
                "cargo resolves each crate's dependencies: check that crates.io (or your source replacement) is reachable".to_owned(),
            ),
            code: EXIT_UNAVAILABLE,
        })?;
        Ok(self
            .target_dir
            .join("package")
            .join(format!("{}-{}.crate", package.name, package.version)))
    }

    /// `cargo publish`; cargo's output on failure.
    fn publish(&self, package: &Package) -> Result<(), String> {
        run_bounded(self.command("publish", package))
    }
}

/// Runs `cmd` for at most [`CARGO_TIMEOUT`]; on failure, the tail of its
/// stderr.
fn run_bounded(mut cmd: Command) -> Result<(), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    // Drain both pipes on threads so that a chatty cargo never blocks.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > CARGO_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "cargo did not finish within {} s and was stopped",
                    CARGO_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for cargo: {e}")),
        }
    };
    let _ = out.join();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&stderr);
    let text = text.trim();
    let tail = if text.len() > MAX_CARGO_OUTPUT {
        let mut cut = text.len() - MAX_CARGO_OUTPUT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        format!("…{}", &text[cut..])
    } else {
        text.to_owned()
    };
    Err(format!("{tail} ({status})"))
}

/// A TOML basic string, for `--config KEY=VALUE`.
fn toml_string(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn members(versions: &[Option<&str>]) -> Vec<(ConnectorId, Option<String>)> {
        versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    format!("connector.acme.n{i}").parse().unwrap(),
                    v.map(str::to_owned),
                )
            })
            .collect()
    }

    #[test]
    fn versions_order_by_their_numbers() {
        assert!(version_key("1.10.0") > version_key("1.9.3"));
        assert!(version_key("2.0.0+build") == version_key("2.0.0"));
        assert!(version_key("0.3.0-rc.1") < version_key("0.3.1"));
        assert_eq!(version_key("nonsense"), [0, 0, 0]);
    }

    #[test]
    fn one_connector_gives_its_version() {
        assert_eq!(crate_version(&members(&[Some("1.4.2")])).unwrap(), "1.4.2");
        assert_eq!(crate_version(&members(&[Some("2")])).unwrap(), "2.0.0");
        assert_eq!(crate_version(&members(&[Some("1.4+g1")])).unwrap(), "1.4.0");
        assert_eq!(
            crate_version(&members(&[Some("2024.06.01")])).unwrap(),
            "2024.6.1"
        );
        assert_eq!(crate_version(&members(&[None])).unwrap(), "0.0.0");
    }

    #[test]
    fn several_connectors_sum_and_any_release_moves_the_sum_up() {
        assert_eq!(
            crate_version(&members(&[Some("1.2.3"), Some("0.4.0"), None])).unwrap(),
            "1.6.3"
        );
        let base = crate_version(&members(&[Some("1.9.9"), Some("3.0.1")])).unwrap();
        for bumped in [
            ["2.0.0", "3.0.1"],
            ["1.10.0", "3.0.1"],
            ["1.9.9", "3.0.2"],
            ["1.9.9", "4.0.0"],
        ] {
            let next = crate_version(&members(&[Some(bumped[0]), Some(bumped[1])])).unwrap();
            let parse =
                |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap()).collect() };
            assert!(
                parse(&next) > parse(&base),
                "{bumped:?}: {next} after {base}"
            );
        }
    }

    #[test]
    fn unusable_versions_are_refused_with_the_connector() {
        for bad in ["1.0.0-rc.1", "1.2.3.4", "v1", "1..2", "1.x"] {
            let e = crate_version(&members(&[Some(bad)])).unwrap_err();
            assert!(e.contains("connector.acme.n0") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_staged_lock_is_the_workspace_lock() {
        assert!(WORKSPACE_LOCK.contains("name = \"lf-runtime\""));
        assert!(same_version("1.0.0+a", "1.0.0"));
        assert!(!same_version("1.0.1", "1.0.0"));
        for text in ["a\"b", "/tmp/x y", "it's"] {
            let value: toml_edit::Value = toml_string(text).parse().unwrap();
            assert_eq!(value.as_str(), Some(text));
        }
    }
}
