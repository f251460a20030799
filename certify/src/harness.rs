//! The four checks of certification, run over every case of a contract.
//!
//! - contract: each case's first run gives what the case expects; every
//!   error code returned is declared, with the declared `retryable`; a
//!   declared code no case returns is WARNED (it is untested).
//! - idempotency: an `idempotent` node is run again on the state its first
//!   run left (the KV store as it was written, the scripted replies armed
//!   again) and must give the same outcome and make the same writes; a
//!   node declared not idempotent that never writes is WARNED
//!   (over-declared, or no case exercises its writes).
//! - determinism: a `deterministic` node is run `runs` times from the
//!   case's own state with other clocks and seeds; every outcome must equal
//!   the first, and a difference names the first differing field.
//! - capabilities: what the runs called, against what is declared; a
//!   declared capability nothing uses is WARNED, an undeclared call (only a
//!   native node can make one; a module cannot, since only declared
//!   capabilities are linked) FAILED.

use std::collections::{BTreeMap, BTreeSet};

use lf_runtime::host::NodeError;
use lf_runtime::spec::Capability;

use crate::contract::Contract;
use crate::evidence::{
    CaseEvidence, CheckKind, CheckResult, Declared, DeclaredError, Enforcement, Evidence, Harness,
    Verdict,
};
use crate::runner::{NodeKind, Run, Runner, expectation_failures, first_difference};
use crate::script::RunSetup;

/// How certification runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifyOptions {
    /// Runs per case for the determinism check (at least 2 to compare
    /// anything; default 5).
    pub runs: u32,
}

impl CertifyOptions {
    /// The most determinism runs allowed: each is a full node call.
    pub const MAX_RUNS: u32 = 100;
}

impl Default for CertifyOptions {
    fn default() -> Self {
        CertifyOptions { runs: 5 }
    }
}

/// The clock and seed of determinism run `i` (run 0 is the first run).
fn varied(setup: &RunSetup, i: u32) -> RunSetup {
    let i = u64::from(i);
    RunSetup {
        kv: setup.kv.clone(),
        // About 3.2 years and a few odd milliseconds apart.
        clock_ms: setup.clock_ms + i * 100_000_000_007,
        seed: setup.seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    }
}

