//! `lf-resolve tag SRC-REF NEW-TAG`: another name for an artifact already
//! pushed, in the same repository.
//!
//! Since `push` digests depend on content only, a connector is pushed once and
//! then tagged (`1.4.0`, `1.4`, `latest`), and a signature over its digest
//! covers every tag. The manifest is read as the registry serves it (size
//! bounded, digest checked) and put back byte for byte under the new tag, so
//! the digest cannot change; nothing is parsed into a model and re-written.
//! A source that does not exist is an error, never an empty artifact.

use serde_json::json;

use lf_lockfile::Reference;

use crate::artifact::{OCI_INDEX, OCI_MANIFEST};
use crate::cli::TagArgs;
use crate::commands::push::project_config;
use crate::error::CliError;
use crate::output::Printer;
use crate::registry::RegistryClient;
use crate::registry::push::Publisher;
use crate::settings::Settings;

/// `tag` in `source`'s repository. The grammar is `Reference`'s (the
/// distribution spec's `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`); a `/`, `:` or `@`
/// is refused first, since it would name another repository or a digest
/// rather than a tag.
fn target_of(source: &Reference, tag: &str) -> Result<Reference, CliError> {
    let hint = || {
        Some(
            "NEW-TAG is a tag in SRC-REF's repository, e.g. `latest` or `1.4.0`; to copy to another repository, push the directory there (same digest)"
                .to_owned(),
        )
    };
    if tag.contains(['/', '@', ':']) {
        return Err(CliError::input(
            format!(
                "`{}` is not a tag: it has a `/`, `:` or `@`",
                tag.escape_debug()
            ),
            hint(),
        ));
    }
    source
        .with_tag(tag)
        .map_err(|e| CliError::input(e.to_string(), hint()))
}

/// The media type to put the manifest back with: its own `mediaType`, else
/// an index when it lists manifests, else an image manifest.
fn media_type(bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not a JSON object: {e}"))?;
    Ok(match (probe.media_type, probe.manifests) {
        (Some(mt), _) => mt,
        (None, Some(_)) => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    })
}

/// `lf-resolve tag`.
pub fn run(args: &TagArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let source: Reference = args
        .source
        .parse()
        .map_err(|e: lf_lockfile::ReferenceError| CliError::input(e.to_string(), None))?;
    let target = target_of(&source, &args.tag)?;
    let config = project_config(settings);
    let client = RegistryClient::new(&config);
    let publisher = Publisher::new(&config, &target)
        .map_err(|e| crate::commands::registry_failed("tagging failed", &e))?;
    let runtime = crate::commands::runtime()?;
    let fetched = runtime
        .block_on(client.fetch_manifest(&source))
        .map_err(|e| {
            crate::commands::registry_failed(&format!("cannot read `{source}` to tag it"), &e)
        })?;
    let media_type = media_type(&fetched.bytes).map_err(|detail| CliError::Failed {
        message: format!("cannot tag `{source}`"),
        reasons: vec![detail],
        help: None,
        code: crate::error::EXIT_CHECK_FAILED,
    })?;
    let digest = runtime
        .block_on(async {
            publisher.authenticate().await?;
            publisher
                .push_manifest(&fetched.bytes, &media_type, Some(&args.tag))
                .await
        })
        .map_err(|e| crate::commands::registry_failed("tagging failed", &e))?;
    // The bytes are the ones fetched, so this holds unless a hash changed
    // under us; checked rather than assumed.
    if digest != fetched.digest {
        return Err(CliError::Failed {
            message: format!("tagging `{source}` changed its digest"),
            reasons: vec![format!("read {}, wrote {digest}", fetched.digest)],
            help: None,
            code: crate::error::EXIT_CHECK_FAILED,
        });
    }
    printer.status(
        "Tagged",
        format!("{}@{digest} as {target}", source.name()),
        &json!({"type": "tagged", "ref": source.to_string(), "tag": args.tag, "target": target.to_string(), "digest": digest.to_string()}),
    );
    if printer.is_json() {
        return Ok(());
    }
    #[allow(clippy::print_stdout, reason = "the digest is this command's result")]
    {
        println!("{digest}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_distribution_grammar() {
        let source: Reference = "registry.example/acme/node:1.0".parse().unwrap();
        for ok in ["latest", "1.4.0", "_x", "v1-rc.2", &"a".repeat(128)] {
            assert_eq!(target_of(&source, ok).unwrap().tag(), Some(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a b",
            "ümlaut",
            "repo:1",
            "x@sha256",
            "a/b",
            &"a".repeat(129),
        ] {
            assert!(target_of(&source, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn media_type_comes_from_the_manifest() {
        assert_eq!(
            media_type(br#"{"mediaType":"application/x.custom","schemaVersion":2}"#).unwrap(),
            "application/x.custom"
        );
        assert_eq!(
            media_type(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert_eq!(media_type(br#"{"schemaVersion":2}"#).unwrap(), OCI_MANIFEST);
        assert!(media_type(b"[]").is_err());
    }
}
