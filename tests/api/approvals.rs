//! The floor the host enforces on approvals, whatever a plugin said.

use levee_core::identity::{ApproverLevel, Role};
use levee_tests::{Options, StatusCode, TestServer, evidence, refund};
use serde_json::json;

fn approve_body() -> serde_json::Value {
    json!({"rationale": "checked the order history and the carrier's report"})
}

async fn approve(server: &TestServer, who: &str, case_id: &str) -> (StatusCode, serde_json::Value) {
    server.post(who, &format!("/v1/cases/{case_id}/approve"), approve_body()).await
}

fn case_id(answer: &serde_json::Value) -> String {
    answer["case_id"].as_str().expect("case_id").to_owned()
}

/// A $400 refund waits for a lead, who approves it; the approval records their authority.
#[tokio::test]
async fn lead_approves_a_lead_band_refund_recording_authority() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit(refund(40_000, "c1")).await);
    let (status, answer) = approve(&server, "lead", &id).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "approved");
    let approval = &answer["case"]["approvals"][0];
    assert_eq!(approval["approver"], "lee.lead");
    assert_eq!(approval["authority"]["level"], "lead");
    assert_eq!(approval["authority"]["limit_minor_units"], 100_000);
    assert_eq!(approval["authority"]["source"], "demo:lead");
    server.stop().await;
}

/// Nobody approves their own request.
#[tokio::test]
async fn refuses_self_approval() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit_as("manager", refund(40_000, "self")).await);
    let (status, answer) = approve(&server, "manager", &id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["code"], "separation_of_duties");
    server.stop().await;
}

/// An approver whose level is below the case's, or whose limit does not cover the amount, is refused.
#[tokio::test]
async fn refuses_approval_above_the_approvers_authority() {
    let junior = levee::config::TokenConfig {
        token: "junior-lead-token".into(),
        actor: "junior.lead".into(),
        roles: vec![Role::Approver],
        team: "support-emea".into(),
        level: Some(ApproverLevel::Lead),
        limits: [("USD".to_owned(), 20_000)].into_iter().collect(),
    };
    let server = TestServer::start_with(Options { extra_tokens: vec![junior], ..Options::default() }).await;
    let lead_case = case_id(&server.submit(refund(40_000, "limit")).await);
    let (status, answer) = approve(&server, "junior.lead", &lead_case).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("authority_limit")));

    let manager_case = case_id(&server.submit(refund(200_000, "level")).await);
    let (status, answer) = approve(&server, "lead", &manager_case).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("approver_level")));
    assert_eq!(server.get("auditor", &format!("/v1/cases/{manager_case}")).await.1["status"], "pending_approval");
    server.stop().await;
}

/// The final approval waits for the evidence the decision requires; once attached, it goes through.
#[tokio::test]
async fn refuses_approval_before_required_evidence() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit(refund(300_000, "evidence")).await);
    let (status, answer) = approve(&server, "finance", &id).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_required"))
    );
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("attachment"));

    let (status, attached) = server.post("agent", &format!("/v1/cases/{id}/evidence"), evidence("attachment")).await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    assert_eq!(attached["decision"]["missing_evidence"], json!([]));
    let (status, answer) = approve(&server, "finance", &id).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("approved")), "{answer}");
    server.stop().await;
}

/// Every approval counts toward the level that requires the evidence, so each waits for it: the
/// first of two director approvals is refused until the required attachment exists, and nothing
/// is written by the refusal.
#[tokio::test]
async fn the_first_of_two_approvals_also_waits_for_the_required_evidence() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit(refund(4_000_000, "dual-without-evidence")).await);
    let entries = server.ledger_len().await;
    let (status, first) = approve(&server, "director", &id).await;
    assert_eq!(
        (status, first["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_required")),
        "{first}"
    );
    assert_eq!(server.ledger_len().await, entries, "a refused approval writes nothing");
    let (status, _) = server.post("agent", &format!("/v1/cases/{id}/evidence"), evidence("attachment")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, first) = approve(&server, "director", &id).await;
    assert_eq!((status, first["decision"]["approvals_received"].as_u64()), (StatusCode::OK, Some(1)), "{first}");
    server.stop().await;
}

/// A $40,000 refund needs two distinct directors: the same one twice is refused, a second one approves.
#[tokio::test]
async fn dual_approval_needs_two_distinct_people() {
    let server = TestServer::start().await;
    let mut body = refund(4_000_000, "dual");
    body["evidence"] = json!([evidence("attachment")]);
    let id = case_id(&server.submit(body).await);
    let (status, first) = approve(&server, "director", &id).await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::OK, Some("pending_approval")), "{first}");
    assert_eq!(first["decision"]["approvals_received"], 1);
    let (status, again) = approve(&server, "director", &id).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("distinct_approvers"))
    );
    let (status, second) = approve(&server, "director2", &id).await;
    assert_eq!((status, second["status"].as_str()), (StatusCode::OK, Some("approved")), "{second}");
    let events: Vec<String> = server.get("auditor", &format!("/v1/cases/{id}")).await.1["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(events, ["case.submitted", "case.approval_recorded", "case.approved"]);
    server.stop().await;
}