/// Runs every case of `contract` on `runner` and collects the evidence.
pub fn certify(runner: &Runner, contract: &Contract, options: &CertifyOptions) -> Evidence {
    let spec = runner.spec();
    let runs = options.runs.clamp(1, CertifyOptions::MAX_RUNS);
    let mut checks = Vec::new();
    let mut cases = Vec::new();
    let mut exercised: BTreeMap<String, String> = BTreeMap::new();
    let mut used: BTreeMap<Capability, usize> = BTreeMap::new();
    let mut total_writes = 0usize;
    let mut undeclared_calls: BTreeMap<Capability, Vec<String>> = BTreeMap::new();
    let declared_errors: Vec<&str> = spec.errors.iter().map(|e| e.code.as_str()).collect();

    for case in &contract.cases {
        let setup = RunSetup::first(case);
        let first = runner.run_recorded(case, &setup);

        // contract
        let mut failures = expectation_failures(case, &first);
        if let Err(NodeError::Connector {
            code, retryable, ..
        }) = &first.result
        {
            match spec.error(code) {
                None => failures.push(format!(
                    "returned error code `{code}`, which connector.yaml does not declare (declared: {})",
                    if declared_errors.is_empty() {
                        "none".to_owned()
                    } else {
                        declared_errors.join(", ")
                    }
                )),
                Some(declared) if declared.retryable != *retryable => failures.push(format!(
                    "returned error `{code}` with retryable = {retryable}; connector.yaml declares retryable = {}",
                    declared.retryable
                )),
                Some(_) => {}
            }
            exercised
                .entry(code.clone())
                .or_insert_with(|| case.name.clone());
        }
        checks.push(check(
            CheckKind::Contract,
            &case.name,
            failures,
            Verdict::Failed,
        ));

        // idempotency
        if spec.idempotent {
            let replay = runner.run_recorded(
                case,
                &RunSetup {
                    kv: first.kv_after.clone(),
                    ..setup.clone()
                },
            );
            checks.push(check(
                CheckKind::Idempotency,
                &case.name,
                replay_differences(&first, &replay),
                Verdict::Failed,
            ));
        }

        // determinism
        if spec.deterministic {
            let mut failures = Vec::new();
            let reference = first.outcome();
            for i in 1..runs {
                let run_setup = varied(&setup, i);
                let run = runner.run_recorded(case, &run_setup);
                let outcome = run.outcome();
                if let Some(field) = first_difference(&reference, &outcome) {
                    let shown = field.strip_prefix("ok.").unwrap_or(&field);
                    failures.push(format!(
                        "run {} of {runs} (clock {} ms, seed {:#x}) differs from run 1 at `{shown}`\n  run 1: {}\n  run {}: {}",
                        i + 1,
                        run_setup.clock_ms,
                        run_setup.seed,
                        pointer(&reference, &field),
                        i + 1,
                        pointer(&outcome, &field),
                    ));
                    break;
                }
            }
            checks.push(check(
                CheckKind::Determinism,
                &case.name,
                failures,
                Verdict::Failed,
            ));
        }

        // capability usage
        let mut capabilities = BTreeSet::new();
        let mut http = BTreeSet::new();
        for call in &first.calls {
            capabilities.insert(call.capability);
            if let (Some(method), Some(host)) = (&call.method, &call.host) {
                http.insert(format!("{method} {host}"));
            }
            if !spec.capabilities.contains(&call.capability) {
                undeclared_calls
                    .entry(call.capability)
                    .or_default()
                    .push(case.name.clone());
            }
        }
        for capability in &capabilities {
            *used.entry(*capability).or_default() += 1;
        }
        let writes = first.writes().len();
        total_writes += writes;
        cases.push(CaseEvidence {
            name: case.name.clone(),
            outcome: match &first.result {
                Ok(_) => "ok".to_owned(),
                Err(
                    NodeError::Connector { code, .. } | NodeError::UndeclaredErrorCode { code, .. },
                ) => format!("error:{code}"),
                Err(_) => "host-failure".to_owned(),
            },
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            http: http.into_iter().collect(),
            writes,
        });
    }

    // contract: declared codes no case returned
    for error in &spec.errors {
        let subject = format!("declared-error::{}", error.code);
        checks.push(match exercised.get(&error.code) {
            Some(case) => CheckResult {
                check: CheckKind::Contract,
                subject,
                result: Verdict::Passed,
                reasons: vec![format!("returned by case `{case}`")],
            },
            None => CheckResult {
                check: CheckKind::Contract,
                subject,
                result: Verdict::Warned,
                reasons: vec![format!(
                    "error `{}` is declared but no case returns it: add a case that does, or remove the declaration",
                    error.code
                )],
            },
        });
    }

    // idempotency of a node declared not idempotent
    if !spec.idempotent {
        checks.push(if total_writes > 0 {
            CheckResult {
                check: CheckKind::Idempotency,
                subject: "declared-not-idempotent".to_owned(),
                result: Verdict::Passed,
                reasons: vec![format!("the cases made {total_writes} write calls")],
            }
        } else {
            CheckResult {
                check: CheckKind::Idempotency,
                subject: "declared-not-idempotent".to_owned(),
                result: Verdict::Warned,
                reasons: vec![
                    "declared not idempotent, but no case wrote anything: the declaration may be too cautious (callers will not retry it), or no case exercises its writes".to_owned(),
                ],
            }
        });
    }

    // capabilities
    let kind = runner.kind();
    let wasi_only = |c: Capability| {
        kind == NodeKind::AbiV2 && matches!(c, Capability::Clock | Capability::Random)
    };
    for capability in &spec.capabilities {
        let subject = capability.to_string();
        let result = match used.get(capability) {
            Some(n) => CheckResult {
                check: CheckKind::Capabilities,
                subject,
                result: Verdict::Passed,
                reasons: vec![format!(
                    "used by {n} case{}",
                    if *n == 1 { "" } else { "s" }
                )],
            },
            None if wasi_only(*capability) => CheckResult {
                check: CheckKind::Capabilities,
                subject,
                result: Verdict::Passed,
                reasons: vec![format!(
                    "a component reads `{capability}` through WASI, which the harness cannot observe per call; it was varied between determinism runs"
                )],
            },
            None => CheckResult {
                check: CheckKind::Capabilities,
                subject,
                result: Verdict::Warned,
                reasons: vec![format!(
                    "`{capability}` is declared but no case uses it: add a case that does, or remove the declaration"
                )],
            },
        };
        checks.push(result);
    }
    for (capability, in_cases) in &undeclared_calls {
        checks.push(CheckResult {
            check: CheckKind::Capabilities,
            subject: capability.to_string(),
            result: Verdict::Failed,
            reasons: vec![format!(
                "`{capability}` is not declared, but case{} {} called it",
                if in_cases.len() == 1 { "" } else { "s" },
                in_cases
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        });
    }

    checks.sort_by(|a, b| (a.check, &a.subject).cmp(&(b.check, &b.subject)));
    let mut skipped = Vec::new();
    if !spec.deterministic {
        skipped
            .push("determinism: connector.yaml does not declare `deterministic: true`".to_owned());
    }
    if runs < 2 && spec.deterministic {
        skipped.push("determinism: one run per case compares nothing (`--runs` is 1)".to_owned());
    }
    let result = checks
        .iter()
        .map(|c| c.result)
        .max()
        .unwrap_or(Verdict::Passed);
    let mut capabilities: Vec<String> = spec.capabilities.iter().map(|c| c.to_string()).collect();
    capabilities.sort();
    let mut errors: Vec<DeclaredError> = spec
        .errors
        .iter()
        .map(|e| DeclaredError {
            code: e.code.clone(),
            retryable: e.retryable,
        })
        .collect();
    errors.sort_by(|a, b| a.code.cmp(&b.code));
    Evidence {
        harness: Harness::default(),
        connector: spec.id.as_str().to_owned(),
        node: kind,
        module_digest: spec.module_digest.clone(),
        contract_digest: contract.digest.clone(),
        determinism_runs: if spec.deterministic { runs } else { 0 },
        declared: Declared {
            deterministic: spec.deterministic,
            idempotent: spec.idempotent,
            capabilities,
            errors,
        },
        enforcement: enforcement(kind, &spec.capabilities),
        cases,
        checks,
        skipped,
        result,
    }
}

fn check(kind: CheckKind, subject: &str, failures: Vec<String>, verdict: Verdict) -> CheckResult {
    CheckResult {
        check: kind,
        subject: subject.to_owned(),
        result: if failures.is_empty() {
            Verdict::Passed
        } else {
            verdict
        },
        reasons: failures,
    }
}

/// How a replay differs from the first run: outcome, then writes.
fn replay_differences(first: &Run, replay: &Run) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (first.outcome(), replay.outcome());
    if let Some(field) = first_difference(&a, &b) {
        out.push(format!(
            "replaying the case gives another outcome at `{}`\n  first run: {}\n     replay: {}",
            field.strip_prefix("ok.").unwrap_or(&field),
            pointer(&a, &field),
            pointer(&b, &field)
        ));
    }
    let writes = |run: &Run| -> Vec<String> {
        run.writes()
            .iter()
            .map(|c| format!("{} {}", c.capability, c.request))
            .collect()
    };
    let (wa, wb) = (writes(first), writes(replay));
    if wa != wb {
        out.push(format!(
            "replaying the case writes differently\n  first run wrote: [{}]\n     replay wrote: [{}]",
            wa.join(", "),
            wb.join(", ")
        ));
    }
    out
}

/// The value at a `first_difference` path, as JSON text (`(absent)` when
/// one side lacks it).
fn pointer(value: &serde_json::Value, path: &str) -> String {
    if path == "(output)" {
        return value.to_string();
    }
    let mut current = Some(value);
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            current = current.and_then(|v| v.get(key));
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            let index = index.trim_end_matches(']').parse::<usize>().ok();
            current = current.and_then(|v| index.and_then(|i| v.get(i)));
        }
    }
    current.map_or_else(|| "(absent)".to_owned(), serde_json::Value::to_string)
}

