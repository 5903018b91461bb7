//! Many hosts, one store: three `levee serve` processes on one real redis-server, driven at the
//! same cases at once, and a Redis that dies mid-run. Every acknowledged write must be there
//! afterwards, each case must have made exactly the transitions the API acknowledged, the
//! ledger must verify, and the counters must equal a recount. Runs with
//! `LEVEE_TEST_BACKEND=redis` (scripts/test), which has a redis-server.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use levee::store::RedisConfig;
use levee_tests::hosts::{Answer, Fleet, fleet_config};
use levee_tests::redis_server::RedisServer;
use levee_tests::{StatusCode, case, only_on_redis, refund};
use serde_json::json;

/// Submissions in the race test (in bursts of 16), and how many of them are sent twice at once
/// under one key.
const CASES: usize = 90;
const TWICE_EVERY: usize = 5;
/// Cases raced by three approvers on three hosts; the rest stay pending.
const RACED: usize = 60;

/// Each acknowledged case has exactly `transitions(case)` ledger entries; of the other subjects,
/// the governance jobs of every host opened the LATE_DELIVERY remediation item once, together.
fn assert_ledger_holds(
    per_subject: &BTreeMap<String, u64>,
    cases: &BTreeSet<String>,
    transitions: impl Fn(&str) -> u64,
) {
    for id in cases {
        assert_eq!(per_subject.get(id).copied(), Some(transitions(id)), "ledger entries of {id}");
    }
    let others: Vec<(&String, &u64)> = per_subject.iter().filter(|(subject, _)| !cases.contains(*subject)).collect();
    assert_eq!(others, [(&"RM-LATE_DELIVERY-1".to_owned(), &1)], "subjects besides the cases");
}

