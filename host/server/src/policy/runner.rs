//! `levee policy test`: runs one rule plugin locally, in the same sandbox the server uses,
//! against fixture cases, and reports each decision with the fuel, time and memory it used
//! against its limits (as Shopify's function runner does). Fixtures may state what they
//! expect, so a policy's own CI can run this and fail on a changed decision.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use levee_core::case::CaseKind;
use levee_core::decision;
use levee_core::engine::{Facts, PolicyEngine, PolicyEvaluation, PolicyOutcome, RefundsGranted};
use levee_core::evidence::EvidenceKind;
use levee_core::identity::ApproverLevel;
use levee_core::money::Money;
use serde::{Deserialize, Serialize};

use super::{LoadedPolicySpec, SandboxLimits, SandboxMaxima, WasmPolicyEngine};

/// One fixture case: the facts (with defaults for everything but kind and amount) and,
/// optionally, what the policy should decide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub name: Option<String>,
    pub facts: FixtureFacts,
    #[serde(default)]
    pub expect: Option<Expectation>,
}

/// Facts as a fixture gives them. Defaults: code `TEST_CODE` (category `test`, no flags),
/// requester `agent` of team `support`, channel `api`, no history, no evidence, no attributes,
/// submitted at 2026-01-01T00:00:00Z.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFacts {
    #[serde(default)]
    pub case_id: Option<String>,
    pub kind: CaseKind,
    pub amount: Money,
    #[serde(default = "defaults::code")]
    pub exception_code: String,
    #[serde(default = "defaults::category")]
    pub code_category: String,
    #[serde(default)]
    pub escalate_always: bool,
    #[serde(default)]
    pub customer_comms_required: bool,
    #[serde(default = "defaults::role")]
    pub requester_role: String,
    #[serde(default = "defaults::team")]
    pub requester_team: String,
    #[serde(default = "defaults::channel")]
    pub channel: String,
    #[serde(default)]
    pub refunds_90d: u32,
    #[serde(default)]
    pub refunded_90d_minor_units: i64,
    /// Refunds granted on the case's order before it; absent: the case names no order.
    #[serde(default)]
    pub order_refunds: Option<RefundsGranted>,
    #[serde(default)]
    pub evidence_present: Vec<EvidenceKind>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default = "defaults::submitted_at")]
    pub submitted_at: DateTime<Utc>,
}

mod defaults {
    use chrono::{DateTime, TimeZone, Utc};

    pub fn code() -> String {
        "TEST_CODE".into()
    }
    pub fn category() -> String {
        "test".into()
    }
    pub fn role() -> String {
        "agent".into()
    }
    pub fn team() -> String {
        "support".into()
    }
    pub fn channel() -> String {
        "api".into()
    }
    pub fn submitted_at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }
}

/// What a fixture expects. Only the fields given are checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `auto_approve`, `require_approval`, `reject` or `failed`.
    pub outcome: String,
    #[serde(default)]
    pub level: Option<ApproverLevel>,
    #[serde(default)]
    pub approvals_needed: Option<u8>,
    #[serde(default)]
    pub rule_id: Option<String>,
}

/// One fixture's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub evaluation: PolicyEvaluation,
    /// The decision in a line: `require_approval lead x1`, `failed: ran out of fuel …`.
    pub summary: String,
    /// `None` when the fixture expects nothing; otherwise whether it was met and, if not, why.
    pub expectation: Option<Result<(), String>>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Name (as given), version (from `describe()`) and digest of the plugin.
    pub policy: levee_core::engine::PolicyIdentity,
    pub limits: SandboxLimits,
    pub results: Vec<CaseResult>,
}

impl RunReport {
    pub fn expectations_met(&self) -> bool {
        self.results.iter().all(|result| !matches!(result.expectation, Some(Err(_))))
    }
}

