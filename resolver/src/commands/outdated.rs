//! `lf-resolve outdated`: how far the registry has drifted from the lock.
//!
//! A lock pins digests, so a tag that moves changes nothing until someone
//! runs `lock --update`; this command is how they find out that it moved,
//! whether a key they trust signed what it names now, and whether newer
//! version tags exist. It asks with `HEAD` and tag-list requests, and for a
//! moved tag reads the new digest's signature manifests and their small
//! layers — never a module. Those go to a throwaway store: the project's
//! files, its store and its vendor directory are left exactly as they were,
//! so it is safe to run from CI on every build (`--exit-code`).
//!
//! Version tags are compared with the `semver` crate (already in the build
//! through cargo's own crates); a tag such as `1.2` or `v1` counts as
//! `1.2.0` or `1.0.0`, as registries commonly name releases that way.

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use lf_lockfile::{Config, Digest, LockedConnector, SignatureMode};

use crate::cli::OutdatedArgs;
use crate::commands::lock::{binding, load_trust};
use crate::commands::{existing_lock, load_config, runtime};
use crate::error::{CliError, EXIT_UNAVAILABLE};
use crate::output::Printer;
use crate::registry::tags::TagList;
use crate::registry::{RegistryClient, RegistryError};
use crate::settings::Settings;
use crate::store::Store;
use crate::verify::cosign::TrustRoot;
use crate::verify::policy::{self, LoadedTrust, Outcome};

/// Connectors looked at concurrently.
const JOBS: usize = 8;

/// What the registry says about one locked connector.
#[derive(Debug)]
struct Report {
    name: String,
    reference: String,
    locked: Digest,
    status: Status,
    /// Newer version tags, oldest first; `None` when not compared.
    newer: Option<Vec<String>>,
    /// Whether the tag list was cut short by its bounds.
    newer_truncated: bool,
    /// Why newer tags could not be listed, when they could not.
    tags_error: Option<RegistryError>,
}

#[derive(Debug)]
enum Status {
    /// The reference pins a digest: nothing can move.
    Pinned,
    /// The tag still names the locked digest.
    Unchanged,
    /// The tag names another digest now.
    Moved { current: Digest, signature: Verdict },
    /// The registry no longer has the tag (or the repository).
    Missing(RegistryError),
    /// The registry could not be asked.
    Unavailable(RegistryError),
}

/// Whether the new digest is signed by someone the project trusts.
#[derive(Debug)]
enum Verdict {
    /// The connector's policy is `none`: nobody looks.
    NotChecked,
    /// This signer verified.
    Signed(lf_lockfile::Signer),
    /// Nothing verified, for these reasons.
    Unsigned(Vec<String>),
}

/// `lf-resolve outdated`.
pub fn run(args: &OutdatedArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    let (_, lock) = existing_lock(&config)?;
    let client = RegistryClient::new(&config);
    // Signature manifests of moved tags land here, never in the project's store.
    let scratch = tempfile::tempdir().map_err(|source| CliError::Io {
        context: "cannot create a temporary directory in",
        path: std::env::temp_dir(),
        source,
    })?;
    let store = Store::open(scratch.path())
        .map_err(|e| CliError::input(format!("cannot open a scratch store: {e}"), None))?;
    let mut jobs = Vec::new();
    for entry in lock.connectors() {
        let trust = match config.connectors().get(&entry.name) {
            Some(connector) if connector.signature.mode != SignatureMode::None => {
                Some((load_trust(&config, connector)?, binding(connector)))
            }
            _ => None,
        };
        jobs.push((entry, trust));
    }
    let reports: Vec<Report> = runtime()?.block_on(
        futures_util::stream::iter(jobs)
            .map(|(entry, trust)| examine(&client, &store, entry, trust))
            .buffered(JOBS)
            .collect(),
    );
    for warning in client.take_warnings() {
        printer.warning(warning);
    }
    let labels = key_labels(&config);
    let out = if printer.is_json() {
        format!(
            "{}\n",
            json!({
                "type": "outdated",
                "connectors": reports.iter().map(|r| report_json(r, &labels)).collect::<Vec<_>>(),
            })
        )
    } else {
        render(&reports, &labels)
    };
    #[allow(clippy::print_stdout, reason = "the report is this command's result")]
    {
        print!("{out}");
    }
    finish(&reports, args.exit_code)
}

