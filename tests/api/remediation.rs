//! The remediation loop over real HTTP on a clock-controlled dataset: a code crossing its
//! trigger opens an item for its owner; the owner starts it and submits a fix with closure
//! evidence; an overdue item escalates to the owner team's manager; one window after the fix
//! the item is verified if the code's cases fell enough, and reopens otherwise.

use crate::job_ticks;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use levee::config::TeamConfig;
use levee_core::clock::ManualClock;
use levee_core::outbox::OutgoingEndpoint;
use levee_tests::{Options, StatusCode, TestServer, case, eventually};
use serde_json::{Value, json};

const CODE: &str = "SUBSCRIPTION_DOUBLE_BILLED";

/// A server on `clock` with the code, sending its signals to `outgoing_webhooks`.
async fn server(clock: &Arc<ManualClock>, outgoing_webhooks: Vec<OutgoingEndpoint>) -> TestServer {
    let teams = vec![TeamConfig { name: "finance-ops".into(), manager: "dana.director".into() }];
    let options = Options {
        clock: Some(clock.clone()),
        jobs_interval_ms: Some(20),
        teams,
        outgoing_webhooks,
        ..Options::default()
    };
    let server = TestServer::start_with(options).await;
    let code = json!({
        "code": CODE, "category": "billing", "description": "A subscription renewed twice in one period.",
        "owner": "finance-ops", "queue": "billing-approvals", "sla_minutes": 240,
        "playbook": "Find the renewal run that double-billed and fix its idempotency key.",
        "remediation": {"count": 3, "window_days": 7, "sla_hours": 48, "verify_drop_percent": 50},
    });
    server.put_code(code).await;
    server
}

async fn file_cases(server: &TestServer, count: usize, customer: &str) {
    for n in 0..count {
        server.submit(case("refund", 1_000, "USD", &format!("{customer}-{n}"), CODE)).await;
    }
}

/// The first remediation item that satisfies `done`, once there is one.
async fn item_when(server: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    eventually("a remediation item in the expected state", || async {
        let (_, items) = server.get("auditor", "/v1/remediation").await;
        items.as_array().and_then(|items| items.iter().find(|item| done(item)).cloned())
    })
    .await
}

fn start_of_day() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-02T09:00:00Z".parse::<DateTime<Utc>>().unwrap()))
}

