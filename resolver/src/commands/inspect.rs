//! `lf-resolve inspect REF|NAME [--offline]`: what a reference points at —
//! the manifest, its digests, the connector spec, the signatures and
//! certifications attached — without changing any project. A NAME locked in
//! the project's `latticeflow.lock` is inspected at its locked digest.
//!
//! That a signature exists says little: anyone can attach one. So every
//! signature layer and every certification found is verified here against
//! what the project trusts (the connector's keys or keyless identity, or for
//! a plain REF every key and identity `latticeflow.toml` names), and the
//! signer is reported — as verified, or as merely claimed by an unverified
//! bundle.
//!
//! `--offline` reads the content store and `vendor/oci` only: the manifest
//! and module, and the signature artifacts kept there (those a lock
//! recorded). Whatever is missing is named, with exit status 3.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use lf_lockfile::{Config, ConnectorConfig, Digest, LockedConnector, Lockfile, Reference, Trust};

use crate::cli::InspectArgs;
use crate::commands::push::project_config;
use crate::commands::remote::{Pulled, pull, read_stored};
use crate::error::CliError;
use crate::output::{Printer, human_size};
use crate::registry::{
    RegistryClient, SignatureArtifact, SignatureKind, SignatureLayerBlob, stored_signature,
};
use crate::settings::Settings;
use crate::store::Store;
use crate::verify::component::{self, scan_component};
use crate::verify::cosign::{Keyless, TrustRoot, TrustedKey};
use crate::verify::module::scan_module;
use crate::verify::policy::{self, LoadedTrust, Outcome, RepositoryBinding};

/// When `raw` is the name of a connector in this project's lock, its entry.
/// Lock names come first: a bare word like `hash` would otherwise become
/// `docker.io/library/hash`. Outside a project, or without a lock naming
/// it, `raw` is a reference.
fn locked_entry(raw: &str, settings: &Settings) -> Option<LockedConnector> {
    let name: lf_lockfile::ConnectorName = raw.parse().ok()?;
    let manifest = settings.manifest_path().ok()?;
    let lock = Lockfile::read(&Settings::lock_path(&manifest)).ok()??;
    lock.get(&name).cloned()
}

/// Whom the project trusts, for this inspection.
struct Trusted {
    /// Keys signatures may be made with.
    keys: Vec<TrustedKey>,
    /// Keyless identities signatures may be made by.
    keyless: Vec<Keyless>,
    /// Keys certifications may be signed with.
    certification_keys: Vec<TrustedKey>,
    /// The file each key came from, by fingerprint.
    labels: BTreeMap<Digest, String>,
}

/// Reads the keys at `paths`; one that cannot be read is reported and skipped.
fn read_keys(
    config: &Config,
    paths: &[lf_lockfile::ConfigPath],
    printer: &Printer,
) -> Vec<TrustedKey> {
    let mut keys = Vec::new();
    for path in paths {
        let label = lf_lockfile::path_string(&path.path);
        let read = crate::commands::read_bounded(&config.resolve(&path.path), 64 * 1024)
            .map_err(|e| e.to_string())
            .and_then(|pem| TrustedKey::from_pem(&pem, &label).map_err(|e| e.to_string()));
        match read {
            Ok(key) => keys.push(key),
            Err(e) => printer.warning(format!("key `{label}` is left out: {e}")),
        }
    }
    keys
}

fn dedup(keys: Vec<TrustedKey>) -> Vec<TrustedKey> {
    let mut seen = std::collections::BTreeSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.fingerprint().clone()))
        .collect()
}

/// For a locked connector, what its policy trusts (certifications: its own
/// keys, or `[policy] keys` when its signatures are keyless); for a plain
/// reference, every key and keyless identity `latticeflow.toml` names.
fn trusted(config: &Config, connector: Option<&ConnectorConfig>, printer: &Printer) -> Trusted {
    let policy_keys = read_keys(config, &config.policy().keys, printer);
    let (keys, keyless, certification_keys) = match connector {
        Some(connector) => match &connector.signature.trust {
            Trust::Keys(paths) => {
                let keys = read_keys(config, paths, printer);
                (keys.clone(), Vec::new(), keys)
            }
            Trust::Keyless { identity, issuer } => (
                Vec::new(),
                vec![Keyless {
                    identity: identity.clone(),
                    issuer: issuer.clone(),
                }],
                policy_keys,
            ),
        },
        None => {
            let mut keys = policy_keys;
            let mut keyless: Vec<Keyless> = Vec::new();
            for connector in config.connectors().values() {
                match &connector.signature.trust {
                    Trust::Keys(paths) => keys.extend(read_keys(config, paths, printer)),
                    Trust::Keyless { identity, issuer } => {
                        let id = Keyless {
                            identity: identity.clone(),
                            issuer: issuer.clone(),
                        };
                        if !keyless.contains(&id) {
                            keyless.push(id);
                        }
                    }
                }
            }
            let keys = dedup(keys);
            (keys.clone(), keyless, keys)
        }
    };
    let labels = keys
        .iter()
        .chain(&certification_keys)
        .map(|k| (k.fingerprint().clone(), k.label().to_owned()))
        .collect();
    Trusted {
        keys,
        keyless,
        certification_keys,
        labels,
    }
}

