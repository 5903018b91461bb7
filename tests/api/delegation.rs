//! Delegation and N-of-M approval over real HTTP. A delegate approves on the delegator's
//! behalf only inside the dated window, with exactly the delegator's authority, never on their
//! own request; the approval records the delegation. An approval group's level needs N
//! approvals from distinct members.

use std::sync::Arc;

use chrono::{Duration, Utc};
use levee::config::TokenConfig;
use levee_core::clock::{Clock, ManualClock};
use levee_core::identity::{ApprovalGroup, ApproverLevel, Role};
use levee_tests::{Options, StatusCode, TestServer, case, refund};
use serde_json::{Value, json};

async fn approve(server: &TestServer, who: &str, case_id: &str, on_behalf_of: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"rationale": "reviewed the order history"});
    if let Some(delegator) = on_behalf_of {
        body["on_behalf_of"] = json!(delegator);
    }
    server.post(who, &format!("/v1/cases/{case_id}/approve"), body).await
}

fn id(answer: &Value) -> String {
    answer["case_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_delegate_acts_only_in_the_window_with_no_more_than_the_delegators_authority() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let server = TestServer::start_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let start = clock.now() + Duration::hours(1);
    let window = json!({"delegate": "lee.lead", "starts_at": start, "ends_at": start + Duration::hours(8),
                        "reason": "annual leave"});
    let (status, delegation) = server.post("manager", "/v1/delegations", window.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{delegation}");
    assert_eq!(delegation["id"], "DG-1");

    let manager_case = id(&server.submit(refund(100_000, "needs-manager")).await);
    let (status, refused) = approve(&server, "lead", &manager_case, Some("morgan.manager")).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("on_behalf_of")));
    // An unknown case is 404 whoever the approval would be on behalf of.
    for delegator in ["morgan.manager", "nobody.known"] {
        let (status, answer) = approve(&server, "lead", "LV-999999", Some(delegator)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "on behalf of {delegator}: {answer}");
    }

    clock.advance(Duration::hours(1));
    let (_, queue) = server.get("lead", "/v1/queue").await;
    let listed = queue.as_array().unwrap().iter().find(|entry| entry["case_id"] == manager_case.as_str()).cloned();
    let listed = listed.unwrap_or_else(|| panic!("the delegate's queue lists the manager's case: {queue}"));
    assert_eq!(
        (listed["on_behalf_of"].as_str(), listed["can_approve"].as_bool()),
        (Some("morgan.manager"), Some(true))
    );
    let (status, approved) = approve(&server, "lead", &manager_case, Some("morgan.manager")).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    let approval = &approved["case"]["approvals"][0];
    assert_eq!(
        (approval["approver"].as_str(), approval["on_behalf_of"].as_str()),
        (Some("lee.lead"), Some("morgan.manager"))
    );
    assert_eq!(approval["delegation"]["id"], "DG-1");
    assert_eq!(approval["authority"]["level"], "manager");
    assert!(approval["authority"]["source"].as_str().unwrap().starts_with("delegation DG-1 from morgan.manager"));

    // Never more than the delegator: a finance-level case is out of reach.
    let finance_case = id(&server.submit(refund(600_000, "needs-finance")).await);
    let (_, refused) = approve(&server, "lead", &finance_case, Some("morgan.manager")).await;
    assert_eq!(refused["error"]["code"], "approver_level", "{refused}");
    // Never on their own request.
    let own = id(&server.submit_as("lead", refund(100_000, "lead-asks")).await);
    let (_, refused) = approve(&server, "lead", &own, Some("morgan.manager")).await;
    assert_eq!(refused["error"]["code"], "separation_of_duties", "{refused}");

    // The window ends on time.
    clock.advance(Duration::hours(8));
    let later = id(&server.submit(refund(100_000, "after-leave")).await);
    let (status, _) = approve(&server, "lead", &later, Some("morgan.manager")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the window has ended");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn delegations_are_checked_listed_and_revocable() {
    let server = TestServer::start().await;
    let now = Utc::now();
    let grant = |delegate: &str, hours: i64| json!({"delegate": delegate, "starts_at": now, "ends_at": now + Duration::hours(hours), "reason": "leave"});
    let (status, refused) = server.post("manager", "/v1/delegations", grant("avery.agent", 4)).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("delegate")));
    let (_, refused) = server.post("manager", "/v1/delegations", grant("lee.lead", 24 * 91)).await;
    assert_eq!(refused["error"]["field"], "ends_at");
    let (status, _) = server.post("agent", "/v1/delegations", grant("lee.lead", 4)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(server.ledger_len().await, 0, "refused delegations write nothing");

    let (_, delegation) = server.post("manager", "/v1/delegations", grant("lee.lead", 4)).await;
    let (_, mine) = server.get("lead", "/v1/delegations").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (status, _) = server.post("director", "/v1/delegations/DG-1/revoke", json!({"reason": "not mine"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the delegator or an admin revokes");
    let (status, revoked) =
        server.post("manager", "/v1/delegations/DG-1/revoke", json!({"reason": "back early"})).await;
    assert_eq!((status, revoked["revoked"]["by"].as_str()), (StatusCode::OK, Some("morgan.manager")), "{delegation}");
    let pending = id(&server.submit(refund(100_000, "after-revoke")).await);
    let (status, _) = approve(&server, "lead", &pending, Some("morgan.manager")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}

#[tokio::test]
async fn an_approval_group_needs_n_distinct_members() {
    let outsider = TokenConfig {
        token: "lv_test_outsider_finance_0001".into(),
        actor: "olive.outsider".into(),
        roles: vec![Role::Approver],
        team: "finance-ops".into(),
        level: Some(ApproverLevel::Finance),
        limits: [("USD".to_owned(), 2_500_000)].into_iter().collect(),
    };
    let group = ApprovalGroup {
        name: "finance-committee".into(),
        level: ApproverLevel::Finance,
        members: vec!["frankie.finance".into(), "dana.director".into(), "drew.director".into()],
        approvals: 2,
    };
    let options = Options { extra_tokens: vec![outsider], approval_groups: vec![group], ..Options::default() };
    let server = TestServer::start_with(options).await;
    let answer = server.submit(case("refund", 600_000, "USD", "big", "LATE_DELIVERY")).await;
    let case_id = id(&answer);
    assert_eq!(
        (answer["decision"]["level"].as_str(), answer["decision"]["approvals_needed"].as_u64()),
        (Some("finance"), Some(2))
    );
    server
        .post(
            "agent",
            &format!("/v1/cases/{case_id}/evidence"),
            json!({"kind": "attachment", "reference": "doc://a", "sha256": "ab".repeat(32)}),
        )
        .await;

    let (_, refused) = approve(&server, "olive.outsider", &case_id, None).await;
    assert_eq!(refused["error"]["code"], "approval_group", "{refused}");
    let (status, first) = approve(&server, "finance", &case_id, None).await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::OK, Some("pending_approval")), "{first}");
    let (_, refused) = approve(&server, "finance", &case_id, None).await;
    assert_eq!(refused["error"]["code"], "distinct_approvers");
    let (status, second) = approve(&server, "director", &case_id, None).await;
    assert_eq!((status, second["status"].as_str()), (StatusCode::OK, Some("approved")), "{second}");
    server.stop().await;
}

/// Each delegation is a ledger subject of its own: the slot that records the thirtieth grant
/// is no larger than the first one's (one book in one subject grew with every grant), every
/// delegation is listed once, in the order granted, for admins and for each person it names,
/// revoking one changes only it, and the stopped store verifies.
#[tokio::test]
async fn delegations_cost_the_same_however_many_came_before() {
    let server = TestServer::start().await;
    let now = Utc::now();
    for hours in 1..=30 {
        let grant = json!({"delegate": "lee.lead", "starts_at": now, "ends_at": now + Duration::hours(hours), "reason": "leave"});
        let (status, delegation) = server.post("manager", "/v1/delegations", grant).await;
        assert_eq!((status, &delegation["id"]), (StatusCode::CREATED, &json!(format!("DG-{hours}"))), "{delegation}");
    }
    let (status, revoked) = server.post("manager", "/v1/delegations/DG-30/revoke", json!({"reason": "back"})).await;
    assert_eq!((status, revoked["revoked"]["by"].as_str()), (StatusCode::OK, Some("morgan.manager")), "{revoked}");
    let (status, again) = server.post("manager", "/v1/delegations/DG-30/revoke", json!({"reason": "back"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _) = server.post("manager", "/v1/delegations/DG-31/revoke", json!({"reason": "back"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let expected: Vec<String> = (1..=30).map(|n| format!("DG-{n}")).collect();
    for who in ["admin", "lead", "manager"] {
        let (_, listed) = server.get(who, "/v1/delegations").await;
        let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, expected, "{who}: every delegation once, in the order granted");
    }
    let (_, listed) = server.get("director", "/v1/delegations").await;
    assert_eq!(listed, json!([]), "a director named by none sees none");
    let pending = id(&server.submit(refund(100_000, "many-delegations")).await);
    let (status, approved) = approve(&server, "lead", &pending, Some("morgan.manager")).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["case"]["approvals"][0]["delegation"]["id"], "DG-1", "the first in force");

    let data_dir = server.data_dir.clone();
    let _kept = server.stop().await;
    let store = levee_tests::open_store(&data_dir);
    let slots: Vec<usize> = (1..=30)
        .map(|seq| store.get(&levee_core::ledger_store::entry_key(seq)).unwrap().expect("a slot").len())
        .collect();
    let (smallest, largest) = (slots.iter().min().unwrap(), slots.iter().max().unwrap());
    assert!(largest - smallest <= 64, "slot sizes grow with the grants before them: {slots:?}");
    drop(store);
    let report = levee_tests::verify_stopped(&data_dir);
    assert!(report.ok, "{report:?}");
}

/// A ledger from before delegations were subjects of their own keeps its book: after an
/// upgrade, a delegation in it is still in force for approvals, can still be revoked, is listed
/// first, and new delegations are numbered after it.
#[tokio::test]
async fn delegations_an_older_ledger_kept_in_one_book_still_count() {
    use levee_core::delegation::{Delegation, DelegationBook};
    use levee_core::ledger::EventType;
    use levee_core::subject::Change;

    let server = TestServer::start().await;
    let data_dir = server.data_dir.clone();
    let _kept = server.stop().await;
    let now = Utc::now();
    // What levee wrote before: the grant added to the book in `delegations`.
    let delegation = Delegation {
        id: "DG-1".into(),
        delegator: "morgan.manager".into(),
        delegate: "lee.lead".into(),
        starts_at: now - Duration::hours(1),
        ends_at: now + Duration::hours(8),
        reason: "annual leave".into(),
        granted_at: now,
        revoked: None,
    };
    let book = DelegationBook { version: 1, ledger_seqs: vec![], delegations: vec![delegation.clone()] };
    let change = Change::of(book, EventType::DelegationGranted, json!({"delegation": delegation}));
    levee_tests::append_to_stopped(&data_dir, change, "morgan.manager", Role::Approver);
    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let pending = id(&server.submit(refund(100_000, "after-upgrade")).await);
    let (status, approved) = approve(&server, "lead", &pending, Some("morgan.manager")).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["case"]["approvals"][0]["delegation"]["id"], "DG-1");
    let grant =
        json!({"delegate": "lee.lead", "starts_at": now, "ends_at": now + Duration::hours(4), "reason": "leave"});
    let (_, granted) = server.post("manager", "/v1/delegations", grant).await;
    assert_eq!(granted["id"], "DG-2", "numbered after the book's delegations");
    let (status, revoked) = server.post("admin", "/v1/delegations/DG-1/revoke", json!({"reason": "back"})).await;
    assert_eq!((status, revoked["revoked"]["by"].as_str()), (StatusCode::OK, Some("ade.admin")), "{revoked}");
    let (_, listed) = server.get("lead", "/v1/delegations").await;
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["DG-1", "DG-2"]);
    assert!(listed[0]["revoked"].is_object(), "{listed}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