impl FixtureFacts {
    fn into_facts(self, index: usize) -> Facts {
        Facts {
            case_id: self.case_id.unwrap_or_else(|| format!("fixture-{}", index + 1)),
            kind: self.kind,
            amount: self.amount,
            exception_code: self.exception_code,
            code_category: self.code_category,
            escalate_always: self.escalate_always,
            customer_comms_required: self.customer_comms_required,
            requester_role: self.requester_role,
            requester_team: self.requester_team,
            channel: self.channel,
            refunds_90d: self.refunds_90d,
            refunded_90d_minor_units: self.refunded_90d_minor_units,
            order_refunds: self.order_refunds,
            evidence_present: self.evidence_present,
            attributes: self.attributes,
            submitted_at: self.submitted_at,
        }
    }
}

/// Loads the plugin into a sandbox with `spec.limits` and runs every fixture through it.
pub fn run(spec: LoadedPolicySpec, fixtures: Vec<Fixture>) -> anyhow::Result<RunReport> {
    for (index, fixture) in fixtures.iter().enumerate() {
        levee_core::money::currency_exponent(&fixture.facts.amount.currency)
            .map_err(|error| anyhow::anyhow!("fixture {}: amount.currency: {error}", index + 1))?;
    }
    let limits = spec.limits;
    let engine = WasmPolicyEngine::new(vec![spec], None, limits, SandboxMaxima::default().covering(limits))?;
    let policy = engine.chain().into_iter().next().ok_or_else(|| anyhow::anyhow!("the plugin did not load"))?;
    let results = fixtures
        .into_iter()
        .enumerate()
        .map(|(index, fixture)| {
            let name = fixture.name.clone().unwrap_or_else(|| format!("case {}", index + 1));
            let facts = fixture.facts.into_facts(index);
            let evaluation = engine.evaluate(&facts).into_iter().next().ok_or_else(|| anyhow::anyhow!("no result"))?;
            let (outcome, summary) = summarize(&evaluation);
            let expectation = fixture.expect.map(|expected| check(&expected, &outcome, &evaluation));
            Ok(CaseResult { name, evaluation, summary, expectation })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(RunReport { policy, limits, results })
}

/// The outcome word and a one-line summary; malformed decisions count as failures, exactly as
/// the server treats them.
fn summarize(evaluation: &PolicyEvaluation) -> (String, String) {
    let checked = evaluation.result.as_ref().map_err(ToString::to_string).and_then(|decision| {
        decision::validate(decision).map(|()| decision).map_err(|why| format!("returned a malformed decision: {why}"))
    });
    match checked {
        Err(failure) => ("failed".into(), format!("failed: {failure}")),
        Ok(decision) => match &decision.outcome {
            PolicyOutcome::AutoApprove => ("auto_approve".into(), format!("auto_approve ({})", decision.rule_id)),
            PolicyOutcome::RequireApproval { level, approvals_needed, reason, .. } => (
                "require_approval".into(),
                format!("require_approval {} x{approvals_needed} ({}): {reason}", level.as_str(), decision.rule_id),
            ),
            PolicyOutcome::Reject { reason } => ("reject".into(), format!("reject ({}): {reason}", decision.rule_id)),
        },
    }
}

fn check(expected: &Expectation, outcome: &str, evaluation: &PolicyEvaluation) -> Result<(), String> {
    if expected.outcome != outcome {
        return Err(format!("expected {}, got {outcome}", expected.outcome));
    }
    let Ok(decision) = &evaluation.result else { return Ok(()) };
    if let PolicyOutcome::RequireApproval { level, approvals_needed, .. } = &decision.outcome {
        if expected.level.is_some_and(|expected| expected != *level) {
            return Err(format!("expected level {:?}, got {}", expected.level, level.as_str()));
        }
        if expected.approvals_needed.is_some_and(|expected| expected != *approvals_needed) {
            return Err(format!("expected {:?} approvals, got {approvals_needed}", expected.approvals_needed));
        }
    }
    match &expected.rule_id {
        Some(rule_id) if *rule_id != decision.rule_id => {
            Err(format!("expected rule {rule_id}, got {}", decision.rule_id))
        }
        _ => Ok(()),
    }
}

/// The report as a table a person reads.
pub fn render(report: &RunReport) -> String {
    let limits = report.limits;
    let mut out = format!(
        "policy {} {} (sha256 {})\nlimits: fuel {}, deadline {} ms, memory {} bytes\n",
        report.policy.name,
        report.policy.version,
        report.policy.digest,
        limits.fuel,
        limits.deadline_ms,
        limits.memory_bytes
    );
    for result in &report.results {
        let evaluation = &result.evaluation;
        let verdict = match &result.expectation {
            None => "",
            Some(Ok(())) => "  ✓ as expected",
            Some(Err(_)) => "  ✗ NOT as expected",
        };
        let _ = writeln!(out, "\n{}{verdict}\n  {}", result.name, result.summary);
        if let Some(Err(why)) = &result.expectation {
            let _ = writeln!(out, "  {why}");
        }
        let _ = writeln!(
            out,
            "  fuel {} ({:.1}% of limit)   time {} µs ({:.1}% of deadline)   memory {} bytes ({:.1}% of cap)",
            evaluation.fuel_used,
            percent(evaluation.fuel_used, limits.fuel),
            evaluation.elapsed_micros,
            percent(evaluation.elapsed_micros, limits.deadline_ms.saturating_mul(1000)),
            evaluation.peak_memory_bytes,
            percent(evaluation.peak_memory_bytes, limits.memory_bytes),
        );
    }
    let failed = report.results.iter().filter(|result| matches!(result.expectation, Some(Err(_)))).count();
    let checked = report.results.iter().filter(|result| result.expectation.is_some()).count();
    let _ = writeln!(out, "\n{} cases, {checked} with expectations, {failed} not as expected", report.results.len());
    out
}

fn percent(used: u64, limit: u64) -> f64 {
    if limit == 0 { 0.0 } else { used as f64 * 100.0 / limit as f64 }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::{PolicySource, builtin};

    fn probe_signals(fixtures: serde_json::Value) -> Vec<Vec<String>> {
        let bytes = std::fs::read(builtin::HOSTILE_WASM_PATH).unwrap();
        let spec = LoadedPolicySpec {
            name: "hostile".into(),
            source: PolicySource::Bytes(bytes),
            params: json!({"mode": "probe"}),
            limits: SandboxLimits::default(),
        };
        let report = run(spec, serde_json::from_value(fixtures).unwrap()).unwrap();
        report
            .results
            .into_iter()
            .map(|result| result.evaluation.result.unwrap().signals.into_iter().collect())
            .collect()
    }

    /// A plugin that reads the clock and the random source gets the same answers whenever the
    /// same case is evaluated, and another case gets other random numbers.
    #[test]
    fn wasi_answers_replay_for_the_same_case() {
        let amount = json!({"minor_units": 4000, "currency": "USD"});
        let case = |id: &str| json!({"facts": {"case_id": id, "kind": "refund", "amount": amount}});
        let runs = probe_signals(json!([case("LV-1"), case("LV-1"), case("LV-2")]));
        assert_eq!(runs[0], runs[1], "a replay sees the same clock and random numbers");
        let random = |signals: &[String]| signals.iter().find(|s| s.starts_with("random=")).cloned().unwrap();
        assert_ne!(random(&runs[0]), random(&runs[2]), "another case is seeded differently");
        let new_year = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().timestamp();
        assert!(runs[0].contains(&format!("wall={new_year}.000000000")), "{:?}", runs[0]);
        assert!(runs[0].contains(&format!("wall_after_sleep={}", new_year + 3600)), "{:?}", runs[0]);
        for expected in ["monotonic=3600000000000", "env=0", "args=0", "preopens=0"] {
            assert!(runs[0].contains(&expected.to_owned()), "{expected} in {:?}", runs[0]);
        }
    }
}