fn enforcement(kind: NodeKind, declared: &[Capability]) -> Enforcement {
    let undeclared: Vec<String> = Capability::ALL
        .iter()
        .filter(|c| !declared.contains(c))
        .map(|c| c.to_string())
        .collect();
    let has = |c: Capability| declared.contains(&c);
    let source = |c: Capability, what: &str| -> String {
        match (kind, has(c)) {
            (NodeKind::AbiV2, false) => {
                format!("fixed by the host (no `{c}`): the same {what} on every call")
            }
            (NodeKind::AbiV2, true) => format!(
                "varied by the harness between determinism runs (WASI {what}, not observable per call)"
            ),
            (NodeKind::AbiV1, false) => format!("not linked (no `{c}`)"),
            (_, _) => "served by the harness through Capabilities, varied between determinism runs"
                .to_owned(),
        }
    };
    Enforcement {
        enforced_by_linking: if kind == NodeKind::Native {
            Vec::new()
        } else {
            undeclared
        },
        observed_only: if kind == NodeKind::Native {
            Capability::ALL.iter().map(|c| c.to_string()).collect()
        } else {
            Vec::new()
        },
        clock: source(Capability::Clock, "clock"),
        random: source(Capability::Random, "random bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_follows_paths() {
        let v = json!({"ok": {"a": [1, {"b": 2}]}});
        assert_eq!(pointer(&v, "ok.a[1].b"), "2");
        assert_eq!(pointer(&v, "ok.z"), "(absent)");
        assert_eq!(pointer(&v, "(output)"), v.to_string());
    }
}
