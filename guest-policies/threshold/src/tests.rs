//! Unit tests of the threshold policy against the default matrix, run natively.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use levee_policy_sdk::{
    ApprovalRequirement, ApproverLevel, CaseKind, CodeFlags, Decision, EvidenceKind, Facts, Outcome, Policy,
    PolicyError, RefundsGranted, testing,
};

use crate::Threshold;

/// The default matrix from the design, plus a fee-waiver ladder and a JPY ladder.
const PARAMS: &str = r#"{
  "version": "default-2026.11",
  "ladders": {
    "USD": {"auto_approve_up_to": 5000,
            "bands": [{"up_to": 50000, "level": "lead"}, {"up_to": 250000, "level": "manager"},
                      {"up_to": 1000000, "level": "finance"}, {"up_to": 2500000, "level": "director"}],
            "rationale_above": 5000, "attachment_above": 250000},
    "JPY": {"auto_approve_up_to": 5000,
            "bands": [{"up_to": 100000, "level": "manager"}],
            "rationale_above": 5000, "attachment_above": 100000}
  },
  "kind_ladders": {
    "fee_waiver": {"USD": {"auto_approve_up_to": 10000,
                           "bands": [{"up_to": 20000, "level": "lead"}],
                           "rationale_above": 10000, "attachment_above": 20000}}
  },
  "above_top_band": {"level": "director", "approvals": 2},
  "never_auto_approve": ["override", "write_off"],
  "customer_comms_for": ["credit", "override"],
  "repeat_refunds_90d": 2,
  "sla_minutes": {"lead": 240, "manager": 480, "finance": 1440, "director": 2880}
}"#;

/// Configures the policy with `params`, as levee does once, then decides `facts`.
fn run(facts: Facts, params: &str) -> Result<Decision, PolicyError> {
    Threshold::evaluate(&facts, &Threshold::configure(params)?)
}

fn evaluate(facts: Facts) -> Result<Decision, PolicyError> {
    run(facts, PARAMS)
}

fn decide(kind: CaseKind, minor_units: i64) -> Decision {
    evaluate(testing::facts(kind, minor_units, "USD")).unwrap()
}

fn requirement(decision: &Decision) -> &ApprovalRequirement {
    match &decision.outcome {
        Outcome::RequireApproval(requirement) => requirement,
        other => panic!("expected require-approval, got {other:?}"),
    }
}

fn level_and_approvals(decision: &Decision) -> (ApproverLevel, u8) {
    let requirement = requirement(decision);
    (requirement.level, requirement.approvals_needed)
}

fn with_params_replaced(from: &str, to: &str) -> String {
    assert!(PARAMS.contains(from), "fixture lacks {from}");
    PARAMS.replacen(from, to, 1)
}

fn invalid_params_message(params: String) -> String {
    let facts = testing::facts(CaseKind::Refund, 40_000, "USD");
    match run(facts, &params) {
        Err(PolicyError::InvalidParams(message)) => message,
        other => panic!("expected InvalidParams, got {other:?}"),
    }
}

#[test]
fn amounts_up_to_the_limit_auto_approve() {
    for amount in [1, 4000, 5000] {
        let decision = decide(CaseKind::Refund, amount);
        assert_eq!(decision.outcome, Outcome::AutoApprove, "{amount}");
        assert_eq!(decision.rule_id, "threshold/USD/auto");
        assert!(decision.signals.is_empty());
        assert!(decision.required_evidence.is_empty());
        assert_eq!(decision.route, None);
    }
}

#[test]
fn each_band_requires_one_approval_at_its_level() {
    let cases = [
        (5001, 1, ApproverLevel::Lead),
        (50000, 1, ApproverLevel::Lead),
        (50001, 2, ApproverLevel::Manager),
        (250000, 2, ApproverLevel::Manager),
        (250001, 3, ApproverLevel::Finance),
        (1000000, 3, ApproverLevel::Finance),
        (1000001, 4, ApproverLevel::Director),
        (2500000, 4, ApproverLevel::Director),
    ];
    for (amount, band, level) in cases {
        let decision = decide(CaseKind::Refund, amount);
        assert_eq!(level_and_approvals(&decision), (level, 1), "{amount}");
        assert_eq!(decision.rule_id, alloc::format!("threshold/USD/band-{band}"));
        assert!(decision.signals.is_empty());
    }
}

#[test]
fn the_reason_explains_the_band_in_currency_units() {
    let decision = decide(CaseKind::Refund, 40000);
    assert_eq!(
        requirement(&decision).reason,
        "refund of 400.00 USD is above the auto-approve limit of 50.00 USD and within band 1 \
         (up to 500.00 USD): lead approval"
    );
}

