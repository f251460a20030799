//! `lf-resolve sbom`: the bundle as a CycloneDX 1.6 JSON bill of materials.
//!
//! Everything comes from `latticeflow.toml` and `latticeflow.lock`; nothing is
//! fetched and the content store is not read, so the document describes
//! exactly what the lock pins (what `vendor` copies and `generate` embeds),
//! and the same two files give the same bytes on every machine:
//!
//! * no wall-clock time: `metadata.timestamp` appears only when
//!   `SOURCE_DATE_EPOCH` is set, and is then that instant;
//! * the serial number is a UUID (version 5, name-based) of the document's own
//!   content, so an unchanged bundle keeps its serial and any change gets a
//!   new one, where a random UUID would make every run differ;
//! * object keys are sorted (serde_json's map), components by connector name,
//!   properties by name and value.
//!
//! The JSON is built as `serde_json` values, so every string from the inputs
//! (a bundle name with quotes, a keyless identity with control characters) is
//! escaped by the serialiser, never by hand. The only hand-made encoding is
//! the purl's percent-encoding ([`purl`]).
//!
//! Each connector is a component of type `library`: a WebAssembly module is
//! code that the bundle's host loads and calls, not a program that runs on its
//! own (`application`) and not inert content (`file`, `data`). Its hashes are
//! the OCI manifest's (the digest the purl and the lock name); the module
//! layer is a nested component of type `file` with its own hash, since a
//! CycloneDX `hashes` list is for one thing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha1::Digest as _;

use lf_lockfile::{
    Abi, Algorithm, CertificationMode, Config, Digest, LockedConnector, Lockfile, Signer,
};

use crate::cli::{SbomArgs, SbomFormat};
use crate::commands::{existing_lock, load_config, write_file};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;

/// The `bom-ref` of the bundle (the root component). It holds a `-`, which a
/// connector name cannot, so it never collides with a connector's `bom-ref`.
pub const ROOT_REF: &str = "latticeflow-bundle";

/// The root component's name when `latticeflow.toml` has no `[bundle] name`.
/// A fixed word rather than the directory's name, which differs between
/// checkouts and would make the document depend on where it was made.
const DEFAULT_BUNDLE_NAME: &str = "latticeflow-bundle";

/// The namespace of the serial number's name-based UUID: the RFC 9562 URL
/// namespace (`6ba7b811-9dad-11d1-80b4-00c04fd430c8`).
const UUID_NAMESPACE_URL: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// Prints or writes the SBOM.
pub fn run(args: &SbomArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let SbomFormat::CyclonedxJson = args.format;
    let config = load_config(settings)?;
    let (lock_path, lock) = existing_lock(&config)?;
    let stale = lock.staleness(&config);
    if !stale.is_empty() {
        let reasons: Vec<String> = stale.iter().map(ToString::to_string).collect();
        printer.warning(format!(
            "`{}` does not satisfy `{}` ({}); the SBOM describes the lock as it is: run `lf-resolve lock` first",
            lock_path.display(),
            config.path().display(),
            reasons.join("; ")
        ));
    }
    let timestamp = source_date_epoch(std::env::var_os("SOURCE_DATE_EPOCH"))?;
    let bom = cyclonedx(&config, &lock, timestamp.as_deref());
    let mut text = serde_json::to_string_pretty(&bom)
        .map_err(|e| CliError::input(format!("cannot serialise the SBOM: {e}"), None::<String>))?;
    text.push('\n');
    match args.output.as_deref() {
        Some(out) if out != Path::new("-") => {
            crate::commands::wit::check_target(out)?;
            write_file(out, &text)?;
            printer.status(
                "Wrote",
                format!(
                    "the CycloneDX 1.6 SBOM of {} connector(s) to {}",
                    lock.connectors().len(),
                    out.display()
                ),
                &json!({
                    "type": "sbom",
                    "format": "cyclonedx-json",
                    "path": PathBuf::from(out),
                    "components": lock.connectors().len(),
                    "serialNumber": bom["serialNumber"],
                }),
            );
            Ok(())
        }
        _ => print_bom(printer, &bom, &text),
    }
}

/// The document on stdout: as it is, or as the `sbom` field of one JSON event.
#[allow(clippy::print_stdout, reason = "the SBOM is this command's result")]
fn print_bom(printer: &Printer, bom: &Value, text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    if printer.is_json() {
        println!(
            "{}",
            json!({"type": "sbom", "format": "cyclonedx-json", "sbom": bom})
        );
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Io {
            context: "cannot write the SBOM to",
            path: "stdout".into(),
            source,
        })
}

