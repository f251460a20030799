//! `lf-resolve test DIR`: runs a connector directory's contract vectors
//! (`tests/contract.yaml`) through the real host and reports like
//! `cargo test`.
//!
//! This is the author's inner loop: edit, build, `test`, before `push`. It
//! loads exactly what `push` would publish (`module.wasm`, or `module.wat`
//! compiled), with the capabilities connector.yaml declares granted, and
//! answers capability calls from the case's script (`lf_certify`).
//! `certify` loads a directory the same way ([`load_dir`]).

use std::path::{Path, PathBuf};

use lf_certify::{Contract, MAX_CONTRACT_BYTES, Runner};
use lf_runtime::spec::{ConnectorManifest, NodeSpec};
use serde_json::json;

use crate::cli::TestArgs;
use crate::commands::read_bounded;
use crate::error::CliError;
use crate::output::Printer;

/// The most bytes of module read: a Python component is ~18 MB.
const MAX_MODULE_BYTES: u64 = 256 * 1024 * 1024;

/// A connector directory as `push` would publish it, with its contract.
pub(crate) struct LoadedDir {
    /// The parsed connector.yaml.
    pub manifest: ConnectorManifest,
    /// The node's spec (module digest included).
    pub spec: NodeSpec,
    /// The contract file read.
    pub contract_path: PathBuf,
    /// The parsed, checked contract.
    pub contract: Contract,
    /// `module.wasm` or `module.wat`.
    pub module_path: PathBuf,
    /// The module bytes (`module.wat` compiled).
    pub bytes: Vec<u8>,
}

/// Loads `dir`: connector.yaml, the module, and the contract (`contract`,
/// or `dir/tests/contract.yaml`), checked against the manifest. Nothing is
/// written.
pub(crate) fn load_dir(dir: &Path, contract: Option<&Path>) -> Result<LoadedDir, CliError> {
    let yaml_path = dir.join("connector.yaml");
    if !yaml_path.is_file() {
        return Err(CliError::input(
            format!("`{}` has no connector.yaml", dir.display()),
            Some("give a connector directory (`lf-resolve new` makes one)".to_owned()),
        ));
    }
    let yaml = crate::commands::push::read_connector_yaml(&yaml_path)?;
    let manifest = ConnectorManifest::from_yaml(&yaml)
        .map_err(|e| crate::commands::push::manifest_error(&yaml_path, &yaml, &e))?;

    let contract_path =
        contract.map_or_else(|| dir.join("tests").join("contract.yaml"), Path::to_owned);
    // The contract is read before the module is looked for: an author who
    // has not written it yet hears about that first.
    let contract_text = read_contract(&contract_path)?;
    let (module_path, bytes) = module_bytes(dir)?;
    let spec = NodeSpec::from_manifest(&manifest, lf_certify::module_digest(&bytes));
    let contract = parse_contract(&contract_text, &contract_path, &spec)?;
    Ok(LoadedDir {
        manifest,
        spec,
        contract_path,
        contract,
        module_path,
        bytes,
    })
}

/// The error of a module the host cannot load.
/// Reads, validates and checks `path` against the connector `spec`.
pub(crate) fn load_contract(path: &Path, spec: &NodeSpec) -> Result<Contract, CliError> {
    parse_contract(&read_contract(path)?, path, spec)
}

/// The contract file's text (bounded, UTF-8).
fn read_contract(path: &Path) -> Result<String, CliError> {
    let text = read_bounded(path, MAX_CONTRACT_BYTES)?;
    String::from_utf8(text)
        .map_err(|_| CliError::input(format!("`{}` is not UTF-8", path.display()), None))
}

/// Validates and checks the contract `text` of `path` against `spec`.
fn parse_contract(text: &str, path: &Path, spec: &NodeSpec) -> Result<Contract, CliError> {
    Contract::from_yaml(text, spec).map_err(|e| {
        CliError::input(
            e.located(path),
            Some("docs/certification.md describes tests/contract.yaml".to_owned()),
        )
    })
}

