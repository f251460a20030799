//! `lf-resolve lock`, `fetch` and `verify`: from references to verified bytes
//! in the store and a lockfile that pins them.
//!
//! Data walks one way: config → registry → store (bytes become trusted only
//! there, as [`VerifiedBlob`]) → checks → lock. Nothing is written to the
//! lockfile unless every connector passed; `--locked` writes nothing at all.

use std::collections::BTreeSet;
use std::sync::Arc;

use lf_runtime::spec::Capability;
use serde_json::json;
use tokio::sync::Semaphore;

use lf_lockfile::{
    Abi, BlobRef, CertificationEntry, CertificationMode, Config, ConfigPath, ConnectorConfig,
    ConnectorName, Digest, LockedConnector, Lockfile, Reference, SignatureEntry, SignatureFormat,
    SignatureMode, Trust, path_string,
};

use crate::artifact::{self, OCI_MANIFEST, WasmArtifact};
use crate::cli::{FetchArgs, LockArgs, VerifyArgs};
use crate::commands::{check_named_files, existing_lock, load_config, runtime};
use crate::error::CliError;
use crate::locked::{self, Hashing};
use crate::output::{Printer, human_size};
use crate::registry::{RegistryClient, RegistryError};
use crate::registry::{SignatureKind, stored_signature};
use crate::settings::Settings;
use crate::store::{IndexEntry, Store, StoreError, VerifiedBlob};
use crate::verify::cosign::{Keyless, TrustRoot, TrustedKey};
use crate::verify::policy::{self, LoadedTrust, Outcome, RepositoryBinding};

/// Why one connector could not be locked or fetched.
#[derive(Debug, thiserror::Error)]
enum ConnectorError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("`{reference}` is not a connector artifact: {source}")]
    Artifact {
        reference: String,
        source: artifact::ArtifactError,
    },
    #[error("{0} is not in the store, and --offline forbids downloading it")]
    Missing(String),
    #[error("{message}")]
    Rejected {
        message: String,
        help: Option<String>,
    },
}

impl ConnectorError {
    fn rejected(message: impl Into<String>, help: impl Into<Option<String>>) -> ConnectorError {
        ConnectorError::Rejected {
            message: message.into(),
            help: help.into(),
        }
    }

    /// 3 when the network or the store's content is the problem, 1 when the
    /// bytes were wrong or the connector breaks the rules.
    fn exit_code(&self) -> u8 {
        match self {
            ConnectorError::Registry(e) => crate::error::registry_code(e),
            ConnectorError::Store(e) => crate::error::store_code(e),
            ConnectorError::Missing(_) => crate::error::EXIT_UNAVAILABLE,
            ConnectorError::Artifact { .. } | ConnectorError::Rejected { .. } => {
                crate::error::EXIT_CHECK_FAILED
            }
        }
    }
}

/// What to do with the network and the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// No network: only the store.
    pub(crate) offline: bool,
}

/// Everything one connector job needs.
struct Job {
    name: ConnectorName,
    /// The reference as configured (recorded in the lock).
    configured: Reference,
    /// What to fetch: the configured reference, or pinned to the locked digest.
    target: Reference,
    connector: ConnectorConfig,
    /// Whether the store may already hold what the tag names (the connector
    /// was locked before): then a HEAD can save the manifest download. For a
    /// new connector it would only add a round trip.
    probe: bool,
    /// Whom the signature policy trusts, loaded.
    trust: Arc<LoadedTrust>,
    /// The signature artifact recorded for this connector when it is pinned.
    pinned_signature: Option<(SignatureFormat, Digest)>,
    /// The keys certifications must be signed with, loaded.
    certification_keys: Arc<Vec<TrustedKey>>,
    /// The attestation recorded for this connector when it is pinned.
    pinned_certification: Option<Digest>,
    /// Pinned, and locked under `optional` certification with none found:
    /// offline, that is kept rather than looked up again.
    pinned_uncertified: bool,
}