/// `SOURCE_DATE_EPOCH` (whole seconds since 1970, UTC) as an RFC 3339
/// timestamp; `None` when unset or empty.
fn source_date_epoch(value: Option<std::ffi::OsString>) -> Result<Option<String>, CliError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    let seconds: i64 = text
        .parse()
        .ok()
        .filter(|s| (0..=253_402_300_799).contains(s))
        .ok_or_else(|| {
            CliError::input(
                format!("SOURCE_DATE_EPOCH `{text}` is not a number of seconds since 1970-01-01"),
                Some("set it to a whole number such as `1700000000`, or unset it for an SBOM without a timestamp".to_owned()),
            )
        })?;
    Ok(Some(rfc3339(seconds)))
}

/// `seconds` since the Unix epoch (0 to year 9999) as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The CycloneDX 1.6 document of `lock`, with `timestamp` when given.
pub fn cyclonedx(config: &Config, lock: &Lockfile, timestamp: Option<&str>) -> Value {
    let bundle = config.bundle_name().unwrap_or(DEFAULT_BUNDLE_NAME);
    let mut metadata = json!({
        "tools": {
            "components": [{
                "type": "application",
                "name": "lf-resolve",
                "version": env!("CARGO_PKG_VERSION"),
            }],
        },
        "component": {
            "type": "application",
            "bom-ref": ROOT_REF,
            "name": bundle,
        },
    });
    if let Some(timestamp) = timestamp {
        metadata["timestamp"] = json!(timestamp);
    }
    let components: Vec<Value> = lock.connectors().iter().map(component).collect();
    let mut dependencies = vec![json!({
        "ref": ROOT_REF,
        "dependsOn": lock.connectors().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
    })];
    dependencies.extend(
        lock.connectors()
            .iter()
            .map(|c| json!({"ref": c.name.as_str(), "dependsOn": []})),
    );
    let mut bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    });
    let serial = serial_number(&bom);
    bom["serialNumber"] = json!(serial);
    bom
}

