//! `lf-resolve mirror DEST[/PREFIX]`: copies every locked artifact to
//! another registry so that projects can lock from it when the origin is
//! gone or out of reach (`[registries."<origin>"] mirrors = ["DEST/PREFIX"]`).
//!
//! What is copied, per locked connector, into `[PREFIX/]<origin repository>`:
//! the manifest (by digest and under the locked tag), its config and module,
//! the cosign `sha256-<hex>.sig` tag with its blobs, every referrer of the
//! manifest (sigstore bundles: signatures and certification attestations)
//! with its blobs, and the list of referrers under the `sha256-<hex>`
//! fallback tag, so a registry without the referrers API still serves them.
//! Bytes are copied exactly, never re-encoded: every digest, and so every
//! signature over one, is unchanged. Referrers of referrers are not copied.
//!
//! Where the bytes come from: what the lock names by digest (manifest,
//! config, module, the locked signature and certification) is taken from
//! the content store when it is there, re-hashed, and otherwise downloaded
//! from the origin (through its configured mirrors, like `lock`) into the
//! store; a digest is a digest wherever it was read, and the store makes a
//! mirror possible when the origin is already unreachable. What is found by
//! tag (the `.sig` tag, the referrers list) is asked of the origin, since it
//! may have gained signatures since the lock was written; when the origin
//! cannot be asked, the locked signature and certification are copied from
//! the store and a warning says so. Blobs go to the store first and are
//! streamed from it, so a module is never held in memory.
//!
//! Order and resumption: blobs before the manifest that names them, a
//! subject before its referrers, referrers before their list. Everything is
//! asked for at the destination first (`HEAD`) and skipped when present, so
//! an interrupted run is completed by running it again, and a complete
//! mirror is left untouched. A failure does not stop the other artifacts
//! (except those that need the missing one); the run then ends with the
//! exact list of what DEST lacks, and exit status 3.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use lf_lockfile::{LockedConnector, Reference, SignatureFormat};

use crate::artifact::{OCI_INDEX, OCI_MANIFEST};
use crate::cli::MirrorArgs;
use crate::commands::{existing_lock, load_config};
use crate::error::{CliError, EXIT_CHECK_FAILED, EXIT_UNAVAILABLE};
use crate::output::Printer;
use crate::registry::push::{BlobOutcome, Destination};
use crate::registry::{FetchedManifest, MAX_REFERRERS, RegistryClient, RegistryError};
use crate::settings::Settings;
use crate::store::Store;
use lf_lockfile::Digest;

/// The destination as given: a host and an optional repository prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    prefix: Option<String>,
}

impl Target {
    fn parse(text: &str) -> Result<Target, CliError> {
        let hint = || {
            Some(
                "write DEST as `host[:port]` or `host[:port]/prefix`, e.g. `mirror.internal:5000/copies`"
                    .to_owned(),
            )
        };
        let (host, prefix) = lf_lockfile::split_mirror(text);
        let host = if text.contains("://") { text } else { host };
        lf_lockfile::validate_registry_host(host)
            .map_err(|e| CliError::input(format!("invalid destination `{text}`: {e}"), hint()))?;
        if let Some(prefix) = prefix
            && (prefix.is_empty() || format!("{host}/{prefix}/x").parse::<Reference>().is_err())
        {
            return Err(CliError::input(
                format!(
                    "invalid destination `{text}`: `{prefix}` is not a repository prefix (lowercase path components)"
                ),
                hint(),
            ));
        }
        Ok(Target {
            host: host.to_owned(),
            prefix: prefix.map(str::to_owned),
        })
    }