/// `lf-resolve lock`.
pub fn run(args: &LockArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    check_named_files(&config)?;
    let lock_path = Settings::lock_path(config.path());
    let old = Lockfile::read(&lock_path)?;
    let locked = args.locked || args.frozen;
    let mode = Mode {
        offline: args.offline || args.frozen || args.from_archive.is_some(),
    };

    let mut update = BTreeSet::new();
    for name in &args.update {
        let parsed: Option<ConnectorName> = name.parse().ok();
        match parsed.filter(|n| config.connectors().contains_key(n)) {
            Some(n) => {
                update.insert(n);
            }
            None => {
                let names: Vec<&str> = config.connectors().keys().map(|n| n.as_str()).collect();
                let help = match crate::output::did_you_mean(name, &names) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if names.is_empty() => "the project has no connectors yet".to_owned(),
                    None => format!("the project's connectors: {}", names.join(", ")),
                };
                return Err(CliError::input(
                    format!(
                        "`--update {name}`: no connector named `{name}` in {}",
                        config.path().display()
                    ),
                    help,
                ));
            }
        }
    }
    if locked && !update.is_empty() {
        return Err(CliError::input(
            "`--update` changes the lock, so it cannot be combined with `--locked` or `--frozen`",
            None,
        ));
    }

    // Offline, a vendor directory (when the project has one) is the store;
    // an archive is imported into the cache, which is then the store.
    let store = match crate::commands::vendor::existing(&config) {
        Some(vendor) if mode.offline && args.from_archive.is_none() => vendor,
        _ => open_store(settings)?,
    };
    let archive = match &args.from_archive {
        Some(file) => Some((
            file,
            crate::commands::vendor::import_archive(file, &config, &store, old.as_ref(), printer)?,
        )),
        None => None,
    };
    if locked {
        let Some(lock) = old else {
            return Err(CliError::CheckFailed {
                message: format!(
                    "`{}` does not exist, but `--locked` was given",
                    lock_path.display()
                ),
                reasons: Vec::new(),
                help: Some("run `lf-resolve lock` to create it".to_owned()),
            });
        };
        let mut reasons: Vec<String> = lock
            .staleness(&config)
            .iter()
            .map(ToString::to_string)
            .collect();
        reasons.extend(
            key_staleness(&config, &lock)?
                .into_iter()
                .chain(certification_key_staleness(&config, &lock)?)
                .map(|(_, reason)| reason),
        );
        if !reasons.is_empty() {
            return Err(CliError::CheckFailed {
                message: format!(
                    "`{}` needs to be updated, but `--locked` was given",
                    lock_path.display()
                ),
                reasons,
                help: Some("run `lf-resolve lock` to update it".to_owned()),
            });
        }
        if let Some((file, imported)) = &archive {
            crate::commands::vendor::archive_covers(file, imported, &lock_path, lock.connectors())?;
        }
        ensure_locked(
            &config,
            &lock,
            &store,
            mode,
            Presence::Exists,
            args.jobs.map(usize::from),
            printer,
        )?;
        let problems = disagreements(&config, &store, &lock, Hashing::Sections)?;
        if !problems.is_empty() {
            return Err(CliError::CheckFailed {
                message: format!(
                    "`{}` does not match the bytes it pins in `{}`",
                    lock_path.display(),
                    store.root().display()
                ),
                reasons: problems,
                help: Some(
                    "the lock or the stored artifacts were changed by hand: run `lf-resolve lock` to re-derive the lock from the registry, and review the change".to_owned(),
                ),
            });
        }
        printer.status(
            "Checked",
            format!(
                "{}: {} connector{}, up to date",
                lock_path.display(),
                lock.connectors().len(),
                plural(lock.connectors().len())
            ),
            &json!({"type": "lock", "status": "fresh", "path": lock_path, "connectors": lock.connectors().len()}),
        );
        return Ok(());
    }

    let mut stale: BTreeSet<ConnectorName> = old
        .as_ref()
        .map(|lock| {
            lock.staleness(&config)
                .iter()
                .map(|s| s.name().clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(lock) = &old {
        stale.extend(
            key_staleness(&config, lock)?
                .into_iter()
                .chain(certification_key_staleness(&config, lock)?)
                .map(|(name, _)| name),
        );
    }
    let mut jobs = Vec::new();
    let mut kept = Vec::new();
    for (name, connector) in config.connectors() {
        let pinned = old
            .as_ref()
            .and_then(|lock| lock.get(name))
            .filter(|_| !stale.contains(name) && !update.contains(name));
        kept.extend(pinned);
        // Not pinned: an archive's index can say what the reference names.
        let from_archive = archive
            .as_ref()
            .filter(|_| pinned.is_none())
            .and_then(|(_, imported)| imported.pins(&connector.reference));
        let target = match (pinned, &from_archive) {
            (Some(entry), _) => connector.reference.with_digest(entry.digest.clone()),
            (None, Some(pins)) => connector.reference.with_digest(pins.digest.clone()),
            (None, None) if mode.offline && connector.reference.digest().is_none() => {
                return Err(CliError::input(
                    format!(
                        "connector `{name}` is not pinned in {}, and --offline forbids resolving `{}`",
                        lock_path.display(),
                        connector.reference
                    ),
                    if args.from_archive.is_some() {
                        "the archive's index.json does not name it either: make the archive from a lock that has it".to_owned()
                    } else {
                        "run `lf-resolve lock` once with network access".to_owned()
                    },
                ));
            }
            (None, _) => connector.reference.clone(),
        };
        let probe = old.as_ref().is_some_and(|lock| lock.get(name).is_some());
        let pinned_signature = pinned
            .and_then(|entry| entry.signature.verified.as_ref())
            .map(|v| (v.format, v.digest.clone()))
            .or_else(|| from_archive.as_ref().and_then(|p| p.signature.clone()));
        let trust = Arc::new(load_trust(&config, connector)?);
        let pinned_certification = pinned
            .and_then(|entry| entry.certification.verified.as_ref())
            .map(|v| v.digest.clone())
            .or_else(|| from_archive.as_ref().and_then(|p| p.certification.clone()));
        let certification_keys = Arc::new(load_certification_keys(&config, connector)?);
        let pinned_uncertified = pinned.is_some_and(|entry| {
            entry.certification.policy == CertificationMode::Optional
                && entry.certification.verified.is_none()
        }) || from_archive.as_ref().is_some_and(|p| {
            connector.certification.mode == CertificationMode::Optional && p.certification.is_none()
        });
        jobs.push(Job {
            name: name.clone(),
            configured: connector.reference.clone(),
            target,
            connector: connector.clone(),
            probe,
            trust,
            pinned_signature,
            certification_keys,
            pinned_certification,
            pinned_uncertified,
        });
    }

    if let Some((file, imported)) = &archive {
        crate::commands::vendor::archive_covers(file, imported, &lock_path, kept)?;
    }
    let client = RegistryClient::new(&config);
    let config = Arc::new(config);
    let progress = printer.progress(jobs.len());
    let results = runtime()?.block_on(run_jobs(jobs, args.jobs.map(usize::from), |job| {
        let client = client.clone();
        let store = store.clone();
        let config = Arc::clone(&config);
        let progress = progress.clone();
        async move {
            let bar = progress.connector(job.name.as_str());
            let result = lock_one(&client, &store, &config, &job, mode, &bar).await;
            bar.finish();
            (job, result)
        }
    }));
    progress.clear();
    for warning in client.take_warnings() {
        printer.warning(warning);
    }

    let mut entries = Vec::new();
    let mut index = Vec::new();
    let mut failures = Vec::new();
    for (job, result) in results {
        match result {
            Ok((entry, manifest_size, downloaded, warnings)) => {
                for warning in warnings {
                    printer.warning(format!("connector `{}`: {warning}", entry.name));
                }
                if entry.abi == Abi::V2
                    && entry.hosts.is_empty()
                    && (entry.grants.contains(&Capability::HttpRead)
                        || entry.grants.contains(&Capability::HttpWrite))
                {
                    printer.warning(format!(
                        "connector `{}` is granted HTTP but no `hosts`: every request it makes will be refused; list the servers it may reach in `hosts` in {}",
                        entry.name,
                        config.path().display()
                    ));
                }
                printer.status(
                    "Resolved",
                    format!(
                        "{} {} → {}{}",
                        entry.name,
                        entry.reference,
                        short(&entry.digest),
                        if downloaded > 0 {
                            format!(" ({} downloaded)", human_size(downloaded))
                        } else {
                            String::new()
                        }
                    ),
                    &json!({
                        "type": "resolved",
                        "name": entry.name.as_str(),
                        "id": entry.id.as_str(),
                        "ref": entry.reference.to_string(),
                        "digest": entry.digest.to_string(),
                        "module": {"digest": entry.module.digest.to_string(), "size": entry.module.size},
                        "capabilities": entry.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                        "abi": entry.abi.number(),
                        "sandboxed": entry.sandboxed,
                        "certification": entry.certification.verified.as_ref().map(|v| json!({"result": v.result.as_str(), "key": v.key.to_string(), "digest": v.digest.to_string()})),
                        "downloaded": downloaded,
                    }),
                );
                index.push(index_entry(&entry.reference, &entry.digest, manifest_size));
                if let Some(signature) = signature_index_entry(&store, &entry) {
                    index.push(signature);
                }
                index.extend(attestation_index_entry(&store, &entry));
                entries.push(entry);
            }
            Err(e) => failures.push((job.name, e)),
        }
    }
    if !failures.is_empty() {
        return Err(connector_failures(&failures, "lock"));
    }
    let lock = Lockfile::new(entries).map_err(|e| CliError::input(e.to_string(), None))?;
    store
        .update_index(index)
        .map_err(|e| CliError::input(format!("cannot update the store index: {e}"), None))?;
    let written = lock
        .write_if_changed(&lock_path)
        .map_err(|source| CliError::Io {
            context: "cannot write",
            path: lock_path.clone(),
            source,
        })?;
    let count = lock.connectors().len();
    printer.status(
        if written { "Wrote" } else { "Unchanged" },
        format!("{} ({count} connector{})", lock_path.display(), plural(count)),
        &json!({"type": "lock", "status": if written { "written" } else { "unchanged" }, "path": lock_path, "connectors": count}),
    );
    Ok(())
}

/// `lf-resolve fetch`: brings the store up to the lockfile, by digest only.
pub fn fetch(args: &FetchArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (lock_path, lock) = existing_lock(&config)?;
    let store = open_store(settings)?;
    let mode = Mode {
        offline: args.from_archive.is_some(),
    };
    if let Some(file) = &args.from_archive {
        let imported =
            crate::commands::vendor::import_archive(file, &config, &store, Some(&lock), printer)?;
        crate::commands::vendor::archive_covers(file, &imported, &lock_path, lock.connectors())?;
    }
    // A vendor directory, when there is one, fills the store without network.
    if let Some(vendor) = crate::commands::vendor::existing(&config) {
        // Anything the vendor directory lacks is downloaded below.
        if let Ok((_, copied)) = crate::commands::vendor::copy_locked(&vendor, &store, &lock)
            && copied > 0
        {
            printer.status(
                "Copied",
                format!("{} from {}", human_size(copied), vendor.root().display()),
                &json!({"type": "fetch", "from": vendor.root(), "copied": copied}),
            );
        }
    }
    let fetched = ensure_locked(
        &config,
        &lock,
        &store,
        mode,
        Presence::Verified,
        args.jobs.map(usize::from),
        printer,
    )?;
    printer.status(
        "Fetched",
        format!(
            "{} connector{} from {} ({} downloaded)",
            lock.connectors().len(),
            plural(lock.connectors().len()),
            lock_path.display(),
            human_size(fetched)
        ),
        &json!({"type": "fetch", "connectors": lock.connectors().len(), "downloaded": fetched}),
    );
    Ok(())
}

/// `lf-resolve verify`: re-hashes every locked blob in the store.
pub fn verify(args: &VerifyArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (_, lock) = existing_lock(&config)?;
    // With a vendor directory, that is what builds read: verify it.
    let store = match crate::commands::vendor::existing(&config) {
        Some(vendor) => vendor,
        None => open_store(settings)?,
    };
    let mut corrupted = Vec::new();
    let mut mismatched = Vec::new();
    let mut checked = 0usize;
    let mut checked_signatures = 0usize;
    let mut checked_certifications = 0usize;
    for entry in lock.connectors() {
        let mut intact = true;
        match store.rehash_any_size(&entry.digest) {
            Ok(_) => {}
            Err(e) => {
                intact = false;
                corrupted.push(format!(
                    "connector `{}`: manifest {}: {e}",
                    entry.name, entry.digest
                ));
            }
        }
        checked += 1;
        let blobs = [
            ("config", &entry.config.digest, entry.config.size),
            ("module", &entry.module.digest, entry.module.size),
        ];
        for (what, digest, size) in blobs {
            checked += 1;
            if let Err(e) = store.rehash(digest, size) {
                intact = false;
                corrupted.push(format!("connector `{}`: {what} {digest}: {e}", entry.name));
            }
        }
        // Every blob hashed: what the lock says of them must be what they say.
        if intact && let Err(found) = locked::rederive(&config, &store, entry, Hashing::Sections) {
            mismatched.extend(found);
        }
        mismatched.extend(reverify_signature(&config, &store, entry)?);
        checked_signatures += usize::from(entry.signature.verified.is_some());
        mismatched.extend(reverify_certification(&config, &store, entry)?);
        checked_certifications += usize::from(entry.certification.verified.is_some());
    }
    let vendored = crate::commands::vendor::existing(&config).is_some();
    if !corrupted.is_empty() || !mismatched.is_empty() {
        let help = if mismatched.is_empty() {
            if vendored {
                "run `lf-resolve vendor` to replace the damaged files with verified copies from the cache (or the registry)"
            } else {
                "run `lf-resolve fetch` to replace the damaged files with verified copies from the registry"
            }
        } else {
            "the lock and the bytes it pins disagree: if the lock or vendor/ was edited by hand, run `lf-resolve lock` to derive it again from the registry, and review the change"
        };
        let problems: Vec<String> = corrupted.into_iter().chain(mismatched).collect();
        return Err(CliError::CheckFailed {
            message: format!(
                "{} problem{} with the {checked} locked blobs and {checked_signatures} signatures in `{}`",
                problems.len(),
                plural(problems.len()),
                store.root().display()
            ),
            reasons: problems,
            help: Some(help.to_owned()),
        });
    }
    if args.remote {
        remote_check(&config, &lock)?;
    }
    printer.status(
        "Verified",
        format!(
            "{checked} blobs and {checked_signatures} signature{} of {} connector{} in {}{}",
            plural(checked_signatures),
            lock.connectors().len(),
            plural(lock.connectors().len()),
            store.root().display(),
            if checked_certifications > 0 {
                format!(
                    ", and {checked_certifications} certification{}",
                    plural(checked_certifications)
                )
            } else {
                String::new()
            }
        ),
        &json!({"type": "verify", "status": "ok", "blobs": checked, "signatures": checked_signatures, "certifications": checked_certifications}),
    );
    Ok(())
}

fn open_store(settings: &Settings) -> Result<Store, CliError> {
    Store::open(&settings.cache_dir).map_err(|e| {
        CliError::input(
            format!("cannot open the content store: {e}"),
            "pass another `--cache-dir` (or LF_CACHE_DIR)".to_owned(),
        )
    })
}

/// Runs `work` on every job, at most `jobs` at a time; results in job order.
async fn run_jobs<J, F, Fut, T>(items: Vec<J>, jobs: Option<usize>, work: F) -> Vec<T>
where
    F: Fn(J) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let limit = Arc::new(Semaphore::new(jobs.unwrap_or(16).max(1)));
    let mut handles = Vec::with_capacity(items.len());
    for item in items {
        let limit = Arc::clone(&limit);
        let fut = work(item);
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(value) => out.push(value),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// Resolves, downloads and checks one connector. Returns its lock entry,
/// the manifest size, and the bytes downloaded.
async fn lock_one(
    client: &RegistryClient,
    store: &Store,
    config: &Config,
    job: &Job,
    mode: Mode,
    bar: &crate::output::ConnectorBar,
) -> Result<(LockedConnector, u64, u64, Vec<String>), ConnectorError> {
    let mut transfer = Transfer::default();
    let (manifest_digest, manifest) = manifest(
        client,
        store,
        &job.target,
        mode,
        job.probe,
        &mut transfer.downloaded,
    )
    .await?;
    let (signature, warnings) = signature(client, store, job, &manifest_digest, mode).await?;
    transfer.warnings.extend(warnings);
    let (certification, warnings) =
        certification(client, store, job, &manifest_digest, mode).await?;
    transfer.warnings.extend(warnings);
    let manifest_bytes = manifest.read().map_err(|e| store_io(&manifest, e))?;
    let artifact =
        artifact::parse_manifest(&manifest_bytes).map_err(|source| ConnectorError::Artifact {
            reference: job.target.to_string(),
            source,
        })?;
    client.check_artifact(&job.target, &artifact)?;
    bar.set_length(artifact.module.size + artifact.config.size);
    let config_blob = blob(
        client,
        store,
        &job.target,
        &artifact.config,
        mode,
        bar,
        &mut transfer,
    )
    .await?;
    let config_bytes = config_blob.read().map_err(|e| store_io(&config_blob, e))?;
    artifact::check_config(&config_bytes).map_err(|source| ConnectorError::Artifact {
        reference: job.target.to_string(),
        source,
    })?;
    let module = blob(
        client,
        store,
        &job.target,
        &artifact.module,
        mode,
        bar,
        &mut transfer,
    )
    .await?;
    let entry = check_connector(
        config,
        job,
        &manifest_digest,
        &artifact,
        &module,
        signature,
        certification,
    )?;
    Ok((
        entry,
        manifest_bytes.len() as u64,
        transfer.downloaded,
        transfer.warnings,
    ))
}

async fn manifest(
    client: &RegistryClient,
    store: &Store,
    target: &Reference,
    mode: Mode,
    probe: bool,
    downloaded: &mut u64,
) -> Result<(Digest, VerifiedBlob), ConnectorError> {
    if let Some(digest) = target.digest()
        && let Ok(blob) = store.rehash_any_size(digest)
    {
        return Ok((digest.clone(), blob));
    }
    if mode.offline {
        return Err(ConnectorError::Missing(format!(
            "the manifest of `{target}`"
        )));
    }
    // HEAD first when the store may already hold what the tag names.
    if probe
        && target.digest().is_none()
        && let Some(digest) = client.head_manifest(target).await
        && let Ok(blob) = store.rehash_any_size(&digest)
    {
        return Ok((digest, blob));
    }
    let fetched = client.fetch_manifest(target).await?;
    *downloaded += fetched.bytes.len() as u64;
    let blob = store.put(&fetched.digest, &fetched.bytes)?;
    Ok((fetched.digest, blob))
}

/// What one connector's transfers did: the bytes downloaded, and warnings
/// to show with its result.
#[derive(Debug, Default)]
struct Transfer {
    downloaded: u64,
    warnings: Vec<String>,
}

async fn blob(
    client: &RegistryClient,
    store: &Store,
    target: &Reference,
    blob: &BlobRef,
    mode: Mode,
    bar: &crate::output::ConnectorBar,
    transfer: &mut Transfer,
) -> Result<VerifiedBlob, ConnectorError> {
    // A stored blob is re-hashed before its fields are read into a lock: a
    // damaged cache must not decide what gets locked.
    match store.rehash(&blob.digest, blob.size) {
        Ok(found) => {
            bar.inc(blob.size);
            return Ok(found);
        }
        Err(StoreError::Missing { .. }) => {}
        Err(e) if mode.offline => return Err(ConnectorError::Store(e)),
        Err(e) => {
            transfer.warnings.push(format!("{e}; downloading it again"));
            store.discard(&blob.digest)?;
        }
    }
    if mode.offline {
        return Err(ConnectorError::Missing(format!(
            "blob {} of `{target}`",
            blob.digest
        )));
    }
    let (verified, fetched) = client
        .pull_blob(target, &blob.digest, blob.size, store, &|n| bar.inc(n))
        .await?;
    transfer.downloaded += fetched;
    Ok(verified)
}

fn store_io(blob: &VerifiedBlob, source: std::io::Error) -> ConnectorError {
    ConnectorError::Store(StoreError::Io {
        path: blob.path().to_owned(),
        source,
    })
}

/// The checks between verified bytes and a lock entry (see
/// [`crate::locked::derive`]), plus the signature policy's outcome.
fn check_connector(
    config: &Config,
    job: &Job,
    manifest_digest: &Digest,
    artifact: &WasmArtifact,
    module: &VerifiedBlob,
    signature: SignatureEntry,
    certification: CertificationEntry,
) -> Result<LockedConnector, ConnectorError> {
    let derived = locked::derive(
        config,
        &job.name,
        &job.connector,
        &job.configured,
        artifact,
        module,
    )
    .map_err(|r| ConnectorError::rejected(r.message, r.help))?;
    Ok(LockedConnector {
        name: job.name.clone(),
        id: derived.id().clone(),
        reference: job.configured.clone(),
        digest: manifest_digest.clone(),
        module: derived.module,
        config: derived.config,
        capabilities: derived.manifest.capabilities().clone(),
        grants: job.connector.grants.clone(),
        hosts: job.connector.hosts.clone(),
        deterministic: derived.manifest.deterministic(),
        abi: derived.abi,
        sandboxed: derived.sandboxed,
        signature,
        certification,
        spec: derived.spec,
    })
}

/// Every way `lock` disagrees with the bytes in `store`: entries re-derived
/// from their artifacts, and stored signatures re-verified.
pub(crate) fn disagreements(
    config: &Config,
    store: &Store,
    lock: &Lockfile,
    hashing: Hashing,
) -> Result<Vec<String>, CliError> {
    let mut problems = Vec::new();
    for entry in lock.connectors() {
        if let Err(found) = locked::rederive(config, store, entry, hashing) {
            problems.extend(found);
        }
        problems.extend(reverify_signature(config, store, entry)?);
        problems.extend(reverify_certification(config, store, entry)?);
    }
    Ok(problems)
}

/// Re-verifies the stored signature artifact a lock entry records, offline,
/// against the keys or identity `latticeflow.toml` trusts.
fn reverify_signature(
    config: &Config,
    store: &Store,
    entry: &LockedConnector,
) -> Result<Option<String>, CliError> {
    let Some(verified) = &entry.signature.verified else {
        return Ok(None);
    };
    let Some(connector) = config.connectors().get(&entry.name) else {
        return Ok(None);
    };
    let kind = match verified.format {
        SignatureFormat::SimpleSigning => SignatureKind::SimpleSigning,
        SignatureFormat::BundleV03 => SignatureKind::Referrer,
    };
    let Some(artifact) = stored_signature(store, &verified.digest, kind, &entry.reference) else {
        return Ok(Some(format!(
            "connector `{}`: the signature artifact {} is not in the store",
            entry.name, verified.digest
        )));
    };
    let trust = load_trust(config, connector)?;
    match policy::apply(
        entry.signature.policy,
        &trust,
        &entry.digest,
        &binding(connector),
        &[artifact],
        &TrustRoot::pinned(),
    ) {
        Outcome::Verified(found)
            if found.verified.as_ref().map(|v| &v.signer) == Some(&verified.signer) =>
        {
            Ok(None)
        }
        Outcome::Verified(_) => Ok(Some(format!(
            "connector `{}`: the stored signature verifies, but not by the signer the lock records",
            entry.name
        ))),
        Outcome::Unverified(_, reasons) | Outcome::Rejected(reasons) => Ok(Some(format!(
            "connector `{}`: the stored signature {} no longer verifies: {}",
            entry.name,
            verified.digest,
            reasons.join("; ")
        ))),
    }
}

/// The repositories a connector's signature may name.
pub(crate) fn binding(connector: &ConnectorConfig) -> RepositoryBinding {
    RepositoryBinding::new(&connector.reference, connector.signed_repository.as_ref())
}

/// `verify --remote`: the registry still serves every locked manifest and
/// signature artifact. An unreachable registry is exit 3 (try again later),
/// a registry that no longer serves what the lock pins is exit 1.
fn remote_check(config: &Config, lock: &Lockfile) -> Result<(), CliError> {
    let client = RegistryClient::new(config);
    let mut gone = Vec::new();
    let mut unreachable = Vec::new();
    runtime()?.block_on(async {
        for entry in lock.connectors() {
            let mut wanted = vec![entry.digest.clone()];
            wanted.extend(entry.signature.verified.as_ref().map(|v| v.digest.clone()));
            wanted.extend(
                entry
                    .certification
                    .verified
                    .as_ref()
                    .map(|v| v.digest.clone()),
            );
            for digest in wanted {
                let target = entry.reference.without_digest().with_digest(digest.clone());
                match client.fetch_manifest(&target).await {
                    Ok(_) => {}
                    Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Other { .. })) => {
                        unreachable.push(format!("connector `{}`: {e}", entry.name));
                    }
                    Err(e) => gone.push(format!(
                        "connector `{}`: the registry no longer serves {digest}: {e}",
                        entry.name
                    )),
                }
            }
        }
    });
    if !gone.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "the registry no longer serves {} locked artifact{}",
                gone.len(),
                plural(gone.len())
            ),
            reasons: gone,
            help: Some(
                "the bytes in the store and vendor/ still verify; republish or mirror the artifacts, or lock other references".to_owned(),
            ),
        });
    }
    if !unreachable.is_empty() {
        return Err(CliError::Failed {
            message: "cannot check the registry: it is unreachable".to_owned(),
            reasons: unreachable,
            help: Some(
                "the local checks passed; run `lf-resolve verify --remote` again when the registry is reachable".to_owned(),
            ),
            code: crate::error::EXIT_UNAVAILABLE,
        });
    }
    Ok(())
}

