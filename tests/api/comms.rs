//! Customer-impact communications over real HTTP: a case whose decision requires customer comms
//! cannot be approved until a message is drafted, reviewed and approved by a second person with
//! the comms-reviewer role, and linked as evidence by its content hash; the reviewed text stays
//! readable for audit.

use levee::config::TokenConfig;
use levee_core::identity::Role;
use levee_tests::{Options, StatusCode, TestServer, case, evidence};
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_credit_waits_for_a_reviewed_customer_message() {
    let both = TokenConfig {
        token: "lv_test_admin_and_reviewer_01".into(),
        actor: "rae.admin".into(),
        roles: vec![Role::Admin, Role::CommsReviewer],
        team: "platform".into(),
        level: None,
        limits: Default::default(),
    };
    let server = TestServer::start_with(Options { extra_tokens: vec![both], ..Options::default() }).await;
    let answer = server.submit(case("credit", 40_000, "USD", "outage-1", "SERVICE_OUTAGE")).await;
    let case_id = answer["case_id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/v1/cases/{case_id}{tail}");
    assert_eq!(answer["decision"]["missing_evidence"], json!(["customer_comms"]));

    let approve = json!({"rationale": "outage confirmed by SRE"});
    let (_, refused) = server.post("lead", &path("/approve"), approve.clone()).await;
    assert_eq!(refused["error"]["code"], "evidence_required", "{refused}");
    let (status, refused) = server.post("agent", &path("/evidence"), evidence("customer_comms")).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence.kind")));

    // Drafted from the template, sent back, redrafted by hand.
    let (status, drafted) = server.post("agent", &path("/comms"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{drafted}");
    let text = drafted["case"]["comms"]["text"].as_str().unwrap();
    assert!(text.contains(&case_id) && text.contains("400.00 USD"), "{text}");
    let (status, _) =
        server.post("comms", &path("/comms/review"), json!({"draft": 1, "approve": false, "note": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "sending back needs a note");
    let (status, _) = server
        .post("comms", &path("/comms/review"), json!({"draft": 1, "approve": false, "note": "name the outage"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let message = "We are sorry about the outage on 2 November. We have credited 400.00 USD to your account.";
    let (_, redrafted) = server.post("rae.admin", &path("/comms"), json!({"text": message})).await;
    assert_eq!(redrafted["case"]["comms"]["draft"], 2);

    // The drafter cannot review their own draft; a second person can.
    let (status, _) =
        server.post("comms", &path("/comms/review"), json!({"draft": 1, "approve": true, "note": ""})).await;
    assert_eq!(status, StatusCode::CONFLICT, "draft 1 was replaced: a review names the draft it read");
    let (_, refused) =
        server.post("rae.admin", &path("/comms/review"), json!({"draft": 2, "approve": true, "note": ""})).await;
    assert_eq!(refused["error"]["code"], "comms_self_review", "{refused}");
    let (status, _) =
        server.post("agent", &path("/comms/review"), json!({"draft": 2, "approve": true, "note": ""})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only comms reviewers review");
    let (status, reviewed) =
        server.post("comms", &path("/comms/review"), json!({"draft": 2, "approve": true, "note": "ok"})).await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    let digest = hex::encode(Sha256::digest(message.as_bytes()));
    let linked = reviewed["case"]["evidence"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((linked["kind"].as_str(), linked["sha256"].as_str()), (Some("customer_comms"), Some(digest.as_str())));

    let (status, approved) = server.post("lead", &path("/approve"), approve).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");

    let (_, audit) = server.get("auditor", &path("/comms")).await;
    assert_eq!(audit["current"]["text"], message);
    assert_eq!(audit["current"]["review"]["by"], "casey.comms");
    let history = audit["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "two drafts, two reviews: {audit}");
    assert_eq!(history[1]["review"]["note"], "name the outage");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
