//! Many clients at once against one or more hosts of the same store: they submit cases (every
//! other one waiting for a lead) and approve the ones that wait. Then the check that matters:
//! every acknowledged write is in the ledger exactly once, and nothing else is.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::{TestServer, refund};

/// One acknowledged submission: its case, whether it auto-approved, and whether an approval of
/// it was acknowledged.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    pub case_id: String,
    pub auto_approved: bool,
    pub approved: bool,
}

/// `clients` clients, each `rounds` times: submit, and approve if the case waits. Client `n`
/// talks to `hosts[n % hosts.len()]`. A refusal must be a lost race (409) or an unavailable
/// store (503); anything else fails the test.
pub async fn submit_and_approve(hosts: &[Arc<TestServer>], clients: u64, rounds: u64) -> Vec<Acknowledged> {
    let tasks = (0..clients).map(|client| {
        let host = hosts[client as usize % hosts.len()].clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for round in 0..rounds {
                let amount = if (client + round) % 2 == 0 { 40_000 } else { 4_000 };
                let body = refund(amount, &format!("crowd-{client}-{round}"));
                let (status, answer) = host.post("agent", "/v1/cases", body).await;
                if status != StatusCode::CREATED {
                    assert!(refusal(status), "a submission answered {status}: {answer}");
                    eprintln!("crowd: a submission was refused, {status}: {answer}");
                    continue;
                }
                let case_id = answer["case_id"].as_str().expect("a case id").to_owned();
                let auto_approved = answer["status"] == "auto_approved";
                let mut approved = false;
                if answer["decision"]["failed_closed"] == true {
                    eprintln!("crowd: {case_id} failed closed: {}", answer["decision"]["policies"]);
                } else if answer["status"] == "pending_approval" {
                    let path = format!("/v1/cases/{case_id}/approve");
                    let (status, answer) = host.post("lead", &path, json!({"rationale": "checked the order"})).await;
                    assert!(status.is_success() || refusal(status), "an approval answered {status}: {answer}");
                    if !status.is_success() {
                        eprintln!("crowd: an approval of {case_id} was refused, {status}: {answer}");
                    }
                    approved = status.is_success();
                }
                acknowledged.push(Acknowledged { case_id, auto_approved, approved });
            }
            acknowledged
        })
    });
    let mut acknowledged = Vec::new();
    for client in futures::future::join_all(tasks).await {
        acknowledged.extend(client.expect("a client finished"));
    }
    acknowledged
}

fn refusal(status: StatusCode) -> bool {
    status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE
}

/// Checks on `server` that every acknowledged submission's case is there with its own id, in
/// the state its acknowledged writes left it, with one ledger entry per acknowledged write; and
/// that the ledger verifies and holds exactly those entries (so a refused write wrote nothing).
/// Answers how many entries that is.
pub async fn check_exactly_once(server: &TestServer, acknowledged: &[Acknowledged]) -> u64 {
    let mut ids: Vec<&str> = acknowledged.iter().map(|ack| ack.case_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), acknowledged.len(), "every acknowledged submission has a case id of its own");
    let mut entries = 0;
    let mut seen_seqs = Vec::new();
    for ack in acknowledged {
        let id = &ack.case_id;
        let (status, view) = server.get("auditor", &format!("/v1/cases/{id}")).await;
        assert_eq!(status, StatusCode::OK, "acknowledged case {id} is there: {view}");
        let case = &view["case"];
        let approvals = case["approvals"].as_array().map_or(0, Vec::len);
        assert_eq!(approvals, usize::from(ack.approved), "{id}: one approval per acknowledged approval: {case}");
        let expected = match (ack.auto_approved, ack.approved) {
            (true, _) => "auto_approved",
            (false, true) => "approved",
            (false, false) => "pending_approval",
        };
        assert_eq!(case["status"], expected, "{id}: {case}");
        let seqs = case["ledger_seqs"].as_array().map_or(0, Vec::len);
        assert_eq!(seqs, 1 + usize::from(ack.approved), "{id}: one ledger entry per acknowledged write: {case}");
        entries += seqs as u64;
        seen_seqs.extend(case["ledger_seqs"].as_array().into_iter().flatten().filter_map(|seq| seq.as_u64()));
    }
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    // Besides the clients' writes, the ledger may hold levee's own (the schedule opening a
    // remediation item, say): those are the system's, and nothing else may be there.
    let ledger = ledger_entries(server).await;
    assert_eq!(report["entries_checked"].as_u64(), Some(ledger.len() as u64), "the export holds every entry");
    let exported: Vec<u64> = ledger.iter().filter_map(|entry| entry["seq"].as_u64()).collect();
    assert!(seen_seqs.iter().all(|seq| exported.contains(seq)), "every acknowledged write's entry is in the ledger");
    let strays: Vec<&serde_json::Value> = ledger
        .iter()
        .filter(|entry| entry["role"] != "system")
        .filter(|entry| entry["seq"].as_u64().is_none_or(|seq| !seen_seqs.contains(&seq)))
        .collect();
    if !strays.is_empty() {
        let unacknowledged = unacknowledged_cases(server, &ids).await;
        panic!(
            "the ledger holds writes no client was told of: {strays:#?}; cases no client was told of: {unacknowledged:?}"
        );
    }
    entries
}

/// Every ledger entry, from the auditor's export (yesterday and today, UTC).
pub async fn ledger_entries(server: &TestServer) -> Vec<serde_json::Value> {
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let path = format!("/v1/export/ledger?from={yesterday}&to={today}&format=ndjson");
    let (status, _, ledger) = server.get_text("auditor", &path).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    ledger.lines().map(|line| serde_json::from_str(line).expect("an NDJSON ledger entry")).collect()
}

/// The cases (ids are LV-000001 upwards) that no acknowledged submission made, with their state.
async fn unacknowledged_cases(server: &TestServer, acknowledged: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for number in 1..=(acknowledged.len() + 20) {
        let id = format!("LV-{number:06}");
        if acknowledged.contains(&id.as_str()) {
            continue;
        }
        let (status, view) = server.get("auditor", &format!("/v1/cases/{id}")).await;
        if status == StatusCode::OK {
            found.push(format!("{id}: {} {}", view["case"]["status"], view["case"]["customer_ref"]));
        }
    }
    found
}

/// "N submissions and M approvals acknowledged by C clients".
pub fn summary(acknowledged: &[Acknowledged], clients: u64) -> String {
    let approvals = acknowledged.iter().filter(|ack| ack.approved).count();
    format!("{} submissions and {approvals} approvals acknowledged by {clients} clients", acknowledged.len())
}
