//! Four eyes on the policy chain over real HTTP, on every backend: a chain one admin proposes
//! carries its backtest and decides nothing until a second admin approves it (the proposer
//! cannot, nor can anyone but an admin); a rejected or stale proposal never takes effect; an
//! emergency rollback by one admin is in force at once and flagged until a second admin
//! confirms it. Each step is a ledger entry naming who and by what authority.

use futures::future::join_all;
use levee_core::matrix::ApprovalMatrix;
use levee_tests::{StatusCode, TestServer, refund};
use serde_json::{Value, json};

/// The threshold plugin's params, changed so that no refund auto-approves.
fn nothing_auto_approves() -> Value {
    let mut matrix = ApprovalMatrix::default_matrix();
    for ladder in matrix.ladders.values_mut() {
        ladder.auto_approve_up_to = 0;
    }
    matrix.to_params()
}

fn stricter_chain(rationale: &str) -> Value {
    json!({"links": [{"name": "threshold", "params": nothing_auto_approves()}, {"name": "routing"}], "rationale": rationale})
}

fn review(rationale: &str) -> Value {
    json!({"rationale": rationale})
}

async fn propose(server: &TestServer, body: Value) -> Value {
    let (status, proposal) = server.post("admin", "/v1/policies/chain", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{proposal}");
    proposal
}

async fn registry(server: &TestServer) -> Value {
    let (status, view) = server.get("auditor", "/v1/policies").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

fn events(entries: &Value) -> Vec<String> {
    entries.as_array().unwrap().iter().map(|entry| entry["event"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_chain_takes_effect_only_when_a_second_admin_approves_it() {
    let server = TestServer::start().await;
    for label in ["before-1", "before-2"] {
        assert_eq!(server.submit(refund(4_000, label)).await["status"], "auto_approved");
    }

    let proposal = propose(&server, stricter_chain("CR-51: every refund gets a second look")).await;
    assert_eq!((proposal["number"].as_u64(), proposal["active_chain"].as_u64()), (Some(1), Some(0)), "{proposal}");
    assert_eq!(proposal["proposed"]["by"], "ade.admin");
    assert!(proposal["proposed"]["authority"].as_str().is_some_and(|authority| !authority.is_empty()), "{proposal}");
    let backtest = &proposal["backtest"];
    assert_eq!((backtest["cases"].as_u64(), backtest["changed"].as_u64()), (Some(2), Some(2)), "{backtest}");
    assert_eq!(backtest["changes"]["auto_approve → lead"], 2, "{backtest}");
    assert_eq!(backtest["amounts"]["USD"]["auto_approved"], json!({"actual": 8_000, "candidate": 0}), "{backtest}");

    // Proposed, not in force: the configured chain still decides.
    assert_eq!(server.submit(refund(4_000, "while-proposed")).await["status"], "auto_approved");
    let view = registry(&server).await;
    assert_eq!(view["registry"]["chains"], json!([]), "{view}");
    assert_eq!(view["registry"]["proposals"][0]["number"], 1, "{view}");

    let approve = "/v1/policies/proposals/1/approve";
    let entries = server.ledger_len().await;
    let (status, refused) = server.post("admin", approve, review("I reviewed my own change")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ade.admin proposed chain proposal 1") && message.contains("second admin"), "{message}");
    assert_eq!(server.post("director", approve, review("looks fine")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(server.post("admin2", approve, json!({})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.post("admin2", "/v1/policies/proposals/9/approve", review("x")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.ledger_len().await, entries, "a refused approval writes nothing");
    assert_eq!(server.submit(refund(4_000, "after-refusals")).await["status"], "auto_approved");

    // The second admin approves, several times at once: it is activated exactly once.
    let approvals = join_all((0..6).map(|_| server.post("admin2", approve, review("backtest reviewed")))).await;
    let statuses: Vec<StatusCode> = approvals.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses.iter().filter(|status| **status == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|status| [StatusCode::OK, StatusCode::CONFLICT].contains(status)), "{statuses:?}");
    let view = registry(&server).await;
    let chains = view["registry"]["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1, "{view}");
    let approval = &chains[0]["approval"];
    assert_eq!((approval["proposal"].as_u64(), approval["proposed"]["by"].as_str()), (Some(1), Some("ade.admin")));
    assert_eq!(
        (approval["approved"]["by"].as_str(), approval["approved"]["rationale"].as_str()),
        (Some("alex.admin"), Some("backtest reviewed"))
    );
    assert_eq!(view["registry"]["proposals"], Value::Null, "no proposal waits: {view}");
    let (status, again) = server.post("admin2", approve, review("again")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(again["error"]["message"].as_str().unwrap_or_default().contains("approved as chain 1"), "{again}");

    let decided = server.submit(refund(4_000, "after-approval")).await;
    assert_eq!(
        (decided["status"].as_str(), decided["decision"]["level"].as_str()),
        (Some("pending_approval"), Some("lead")),
        "{decided}"
    );

    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    let recorded = events(&ledger);
    let four_eyes: Vec<&String> = recorded.iter().filter(|event| event.starts_with("policy.")).collect();
    assert_eq!(four_eyes, ["policy.chain_proposed", "policy.chain_activated"], "{recorded:?}");
    let proposed = ledger.as_array().unwrap().iter().find(|entry| entry["event"] == "policy.chain_proposed").unwrap();
    assert_eq!(
        (proposed["actor"].as_str(), proposed["payload"]["proposal"]["backtest"]["changed"].as_u64()),
        (Some("ade.admin"), Some(2)),
        "{proposed}"
    );
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_rejected_or_stale_proposal_never_takes_effect() {
    let server = TestServer::start().await;
    let first = propose(&server, stricter_chain("CR-52")).await;
    let second =
        propose(&server, json!({"links": [{"name": "threshold"}, {"name": "routing"}], "rationale": "CR-53"})).await;
    assert_eq!((first["number"].as_u64(), second["number"].as_u64()), (Some(1), Some(2)));

    let (status, rejected) =
        server.post("admin2", "/v1/policies/proposals/1/reject", review("too strict for Q4")).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["proposals"].as_array().map(Vec::len), Some(1), "{rejected}");
    let (status, refused) = server.post("admin2", "/v1/policies/proposals/1/approve", review("changed my mind")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("it was rejected"), "{refused}");
    assert_eq!(server.submit(refund(4_000, "after-rejection")).await["status"], "auto_approved");

    assert_eq!(server.post("admin2", "/v1/policies/proposals/2/approve", review("ok")).await.0, StatusCode::OK);
    // Proposed against chain 1; then an emergency rollback makes chain 2 active.
    let third = propose(&server, stricter_chain("CR-54")).await;
    assert_eq!(third["active_chain"], 1);
    assert_eq!(server.post("admin", "/v1/policies/chain/rollback", review("incident 7")).await.0, StatusCode::OK);
    let entries = server.ledger_len().await;
    let (status, stale) = server.post("admin2", "/v1/policies/proposals/3/approve", review("ok")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let message = stale["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("while chain 1 was active") && message.contains("chain 2 is active now"), "{message}");
    assert_eq!(server.ledger_len().await, entries, "a refused approval writes nothing");

    // The proposer withdraws it.
    let (status, withdrawn) = server.post("admin", "/v1/policies/proposals/3/reject", review("superseded")).await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    let rejections: Vec<&Value> =
        ledger.as_array().unwrap().iter().filter(|entry| entry["event"] == "policy.proposal_rejected").collect();
    assert_eq!(rejections.len(), 2);
    assert_eq!(
        (rejections[0]["payload"]["withdrawn"].as_bool(), rejections[1]["payload"]["withdrawn"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(rejections[0]["payload"]["rejected"]["by"], "alex.admin");
    assert_eq!(server.submit(refund(4_000, "after-withdrawal")).await["status"], "auto_approved");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn an_emergency_rollback_by_one_admin_is_flagged_until_a_second_admin_confirms_it() {
    let server = TestServer::start().await;
    let (status, activated) = server.activate_chain(stricter_chain("CR-55")).await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    assert_eq!(server.submit(refund(4_000, "strict")).await["status"], "pending_approval");

    let (status, rolled_back) = server.post("admin", "/v1/policies/chain/rollback", review("queue flooded")).await;
    assert_eq!(status, StatusCode::OK, "{rolled_back}");
    assert_eq!(server.submit(refund(4_000, "rolled-back")).await["status"], "auto_approved", "in force at once");
    let view = registry(&server).await;
    assert_eq!(view["rollbacks_awaiting_confirmation"], json!([2]), "{view}");
    assert_eq!(view["registry"]["chains"][1]["confirmed"], Value::Null);

    let confirm = "/v1/policies/chains/2/confirm";
    let entries = server.ledger_len().await;
    let (status, refused) = server.post("admin", confirm, review("confirming my own rollback")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("made rollback 2"), "{refused}");
    let (status, refused) = server.post("admin2", "/v1/policies/chains/1/confirm", review("x")).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("chain")),
        "{refused}"
    );
    assert_eq!(server.post("admin2", "/v1/policies/chains/7/confirm", review("x")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.post("auditor", confirm, review("x")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(server.ledger_len().await, entries, "a refused confirmation writes nothing");

    let (status, confirmed) = server.post("admin2", confirm, review("incident 7 reviewed")).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["chains"][1]["confirmed"]["by"], "alex.admin");
    assert_eq!(registry(&server).await["rollbacks_awaiting_confirmation"], json!([]));
    assert_eq!(server.post("admin2", confirm, review("again")).await.0, StatusCode::CONFLICT);
    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    assert!(events(&ledger).contains(&"policy.rollback_confirmed".to_owned()));
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    server.stop().await;
}

/// The default taxonomy's LATE_DELIVERY, with `change` applied.
async fn late_delivery(server: &TestServer, change: impl FnOnce(&mut Value)) -> Value {
    let (_, view) = server.get("admin", "/v1/taxonomy").await;
    let codes = view["taxonomy"]["codes"].as_array().unwrap();
    let mut code = codes.iter().find(|code| code["code"] == "LATE_DELIVERY").unwrap().clone();
    change(&mut code);
    code
}

#[tokio::test]
async fn a_code_routing_change_waits_for_a_second_admin_and_a_description_does_not() {
    let server = TestServer::start().await;
    let before = server.submit(refund(40_000, "before")).await;
    assert_eq!(before["decision"]["level"], "lead", "{before}");

    let described =
        late_delivery(&server, |code| code["description"] = json!("Arrived after the promised date.")).await;
    let (status, view) =
        server.post("admin", "/v1/taxonomy/codes", json!({"code": described, "rationale": "clearer"})).await;
    assert_eq!((status, view["revision"].as_u64()), (StatusCode::OK, Some(1)), "a description needs one admin: {view}");

    let escalating = late_delivery(&server, |code| code["escalate_always"] = json!(true)).await;
    let (status, proposal) =
        server.post("admin", "/v1/taxonomy/codes", json!({"code": escalating, "rationale": "carrier fraud"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{proposal}");
    assert_eq!(proposal["alters"], json!(["LATE_DELIVERY: escalate_always false → true"]), "{proposal}");
    assert_eq!(proposal["change"]["control"], "taxonomy_code");
    assert_eq!(proposal["backtest"]["changes"]["lead → manager"], 1, "{proposal}");
    assert_eq!(server.submit(refund(40_000, "while-proposed")).await["decision"]["level"], "lead", "not in force yet");

    let approve = format!("/v1/controls/proposals/{}/approve", proposal["number"]);
    let (status, refused) = server.post("admin", &approve, review("fine by me")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, approved) = server.post("admin2", &approve, review("fraud pattern confirmed")).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["decided"][0]["outcome"]["approved"]["by"], "alex.admin", "{approved}");
    assert_eq!(server.submit(refund(40_000, "after")).await["decision"]["level"], "manager");
    let (_, revisions) = server.get("auditor", "/v1/taxonomy/revisions").await;
    assert_eq!((revisions[1]["by"].as_str(), revisions[1]["proposal"].as_u64()), (Some("alex.admin"), Some(1)));
    assert_eq!(server.post("admin2", &approve, review("again")).await.0, StatusCode::CONFLICT);

    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    let control_steps: Vec<String> = events(&ledger)
        .into_iter()
        .filter(|event| event.starts_with("control.") || event.starts_with("taxonomy."))
        .collect();
    assert_eq!(control_steps, ["taxonomy.changed", "control.proposed", "taxonomy.changed", "control.approved"]);

    // Deprecating needs one admin (it only closes a code); bringing it back opens it again, so
    // it is a proposal even when nothing else about the code changes.
    let (status, _) =
        server.post("admin", "/v1/taxonomy/codes/LATE_DELIVERY/deprecate", review("split by carrier")).await;
    assert_eq!(status, StatusCode::OK);
    let back = late_delivery(&server, |code| code["lifecycle"] = json!({"state": "active"})).await;
    let (status, proposal) =
        server.post("admin", "/v1/taxonomy/codes", json!({"code": back, "rationale": "back"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{proposal}");
    assert_eq!(proposal["alters"], json!(["LATE_DELIVERY is reinstated: new cases may be filed under it again"]));
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn floors_and_approval_groups_change_only_when_a_second_admin_approves() {
    let server = TestServer::start().await;
    let (_, controls) = server.get("auditor", "/v1/controls").await;
    assert_eq!(
        (controls["floors_from"].as_str(), controls["approval_groups_from"].as_str()),
        (Some("configuration"), Some("configuration"))
    );
    assert_eq!(server.submit(refund(4_000, "small-before")).await["status"], "auto_approved");

    let floors = json!({"control": "floors", "floors": {"auto_approve_max": {"USD": 1_000}}});
    let (status, proposal) =
        server.post("admin", "/v1/controls/proposals", json!({"change": floors, "rationale": "CR-70"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{proposal}");
    assert_eq!(proposal["backtest"]["changes"]["auto_approve → lead"], 1, "{proposal}");
    assert!(proposal["alters"][0].as_str().unwrap_or_default().starts_with("auto_approve_max"), "{proposal}");
    assert_eq!(server.submit(refund(4_000, "small-proposed")).await["status"], "auto_approved", "not in force yet");
    let (status, approved) = server.post("admin2", "/v1/controls/proposals/1/approve", review("agreed")).await;
    assert_eq!((status, approved["floors_from"].as_str()), (StatusCode::OK, Some("ledger")), "{approved}");
    let raised = server.submit(refund(4_000, "small-after")).await;
    assert_eq!(raised["status"], "pending_approval", "{raised}");
    assert!(raised["decision"]["floors"][0].as_str().unwrap_or_default().contains("auto_approve_max"), "{raised}");

    let group = |members: Value| {
        json!({"control": "approval_groups", "approval_groups": [
            {"name": "lead-pair", "level": "lead", "members": members, "approvals": 2}]})
    };
    let entries = server.ledger_len().await;
    for (members, problem) in [
        (json!(["lee.lead", "nobody"]), "member nobody has no token"),
        (json!(["lee.lead", "avery.agent"]), "member avery.agent is not an approver"),
    ] {
        let (status, refused) =
            server.post("admin", "/v1/controls/proposals", json!({"change": group(members), "rationale": "x"})).await;
        assert_eq!(
            (status, refused["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("change.approval_groups")),
            "{refused}"
        );
        assert!(refused["error"]["message"].as_str().unwrap_or_default().contains(problem), "{refused}");
    }
    let (status, same) = server
        .post(
            "admin",
            "/v1/controls/proposals",
            json!({"change": {"control": "approval_groups", "approval_groups": []}, "rationale": "x"}),
        )
        .await;
    assert_eq!((status, same["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("change")), "{same}");
    assert_eq!(server.ledger_len().await, entries, "refused proposals write nothing");

    let pair = group(json!(["lee.lead", "morgan.manager"]));
    let (status, proposal) =
        server.post("admin", "/v1/controls/proposals", json!({"change": pair.clone(), "rationale": "CR-71"})).await;
    assert_eq!((status, proposal["number"].as_u64()), (StatusCode::ACCEPTED, Some(2)), "{proposal}");
    assert_eq!(proposal["backtest"], Value::Null, "groups change who approves, not what is decided");
    let (status, rejected) = server.post("admin2", "/v1/controls/proposals/2/reject", review("not yet")).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["decided"][1]["outcome"]["outcome"], "rejected");
    assert_eq!(server.post("admin2", "/v1/controls/proposals/2/approve", review("x")).await.0, StatusCode::CONFLICT);
    let waiting = server.submit(refund(40_000, "no-group")).await;
    assert_eq!(waiting["case"]["approver_group"], Value::Null, "a rejected proposal never takes effect: {waiting}");

    let (_, third) =
        server.post("admin", "/v1/controls/proposals", json!({"change": pair.clone(), "rationale": "CR-72"})).await;
    let stricter = json!({"control": "approval_groups", "approval_groups": [
        {"name": "lead-trio", "level": "lead", "members": ["lee.lead", "morgan.manager", "frankie.finance"], "approvals": 2}]});
    let (_, fourth) =
        server.post("admin", "/v1/controls/proposals", json!({"change": stricter, "rationale": "CR-73"})).await;
    assert_eq!((third["number"].as_u64(), fourth["number"].as_u64()), (Some(3), Some(4)));
    assert_eq!(server.post("admin2", "/v1/controls/proposals/3/approve", review("ok")).await.0, StatusCode::OK);
    let (status, stale) = server.post("admin2", "/v1/controls/proposals/4/approve", review("ok")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert!(
        stale["error"]["message"].as_str().unwrap_or_default().contains("changed after control proposal 4"),
        "{stale}"
    );
    let grouped = server.submit(refund(40_000, "grouped")).await;
    assert_eq!(grouped["case"]["approver_group"]["name"], "lead-pair", "{grouped}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// Races around a code's routing change, five rounds each: a second admin's approval against a
/// descriptive edit that still carries the old routing, and against its proposer's withdrawal.
/// Whichever lands first, exactly one wins, and a routing change is in force exactly when its
/// approval was answered 200: never undone by one admin, never in force after a rejection.
#[tokio::test]
async fn an_approval_racing_an_edit_or_a_withdrawal_is_in_force_exactly_when_it_says_so() {
    let server = TestServer::start().await;
    let escalates = async || late_delivery(&server, |_| ()).await["escalate_always"].as_bool();
    for round in 0..10_u64 {
        let wanted = !escalates().await.expect("LATE_DELIVERY's flag");
        let changed = late_delivery(&server, |code| code["escalate_always"] = json!(wanted)).await;
        let (status, proposal) =
            server.post("admin", "/v1/taxonomy/codes", json!({"code": changed, "rationale": "race"})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "round {round}: {proposal}");
        let number = proposal["number"].as_u64().unwrap();
        let (approve_path, reject_path) =
            (format!("/v1/controls/proposals/{number}/approve"), format!("/v1/controls/proposals/{number}/reject"));
        let approve = server.post("admin2", &approve_path, review("ok"));
        let (approved, other) = if round < 5 {
            // A descriptive edit made from the code as it was before the proposal.
            let stale = late_delivery(&server, |code| code["description"] = json!(format!("round {round}"))).await;
            let edit = server.post("admin", "/v1/taxonomy/codes", json!({"code": stale, "rationale": "typo"}));
            tokio::join!(approve, edit)
        } else {
            let withdraw = server.post("admin", &reject_path, review("no"));
            tokio::join!(approve, withdraw)
        };
        let in_force = escalates().await == Some(wanted);
        assert!([StatusCode::OK, StatusCode::CONFLICT].contains(&approved.0), "round {round}: {}", approved.1);
        // An edit read after the approval landed carries the old routing as a change of its
        // own: a proposal of its own (202), in force only once a second admin approves it.
        let edit_proposed = round < 5 && other.0 == StatusCode::ACCEPTED;
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&other.0) || edit_proposed,
            "round {round}: {}",
            other.1
        );
        assert_eq!(in_force, approved.0 == StatusCode::OK, "round {round}: approval {}, other {}", approved.1, other.1);
        if round >= 5 {
            assert_ne!(approved.0, other.0, "round {round}: one of approval and withdrawal wins");
        }
        if edit_proposed {
            assert_eq!(approved.0, StatusCode::OK, "round {round}: only an approved change makes the edit a change");
            let withdraw = format!("/v1/controls/proposals/{}/reject", other.1["number"]);
            assert_eq!(server.post("admin", &withdraw, review("stale edit")).await.0, StatusCode::OK, "round {round}");
        }
        if approved.0 != StatusCode::OK {
            // Close a proposal the edit made stale, so that the next round starts clean.
            server.post("admin", &reject_path, review("stale")).await;
        }
    }
    let (_, controls) = server.get("auditor", "/v1/controls").await;
    assert_eq!(controls["proposals"], json!([]), "{controls}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