/// The exit status: 3 when a registry could not be asked, else with
/// `--exit-code` 1 when anything drifted.
fn finish(reports: &[Report], exit_code: bool) -> Result<(), CliError> {
    let unavailable: Vec<String> = reports
        .iter()
        .filter_map(|r| match (&r.status, &r.tags_error) {
            (Status::Unavailable(e), _) | (_, Some(e)) => Some(format!("`{}`: {e}", r.name)),
            _ => None,
        })
        .collect();
    if !unavailable.is_empty() {
        return Err(CliError::Failed {
            message: "cannot check every connector: a registry could not be asked".to_owned(),
            reasons: unavailable,
            help: Some("nothing was changed; run `lf-resolve outdated` again when the registry is reachable".to_owned()),
            code: EXIT_UNAVAILABLE,
        });
    }
    let drifted: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            let newer = r.newer.as_ref().filter(|n| !n.is_empty());
            match (&r.status, newer) {
                (Status::Moved { current, .. }, _) => Some(format!(
                    "`{}`: `{}` moved to {current}",
                    r.name, r.reference
                )),
                (Status::Missing(_), _) => Some(format!("`{}`: `{}` is gone", r.name, r.reference)),
                (_, Some(newer)) => Some(format!("`{}`: newer tags: {}", r.name, shortened(newer))),
                _ => None,
            }
        })
        .collect();
    if exit_code && !drifted.is_empty() {
        return Err(CliError::CheckFailed {
            message: format!(
                "{} connector{} drifted from the lock",
                drifted.len(),
                if drifted.len() == 1 { "" } else { "s" }
            ),
            reasons: drifted,
            help: Some(
                "`lf-resolve lock --update NAME` moves a connector to what its tag names now; \
                 `lf-resolve add NAME REF` switches it to another tag"
                    .to_owned(),
            ),
        });
    }
    Ok(())
}

async fn examine(
    client: &RegistryClient,
    store: &Store,
    entry: &LockedConnector,
    trust: Option<(LoadedTrust, policy::RepositoryBinding)>,
) -> Report {
    let mut report = Report {
        name: entry.name.as_str().to_owned(),
        reference: entry.reference.to_string(),
        locked: entry.digest.clone(),
        status: Status::Pinned,
        newer: None,
        newer_truncated: false,
        tags_error: None,
    };
    if entry.reference.digest().is_some() {
        return report;
    }
    report.status = match client.resolve_digest(&entry.reference).await {
        Ok(current) if current == entry.digest => Status::Unchanged,
        Ok(current) => {
            let signature = match &trust {
                None => Verdict::NotChecked,
                Some((trust, binding)) => {
                    let target = entry
                        .reference
                        .without_digest()
                        .with_digest(current.clone());
                    match client.fetch_signatures(&target, &current, store).await {
                        Err(e) => Verdict::Unsigned(vec![format!(
                            "its signatures could not be read: {e}"
                        )]),
                        Ok(found) => match policy::apply(
                            SignatureMode::Required,
                            trust,
                            &current,
                            binding,
                            &found,
                            &TrustRoot::pinned(),
                        ) {
                            Outcome::Verified(lf_lockfile::SignatureEntry {
                                verified: Some(v),
                                ..
                            }) => Verdict::Signed(v.signer),
                            Outcome::Verified(_) => Verdict::Unsigned(Vec::new()),
                            Outcome::Unverified(_, reasons) | Outcome::Rejected(reasons) => {
                                Verdict::Unsigned(reasons)
                            }
                        },
                    }
                }
            };
            Status::Moved { current, signature }
        }
        Err(e @ RegistryError::NotFound { .. }) => Status::Missing(e),
        Err(e) => Status::Unavailable(e),
    };
    if matches!(report.status, Status::Unavailable(_)) {
        return report;
    }
    let Some(locked) = version(entry.reference.tag_or_latest()) else {
        return report;
    };
    match client.list_tags(&entry.reference).await {
        Ok(TagList { tags, truncated }) => {
            let mut newer: Vec<(semver::Version, String)> = tags
                .into_iter()
                .filter_map(|tag| version(&tag).map(|v| (v, tag)))
                .filter(|(v, _)| *v > locked && (v.pre.is_empty() || !locked.pre.is_empty()))
                .collect();
            newer.sort();
            report.newer = Some(newer.into_iter().map(|(_, tag)| tag).collect());
            report.newer_truncated = truncated;
        }
        Err(RegistryError::NotFound { .. }) => report.newer = Some(Vec::new()),
        Err(e) => report.tags_error = Some(e),
    }
    report
}

/// A tag read as a version: `1.2.3`, `v1.2.3-rc.1`, and the short forms
/// `1.2` and `1` (as `1.2.0` and `1.0.0`). Anything else is not a version.
fn version(tag: &str) -> Option<semver::Version> {
    let bare = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(bare) {
        return Some(v);
    }
    let parts: Vec<&str> = bare.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() > 2 || !parts.iter().all(numeric) {
        return None;
    }
    let padded = format!("{}.{}.0", parts[0], parts.get(1).copied().unwrap_or("0"));
    semver::Version::parse(&padded).ok()
}

/// The key files the project trusts, by fingerprint (for naming signers).
fn key_labels(config: &Config) -> std::collections::BTreeMap<Digest, String> {
    crate::commands::list::key_labels(config)
}

