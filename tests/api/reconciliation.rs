//! Executed refunds from Stripe and Shopify, over real HTTP, verified by each one's scheme, and
//! reconciled against approved cases: a mixed dataset with planted silent, overage, duplicate
//! and discrepancy refunds gives exactly those findings and no others; a late approval
//! re-matches a silent refund; duplicates and refusals change nothing.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use levee_core::inbound::Scheme;
use levee_core::intake::WebhookSource;
use levee_tests::{Options, StatusCode, TestServer, case, eventually, open_store, verify_stopped};
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_test_0123456789abcdef";
/// The secret being rotated to: both are configured.
const STRIPE_ROTATED: &str = "whsec_next_0123456789abcdef";
const SHOPIFY_OLD: &str = "shpss_old_0123456789abcdef";
const SHOPIFY_NEW: &str = "shpss_new_0123456789abcdef";

fn hmac256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().to_vec()
}

/// A `refund.created` event; the refund was made `seconds_ago`.
fn stripe_event(refund_id: &str, minor_units: i64, order: &str, seconds_ago: i64) -> Vec<u8> {
    let refund = json!({"id": refund_id, "object": "refund", "amount": minor_units, "currency": "usd",
        "charge": format!("ch_{refund_id}"), "payment_intent": format!("pi_{refund_id}"), "status": "succeeded",
        "created": Utc::now().timestamp() - seconds_ago, "metadata": {"order_id": order}});
    serde_json::to_vec(&json!({"id": format!("evt_{refund_id}"), "object": "event", "type": "refund.created",
        "data": {"object": refund}}))
    .unwrap()
}

fn stripe_headers(secret: &str, body: &[u8], at: i64) -> Vec<(String, String)> {
    let signature = hex::encode(hmac256(secret, &[format!("{at}.").as_bytes(), body]));
    vec![("Stripe-Signature".into(), format!("t={at},v1={signature}"))]
}

fn shopify_refund(order: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": 929361463, "order_id": order, "created_at": Utc::now().to_rfc3339(),
        "note": "wrong size", "restock": false, "refund_line_items": [],
        "transactions": [{"id": 1, "kind": "refund", "status": "success", "amount": "12.50", "currency": "USD",
                          "gateway": "bogus", "parent_id": 2}],
        "order_adjustments": [{"id": 3, "kind": "refund_discrepancy", "amount": "-5.00", "reason": "Refund discrepancy"}]}))
    .unwrap()
}

fn shopify_headers(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("X-Shopify-Hmac-Sha256".into(), BASE64.encode(hmac256(secret, &[body]))),
        ("X-Shopify-Topic".into(), "refunds/create".into()),
        ("X-Shopify-Event-Id".into(), "98880550-7158-44d4-b7cd-2c97c8a091b5".into()),
    ]
}

async fn server() -> TestServer {
    TestServer::start_with(options()).await
}

fn options() -> Options {
    let sources = vec![
        WebhookSource {
            name: "stripe".into(),
            signature: Scheme::Stripe,
            secrets: vec![STRIPE_ROTATED.into(), STRIPE_SECRET.into()],
            intake: None,
        },
        WebhookSource {
            name: "shopify".into(),
            signature: Scheme::Shopify,
            secrets: vec![SHOPIFY_OLD.into(), SHOPIFY_NEW.into()],
            intake: None,
        },
    ];
    Options { webhook_sources: sources, jobs_interval_ms: Some(20), ..Options::default() }
}

async fn stripe(server: &TestServer, refund_id: &str, minor_units: i64, order: &str) -> (StatusCode, Value) {
    // The money for order E left a minute before anyone approved it.
    let seconds_ago = if order == "order-E" { 60 } else { 0 };
    let body = stripe_event(refund_id, minor_units, order, seconds_ago);
    server.post_webhook("stripe", &stripe_headers(STRIPE_SECRET, &body, Utc::now().timestamp()), &body).await
}

/// (kind, order, minor units, resolved) of every finding.
async fn findings(server: &TestServer) -> BTreeSet<(String, String, i64, bool)> {
    let (_, listed) = server.get("auditor", "/v1/findings").await;
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            let order = finding["execution_id"].as_str().unwrap().to_owned();
            let resolved = !finding["resolved_at"].is_null();
            (
                finding["kind"].as_str().unwrap().to_owned(),
                order,
                finding["amount"]["minor_units"].as_i64().unwrap(),
                resolved,
            )
        })
        .collect()
}

