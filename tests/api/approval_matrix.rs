//! The default approval matrix, decided by the threshold and routing plugins.

use levee_tests::{TestServer, case, evidence, on_order, refund};
use serde_json::{Value, json};

fn outcome(answer: &Value) -> (&str, Option<&str>, Option<u64>) {
    let decision = &answer["decision"];
    (
        decision["outcome"].as_str().unwrap_or_default(),
        decision["level"].as_str(),
        decision["approvals_needed"].as_u64(),
    )
}

/// Every band of the USD ladder lands at its level, with dual director approval above the top.
#[tokio::test]
async fn every_band_of_the_matrix_routes_to_its_level() {
    let server = TestServer::start().await;
    let bands = [
        (4_000, "auto_approved", None, None),
        (5_000, "auto_approved", None, None),
        (5_001, "pending_approval", Some("lead"), Some(1)),
        (40_000, "pending_approval", Some("lead"), Some(1)),
        (200_000, "pending_approval", Some("manager"), Some(1)),
        (900_000, "pending_approval", Some("finance"), Some(1)),
        (2_000_000, "pending_approval", Some("director"), Some(1)),
        (4_000_000, "pending_approval", Some("director"), Some(2)),
    ];
    for (index, (minor_units, status, level, approvals)) in bands.into_iter().enumerate() {
        let mut body = refund(minor_units, &format!("band-{index}"));
        body["evidence"] = json!([evidence("attachment")]);
        let answer = server.submit(body).await;
        assert_eq!(outcome(&answer), (status, level, approvals), "{minor_units} minor units: {answer}");
    }
    server.stop().await;
}

/// A $40 refund auto-approves and its decision names the policies, digests and rules used.
#[tokio::test]
async fn small_refund_auto_approves_naming_the_policies_that_decided() {
    let server = TestServer::start().await;
    let answer = server.submit(refund(4_000, "small")).await;
    assert_eq!(answer["status"], "auto_approved");
    let policies = answer["decision"]["policies"].as_array().expect("policies");
    let names: Vec<&str> = policies.iter().filter_map(|policy| policy["name"].as_str()).collect();
    assert_eq!(names, ["threshold", "routing"]);
    assert!(policies.iter().all(|policy| policy["digest"].as_str().is_some_and(|digest| digest.len() == 64)));
    assert_eq!(policies[0]["rule_id"], "threshold/USD/auto");
    assert_eq!(answer["decision"]["queue"], "fulfilment-approvals");
    server.stop().await;
}

/// The same customer's third refund in 90 days (each on an order of its own) escalates one level.
#[tokio::test]
async fn repeat_refunds_escalate_one_level() {
    let server = TestServer::start().await;
    let repeat = |minor_units, order| on_order(refund(minor_units, "repeat"), order);
    assert_eq!(server.submit(repeat(4_000, "order-repeat-1")).await["status"], "auto_approved");
    assert_eq!(server.submit(repeat(4_000, "order-repeat-2")).await["status"], "auto_approved");
    let third = server.submit(repeat(4_000, "order-repeat-3")).await;
    assert_eq!(outcome(&third), ("pending_approval", Some("lead"), Some(1)), "{third}");
    let fourth = server.submit(repeat(40_000, "order-repeat-4")).await;
    assert_eq!(outcome(&fourth), ("pending_approval", Some("manager"), Some(1)), "{fourth}");
    assert!(fourth["case"]["decision"]["signals"].as_array().unwrap().contains(&json!("repeat-refund")));
    server.stop().await;
}

/// Overrides and write-offs never auto-approve, whatever the amount.
#[tokio::test]
async fn overrides_and_write_offs_never_auto_approve() {
    let server = TestServer::start().await;
    let answer = server.submit(case("override", 100, "USD", "ov", "SYSTEM_CALCULATION_OVERRIDE")).await;
    assert_eq!(outcome(&answer), ("pending_approval", Some("lead"), Some(1)), "{answer}");
    // The threshold policy itself asks for approval (not only the hold for missing evidence).
    assert_eq!(answer["decision"]["policies"][0]["verdict"], "require_approval", "{answer}");
    let write_off = server.submit(case("write_off", 1, "USD", "wo", "UNCOLLECTIBLE_BALANCE")).await;
    assert_eq!(outcome(&write_off), ("pending_approval", Some("lead"), Some(1)), "{write_off}");
    server.stop().await;
}