/// Three hosts take concurrent submissions (some sent twice at once to two hosts under one
/// Idempotency-Key) and then three approvers, one per host, approve the same cases at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hosts_on_one_redis_lose_nothing_and_answer_lost_races_with_409() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&temp.path().join("redis"));
    // Generous command timeouts: an fsync hiccup on a busy machine must not turn into a 503.
    let store =
        RedisConfig { prefix: "levee:fleet:".into(), command_timeout_ms: 10_000, ..RedisConfig::new(&redis.url()) };
    let fleet = Fleet::start(3, &fleet_config(Some(&store), 200), temp.path()).await;
    let mut requests = 0usize;

    // Submissions: 16 at a time across the hosts; every fifth also sent to the next host at the
    // same moment under the same key.
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut replays = 0usize;
    let submissions: Vec<usize> = (0..CASES).collect();
    for chunk in submissions.chunks(16) {
        let sends = chunk.iter().map(|&index| {
            let fleet = &fleet;
            async move {
                let body = refund(40_000, &format!("fleet-{index}"));
                let key = format!("ticket-{index}");
                if index % TWICE_EVERY == 0 {
                    let (first, second) = tokio::join!(
                        fleet.send(index, "agent", "/v1/cases", Some(body.clone()), Some(&key)),
                        fleet.send(index + 1, "agent", "/v1/cases", Some(body), Some(&key)),
                    );
                    vec![first, second]
                } else {
                    vec![fleet.send(index, "agent", "/v1/cases", Some(body), Some(&key)).await]
                }
            }
        });
        for answers in futures::future::join_all(sends).await {
            requests += answers.len();
            let ids: BTreeSet<String> = answers
                .iter()
                .map(|answer| {
                    assert!(answer.status.is_success(), "a submission failed: {} {}", answer.status, answer.body);
                    answer.body["case_id"].as_str().expect("case_id").to_owned()
                })
                .collect();
            assert_eq!(ids.len(), 1, "one key, two cases: {ids:?}");
            replays += answers.len() - 1;
            acknowledged.extend(ids);
        }
    }
    assert_eq!(acknowledged.len(), CASES, "every submission made exactly one case");

    // The race: lead on host 0, manager on host 1, director on host 2, the same case at once.
    let mut winners: BTreeMap<String, String> = BTreeMap::new();
    let mut conflicts = 0usize;
    let raced: Vec<String> = acknowledged.iter().take(RACED).cloned().collect();
    for chunk in raced.chunks(10) {
        let races = chunk.iter().map(|id| {
            let fleet = &fleet;
            async move {
                let path = format!("/v1/cases/{id}/approve");
                let body = json!({"rationale": "order record checked against the carrier's scan"});
                let (lead, manager, director) = tokio::join!(
                    fleet.send(0, "lead", &path, Some(body.clone()), None),
                    fleet.send(1, "manager", &path, Some(body.clone()), None),
                    fleet.send(2, "director", &path, Some(body), None),
                );
                (id.clone(), [("lead", lead), ("manager", manager), ("director", director)])
            }
        });
        for (id, answers) in futures::future::join_all(races).await {
            requests += answers.len();
            for (role, answer) in answers {
                match answer.status {
                    StatusCode::OK => assert!(winners.insert(id.clone(), role.to_owned()).is_none(), "two won {id}"),
                    StatusCode::CONFLICT => conflicts += 1,
                    other => panic!("{role} approving {id}: {other} {}", answer.body),
                }
            }
            assert!(winners.contains_key(&id), "nobody won {id}");
        }
    }

    // Every acknowledged write is there, the same on every host, with exactly the acknowledged
    // transitions: the winner's approval on the raced cases, nothing on the others.
    let cases = fleet.read_cases(&acknowledged).await;
    let demo_actors = levee_tests::hosts::fleet_tokens();
    for (id, case) in &cases {
        let approvers: Vec<&str> = case["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|approval| approval["approver"].as_str().unwrap())
            .collect();
        match winners.get(id) {
            Some(role) => {
                assert_eq!(approvers, [demo_actors[role].actor.as_str()], "{id}");
                assert_eq!((case["status"].as_str(), case["version"].as_u64()), (Some("approved"), Some(2)), "{id}");
            }
            None => {
                assert!(approvers.is_empty(), "{id}: {approvers:?}");
                assert_eq!(
                    (case["status"].as_str(), case["version"].as_u64()),
                    (Some("pending_approval"), Some(1)),
                    "{id}"
                );
            }
        }
    }
    let per_subject = fleet.verify().await;
    assert_ledger_holds(&per_subject, &acknowledged, |id| if winners.contains_key(id) { 2 } else { 1 });

    // The counters equal a recount: the approval queue holds exactly the pending cases, and the
    // month's folded figures count every case once (each host folds on its own timer).
    let pending: BTreeSet<String> = acknowledged.iter().filter(|id| !winners.contains_key(*id)).cloned().collect();
    for host in 0..3 {
        let queue = fleet.get(host, "director", "/v1/queue").await;
        let queued: BTreeSet<String> =
            queue.as_array().unwrap().iter().map(|item| item["case_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(queued, pending, "host {host}'s queue");
    }
    let month = chrono::Utc::now().format("%Y-%m");
    let summary = fleet.get(1, "director", &format!("/v1/metrics/summary?from={month}&to={month}")).await;
    let card = summary["headline"].as_array().unwrap().iter().find(|card| card["id"] == "cases").unwrap().clone();
    assert_eq!(card["value"], CASES.to_string(), "{summary}");

    println!(
        "three hosts on one Redis: {requests} requests, {} cases ({replays} retries answered with the first case), \
         {} approvals won, {conflicts} lost races answered 409, 0 writes lost",
        acknowledged.len(),
        winners.len()
    );
    assert_eq!(conflicts, 2 * RACED, "each race has one winner and two 409s");
}

/// Redis stalls, then is killed mid-run and started again: requests meanwhile answer 503 with
/// a retry hint and nothing else, the hosts recover without a restart, every acknowledged case is
/// there, and a retry of every failed submission (same Idempotency-Key) makes each case once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_fails_cleanly_and_loses_nothing_acknowledged() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(&temp.path().join("redis"));
    // Commands give up after 2 s (the default), which the stall below outlasts.
    let store = RedisConfig { prefix: "levee:fleet:".into(), ..RedisConfig::new(&redis.url()) };
    let fleet = Fleet::start(2, &fleet_config(Some(&store), 200), temp.path()).await;
    let mut outcome = Outcome::default();
    let mut next = 0;
    let mut round = || {
        next += 8;
        next - 8..next
    };

    for _ in 0..3 {
        outcome.record(submit_round(&fleet, round()).await);
    }
    assert!(outcome.failed.is_empty(), "Redis is up: {:?}", outcome.failed);

    // Slow: Redis stalls for 3 s; commands give up after 2 s (command_timeout_ms). What they
    // sent still runs when the stall ends, so a 503 may hide a write: the retries below settle it.
    let stall = redis.stall(Duration::from_secs(3));
    outcome.record(submit_round(&fleet, round()).await);
    stall.join().expect("the stall ends");
    let slow = outcome.failed.len();
    assert!(slow > 0, "no request noticed the stall");

    // Down: killed as a crash would, for 4 s.
    redis.kill();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        outcome.record(submit_round(&fleet, round()).await);
    }
    let unavailable = outcome.failed.len() - slow;
    assert!(unavailable > 0, "no request saw the outage");

    // Redis returns on the same files: the hosts recover by themselves.
    redis.restart();
    let recovered = Instant::now();
    loop {
        let before = outcome.failed.len();
        outcome.record(submit_round(&fleet, round()).await);
        if outcome.failed.len() == before {
            break;
        }
        assert!(recovered.elapsed() < Duration::from_secs(20), "the hosts did not recover within 20 s");
    }
    let recovery = recovered.elapsed();

    // Every failed submission retried with its key: a case it made after all is answered again,
    // otherwise it is made now; either way, once.
    let retries = outcome.failed.clone();
    let answers = futures::future::join_all(retries.iter().map(|&index| submit(&fleet, index))).await;
    let mut made_after_all = 0;
    for (index, answer) in retries.iter().zip(answers) {
        assert!(answer.status.is_success(), "retry of {index}: {} {}", answer.status, answer.body);
        made_after_all += usize::from(answer.replayed);
        outcome.acknowledged.insert(*index, answer.body["case_id"].as_str().unwrap().to_owned());
    }
    let ids: BTreeSet<String> = outcome.acknowledged.values().cloned().collect();
    assert_eq!(ids.len(), outcome.acknowledged.len(), "two submissions share a case");

    let cases = fleet.read_cases(&ids).await;
    for (index, id) in &outcome.acknowledged {
        assert_eq!(cases[id]["customer_ref"], format!("outage-{index}"), "{id}");
    }
    let per_subject = fleet.verify().await;
    assert_ledger_holds(&per_subject, &ids, |_| 1);
    let entries: u64 = per_subject.values().sum();
    let verified = std::process::Command::new(levee_tests::hosts::levee_binary())
        .args(["audit", "verify", "--store", &redis.url(), "--config"])
        .arg(temp.path().join("levee.toml"))
        .output()
        .expect("levee audit verify runs");
    let printed = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{printed}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(printed.contains(&format!("ledger OK: {entries} entries")), "{printed}");

    println!(
        "Redis stalled, then killed and restarted under load: {} cases acknowledged, {slow} answered 503 during \
         the stall and {unavailable} during the outage (all with Retry-After), recovered {recovery:?} after the \
         restart; of the {} retries with their keys, {made_after_all} found the case their 503 had made after all; \
         0 lost, 0 doubled",
        ids.len(),
        retries.len()
    );
}