/// The verdict on one signature layer.
struct LayerVerdict {
    media_type: String,
    digest: Digest,
    keyless: bool,
    rekor: bool,
    /// Who signed, when it verified.
    signer: Option<lf_lockfile::Signer>,
    /// The key fingerprint an unverified bundle names (its hint).
    claimed_key: Option<Digest>,
    /// Why it did not verify.
    problems: Vec<String>,
}

fn verify_layer(
    artifact: &SignatureArtifact,
    layer: &SignatureLayerBlob,
    subject: &Digest,
    trusted: &Trusted,
    binding: &RepositoryBinding,
) -> LayerVerdict {
    let one = SignatureArtifact {
        layers: vec![layer.clone()],
        ..artifact.clone()
    };
    let mut verdict = LayerVerdict {
        media_type: layer.media_type.clone(),
        digest: layer.blob.digest().clone(),
        keyless: layer
            .annotations
            .contains_key("dev.sigstore.cosign/certificate"),
        rekor: layer.annotations.contains_key("dev.sigstore.cosign/bundle"),
        signer: None,
        claimed_key: None,
        problems: Vec::new(),
    };
    let mut trusts = Vec::new();
    if !trusted.keys.is_empty() {
        trusts.push(LoadedTrust::Keys(trusted.keys.clone()));
    }
    trusts.extend(trusted.keyless.iter().cloned().map(LoadedTrust::Keyless));
    if trusts.is_empty() {
        verdict
            .problems
            .push("latticeflow.toml trusts no key or keyless identity here".to_owned());
    }
    for trust in &trusts {
        match policy::apply(
            lf_lockfile::SignatureMode::Required,
            trust,
            subject,
            binding,
            std::slice::from_ref(&one),
            &TrustRoot::pinned(),
        ) {
            Outcome::Verified(entry) => {
                if let Some(v) = entry.verified {
                    verdict.signer = Some(v.signer);
                    verdict.problems.clear();
                    break;
                }
            }
            Outcome::Unverified(_, reasons) | Outcome::Rejected(reasons) => {
                // Each reason starts by naming the artifact, which the
                // line it is shown on already does.
                let named = format!(
                    "{} {}: ",
                    match artifact.kind {
                        SignatureKind::SimpleSigning => "simple-signing signature",
                        SignatureKind::Referrer => "sigstore bundle",
                    },
                    artifact.manifest.digest
                );
                verdict.problems.extend(
                    reasons
                        .into_iter()
                        .map(|r| r.strip_prefix(&named).map(str::to_owned).unwrap_or(r)),
                );
            }
        }
    }
    if verdict.signer.is_none() && artifact.kind == SignatureKind::Referrer {
        verdict.claimed_key = layer
            .blob
            .read()
            .ok()
            .and_then(|b| crate::attest::summarize(&b, subject, &[]).signer);
    }
    verdict
}

/// Who signed, with the key file latticeflow.toml names for it when known.
pub(crate) fn signer_text(
    signer: &lf_lockfile::Signer,
    labels: &BTreeMap<Digest, String>,
) -> String {
    match signer {
        lf_lockfile::Signer::Key(fingerprint) => match labels.get(fingerprint) {
            Some(label) => format!("key {fingerprint} ({label})"),
            None => format!("key {fingerprint}"),
        },
        lf_lockfile::Signer::Keyless { identity, issuer } => {
            format!("{identity} (issuer {issuer})")
        }
    }
}