#[test]
fn each_level_carries_its_sla() {
    let slas = [(40000, 240), (100000, 480), (500000, 1440), (2000000, 2880), (4000000, 2880)];
    for (amount, sla) in slas {
        let decision = decide(CaseKind::Refund, amount);
        assert_eq!(requirement(&decision).sla_minutes, Some(sla), "{amount}");
    }
}

#[test]
fn a_level_without_an_sla_has_none() {
    let params = with_params_replaced(r#""lead": 240, "#, "");
    let facts = testing::facts(CaseKind::Refund, 40000, "USD");
    let decision = run(facts, &params).unwrap();
    assert_eq!(requirement(&decision).sla_minutes, None);
}

#[test]
fn above_the_top_band_needs_dual_director_approval() {
    let decision = decide(CaseKind::Refund, 4_000_000);
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Director, 2));
    assert_eq!(decision.rule_id, "threshold/USD/above-top-band");
    assert_eq!(
        requirement(&decision).reason,
        "refund of 40000.00 USD is above the top band (up to 25000.00 USD): dual approval \
         above the top band (2 director approvals)"
    );
}

#[test]
fn override_never_auto_approves() {
    let decision = decide(CaseKind::Override, 1000);
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Lead, 1));
    assert_eq!(decision.rule_id, "threshold/USD/auto");
    assert_eq!(decision.signals, ["never-auto-approve-kind"]);
    assert!(requirement(&decision).reason.ends_with(
        "within the auto-approve limit of 50.00 USD, but override is never auto-approved: \
         lead approval"
    ));
}

#[test]
fn never_auto_approve_does_not_change_a_band() {
    let decision = decide(CaseKind::WriteOff, 100000);
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Manager, 1));
    assert!(decision.signals.is_empty());
}

#[test]
fn a_repeat_refund_escalates_one_level() {
    let mut facts = testing::facts(CaseKind::Refund, 40000, "USD");
    facts.history.customer.refunds = 3;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Manager, 1));
    assert_eq!(requirement(&decision).sla_minutes, Some(480));
    assert_eq!(decision.signals, ["repeat-refund"]);
    assert_eq!(decision.rule_id, "threshold/USD/band-1");
    let reason = &requirement(&decision).reason;
    assert!(reason.contains(": lead approval; escalated one level: repeat refund (3 in 90 days)"));
    assert!(reason.ends_with("; manager approval"), "{reason}");
}

#[test]
fn a_repeat_refund_that_would_auto_approve_needs_lead_approval() {
    let mut facts = testing::facts(CaseKind::Refund, 1000, "USD");
    facts.history.customer.refunds = 2;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Lead, 1));
    assert_eq!(decision.signals, ["repeat-refund"]);
}

#[test]
fn fewer_refunds_or_another_kind_do_not_escalate() {
    let mut below = testing::facts(CaseKind::Refund, 40000, "USD");
    below.history.customer.refunds = 1;
    assert_eq!(level_and_approvals(&evaluate(below).unwrap()).0, ApproverLevel::Lead);
    let mut credit = testing::facts(CaseKind::Credit, 40000, "USD");
    credit.history.customer.refunds = 9;
    assert_eq!(level_and_approvals(&evaluate(credit).unwrap()).0, ApproverLevel::Lead);
}

#[test]
fn an_escalate_always_code_escalates_one_level() {
    let mut facts = testing::facts(CaseKind::Credit, 300000, "USD");
    facts.code_flags = CodeFlags::ESCALATE_ALWAYS;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Director, 1));
    assert_eq!(decision.signals, ["escalate-always-code"]);
    assert!(requirement(&decision).reason.contains("; escalated one level: code escalates always"));
}

#[test]
fn director_stays_director_when_escalated() {
    let mut facts = testing::facts(CaseKind::Refund, 4_000_000, "USD");
    facts.code_flags = CodeFlags::ESCALATE_ALWAYS;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Director, 2));
    assert_eq!(decision.signals, ["escalate-always-code"]);
    assert!(requirement(&decision).reason.contains("already at the highest level"));
}

#[test]
fn both_escalation_causes_escalate_only_one_level() {
    let mut facts = testing::facts(CaseKind::Refund, 100000, "USD");
    facts.history.customer.refunds = 2;
    facts.code_flags = CodeFlags::ESCALATE_ALWAYS;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Finance, 1));
    assert_eq!(decision.signals, ["repeat-refund", "escalate-always-code"]);
    assert!(
        requirement(&decision)
            .reason
            .contains("; escalated one level: repeat refund (2 in 90 days) and code escalates always")
    );
}

