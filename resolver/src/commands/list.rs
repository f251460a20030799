//! `lf-resolve list` (alias `tree`): what `latticeflow.lock` pins, read
//! from the two project files alone.
//!
//! A review of a dependency change wants the facts the lock records — which
//! bytes, which ABI, what the connector asks for against what the project
//! grants, where it may send requests, who signed it and what certified it —
//! without a registry, a warm store or the noise of the lock's TOML. Nothing
//! is verified here (that is `verify`); key files are read only to name the
//! key a recorded fingerprint belongs to.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use lf_lockfile::{
    CertificationMode, Config, Digest, LockedConnector, Lockfile, SignatureMode, Signer, Trust,
};
use lf_runtime::spec::Capability;

use crate::commands::{existing_lock, load_config};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;
use crate::verify::cosign::TrustedKey;

/// `lf-resolve list`.
pub fn run(settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (lock_path, lock) = existing_lock(&config)?;
    let labels = key_labels(&config);
    let stale = stale_by_name(&config, &lock);
    let unlocked: Vec<&str> = config
        .connectors()
        .keys()
        .filter(|name| lock.get(name).is_none())
        .map(|name| name.as_str())
        .collect();
    let connectors: Vec<Value> = lock
        .connectors()
        .iter()
        .map(|entry| entry_json(entry, &labels, &stale))
        .collect();
    let out = if printer.is_json() {
        format!(
            "{}\n",
            json!({
                "type": "list",
                "lock": lock_path,
                "connectors": connectors,
                "unlocked": unlocked,
            })
        )
    } else {
        render(&lock, &labels, &stale, &unlocked)
    };
    #[allow(clippy::print_stdout, reason = "the listing is this command's result")]
    {
        print!("{out}");
    }
    Ok(())
}

/// The file each trusted key was read from, by fingerprint: `[policy] keys`
/// and every connector's own keys. A key file that cannot be read is left
/// out (the listing then shows the bare fingerprint; `check` reports it).
pub(crate) fn key_labels(config: &Config) -> BTreeMap<Digest, String> {
    let mut paths: Vec<&lf_lockfile::ConfigPath> = config.policy().keys.iter().collect();
    for connector in config.connectors().values() {
        if let Trust::Keys(keys) = &connector.signature.trust {
            paths.extend(keys);
        }
    }
    let mut labels = BTreeMap::new();
    for path in paths {
        let label = lf_lockfile::path_string(&path.path);
        let Ok(pem) = crate::commands::read_bounded(&config.resolve(&path.path), 64 * 1024) else {
            continue;
        };
        if let Ok(key) = TrustedKey::from_pem(&pem, &label) {
            labels.entry(key.fingerprint().clone()).or_insert(label);
        }
    }
    labels
}

/// Why each locked connector no longer matches `latticeflow.toml`, if it does not.
fn stale_by_name(config: &Config, lock: &Lockfile) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for stale in lock.staleness(config) {
        out.entry(stale.name().as_str().to_owned())
            .or_default()
            .push(stale.to_string());
    }
    out
}

fn names(caps: &BTreeSet<Capability>) -> Vec<&'static str> {
    caps.iter().map(|c| c.as_str()).collect()
}

pub(crate) fn signer_json(signer: &Signer, labels: &BTreeMap<Digest, String>) -> Value {
    match signer {
        Signer::Key(fingerprint) => json!({
            "key": fingerprint.to_string(),
            "key_file": labels.get(fingerprint),
        }),
        Signer::Keyless { identity, issuer } => json!({"identity": identity, "issuer": issuer}),
    }
}