fn planted(kind: &str, execution: &str, minor_units: i64, resolved: bool) -> (String, String, i64, bool) {
    (kind.to_owned(), execution.to_owned(), minor_units, resolved)
}

#[tokio::test]
async fn reconciliation_finds_exactly_the_planted_leaks() {
    let server = server().await;
    for customer in ["A", "B", "D"] {
        assert_eq!(
            server.submit(case("refund", 4_000, "USD", customer, "LATE_DELIVERY")).await["status"],
            "auto_approved"
        );
    }
    let mut shopify_case = case("refund", 1_250, "USD", "F", "LATE_DELIVERY");
    shopify_case["order_ref"] = json!("450789469");
    server.submit(shopify_case).await;
    let pending = server.submit(case("refund", 40_000, "USD", "E", "LATE_DELIVERY")).await;

    for (refund, amount, order) in [
        ("re_A", 4_000, "order-A"),
        ("re_B", 6_000, "order-B"),
        ("re_C", 2_500, "order-C"),
        ("re_D1", 4_000, "order-D"),
        ("re_D2", 4_000, "order-D"),
        ("re_E", 40_000, "order-E"),
    ] {
        let (status, answer) = stripe(&server, refund, amount, order).await;
        assert_eq!(status, StatusCode::CREATED, "{refund}: {answer}");
    }
    let body = shopify_refund(450789469);
    let (status, answer) = server.post_webhook("shopify", &shopify_headers(SHOPIFY_NEW, &body), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let expected = BTreeSet::from([
        planted("overage", "EX-stripe-re_B", 2_000, false),
        planted("silent", "EX-stripe-re_C", 2_500, false),
        planted("overage", "EX-stripe-re_D2", 4_000, false),
        planted("duplicate", "EX-stripe-re_D2", 4_000, false),
        planted("silent", "EX-stripe-re_E", 40_000, false),
        planted("refund_discrepancy", "EX-shopify-929361463", 500, false),
    ]);
    assert_eq!(findings(&server).await, expected, "exactly the planted findings, no false ones");

    // A duplicate delivery changes nothing.
    let (status, _) = stripe(&server, "re_C", 2_500, "order-C").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.post_webhook("shopify", &shopify_headers(SHOPIFY_OLD, &body), &body).await;
    assert_eq!(status, StatusCode::OK, "the old secret during a rotation, and a replay");

    // A late approval re-matches the silent refund: it was executed before the approval.
    let case_id = pending["case_id"].as_str().unwrap();
    let (status, _) = server.post("lead", &format!("/v1/cases/{case_id}/approve"), json!({"rationale": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
    let after = eventually("the late approval re-matched", || async {
        let now = findings(&server).await;
        now.contains(&planted("silent", "EX-stripe-re_E", 40_000, true)).then_some(now)
    })
    .await;
    assert!(after.contains(&planted("executed_before_approval", "EX-stripe-re_E", 40_000, false)), "{after:?}");
    assert_eq!(after.len(), expected.len() + 1);
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn payment_webhooks_are_refused_unless_signed_as_their_vendor_signs() {
    let server = server().await;
    let body = stripe_event("re_X", 1_000, "order-X", 0);
    let now = Utc::now().timestamp();
    let mut changed = body.clone();
    changed[10] ^= 1;
    let refusals = [
        ("wrong secret", stripe_headers("whsec_not_it_000000000", &body, now), body.clone()),
        ("changed byte", stripe_headers(STRIPE_SECRET, &body, now), changed),
        ("stale", stripe_headers(STRIPE_SECRET, &body, now - 301), body.clone()),
        ("no header", vec![], body.clone()),
    ];
    for (what, headers, body) in refusals {
        let (status, answer) = server.post_webhook("stripe", &headers, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
    }
    let garbage = b"[1, 2".to_vec();
    let (status, _) = server.post_webhook("stripe", &stripe_headers(STRIPE_SECRET, &garbage, now), &garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let shopify_body = shopify_refund(1);
    let (status, _) =
        server.post_webhook("shopify", &shopify_headers("shpss_wrong_000000000", &shopify_body), &shopify_body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.post_webhook("shopify", &shopify_headers(SHOPIFY_OLD, &garbage), &garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "Shopify: malformed JSON, signed");
    let mut unsigned = shopify_headers(SHOPIFY_OLD, &shopify_body);
    unsigned.retain(|(name, _)| name != "X-Shopify-Hmac-Sha256");
    let (status, _) = server.post_webhook("shopify", &unsigned, &shopify_body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "Shopify: no signature");
    assert_eq!(server.ledger_len().await, 0, "refusals write nothing");
    let rotated = stripe_event("re_R", 1_000, "order-R", 0);
    let (status, _) = server.post_webhook("stripe", &stripe_headers(STRIPE_ROTATED, &rotated, now), &rotated).await;
    assert_eq!(status, StatusCode::CREATED, "Stripe: the new secret during a rotation");
    server.stop().await;
}

/// Two approved partial refunds of one order, executed once each, add up; a third is both an
/// overage and a duplicate.
#[tokio::test]
async fn partial_refunds_of_one_order_match_their_own_cases() {
    let server = server().await;
    for _ in 0..2 {
        let mut partial = case("refund", 1_000, "USD", "P", "LATE_DELIVERY");
        partial["order_ref"] = json!("order-P");
        assert_eq!(server.submit(partial).await["status"], "auto_approved");
    }
    for refund in ["re_P1", "re_P2"] {
        let (status, _) = stripe(&server, refund, 1_000, "order-P").await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(findings(&server).await, BTreeSet::new(), "two approved partial refunds, two executions");
    stripe(&server, "re_P3", 1_000, "order-P").await;
    let expected = BTreeSet::from([
        planted("overage", "EX-stripe-re_P3", 1_000, false),
        planted("duplicate", "EX-stripe-re_P3", 1_000, false),
    ]);
    assert_eq!(findings(&server).await, expected);
    server.stop().await;
}

/// Executions with findings are listed from pages, not from one index rewritten with every
/// execution: after 30 silent refunds no record holds every finding, the page that lists them
/// holds only their ids, every finding is listed once, and the stopped store verifies. A store
/// whose older version kept the findings in that one index (`findings/index`) still lists them.
#[tokio::test]
async fn findings_cost_the_same_however_many_came_before() {
    let server = server().await;
    for n in 0..30 {
        let (status, answer) = stripe(&server, &format!("re_S{n:02}"), 1_000, &format!("order-S{n:02}")).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let listed = findings(&server).await;
    let expected: BTreeSet<_> =
        (0..30).map(|n| planted("silent", &format!("EX-stripe-re_S{n:02}"), 1_000, false)).collect();
    assert_eq!(listed, expected);
    let (_, summaries) = server.get("auditor", "/v1/findings").await;
    let data_dir = server.data_dir.clone();
    let _kept = server.stop().await;

    let store = open_store(&data_dir);
    assert_eq!(store.get("findings/index").unwrap(), None, "no one record of every finding is written");
    let page = store.get("findings/pages/0").unwrap().expect("the page listing them");
    assert!(page.len() < 30 * 24, "the page holds ids, not findings: {} bytes", page.len());
    // The same findings as an older version kept them: one index, no pages.
    let older = json!({
        "findings": summaries.as_array().unwrap().iter()
            .map(|summary| (format!("{}/000", summary["execution_id"].as_str().unwrap()), summary.clone()))
            .collect::<serde_json::Map<String, Value>>(),
        "applied": summaries.as_array().unwrap().iter()
            .map(|summary| (summary["execution_id"].as_str().unwrap().to_owned(), json!(1)))
            .collect::<serde_json::Map<String, Value>>(),
    });
    store.set("findings/index", &serde_json::to_vec(&older).unwrap()).unwrap();
    store.delete("findings/pages/0").unwrap();
    drop(store);
    let report = verify_stopped(&data_dir);
    assert!(report.ok, "{report:?}");

    let server = TestServer::start_in(&data_dir, &options()).await;
    assert_eq!(findings(&server).await, expected, "the older index's findings are listed");
    server.stop().await;
}