/// A code flagged escalate-always moves the case up one level.
#[tokio::test]
async fn escalate_always_codes_escalate() {
    let server = TestServer::start().await;
    let answer = server.submit(case("refund", 40_000, "USD", "esc", "CHARGEBACK_PREVENTION")).await;
    assert_eq!(outcome(&answer), ("pending_approval", Some("manager"), Some(1)), "{answer}");
    server.stop().await;
}

/// Evidence gates: rationale above the lowest band, an attachment above the manager band,
/// customer comms for credits.
#[tokio::test]
async fn decisions_require_evidence_by_band_and_kind() {
    let server = TestServer::start().await;
    let required = |answer: &Value| answer["decision"]["required_evidence"].clone();
    assert_eq!(required(&server.submit(refund(40_000, "ev1")).await), json!(["rationale"]));
    let large = server.submit(refund(300_000, "ev2")).await;
    assert_eq!(required(&large), json!(["rationale", "attachment"]));
    assert_eq!(large["decision"]["missing_evidence"], json!(["attachment"]));
    let credit = server.submit(case("credit", 40_000, "USD", "ev3", "SERVICE_OUTAGE")).await;
    assert_eq!(required(&credit), json!(["rationale", "customer_comms"]));
    server.stop().await;
}

/// A small credit that would auto-approve waits for a lead while its required evidence is missing.
#[tokio::test]
async fn auto_approval_waits_for_missing_evidence() {
    let server = TestServer::start().await;
    let answer = server.submit(case("credit", 1_000, "USD", "held", "SLA_BREACH")).await;
    assert_eq!(outcome(&answer), ("pending_approval", Some("lead"), Some(1)), "{answer}");
    assert_eq!(answer["decision"]["missing_evidence"], json!(["customer_comms"]));
    server.stop().await;
}

/// A currency the matrix has no ladder for is refused at intake, listing the ones it has:
/// no approver could ever approve such a case.
#[tokio::test]
async fn currency_without_a_ladder_is_refused_at_intake() {
    let server = TestServer::start().await;
    let (status, answer) =
        server.post("agent", "/v1/cases", case("refund", 1_000, "CHF", "chf", "LATE_DELIVERY")).await;
    assert_eq!(status, levee_tests::StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "amount.currency");
    assert!(answer["error"]["valid_values"].as_array().unwrap().contains(&json!("USD")), "{answer}");
    assert_eq!(server.ledger_len().await, 0);
    server.stop().await;
}

/// A refund split into parts under the auto-approve limit: the second 49.00 USD refund on one
/// order (for whichever customer) is placed by the order's total, 98.00 USD, and asks for a
/// lead; the facts the ledger records show the order's earlier refund. Another order is not
/// affected.
#[tokio::test]
async fn a_refund_split_on_one_order_is_placed_by_the_order_total() {
    let server = TestServer::start().await;
    let on_order = |customer: &str, order: &str| on_order(refund(4_900, customer), order);
    assert_eq!(server.submit(on_order("split-a", "ORD-SPLIT-1")).await["status"], "auto_approved");
    let second = server.submit(on_order("split-b", "ORD-SPLIT-1")).await;
    assert_eq!(outcome(&second), ("pending_approval", Some("lead"), Some(1)), "{second}");
    let threshold = &second["decision"]["policies"][0];
    assert_eq!(threshold["rule_id"], "threshold/USD/band-1/order-total", "{second}");
    assert!(second["decision"]["signals"].as_array().unwrap().contains(&json!("split-refund")), "{second}");
    let (_, case) = server.get("auditor", &format!("/v1/cases/{}", second["case_id"].as_str().unwrap())).await;
    let facts = &case["ledger"][0]["payload"]["facts"];
    assert_eq!(facts["order_refunds"], json!({"refunds": 1, "refunded_minor_units": 4_900}), "{case}");
    let reasons = case["case"]["decision"]["reasons"].to_string();
    assert!(reasons.contains("together 98.00 USD"), "{reasons}");
    let other_order = server.submit(on_order("split-c", "ORD-SPLIT-2")).await;
    assert_eq!(other_order["status"], "auto_approved", "{other_order}");
    server.stop().await;
}
