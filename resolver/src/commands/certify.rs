//! `lf-resolve certify DIR|REF`: certifies a connector against its contract
//! and publishes the result as two in-toto statements.
//!
//! The harness is `lf_certify`; this module loads what is certified, prints
//! the report, and writes or publishes the statements:
//!
//! - a DIR is loaded the way `test` loads it ([`super::test::load_dir`]); the
//!   statements are about the module digest, and `--output` writes them;
//! - a REF is pulled ([`super::remote`]), with the connector.yaml embedded in
//!   its module; the statements are about the manifest digest, and with
//!   `--key` each is signed as a sigstore v0.3 bundle and attached to the
//!   manifest as an OCI referrer ([`crate::attest::attach_bundle`]), where
//!   `lock` finds it. A FAILED result is reported but not published unless
//!   `--attach-failed` says so: a failure signed by a trusted key refuses the
//!   artifact for good, so it should be published on purpose.
//!
//! Nothing is written unless certification ran: a contract or module that
//! cannot be used leaves the output directory (and the registry) untouched.
//! Files are written atomically, and never through a symlink.

use std::path::Path;

use lf_certify::{
    CERTIFICATION_PREDICATE_TYPE, CertifyError, CertifyOptions, Evidence,
    TEST_RESULT_PREDICATE_TYPE, Verdict,
};

use lf_lockfile::Reference;
use lf_runtime::spec::{ConnectorManifest, NodeSpec};

use crate::cli::CertifyArgs;
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;

/// The file name of the test-result statement.
pub const TEST_RESULT_FILE: &str = "statement-test-result.json";

/// The file name of the certification statement.
pub const CERTIFICATION_FILE: &str = "statement-certification.json";

/// The file name of the signed test-result bundle (`certify REF --key --output`).
pub const TEST_RESULT_BUNDLE_FILE: &str = "test-result.sigstore.json";

/// The file name of the signed certification bundle.
pub const CERTIFICATION_BUNDLE_FILE: &str = "certification.sigstore.json";

/// Runs `certify`.
pub fn run(args: &CertifyArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    if let Some(output) = &args.output {
        check_output_dir(output)?;
    }
    let options = CertifyOptions { runs: args.runs };
    let target = Path::new(&args.target);
    if target.is_dir() || looks_like_a_path(&args.target) {
        if args.key.is_some() {
            return Err(CliError::input(
                "`--key` signs evidence about a pushed artifact, and a directory is not one"
                    .to_owned(),
                Some(format!(
                    "push it (`lf-resolve push {} REF`), then `lf-resolve certify REF --contract {} --key …`",
                    args.target,
                    target.join("tests").join("contract.yaml").display()
                )),
            ));
        }
        let loaded = super::test::load_dir(target, args.contract.as_deref())?;
        let evidence =
            lf_certify::certify_bytes(&loaded.bytes, &loaded.manifest, &loaded.contract, &options)
                .map_err(|e| match e {
                    CertifyError::Load(e) => super::test::load_failed(&loaded.module_path, &e),
                    other => CliError::input(other.to_string(), None),
                })?;
        let subject = Subject {
            name: loaded.spec.id.to_string(),
            digest: evidence.module_digest.clone(),
        };
        return finish(args, &evidence, &subject, printer, |_| Ok(()));
    }

    // A pushed connector.
    let reference: Reference = args
        .target
        .parse()
        .map_err(|e: lf_lockfile::ReferenceError| {
            CliError::input(
                format!(
                    "`{}` is neither a directory nor a reference: {e}",
                    args.target
                ),
                None,
            )
        })?;
    let Some(contract_path) = &args.contract else {
        return Err(CliError::input(
            format!("certifying `{reference}` needs its contract vectors"),
            Some(
                "pass `--contract DIR/tests/contract.yaml` from the connector's source".to_owned(),
            ),
        ));
    };
    // The key is read (and its password asked for) before anything runs.
    let key = args.key.as_deref().map(super::sign::read_key).transpose()?;
    let (remote, client) = super::remote::fetch(&reference, settings, printer)?;
    let manifest =
        ConnectorManifest::from_yaml(&remote.connector_yaml).map_err(|e| CliError::Failed {
            message: format!(
                "the connector.yaml embedded in `{}` is not valid",
                remote.pinned
            ),
            reasons: vec![e.to_string()],
            help: None,
            code: crate::error::EXIT_CHECK_FAILED,
        })?;
    let spec = NodeSpec::from_manifest(&manifest, remote.module_digest.to_string());
    let contract = super::test::load_contract(contract_path, &spec)?;
    let evidence = lf_certify::certify_bytes(&remote.module, &manifest, &contract, &options)
        .map_err(|e| CliError::Failed {
            message: format!("`{}` cannot be loaded", remote.pinned),
            reasons: vec![e.to_string()],
            help: None,
            code: crate::error::EXIT_CHECK_FAILED,
        })?;
    let subject = Subject {
        name: remote.pinned.name(),
        digest: remote.manifest_digest.to_string(),
    };
    finish(args, &evidence, &subject, printer, |evidence| {
        let Some(key) = &key else { return Ok(()) };
        if evidence.result() == Verdict::Failed && !args.attach_failed {
            printer.warning(
                "a FAILED result is not signed or attached (`--attach-failed` attaches it)",
            );
            return Ok(());
        }
        let bundles = attach(&client, settings, &remote, key, evidence, &subject, printer)?;
        match &args.output {
            Some(output) => write_files(output, &bundles),
            None => Ok(()),
        }
    })
}

