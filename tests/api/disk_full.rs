//! A disk that refuses writes: `levee serve` on its embedded store, with SIGXFSZ ignored (as a
//! shell's `trap` leaves it) and then a limit on the size of the files it writes, set on the
//! running process with prlimit at the store file's size. Once the store must grow, its writes
//! fail with EFBIG: real failed write(2)s, as on a full disk. Every submission is answered, 201
//! or 503 with `Retry-After` and a JSON error; reads go on; every acknowledged case is there as
//! acknowledged, no refused one is, and the ledger verifies. With the limit lifted the same process
//! takes submissions again, and after a restart on the same directory everything acknowledged is
//! there and `levee audit verify` passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use levee_tests::hosts::{Fleet, Host, fleet_config, levee_binary};
use levee_tests::{Backend, StatusCode, backend, refund, skip_unless};
use serde_json::Value;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// How many bursts with refusals make the point. The client waits out each `Retry-After`, so
/// that levee tries the disk again (and reopens its store again) for most of them.
const REFUSED_BURSTS: usize = 4;
/// Submissions before the store must stop growing: far more than the file's slack.
const MOST_SUBMISSIONS: usize = 4_000;
/// What every 503 asks a client to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Submissions that must all succeed once the disk takes writes again.
const AFTER_RECOVERY: usize = 2 * CONCURRENCY;
/// levee under a shell that ignores SIGXFSZ, so that a write past the limit fails with EFBIG
/// instead of killing the process (an ignored signal stays ignored through exec).
const XFSZ_IGNORED: &str = r#"trap '' XFSZ; exec "$@""#;

/// What the clients were told.
#[derive(Default)]
struct Told {
    /// Idempotency-Key → the case acknowledged for it, as acknowledged.
    cases: BTreeMap<String, Value>,
    /// Keys of submissions answered 503.
    refused: Vec<String>,
    /// The first refusal's body.
    refusal: Option<Value>,
}

/// Writes past the disk's limit are 503s that leave nothing half-written, reads go on, and the
/// same process writes again once the limit is lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_cleanly_and_levee_recovers_without_a_restart() {
    if skip_unless(backend() == Backend::Native, "runs on the native backend (the embedded store)") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::start(0, &fleet_config(None, 30_000), temp.path()).await;
    let (config, data) = (temp.path().join("levee.toml"), fleet.data_dir(0));
    fleet.hosts.push(Host::start_in_shell(XFSZ_IGNORED, &config, &data).await);
    let pid = fleet.hosts[0].pid();
    let mut told = Told::default();
    let mut next_key = 0;

    submit_burst(&fleet, &mut told, &mut next_key).await;
    assert!(told.refused.is_empty(), "refused before any limit: {:?}", told.refusal);
    let store_file = levee::store::redb_path(&data);
    limit_file_size(pid, Some(std::fs::metadata(&store_file).unwrap().len()));
    let mut refused_bursts = 0;
    while refused_bursts < REFUSED_BURSTS {
        assert!(next_key < MOST_SUBMISSIONS, "{next_key} submissions and the store never stopped growing");
        let refused = told.refused.len();
        submit_burst(&fleet, &mut told, &mut next_key).await;
        if told.refused.len() > refused {
            refused_bursts += 1;
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
    let acknowledged_while_full = told.cases.len();
    let refusal = told.refusal.as_ref().map(|body| body["error"].clone()).unwrap_or_default();

    // Full: reads go on, and nothing refused is half there.
    assert_eq!(fleet.get(0, "auditor", "/healthz").await["status"], "ok");
    check_nothing_half_written(&fleet, &told).await;

    // The limit lifted: the same process writes again.
    limit_file_size(pid, None);
    let waits = submit_until_accepted(&fleet, &mut told, &mut next_key).await;
    let refused_before = told.refused.len();
    for _ in 0..AFTER_RECOVERY / CONCURRENCY {
        submit_burst(&fleet, &mut told, &mut next_key).await;
    }
    assert_eq!(told.refused.len(), refused_before, "refused after recovery: {:?}", told.refusal);
    let retried = retry_refused(&fleet, &mut told).await;
    check_nothing_half_written(&fleet, &told).await;

    // A restart on the same directory: everything acknowledged, and the ledger verifies offline.
    fleet.hosts[0].stop().await;
    let reopens = logged_reopens(&data);
    audit_verify_offline(&data);
    fleet.hosts[0] = Host::start(&config, &data).await;
    check_nothing_half_written(&fleet, &told).await;

    println!(
        "store file limited to its size: {acknowledged_while_full} submissions acknowledged in all, then \
         {REFUSED_BURSTS} bursts with refusals ({retried} refused in all, each 503 with Retry-After: 1, e.g. \
         {refusal}); healthz, every acknowledged case and the ledger's verification answered meanwhile; the store \
         was reopened {reopens} time(s), the log naming the cause; with the limit lifted, {waits} answer(s) of 503 \
         before the first acceptance, then {AFTER_RECOVERY} of {AFTER_RECOVERY} accepted; each refused \
         submission, retried with its key, made its case (none had been made); {} cases after a restart, \
         `levee audit verify` OK",
        told.cases.len()
    );
}

/// `CONCURRENCY` submissions at once, each for a customer of its own (its key): each is 201, or
/// 503 with `Retry-After` and the store's error, never anything else or no answer.
async fn submit_burst(fleet: &Fleet, told: &mut Told, next_key: &mut usize) {
    let keys: Vec<String> = (*next_key..*next_key + CONCURRENCY).map(|key| format!("disk-{key}")).collect();
    *next_key += CONCURRENCY;
    let answers = futures::future::join_all(keys.iter().map(|key| submit(fleet, key))).await;
    for (key, answer) in keys.into_iter().zip(answers) {
        match answer {
            Ok(case) => {
                told.cases.insert(key, case);
            }
            Err(refusal) => {
                told.refusal.get_or_insert(refusal);
                told.refused.push(key);
            }
        }
    }
}

/// One submission under its key: the case acknowledged, or the body of a clean refusal.
async fn submit(fleet: &Fleet, key: &str) -> Result<Value, Value> {
    let answer = fleet.send(0, "agent", "/v1/cases", Some(refund(4_000, key)), Some(key)).await;
    match answer.status {
        StatusCode::CREATED => {
            assert!(!answer.replayed, "{key} replayed a case no earlier attempt was told of");
            Ok(answer.body["case"].clone())
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            assert_eq!(answer.retry_after.as_deref(), Some("1"), "{key}: 503 without Retry-After");
            assert_eq!(answer.body["error"]["code"], "unavailable", "{key}: {}", answer.body);
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("could not write to disk"), "{key}: the refusal names the cause: {message}");
            Err(answer.body)
        }
        status => panic!("{key}: {status} {}", answer.body),
    }
}