fn entry_json(
    entry: &LockedConnector,
    labels: &BTreeMap<Digest, String>,
    stale: &BTreeMap<String, Vec<String>>,
) -> Value {
    let signature = match &entry.signature.verified {
        Some(v) => json!({
            "policy": entry.signature.policy.as_str(),
            "verified": true,
            "format": v.format.as_str(),
            "signer": signer_json(&v.signer, labels),
            "digest": v.digest.to_string(),
        }),
        None => json!({"policy": entry.signature.policy.as_str(), "verified": false}),
    };
    let certification = match &entry.certification.verified {
        Some(v) => json!({
            "policy": entry.certification.policy.as_str(),
            "verified": true,
            "result": v.result.as_str(),
            "key": v.key.to_string(),
            "key_file": labels.get(&v.key),
            "digest": v.digest.to_string(),
        }),
        None => json!({"policy": entry.certification.policy.as_str(), "verified": false}),
    };
    json!({
        "name": entry.name.as_str(),
        "id": entry.id.as_str(),
        "ref": entry.reference.to_string(),
        "digest": entry.digest.to_string(),
        "abi": entry.abi.number(),
        "module": {"digest": entry.module.digest.to_string(), "size": entry.module.size},
        "capabilities": {
            "requested": names(&entry.capabilities),
            "granted": names(&entry.grants),
        },
        "hosts": entry.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "deterministic": entry.deterministic,
        "signature": signature,
        "certification": certification,
        "stale": stale.get(entry.name.as_str()).cloned().unwrap_or_default(),
    })
}

fn list_or(items: &[&str], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        items.join(", ")
    }
}

fn key_text(fingerprint: &Digest, labels: &BTreeMap<Digest, String>) -> String {
    match labels.get(fingerprint) {
        Some(label) => format!("key {fingerprint} ({label})"),
        None => format!("key {fingerprint} (not among the keys latticeflow.toml trusts)"),
    }
}

/// The human listing: one tree per connector, values aligned.
fn render(
    lock: &Lockfile,
    labels: &BTreeMap<Digest, String>,
    stale: &BTreeMap<String, Vec<String>>,
    unlocked: &[&str],
) -> String {
    let mut out = String::new();
    for (i, entry) in lock.connectors().iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{} {}\n", entry.name, entry.reference));
        let mut rows: Vec<(&str, String)> = vec![
            ("id", entry.id.to_string()),
            ("digest", entry.digest.to_string()),
            (
                "abi",
                match entry.abi.number() {
                    1 => "1 (core module)".to_owned(),
                    n => format!("{n} (component)"),
                },
            ),
        ];
        let requested = names(&entry.capabilities);
        let unused: Vec<&str> = entry
            .grants
            .difference(&entry.capabilities)
            .map(|c| c.as_str())
            .collect();
        let mut caps = format!("requested {}", list_or(&requested, "none"));
        if !unused.is_empty() {
            caps.push_str(&format!("; also granted {}", unused.join(", ")));
        }
        rows.push(("capabilities", caps));
        let hosts: Vec<String> = entry.hosts.iter().map(ToString::to_string).collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        rows.push(("hosts", list_or(&hosts, "none")));
        let policy = entry.signature.policy;
        rows.push((
            "signature",
            match (&entry.signature.verified, policy) {
                (_, SignatureMode::None) => "not checked (policy none)".to_owned(),
                (None, _) => format!("none verified (policy {})", policy.as_str()),
                (Some(v), _) => {
                    let who = match &v.signer {
                        Signer::Key(fingerprint) => key_text(fingerprint, labels),
                        Signer::Keyless { identity, issuer } => {
                            format!("{identity} (issuer {issuer})")
                        }
                    };
                    format!(
                        "{who}, {} {} (policy {})",
                        v.format.as_str(),
                        v.digest,
                        policy.as_str()
                    )
                }
            },
        ));
        let policy = entry.certification.policy;
        rows.push((
            "certification",
            match (&entry.certification.verified, policy) {
                (_, CertificationMode::None) => "not checked (policy none)".to_owned(),
                (None, _) => format!("none verified (policy {})", policy.as_str()),
                (Some(v), _) => format!(
                    "{} by {}, {} (policy {})",
                    v.result.as_str(),
                    key_text(&v.key, labels),
                    v.digest,
                    policy.as_str()
                ),
            },
        ));
        for reason in stale.get(entry.name.as_str()).into_iter().flatten() {
            rows.push(("stale", reason.clone()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let last = rows.len() - 1;
        for (j, (key, value)) in rows.iter().enumerate() {
            let branch = if j == last { "└─" } else { "├─" };
            out.push_str(&format!("{branch} {key:<width$}  {value}\n"));
        }
    }
    if lock.connectors().is_empty() {
        out.push_str("no connectors are locked\n");
    }
    if !unlocked.is_empty() {
        out.push_str(&format!(
            "\nnot locked yet: {} (run `lf-resolve lock`)\n",
            unlocked.join(", ")
        ));
    }
    out
}