/// What the statements are about: the module (a directory) or the
/// manifest (a pushed artifact).
struct Subject {
    name: String,
    digest: String,
}

/// `./x`, `/x`, `../x`, `~/x`: meant as a directory even when it is not one.
fn looks_like_a_path(target: &str) -> bool {
    target.starts_with(['.', '/', '~'])
}

/// Prints the report, writes `--output`, runs `publish` (signing and
/// attaching), and turns the verdict into the exit status.
fn finish(
    args: &CertifyArgs,
    evidence: &Evidence,
    subject: &Subject,
    printer: &Printer,
    publish: impl FnOnce(&Evidence) -> Result<(), CliError>,
) -> Result<(), CliError> {
    if printer.is_json() {
        for line in evidence.json_lines() {
            report(format_args!("{line}"));
        }
    } else {
        report(format_args!("{}", evidence.human_report()));
    }
    if let Some(output) = &args.output {
        write_statements(output, evidence, subject)?;
        printer.status(
            "Wrote",
            format_args!(
                "{} and {} to {}",
                TEST_RESULT_FILE,
                CERTIFICATION_FILE,
                output.display()
            ),
            &serde_json::json!({"type": "statements", "dir": output}),
        );
    }
    publish(evidence)?;
    match evidence.result() {
        Verdict::Passed | Verdict::Warned => Ok(()),
        Verdict::Failed => Err(CliError::CheckFailed {
            message: format!(
                "`{}` failed certification: {}",
                evidence.connector,
                evidence.tests(Verdict::Failed).join(", ")
            ),
            reasons: Vec::new(),
            help: Some(format!(
                "the report above says why; `lf-resolve test DIR` runs the cases alone ({})",
                args.contract
                    .as_deref()
                    .map_or_else(|| args.target.clone(), |c| c.display().to_string())
            )),
        }),
    }
}