#[tokio::test]
async fn a_code_over_its_trigger_is_fixed_escalated_when_late_and_verified_when_its_rate_falls() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = start_of_day();
    let server = server(&clock, vec![job_ticks::witness()]).await;
    file_cases(&server, 2, "early").await;
    job_ticks::after_a_full_tick(&server).await;
    assert_eq!(server.get("auditor", "/v1/remediation").await.1, json!([]), "two cases are under the trigger");
    file_cases(&server, 1, "third").await;
    let item = item_when(&server, |item| item["code"] == CODE).await;
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!((item["status"].as_str(), item["rag"].as_str()), (Some("open"), Some("red")));
    assert_eq!((item["owner"].as_str(), item["baseline"]["cases"].as_u64()), (Some("finance-ops"), Some(3)));
    let opened: DateTime<Utc> = item["opened_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(item["due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), opened + Duration::hours(48));

    let note = json!({"note": "looking at the renewal job"});
    let (status, _) = server.post("agent", &format!("/v1/remediation/{id}/start"), note.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the owner team works the item");
    let (status, started) = server.post("finance", &format!("/v1/remediation/{id}/start"), note).await;
    assert_eq!((status, started["rag"].as_str()), (StatusCode::OK, Some("amber")), "{started}");

    clock.advance(Duration::hours(49));
    let late = item_when(&server, |item| item["id"] == id.as_str() && !item["escalation"].is_null()).await;
    assert_eq!((late["escalation"]["to"].as_str(), late["rag"].as_str()), (Some("dana.director"), Some("red")));

    let (status, refused) =
        server.post("finance", &format!("/v1/remediation/{id}/fix"), json!({"link": " ", "note": "x"})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("link")));
    let fix =
        json!({"link": "https://wiki.example.com/sop/renewals-idempotency", "note": "renewal job keyed by period"});
    let (status, fixed) = server.post("finance", &format!("/v1/remediation/{id}/fix"), fix).await;
    assert_eq!((status, fixed["status"].as_str()), (StatusCode::OK, Some("fix_submitted")), "{fixed}");

    // One case in the week after the fix: at most half of the 3 is allowed, so it holds.
    clock.advance(Duration::days(1));
    file_cases(&server, 1, "after-fix").await;
    clock.advance(Duration::days(6));
    let verified = item_when(&server, |item| item["id"] == id.as_str() && item["status"] == "verified").await;
    assert_eq!(verified["rag"], "green");
    assert_eq!(
        (verified["verification"]["after_fix"]["cases"].as_u64(), verified["verification"]["allowed_cases"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, item) = server.get("auditor", &format!("/v1/remediation/{id}")).await;
    let events: Vec<&str> =
        item["history"].as_array().unwrap().iter().map(|step| step["status"].as_str().unwrap()).collect();
    assert_eq!(events, ["open", "in_progress", "fix_submitted", "verified"]);
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_fix_that_does_not_bring_the_rate_down_reopens() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = start_of_day();
    let server = server(&clock, vec![]).await;
    file_cases(&server, 3, "first").await;
    let item = item_when(&server, |item| item["code"] == CODE).await;
    let id = item["id"].as_str().unwrap().to_owned();
    let fix = json!({"link": "https://wiki.example.com/sop/renewals", "note": "retrained the team"});
    let (status, _) = server.post("admin", &format!("/v1/remediation/{id}/fix"), fix).await;
    assert_eq!(status, StatusCode::OK);

    clock.advance(Duration::days(1));
    file_cases(&server, 3, "still").await;
    clock.advance(Duration::days(6));
    let reopened = item_when(&server, |item| item["id"] == id.as_str() && item["reopened"] == 1).await;
    assert_eq!((reopened["status"].as_str(), reopened["rag"].as_str()), (Some("open"), Some("red")));
    assert_eq!(reopened["verification"]["verified"], false);
    let due: DateTime<Utc> = reopened["due_at"].as_str().unwrap().parse().unwrap();
    assert!(due > "2026-11-09T09:00:00Z".parse::<DateTime<Utc>>().unwrap(), "a new SLA from the reopening");
    let (_, items) = server.get("auditor", "/v1/remediation").await;
    assert_eq!(items.as_array().unwrap().len(), 1, "the reopened item is the code's one item, not a second");
    server.stop().await;
}

#[tokio::test]
async fn scorecards_colour_codes_and_teams_by_remediation_sla_and_evidence() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = start_of_day();
    let server = server(&clock, vec![]).await;
    let card = |cards: &Value, kind: &str, name: &str| {
        cards[kind].as_array().unwrap().iter().find(|card| card["name"] == name).cloned().unwrap()
    };
    let (_, cards) = server.get("auditor", "/v1/scorecards").await;
    assert_eq!(card(&cards, "codes", CODE)["rag"], "green", "no cases, no item: {cards}");

    // A large case rejected without its attachment: decided, but incomplete.
    let large = server.submit(case("refund", 300_000, "USD", "large", CODE)).await;
    let (status, _) = server
        .post(
            "finance",
            &format!("/v1/cases/{}/reject", large["case_id"].as_str().unwrap()),
            json!({"rationale": "no proof"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, cards) = server.get("auditor", "/v1/scorecards").await;
    let code = card(&cards, "codes", CODE);
    assert_eq!((code["decided"].as_u64(), code["complete"].as_u64()), (Some(1), Some(0)), "{code}");
    assert_eq!(code["rag"], "red");
    assert!(code["reasons"][0].as_str().unwrap().contains("0% of decided cases had all their evidence"), "{code}");

    // Two more cases cross the trigger: the item opens, and the owner team's card turns red too.
    file_cases(&server, 2, "more").await;
    item_when(&server, |item| item["code"] == CODE).await;
    let (_, cards) = server.get("auditor", "/v1/scorecards").await;
    let (code, team) = (card(&cards, "codes", CODE), card(&cards, "teams", "finance-ops"));
    assert_eq!((code["remediation"].as_str(), code["open_items"].as_array().unwrap().len()), (Some("red"), 1));
    assert_eq!((team["rag"].as_str(), team["remediation"].as_str()), (Some("red"), Some("red")), "{team}");
    assert_eq!(card(&cards, "teams", "logistics")["rag"], "green");
    server.stop().await;
}
