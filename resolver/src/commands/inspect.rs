//! `lf-resolve inspect REF|NAME`: what a reference points at — the manifest,
//! its digests, the connector spec, the signatures and certifications
//! attached — without
//! changing any project. A NAME locked in the project's `latticeflow.lock` is
//! inspected at its locked digest.

use serde_json::json;

use lf_lockfile::{ConnectorName, Lockfile, Reference};

use crate::artifact;
use crate::cli::InspectArgs;
use crate::commands::push::project_config;
use crate::error::{CliError, EXIT_CHECK_FAILED};
use crate::output::{Printer, human_size};
use crate::registry::{RegistryClient, SignatureKind};
use crate::settings::Settings;
use crate::store::Store;
use crate::verify::component::{self, scan_component};
use crate::verify::module::scan_module;

/// When `raw` is the name of a connector in this project's lock, its locked
/// reference pinned to the locked digest. Lock names come first: a bare word
/// like `hash` would otherwise become `docker.io/library/hash`. Outside a
/// project, or without a lock naming it, `raw` is a reference.
fn locked_reference(raw: &str, settings: &Settings) -> Option<Reference> {
    let name: ConnectorName = raw.parse().ok()?;
    let manifest = settings.manifest_path().ok()?;
    let lock = Lockfile::read(&Settings::lock_path(&manifest)).ok()??;
    let entry = lock.get(&name)?;
    Some(
        entry
            .reference
            .without_digest()
            .with_digest(entry.digest.clone()),
    )
}

