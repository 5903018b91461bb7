//! Bad input gets a clear 4xx that names what is wrong, and writes nothing.

use levee_tests::{Options, StatusCode, TestServer, backend, refund};
use serde_json::{Value, json};

async fn refused(server: &TestServer, body: Value) -> (StatusCode, Value) {
    server.post("agent", "/v1/cases", body).await
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).expect("field exists") = value;
    body
}

/// Each invalid submission is refused naming its field, and the ledger stays empty.
#[tokio::test]
async fn invalid_submissions_name_the_field_and_write_nothing() {
    let server = TestServer::start().await;
    let valid = refund(4_000, "v");
    let cases = [
        (with(valid.clone(), "/amount/minor_units", json!(-400)), "amount.minor_units"),
        (with(valid.clone(), "/amount/minor_units", json!(0)), "amount.minor_units"),
        (with(valid.clone(), "/amount/minor_units", json!(12.5)), "amount.minor_units"),
        (with(valid.clone(), "/amount/minor_units", json!(9_007_199_254_740_992_i64)), "amount.minor_units"),
        (with(valid.clone(), "/amount/currency", json!("XYZ")), "amount.currency"),
        (with(valid.clone(), "/amount/currency", json!("usd")), "amount.currency"),
        (with(valid.clone(), "/kind", json!("gift")), "kind"),
        (with(valid.clone(), "/customer_ref", json!("  ")), "customer_ref"),
        (with(valid.clone(), "/exception_code", json!("customer was upset")), "exception_code"),
    ];
    for (body, field) in cases {
        let (status, answer) = refused(&server, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("exception_code");
    assert_eq!(refused(&server, missing).await.1["error"]["field"], "exception_code");
    let mut unknown = valid.clone();
    unknown["amount_cents"] = json!(5);
    assert_eq!(refused(&server, unknown).await.1["error"]["field"], "amount_cents");
    let overflow = br#"{"kind":"refund","amount":{"minor_units":99999999999999999999999,"currency":"USD"},"customer_ref":"v","exception_code":"LATE_DELIVERY"}"#;
    let (status, answer) = server.post_raw("agent", "/v1/cases", "application/json", overflow.to_vec()).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("amount.minor_units"))
    );
    assert_eq!(server.ledger_len().await, 0);
    server.stop().await;
}

/// A free-text code is refused with the list of valid codes.
#[tokio::test]
async fn free_text_code_is_refused_with_the_valid_codes() {
    let server = TestServer::start().await;
    let (status, answer) = refused(&server, with(refund(4_000, "v"), "/exception_code", json!("late"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let valid = answer["error"]["valid_values"].as_array().expect("valid codes listed");
    assert!(valid.len() >= 10 && valid.contains(&json!("LATE_DELIVERY")), "{answer}");
    server.stop().await;
}

/// Broken JSON is 400, the wrong media type 415, an oversized body 413; none writes anything.
#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused() {
    // On Spin the body limit is levee's default, not a setting.
    let limit = if backend().is_spin() { levee_core::api::DEFAULT_BODY_BYTES } else { 4096 };
    let body_bytes = (!backend().is_spin()).then_some(limit);
    let server = TestServer::start_with(Options { body_bytes, ..Options::default() }).await;
    let (status, answer) =
        server.post_raw("agent", "/v1/cases", "application/json", b"{\"kind\": \"refund\",".to_vec()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let (status, _) = server.post_raw("agent", "/v1/cases", "text/plain", b"refund 40 USD".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut huge = refund(4_000, "v");
    huge["rationale"] = json!("x".repeat(2 * limit));
    let (status, answer) = server.post("agent", "/v1/cases", huge).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    assert_eq!(server.ledger_len().await, 0);
    server.stop().await;
}

/// Refused actions on a case write nothing to it or the ledger.
#[tokio::test]
async fn refused_actions_write_nothing() {
    let server = TestServer::start().await;
    let answer = server.submit(refund(40_000, "nothing")).await;
    let id = answer["case_id"].as_str().unwrap();
    let before = server.ledger_len().await;
    let attempts = [
        ("agent", "approve", json!({"rationale": "mine"})),
        ("lead", "approve", json!({"rationale": ""})),
        ("lead", "approve", json!({"rationale": 5})),
        ("lead", "evidence", json!({"kind": "attachment", "reference": "x", "sha256": "not-a-digest"})),
        ("lead", "reject", json!({})),
    ];
    for (who, action, body) in attempts {
        let (status, answer) = server.post(who, &format!("/v1/cases/{id}/{action}"), body).await;
        assert!(status.is_client_error(), "{who} {action}: {status} {answer}");
    }
    assert_eq!(server.get("lead", "/v1/cases/LV-999999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.ledger_len().await, before);
    assert_eq!(server.get("auditor", &format!("/v1/cases/{id}")).await.1["version"], 1);
    server.stop().await;
}

/// The OpenAPI 3.1 document is served and describes the case endpoints.
#[tokio::test]
async fn openapi_document_is_served() {
    let server = TestServer::start().await;
    let (status, document) = server.get_anonymous("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap_or_default().starts_with("3.1"), "{}", document["openapi"]);
    for path in ["/v1/cases", "/v1/cases/{id}/approve", "/v1/queue", "/v1/audit/verify"] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    assert!(document["components"]["schemas"]["SubmitRequest"].is_object());
    server.stop().await;
}