fn report_json(report: &Report, labels: &std::collections::BTreeMap<Digest, String>) -> Value {
    let (status, current, signature, error) = match &report.status {
        Status::Pinned => ("pinned", None, Value::Null, None),
        Status::Unchanged => (
            "unchanged",
            Some(report.locked.to_string()),
            Value::Null,
            None,
        ),
        Status::Moved { current, signature } => (
            "moved",
            Some(current.to_string()),
            match signature {
                Verdict::NotChecked => json!({"checked": false}),
                Verdict::Signed(signer) => json!({
                    "checked": true,
                    "verified": true,
                    "signer": crate::commands::list::signer_json(signer, labels),
                }),
                Verdict::Unsigned(reasons) => json!({
                    "checked": true,
                    "verified": false,
                    "reasons": reasons,
                }),
            },
            None,
        ),
        Status::Missing(e) => ("missing", None, Value::Null, Some(e.to_string())),
        Status::Unavailable(e) => ("unavailable", None, Value::Null, Some(e.to_string())),
    };
    json!({
        "name": report.name,
        "ref": report.reference,
        "locked": report.locked.to_string(),
        "status": status,
        "current": current,
        "signature": signature,
        "newer": report.newer,
        "newer_truncated": report.newer_truncated,
        "error": error.or_else(|| report.tags_error.as_ref().map(ToString::to_string)),
    })
}

/// A list of tags for people: in full up to five, else the two oldest and
/// the two newest with the count (JSON has them all).
fn shortened(tags: &[String]) -> String {
    if tags.len() <= 5 {
        return tags.join(", ");
    }
    format!(
        "{}, {}, …, {}, {} ({} newer)",
        tags[0],
        tags[1],
        tags[tags.len() - 2],
        tags[tags.len() - 1],
        tags.len()
    )
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &Digest) -> String {
    digest.to_string().chars().take(19).collect()
}

/// The human report: a table, then one note per connector that needs one.
fn render(reports: &[Report], labels: &std::collections::BTreeMap<Digest, String>) -> String {
    if reports.is_empty() {
        return "no connectors are locked\n".to_owned();
    }
    let mut rows = vec![(
        "CONNECTOR".to_owned(),
        "REF".to_owned(),
        "STATUS".to_owned(),
        "NEWER TAGS".to_owned(),
    )];
    let mut notes = Vec::new();
    for r in reports {
        let status = match &r.status {
            Status::Pinned => "pinned by digest".to_owned(),
            Status::Unchanged => "up to date".to_owned(),
            Status::Moved { current, signature } => {
                let verdict = match signature {
                    Verdict::NotChecked => "signature not checked (policy none)".to_owned(),
                    Verdict::Signed(_) => "signed".to_owned(),
                    Verdict::Unsigned(_) => "NOT signed by a trusted key".to_owned(),
                };
                notes.push(format!(
                    "{}: `{}` moved from {} to {current}",
                    r.name, r.reference, r.locked
                ));
                match signature {
                    Verdict::Signed(signer) => {
                        notes.push(format!(
                            "  signed by {}",
                            super::inspect::signer_text(signer, labels)
                        ));
                    }
                    Verdict::Unsigned(reasons) => {
                        for reason in reasons {
                            notes.push(format!("  - {reason}"));
                        }
                    }
                    Verdict::NotChecked => {}
                }
                format!("moved to {}, {verdict}", short(current))
            }
            Status::Missing(e) => {
                notes.push(format!("{}: {e}", r.name));
                "tag gone".to_owned()
            }
            Status::Unavailable(e) => {
                notes.push(format!("{}: {e}", r.name));
                "registry unavailable".to_owned()
            }
        };
        if let Some(e) = &r.tags_error {
            notes.push(format!("{}: the tags could not be listed: {e}", r.name));
        }
        let newer = match &r.newer {
            None => "-".to_owned(),
            Some(n) if n.is_empty() => "none".to_owned(),
            Some(n) => {
                let mut text = shortened(n);
                if r.newer_truncated {
                    text.push_str(", … (list cut short)");
                }
                text
            }
        };
        rows.push((r.name.clone(), r.reference.clone(), status, newer));
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (a, b, c, d) in rows {
        out.push_str(format!("{a:<w0$}  {b:<w1$}  {c:<w2$}  {d}").trim_end());
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&note);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_include_short_forms_and_skip_words() {
        let v = |s: &str| version(s).map(|v| v.to_string());
        assert_eq!(v("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(v("v2.0.0-rc.1").as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(v("1.2").as_deref(), Some("1.2.0"));
        assert_eq!(v("v3").as_deref(), Some("3.0.0"));
        for word in ["latest", "main", "1.2.3.4", "sha256-abc.sig", "1..2", ""] {
            assert_eq!(v(word), None, "{word}");
        }
        assert!(version("1.10").unwrap() > version("1.9.5").unwrap());
    }
}
