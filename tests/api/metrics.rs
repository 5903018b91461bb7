//! Metrics over real HTTP, on a manual clock, against a small planted dataset whose every
//! figure is worked out by hand below: leakage by cause, cycle-time percentiles, evidence
//! completeness, approver figures, repeats, drift (PSI), the baseline comparison, the charts,
//! Prometheus text and the monthly review.
//!
//! The dataset (all USD, team support-emea, week 2026-W41 unless said):
//! - A  $40    LATE_DELIVERY  cus_rep  auto-approved at submission
//! - B  $400   LATE_DELIVERY  cus_rep  lead approves 30 s later with "ok" (fast, token rationale)
//! - C  $300   DAMAGED_IN_TRANSIT      lead approves after 2 h with a real rationale
//! - D  $450   LATE_DELIVERY           lead rejects after 1 h
//! - E  $2,000 LATE_DELIVERY           manager approves after 5 h
//! - F  $3,000 LATE_DELIVERY           needs an attachment; finance rejects after 2 h without one
//! - G  $40    LATE_DELIVERY  cus_rep  auto-approved (third for the customer: a repeat)
//! - H, I $30  DAMAGED_IN_TRANSIT      week 2026-W42, auto-approved
//! - a silent Stripe refund of $123.45 in W42 that no case explains.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hmac::{Hmac, Mac};
use levee_core::clock::{Clock, ManualClock};
use levee_core::inbound::Scheme;
use levee_core::intake::WebhookSource;
use levee_tests::{Options, StatusCode, TestServer, case, eventually, evidence, on_order};
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_metrics_0123456789abcdef";

fn start_time() -> DateTime<Utc> {
    // Monday 2026-10-05 09:00 UTC, the start of ISO week 2026-W41.
    Utc.with_ymd_and_hms(2026, 10, 5, 9, 0, 0).unwrap()
}

async fn server(clock: Arc<ManualClock>) -> TestServer {
    let stripe = WebhookSource {
        name: "stripe".into(),
        signature: Scheme::Stripe,
        secrets: vec![STRIPE_SECRET.into()],
        intake: None,
    };
    TestServer::start_with(Options { clock: Some(clock), webhook_sources: vec![stripe], ..Options::default() }).await
}

async fn submit(server: &TestServer, minor_units: i64, customer: &str, code: &str) -> String {
    submit_body(server, case("refund", minor_units, "USD", customer, code)).await
}

async fn submit_body(server: &TestServer, body: Value) -> String {
    let answer = server.submit(body).await;
    answer["case_id"].as_str().expect("a case id").to_owned()
}

async fn act(server: &TestServer, who: &str, case_id: &str, action: &str, rationale: &str) {
    let (status, answer) =
        server.post(who, &format!("/v1/cases/{case_id}/{action}"), json!({"rationale": rationale})).await;
    assert_eq!(status, StatusCode::OK, "{action} {case_id}: {answer}");
}

/// A signed Stripe `refund.created` of $123.45 for an order no case names, made at `at`.
async fn silent_stripe_refund(server: &TestServer, at: DateTime<Utc>) {
    stripe_refund(server, at, "re_silent", "order-nobody").await;
}

/// A signed Stripe `refund.created` of $123.45 for `order`, made at `at`.
async fn stripe_refund(server: &TestServer, at: DateTime<Utc>, refund_id: &str, order: &str) {
    let refund = json!({"id": refund_id, "object": "refund", "amount": 12_345, "currency": "usd",
        "charge": format!("ch_{refund_id}"), "payment_intent": format!("pi_{refund_id}"), "status": "succeeded",
        "created": at.timestamp(), "metadata": {"order_id": order}});
    let body = serde_json::to_vec(&json!({"id": format!("evt_{refund_id}"), "object": "event",
        "type": "refund.created", "data": {"object": refund}}))
    .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.", at.timestamp()).as_bytes());
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let headers = vec![("Stripe-Signature".to_owned(), format!("t={},v1={signature}", at.timestamp()))];
    let (status, answer) = server.post_webhook("stripe", &headers, &body).await;
    assert!(status.is_success(), "{answer}");
}

