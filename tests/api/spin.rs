//! What only the Spin application has, under a real `spin up`: each rule plugin runs in a
//! component of its own, so one that traps, runs out of memory or does not answer fails the
//! case closed and the case is recorded, as natively; plugins are named by the hash of their
//! bytes; and the schedule runs when a scheduler calls. These run on the Spin backends only
//! (`LEVEE_TEST_BACKEND=spin` or `spin-redis`).

use levee::config::PolicyConfig;
use levee::policy::builtin::KV_SNOOPER_WASM_PATH;
use levee_tests::{Backend, HOSTILE_WASM_PATH, Options, StatusCode, TestServer, backend, crowd, only_on_spin, refund};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The hostile test plugin as a component named `name`, misbehaving as `mode` says.
fn hostile(name: &str, mode: &str) -> PolicyConfig {
    PolicyConfig {
        params: Some(json!({ "mode": mode })),
        path: Some(HOSTILE_WASM_PATH.into()),
        ..PolicyConfig::builtin(name)
    }
}

fn policy<'a>(answer: &'a Value, name: &str) -> &'a Value {
    let policies = answer["decision"]["policies"].as_array().expect("the decision names its policies");
    policies.iter().find(|policy| policy["name"] == name).unwrap_or_else(|| panic!("no policy {name}: {answer}"))
}

fn sha256_of_file(path: &str) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("the plugin's file")))
}

/// Three plugins that fail, each in its own component: one traps, one allocates past Spin's
/// per-instance memory cap, one loops without end. The submission still answers 201, the case
/// is recorded failed closed and waits for a director, each failure is named, and the other
/// plugins' decisions stand. Each plugin is named by the SHA-256 of its file. The looping plugin
/// is stopped by its metered fuel (Spin itself would let it run), so no worker thread is left
/// busy: Spin's processes go quiet soon after the case is answered.
#[tokio::test]
async fn a_failing_plugin_fails_closed_and_its_case_is_recorded() {
    if only_on_spin() {
        return;
    }
    let extra_policies = vec![hostile("trap", "trap"), hostile("grow", "grow"), hostile("stall", "loop")];
    let server = TestServer::start_with(Options { extra_policies, ..Options::default() }).await;
    let (status, answer) = server.post("agent", "/v1/cases", refund(4_000, "hostile")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["status"], "pending_approval", "{answer}");
    assert_eq!(answer["decision"]["level"], "director", "a failed policy fails closed to a director: {answer}");
    assert_eq!(answer["decision"]["failed_closed"], true, "{answer}");

    let trap = policy(&answer, "trap")["failure"].to_string();
    assert!(trap.contains("trap") && trap.contains("500"), "the trap is named: {trap}");
    let grow = policy(&answer, "grow")["failure"].to_string();
    assert!(grow.contains("trap") || grow.contains("memory"), "the memory exhaustion is named: {grow}");
    let stall = policy(&answer, "stall")["failure"].to_string();
    assert!(
        stall.contains("trap") && stall.contains("500"),
        "the looping plugin traps when its fuel is spent: {stall}"
    );
    // A runner levee stopped waiting for (its deadline passed on a busy machine) runs on until
    // its fuel is spent, which is bounded: within five windows of 2 s, one is quiet. A plugin
    // left running without end would keep every window busy.
    let mut windows = Vec::new();
    for _ in 0..5 {
        let before = server.spin_cpu_time().expect("Spin's processes");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        windows.push(server.spin_cpu_time().expect("Spin's processes") - before);
        if windows.last().is_some_and(|busy| *busy < std::time::Duration::from_secs(1)) {
            break;
        }
    }
    assert!(
        windows.last().is_some_and(|busy| *busy < std::time::Duration::from_secs(1)),
        "no plugin instance is left running: {windows:?} of CPU in successive 2 s windows"
    );

    assert_eq!(policy(&answer, "threshold")["verdict"], "auto_approve", "{answer}");
    assert_eq!(policy(&answer, "trap")["digest"], sha256_of_file(HOSTILE_WASM_PATH));
    assert_eq!(policy(&answer, "threshold")["digest"], sha256_of_file(&built("levee_threshold.wasm")));

    let case_id = answer["case_id"].as_str().expect("a case id");
    let (status, case) = server.get("auditor", &format!("/v1/cases/{case_id}")).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["case"]["status"], "pending_approval");
    assert_eq!(server.ledger_len().await, 1, "the case is in the ledger once");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// A plugin is named by the SHA-256 of the file deployed now, not by a digest levee kept: levee