/// `lf-resolve inspect`.
pub fn run(args: &InspectArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let reference = match locked_reference(&args.reference, settings) {
        Some(locked) => {
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
    let client = RegistryClient::new(&config);
    let store = Store::open(&settings.cache_dir)
        .map_err(|e| CliError::input(format!("cannot open the content store: {e}"), None))?;
    let failed = |e: crate::registry::RegistryError| CliError::Failed {
        message: format!("cannot inspect `{reference}`"),
        reasons: vec![e.to_string()],
        help: None,
        code: crate::error::registry_code(&e),
    };
    let runtime = crate::commands::runtime()?;
    let manifest = runtime
        .block_on(client.fetch_manifest(&reference))
        .map_err(failed)?;
    let parsed = artifact::parse_manifest(&manifest.bytes).map_err(|e| CliError::Failed {
        message: format!("`{reference}` is not a connector artifact"),
        reasons: vec![e.to_string()],
        help: None,
        code: EXIT_CHECK_FAILED,
    })?;
    let pinned = reference
        .without_digest()
        .with_digest(manifest.digest.clone());
    let (module, _) = runtime
        .block_on(client.pull_blob(
            &pinned,
            &parsed.module.digest,
            parsed.module.size,
            &store,
            &|_| {},
        ))
        .map_err(failed)?;
    let unreadable = |e: String| {
        CliError::input(
            format!("the module {} is not readable: {e}", parsed.module.digest),
            None,
        )
    };
    let bytes_of = |source| CliError::Io {
        context: "cannot read",
        path: module.path().to_owned(),
        source,
    };
    // (abi, imports as `name` and what they are, the connector section)
    let (abi, imports, section): (u8, Vec<(String, String)>, Option<Vec<u8>>) = {
        let mut file = module.open().map_err(bytes_of)?;
        let mut preamble = [0u8; 8];
        let component = {
            use std::io::Read as _;
            file.read_exact(&mut preamble).is_ok() && component::is_component(&preamble)
        };
        if component {
            let bytes = module.read().map_err(bytes_of)?;
            let info = scan_component(&bytes).map_err(|e| unreadable(e.to_string()))?;
            let imports = info
                .imports
                .iter()
                .map(|i| (i.name.clone(), i.kind.to_string()))
                .collect();
            (2, imports, info.connector_section)
        } else {
            let info = scan_module(std::io::BufReader::new(file))
                .map_err(|e| unreadable(e.to_string()))?;
            let imports = info
                .imports
                .iter()
                .map(|i| (format!("{}.{}", i.module, i.name), i.item.to_string()))
                .collect();
            (1, imports, info.connector_section)
        }
    };
    let spec = section
        .as_ref()
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let signatures = runtime
        .block_on(client.fetch_signatures(&pinned, &manifest.digest, &store))
        .map_err(failed)?;
    let signature_list: Vec<serde_json::Value> = signatures
        .iter()
        .map(|s| {
            let layers: Vec<serde_json::Value> = s
                .layers
                .iter()
                .map(|l| {
                    let keyless = l.annotations.contains_key("dev.sigstore.cosign/certificate");
                    let rekor = l.annotations.contains_key("dev.sigstore.cosign/bundle");
                    json!({"media_type": l.media_type, "digest": l.blob.digest().to_string(), "keyless": keyless, "rekor": rekor})
                })
                .collect();
            json!({
                "format": match s.kind { SignatureKind::SimpleSigning => "simple-signing", SignatureKind::Referrer => "bundle-v0.3" },
                "digest": s.manifest.digest.to_string(),
                "layers": layers,
            })
        })
        .collect();
    // Certifications: what each test-result attestation claims, and whether
    // it verifies with the keys this project's `[policy]` trusts.
    let attestations = runtime
        .block_on(client.fetch_attestations(
            &pinned,
            &manifest.digest,
            &store,
            crate::attest::TEST_RESULT_PREDICATE_TYPE,
        ))
        .map_err(failed)?;
    let keys: Vec<crate::verify::cosign::TrustedKey> = config
        .policy()
        .keys
        .iter()
        .filter_map(|p| {
            let pem = std::fs::read(config.resolve(&p.path)).ok()?;
            crate::verify::cosign::TrustedKey::from_pem(&pem, &lf_lockfile::path_string(&p.path))
                .ok()
        })
        .collect();
    let certification_list: Vec<serde_json::Value> = attestations
        .iter()
        .flat_map(|a| {
            a.layers.iter().map(|l| {
                let bytes = l.blob.read().unwrap_or_default();
                let summary = crate::attest::summarize(&bytes, &manifest.digest, &keys);
                json!({
                    "digest": a.manifest.digest.to_string(),
                    "result": summary.result.map(|r| r.as_str()),
                    "signer": summary.signer.map(|s| s.to_string()),
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
                    "ref": reference.to_string(),
                    "digest": manifest.digest.to_string(),
                    "config": {"digest": parsed.config.digest.to_string(), "size": parsed.config.size},
                    "module": {"digest": parsed.module.digest.to_string(), "size": parsed.module.size},
                    "annotations": parsed.annotations,
                    "abi": abi,
                    "imports": imports.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                    "spec": spec,
                    "signatures": signature_list,
                    "certifications": certification_list,
                })
            );
        }
        return Ok(());
    }
    let mut out = String::new();
    out.push_str(&format!("reference   {reference}\n"));
    out.push_str(&format!("digest      {}\n", manifest.digest));
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
        out.push_str(&format!(
            "signature   {} {} ({} layer{})\n",
            s["format"].as_str().unwrap_or_default(),
            s["digest"].as_str().unwrap_or_default(),
            s["layers"].as_array().map_or(0, Vec::len),
            if s["layers"].as_array().map_or(0, Vec::len) == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    if certification_list.is_empty() {
        out.push_str("certified   no test-result attestation found\n");
    }
    for c in &certification_list {
        let verdict = if c["verified"] == true {
            "verified with [policy] keys".to_owned()
        } else if keys.is_empty() {
            "not verified: no [policy] keys here".to_owned()
        } else {
            format!(
                "NOT verified: {}",
                c["problem"].as_str().unwrap_or_default()
            )
        };
        out.push_str(&format!(
            "certified   {} by key {} ({}) {}\n",
            c["result"].as_str().unwrap_or("(unreadable result)"),
            c["signer"].as_str().unwrap_or("(no key hint)"),
            verdict,
            c["digest"].as_str().unwrap_or_default(),
        ));
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
