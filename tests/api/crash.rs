//! Crashes: `levee serve` on its embedded store, killed with SIGKILL at random moments under a
//! load of submissions and approvals, twenty times. After each restart every acknowledged case
//! and approval is there and the ledger verifies; a request the crash left without an answer is
//! settled by retrying it (its Idempotency-Key), and makes its case at most once.
//! The seed of the random moments is printed; `LEVEE_CRASH_SEED` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use levee_tests::hosts::{Fleet, fleet_config};
use levee_tests::{Backend, StatusCode, backend, refund, skip_unless};
use serde_json::json;

const CRASHES: usize = 20;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

/// What the clients were told, across crashes.
#[derive(Default)]
struct Told {
    /// Idempotency-Key → the case acknowledged for it.
    cases: BTreeMap<String, String>,
    /// Cases whose approval was acknowledged.
    approved: BTreeSet<String>,
    /// Submissions that got no answer (the host died): their keys.
    in_doubt: BTreeSet<String>,
    /// Cases whose approval got no answer: it may have been applied.
    approvals_in_doubt: BTreeSet<String>,
    /// How many submissions were unanswered in all, and how many of those had made their case
    /// after all.
    in_doubt_total: usize,
    made_after_all: usize,
    requests: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_twenty_times_loses_nothing_acknowledged() {
    if skip_unless(backend() == Backend::Native, "runs on the native backend (the embedded store)") {
        return;
    }
    let seed = std::env::var("LEVEE_CRASH_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    println!("LEVEE_CRASH_SEED={seed}");
    let mut random = XorShift(seed | 1);
    let temp = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::start(1, &fleet_config(None, 30_000), temp.path()).await;
    let told = Mutex::new(Told::default());
    let mut next_key = 0;

    for crash in 0..CRASHES {
        let stop = AtomicBool::new(false);
        let delay = Duration::from_millis(20 + random.next() % 400);
        let pid = fleet.hosts[0].pid();
        let killer = async {
            tokio::time::sleep(delay).await;
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            stop.store(true, Ordering::SeqCst);
        };
        let load = async {
            while !stop.load(Ordering::SeqCst) {
                let keys: Vec<String> = (next_key..next_key + CONCURRENCY).map(|key| format!("crash-{key}")).collect();
                next_key += CONCURRENCY;
                let pending = pending_cases(&told, CONCURRENCY / 2);
                let submissions = futures::future::join_all(keys.iter().map(|key| submit(&fleet, key, &told)));
                let approvals = futures::future::join_all(pending.iter().map(|case| approve(&fleet, case, &told)));
                tokio::join!(submissions, approvals);
            }
        };
        tokio::join!(killer, load);
        fleet.crash_and_restart(0).await;
        settle_in_doubt(&fleet, &told).await;
        check(&fleet, &told, crash).await;
    }

    let told = told.into_inner().unwrap();
    println!(
        "{CRASHES} kill -9 under load: {} requests, {} cases and {} approvals acknowledged, all present after every \
         restart; {} submissions left unanswered, {} of which had made their case (found by their key); the ledger \
         verified each time",
        told.requests,
        told.cases.len(),
        told.approved.len(),
        told.in_doubt_total,
        told.made_after_all
    );
}

/// Up to `count` cases acknowledged but not yet approved, to approve alongside the next
/// submissions.
fn pending_cases(told: &Mutex<Told>, count: usize) -> Vec<String> {
    let told = told.lock().unwrap();
    told.cases.values().filter(|case| !told.approved.contains(*case)).take(count).cloned().collect()
}

async fn submit(fleet: &Fleet, key: &str, told: &Mutex<Told>) {
    let answer = fleet.try_send(0, "agent", "/v1/cases", Some(refund(40_000, key)), Some(key)).await;
    let mut told = told.lock().unwrap();
    told.requests += 1;
    match answer {
        Ok(answer) if answer.status == StatusCode::CREATED => {
            told.cases.insert(key.to_owned(), answer.body["case_id"].as_str().unwrap().to_owned());
        }
        Ok(answer) => panic!("submission {key}: {} {}", answer.status, answer.body),
        Err(_) => {
            told.in_doubt.insert(key.to_owned());
            told.in_doubt_total += 1;
        }
    }
}

async fn approve(fleet: &Fleet, case: &str, told: &Mutex<Told>) {
    let body = json!({"rationale": "carrier scan confirms the late delivery"});
    let answer = fleet.try_send(0, "lead", &format!("/v1/cases/{case}/approve"), Some(body), None).await;
    let mut told = told.lock().unwrap();
    told.requests += 1;
    match answer {
        Ok(answer) if answer.status == StatusCode::OK => {
            told.approved.insert(case.to_owned());
        }
        // An approval the crash left unanswered had been applied after all.
        Ok(answer) if answer.status == StatusCode::CONFLICT && told.approvals_in_doubt.contains(case) => {
            told.approved.insert(case.to_owned());
        }
        Ok(answer) => panic!("approving {case}: {} {}", answer.status, answer.body),
        // No answer: it may or may not have happened; the next try tells.
        Err(_) => {
            told.approvals_in_doubt.insert(case.to_owned());
        }
    }
}

/// Retries every unanswered submission with its key: a case the crash hid is answered again,
/// otherwise it is made now.
async fn settle_in_doubt(fleet: &Fleet, told: &Mutex<Told>) {
    let keys: Vec<String> = std::mem::take(&mut told.lock().unwrap().in_doubt).into_iter().collect();
    for key in keys {
        let answer = fleet.send(0, "agent", "/v1/cases", Some(refund(40_000, &key)), Some(&key)).await;
        assert!(answer.status.is_success(), "retry of {key}: {} {}", answer.status, answer.body);
        let mut told = told.lock().unwrap();
        told.made_after_all += usize::from(answer.replayed);
        told.cases.insert(key, answer.body["case_id"].as_str().unwrap().to_owned());
    }
}

/// Every acknowledged case is there (its own customer, approved if that was acknowledged), no
/// two keys share a case, and the ledger verifies with at least one entry per case.
async fn check(fleet: &Fleet, told: &Mutex<Told>, crash: usize) {
    let (cases, approved) = {
        let told = told.lock().unwrap();
        (told.cases.clone(), told.approved.clone())
    };
    let ids: BTreeSet<String> = cases.values().cloned().collect();
    assert_eq!(ids.len(), cases.len(), "after crash {crash}: two keys share a case");
    let read = fleet.read_cases(&ids).await;
    for (key, id) in &cases {
        assert_eq!(read[id]["customer_ref"], key.as_str(), "after crash {crash}: {id}");
        if approved.contains(id) {
            assert_eq!(read[id]["status"], "approved", "after crash {crash}: {id} lost its approval");
        }
    }
    let per_subject = fleet.verify().await;
    assert!(ids.iter().all(|id| per_subject.contains_key(id)), "after crash {crash}: a case without its entry");
}

/// A small deterministic generator for the crash moments (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