/// Locked connectors whose recorded signing key is no longer among the keys
/// `latticeflow.toml` trusts for them (the fingerprint check staleness in
/// `lf-lockfile` cannot do without reading the key files).
fn key_staleness(
    config: &Config,
    lock: &Lockfile,
) -> Result<Vec<(ConnectorName, String)>, CliError> {
    let mut out = Vec::new();
    for entry in lock.connectors() {
        let Some(connector) = config.connectors().get(&entry.name) else {
            continue;
        };
        let Some(lf_lockfile::VerifiedSignature {
            signer: lf_lockfile::Signer::Key(fingerprint),
            ..
        }) = entry.signature.verified.as_ref()
        else {
            continue;
        };
        if let LoadedTrust::Keys(keys) = load_trust(config, connector)?
            && !keys.is_empty()
            && !keys.iter().any(|k| k.fingerprint() == fingerprint)
        {
            out.push((
                entry.name.clone(),
                format!(
                    "the key that signed connector `{}` ({fingerprint}) is no longer trusted by latticeflow.toml",
                    entry.name
                ),
            ));
        }
    }
    Ok(out)
}

/// Locked connectors whose recorded certification key is no longer among the
/// keys `latticeflow.toml` trusts for their certifications.
fn certification_key_staleness(
    config: &Config,
    lock: &Lockfile,
) -> Result<Vec<(ConnectorName, String)>, CliError> {
    let mut out = Vec::new();
    for entry in lock.connectors() {
        let (Some(connector), Some(verified)) = (
            config.connectors().get(&entry.name),
            entry.certification.verified.as_ref(),
        ) else {
            continue;
        };
        let keys = load_certification_keys(config, connector)?;
        if !keys.iter().any(|k| *k.fingerprint() == verified.key) {
            out.push((
                entry.name.clone(),
                format!(
                    "the key that certified connector `{}` ({}) is no longer trusted by latticeflow.toml",
                    entry.name, verified.key
                ),
            ));
        }
    }
    Ok(out)
}