/// What a run of submissions was answered.
#[derive(Default)]
struct Outcome {
    /// Submission index → the case acknowledged for it.
    acknowledged: BTreeMap<usize, String>,
    /// Submissions answered 503.
    failed: Vec<usize>,
}

impl Outcome {
    /// Files each answer; anything but 201, or 503 with a retry hint, fails the test.
    fn record(&mut self, answers: Vec<(usize, Answer)>) {
        for (index, answer) in answers {
            match answer.status {
                StatusCode::CREATED => {
                    self.acknowledged.insert(index, answer.body["case_id"].as_str().unwrap().to_owned());
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(answer.body["error"]["code"], "unavailable", "{}", answer.body);
                    assert!(answer.retry_after.is_some(), "a 503 without Retry-After: {}", answer.body);
                    self.failed.push(index);
                }
                other => panic!("submission {index}: {other} {}", answer.body),
            }
        }
    }
}

/// Four eyes across hosts: a chain proposed on one host decides nothing anywhere until a second
/// admin approves it on another; from the next request every host decides with it. A groups
/// proposal approved by the second admin on all three hosts at once is approved once (one 200,
/// two 409s), and every host routes by the group at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_control_change_approved_on_one_host_is_in_force_on_every_host() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&temp.path().join("redis"));
    let store =
        RedisConfig { prefix: "levee:four-eyes:".into(), command_timeout_ms: 10_000, ..RedisConfig::new(&redis.url()) };
    let fleet = Fleet::start(3, &fleet_config(Some(&store), 200), temp.path()).await;
    let status_on = async |host: usize, label: &str, amount: i64| {
        let answer = fleet.send(host, "agent", "/v1/cases", Some(refund(amount, label)), None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    };

    let mut matrix = levee_core::matrix::ApprovalMatrix::default_matrix();
    for ladder in matrix.ladders.values_mut() {
        ladder.auto_approve_up_to = 0;
    }
    let chain = json!({"links": [{"name": "threshold", "params": matrix.to_params()}, {"name": "routing"}], "rationale": "CR-80"});
    let proposal = fleet.send(0, "admin", "/v1/policies/chain", Some(chain), None).await;
    assert_eq!(proposal.status, StatusCode::ACCEPTED, "{}", proposal.body);
    for host in 0..3 {
        assert_eq!(status_on(host, &format!("proposed-{host}"), 4_000).await["status"], "auto_approved", "host {host}");
    }
    let review = json!({"rationale": "backtest reviewed"});
    let approved = fleet.send(1, "admin2", "/v1/policies/proposals/1/approve", Some(review.clone()), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    for host in 0..3 {
        let decided = status_on(host, &format!("approved-{host}"), 4_000).await;
        assert_eq!(decided["status"], "pending_approval", "host {host} decides with the approved chain: {decided}");
    }

    let pair = json!({"control": "approval_groups", "approval_groups": [
        {"name": "lead-pair", "level": "lead", "members": ["lee.lead", "morgan.manager"], "approvals": 2}]});
    let proposal = fleet
        .send(2, "admin", "/v1/controls/proposals", Some(json!({"change": pair, "rationale": "CR-81"})), None)
        .await;
    assert_eq!(proposal.status, StatusCode::ACCEPTED, "{}", proposal.body);
    let approvals =
        (0..3).map(|host| fleet.send(host, "admin2", "/v1/controls/proposals/1/approve", Some(review.clone()), None));
    let statuses: Vec<StatusCode> =
        futures::future::join_all(approvals).await.into_iter().map(|answer| answer.status).collect();
    assert_eq!(statuses.iter().filter(|status| **status == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|status| **status == StatusCode::CONFLICT).count(), 2, "{statuses:?}");
    for host in 0..3 {
        let grouped = status_on(host, &format!("grouped-{host}"), 40_000).await;
        assert_eq!(grouped["case"]["approver_group"]["name"], "lead-pair", "host {host}: {grouped}");
    }

    // A new code: every host has just read the taxonomy for its submissions (and keeps it
    // decoded while its record is unchanged); once the second admin approves on host 1, every
    // host takes cases under the code and routes them by it.
    let code = json!({"code": "SUBSCRIPTION_DOUBLE_BILLED", "category": "billing",
        "description": "A subscription renewed twice in one period.", "owner": "subscriptions",
        "queue": "subscriptions-approvals", "sla_minutes": 90,
        "playbook": "Find the renewal job run that double-billed; fix its idempotency; link the change.",
        "remediation": {"count": 5, "window_days": 7, "sla_hours": 72, "verify_drop_percent": 50}});
    let proposal =
        fleet.send(0, "admin", "/v1/taxonomy/codes", Some(json!({"code": code, "rationale": "CR-82"})), None).await;
    assert_eq!(proposal.status, StatusCode::ACCEPTED, "{}", proposal.body);
    let number = proposal.body["number"].as_u64().expect("a proposal's number");
    let approved =
        fleet.send(1, "admin2", &format!("/v1/controls/proposals/{number}/approve"), Some(review.clone()), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    for host in 0..3 {
        let body = case("refund", 4_000, "USD", &format!("coded-{host}"), "SUBSCRIPTION_DOUBLE_BILLED");
        let answer = fleet.send(host, "agent", "/v1/cases", Some(body), None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "host {host}: {}", answer.body);
        assert_eq!(answer.body["decision"]["queue"], "subscriptions-approvals", "host {host}: {}", answer.body);
        assert!(answer.body["case"]["taxonomy_version"].as_str().is_some_and(|version| version.ends_with(".r1")));
    }
    let per_subject = fleet.verify().await;
    assert_eq!(per_subject.get("controls"), Some(&4), "two proposals, each approved once: {per_subject:?}");
    assert_eq!(per_subject.get("taxonomy"), Some(&1), "the code added once: {per_subject:?}");
    assert_eq!(per_subject.get("policy-registry"), Some(&2), "proposed, activated once: {per_subject:?}");
}

/// Submission `index`: its own customer, its own Idempotency-Key, on host `index`.
async fn submit(fleet: &Fleet, index: usize) -> Answer {
    let body = refund(2_000, &format!("outage-{index}"));
    fleet.send(index, "agent", "/v1/cases", Some(body), Some(&format!("outage-{index}"))).await
}

/// Submissions `range`, all at once.
async fn submit_round(fleet: &Fleet, range: std::ops::Range<usize>) -> Vec<(usize, Answer)> {
    futures::future::join_all(range.map(|index| async move { (index, submit(fleet, index).await) })).await
}