/// Plants the dataset; leaves the clock in week 2026-W43.
async fn plant(server: &TestServer, clock: &ManualClock) -> Vec<String> {
    let a = submit(server, 4_000, "cus_rep", "LATE_DELIVERY").await;
    let b = submit(server, 40_000, "cus_rep", "LATE_DELIVERY").await;
    let c = submit(server, 30_000, "cus_c", "DAMAGED_IN_TRANSIT").await;
    let d = submit(server, 45_000, "cus_d", "LATE_DELIVERY").await;
    let e = submit(server, 200_000, "cus_e", "LATE_DELIVERY").await;
    let f = submit(server, 300_000, "cus_f", "LATE_DELIVERY").await;
    // G is another order of the repeat customer's (refunds on one order add up).
    let g = submit_body(server, on_order(case("refund", 4_000, "USD", "cus_rep", "LATE_DELIVERY"), "order-cus_rep-2"))
        .await;
    clock.advance(Duration::seconds(30));
    act(server, "lead", &b, "approve", "ok").await;
    clock.advance(Duration::seconds(3_600 - 30));
    act(server, "lead", &d, "reject", "not late according to the carrier").await;
    clock.advance(Duration::seconds(3_600));
    act(server, "lead", &c, "approve", "photos match the carrier damage report").await;
    act(server, "finance", &f, "reject", "no invoice attached to support this").await;
    clock.advance(Duration::seconds(18_000 - 7_200));
    act(server, "manager", &e, "approve", "confirmed late with the courier").await;
    // Week W42: two damaged-in-transit refunds, and a refund nobody asked for.
    clock.advance(Duration::days(7));
    let h = submit(server, 3_000, "cus_h", "DAMAGED_IN_TRANSIT").await;
    let i = submit(server, 3_000, "cus_i", "DAMAGED_IN_TRANSIT").await;
    silent_stripe_refund(server, clock.now()).await;
    // Into W43, so W42 is the last complete week.
    clock.advance(Duration::days(7));
    vec![a, b, c, d, e, f, g, h, i]
}

const OCTOBER: &str = "from=2026-10&to=2026-10";