/// Loads the keys (or keyless identity) a connector's policy trusts.
pub(crate) fn load_trust(
    config: &Config,
    connector: &ConnectorConfig,
) -> Result<LoadedTrust, CliError> {
    if connector.signature.mode == SignatureMode::None {
        return Ok(LoadedTrust::Keys(Vec::new()));
    }
    match &connector.signature.trust {
        Trust::Keyless { identity, issuer } => Ok(LoadedTrust::Keyless(Keyless {
            identity: identity.clone(),
            issuer: issuer.clone(),
        })),
        Trust::Keys(paths) => Ok(LoadedTrust::Keys(load_keys(config, paths)?)),
    }
}

/// Reads the public keys at `paths` (as written in `latticeflow.toml`).
fn load_keys(config: &Config, paths: &[ConfigPath]) -> Result<Vec<TrustedKey>, CliError> {
    let mut keys = Vec::with_capacity(paths.len());
    for path in paths {
        let file = config.resolve(&path.path);
        let pem = std::fs::read(&file).map_err(|e| {
            CliError::Located(config.diagnostic(
                path.span.clone(),
                format!("cannot read key file `{}`: {e}", path.path.display()),
            ))
        })?;
        let key = TrustedKey::from_pem(&pem, &path_string(&path.path))
            .map_err(|e| CliError::Located(config.diagnostic(path.span.clone(), e.to_string())))?;
        keys.push(key);
    }
    Ok(keys)
}

