//! `lf-resolve certify DIR`: certifies a connector directory against its
//! contract and, with `--output`, writes the result as two in-toto
//! statements.
//!
//! The harness is `lf_certify`; this module only loads the directory the
//! way `test` does ([`super::test::load_dir`]), prints the report, and
//! writes the statements. The evidence comes from
//! [`lf_certify::certify_bytes`], which a `certify REF` (certifying a pushed
//! artifact, then signing and attaching the statements) reuses unchanged.
//!
//! Nothing is written unless certification ran: a contract or module that
//! cannot be used leaves the output directory untouched. The statements are
//! written atomically, and never through a symlink.

use std::path::Path;

use lf_certify::{
    CERTIFICATION_PREDICATE_TYPE, CertifyError, CertifyOptions, Evidence,
    TEST_RESULT_PREDICATE_TYPE, Verdict,
};

use crate::cli::CertifyArgs;
use crate::error::CliError;
use crate::output::Printer;

/// The file name of the test-result statement.
pub const TEST_RESULT_FILE: &str = "statement-test-result.json";

/// The file name of the certification statement.
pub const CERTIFICATION_FILE: &str = "statement-certification.json";

/// Runs `certify`.
pub fn run(args: &CertifyArgs, printer: &Printer) -> Result<(), CliError> {
    let loaded = super::test::load_dir(&args.dir, args.contract.as_deref())?;
    if let Some(output) = &args.output {
        check_output_dir(output)?;
    }
    let options = CertifyOptions { runs: args.runs };
    let evidence =
        lf_certify::certify_bytes(&loaded.bytes, &loaded.manifest, &loaded.contract, &options)
            .map_err(|e| match e {
                CertifyError::Load(e) => super::test::load_failed(&loaded.module_path, &e),
                other => CliError::input(other.to_string(), None),
            })?;

    if printer.is_json() {
        for line in evidence.json_lines() {
            report(format_args!("{line}"));
        }
    } else {
        report(format_args!("{}", evidence.human_report()));
    }
    if let Some(output) = &args.output {
        write_statements(output, &evidence, &loaded.spec.id.to_string())?;
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
                "the report above says why; `lf-resolve test {}` runs the cases alone",
                args.dir.display()
            )),
        }),
    }
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
fn write_statements(dir: &Path, evidence: &Evidence, subject: &str) -> Result<(), CliError> {
    check_output_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        context: "cannot create",
        path: dir.to_owned(),
        source,
    })?;
    let statements = [
        (
            TEST_RESULT_FILE,
            lf_certify::statement(
                subject,
                &evidence.module_digest,
                TEST_RESULT_PREDICATE_TYPE,
                &evidence.test_result_predicate(&evidence.contract_digest),
            ),
        ),
        (
            CERTIFICATION_FILE,
            lf_certify::statement(
                subject,
                &evidence.module_digest,
                CERTIFICATION_PREDICATE_TYPE,
                &evidence.predicate(),
            ),
        ),
    ];
    for (name, _) in &statements {
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
    for (name, statement) in statements {
        let mut text = serde_json::to_string_pretty(&statement).unwrap_or_default();
        text.push('\n');
        super::write_file(&dir.join(name), &text)?;
    }
    Ok(())
}