#[tokio::test]
async fn every_metric_matches_the_hand_computed_answer() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(start_time()));
    let server = server(clock.clone()).await;
    plant(&server, &clock).await;

    // Leakage: B's fast token-rationale approval ($400) in W41 and the silent $123.45 in W42.
    let (status, leakage) = server.get("finance", &format!("/v1/metrics/leakage?{OCTOBER}")).await;
    assert_eq!(status, StatusCode::OK, "{leakage}");
    let totals: Vec<(String, i64, i64)> = leakage["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["key"].as_str().unwrap().to_owned(),
                line["minor_units"].as_i64().unwrap(),
                line["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(totals, vec![("fast_without_rationale".into(), 40_000, 1), ("silent".into(), 12_345, 1)]);
    assert_eq!(
        leakage["months"],
        json!([{"month": "2026-10", "currency": "USD", "total_minor_units": 52_345,
        "causes": {"fast_without_rationale": 40_000, "silent": 12_345}}])
    );
    let by_team: Vec<&str> =
        leakage["by_team"].as_array().unwrap().iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(by_team, ["support-emea", "unmatched"]);
    assert_eq!(leakage["by_approver"][0]["key"], "lee.lead");
    assert_eq!(leakage["by_band"][0]["key"], "lead ≤ 500.00 USD");
    assert_eq!(leakage["over_authority_approvals"], 0);

    // Cycle time, for the five cases a person decided: 30 s, 1 h, 2 h, 2 h, 5 h. Nearest rank:
    // p50 is the 3rd (7,200 s), p90 the 5th (18,000 s).
    let (_, cycle) = server.get("finance", &format!("/v1/metrics/cycle-time?{OCTOBER}")).await;
    assert_eq!(cycle["overall"], json!({"key": "all", "count": 5, "p50_seconds": 7_200, "p90_seconds": 18_000}));
    let lead_band = cycle["by_band"].as_array().unwrap().iter().find(|l| l["key"] == "lead ≤ 500.00 USD").unwrap();
    // B 30 s, D 3,600 s, C 7,200 s: p50 3,600.
    assert_eq!((lead_band["count"].as_u64(), lead_band["p50_seconds"].as_u64()), (Some(3), Some(3_600)));
    let w41 = cycle["weekly"].as_array().unwrap().iter().find(|l| l["key"] == "2026-W41").unwrap();
    assert_eq!(w41["count"], 5);

    // Evidence: seven decided in W41 (A to G; G is auto-approved, as B was still pending when
    // it came) and two in W42 (H, I); only F lacked its required attachment. 8 of 9.
    let (_, evidence) = server.get("auditor", &format!("/v1/metrics/evidence?{OCTOBER}")).await;
    assert_eq!((evidence["overall"]["decided"].as_u64(), evidence["overall"]["complete"].as_u64()), (Some(9), Some(8)));
    assert_eq!(evidence["overall"]["share"].as_f64(), Some(8.0 / 9.0));

    // Approvers: the lead approved B and C and rejected D; B came 30 s after submission.
    let (_, outliers) = server.get("admin", &format!("/v1/metrics/outliers?{OCTOBER}")).await;
    let lead = outliers["approvers"].as_array().unwrap().iter().find(|l| l["approver"] == "lee.lead").unwrap();
    assert_eq!((lead["approvals"].as_u64(), lead["rejections"].as_u64()), (Some(2), Some(1)));
    assert_eq!(lead["approval_rate"].as_f64(), Some(2.0 / 3.0));
    assert_eq!((lead["fast_approvals"].as_u64(), lead["fast_without_rationale"].as_u64()), (Some(1), Some(1)));
    assert_eq!(lead["mean_approved_minor_units"], 35_000, "(40,000 + 30,000) / 2");
    assert_eq!(lead["z_approval_rate"], Value::Null, "one lead has no peers");
    assert_eq!(
        outliers["repeats"],
        json!([{"customer": "cus_rep", "code": "LATE_DELIVERY", "count": 3, "team": "support-emea"}])
    );

    // Drift: W42 against the four weeks before (only W41 has cases: 6 LATE_DELIVERY and 1
    // DAMAGED_IN_TRANSIT); W42 has 2 DAMAGED. Half a case added to each count gives shares
    // 6.5/8 and 1.5/8 before, 0.5/3 and 2.5/3 now. PSI ≈ 1.023 + 0.963 = 1.986, over the limit
    // 0.2 plus chance (2 − 1)·(1/7 + 1/2) = 0.643.
    let (before_l, before_d, now_l, now_d) = (6.5 / 8.0, 1.5 / 8.0, 0.5 / 3.0, 2.5 / 3.0);
    let expected_psi = (now_l - before_l) * f64::ln(now_l / before_l) + (now_d - before_d) * f64::ln(now_d / before_d);
    assert!((expected_psi - 1.986).abs() < 1e-3, "{expected_psi}");
    let (_, drift) = server.get("admin", &format!("/v1/metrics/drift?{OCTOBER}")).await;
    let latest = &drift["latest"];
    assert_eq!(latest["week"], "2026-W42");
    assert!((latest["code_mix_psi"].as_f64().unwrap() - expected_psi).abs() < 1e-9, "{latest} vs {expected_psi}");
    assert!((latest["psi_noise_floor"].as_f64().unwrap() - (1.0 / 7.0 + 1.0 / 2.0)).abs() < 1e-9, "{latest}");
    assert!(latest["flags"][0].as_str().unwrap().starts_with("code mix shifted"), "{latest}");
}

#[tokio::test]
async fn the_summary_compares_with_the_baseline_and_the_pages_render() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(start_time()));
    let server = server(clock.clone()).await;
    plant(&server, &clock).await;

    // The organisation marks W41 as its baseline.
    let baseline = json!({"team": "all", "from": "2026-10-05", "to": "2026-10-11", "note": "before the pilot"});
    let (status, marked) = server.post("admin", "/v1/metrics/baselines", baseline).await;
    assert_eq!(status, StatusCode::CREATED, "{marked}");
    let (status, refused) = server
        .post("lead", "/v1/metrics/baselines", json!({"team": "all", "from": "2026-10-05", "to": "2026-10-11"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, refused) = server
        .post("admin", "/v1/metrics/baselines", json!({"team": "all", "from": "2026-10-19", "to": "2026-10-25"}))
        .await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to")),
        "{refused}"
    );

    let (status, summary) = server.get("lead", &format!("/v1/metrics/summary?{OCTOBER}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let card = |id: &str| summary["headline"].as_array().unwrap().iter().find(|card| card["id"] == id).unwrap().clone();
    assert_eq!(card("leakage")["value"], "523.45 USD");
    assert_eq!(card("cycle-time")["value"], "2.0 h");
    assert_eq!(card("evidence")["value"], "88.9%");
    // By today (19 October) 19 days of October have passed, 19/7 weeks: 9 cases is 3.32 a
    // week against W41's 7 (−53%), and $523.45 is $192.85 a week against W41's $400 (−52%).
    assert_eq!(card("cases")["change_vs_baseline"], "-53%");
    assert_eq!(card("leakage")["change_vs_baseline"], "-52%");
    assert_eq!(card("leakage")["detail"], "192.85 USD per week");
    assert_eq!(
        (card("leakage")["better_when"].as_str(), card("evidence")["better_when"].as_str()),
        (Some("lower"), Some("higher"))
    );
    let kinds: Vec<&str> = summary["signals"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"rubber_stamp") && kinds.contains(&"leakage") && kinds.contains(&"drift"), "{kinds:?}");
    assert!(kinds.contains(&"repeat_customer"), "{kinds:?}");

    for chart in ["leakage", "cycle-time", "pareto", "approver-outliers", "remediation-sla", "drift"] {
        let (status, content_type, svg) = server.get_text("finance", &format!("/v1/charts/{chart}?{OCTOBER}")).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/svg+xml"), "{chart}: {svg}");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{chart}");
    }
    let (_, _, leakage_chart) = server.get_text("finance", &format!("/v1/charts/leakage?{OCTOBER}")).await;
    assert!(leakage_chart.contains("Refund leakage by month (USD)") && leakage_chart.contains("2026-10"));
    let (status, _, _) = server.get_text("finance", "/v1/charts/nonsense").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = server.get_text("agent", "/v1/charts/leakage").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, content_type, text) = server.get_text("auditor", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert!(text.contains("levee_cases{month=\"2026-10\",team=\"support-emea\"} 9"), "{text}");
    assert!(
        text.contains("levee_leakage_minor_units{month=\"2026-10\",currency=\"USD\",cause=\"silent\"} 12345"),
        "{text}"
    );
    assert!(text.contains("levee_metrics_fold_behind_entries 0"), "{text}");
    let (status, _) = server.get_anonymous("/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, content_type, page) = server.get_text("auditor", "/v1/reports/monthly?month=2026-10").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(page.contains("levee monthly review: 2026-10") && page.contains("<svg") && page.contains("LATE_DELIVERY"));
    assert!(!page.contains("<script"), "the review is static");
    let (status, error) = server.get("auditor", "/v1/reports/monthly?month=October").await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("month")));
    assert_eq!(server.verify().await["ok"], true);
}