/// The keys a connector's certifications must be signed with: the keys its
/// signature policy trusts (the connector's own `signature.keys`, else
/// `[policy] keys`); for a connector whose signatures are keyless, the
/// `[policy] keys`. None are read when certification is `none`.
fn load_certification_keys(
    config: &Config,
    connector: &ConnectorConfig,
) -> Result<Vec<TrustedKey>, CliError> {
    if connector.certification.mode == CertificationMode::None {
        return Ok(Vec::new());
    }
    match &connector.signature.trust {
        Trust::Keys(paths) => load_keys(config, paths),
        Trust::Keyless { .. } => load_keys(config, &config.policy().keys),
    }
}

/// Finds and verifies the certification attestations of a connector per its
/// policy (see [`crate::attest::apply`] for the rule).
async fn certification(
    client: &RegistryClient,
    store: &Store,
    job: &Job,
    subject: &Digest,
    mode: Mode,
) -> Result<(CertificationEntry, Vec<String>), ConnectorError> {
    let policy = job.connector.certification;
    if policy.mode == CertificationMode::None {
        return Ok((CertificationEntry::default(), Vec::new()));
    }
    let stored = job
        .pinned_certification
        .as_ref()
        .and_then(|digest| stored_signature(store, digest, SignatureKind::Referrer, &job.target));
    let artifacts = match stored {
        Some(found) => vec![found],
        None if mode.offline && job.pinned_uncertified => {
            return Ok((
                CertificationEntry {
                    policy: CertificationMode::Optional,
                    verified: None,
                },
                vec!["no certification was recorded (policy `optional`); not looked up again offline".to_owned()],
            ));
        }
        None if mode.offline => {
            return Err(ConnectorError::Missing(format!(
                "the certification of `{}`",
                job.target
            )));
        }
        None => {
            client
                .fetch_attestations(
                    &job.target,
                    subject,
                    store,
                    crate::attest::TEST_RESULT_PREDICATE_TYPE,
                )
                .await?
        }
    };
    match crate::attest::apply(
        policy,
        &job.certification_keys,
        subject,
        &artifacts,
        job.name.as_str(),
        &job.configured,
    ) {
        crate::attest::Outcome::Accepted(entry, warnings) => Ok((entry, warnings)),
        crate::attest::Outcome::Refused {
            message,
            reasons,
            help,
        } => Err(ConnectorError::rejected(
            if reasons.is_empty() {
                message
            } else {
                format!(
                    "{message}:\n{}",
                    reasons
                        .iter()
                        .map(|r| format!("    - {r}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            },
            help,
        )),
    }
}

/// Re-verifies the stored attestation a lock entry records, offline: against
/// the lock's manifest digest and the keys `latticeflow.toml` trusts, and it
/// must give the recorded result, key and digest.
fn reverify_certification(
    config: &Config,
    store: &Store,
    entry: &LockedConnector,
) -> Result<Option<String>, CliError> {
    let Some(verified) = &entry.certification.verified else {
        return Ok(None);
    };
    let Some(connector) = config.connectors().get(&entry.name) else {
        return Ok(None);
    };
    let Some(artifact) = stored_signature(
        store,
        &verified.digest,
        SignatureKind::Referrer,
        &entry.reference,
    ) else {
        return Ok(Some(format!(
            "connector `{}`: the certification attestation {} is not in the store",
            entry.name, verified.digest
        )));
    };
    let keys = load_certification_keys(config, connector)?;
    let policy = lf_lockfile::CertificationPolicy {
        mode: entry.certification.policy,
        allow_warned: connector.certification.allow_warned,
    };
    match crate::attest::apply(
        policy,
        &keys,
        &entry.digest,
        &[artifact],
        entry.name.as_str(),
        &entry.reference,
    ) {
        crate::attest::Outcome::Accepted(found, _) if found.verified.as_ref() == Some(verified) => {
            Ok(None)
        }
        crate::attest::Outcome::Accepted(found, reasons) => Ok(Some(match found.verified {
            Some(other) => format!(
                "connector `{}`: the stored certification verifies as {} by {}, but the lock records {} by {}",
                entry.name, other.result, other.key, verified.result, verified.key
            ),
            None => format!(
                "connector `{}`: the stored certification {} no longer verifies: {}",
                entry.name,
                verified.digest,
                reasons.join("; ")
            ),
        })),
        crate::attest::Outcome::Refused {
            message, reasons, ..
        } => Ok(Some(format!(
            "connector `{}`: the stored certification {} no longer verifies: {message}{}",
            entry.name,
            verified.digest,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join("; "))
            }
        ))),
    }
}

/// Finds and verifies the signatures of a connector per its policy.
async fn signature(
    client: &RegistryClient,
    store: &Store,
    job: &Job,
    subject: &Digest,
    mode: Mode,
) -> Result<(SignatureEntry, Vec<String>), ConnectorError> {
    let policy_mode = job.connector.signature.mode;
    if policy_mode == SignatureMode::None {
        return Ok((
            SignatureEntry {
                policy: SignatureMode::None,
                verified: None,
            },
            Vec::new(),
        ));
    }
    let stored = job.pinned_signature.as_ref().and_then(|(format, digest)| {
        let kind = match format {
            SignatureFormat::SimpleSigning => SignatureKind::SimpleSigning,
            SignatureFormat::BundleV03 => SignatureKind::Referrer,
        };
        stored_signature(store, digest, kind, &job.target)
    });
    let artifacts = match stored {
        Some(found) => vec![found],
        None if mode.offline => {
            return Err(ConnectorError::Missing(format!(
                "the signatures of `{}`",
                job.target
            )));
        }
        None => client.fetch_signatures(&job.target, subject, store).await?,
    };
    match policy::apply(
        policy_mode,
        &job.trust,
        subject,
        &binding(&job.connector),
        &artifacts,
        &TrustRoot::pinned(),
    ) {
        Outcome::Verified(entry) => Ok((entry, Vec::new())),
        Outcome::Unverified(entry, reasons) => {
            let mut warnings = vec!["no signature verified (policy `optional`)".to_owned()];
            warnings.extend(reasons);
            Ok((entry, warnings))
        }
        Outcome::Rejected(reasons) => Err(ConnectorError::rejected(
            format!(
                "connector `{}` ({subject}) requires a verified signature (policy `required`), and none verified:\n{}",
                job.name,
                reasons
                    .iter()
                    .map(|r| format!("    - {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            format!(
                "sign it with `lf-resolve sign {} --key <cosign.key>`, or check the keys trusted for `{}`",
                job.configured.without_digest(),
                job.name
            ),
        )),
    }
}

/// How [`ensure_locked`] decides that a locked blob is already in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The file exists with the locked size (a warm `lock --locked`; the
    /// caller re-derives the entry from the bytes afterwards).
    Exists,
    /// The file re-hashes to its digest; a damaged one is removed from the
    /// cache and downloaded again (`fetch`, `vendor`).
    Verified,
}

/// Makes sure every blob the lock names is in the store, downloading missing
/// ones by digest (never by tag) unless offline. Returns bytes downloaded.
pub(crate) fn ensure_locked(
    config: &Config,
    lock: &Lockfile,
    store: &Store,
    mode: Mode,
    presence: Presence,
    jobs: Option<usize>,
    printer: &Printer,
) -> Result<u64, CliError> {
    let mut damaged: Vec<(ConnectorName, ConnectorError)> = Vec::new();
    let mut missing: Vec<&LockedConnector> = Vec::new();
    for c in lock.connectors() {
        let blobs = [
            (&c.digest, None),
            (&c.config.digest, Some(c.config.size)),
            (&c.module.digest, Some(c.module.size)),
        ];
        let mut complete = true;
        for (digest, size) in blobs {
            let found = match (presence, size) {
                (Presence::Exists, Some(size)) => store.get(digest, size).ok_or(None),
                (Presence::Exists, None) => store.get_any_size(digest).ok_or(None),
                (Presence::Verified, Some(size)) => store.rehash(digest, size).map_err(Some),
                (Presence::Verified, None) => store.rehash_any_size(digest).map_err(Some),
            };
            match found {
                Ok(_) => {}
                Err(None | Some(StoreError::Missing { .. })) => complete = false,
                Err(Some(e)) if mode.offline => {
                    complete = false;
                    damaged.push((c.name.clone(), ConnectorError::Store(e)));
                }
                Err(Some(e)) => {
                    printer.warning(format!("connector `{}`: {e}; downloading it again", c.name));
                    store.discard(digest).map_err(|e| {
                        CliError::input(format!("cannot remove a damaged blob: {e}"), None)
                    })?;
                    complete = false;
                }
            }
        }
        let signature_missing = c.signature.verified.as_ref().is_some_and(|v| {
            stored_signature(store, &v.digest, signature_kind(v.format), &c.reference).is_none()
        });
        let attestation_missing = c.certification.verified.as_ref().is_some_and(|v| {
            stored_signature(store, &v.digest, SignatureKind::Referrer, &c.reference).is_none()
        });
        if !complete || signature_missing || attestation_missing {
            missing.push(c);
        }
    }
    if !damaged.is_empty() {
        return Err(connector_failures(&damaged, "fetch"));
    }
    if missing.is_empty() {
        return Ok(0);
    }
    if mode.offline {
        let failures: Vec<(ConnectorName, ConnectorError)> = missing
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    ConnectorError::Missing(format!(
                        "`{}` ({})",
                        c.reference.with_digest(c.digest.clone()),
                        short(&c.digest)
                    )),
                )
            })
            .collect();
        return Err(connector_failures(&failures, "fetch"));
    }
    let client = RegistryClient::new(config);
    let progress = printer.progress(missing.len());
    let work: Vec<LockedConnector> = missing.into_iter().cloned().collect();
    let results = runtime()?.block_on(run_jobs(work, jobs, |entry| {
        let client = client.clone();
        let store = store.clone();
        let progress = progress.clone();
        async move {
            let bar = progress.connector(entry.name.as_str());
            let target = entry.reference.with_digest(entry.digest.clone());
            let mut transfer = Transfer::default();
            let result = async {
                let (_, manifest) = manifest(&client, &store, &target, Mode { offline: false }, false, &mut transfer.downloaded).await?;
                let bytes = manifest.read().map_err(|e| store_io(&manifest, e))?;
                let artifact = artifact::parse_manifest(&bytes).map_err(|source| ConnectorError::Artifact {
                    reference: target.to_string(),
                    source,
                })?;
                client.check_artifact(&target, &artifact)?;
                if artifact.module != entry.module || artifact.config != entry.config {
                    return Err(ConnectorError::rejected(
                        format!("connector `{}`: the manifest {} names other blobs than the lock records", entry.name, entry.digest),
                        None,
                    ));
                }
                bar.set_length(entry.module.size + entry.config.size);
                blob(&client, &store, &target, &entry.config, Mode { offline: false }, &bar, &mut transfer).await?;
                blob(&client, &store, &target, &entry.module, Mode { offline: false }, &bar, &mut transfer).await?;
                if let Some(verified) = &entry.signature.verified {
                    client
                        .fetch_signature_by_digest(&entry.reference, &verified.digest, signature_kind(verified.format), &store)
                        .await?;
                }
                if let Some(verified) = &entry.certification.verified {
                    client
                        .fetch_signature_by_digest(&entry.reference, &verified.digest, SignatureKind::Referrer, &store)
                        .await?;
                }

                Ok::<_, ConnectorError>(bytes.len() as u64)
            }
            .await;
            bar.finish();
            (entry, result.map(|size| (size, transfer.downloaded)))
        }
    }));
    progress.clear();
    for warning in client.take_warnings() {
        printer.warning(warning);
    }
    let mut failures = Vec::new();
    let mut total = 0;
    let mut index = Vec::new();
    for (entry, result) in results {
        match result {
            Ok((manifest_size, downloaded)) => {
                total += downloaded;
                index.push(index_entry(&entry.reference, &entry.digest, manifest_size));
                index.extend(signature_index_entry(store, &entry));
                index.extend(attestation_index_entry(store, &entry));
            }
            Err(e) => failures.push((entry.name, e)),
        }
    }
    if !failures.is_empty() {
        return Err(connector_failures(&failures, "fetch"));
    }
    store
        .update_index(index)
        .map_err(|e| CliError::input(format!("cannot update the store index: {e}"), None))?;
    Ok(total)
}

