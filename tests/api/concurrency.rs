//! Concurrent writers: compare-and-swap on the ledger means a lost race is a 409, never a lost
//! or doubled write.

use levee_tests::{StatusCode, TestServer, crowd, refund};
use serde_json::json;

/// Two approvers approve the same single-approval case at once: exactly one wins.
#[tokio::test]
async fn two_concurrent_approvals_exactly_one_wins() {
    let server = TestServer::start().await;
    for round in 0..5 {
        let answer = server.submit(refund(40_000, &format!("race-{round}"))).await;
        let path = format!("/v1/cases/{}/approve", answer["case_id"].as_str().unwrap());
        let body = json!({"rationale": "looks right"});
        let (first, second) =
            tokio::join!(server.post("lead", &path, body.clone()), server.post("manager", &path, body));
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "round {round}: {first:?} {second:?}");
        let case = server.get("auditor", &format!("/v1/cases/{}", answer["case_id"].as_str().unwrap())).await.1;
        assert_eq!(case["case"]["approvals"].as_array().unwrap().len(), 1);
    }
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// An approval based on a version the case has moved past loses with 409.
#[tokio::test]
async fn stale_expected_version_loses() {
    let server = TestServer::start().await;
    let answer = server.submit(refund(40_000, "stale")).await;
    let id = answer["case_id"].as_str().unwrap();
    let (status, _) =
        server.post("agent", &format!("/v1/cases/{id}/evidence"), levee_tests::evidence("order_record")).await;
    assert_eq!(status, StatusCode::OK);
    let stale = json!({"rationale": "fine", "expected_version": 1});
    let (status, error) = server.post("lead", &format!("/v1/cases/{id}/approve"), stale).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{error}");
    server.stop().await;
}

/// A burst of concurrent submissions: every one is acknowledged once, with its own id and entry.
#[tokio::test]
async fn concurrent_submissions_are_all_recorded_once() {
    let server = TestServer::start().await;
    let submissions =
        (0..24).map(|index| server.post("agent", "/v1/cases", refund(1_000 + index, &format!("burst-{index}"))));
    let answers = futures::future::join_all(submissions).await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|(status, answer)| {
            assert_eq!(*status, StatusCode::CREATED, "{answer}");
            answer["case_id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24);
    let report = server.verify().await;
    assert_eq!((report["ok"].as_bool(), report["entries_checked"].as_u64()), (Some(true), Some(24)), "{report}");
    server.stop().await;
}

/// A retried submission with the same Idempotency-Key returns the first case; the same key
/// with a different request is refused; nothing is recorded twice.
#[tokio::test]
async fn idempotency_key_makes_retries_safe() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let send = |body: serde_json::Value| {
        client
            .post(format!("{}/v1/cases", server.base_url))
            .bearer_auth(server.token("agent"))
            .header("Idempotency-Key", "ticket-4411 refund")
            .json(&body)
            .send()
    };
    let first = send(refund(40_000, "idem")).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send(refund(40_000, "idem")).await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|value| value.as_bytes()), Some(&b"true"[..]));
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["case_id"], first["case_id"]);
    let different = send(refund(50_000, "idem")).await.unwrap();
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.ledger_len().await, 1);
    server.stop().await;
}

/// Many clients at once, submitting and approving, on whichever backend runs the suite: every
/// acknowledged write is in the ledger exactly once (`levee_tests::crowd`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_submitting_and_approving_lose_and_double_nothing() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let acknowledged = crowd::submit_and_approve(std::slice::from_ref(&server), 16, 6).await;
    let entries = crowd::check_exactly_once(&server, &acknowledged).await;
    println!("{}; the ledger holds {entries} entries", crowd::summary(&acknowledged, 16));
    match std::sync::Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("the clients still hold the server"),
    };
}