/// Every approval counts for its approver, not only the one that completes the case: the first
/// of two directors' approvals is an `approval_recorded` entry.
#[tokio::test]
async fn every_approval_counts_for_its_approver() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(start_time()));
    let server = server(clock.clone()).await;
    let big = submit(&server, 4_000_000, "cus_big", "BILLING_ERROR").await;
    let (status, answer) = server.post("agent", &format!("/v1/cases/{big}/evidence"), evidence("attachment")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    clock.advance(Duration::seconds(20));
    act(&server, "director", &big, "approve", "ok").await;
    clock.advance(Duration::seconds(600));
    act(&server, "director2", &big, "approve", "confirmed with billing, invoice attached").await;
    let (_, outliers) = server.get("auditor", &format!("/v1/metrics/outliers?{OCTOBER}")).await;
    let director = |actor: &str| {
        outliers["approvers"].as_array().unwrap().iter().find(|line| line["approver"] == actor).cloned().unwrap()
    };
    assert_eq!(
        (director("dana.director")["approvals"].as_u64(), director("dana.director")["fast_approvals"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (director("drew.director")["approvals"].as_u64(), director("drew.director")["fast_approvals"].as_u64()),
        (Some(1), Some(0))
    );
    // The leak is the fast first approver's, not the careful second one's.
    let (_, leakage) = server.get("auditor", &format!("/v1/metrics/leakage?{OCTOBER}")).await;
    assert_eq!(leakage["by_approver"][0]["key"], "dana.director", "{leakage}");
    assert_eq!(leakage["by_approver"][0]["minor_units"], 4_000_000);
}

/// A refund made while its case still waited is a silent leak of that case's team; once the
/// case is approved and the refund re-matched, the leak leaves every breakdown it was counted
/// in, not only the total.
#[tokio::test]
async fn a_rematched_refund_leaves_every_breakdown() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(start_time()));
    let stripe = WebhookSource {
        name: "stripe".into(),
        signature: Scheme::Stripe,
        secrets: vec![STRIPE_SECRET.into()],
        intake: None,
    };
    let options = Options {
        clock: Some(clock.clone()),
        webhook_sources: vec![stripe],
        jobs_interval_ms: Some(20),
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let waiting = submit(&server, 40_000, "cus_late", "LATE_DELIVERY").await;
    clock.advance(Duration::seconds(60));
    stripe_refund(&server, clock.now(), "re_early", "order-cus_late").await;
    let (_, leakage) = server.get("auditor", &format!("/v1/metrics/leakage?{OCTOBER}")).await;
    assert_eq!(
        leakage["by_team"],
        json!([{"key": "support-emea", "currency": "USD", "minor_units": 12_345, "count": 1}])
    );
    assert_eq!(leakage["by_approver"][0]["key"], "pending", "{leakage}");

    clock.advance(Duration::seconds(600));
    act(&server, "lead", &waiting, "approve", "confirmed late with the courier").await;
    eventually("the refund re-matched", || async {
        let (_, findings) = server.get("auditor", "/v1/findings").await;
        let silent = findings.as_array()?.iter().find(|finding| finding["kind"] == "silent")?.clone();
        (!silent["resolved_at"].is_null()).then_some(())
    })
    .await;
    let (_, leakage) = server.get("auditor", &format!("/v1/metrics/leakage?{OCTOBER}")).await;
    for breakdown in ["totals", "by_band", "by_code", "by_approver", "by_team"] {
        assert_eq!(leakage[breakdown], json!([]), "{breakdown}: {leakage}");
    }
}