    /// Where DEST keeps the origin repository `repository`.
    fn repository(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_owned(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.prefix {
            Some(prefix) => write!(f, "{}/{prefix}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A blob to copy: its digest, size and file in the store.
#[derive(Debug, Clone)]
struct BlobCopy {
    /// `config`, `module` or `layer`, for messages.
    role: &'static str,
    digest: Digest,
    size: u64,
    path: PathBuf,
}

/// A manifest to put at DEST, with the blobs it names.
#[derive(Debug, Clone)]
struct ManifestCopy {
    /// What it is, for messages: `manifest`, `signature`, `referrer`, …
    what: String,
    digest: Digest,
    bytes: Bytes,
    media_type: String,
    /// Tags to put it under, besides its digest.
    tags: Vec<String>,
    blobs: Vec<BlobCopy>,
}

/// Something DEST lacks at the end of a run.
#[derive(Debug, Clone)]
struct Missing {
    connector: String,
    what: String,
    digest: Option<Digest>,
    /// For a blob: the manifest that names it (`of the manifest`).
    part_of: Option<String>,
    reason: String,
    integrity: bool,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connector `{}`: {}", self.connector, self.what)?;
        if let Some(digest) = &self.digest {
            write!(f, " {digest}")?;
        }
        if let Some(of) = &self.part_of {
            write!(f, " of the {of}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What one connector's copy did.
#[derive(Debug, Default)]
struct Tally {
    /// Blobs uploaded and manifests put (or, with `--dry-run`, to be).
    pushed: usize,
    /// Blobs mounted from another repository of DEST.
    mounted: usize,
    /// Blobs and manifests DEST already had.
    present: usize,
    missing: Vec<Missing>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.pushed += other.pushed;
        self.mounted += other.mounted;
        self.present += other.present;
        self.missing.extend(other.missing);
    }
}

/// The run's shared parts.
struct Mirror<'a> {
    client: &'a RegistryClient,
    store: &'a Store,
    dest: &'a Destination,
    target: &'a Target,
    dry_run: bool,
    /// Blobs known to be at DEST, and a repository holding each (to mount from).
    known: Mutex<HashMap<Digest, String>>,
    warnings: Mutex<Vec<String>>,
}

/// `lf-resolve mirror`.
pub fn run(args: &MirrorArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let target = Target::parse(&args.destination)?;
    let config = load_config(settings)?;
    let (_, lock) = existing_lock(&config)?;
    let store = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    // DEST may be one of the project's mirrors already: the copy is read
    // from the origin (and other mirrors), never from itself.
    let client = RegistryClient::new(&config).without_mirror(&target.to_string());
    let dest = Destination::new(&client, &target.host).map_err(|e| {
        crate::commands::registry_failed(&format!("cannot write to `{target}`"), &e)
    })?;
    let mirror = Mirror {
        client: &client,
        store: &store,
        dest: &dest,
        target: &target,
        dry_run: args.dry_run,
        known: Mutex::new(HashMap::new()),
        warnings: Mutex::new(Vec::new()),
    };
    let runtime = crate::commands::runtime()?;
    runtime.block_on(dest.check()).map_err(|e| {
        crate::commands::registry_failed(&format!("cannot mirror to `{target}`"), &e)
    })?;
    let connectors = lock.connectors();
    let results: Vec<(&LockedConnector, Tally)> = runtime.block_on(
        futures_util::stream::iter(connectors.iter())
            .map(|entry| {
                let mirror = &mirror;
                async move { (entry, mirror.connector(entry).await) }
            })
            .buffer_unordered(usize::from(args.jobs))
            .collect(),
    );
    for warning in client.take_warnings() {
        printer.warning(warning);
    }
    for warning in mirror
        .warnings
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default()
    {
        printer.warning(warning);
    }
    let mut results = results;
    results.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut total = Tally::default();
    let (verb, pushed_word) = if args.dry_run {
        ("Would mirror", "to copy")
    } else {
        ("Mirrored", "copied")
    };
    for (entry, tally) in results {
        let repository = target.repository(entry.reference.repository());
        if tally.missing.is_empty() {
            printer.status(
                verb,
                format!(
                    "`{}` to {}/{repository}: {} {pushed_word}, {} mounted, {} already present",
                    entry.name, target.host, tally.pushed, tally.mounted, tally.present
                ),
                &json!({"type": "mirrored", "connector": entry.name.as_str(), "repository": format!("{}/{repository}", target.host), "pushed": tally.pushed, "mounted": tally.mounted, "present": tally.present, "dry_run": args.dry_run}),
            );
        }
        total.add(tally);
    }
    let summary = json!({
        "type": "mirror",
        "destination": target.to_string(),
        "connectors": connectors.len(),
        "pushed": total.pushed,
        "mounted": total.mounted,
        "present": total.present,
        "missing": total.missing.iter().map(|m| json!({"connector": m.connector, "what": m.what, "digest": m.digest.as_ref().map(ToString::to_string), "of": m.part_of, "reason": m.reason})).collect::<Vec<_>>(),
        "dry_run": args.dry_run,
    });
    if !total.missing.is_empty() {
        if printer.is_json() {
            printer.status("", "", &summary);
        }
        let integrity = total.missing.iter().any(|m| m.integrity);
        return Err(CliError::Failed {
            message: format!(
                "{} artifact{} of the lock {} missing at `{target}`",
                total.missing.len(),
                if total.missing.len() == 1 { "" } else { "s" },
                if total.missing.len() == 1 {
                    "is"
                } else {
                    "are"
                },
            ),
            reasons: total.missing.iter().map(ToString::to_string).collect(),
            help: Some(if integrity {
                format!(
                    "bytes that do not match their digest were not copied (see above); once the store or the origin has the right ones, run `lf-resolve mirror {target}` again: what was copied stays at `{target}` ({} copied, {} mounted, {} already present this time)",
                    total.pushed, total.mounted, total.present
                )
            } else {
                format!(
                    "what was copied stays at `{target}` and nothing was removed from the store; run `lf-resolve mirror {target}` again to copy the rest ({} copied, {} mounted, {} already present this time)",
                    total.pushed, total.mounted, total.present
                )
            }),
            code: if integrity {
                EXIT_CHECK_FAILED
            } else {
                EXIT_UNAVAILABLE
            },
        });
    }
    printer.status(
        verb,
        format!(
            "{} connector{} to {target}: {} {pushed_word}, {} mounted, {} already present",
            connectors.len(),
            if connectors.len() == 1 { "" } else { "s" },
            total.pushed,
            total.mounted,
            total.present
        ),
        &summary,
    );
    Ok(())
}

/// The blobs an image manifest names (config and layers), or none for an
/// index.
fn descriptors(bytes: &[u8]) -> Result<Vec<(Digest, u64, bool)>, String> {
    #[derive(serde::Deserialize)]
    struct Descriptor {
        digest: String,
        size: u64,
    }
    #[derive(serde::Deserialize)]
    struct Wire {
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid manifest: {e}"))?;
    wire.config
        .into_iter()
        .map(|d| (d, true))
        .chain(wire.layers.into_iter().map(|d| (d, false)))
        .map(|(d, config)| {
            d.digest
                .parse::<Digest>()
                .map(|digest| (digest, d.size, config))
                .map_err(|e| format!("a descriptor has an invalid digest: {e}"))
        })
        .collect()
}

/// The media type to put a manifest with: its own `mediaType`, else an
/// index when it lists manifests, else an image manifest.
fn media_type(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(mt),
            ..
        }) => mt,
        Ok(Probe {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_owned(),
        _ => OCI_MANIFEST.to_owned(),
    }
}

/// What went wrong reading an artifact from the origin or the store.
struct SourceError {
    reason: String,
    integrity: bool,
}

impl From<RegistryError> for SourceError {
    fn from(e: RegistryError) -> SourceError {
        SourceError {
            integrity: e.is_integrity_failure(),
            reason: e.to_string(),
        }
    }
}

impl Mirror<'_> {
    fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock()
            && !w.contains(&message)
        {
            w.push(message);
        }
    }

    /// A manifest by digest: the store first (re-hashed), else the origin.
    async fn manifest(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<FetchedManifest, SourceError> {
        let limit = self.client.limits().manifest;
        if let Some(size) = self.store.stored_size(digest)
            && size <= limit
            && let Ok(blob) = self.store.rehash(digest, size)
            && let Ok(bytes) = blob.read()
        {
            return Ok(FetchedManifest {
                digest: digest.clone(),
                bytes: Bytes::from(bytes),
            });
        }
        let pinned = reference.without_digest().with_digest(digest.clone());
        let fetched = self.client.fetch_manifest(&pinned).await?;
        self.keep(&fetched)?;
        Ok(fetched)
    }

    /// Keeps a manifest read from the origin in the store.
    fn keep(&self, manifest: &FetchedManifest) -> Result<(), SourceError> {
        self.store
            .put(&manifest.digest, &manifest.bytes)
            .map(drop)
            .map_err(|e| SourceError {
                reason: format!("cannot keep it in the store: {e}"),
                integrity: false,
            })
    }

    /// A manifest and its blobs, every blob in the store (downloaded from
    /// the origin when missing there).
    async fn prepare(
        &self,
        reference: &Reference,
        what: String,
        manifest: FetchedManifest,
        tags: Vec<String>,
    ) -> Result<ManifestCopy, (String, Digest, SourceError)> {
        let fail = |e: SourceError| (what.clone(), manifest.digest.clone(), e);
        let named = descriptors(&manifest.bytes).map_err(|reason| {
            fail(SourceError {
                reason,
                integrity: true,
            })
        })?;
        let mut blobs = Vec::with_capacity(named.len());
        for (digest, size, config) in named {
            // A dry run downloads no blob: it only needs to know the digests.
            let path = match self.store.get(&digest, size) {
                Some(blob) => blob.path().to_owned(),
                None if self.dry_run => PathBuf::new(),
                None => {
                    let (blob, _) = self
                        .client
                        .pull_blob(reference, &digest, size, self.store, &|_| {})
                        .await
                        .map_err(|e| fail(e.into()))?;
                    blob.path().to_owned()
                }
            };
            blobs.push(BlobCopy {
                role: match (config, what.as_str()) {
                    (true, _) => "config",
                    (false, "manifest") => "module",
                    (false, _) => "layer",
                },
                digest,
                size,
                path,
            });
        }
        Ok(ManifestCopy {
            media_type: media_type(&manifest.bytes),
            what,
            digest: manifest.digest,
            bytes: manifest.bytes,
            tags,
            blobs,
        })
    }

    /// Copies one locked connector; never fails as a whole, but lists what
    /// it could not copy.
    async fn connector(&self, entry: &LockedConnector) -> Tally {
        let mut tally = Tally::default();
        let name = entry.name.as_str();
        let reference = &entry.reference;
        let repository = self.target.repository(reference.repository());
        let miss = |tally: &mut Tally, what: String, digest: Option<Digest>, e: SourceError| {
            tally.missing.push(Missing {
                part_of: None,
                connector: name.to_owned(),
                what,
                digest,
                reason: e.reason,
                integrity: e.integrity,
            });
        };

        // The subject: manifest, config and module.
        let subject = match self.manifest(reference, &entry.digest).await {
            Ok(manifest) => {
                let tags = reference.tag().map(str::to_owned).into_iter().collect();
                self.prepare(reference, "manifest".to_owned(), manifest, tags)
                    .await
            }
            Err(e) => Err(("manifest".to_owned(), entry.digest.clone(), e)),
        };
        let subject = match subject {
            Ok(copy) => copy,
            Err((what, digest, e)) => {
                miss(&mut tally, what, Some(digest), e);
                return tally;
            }
        };
        let subject_complete = self.put(&repository, &subject, &mut tally, name).await;

        // Everything attached to the subject, which waits for it.
        let attached = self.attached(entry).await;
        if !subject_complete {
            let waiting = || SourceError {
                reason: "not copied, since the manifest it refers to is missing".to_owned(),
                integrity: false,
            };
            for item in attached.copies {
                match item {
                    Ok(copy) => miss(&mut tally, copy.what, Some(copy.digest), waiting()),
                    Err((what, digest, e)) => miss(&mut tally, what, Some(digest), e),
                }
            }
            for (what, e) in attached.failures {
                miss(&mut tally, what, None, e);
            }
            if let Some(index) = attached.index {
                miss(
                    &mut tally,
                    format!("referrers list `{}`", index.tags.join(", ")),
                    Some(index.digest),
                    waiting(),
                );
            }
            return tally;
        }
        let mut referrers_ok = true;
        for item in attached.copies {
            let ok = match item {
                Ok(copy) => self.put(&repository, &copy, &mut tally, name).await,
                Err((what, digest, e)) => {
                    miss(&mut tally, what, Some(digest), e);
                    false
                }
            };
            referrers_ok &= ok;
        }
        for (what, e) in attached.failures {
            referrers_ok = false;
            miss(&mut tally, what, None, e);
        }
        if let Some(index) = attached.index {
            if referrers_ok {
                self.put_index(
                    &repository,
                    &index,
                    attached.compose_index,
                    &mut tally,
                    name,
                )
                .await;
            } else {
                miss(
                    &mut tally,
                    format!("referrers list `{}`", index.tags.join(", ")),
                    Some(index.digest.clone()),
                    SourceError {
                        reason: "not copied, since a referrer it lists is missing".to_owned(),
                        integrity: false,
                    },
                );
            }
        }
        tally
    }

    /// The `.sig` manifest, the referrers and their list, from the origin
    /// or, failing that, what the lock names from the store.
    async fn attached(&self, entry: &LockedConnector) -> Attached {
        let reference = &entry.reference;
        let subject = &entry.digest;
        let mut out = Attached::default();
        let sig_tag = format!("{}.sig", Reference::digest_tag(subject));
        let index_tag = Reference::digest_tag(subject);
        let mut origin_failed = None;

        // The cosign `.sig` tag.
        match reference.with_tag(&sig_tag) {
            Ok(sig_ref) => match self.client.fetch_optional_manifest(&sig_ref).await {
                Ok(Some(found)) => {
                    let kept = self.keep(&found);
                    out.copies.push(match kept {
                        Err(e) => Err((format!("signature `{sig_tag}`"), found.digest.clone(), e)),
                        Ok(()) => {
                            self.prepare(
                                reference,
                                format!("signature `{sig_tag}`"),
                                found,
                                vec![sig_tag.clone()],
                            )
                            .await
                        }
                    });
                }
                Ok(None) => {}
                Err(e) => origin_failed = Some(e),
            },
            Err(e) => out.failures.push((
                format!("signature `{sig_tag}`"),
                SourceError {
                    reason: e.to_string(),
                    integrity: false,
                },
            )),
        }

        // The referrers (API or tag fallback) and each one they list.
        if origin_failed.is_none() {
            match self.client.referrers_index(reference, subject).await {
                Ok(Some((index, _from_api))) => match referrer_digests(&index.bytes) {
                    Ok(digests) => {
                        for digest in digests {
                            let what = "referrer".to_owned();
                            let copy = match self.manifest(reference, &digest).await {
                                Ok(m) => self.prepare(reference, what, m, Vec::new()).await,
                                Err(e) => Err((what, digest, e)),
                            };
                            out.copies.push(copy);
                        }
                        out.index = Some(ManifestCopy {
                            what: "referrers list".to_owned(),
                            media_type: media_type(&index.bytes),
                            digest: index.digest,
                            bytes: index.bytes,
                            tags: vec![index_tag.clone()],
                            blobs: Vec::new(),
                        });
                    }
                    Err(reason) => out.failures.push((
                        format!("referrers list `{index_tag}`"),
                        SourceError {
                            reason,
                            integrity: true,
                        },
                    )),
                },
                Ok(None) => {}
                Err(e) => origin_failed = Some(e),
            }
        }
        if let Some(e) = origin_failed {
            self.warn(format!(
                "cannot list the signatures of `{}` at the origin ({e}); copying the ones the lock names, from the store",
                entry.name
            ));
            out = self.locked_attachments(entry).await;
        }
        out
    }

    /// The locked signature and certification, from the store (the origin
    /// could not be asked what else is attached): a simple signature under
    /// its `.sig` tag, bundles by digest with a referrers list made of them.
    async fn locked_attachments(&self, entry: &LockedConnector) -> Attached {
        let reference = &entry.reference;
        let subject = &entry.digest;
        let mut out = Attached::default();
        let mut entries = Vec::new();
        let locked = entry
            .signature
            .verified
            .as_ref()
            .map(|v| (v.format, v.digest.clone(), "signature"))
            .into_iter()
            .chain(
                entry
                    .certification
                    .verified
                    .as_ref()
                    .map(|v| (SignatureFormat::BundleV03, v.digest.clone(), "attestation")),
            );
        for (format, digest, noun) in locked {
            let simple = format == SignatureFormat::SimpleSigning;
            let tags = if simple {
                vec![format!("{}.sig", Reference::digest_tag(subject))]
            } else {
                Vec::new()
            };
            let what = if simple {
                format!("signature `{}`", tags[0])
            } else {
                format!("{noun} referrer")
            };
            let copy = match self.manifest(reference, &digest).await {
                Ok(m) => {
                    if !simple {
                        entries.push(index_entry(&m));
                    }
                    self.prepare(reference, what, m, tags).await
                }
                Err(e) => Err((what, digest, e)),
            };
            out.copies.push(copy);
        }
        if !entries.is_empty() {
            let bytes = Bytes::from(
                serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": entries,
                }))
                .unwrap_or_default(),
            );
            out.index = Some(ManifestCopy {
                what: "referrers list".to_owned(),
                media_type: OCI_INDEX.to_owned(),
                digest: Digest::from_bytes(
                    lf_lockfile::Algorithm::Sha256,
                    &<sha2::Sha256 as sha2::Digest>::digest(&bytes),
                ),
                bytes,
                tags: vec![Reference::digest_tag(subject)],
                blobs: Vec::new(),
            });
            out.compose_index = true;
        }
        out
    }

    /// Puts a manifest's blobs, then the manifest by digest and under its
    /// tags, skipping what DEST has. `false` when something is missing.
    async fn put(
        &self,
        repository: &str,
        copy: &ManifestCopy,
        tally: &mut Tally,
        connector: &str,
    ) -> bool {
        let mut complete = true;
        let miss = |tally: &mut Tally, what: String, digest: &Digest, e: RegistryError| {
            tally.missing.push(Missing {
                part_of: None,
                connector: connector.to_owned(),
                what,
                digest: Some(digest.clone()),
                // A store file that no longer matches is an integrity
                // failure too, whatever the store calls it.
                integrity: e.is_integrity_failure() || matches!(e, RegistryError::Store { .. }),
                reason: e.to_string(),
            });
        };
        for blob in &copy.blobs {
            let what = format!("{} blob", blob.role);
            match self.put_blob(repository, blob).await {
                Ok(BlobOutcome::Present) => tally.present += 1,
                Ok(BlobOutcome::Mounted) => tally.mounted += 1,
                Ok(BlobOutcome::Uploaded) => tally.pushed += 1,
                Err(e) => {
                    complete = false;
                    miss(tally, what, &blob.digest, e);
                    if let Some(last) = tally.missing.last_mut() {
                        last.part_of = Some(copy.what.clone());
                    }
                }
            }
        }
        if !complete {
            tally.missing.push(Missing {
                part_of: None,
                connector: connector.to_owned(),
                what: copy.what.clone(),
                digest: Some(copy.digest.clone()),
                reason: "not put, since a blob it names is missing".to_owned(),
                integrity: false,
            });
            return false;
        }
        let digest = copy.digest.to_string();
        let names = std::iter::once(digest.as_str()).chain(copy.tags.iter().map(String::as_str));
        for name in names {
            match self.put_manifest(repository, name, copy).await {
                Ok(true) => tally.pushed += 1,
                Ok(false) => tally.present += 1,
                Err(e) => {
                    complete = false;
                    let what = if name == digest {
                        copy.what.clone()
                    } else {
                        format!("{} (tag `{name}`)", copy.what)
                    };
                    miss(tally, what, &copy.digest, e);
                }
            }
        }
        complete
    }

    /// Puts one blob unless DEST has it; mounts it from another repository
    /// of DEST this run saw it in.
    async fn put_blob(
        &self,
        repository: &str,
        blob: &BlobCopy,
    ) -> Result<BlobOutcome, RegistryError> {
        let from = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&blob.digest).cloned());
        let outcome = if self.dry_run {
            if self.dest.has_blob(repository, &blob.digest).await? {
                BlobOutcome::Present
            } else {
                BlobOutcome::Uploaded
            }
        } else if self.dest.has_blob(repository, &blob.digest).await? {
            BlobOutcome::Present
        } else {
            // The store is re-hashed before anything is sent: a file that
            // changed since it was verified is reported as such, and never
            // offered under its digest (the upload re-hashes it again).
            self.store
                .rehash(&blob.digest, blob.size)
                .map_err(|source| RegistryError::Store {
                    reference: format!("the content store ({})", self.store.root().display()),
                    digest: blob.digest.clone(),
                    source,
                })?;
            self.dest
                .copy_blob(
                    repository,
                    &blob.digest,
                    blob.size,
                    &blob.path,
                    from.as_deref(),
                )
                .await?
        };
        if !self.dry_run
            && let Ok(mut known) = self.known.lock()
        {
            known
                .entry(blob.digest.clone())
                .or_insert_with(|| repository.to_owned());
        }
        Ok(outcome)
    }

