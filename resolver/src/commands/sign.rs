//! `lf-resolve sign` and `generate-key`: cosign-compatible signatures.
//!
//! By default a simple-signing signature is added to the `sha256-<hex>.sig`
//! tag, next to the signatures already there (never replacing them), as
//! `cosign sign --key` does. `--bundle` writes a sigstore v0.3 bundle (DSSE
//! over an in-toto statement) as an OCI 1.1 referrer, and records it in the
//! `sha256-<hex>` tag fallback index where the registry has no referrers API.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use lf_lockfile::{Digest, Reference};

use crate::artifact::OCI_MANIFEST;
use crate::cli::{GenerateKeyArgs, SignArgs};
use crate::commands::push::project_config;
use crate::error::CliError;
use crate::output::Printer;
use crate::registry::RegistryClient;
use crate::registry::push::Publisher;
use crate::settings::Settings;
use crate::sign::{self, SigningKey};

/// The media type of a cosign simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a sigstore bundle v0.3.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

pub(crate) fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let pem = std::fs::read(path).map_err(|source| CliError::Io {
        context: "cannot read the key",
        path: path.to_owned(),
        source,
    })?;
    let password = sign::password_from_env_or_prompt(false)
        .map_err(|e| CliError::input(e.to_string(), None))?;
    SigningKey::from_cosign_pem(&pem, password.as_bytes())
        .map_err(|e| CliError::input(format!("`{}`: {e}", path.display()), None))
}

fn sha256(bytes: &[u8]) -> Digest {
    use sha2::Digest as _;
    Digest::from_bytes(lf_lockfile::Algorithm::Sha256, &sha2::Sha256::digest(bytes))
}

/// `lf-resolve sign REF --key KEY [--bundle]`.
pub fn run(args: &SignArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let reference: Reference = args
        .reference
        .parse()
        .map_err(|e: lf_lockfile::ReferenceError| CliError::input(e.to_string(), None))?;
    let key = read_key(&args.key)?;
    let config = project_config(settings);
    let client = RegistryClient::new(&config);
    let publisher = Publisher::new(&config, &reference)
        .map_err(|e| crate::commands::registry_failed("signing failed", &e))?;
    let rt = crate::commands::runtime()?;
    let subject = rt
        .block_on(client.fetch_manifest(&reference))
        .map_err(|e| crate::commands::registry_failed("signing failed", &e))?;
    let name = reference.name();
    let (format, written) = if args.bundle {
        let bundle = sign::dsse_bundle_v03(&key, &subject.digest, Some(&name))
            .map_err(|e| CliError::input(e.to_string(), None))?;
        let written = rt
            .block_on(crate::attest::attach_signature_bundle(
                &client,
                &publisher,
                &reference,
                &subject.digest,
                subject.bytes.len(),
                &bundle,
            ))
            .map_err(|e| crate::commands::registry_failed("signing failed", &e))?;
        ("bundle-v0.3", written)
    } else {
        let payload = sign::simple_signing_payload(&name, &subject.digest);
        let signature = base64::engine::general_purpose::STANDARD.encode(
            key.sign(&payload)
                .map_err(|e| CliError::input(e.to_string(), None))?,
        );
        let written = rt
            .block_on(push_simple_signing(
                &client,
                &publisher,
                &reference,
                &subject.digest,
                &payload,
                &signature,
            ))
            .map_err(|e| crate::commands::registry_failed("signing failed", &e))?;
        ("simple-signing", written)
    };
    printer.status(
        "Signed",
        format!(
            "{name}@{} ({format}, key {}) → {written}",
            subject.digest,
            key.fingerprint()
        ),
        &json!({"type": "signed", "ref": reference.to_string(), "digest": subject.digest.to_string(), "format": format, "key": key.fingerprint().to_string(), "signature": written.to_string()}),
    );
    Ok(())
}

/// Adds a layer to the `.sig` manifest (creating it when missing).
async fn push_simple_signing(
    client: &RegistryClient,
    publisher: &Publisher,
    reference: &Reference,
    subject: &Digest,
    payload: &[u8],
    signature: &str,
) -> Result<Digest, crate::registry::RegistryError> {
    let tag = format!("{}.sig", Reference::digest_tag(subject));
    let sig_ref = reference
        .with_tag(&tag)
        .map_err(|e| crate::registry::RegistryError::Other {
            reference: reference.to_string(),
            detail: e.to_string(),
        })?;
    let mut layers: Vec<Value> = match client.fetch_manifest(&sig_ref).await {
        Ok(existing) => serde_json::from_slice::<Value>(&existing.bytes)
            .ok()
            .and_then(|v| v.get("layers").and_then(Value::as_array).cloned())
            .unwrap_or_default(),
        Err(crate::registry::RegistryError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let payload_digest = sha256(payload);
    let already = layers.iter().any(|l| {
        l["digest"] == payload_digest.to_string()
            && l["annotations"][SIGNATURE_ANNOTATION] == signature
    });
    publisher.authenticate().await?;
    if !already {
        publisher.push_blob(payload).await?;
        layers.push(json!({
            "mediaType": SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": payload_digest.to_string(),
            "annotations": { SIGNATURE_ANNOTATION: signature },
        }));
    }
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "config": {},
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap_or_default();
    let config_digest = publisher.push_blob(&config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": config_digest.to_string(),
        },
        "layers": layers,
    }))
    .unwrap_or_default();
    publisher
        .push_manifest(&manifest, OCI_MANIFEST, Some(&tag))
        .await
}

/// `lf-resolve generate-key`: writes `<prefix>.key` (encrypted, cosign's
/// format) and `<prefix>.pub`.
pub fn generate_key(args: &GenerateKeyArgs, printer: &Printer) -> Result<(), CliError> {
    let private: PathBuf = PathBuf::from(format!("{}.key", args.output_key_prefix));
    let public: PathBuf = PathBuf::from(format!("{}.pub", args.output_key_prefix));
    for path in [&private, &public] {
        if path.exists() {
            return Err(CliError::input(
                format!("`{}` already exists", path.display()),
                "remove it or pass another `--output-key-prefix`".to_owned(),
            ));
        }
    }
    let password = sign::password_from_env_or_prompt(true)
        .map_err(|e| CliError::input(e.to_string(), None))?;
    let key = SigningKey::generate().map_err(|e| CliError::input(e.to_string(), None))?;
    let pem = key
        .to_cosign_pem(password.as_bytes())
        .map_err(|e| CliError::input(e.to_string(), None))?;
    write_private(&private, pem.as_bytes())?;
    let public_pem = key
        .public_key_pem()
        .map_err(|e| CliError::input(e.to_string(), None))?;
    std::fs::write(&public, public_pem).map_err(|source| CliError::Io {
        context: "cannot write",
        path: public.clone(),
        source,
    })?;
    printer.status(
        "Generated",
        format!("{} and {} (key {})", private.display(), public.display(), key.fingerprint()),
        &json!({"type": "generated", "private": private, "public": public, "fingerprint": key.fingerprint().to_string()}),
    );
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        context: "cannot write",
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, bytes).map_err(io)
}