/// The signature and attestation artifacts of `pinned`, from the registry.
fn found_online(
    client: &RegistryClient,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    pulled: &Pulled,
) -> Result<(Vec<SignatureArtifact>, Vec<SignatureArtifact>), CliError> {
    let failed = |e: crate::registry::RegistryError| CliError::Failed {
        message: format!("cannot read the signatures of `{}`", pulled.pinned),
        reasons: vec![e.to_string()],
        help: None,
        code: crate::error::registry_code(&e),
    };
    let digest = &pulled.manifest.digest;
    let signatures = runtime
        .block_on(client.fetch_signatures(&pulled.pinned, digest, store))
        .map_err(failed)?;
    let attestations = runtime
        .block_on(client.fetch_attestations(
            &pulled.pinned,
            digest,
            store,
            crate::attest::TEST_RESULT_PREDICATE_TYPE,
        ))
        .map_err(failed)?;
    Ok((signatures, attestations))
}

/// The signature and attestation artifacts of `pinned` that `stores` keep:
/// those the lock records for `entry`, and those the store indexes name
/// after `pinned`'s digest (`…:sha256-<hex>.sig`, `.bundle`, `.att`).
/// Recorded ones that are missing are returned as notes.
fn found_offline(
    stores: &[Store],
    pinned: &Reference,
    entry: Option<&LockedConnector>,
) -> (Vec<SignatureArtifact>, Vec<SignatureArtifact>, Vec<String>) {
    // (digest, kind, is an attestation, recorded by the lock)
    let mut wanted: Vec<(Digest, SignatureKind, bool, bool)> = Vec::new();
    if let Some(entry) = entry.filter(|e| Some(&e.digest) == pinned.digest()) {
        if let Some(v) = &entry.signature.verified {
            wanted.push((
                v.digest.clone(),
                crate::commands::lock::signature_kind(v.format),
                false,
                true,
            ));
        }
        if let Some(v) = &entry.certification.verified {
            wanted.push((v.digest.clone(), SignatureKind::Referrer, true, true));
        }
    }
    if let Some(digest) = pinned.digest() {
        let base = format!("{}:{}", pinned.name(), Reference::digest_tag(digest));
        for store in stores {
            for indexed in store.index().unwrap_or_default() {
                let Some(suffix) = indexed.ref_name.strip_prefix(&base) else {
                    continue;
                };
                let kind = match suffix {
                    ".sig" => (SignatureKind::SimpleSigning, false),
                    ".bundle" => (SignatureKind::Referrer, false),
                    ".att" => (SignatureKind::Referrer, true),
                    _ => continue,
                };
                wanted.push((indexed.digest, kind.0, kind.1, false));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let (mut signatures, mut attestations, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for (digest, kind, attestation, recorded) in wanted {
        if !seen.insert(digest.clone()) {
            continue;
        }
        match stores
            .iter()
            .find_map(|store| stored_signature(store, &digest, kind, pinned))
        {
            Some(found) if attestation => attestations.push(found),
            Some(found) => signatures.push(found),
            None if recorded => notes.push(format!(
                "the {} {digest} the lock records is not in the content store or vendor/oci",
                if attestation {
                    "attestation"
                } else {
                    "signature"
                }
            )),
            None => {}
        }
    }
    (signatures, attestations, notes)
}

/// The digest `reference` was stored under (the store index names artifacts
/// by the reference they were locked from).
fn stored_digest(stores: &[Store], reference: &Reference) -> Option<Digest> {
    if let Some(digest) = reference.digest() {
        return Some(digest.clone());
    }
    let name = reference.to_string();
    stores.iter().find_map(|store| {
        store
            .index()
            .ok()?
            .into_iter()
            .find(|e| e.ref_name == name)
            .map(|e| e.digest)
    })
}

/// `lf-resolve inspect`.
pub fn run(args: &InspectArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let entry = locked_entry(&args.reference, settings);
    let reference = match &entry {
        Some(entry) => {
            let locked = entry
                .reference
                .without_digest()
                .with_digest(entry.digest.clone());
            printer.status(
                "Inspecting",
                format!("`{}` as locked: {locked}", args.reference),
                &json!({"type": "inspect-locked", "name": args.reference, "ref": locked.to_string()}),
            );
            locked
        }
        None => args
            .reference
            .parse()
            .map_err(|e: lf_lockfile::ReferenceError| CliError::input(e.to_string(), None))?,
    };
    let config = project_config(settings);
    let connector = entry
        .as_ref()
        .and_then(|e| config.connectors().get(&e.name));
    let client = RegistryClient::new(&config);
    let store = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    let (pulled, signatures, attestations, notes) = if args.offline {
        let mut stores: Vec<Store> = Vec::new();
        stores.extend(crate::commands::vendor::existing(&config));
        stores.push(store);
        let digest = stored_digest(&stores, &reference).ok_or_else(|| CliError::Failed {
            message: format!(
                "`{reference}` is not in the content store or vendor/oci, and --offline forbids asking its registry"
            ),
            reasons: Vec::new(),
            help: Some(
                "pin it (`REF@sha256:…`), name a locked connector, or drop --offline".to_owned(),
            ),
            code: crate::error::EXIT_UNAVAILABLE,
        })?;
        let pinned = reference.without_digest().with_digest(digest);
        let pulled = read_stored(&pinned, &stores, client.limits())?;
        let (signatures, attestations, mut notes) =
            found_offline(&stores, &pulled.pinned, entry.as_ref());
        notes.push(
            "offline: only the signatures and attestations the store keeps (those a lock recorded) are shown"
                .to_owned(),
        );
        (pulled, signatures, attestations, notes)
    } else {
        let runtime = crate::commands::runtime()?;
        let pulled = pull(&reference, &client, &store, &runtime, None)?;
        let (signatures, attestations) = found_online(&client, &store, &runtime, &pulled)?;
        (pulled, signatures, attestations, Vec::new())
    };
    for warning in client.take_warnings() {
        printer.warning(warning);
    }
    let trusted = trusted(&config, connector, printer);
    let binding = match connector {
        Some(connector) => crate::commands::lock::binding(connector),
        None => RepositoryBinding::new(&reference, None),
    };
    show(
        &pulled,
        &signatures,
        &attestations,
        &notes,
        &trusted,
        &binding,
        printer,
    )
}

/// What the module says about itself: its ABI, its imports (name, kind)
/// and the connector section.
type ModuleFacts = (u8, Vec<(String, String)>, Option<Vec<u8>>);

fn module_facts(pulled: &Pulled) -> Result<ModuleFacts, CliError> {
    let unreadable = |e: String| {
        CliError::input(
            format!(
                "the module {} is not readable: {e}",
                pulled.parsed.module.digest
            ),
            None,
        )
    };
    let bytes = &pulled.module;
    if component::is_component(bytes) {
        let info = scan_component(bytes).map_err(|e| unreadable(e.to_string()))?;
        let imports = info
            .imports
            .iter()
            .map(|i| (i.name.clone(), i.kind.to_string()))
            .collect();
        Ok((2, imports, info.connector_section))
    } else {
        let info =
            scan_module(std::io::Cursor::new(bytes)).map_err(|e| unreadable(e.to_string()))?;
        let imports = info
            .imports
            .iter()
            .map(|i| (format!("{}.{}", i.module, i.name), i.item.to_string()))
            .collect();
        Ok((1, imports, info.connector_section))
    }
}

fn show(
    pulled: &Pulled,
    signatures: &[SignatureArtifact],
    attestations: &[SignatureArtifact],
    notes: &[String],
    trusted: &Trusted,
    binding: &RepositoryBinding,
    printer: &Printer,
) -> Result<(), CliError> {
    let (abi, imports, section) = module_facts(pulled)?;
    let spec = section
        .as_ref()
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let digest = &pulled.manifest.digest;
    let parsed = &pulled.parsed;
    let labels = &trusted.labels;
    let signature_list: Vec<Value> = signatures
        .iter()
        .map(|s| {
            let layers: Vec<Value> = s
                .layers
                .iter()
                .map(|l| {
                    let v = verify_layer(s, l, digest, trusted, binding);
                    json!({
                        "media_type": v.media_type,
                        "digest": v.digest.to_string(),
                        "keyless": v.keyless,
                        "rekor": v.rekor,
                        "verified": v.signer.is_some(),
                        "signer": v.signer.as_ref().map(|s| crate::commands::list::signer_json(s, labels)),
                        "signer_text": v.signer.as_ref().map(|s| signer_text(s, labels)),
                        "claimed_key": v.claimed_key.map(|d| d.to_string()),
                        "problems": v.problems,
                    })
                })
                .collect();
            json!({
                "format": match s.kind { SignatureKind::SimpleSigning => "simple-signing", SignatureKind::Referrer => "bundle-v0.3" },
                "digest": s.manifest.digest.to_string(),
                "verified": layers.iter().any(|l| l["verified"] == true),
                "layers": layers,
            })
        })
        .collect();
    let certification_list: Vec<Value> = attestations
        .iter()
        .flat_map(|a| {
            a.layers.iter().map(|l| {
                let bytes = l.blob.read().unwrap_or_default();
                let summary = crate::attest::summarize(&bytes, digest, &trusted.certification_keys);
                let signer = summary.signer.clone();
                json!({
                    "digest": a.manifest.digest.to_string(),
                    "result": summary.result.map(|r| r.as_str()),
                    "signer": signer.as_ref().map(ToString::to_string),
                    "key_file": signer.as_ref().and_then(|s| labels.get(s)),
                    "verified": summary.verified.is_ok(),
                    "problem": summary.verified.err().map(|e| e.to_string()),
                })
            })
        })
        .collect();
    if printer.is_json() {
        #[allow(
            clippy::print_stdout,
            reason = "the inspection is this command's result"
        )]
        {
            println!(
                "{}",
                json!({
                    "type": "inspect",
                    "ref": pulled.pinned.without_digest().to_string(),
                    "digest": digest.to_string(),
                    "config": {"digest": parsed.config.digest.to_string(), "size": parsed.config.size},
                    "module": {"digest": parsed.module.digest.to_string(), "size": parsed.module.size},
                    "annotations": parsed.annotations,
                    "abi": abi,
                    "imports": imports.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                    "spec": spec,
                    "signatures": signature_list,
                    "certifications": certification_list,
                    "notes": notes,
                })
            );
        }
        return Ok(());
    }
    let mut out = String::new();
    out.push_str(&format!("reference   {}\n", pulled.pinned.without_digest()));
    out.push_str(&format!("digest      {digest}\n"));
    out.push_str(&format!(
        "config      {} ({} B)\n",
        parsed.config.digest, parsed.config.size
    ));
    out.push_str(&format!(
        "{}   {} ({}, ABI v{abi})\n",
        if abi == 2 { "component" } else { "module   " },
        parsed.module.digest,
        human_size(parsed.module.size)
    ));
    for (k, v) in &parsed.annotations {
        out.push_str(&format!("annotation  {k} = {v}\n"));
    }
    for (name, what) in &imports {
        out.push_str(&format!("import      {name} ({what})\n"));
    }
    if signatures.is_empty() {
        out.push_str("signatures  none found\n");
    }
    for s in &signature_list {
        for l in s["layers"].as_array().into_iter().flatten() {
            let verdict = if l["verified"] == true {
                format!(
                    "verified, signed by {}",
                    l["signer_text"].as_str().unwrap_or_default()
                )
            } else {
                let claimed = l["claimed_key"]
                    .as_str()
                    .map(|k| format!(" (it names key {k})"))
                    .unwrap_or_default();
                let problems: Vec<&str> = l["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                format!("NOT verified{claimed}: {}", problems.join("; "))
            };
            out.push_str(&format!(
                "signature   {} {}: {verdict}\n",
                s["format"].as_str().unwrap_or_default(),
                s["digest"].as_str().unwrap_or_default(),
            ));
        }
        if s["layers"].as_array().is_none_or(Vec::is_empty) {
            out.push_str(&format!(
                "signature   {} {}: no signature layer\n",
                s["format"].as_str().unwrap_or_default(),
                s["digest"].as_str().unwrap_or_default(),
            ));
        }
    }
    if certification_list.is_empty() {
        out.push_str("certified   no test-result attestation found\n");
    }
    for c in &certification_list {
        let key = match (c["signer"].as_str(), c["key_file"].as_str()) {
            (Some(key), Some(file)) => format!("key {key} ({file})"),
            (Some(key), None) => format!("key {key}"),
            (None, _) => "(no key hint)".to_owned(),
        };
        let verdict = if c["verified"] == true {
            "verified".to_owned()
        } else if trusted.certification_keys.is_empty() {
            "not verified: latticeflow.toml trusts no key here".to_owned()
        } else {
            format!(
                "NOT verified: {}",
                c["problem"].as_str().unwrap_or_default()
            )
        };
        out.push_str(&format!(
            "certified   {} by {key}: {verdict} {}\n",
            c["result"].as_str().unwrap_or("(unreadable result)"),
            c["digest"].as_str().unwrap_or_default(),
        ));
    }
    for note in notes {
        out.push_str(&format!("note        {note}\n"));
    }
    match spec {
        Some(yaml) => {
            out.push_str("\nconnector.yaml (latticeflow.connector section):\n");
            for line in yaml.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        None => out.push_str("\nno latticeflow.connector section: lock needs a sidecar manifest\n"),
    }
    #[allow(
        clippy::print_stdout,
        reason = "the inspection is this command's result"
    )]
    {
        print!("{out}");
    }
    Ok(())
}