/// What a refused request must leave as it was: the case (its version, status, approver level
/// and approvals, as the auditor reads it) and the length of the ledger.
async fn untouched(server: &TestServer, case_id: &str) -> (serde_json::Value, u64) {
    let (status, view) = server.get("auditor", &format!("/v1/cases/{case_id}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let case = json!({
        "version": view["case"]["version"], "status": view["status"], "level": view["decision"]["level"],
        "approvals": view["case"]["approvals"],
    });
    assert!(case["version"].is_u64() && case["approvals"].is_array(), "the case as the auditor reads it: {view}");
    (case, server.ledger_len().await)
}

/// Sends `request`, which must be refused with `refusal`, and checks that it changed nothing.
async fn refused(
    server: &TestServer,
    case_id: &str,
    what: &str,
    refusal: StatusCode,
    request: impl Future<Output = (StatusCode, serde_json::Value)>,
) {
    let before = untouched(server, case_id).await;
    let (status, answer) = request.await;
    assert_eq!(status, refusal, "{what}: {answer}");
    assert_eq!(untouched(server, case_id).await, before, "{what} was refused, so it changed nothing");
}

/// Roles gate every action: no token is 401, the wrong role is 403, and a refused request
/// changes nothing: the case and the ledger are as they were before it.
#[tokio::test]
async fn roles_gate_actions() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit(refund(40_000, "roles")).await);
    assert_eq!(untouched(&server, &id).await.0["status"], "pending_approval");
    let (unauthenticated, forbidden) = (StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN);
    refused(&server, &id, "no token: GET /v1/queue", unauthenticated, server.get_anonymous("/v1/queue")).await;
    refused(&server, &id, "agent: approve", forbidden, approve(&server, "agent", &id)).await;
    let submission = server.post("auditor", "/v1/cases", refund(100, "x"));
    refused(&server, &id, "auditor: POST /v1/cases", forbidden, submission).await;
    refused(&server, &id, "agent: GET /v1/audit/verify", forbidden, server.get("agent", "/v1/audit/verify")).await;
    refused(&server, &id, "agent: GET /v1/queue", forbidden, server.get("agent", "/v1/queue")).await;
    server.stop().await;
}

/// The queue shows pending cases at or below the approver's level, saying who can act.
#[tokio::test]
async fn queue_lists_pending_cases_for_the_approvers_level() {
    let server = TestServer::start().await;
    let lead_case = case_id(&server.submit(refund(40_000, "q1")).await);
    server.submit(refund(200_000, "q2")).await;
    let (_, lead_queue) = server.get("lead", "/v1/queue").await;
    let ids: Vec<&str> = lead_queue.as_array().unwrap().iter().filter_map(|item| item["case_id"].as_str()).collect();
    assert_eq!(ids, [lead_case.as_str()]);
    assert_eq!(lead_queue[0]["can_approve"], true);
    let (_, manager_queue) = server.get("manager", "/v1/queue").await;
    assert_eq!(manager_queue.as_array().unwrap().len(), 2);

    approve(&server, "lead", &lead_case).await;
    let (_, lead_queue) = server.get("lead", "/v1/queue").await;
    assert_eq!(lead_queue, json!([]));
    server.stop().await;
}

/// Rejection and cancellation close a case with the rationale and who did it.
#[tokio::test]
async fn reject_and_cancel_close_cases() {
    let server = TestServer::start().await;
    let rejected = case_id(&server.submit(refund(40_000, "r1")).await);
    let (status, answer) =
        server.post("lead", &format!("/v1/cases/{rejected}/reject"), json!({"rationale": "outside the policy"})).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("rejected")), "{answer}");
    assert_eq!(answer["case"]["closure"]["by"], "lee.lead");

    let cancelled = case_id(&server.submit(refund(40_000, "r2")).await);
    let body = json!({"rationale": "customer withdrew the request"});
    assert_eq!(
        server.post("lead", &format!("/v1/cases/{cancelled}/cancel"), body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, answer) = server.post("agent", &format!("/v1/cases/{cancelled}/cancel"), body).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{answer}");
    assert_eq!(approve(&server, "lead", &cancelled).await.0, StatusCode::CONFLICT);
    server.stop().await;
}