fn connector_failures(failures: &[(ConnectorName, ConnectorError)], verb: &str) -> CliError {
    let code = failures
        .iter()
        .map(|(_, e)| e.exit_code())
        .max()
        .unwrap_or(1);
    let reasons: Vec<String> = failures.iter().map(|(_, e)| e.to_string()).collect();
    let helps: Vec<String> = failures
        .iter()
        .filter_map(|(_, e)| match e {
            ConnectorError::Rejected { help, .. } => help.clone(),
            ConnectorError::Missing(_) => {
                Some("run without `--offline` (or `--frozen`) to download it".to_owned())
            }
            _ => None,
        })
        .collect();
    let message = if failures.len() == 1 {
        format!("cannot {verb} connector `{}`", failures[0].0)
    } else {
        format!("cannot {verb} {} connectors", failures.len())
    };
    CliError::Failed {
        message,
        reasons,
        help: helps.first().cloned(),
        code,
    }
}

/// The store index entries of every locked artifact and signature.
pub(crate) fn lock_index_entries(store: &Store, lock: &Lockfile) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for entry in lock.connectors() {
        if let Some(size) = store.stored_size(&entry.digest) {
            out.push(index_entry(&entry.reference, &entry.digest, size));
        }
        out.extend(signature_index_entry(store, entry));
        out.extend(attestation_index_entry(store, entry));
    }
    out
}