/// `urn:uuid:` + the version 5 UUID (SHA-1, URL namespace) of the compact
/// serialisation of `bom`, which has no serial number yet.
fn serial_number(bom: &Value) -> String {
    let mut hasher = sha1::Sha1::new();
    hasher.update(UUID_NAMESPACE_URL);
    hasher.update(bom.to_string().as_bytes());
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::from("urn:uuid:");
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// One connector: a `library` with its manifest hash, purl, properties and
/// its module as a nested `file`.
fn component(c: &LockedConnector) -> Value {
    let name = c.name.as_str();
    json!({
        "type": "library",
        "bom-ref": name,
        "name": name,
        "description": format!("latticeflow connector {}", c.id.as_str()),
        "purl": purl(c),
        "hashes": [hash(&c.digest)],
        "properties": properties(c),
        "components": [{
            "type": "file",
            "bom-ref": format!("{name}/module"),
            "name": "module.wasm",
            "mime-type": "application/wasm",
            "hashes": [hash(&c.module.digest)],
            "properties": [{"name": "latticeflow:size", "value": c.module.size.to_string()}],
        }],
    })
}

/// A CycloneDX hash object.
fn hash(digest: &Digest) -> Value {
    let alg = match digest.algorithm() {
        Algorithm::Sha256 => "SHA-256",
        Algorithm::Sha512 => "SHA-512",
    };
    json!({"alg": alg, "content": digest.hex()})
}

/// The connector's `latticeflow:` properties, sorted by name then value.
/// A set is written as one property per member, so a consumer never splits a
/// string; an empty set writes none.
fn properties(c: &LockedConnector) -> Vec<Value> {
    let mut out: Vec<(&str, String)> = vec![
        ("latticeflow:abi", c.abi.number().to_string()),
        ("latticeflow:connector-id", c.id.as_str().to_owned()),
        ("latticeflow:reference", c.reference.to_string()),
        ("latticeflow:config-digest", c.config.digest.to_string()),
        ("latticeflow:deterministic", c.deterministic.to_string()),
        (
            "latticeflow:signature:policy",
            c.signature.policy.to_string(),
        ),
    ];
    out.extend(
        c.capabilities
            .iter()
            .map(|cap| ("latticeflow:capability:requested", cap.as_str().to_owned())),
    );
    out.extend(
        c.grants
            .iter()
            .map(|cap| ("latticeflow:capability:granted", cap.as_str().to_owned())),
    );
    out.extend(c.hosts.iter().map(|h| ("latticeflow:host", h.to_string())));
    if c.abi == Abi::V2 {
        out.extend(
            c.sandboxed
                .iter()
                .map(|s| ("latticeflow:sandboxed", s.clone())),
        );
    }
    if let Some(verified) = &c.signature.verified {
        out.push((
            "latticeflow:signature:format",
            verified.format.as_str().to_owned(),
        ));
        out.push(("latticeflow:signature:digest", verified.digest.to_string()));
        match &verified.signer {
            Signer::Key(key) => out.push(("latticeflow:signature:key", key.to_string())),
            Signer::Keyless { identity, issuer } => {
                out.push(("latticeflow:signature:identity", identity.clone()));
                out.push(("latticeflow:signature:issuer", issuer.clone()));
            }
        }
    }
    if c.certification.policy != CertificationMode::None {
        out.push((
            "latticeflow:certification:policy",
            c.certification.policy.to_string(),
        ));
    }
    if let Some(verified) = &c.certification.verified {
        out.push((
            "latticeflow:certification:result",
            verified.result.as_str().to_owned(),
        ));
        out.push(("latticeflow:certification:key", verified.key.to_string()));
        out.push((
            "latticeflow:certification:digest",
            verified.digest.to_string(),
        ));
    }
    if let Some(spec) = &c.spec {
        out.push(("latticeflow:spec:path", spec.path.clone()));
        out.push(("latticeflow:spec:digest", spec.digest.to_string()));
    }
    out.sort();
    out.into_iter()
        .map(|(name, value)| {
            let mut property = Map::new();
            property.insert("name".to_owned(), Value::from(name));
            property.insert("value".to_owned(), Value::from(value));
            Value::Object(property)
        })
        .collect()
}

/// The purl of a locked connector, per the purl `oci` type:
/// `pkg:oci/<last repository segment>@sha256%3A<hex>?repository_url=<registry/repository>&tag=<tag>`.
///
/// The version's `:` is written `%3A` as in the `oci` type's own examples
/// (and what other SBOM tools write); a purl parser decodes either form to
/// the same version. The qualifiers are sorted by key, as the purl spec
/// asks; `tag` appears only when the reference has one.
pub fn purl(c: &LockedConnector) -> String {
    let repository = c.reference.repository();
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let mut out = format!(
        "pkg:oci/{}@{}%3A{}?repository_url={}",
        percent_encode(&name.to_lowercase(), ""),
        c.digest.algorithm(),
        c.digest.hex(),
        percent_encode(&c.reference.name(), "/:"),
    );
    if let Some(tag) = c.reference.tag() {
        out.push_str("&tag=");
        out.push_str(&percent_encode(tag, ""));
    }
    out
}

/// Percent-encodes every byte of `s` except ASCII letters, digits, `.-_~`
/// and the characters in `keep`.
fn percent_encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        let c = char::from(byte);
        if byte.is_ascii_alphanumeric()
            || ".-_~".contains(c)
            || (byte.is_ascii() && keep.contains(c))
        {
            out.push(c);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn source_date_epoch_must_be_whole_seconds() {
        assert_eq!(source_date_epoch(None).unwrap(), None);
        assert_eq!(source_date_epoch(Some("".into())).unwrap(), None);
        assert_eq!(
            source_date_epoch(Some("86400".into())).unwrap().as_deref(),
            Some("1970-01-02T00:00:00Z")
        );
        for bad in ["-1", "1.5", "soon", "99999999999999"] {
            let err = source_date_epoch(Some(bad.into())).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_and_asked_for() {
        assert_eq!(percent_encode("a-b_c.d~e", ""), "a-b_c.d~e");
        assert_eq!(percent_encode("h:5000/r", "/:"), "h:5000/r");
        assert_eq!(percent_encode("a b@c?é", ""), "a%20b%40c%3F%C3%A9");
    }

    #[test]
    fn the_serial_is_a_version_5_uuid_of_the_content() {
        let a = serial_number(&json!({"a": 1}));
        let b = serial_number(&json!({"a": 2}));
        assert_ne!(a, b);
        assert_eq!(a, serial_number(&json!({"a": 1})));
        let uuid = a.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5", "{uuid}");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
    }
}