#[test]
fn never_auto_approve_and_escalation_combine() {
    let mut facts = testing::facts(CaseKind::Override, 1000, "USD");
    facts.code_flags = CodeFlags::ESCALATE_ALWAYS;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Manager, 1));
    assert_eq!(decision.signals, ["never-auto-approve-kind", "escalate-always-code"]);
}

#[test]
fn evidence_gates_follow_the_amount() {
    let evidence = |amount| decide(CaseKind::Refund, amount).required_evidence;
    assert_eq!(evidence(5000), []);
    assert_eq!(evidence(5001), [EvidenceKind::Rationale]);
    assert_eq!(evidence(250000), [EvidenceKind::Rationale]);
    assert_eq!(evidence(250001), [EvidenceKind::Rationale, EvidenceKind::Attachment]);
}

#[test]
fn customer_comms_are_required_by_kind_or_code_flag_once() {
    assert_eq!(decide(CaseKind::Credit, 1000).required_evidence, [EvidenceKind::CustomerComms]);
    let mut flagged = testing::facts(CaseKind::Refund, 1000, "USD");
    flagged.code_flags = CodeFlags::CUSTOMER_COMMS_REQUIRED;
    assert_eq!(evaluate(flagged).unwrap().required_evidence, [EvidenceKind::CustomerComms]);
    let mut both = testing::facts(CaseKind::Override, 300000, "USD");
    both.code_flags = CodeFlags::CUSTOMER_COMMS_REQUIRED | CodeFlags::ESCALATE_ALWAYS;
    let expected = [EvidenceKind::Rationale, EvidenceKind::Attachment, EvidenceKind::CustomerComms];
    assert_eq!(evaluate(both).unwrap().required_evidence, expected);
}

#[test]
fn a_kind_ladder_replaces_the_currency_ladder() {
    let decision = decide(CaseKind::FeeWaiver, 9000);
    assert_eq!(decision.outcome, Outcome::AutoApprove);
    let decision = decide(CaseKind::FeeWaiver, 30000);
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Director, 2));
    assert_eq!(decision.rule_id, "threshold/USD/above-top-band");
    assert_eq!(decision.required_evidence, [EvidenceKind::Rationale, EvidenceKind::Attachment]);
}

#[test]
fn a_kind_without_its_own_ladder_for_the_currency_uses_the_currency_ladder() {
    let mut facts = testing::facts(CaseKind::FeeWaiver, 6000, "JPY");
    facts.amount.exponent = 0;
    let decision = evaluate(facts).unwrap();
    assert_eq!(decision.rule_id, "threshold/JPY/band-1");
    assert_eq!(
        requirement(&decision).reason,
        "fee_waiver of 6000 JPY is above the auto-approve limit of 5000 JPY and within band 1 \
         (up to 100000 JPY): manager approval"
    );
}

#[test]
fn a_currency_without_a_ladder_is_unsupported() {
    let result = evaluate(testing::facts(CaseKind::Refund, 40000, "EUR"));
    let Err(PolicyError::Unsupported(message)) = result else {
        panic!("expected Unsupported, got {result:?}");
    };
    assert_eq!(message, "no approval ladder for EUR (refund)");
}

