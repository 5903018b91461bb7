//! The engine against both contracts, on real components built from guest-policies/: 0.2.0
//! plugins configured once and started from their snapshot, 0.1.0 plugins forwarded, and a
//! plugin that fails in `configure` refused with the failure named.

use chrono::{TimeZone, Utc};
use levee_core::engine::{Facts, PolicyEngine, PolicyOutcome, RefundsGranted};
use levee_core::identity::ApproverLevel;
use levee_core::matrix::ApprovalMatrix;
use levee_core::money::Money;
use serde_json::json;

use super::builtin;
use super::sandbox::{LoadedPolicySpec, PolicySource, SandboxLimits, SandboxMaxima, WasmPolicyEngine};

fn spec(name: &str, source: PolicySource, params: serde_json::Value) -> LoadedPolicySpec {
    LoadedPolicySpec { name: name.into(), source, params, limits: SandboxLimits::default() }
}

fn file(path: &str) -> PolicySource {
    PolicySource::Bytes(std::fs::read(path).unwrap())
}

fn engine(specs: Vec<LoadedPolicySpec>) -> anyhow::Result<WasmPolicyEngine> {
    WasmPolicyEngine::new(specs, None, SandboxLimits::default(), SandboxMaxima::default())
}

fn refund(minor_units: i64, order_refunds: Option<RefundsGranted>) -> Facts {
    Facts {
        case_id: "LV-000001".into(),
        kind: levee_core::case::CaseKind::Refund,
        amount: Money::new(minor_units, "USD").unwrap(),
        exception_code: "GOODWILL".into(),
        code_category: "service".into(),
        escalate_always: false,
        customer_comms_required: false,
        requester_role: "agent".into(),
        requester_team: "support".into(),
        channel: "api".into(),
        refunds_90d: 1,
        refunded_90d_minor_units: 4_900,
        order_refunds,
        evidence_present: Vec::new(),
        attributes: Default::default(),
        submitted_at: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
    }
}

fn outcome(engine: &WasmPolicyEngine, facts: &Facts) -> PolicyOutcome {
    let evaluation = engine.evaluate(facts).remove(0);
    evaluation.result.unwrap_or_else(|failure| panic!("{failure}")).outcome
}

#[test]
fn the_default_threshold_starts_configured_and_catches_a_split_refund() {
    let params = ApprovalMatrix::default_matrix().to_params();
    let engine = engine(vec![spec("threshold", PolicySource::Builtin(builtin::THRESHOLD), params)]).unwrap();
    assert_eq!(engine.contracts(), ["0.2.0 configured once"]);
    assert_eq!(outcome(&engine, &refund(4_900, None)), PolicyOutcome::AutoApprove);
    let earlier = RefundsGranted { refunds: 1, refunded_minor_units: 4_900 };
    let PolicyOutcome::RequireApproval { level, reason, .. } = outcome(&engine, &refund(4_900, Some(earlier))) else {
        panic!("the second half of a split refund auto-approved");
    };
    assert_eq!(level, ApproverLevel::Lead);
    assert!(reason.contains("on an order with 1 earlier refund (49.00 USD): together 98.00 USD"), "{reason}");
    // Every case starts from the same configured image: nothing one case does reaches the next.
    for _ in 0..3 {
        assert_eq!(outcome(&engine, &refund(4_900, None)), PolicyOutcome::AutoApprove);
    }
}

#[test]
fn params_a_plugin_refuses_in_configure_refuse_it_by_name() {
    let error = engine(vec![spec("threshold", PolicySource::Builtin(builtin::THRESHOLD), json!({"ladders": 3}))])
        .err()
        .expect("bad params refused");
    let message = format!("{error:#}");
    assert!(message.starts_with("policy threshold: configure() returned an error (invalid-params)"), "{message}");
}

#[test]
fn a_plugin_that_misbehaves_in_configure_is_refused_within_its_budget() {
    let default = SandboxLimits::default();
    // Filling 16 MiB byte by byte takes more than the default fuel: give it enough to reach the cap.
    let plenty_of_fuel = SandboxLimits { fuel: SandboxMaxima::default().fuel, ..default };
    let cases = [
        ("loop", default, "ran out of fuel"),
        ("trap", default, "trapped"),
        ("grow", plenty_of_fuel, "exceeded its memory cap"),
        ("error", default, "returned an error (internal): hostile error"),
    ];
    // It imports WASI: snapshotted while `configure` calls none, configured per case once it does.
    let contract = |mode: &str| {
        let params = json!({"mode": mode, "when": "configure"});
        engine(vec![spec("hostile", file(builtin::HOSTILE_WASM_PATH), params)]).unwrap().contracts()
    };
    assert_eq!(contract("approve"), ["0.2.0 configured once"]);
    assert_eq!(contract("probe"), ["0.2.0 configured per case"], "configure called WASI");
    for (mode, limits, named) in cases {
        let params = json!({"mode": mode, "when": "configure"});
        let hostile = LoadedPolicySpec { limits, ..spec("hostile", file(builtin::HOSTILE_WASM_PATH), params) };
        let error = engine(vec![hostile]).err().expect(mode);
        let message = format!("{error:#}");
        assert!(message.starts_with(&format!("policy hostile: configure() {named}")), "{mode}: {message}");
    }
}

#[test]
fn a_plugin_on_the_frozen_contract_still_loads_and_decides() {
    let params = json!({"tag": "old", "repeat_refunds": 1});
    let engine = engine(vec![spec("frozen", file(builtin::FROZEN_V0_1_WASM_PATH), params)]).unwrap();
    assert_eq!(engine.contracts(), ["0.1.0 params with every case"]);
    let evaluation = engine.evaluate(&refund(4_900, Some(RefundsGranted { refunds: 5, refunded_minor_units: 1 })));
    let decision = evaluation[0].result.clone().unwrap();
    assert_eq!(decision.rule_id, "frozen-v0-1/old/repeat", "the params reached the plugin");
    let PolicyOutcome::RequireApproval { reason, .. } = decision.outcome else { panic!("{decision:?}") };
    assert_eq!(reason, "1 refunds in 90 days, 4900 minor units in all", "the customer's history reached it");
    assert_eq!(evaluation[0].policy.version, "0.1.0");
}
