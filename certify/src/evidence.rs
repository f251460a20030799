//! What certification found: [`Evidence`], the predicate of
//! `https://latticeflow.dev/attestation/certification/v0.1`, and the two
//! ways it is shown (the standard in-toto test-result predicate, and the
//! cargo-test-like report).
//!
//! Evidence is a pure function of the connector, the contract and the
//! options: no timestamps, no paths, no machine names, lists in a fixed
//! order. Certifying the same bytes twice gives the same JSON, so a
//! statement can be compared or re-derived instead of trusted.

use serde::Serialize;
use serde_json::{Value, json};

use crate::runner::NodeKind;

/// The predicate type of [`Evidence`].
pub const CERTIFICATION_PREDICATE_TYPE: &str =
    "https://latticeflow.dev/attestation/certification/v0.1";

/// The predicate type of [`Evidence::test_result_predicate`].
pub const TEST_RESULT_PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// This harness's name, as evidence names it.
pub const HARNESS_NAME: &str = "lf-certify";

/// This harness's version.
pub const HARNESS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// PASSED, WARNED or FAILED: of one check, or of the whole certification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Everything held.
    Passed,
    /// Nothing failed, but something declared was not shown (see
    /// docs/certification.md).
    Warned,
    /// A check failed.
    Failed,
}

impl Verdict {
    /// `PASSED`, `WARNED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Warned => "WARNED",
            Verdict::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Outputs and errors as the case and connector.yaml say.
    Contract,
    /// Replaying a case changes nothing (for idempotent nodes).
    Idempotency,
    /// Other clocks and seeds give the same outputs (for deterministic nodes).
    Determinism,
    /// What was used against what was declared.
    Capabilities,
}

impl CheckKind {
    /// The name in test names (`contract`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Contract => "contract",
            CheckKind::Idempotency => "idempotency",
            CheckKind::Determinism => "determinism",
            CheckKind::Capabilities => "capabilities",
        }
    }
}

/// One check of one subject (a case, a capability, a declared error code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckKind,
    /// What it checked: a case name, `declared-error::<code>`, a capability.
    pub subject: String,
    /// The verdict.
    pub result: Verdict,
    /// Why, when it did not pass; for a pass, what was seen (may be empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl CheckResult {
    /// The test name: `<check>::<subject>`.
    pub fn name(&self) -> String {
        format!("{}::{}", self.check.as_str(), self.subject)
    }
}

/// One error code connector.yaml declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredError {
    /// The code.
    pub code: String,
    /// Whether it is declared retryable.
    pub retryable: bool,
}

/// What the connector declares, as certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declared {
    /// `deterministic`.
    pub deterministic: bool,
    /// `idempotent` (with the default applied).
    pub idempotent: bool,
    /// The capabilities, sorted.
    pub capabilities: Vec<String>,
    /// The error codes, sorted.
    pub errors: Vec<DeclaredError>,
}

/// How each boundary was held during certification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Enforcement {
    /// Capabilities not declared and therefore not linked: the node could
    /// not reach them at all (empty for a native node).
    pub enforced_by_linking: Vec<String>,
    /// Capabilities the harness only observed: a call is recorded and an
    /// undeclared one fails the capability check (a native node's).
    pub observed_only: Vec<String>,
    /// Where the node's clock came from.
    pub clock: String,
    /// Where the node's random bytes came from.
    pub random: String,
}

/// What one case's first run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseEvidence {
    /// The case's name.
    pub name: String,
    /// `ok`, `error:<code>`, or `host-failure`.
    pub outcome: String,
    /// The capabilities called, sorted.
    pub capabilities: Vec<String>,
    /// HTTP requests as `METHOD host`, sorted, without repeats.
    pub http: Vec<String>,
    /// How many write calls the run made.
    pub writes: usize,
}

/// The full evidence of one certification (the certification predicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The harness: `{name, version}`.
    pub harness: Harness,
    /// The connector id.
    pub connector: String,
    /// How the node was built: `abi-v1`, `abi-v2` or `native`.
    pub node: NodeKind,
    /// `sha256:<hex>` of the module (empty for a native node).
    pub module_digest: String,
    /// `sha256:<hex>` of the contract file.
    pub contract_digest: String,
    /// How many runs the determinism check made per case.
    pub determinism_runs: u32,
    /// The declarations certified.
    pub declared: Declared,
    /// How the capability boundary was held.
    pub enforcement: Enforcement,
    /// What each case used, in file order.
    pub cases: Vec<CaseEvidence>,
    /// Every check, sorted by check and then subject.
    pub checks: Vec<CheckResult>,
    /// Checks not run, and why.
    pub skipped: Vec<String>,
    /// The overall verdict.
    pub result: Verdict,
}

