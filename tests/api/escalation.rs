//! SLA escalation over real HTTP, on a manual clock: the background job moves a case still
//! waiting past its SLA one approver level up (never approving it), records it in the ledger,
//! and the new level's queue and approvers take it over, the case keeping every requirement it
//! had (its approval group and N, its evidence).

use crate::job_ticks;

use std::sync::Arc;

use chrono::Utc;
use levee::config::TokenConfig;
use levee_core::clock::ManualClock;
use levee_core::identity::{ApprovalGroup, ApproverLevel, Role};
use levee_tests::{Options, StatusCode, TestServer, case, eventually, refund};
use serde_json::{Value, json};

async fn case_of(server: &TestServer, case_id: &str) -> Value {
    server.get("auditor", &format!("/v1/cases/{case_id}")).await.1
}

/// The case once the background job has escalated it `times`.
async fn escalated(server: &TestServer, case_id: &str, times: usize) -> Value {
    eventually(&format!("case {case_id} escalated {times} time(s)"), || async {
        let case = case_of(server, case_id).await;
        (case["case"]["escalations"].as_array().map_or(0, Vec::len) >= times).then_some(case)
    })
    .await
}

#[tokio::test]
async fn a_case_past_its_sla_escalates_one_level_and_is_never_approved_by_the_clock() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = Options {
        clock: Some(clock.clone()),
        jobs_interval_ms: Some(20),
        outgoing_webhooks: vec![job_ticks::witness()],
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let answer = server.submit(refund(40_000, "slow")).await;
    let case_id = answer["case_id"].as_str().unwrap().to_owned();
    assert_eq!(answer["decision"]["level"], "lead", "{answer}");
    let due: chrono::DateTime<Utc> = answer["decision"]["sla_due_at"].as_str().unwrap().parse().unwrap();

    // At the due time itself the case is not late yet: a whole run of the jobs at that time
    // leaves it where it was.
    clock.advance(due - clock_now(&clock));
    job_ticks::after_a_full_tick(&server).await;
    let case = case_of(&server, &case_id).await;
    assert_eq!(case["decision"]["level"], "lead", "not escalated at the boundary: {case}");
    assert_eq!(case["case"]["escalations"], json!([]), "not escalated at the boundary: {case}");

    clock.advance(chrono::Duration::seconds(1));
    let case = escalated(&server, &case_id, 1).await;
    assert_eq!(case["status"], "pending_approval", "the clock never approves");
    assert_eq!(case["decision"]["level"], "manager");
    let escalation = &case["case"]["escalations"][0];
    assert_eq!((escalation["from"].as_str(), escalation["to"].as_str()), (Some("lead"), Some("manager")));
    let last = case["ledger"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["event"].as_str(), last["actor"].as_str()), (Some("case.escalated"), Some("levee")));

    // The lead's queue no longer holds it; the lead cannot approve it, the manager can.
    let (_, queue) = server.get("lead", "/v1/queue").await;
    assert!(!queue.as_array().unwrap().iter().any(|item| item["case_id"] == case_id.as_str()), "{queue}");
    let approve = json!({"rationale": "checked the carrier's tracking"});
    let (status, refused) = server.post("lead", &format!("/v1/cases/{case_id}/approve"), approve.clone()).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("approver_level")));
    let (status, approved) = server.post("manager", &format!("/v1/cases/{case_id}/approve"), approve).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<Utc> {
    use levee_core::clock::Clock;
    clock.now()
}

/// Escalation only adds: a case that waits for two of a three-member committee keeps needing
/// two of its members after its SLA runs out and it moves up to the directors, and keeps
/// needing the evidence it needed. A director outside the committee is refused, one member
/// alone does not approve it, and every member's approval waits for the evidence.
#[tokio::test]
async fn escalation_keeps_the_approval_group_and_the_evidence_a_case_needed() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let outsider = TokenConfig {
        token: "lv_test_outsider_director_0001".into(),
        actor: "otto.outsider".into(),
        roles: vec![Role::Approver],
        team: "finance-ops".into(),
        level: Some(ApproverLevel::Director),
        limits: [("USD".to_owned(), 10_000_000)].into_iter().collect(),
    };
    let committee = ApprovalGroup {
        name: "finance-committee".into(),
        level: ApproverLevel::Finance,
        members: vec!["frankie.finance".into(), "dana.director".into(), "drew.director".into()],
        approvals: 2,
    };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = Options {
        clock: Some(clock.clone()),
        jobs_interval_ms: Some(20),
        outgoing_webhooks: vec![job_ticks::witness()],
        extra_tokens: vec![outsider],
        approval_groups: vec![committee],
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let answer = server.submit(case("refund", 600_000, "USD", "slow-committee", "LATE_DELIVERY")).await;
    let case_id = answer["case_id"].as_str().unwrap().to_owned();
    let needs = (answer["decision"]["level"].as_str(), answer["decision"]["approvals_needed"].as_u64());
    assert_eq!(needs, (Some("finance"), Some(2)), "{answer}");
    let due: chrono::DateTime<Utc> = answer["decision"]["sla_due_at"].as_str().unwrap().parse().unwrap();

    clock.advance(due - clock_now(&clock) + chrono::Duration::seconds(1));
    let case = escalated(&server, &case_id, 1).await;
    let needs = (case["decision"]["level"].as_str(), case["decision"]["approvals_needed"].as_u64());
    assert_eq!(needs, (Some("director"), Some(2)), "the committee's two still needed: {case}");

    let approve = |who: &'static str| {
        let server = &server;
        let path = format!("/v1/cases/{case_id}/approve");
        async move { server.post(who, &path, json!({"rationale": "checked the order and the carrier"})).await }
    };
    let (status, refused) = approve("otto.outsider").await;
    let refusal = (status, refused["error"]["code"].as_str());
    assert_eq!(refusal, (StatusCode::UNPROCESSABLE_ENTITY, Some("approval_group")), "{refused}");
    let (status, refused) = approve("director").await;
    let refusal = (status, refused["error"]["code"].as_str());
    assert_eq!(refusal, (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_required")), "{refused}");

    let evidence = json!({"kind": "attachment", "reference": "doc://carrier-report", "sha256": "ab".repeat(32)});
    let (status, _) = server.post("agent", &format!("/v1/cases/{case_id}/evidence"), evidence).await;
    assert_eq!(status, StatusCode::OK);
    let (status, first) = approve("director").await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::OK, Some("pending_approval")), "{first}");
    let (status, approved) = approve("director2").await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