pub(crate) fn load_failed(module_path: &Path, e: &lf_runtime::host::NodeError) -> CliError {
    CliError::Failed {
        message: format!("`{}` cannot be loaded", module_path.display()),
        reasons: vec![e.to_string()],
        help: Some("build it again (`./build.sh`), or check it with `lf-resolve push`".to_owned()),
        code: crate::error::EXIT_CHECK_FAILED,
    }
}

/// Runs `test`.
pub fn run(args: &TestArgs, printer: &Printer) -> Result<(), CliError> {
    let LoadedDir {
        manifest,
        spec,
        contract_path,
        contract,
        module_path,
        bytes,
    } = load_dir(&args.dir, args.contract.as_deref())?;
    let runner =
        Runner::load(&bytes, spec, &contract).map_err(|e| load_failed(&module_path, &e))?;

    let filter = args.filter.as_deref();
    let cases: Vec<_> = contract
        .cases
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect();
    let skipped = contract.cases.len() - cases.len();
    let human = !printer.is_json();
    if human {
        report(format_args!(
            "\nrunning {} case{} from {} ({}, ABI v{})",
            cases.len(),
            if cases.len() == 1 { "" } else { "s" },
            contract_path.display(),
            manifest.id(),
            runner.abi()
        ));
    }
    let mut failed = Vec::new();
    for case in &cases {
        let result = runner.run(case);
        if human {
            report(format_args!(
                "case {} ... {}",
                result.name,
                if result.passed() { "ok" } else { "FAILED" }
            ));
        } else {
            report(format_args!(
                "{}",
                json!({"type": "case", "name": result.name, "passed": result.passed(), "failures": result.failures})
            ));
        }
        if !result.passed() {
            failed.push(result);
        }
    }
    let passed = cases.len() - failed.len();
    if human {
        if !failed.is_empty() {
            report(format_args!("\nfailures:"));
            for result in &failed {
                report(format_args!("\n---- {} ----", result.name));
                for failure in &result.failures {
                    report(format_args!("{failure}"));
                }
            }
            report(format_args!("\nfailures:"));
            for result in &failed {
                report(format_args!("    {}", result.name));
            }
        }
        report(format_args!(
            "\ntest result: {}. {passed} passed; {} failed; {skipped} filtered out\n",
            if failed.is_empty() { "ok" } else { "FAILED" },
            failed.len()
        ));
    } else {
        report(format_args!(
            "{}",
            json!({"type": "test-result", "connector": manifest.id().as_str(), "passed": passed, "failed": failed.len(), "filtered": skipped})
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::CheckFailed {
            message: format!(
                "{} of {} contract case{} failed for `{}`",
                failed.len(),
                cases.len(),
                if cases.len() == 1 { "" } else { "s" },
                manifest.id()
            ),
            reasons: Vec::new(),
            help: None,
        })
    }
}

/// The report goes to stdout: it is this command's result.
#[allow(clippy::print_stdout, reason = "the report is this command's result")]
fn report(line: std::fmt::Arguments<'_>) {
    println!("{line}");
}

/// `module.wasm`, or `module.wat` compiled, as `push` would take them.
fn module_bytes(dir: &Path) -> Result<(PathBuf, Vec<u8>), CliError> {
    let wasm = dir.join("module.wasm");
    if wasm.is_file() {
        let bytes = read_bounded(&wasm, MAX_MODULE_BYTES)?;
        return Ok((wasm, bytes));
    }
    let wat = dir.join("module.wat");
    if wat.is_file() {
        let bytes = wat::parse_file(&wat).map_err(|e| {
            CliError::input(format!("`{}` does not compile: {e}", wat.display()), None)
        })?;
        return Ok((wat, bytes));
    }
    Err(CliError::input(
        format!(
            "`{}` holds neither module.wasm nor module.wat",
            dir.display()
        ),
        Some(
            "build the connector first (`./build.sh` in a directory `lf-resolve new` made)"
                .to_owned(),
        ),
    ))
}