/// The harness that produced evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Harness {
    /// [`HARNESS_NAME`].
    pub name: String,
    /// [`HARNESS_VERSION`].
    pub version: String,
}

impl Default for Harness {
    fn default() -> Self {
        Harness {
            name: HARNESS_NAME.to_owned(),
            version: HARNESS_VERSION.to_owned(),
        }
    }
}

impl Evidence {
    /// PASSED when every check passed, WARNED when some only warned, FAILED
    /// when one failed.
    pub fn result(&self) -> Verdict {
        self.result
    }

    /// The test names with `verdict`, sorted.
    pub fn tests(&self, verdict: Verdict) -> Vec<String> {
        let mut names: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.result == verdict)
            .map(CheckResult::name)
            .collect();
        names.sort();
        names
    }

    /// The in-toto test-result predicate
    /// (`https://in-toto.io/attestation/test-result/v0.1`): the verdict,
    /// the configuration (the contract by digest, the harness by name and
    /// version) and the test names by verdict.
    pub fn test_result_predicate(&self, contract_digest: &str) -> Value {
        let hex = contract_digest
            .strip_prefix("sha256:")
            .unwrap_or(contract_digest);
        json!({
            "result": self.result.as_str(),
            "configuration": [
                {"name": "tests/contract.yaml", "digest": {"sha256": hex}},
                {
                    "name": self.harness.name,
                    "uri": format!("pkg:cargo/{}@{}", self.harness.name, self.harness.version),
                    "annotations": {"version": self.harness.version},
                },
            ],
            "passedTests": self.tests(Verdict::Passed),
            "warnedTests": self.tests(Verdict::Warned),
            "failedTests": self.tests(Verdict::Failed),
        })
    }

    /// The evidence itself as a predicate value.
    pub fn predicate(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The cargo-test-like report: one line per check, the reasons of what
    /// did not pass, totals, and `certification result: …`.
    pub fn human_report(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let runs = match self.determinism_runs {
            0 => "determinism not declared".to_owned(),
            1 => "1 determinism run per case".to_owned(),
            n => format!("{n} determinism runs per case"),
        };
        let _ = writeln!(
            out,
            "\ncertifying {} ({}): {} case{}, {runs}",
            self.connector,
            self.node.label(),
            self.cases.len(),
            if self.cases.len() == 1 { "" } else { "s" },
        );
        for check in &self.checks {
            let status = match check.result {
                Verdict::Passed => "ok",
                Verdict::Warned => "WARNED",
                Verdict::Failed => "FAILED",
            };
            let _ = writeln!(out, "{} ... {status}", check.name());
        }
        for skipped in &self.skipped {
            let _ = writeln!(out, "skipped: {skipped}");
        }
        for (verdict, title) in [(Verdict::Failed, "failures"), (Verdict::Warned, "warnings")] {
            let listed: Vec<&CheckResult> =
                self.checks.iter().filter(|c| c.result == verdict).collect();
            if listed.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}:");
            for check in listed {
                let _ = writeln!(out, "\n---- {} ----", check.name());
                for reason in &check.reasons {
                    let _ = writeln!(out, "{reason}");
                }
            }
        }
        if !self.enforcement.enforced_by_linking.is_empty() {
            let _ = writeln!(
                out,
                "\nenforced by linking (not declared, so not reachable): {}",
                self.enforcement.enforced_by_linking.join(", ")
            );
        }
        let count = |v| self.checks.iter().filter(|c| c.result == v).count();
        let _ = writeln!(
            out,
            "\ncertification result: {}. {} passed; {} warned; {} failed",
            self.result,
            count(Verdict::Passed),
            count(Verdict::Warned),
            count(Verdict::Failed)
        );
        out
    }

    /// The report as JSON lines: one `check` object per check, then one
    /// `certification` object with the totals.
    pub fn json_lines(&self) -> Vec<Value> {
        let mut lines: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "type": "check",
                    "name": c.name(),
                    "check": c.check,
                    "subject": c.subject,
                    "result": c.result,
                    "reasons": c.reasons,
                })
            })
            .collect();
        let count = |v| self.checks.iter().filter(|c| c.result == v).count();
        lines.push(json!({
            "type": "certification",
            "connector": self.connector,
            "result": self.result,
            "passed": count(Verdict::Passed),
            "warned": count(Verdict::Warned),
            "failed": count(Verdict::Failed),
            "skipped": self.skipped,
            "enforcedByLinking": self.enforcement.enforced_by_linking,
        }));
        lines
    }
}

/// An in-toto Statement v1 about one subject: `name`, digest `sha256:<hex>`.
pub fn statement(
    subject_name: &str,
    subject_digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Value {
    let (algorithm, hex) = subject_digest
        .split_once(':')
        .unwrap_or(("sha256", subject_digest));
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {algorithm: hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}