    /// Puts a manifest under `name` (its digest or a tag) unless DEST
    /// already has these bytes there; `true` when it was put.
    async fn put_manifest(
        &self,
        repository: &str,
        name: &str,
        copy: &ManifestCopy,
    ) -> Result<bool, RegistryError> {
        if self.dest.manifest_digest(repository, name).await? == Some(copy.digest.clone()) {
            return Ok(false);
        }
        if self.dry_run {
            return Ok(true);
        }
        let put = self
            .dest
            .put_manifest(repository, name, &copy.bytes, &copy.media_type)
            .await?;
        if put != copy.digest {
            return Err(RegistryError::DigestMismatch {
                reference: format!("{}/{repository}:{name}", self.target.host),
                expected: copy.digest.clone(),
                actual: put,
            });
        }
        Ok(true)
    }

    /// Puts the referrers list. One made here from the locked bundles (the
    /// origin was out of reach) never replaces a list DEST already has.
    async fn put_index(
        &self,
        repository: &str,
        index: &ManifestCopy,
        composed: bool,
        tally: &mut Tally,
        connector: &str,
    ) {
        let Some(tag) = index.tags.first() else {
            return;
        };
        if composed {
            match self.dest.manifest_digest(repository, tag).await {
                Ok(Some(_)) => {
                    tally.present += 1;
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    tally.missing.push(Missing {
                        part_of: None,
                        connector: connector.to_owned(),
                        what: format!("referrers list `{tag}`"),
                        digest: Some(index.digest.clone()),
                        integrity: false,
                        reason: e.to_string(),
                    });
                    return;
                }
            }
        }
        let tag_only = ManifestCopy {
            tags: Vec::new(),
            ..index.clone()
        };
        match self.put_manifest(repository, tag, &tag_only).await {
            Ok(true) => tally.pushed += 1,
            Ok(false) => tally.present += 1,
            Err(e) => tally.missing.push(Missing {
                part_of: None,
                connector: connector.to_owned(),
                what: format!("referrers list `{tag}`"),
                digest: Some(index.digest.clone()),
                integrity: e.is_integrity_failure(),
                reason: e.to_string(),
            }),
        }
    }
}