/// The store's index entry for a locked certification attestation, named
/// `…:sha256-<hex>.att` (cosign's tag suffix for attestations).
fn attestation_index_entry(store: &Store, entry: &LockedConnector) -> Option<IndexEntry> {
    let verified = entry.certification.verified.as_ref()?;
    let size = store.stored_size(&verified.digest)?;
    Some(IndexEntry {
        ref_name: format!(
            "{}:{}.att",
            entry.reference.name(),
            Reference::digest_tag(&entry.digest)
        ),
        media_type: OCI_MANIFEST.to_owned(),
        digest: verified.digest.clone(),
        size,
        artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".to_owned()),
    })
}

/// How a locked signature format is attached.
pub(crate) fn signature_kind(format: SignatureFormat) -> SignatureKind {
    match format {
        SignatureFormat::SimpleSigning => SignatureKind::SimpleSigning,
        SignatureFormat::BundleV03 => SignatureKind::Referrer,
    }
}

/// The store's index entry for a locked signature artifact, named after the
/// tag cosign uses (`…:sha256-<hex>.sig`; `.bundle` for a referrer), so
/// `skopeo inspect --raw oci:<store>:<name>` finds it next to what it signs.
fn signature_index_entry(store: &Store, entry: &LockedConnector) -> Option<IndexEntry> {
    let verified = entry.signature.verified.as_ref()?;
    let size = store.stored_size(&verified.digest)?;
    let suffix = match verified.format {
        SignatureFormat::SimpleSigning => "sig",
        SignatureFormat::BundleV03 => "bundle",
    };
    Some(IndexEntry {
        ref_name: format!(
            "{}:{}.{suffix}",
            entry.reference.name(),
            Reference::digest_tag(&entry.digest)
        ),
        media_type: OCI_MANIFEST.to_owned(),
        digest: verified.digest.clone(),
        size,
        artifact_type: (verified.format == SignatureFormat::BundleV03)
            .then(|| "application/vnd.dev.sigstore.bundle.v0.3+json".to_owned()),
    })
}

fn index_entry(reference: &Reference, digest: &Digest, size: u64) -> IndexEntry {
    IndexEntry {
        ref_name: reference.without_digest().to_string(),
        media_type: OCI_MANIFEST.to_owned(),
        digest: digest.clone(),
        size,
        artifact_type: None,
    }
}

fn short(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{}:{}", digest.algorithm(), &hex[..12.min(hex.len())])
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