/// Signs both statements about the manifest with `key`, attaches them as
/// referrers, and returns the bundles (file name, JSON) for `--output`.
fn attach(
    client: &crate::registry::RegistryClient,
    settings: &Settings,
    remote: &super::remote::RemoteConnector,
    key: &crate::sign::SigningKey,
    evidence: &Evidence,
    subject: &Subject,
    printer: &Printer,
) -> Result<Vec<(&'static str, String)>, CliError> {
    let failed = |e: crate::registry::RegistryError| {
        crate::commands::registry_failed("attaching the certification failed", &e)
    };
    let config = super::push::project_config(settings);
    let publisher =
        crate::registry::push::Publisher::new(&config, &remote.pinned).map_err(failed)?;
    let runtime = crate::commands::runtime()?;
    let mut bundles = Vec::new();
    for (file, predicate_type, predicate) in [
        (
            TEST_RESULT_BUNDLE_FILE,
            TEST_RESULT_PREDICATE_TYPE,
            evidence.test_result_predicate(&evidence.contract_digest),
        ),
        (
            CERTIFICATION_BUNDLE_FILE,
            CERTIFICATION_PREDICATE_TYPE,
            evidence.predicate(),
        ),
    ] {
        let statement = crate::sign::in_toto_statement_for(
            &remote.manifest_digest,
            Some(&subject.name),
            predicate_type,
            &predicate,
        );
        let bundle = crate::sign::dsse_bundle_v03_for(key, &statement)
            .map_err(|e| CliError::input(e.to_string(), None))?;
        let written = runtime
            .block_on(crate::attest::attach_bundle(
                client,
                &publisher,
                &remote.pinned,
                &remote.manifest_digest,
                remote.manifest_size,
                &bundle,
                predicate_type,
            ))
            .map_err(failed)?;
        printer.status(
            "Attached",
            format!(
                "{} ({}, key {}) → {written}",
                predicate_type,
                evidence.result(),
                key.fingerprint()
            ),
            &serde_json::json!({
                "type": "attached",
                "ref": remote.pinned.to_string(),
                "subject": remote.manifest_digest.to_string(),
                "predicate_type": predicate_type,
                "result": evidence.result().to_string(),
                "key": key.fingerprint().to_string(),
                "attestation": written.to_string(),
            }),
        );
        bundles.push((file, String::from_utf8_lossy(&bundle).into_owned()));
    }
    Ok(bundles)
}

/// The report goes to stdout: it is this command's result.
#[allow(clippy::print_stdout, reason = "the report is this command's result")]
fn report(line: std::fmt::Arguments<'_>) {
    println!("{line}");
}

/// Refuses an output directory that is a symlink or not a directory; a
/// missing one is created later, when there is something to write.
fn check_output_dir(dir: &Path) -> Result<(), CliError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(CliError::input(
            format!(
                "`{}` is a symlink; refusing to write through it",
                dir.display()
            ),
            Some("give the real directory".to_owned()),
        )),
        Ok(meta) if !meta.is_dir() => Err(CliError::input(
            format!("`{}` exists and is not a directory", dir.display()),
            None,
        )),
        _ => Ok(()),
    }
}

/// Writes both statements into `dir` (created if missing), each atomically;
/// refuses a target that is a symlink.
fn write_statements(dir: &Path, evidence: &Evidence, subject: &Subject) -> Result<(), CliError> {
    let statements = [
        (
            TEST_RESULT_FILE,
            lf_certify::statement(
                &subject.name,
                &subject.digest,
                TEST_RESULT_PREDICATE_TYPE,
                &evidence.test_result_predicate(&evidence.contract_digest),
            ),
        ),
        (
            CERTIFICATION_FILE,
            lf_certify::statement(
                &subject.name,
                &subject.digest,
                CERTIFICATION_PREDICATE_TYPE,
                &evidence.predicate(),
            ),
        ),
    ];
    let files: Vec<(&str, String)> = statements
        .into_iter()
        .map(|(name, statement)| {
            let mut text = serde_json::to_string_pretty(&statement).unwrap_or_default();
            text.push('\n');
            (name, text)
        })
        .collect();
    write_files(dir, &files)
}

/// Writes `files` into `dir` (created if missing), each atomically, after
/// checking that none of the targets is a symlink.
fn write_files(dir: &Path, files: &[(&str, String)]) -> Result<(), CliError> {
    check_output_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        context: "cannot create",
        path: dir.to_owned(),
        source,
    })?;
    for (name, _) in files {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(CliError::input(
                format!(
                    "`{}` is a symlink; refusing to write through it",
                    path.display()
                ),
                Some("remove it, or give another --output directory".to_owned()),
            ));
        }
    }
    for (name, text) in files {
        super::write_file(&dir.join(name), text)?;
    }
    Ok(())
}