/// What is attached to a subject, ready to copy.
#[derive(Default)]
struct Attached {
    /// The `.sig` manifest and the referrers, or why one could not be read.
    copies: Vec<Result<ManifestCopy, (String, Digest, SourceError)>>,
    /// What could not even be found.
    failures: Vec<(String, SourceError)>,
    /// The referrers list, put under its tag after every referrer.
    index: Option<ManifestCopy>,
    /// Whether `index` was made here rather than read from the origin.
    compose_index: bool,
}

/// The manifests a referrers list names, at most [`MAX_REFERRERS`].
fn referrer_digests(index: &[u8]) -> Result<Vec<Digest>, String> {
    let value: Value =
        serde_json::from_slice(index).map_err(|e| format!("not a valid index: {e}"))?;
    let manifests = value
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if manifests.len() > MAX_REFERRERS {
        return Err(format!(
            "it lists {} referrers, more than the {MAX_REFERRERS} copied",
            manifests.len()
        ));
    }
    let mut digests: Vec<Digest> = Vec::with_capacity(manifests.len());
    for m in manifests {
        let digest = m
            .get("digest")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .parse::<Digest>()
            .map_err(|e| format!("an entry has an invalid digest: {e}"))?;
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    Ok(digests)
}

/// The referrers-list entry for a bundle manifest, from its own fields.
fn index_entry(manifest: &FetchedManifest) -> Value {
    let parsed: Value = serde_json::from_slice(&manifest.bytes).unwrap_or(Value::Null);
    let mut entry = json!({
        "mediaType": parsed.get("mediaType").and_then(Value::as_str).unwrap_or(OCI_MANIFEST),
        "size": manifest.bytes.len(),
        "digest": manifest.digest.to_string(),
    });
    for key in ["artifactType", "annotations"] {
        if let Some(v) = parsed.get(key) {
            entry[key] = v.clone();
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_a_host_and_an_optional_prefix() {
        let t = Target::parse("127.0.0.1:5000").unwrap();
        assert_eq!(t.prefix, None);
        assert_eq!(t.repository("lf/echo"), "lf/echo");
        let t = Target::parse("mirror.internal:5000/copies/acme").unwrap();
        assert_eq!(t.host, "mirror.internal:5000");
        assert_eq!(t.repository("lf/echo"), "copies/acme/lf/echo");
        assert_eq!(t.to_string(), "mirror.internal:5000/copies/acme");
        for bad in [
            "https://mirror.internal",
            "mirror.internal/",
            "mirror.internal/Copies",
            "mirror.internal//x",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptors_and_media_types() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{d}","size":2}},"layers":[{{"digest":"{d}","size":0}}]}}"#
        );
        assert_eq!(descriptors(manifest.as_bytes()).unwrap().len(), 2);
        assert_eq!(media_type(manifest.as_bytes()), OCI_MANIFEST);
        assert_eq!(media_type(br#"{"manifests":[]}"#), OCI_INDEX);
        assert!(descriptors(b"[]").is_err());
        let index = format!(r#"{{"manifests":[{{"digest":"{d}"}},{{"digest":"{d}"}}]}}"#);
        assert_eq!(referrer_digests(index.as_bytes()).unwrap().len(), 1);
    }
}
