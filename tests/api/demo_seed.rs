//! `serve --demo`'s seeded story over real HTTP: six months of activity, all through the ledger,
//! which verifies; the planted leaks listed as findings with their kinds; the rubber-stamping
//! lead's approvals, each within seconds of the case reaching them; cases waiting in the demo
//! lead's and manager's queues; and a restart over the same store that does not seed again.

use std::collections::BTreeSet;

use levee_tests::{Options, StatusCode, TestServer, skip_on_spin};
use serde_json::Value;

const RUBBER_STAMPER: &str = "rudy.rubberstamp";

/// Every ledger entry, as the auditor exports them, a page at a time.
async fn ledger(server: &TestServer) -> Vec<Value> {
    let mut entries = Vec::new();
    loop {
        let from = entries.len() + 1;
        let (status, page) = server.get("auditor", &format!("/v1/ledger?from={from}&limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return entries;
        }
        entries.extend(page);
    }
}

fn seconds_between(earlier: &Value, later: &Value) -> i64 {
    let at = |entry: &Value| entry["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    (at(later) - at(earlier)).num_seconds()
}

#[tokio::test]
async fn the_demo_seeds_six_months_through_the_ledger_with_its_planted_story() {
    if skip_on_spin("the demo seed is levee serve --demo's") {
        return;
    }
    let options = Options { seed_demo_data: true, ..Options::default() };
    let server = TestServer::start_with(options.clone()).await;

    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let seeded = report["entries_checked"].as_u64().unwrap();
    assert!(seeded > 5_000, "{report}");

    // The planted leaks, found by reconciliation, with their kinds.
    let (status, findings) = server.get("auditor", "/v1/findings").await;
    assert_eq!(status, StatusCode::OK, "{findings}");
    let kinds: BTreeSet<&str> =
        findings.as_array().unwrap().iter().filter_map(|finding| finding["kind"].as_str()).collect();
    for kind in ["silent", "overage", "duplicate", "executed_before_approval"] {
        assert!(kinds.contains(kind), "no {kind} finding in {findings}");
    }
    let silent_without_case = findings.as_array().unwrap().iter().filter(|finding| {
        finding["kind"] == "silent" && finding["case_id"].is_null() && finding["resolved_at"].is_null()
    });
    assert_eq!(silent_without_case.count(), 3, "{findings}");

    // The rubber-stamper: many approvals, none rejected, each within 15-45 s of the case
    // reaching them (its previous entry), with the seeded authority.
    let entries = ledger(&server).await;
    assert_eq!(entries.len() as u64, seeded);
    let stamped: Vec<&Value> = entries.iter().filter(|entry| entry["actor"] == RUBBER_STAMPER).collect();
    assert!(stamped.len() > 100, "{} entries by the rubber-stamper", stamped.len());
    assert!(stamped.iter().all(|entry| entry["event"] == "case.approved"), "the rubber-stamper only approves");
    assert!(stamped.iter().all(|entry| entry["authority"]["source"] == "demo-seed"), "{}", stamped[0]);
    for approval in stamped.iter().take(5) {
        let case_id = approval["subject"].as_str().unwrap();
        let (_, case) = server.get("auditor", &format!("/v1/cases/{case_id}")).await;
        let ledger = case["ledger"].as_array().unwrap();
        let at = ledger.iter().position(|entry| entry["actor"] == RUBBER_STAMPER).unwrap();
        let waited = seconds_between(&ledger[at - 1], &ledger[at]);
        assert!((15..=45).contains(&waited), "{case_id} approved {waited} s after it reached the rubber-stamper");
    }

    // The demo's lead and manager each have something to approve.
    for (who, level) in [("lead", "lead"), ("manager", "manager")] {
        let (_, queue) = server.get(who, "/v1/queue").await;
        let ready =
            queue.as_array().unwrap().iter().filter(|item| item["level"] == level && item["can_approve"] == true);
        assert!(ready.count() >= 3, "the {who}'s queue: {queue}");
    }

    // Restarting over the same store does not seed again.
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;
    let restarted = TestServer::start_in(&data_dir, &options).await;
    assert_eq!(restarted.ledger_len().await, seeded, "seeded twice");
    restarted.stop().await;
    drop(temp);
}
