//! Managing the taxonomy over real HTTP: codes are added, deprecated and merged as versioned
//! ledger entries; new cases follow at once (routing included); cases filed earlier stay
//! readable against the version they were coded under.

use levee_tests::{Options, StatusCode, TestServer, case, refund};
use serde_json::{Value, json};

fn new_code() -> Value {
    json!({
        "code": "SUBSCRIPTION_DOUBLE_BILLED",
        "category": "billing",
        "description": "A subscription renewed twice in one period.",
        "owner": "subscriptions",
        "queue": "subscriptions-approvals",
        "sla_minutes": 90,
        "playbook": "Find the renewal job run that double-billed; fix its idempotency; link the change.",
        "remediation": {"count": 5, "window_days": 7, "sla_hours": 72, "verify_drop_percent": 50},
    })
}

#[tokio::test]
async fn an_added_code_takes_cases_and_routes_them_at_once() {
    let server = TestServer::start().await;
    let before = server.submit(refund(4_000, "before")).await;
    let (status, view) = server.change_code(json!({"code": new_code(), "rationale": "new product line"})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["revision"], 1);
    let version = view["taxonomy"]["version"].as_str().unwrap().to_owned();
    assert!(version.ends_with(".r1"), "{version}");

    let answer = server.submit(case("refund", 4_000, "USD", "sub-1", "SUBSCRIPTION_DOUBLE_BILLED")).await;
    assert_eq!(answer["case"]["taxonomy_version"], version.as_str());
    assert_eq!(answer["decision"]["queue"], "subscriptions-approvals", "routing follows the taxonomy: {answer}");

    let old_version = before["case"]["taxonomy_version"].as_str().unwrap();
    let (status, old) = server.get("agent", &format!("/v1/taxonomy/versions/{old_version}")).await;
    assert_eq!(status, StatusCode::OK, "{old}");
    let old_codes: Vec<&str> = old["codes"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert!(!old_codes.contains(&"SUBSCRIPTION_DOUBLE_BILLED"), "the old version is as it was");
    let (_, current) = server.get("agent", &format!("/v1/taxonomy/versions/{version}")).await;
    assert_eq!(current["version"], version.as_str());

    let (_, revisions) = server.get("auditor", "/v1/taxonomy/revisions").await;
    assert_eq!(revisions[0]["change"], "added SUBSCRIPTION_DOUBLE_BILLED");
    // A new code routes cases: one admin proposed it, a second approved it.
    assert_eq!((revisions[0]["by"].as_str(), revisions[0]["proposal"].as_u64()), (Some("alex.admin"), Some(1)));
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn deprecated_and_merged_codes_refuse_new_cases_and_keep_old_ones() {
    let server = TestServer::start().await;
    let filed = server.submit(refund(4_000, "early")).await;
    let case_id = filed["case_id"].as_str().unwrap();

    let (status, view) = server
        .post("admin", "/v1/taxonomy/codes/LATE_DELIVERY/deprecate", json!({"rationale": "split by carrier"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (status, refused) = server.post("agent", "/v1/cases", refund(4_000, "late")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "exception_code");
    assert!(refused["error"]["message"].as_str().unwrap().contains("deprecated"), "{refused}");
    let valid = refused["error"]["valid_values"].as_array().unwrap();
    assert!(!valid.contains(&json!("LATE_DELIVERY")) && valid.contains(&json!("DAMAGED_IN_TRANSIT")));

    let (status, _) = server
        .post("admin", "/v1/taxonomy/codes/BILLING_ERROR/merge", json!({"into": "PRICING_ERROR", "rationale": "same"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = server.post("agent", "/v1/cases", case("refund", 4_000, "USD", "b", "BILLING_ERROR")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused["error"]["message"].as_str().unwrap().contains("use PRICING_ERROR"), "{refused}");

    let (status, old) = server.get("auditor", &format!("/v1/cases/{case_id}")).await;
    assert_eq!(status, StatusCode::OK, "the case filed under the deprecated code stays readable");
    assert_eq!(old["case"]["exception_code"], "LATE_DELIVERY");
    let (_, taxonomy) = server.get("agent", "/v1/taxonomy").await;
    let late = taxonomy["taxonomy"]["codes"].as_array().unwrap().iter().find(|c| c["code"] == "LATE_DELIVERY").cloned();
    assert_eq!(late.unwrap()["lifecycle"]["state"], "deprecated");

    // Given again, the code is reinstated.
    let mut reinstated = new_code();
    reinstated["code"] = json!("LATE_DELIVERY");
    let (status, _) = server.change_code(json!({"code": reinstated, "rationale": "back"})).await;
    assert_eq!(status, StatusCode::OK);
    server.submit(refund(4_000, "late-again")).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_taxonomy_changes_are_refused_and_write_nothing() {
    let server = TestServer::start().await;
    let (status, _) = server.post("agent", "/v1/taxonomy/codes", json!({"code": new_code(), "rationale": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut no_owner = new_code();
    no_owner["owner"] = json!(" ");
    let (status, refused) =
        server.post("admin", "/v1/taxonomy/codes", json!({"code": no_owner, "rationale": "x"})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code.owner")));
    let mut bad_trigger = new_code();
    bad_trigger["remediation"] = json!({"window_days": 7, "sla_hours": 72, "verify_drop_percent": 50});
    let (_, refused) = server.post("admin", "/v1/taxonomy/codes", json!({"code": bad_trigger, "rationale": "x"})).await;
    assert_eq!(refused["error"]["field"], "code.remediation.count");
    let (status, refused) =
        server.post("admin", "/v1/taxonomy/codes/NOPE/merge", json!({"into": "PRICING_ERROR", "rationale": "x"})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code")));
    let (status, _) = server
        .post("admin", "/v1/taxonomy/codes/PRICING_ERROR/merge", json!({"into": "PRICING_ERROR", "rationale": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.get("agent", "/v1/taxonomy/versions/no-such-version").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(server.ledger_len().await, 0, "refused changes write nothing");
    server.stop().await;
}

#[tokio::test]
async fn the_taxonomy_survives_a_restart() {
    let server = TestServer::start().await;
    assert_eq!(server.change_code(json!({"code": new_code(), "rationale": "new"})).await.0, StatusCode::OK);
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;
    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let answer = server.submit(case("refund", 4_000, "USD", "sub-2", "SUBSCRIPTION_DOUBLE_BILLED")).await;
    assert_eq!(answer["decision"]["queue"], "subscriptions-approvals", "{answer}");
    server.stop().await;
    drop(temp);
}