#[test]
fn params_that_do_not_parse_are_invalid() {
    assert!(invalid_params_message("not json".into()).contains("params do not parse"));
    let missing = with_params_replaced(r#""repeat_refunds_90d": 2,"#, "");
    assert!(invalid_params_message(missing).contains("repeat_refunds_90d"));
    let unknown_level = with_params_replaced(r#""level": "lead""#, r#""level": "boss""#);
    assert!(invalid_params_message(unknown_level).contains("boss"));
    let unknown_kind = with_params_replaced(r#"["override", "write_off"]"#, r#"["rebate"]"#);
    assert!(invalid_params_message(unknown_kind).contains("rebate"));
    let unknown_field = with_params_replaced(r#""version""#, r#""typo": 1, "version""#);
    assert!(invalid_params_message(unknown_field).contains("typo"));
}

#[test]
fn bands_that_do_not_ascend_are_invalid() {
    let params =
        with_params_replaced(r#"{"up_to": 250000, "level": "manager"}"#, r#"{"up_to": 50000, "level": "manager"}"#);
    let message = invalid_params_message(params);
    assert!(message.contains("ladders.USD.bands must be strictly ascending"), "{message}");
    assert!(message.contains("band 2"), "{message}");
}

#[test]
fn bad_kind_ladders_are_invalid_even_when_unused() {
    let params = with_params_replaced(r#""auto_approve_up_to": 10000"#, r#""auto_approve_up_to": 20000"#);
    let message = invalid_params_message(params);
    assert!(message.contains("kind_ladders.fee_waiver.USD"), "{message}");
    assert!(message.contains("auto_approve_up_to"), "{message}");
}

#[test]
fn fewer_than_one_approval_above_the_top_band_is_invalid() {
    let params = with_params_replaced(r#""approvals": 2"#, r#""approvals": 0"#);
    assert!(invalid_params_message(params).contains("above_top_band.approvals"));
}

#[test]
fn a_ladder_without_bands_is_invalid() {
    let params = with_params_replaced(r#"[{"up_to": 100000, "level": "manager"}]"#, "[]");
    assert!(invalid_params_message(params).contains("ladders.JPY.bands"));
}

#[test]
fn describe_gives_name_version_and_schema() {
    let info = Threshold::describe();
    assert_eq!(info.name, "threshold");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(!info.description.is_empty());
    let schema: serde_json::Value = serde_json::from_str(&info.params_schema).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let example: serde_json::Value = serde_json::from_str(PARAMS).unwrap();
    let example = example.as_object().unwrap();
    for field in &required {
        assert!(example.contains_key(*field), "{field}");
    }
    for field in example.keys() {
        assert!(schema["properties"].get(field).is_some(), "{field} missing from the schema");
    }
}

/// A refund on an order that already had `earlier` refunds granted, totalling `refunded`.
fn on_an_order(kind: CaseKind, minor_units: i64, earlier: u32, refunded: i64) -> Facts {
    let mut facts = testing::facts(kind, minor_units, "USD");
    facts.history.order = Some(RefundsGranted { refunds: earlier, refunded_minor_units: refunded });
    facts
}

#[test]
fn a_refund_split_under_the_auto_approve_limit_is_placed_by_the_order_total() {
    // Two 49.00 USD refunds on one order: the first auto-approves, the second asks what
    // 98.00 USD asks for.
    assert_eq!(evaluate(on_an_order(CaseKind::Refund, 4900, 0, 0)).unwrap().outcome, Outcome::AutoApprove);
    let second = evaluate(on_an_order(CaseKind::Refund, 4900, 1, 4900)).unwrap();
    assert_eq!(level_and_approvals(&second), (ApproverLevel::Lead, 1));
    assert_eq!(second.signals, ["split-refund"]);
    assert_eq!(second.rule_id, "threshold/USD/band-1/order-total");
    assert_eq!(
        requirement(&second).reason,
        "refund of 49.00 USD on an order with 1 earlier refund (49.00 USD): together 98.00 USD, which is \
         above the auto-approve limit of 50.00 USD and within band 1 (up to 500.00 USD): lead approval"
    );
    // The evidence gates follow the order's total too: a rationale above 50.00 USD.
    assert_eq!(second.required_evidence, [EvidenceKind::Rationale]);
}

#[test]
fn an_order_total_in_the_same_band_changes_nothing() {
    let alone = evaluate(testing::facts(CaseKind::Refund, 40000, "USD")).unwrap();
    let with_order = evaluate(on_an_order(CaseKind::Refund, 40000, 1, 5000)).unwrap();
    assert_eq!(with_order, alone);
    let no_earlier = evaluate(on_an_order(CaseKind::Refund, 4900, 0, 0)).unwrap();
    assert_eq!(no_earlier, evaluate(testing::facts(CaseKind::Refund, 4900, "USD")).unwrap());
}

#[test]
fn an_order_total_can_reach_above_the_top_band() {
    let decision = evaluate(on_an_order(CaseKind::Refund, 2_000_000, 3, 1_000_000)).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Director, 2));
    assert!(requirement(&decision).reason.contains("3 earlier refunds (10000.00 USD): together 30000.00 USD"));
}

#[test]
fn only_refunds_count_their_order() {
    let credit = evaluate(on_an_order(CaseKind::Credit, 4900, 1, 4900)).unwrap();
    assert!(!credit.signals.contains(&"split-refund".to_string()), "{credit:?}");
}

#[test]
fn a_split_refund_still_escalates_for_repeat_refunds() {
    let mut facts = on_an_order(CaseKind::Refund, 4900, 1, 4900);
    facts.history.customer.refunds = 2;
    let decision = evaluate(facts).unwrap();
    assert_eq!(level_and_approvals(&decision), (ApproverLevel::Manager, 1));
    assert_eq!(decision.signals, ["split-refund", "repeat-refund"]);
}