/// keeps what each runner said of its file (digest and the file's fingerprint) so that the
/// runner need not hash it on every call, and a runner trusts that only while its file has that
/// fingerprint. A second case is named as the first; after a redeployment (a new `spin up` copies
/// the application's files anew) over a store that still holds a wrong digest for the old file,
/// the case is named by the file's real digest and the kept record is corrected.
#[tokio::test]
async fn a_plugin_is_named_by_the_file_deployed_now() {
    if only_on_spin() {
        return;
    }
    const KEPT: &str = "spin/plugin-file/threshold";
    let real = sha256_of_file(&built("levee_threshold.wasm"));
    let temp = tempfile::tempdir().expect("a data directory");
    let data_dir = temp.path().join("data");
    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    for customer in ["first", "second"] {
        let (status, answer) = server.post("agent", "/v1/cases", refund(4_000, customer)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(policy(&answer, "threshold")["digest"], real, "{customer} case: {answer}");
    }
    server.stop().await;

    let store = levee_tests::open_store(&data_dir);
    let kept: Value = serde_json::from_slice(&store.get(KEPT).expect("read").expect("levee kept the file's digest"))
        .expect("the kept record is JSON");
    assert_eq!(kept["digest"], real, "{kept}");
    let stale = json!({ "fingerprint": kept["fingerprint"], "digest": "0".repeat(64) });
    store.set(KEPT, &serde_json::to_vec(&stale).expect("JSON")).expect("write");
    drop(store);

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let (status, answer) = server.post("agent", "/v1/cases", refund(4_000, "after")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(policy(&answer, "threshold")["digest"], real, "named by the redeployed file: {answer}");
    server.stop().await;
    let store = levee_tests::open_store(&data_dir);
    let kept: Value = serde_json::from_slice(&store.get(KEPT).expect("read").expect("kept")).expect("JSON");
    assert_eq!(kept["digest"], real, "the kept record names the file deployed now: {kept}");
    assert_ne!(kept["fingerprint"], stale["fingerprint"], "a redeployed file has a new fingerprint: {kept}");
}

/// A plugin file levee's build made, beside the hostile one.
fn built(file: &str) -> String {
    std::path::Path::new(HOSTILE_WASM_PATH).with_file_name(file).display().to_string()
}

/// The schedule runs when a scheduler calls `POST /v1/jobs/run`: admins only, POST only, and
/// the answer says what it did.
#[tokio::test]
async fn the_schedule_runs_on_an_admins_call() {
    if only_on_spin() {
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(server.spin_jobs_runs(), Some(1), "the scheduler's first call answered 200");
    server.submit(refund(4_000, "scheduled")).await;
    assert_eq!(server.get_anonymous("/v1/jobs/run").await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(server.post("lead", "/v1/jobs/run", Value::Null).await.0, StatusCode::FORBIDDEN);
    let (status, run) = server.post("admin", "/v1/jobs/run", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert!(run["governance"]["escalated"].is_array() && run["deliveries"].is_array(), "{run}");
    assert_eq!(run["governance"]["metrics_folded"], 1, "the submission is folded into the metrics: {run}");
    let (_, again) = server.post("admin", "/v1/jobs/run", Value::Null).await;
    assert_eq!(again["governance"]["metrics_folded"], 0, "a second run has nothing left to fold: {again}");
    server.stop().await;
}

/// Many Spin hosts on one Redis: three `spin up` processes of the same application share one
/// store (the same prefix), sixteen clients spread over them submit and approve at once, and
/// every acknowledged write is in the ledger exactly once, its chain verified. On Spin's local
/// SQLite store there is one host per database file, so this runs with `spin-redis` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_spin_hosts_on_one_redis_lose_and_double_nothing() {
    if levee_tests::skip_unless(backend() == Backend::SpinRedis, "three Spin hosts share a store only on Redis") {
        return;
    }
    let shared = tempfile::tempdir().expect("a data directory");
    let data_dir = shared.path().join("data");
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(std::sync::Arc::new(TestServer::start_in(&data_dir, &Options::default()).await));
    }
    let acknowledged = crowd::submit_and_approve(&hosts, 16, 6).await;
    let entries = crowd::check_exactly_once(&hosts[0], &acknowledged).await;
    println!("three hosts: {}; the ledger holds {entries} entries", crowd::summary(&acknowledged, 16));
    for host in hosts {
        match std::sync::Arc::try_unwrap(host) {
            Ok(host) => host.stop().await,
            Err(_) => panic!("the clients still hold a host"),
        };
    }
}

/// `kill -9` of `spin up` under load, then `spin up` again over the same store: every
/// submission that was answered 201 is there, once, and the ledger verifies. Submissions in
/// flight at the kill may or may not have landed (their clients heard nothing), but no more of
/// them than there were clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    if only_on_spin() {
        return;
    }
    const CLIENTS: usize = 8;
    let temp = tempfile::tempdir().expect("a data directory");
    let data_dir = temp.path().join("data");
    let server = std::sync::Arc::new(TestServer::start_in(&data_dir, &Options::default()).await);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (server, acknowledged) = (server.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for round in 0.. {
                    let request = reqwest::Client::new()
                        .post(format!("{}/v1/cases", server.base_url))
                        .bearer_auth(server.token("agent"))
                        .json(&refund(4_000, &format!("crash-{client}-{round}")));
                    let Ok(response) = request.send().await else { return };
                    if response.status() != StatusCode::CREATED {
                        continue;
                    }
                    let Ok(answer) = response.json::<Value>().await else { return };
                    let id = answer["case_id"].as_str().expect("a case id").to_owned();
                    acknowledged.lock().expect("the list").push(id);
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // The whole process group: `spin up` and the trigger process it runs.
    let group = format!("-{}", server.spin_pid().expect("a spin up process"));
    let killed = std::process::Command::new("kill").args(["-9", "--", &group]).status().expect("kill runs");
    assert!(killed.success(), "kill -9 -- {group}");
    futures::future::join_all(clients).await;
    match std::sync::Arc::try_unwrap(server) {
        Ok(server) => drop(server.stop().await),
        Err(_) => panic!("the clients still hold the server"),
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().expect("the list"));
    assert!(acknowledged.len() > 10, "the load ran before the kill: {} acknowledged", acknowledged.len());

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    for id in &acknowledged {
        let (status, view) = server.get("auditor", &format!("/v1/cases/{id}")).await;
        assert_eq!(status, StatusCode::OK, "acknowledged case {id} survived the crash: {view}");
        assert_eq!(view["case"]["ledger_seqs"].as_array().map(Vec::len), Some(1), "{id} once: {view}");
    }
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    // levee's own entries (the schedule opening a remediation item, say) are not submissions.
    let ledger = crowd::ledger_entries(&server).await;
    let entries = ledger.iter().filter(|entry| entry["role"] != "system").count();
    assert!(
        (acknowledged.len()..=acknowledged.len() + CLIENTS).contains(&entries),
        "{} acknowledged, {entries} in the ledger: at most one unanswered submission per client may have landed",
        acknowledged.len()
    );
    println!("kill -9 under load: {} acknowledged, {entries} in the ledger after the restart", acknowledged.len());
    server.stop().await;
}

/// A plugin reaches no store: one that tries to read the ledger's head from Spin's key-value
/// store is refused by Spin (its component is granted no store), so its case fails closed with
/// the refusal named, and nothing of it is in levee's store.
#[tokio::test]
async fn a_plugin_cannot_reach_a_store() {
    if only_on_spin() {
        return;
    }
    let snooper = PolicyConfig { path: Some(KV_SNOOPER_WASM_PATH.into()), ..PolicyConfig::builtin("snooper") };
    let server = TestServer::start_with(Options { extra_policies: vec![snooper], ..Options::default() }).await;
    let answer = server.submit(refund(4_000, "snooped")).await;
    assert_eq!(answer["decision"]["level"], "director", "a failed policy fails closed: {answer}");
    let failure = policy(&answer, "snooper")["failure"].to_string();
    assert!(failure.contains("the key-value store refused") && failure.contains("AccessDenied"), "{failure}");
    assert_eq!(server.ledger_len().await, 1);
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