/// Submits fresh cases until one is accepted, waiting out each 503's `Retry-After`: how many
/// 503s came first.
async fn submit_until_accepted(fleet: &Fleet, told: &mut Told, next_key: &mut usize) -> usize {
    for waits in 0..30 {
        let key = format!("disk-{next_key}");
        *next_key += 1;
        match submit(fleet, &key).await {
            Ok(case) => {
                told.cases.insert(key, case);
                return waits;
            }
            Err(_) => {
                told.refused.push(key);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
    panic!("the limit is lifted, and submissions are still refused after 30 tries");
}

/// Retries every refused submission with its key: none had made its case (a replay would say
/// so), so each makes it now. Returns how many.
async fn retry_refused(fleet: &Fleet, told: &mut Told) -> usize {
    let keys = std::mem::take(&mut told.refused);
    for key in &keys {
        let case = submit(fleet, key).await.unwrap_or_else(|refusal| panic!("retry of {key}: {refusal}"));
        told.cases.insert(key.clone(), case);
    }
    keys.len()
}

/// Every acknowledged case reads as it was acknowledged; the ledger holds exactly one entry for
/// each and no case besides, and verifies.
async fn check_nothing_half_written(fleet: &Fleet, told: &Told) {
    let ids: BTreeSet<String> = told.cases.values().map(|case| case["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), told.cases.len(), "two submissions share a case");
    let read = fleet.read_cases(&ids).await;
    for (key, case) in &told.cases {
        let id = case["id"].as_str().unwrap();
        assert_eq!(&read[id], case, "{key}: {id} reads otherwise than it was acknowledged");
    }
    let per_subject = fleet.verify().await;
    let cases: BTreeMap<&String, &u64> = per_subject.iter().filter(|(subject, _)| subject.starts_with("LV-")).collect();
    assert_eq!(cases.keys().copied().cloned().collect::<BTreeSet<_>>(), ids, "the cases in the ledger");
    assert!(cases.values().all(|&&entries| entries == 1), "one entry per case: {cases:?}");
}

/// How many times the host's log says the store was reopened after a failed write: at least
/// once, and its failures say so. (Their cause is `File too large` when the write that failed
/// reported it; redb sometimes meets the error inside an operation that does not, and then
/// reports only that an earlier write failed.)
fn logged_reopens(data: &Path) -> usize {
    let log = std::fs::read_to_string(data.with_extension("log")).expect("the host's log");
    assert!(log.contains("the store could not write to disk: "), "{log}");
    let reopens = log.matches("reopened it at its last durable commit").count();
    assert!(reopens > 0, "{log}");
    reopens
}

/// `levee audit verify` on the stopped server's directory passes.
fn audit_verify_offline(data: &Path) {
    let verified = std::process::Command::new(levee_binary())
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .expect("levee audit verify runs");
    let printed = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{printed}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(printed.contains("ledger OK"), "{printed}");
}

/// Sets the (soft) limit on the size of a file process `pid` writes (`None`: none), with
/// util-linux's prlimit. The hard limit stays, so lifting it needs no privilege.
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let limit = bytes.map_or_else(|| "unlimited".to_owned(), |bytes| bytes.to_string());
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}:")])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success(), "prlimit --pid {pid} --fsize={limit}:");
}
