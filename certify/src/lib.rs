//! Contract vectors and certification for latticeflow connectors.
//!
//! A connector carries `tests/contract.yaml`: cases with inputs, expected
//! outputs or declared errors, and scripted capability answers
//! ([`contract`]). `lf-resolve test` plays them through the real host
//! ([`Runner`]); certification ([`certify`]) plays them again to collect
//! [`Evidence`] that the connector keeps what its manifest promises:
//! its contract, idempotency, determinism and capability declarations.
//!
//! The crate exists apart from `lf-resolve` so that a native connector's
//! own tests can certify it from a [`NodeRegistry`] without the resolver
//! ([`certify_registered`], [`assert_certified`]), and so that the one
//! harness serves the CLI, those tests, and later the signing of the result.
//!
//! It never touches the network or the file system beyond reading the
//! contract file it is given (bounded by [`MAX_CONTRACT_BYTES`]): every
//! capability a node calls is answered by the script and recorded
//! ([`script`]).

pub mod contract;
pub mod evidence;
pub mod harness;
pub mod runner;
pub mod script;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lf_runtime::host::{NodeError, NodeRegistry, RegistryError};
use lf_runtime::spec::{ConnectorManifest, NodeSpec};
use sha2::Digest as _;

pub use contract::{Case, Contract, ContractError, MAX_CONTRACT_BYTES};
pub use evidence::{
    CERTIFICATION_PREDICATE_TYPE, CheckKind, CheckResult, Evidence, STATEMENT_TYPE,
    TEST_RESULT_PREDICATE_TYPE, Verdict, statement,
};
pub use harness::{CertifyOptions, certify};
pub use runner::{CaseResult, NodeKind, Runner};

/// Why certification could not run (as opposed to a FAILED result).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertifyError {
    /// A file could not be read, or is too large, or not UTF-8.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The contract cannot be used.
    #[error("{}", .source.located(.path))]
    Contract {
        /// The contract file.
        path: PathBuf,
        /// What is wrong with it.
        source: ContractError,
    },
    /// The node cannot be loaded.
    #[error("the node cannot be loaded: {0}")]
    Load(#[from] NodeError),
    /// No node is registered under the id.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Why [`read_bounded`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// An I/O error.
    #[error("cannot read `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Larger than allowed.
    #[error("`{}` is over the {limit}-byte limit", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8 where text is required.
    #[error("`{}` is not UTF-8", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

/// Reads at most `limit` bytes of `path`, refusing a larger file instead of
/// reading it whole.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| ReadError::NotUtf8 {
        path: path.to_owned(),
    })
}

impl ContractError {
    /// The error with the file in front: `FILE:LINE:COL: message` for
    /// syntax errors, `FILE: …` otherwise.
    pub fn located(&self, path: &Path) -> String {
        match self {
            ContractError::Syntax {
                location: Some(_), ..
            }
            | ContractError::Schema {
                location: Some(_), ..
            } => format!("{}:{self}", path.display()),
            _ => format!("{}: {self}", path.display()),
        }
    }
}

/// Parses the contract `text` (read from `path`) against `spec`.
pub fn load_contract(path: &Path, text: &str, spec: &NodeSpec) -> Result<Contract, CertifyError> {
    Contract::from_yaml(text, spec).map_err(|source| CertifyError::Contract {
        path: path.to_owned(),
        source,
    })
}

/// Certifies a connector given as bytes (a core module or a component), its
/// manifest, and its parsed contract: the evidence a `certify DIR` and a
/// `certify REF` both produce. The module digest is computed here.
pub fn certify_bytes(
    bytes: &[u8],
    manifest: &ConnectorManifest,
    contract: &Contract,
    options: &CertifyOptions,
) -> Result<Evidence, CertifyError> {
    let spec = NodeSpec::from_manifest(manifest, module_digest(bytes));
    let runner = Runner::load(bytes, spec, contract)?;
    Ok(certify(&runner, contract, options))
}

/// `sha256:<hex>` of `bytes`.
pub fn module_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// Certifies the node registered as `node_id` (a native connector in its
/// crate's tests) against the contract at `contract_path`.
pub fn certify_registered(
    registry: &NodeRegistry,
    node_id: &str,
    contract_path: &Path,
) -> Result<Evidence, CertifyError> {
    let node = Arc::clone(registry.require(node_id)?);
    let text = read_text_bounded(contract_path, MAX_CONTRACT_BYTES)?;
    let contract = load_contract(contract_path, &text, node.spec())?;
    let runner = Runner::native(node);
    Ok(certify(&runner, &contract, &CertifyOptions::default()))
}

/// [`certify_registered`], panicking with the human report unless the
/// result is PASSED or WARNED: one line in a native connector's test.
///
/// # Panics
///
/// When certification cannot run or its result is FAILED.
#[track_caller]
pub fn assert_certified(registry: &NodeRegistry, node_id: &str, contract_path: &Path) -> Evidence {
    match certify_registered(registry, node_id, contract_path) {
        Err(e) => panic!("cannot certify `{node_id}`: {e}"),
        Ok(evidence) if evidence.result() == Verdict::Failed => {
            panic!(
                "`{node_id}` failed certification:\n{}",
                evidence.human_report()
            )
        }
        Ok(evidence) => evidence,
    }
}
