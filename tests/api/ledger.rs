//! The evidence ledger: every transition is an entry, the chain verifies, and an entry altered
//! on disk is named by both `GET /v1/audit/verify` and `levee audit verify`.

use levee_core::ledger_store::entry_key;
use levee_tests::{Options, StatusCode, TestServer, evidence, open_store, refund, verify_stopped};
use serde_json::{Value, json};

/// Runs the four reference cases to their end and returns the server.
async fn reference_cases(server: &TestServer) {
    server.submit(refund(4_000, "ref-40")).await;
    let pending = server.submit(refund(40_000, "ref-400")).await;
    let id = pending["case_id"].as_str().unwrap();
    server.post("lead", &format!("/v1/cases/{id}/approve"), json!({"rationale": "ok"})).await;
    let mut large = refund(4_000_000, "ref-40000");
    large["evidence"] = json!([evidence("attachment")]);
    let id = server.submit(large).await["case_id"].as_str().unwrap().to_owned();
    for director in ["director", "director2"] {
        server.post(director, &format!("/v1/cases/{id}/approve"), json!({"rationale": "ok"})).await;
    }
}

/// The reference cases leave a ledger that verifies, each entry naming its actor, authority,
/// policies, matrix and taxonomy versions, facts hash and the previous hash.
#[tokio::test]
async fn ledger_records_every_transition_and_verifies() {
    let server = TestServer::start().await;
    reference_cases(&server).await;
    let report = server.verify().await;
    assert_eq!((report["ok"].as_bool(), report["entries_checked"].as_u64()), (Some(true), Some(6)), "{report}");

    let (status, entries) = server.get("auditor", "/v1/ledger").await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 6);
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let submitted = &entries[0];
    assert_eq!(submitted["event"], "case.submitted");
    assert_eq!(submitted["matrix_version"], "default-2026.11");
    assert_eq!(submitted["facts_hash"].as_str().map(str::len), Some(64));
    assert_eq!(submitted["policies"].as_array().map(Vec::len), Some(2));
    let approved = entries.iter().find(|entry| entry["event"] == "case.approved").unwrap();
    assert_eq!(approved["authority"]["level"], "lead");
    assert_eq!(approved["authority"]["source"], "demo:lead");
    server.stop().await;
}

fn tamper(data_dir: &std::path::Path, seq: u64, change: impl FnOnce(&mut Value)) {
    let store = open_store(data_dir);
    let key = entry_key(seq);
    let mut slot: Value = serde_json::from_slice(&store.get(&key).unwrap().expect("entry exists")).unwrap();
    change(&mut slot);
    store.set(&key, &serde_json::to_vec(&slot).unwrap()).unwrap();
}

/// An entry whose amount is altered on disk breaks the chain at exactly that entry, for the
/// CLI and for the API after a restart.
#[tokio::test]
async fn altered_entry_is_named_by_verify() {
    let server = TestServer::start().await;
    reference_cases(&server).await;
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    tamper(&data_dir, 3, |slot| slot["entry"]["payload"]["amount"]["minor_units"] = json!(1));
    let report = verify_stopped(&data_dir);
    assert!(!report.ok);
    let mismatch = report.first_mismatch.as_ref().expect("a mismatch");
    assert_eq!((mismatch.seq, report.entries_checked), (3, 2));
    assert!(levee::audit::describe(&report).contains("ledger BROKEN at entry 3"));

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let report = server.verify().await;
    assert_eq!((report["ok"].as_bool(), report["first_mismatch"]["seq"].as_u64()), (Some(false), Some(3)), "{report}");
    server.stop().await;
    drop(temp);
}

/// A case record edited behind the ledger's back (approved without approvals) is caught.
#[tokio::test]
async fn altered_case_record_is_named_by_verify() {
    let server = TestServer::start().await;
    let pending = server.submit(refund(40_000, "forged")).await;
    let id = pending["case_id"].as_str().unwrap().to_owned();
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let store = open_store(&data_dir);
    let key = format!("case/{id}");
    let mut case: Value = serde_json::from_slice(&store.get(&key).unwrap().unwrap()).unwrap();
    case["status"] = json!("approved");
    store.set(&key, &serde_json::to_vec(&case).unwrap()).unwrap();
    drop(store);

    let report = verify_stopped(&data_dir);
    let mismatch = report.first_mismatch.expect("the forged record is found");
    assert_eq!((mismatch.seq, mismatch.subject.as_deref()), (1, Some(id.as_str())));
    drop(temp);
}

/// Removing the last entry is caught: the log had been settled past it.
#[tokio::test]
async fn removed_tail_entry_is_named_by_verify() {
    let server = TestServer::start().await;
    reference_cases(&server).await;
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;
    let store = open_store(&data_dir);
    store.delete(&entry_key(6)).unwrap();
    drop(store);
    let report = verify_stopped(&data_dir);
    assert_eq!(report.first_mismatch.map(|mismatch| mismatch.seq), Some(6));
    drop(temp);
}

/// A case record edited in the store (a dual-director case turned into a lead case) is never
/// acted on: the next approval is refused, and verify names the case.
#[tokio::test]
async fn edited_case_record_is_refused_before_any_decision() {
    let server = TestServer::start().await;
    let mut body = refund(2_000_000, "edited");
    body["evidence"] = json!([evidence("attachment")]);
    let id = server.submit(body).await["case_id"].as_str().unwrap().to_owned();
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let store = open_store(&data_dir);
    let key = format!("case/{id}");
    let mut case: Value = serde_json::from_slice(&store.get(&key).unwrap().unwrap()).unwrap();
    case["decision"]["verdict"] = json!({"type": "require_approval", "level": "lead", "approvals_needed": 1});
    store.set(&key, &serde_json::to_vec(&case).unwrap()).unwrap();
    drop(store);

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let (status, answer) = server.post("lead", &format!("/v1/cases/{id}/approve"), json!({"rationale": "ok"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("integrity_check_failed"))
    );
    assert_eq!(server.get("auditor", &format!("/v1/cases/{id}")).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    let report = server.verify().await;
    assert_eq!(
        (report["ok"].as_bool(), report["first_mismatch"]["subject"].as_str()),
        (Some(false), Some(id.as_str()))
    );
    server.stop().await;
    drop(temp);
}

/// A case record forged with no ledger entry of its own is not served.
#[tokio::test]
async fn forged_case_record_is_not_served() {
    let server = TestServer::start().await;
    let real = server.submit(refund(4_000, "real")).await;
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;
    let store = open_store(&data_dir);
    let mut forged = real["case"].clone();
    forged["id"] = json!("LV-777777");
    forged["amount"]["minor_units"] = json!(99_999_999);
    store.set("case/LV-777777", &serde_json::to_vec(&forged).unwrap()).unwrap();
    drop(store);
    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let (status, answer) = server.get("auditor", "/v1/cases/LV-777777").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("integrity_check_failed"))
    );
    server.stop().await;
    drop(temp);
}

/// Verify run while cases are being written never reports a sound ledger as broken.
#[tokio::test]
async fn verify_during_writes_reports_no_false_alarm() {
    let server = TestServer::start().await;
    let writes = async {
        for index in 0..30 {
            server.submit(refund(1_000 + index, &format!("busy-{index}"))).await;
        }
    };
    let checks = async {
        let mut reports = Vec::new();
        for _ in 0..30 {
            reports.push(server.verify().await);
        }
        reports
    };
    let ((), reports) = tokio::join!(writes, checks);
    for report in reports {
        assert_eq!(report["ok"], true, "{report}");
    }
    server.stop().await;
}
