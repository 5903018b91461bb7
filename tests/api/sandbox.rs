//! Hostile rule plugins are contained: a trap, an endless loop and a memory bomb each fail
//! closed within their budget, the failure is named in the decision and the ledger, and the
//! server keeps answering.

use levee::config::PolicyConfig;
use levee::policy::SandboxMaxima;
use levee_tests::{HOSTILE_WASM_PATH, Options, StatusCode, TestServer, refund, skip_on_spin};
use serde_json::{Value, json};

fn hostile(mode: &str) -> PolicyConfig {
    PolicyConfig {
        name: "hostile".into(),
        path: Some(HOSTILE_WASM_PATH.into()),
        params: Some(json!({"mode": mode})),
        ..PolicyConfig::builtin("hostile")
    }
}

async fn server_with(policy: PolicyConfig) -> TestServer {
    TestServer::start_with(Options { extra_policies: vec![policy], ..Options::default() }).await
}

/// Submits a $40 refund (which the threshold would auto-approve) and returns the hostile
/// policy's failure after checking the case failed closed to director approval.
async fn failure_of(server: &TestServer) -> String {
    let answer = server.submit(refund(4_000, "victim")).await;
    let decision = &answer["decision"];
    assert_eq!(decision["outcome"], "pending_approval", "{answer}");
    assert_eq!(decision["level"], "director");
    assert_eq!(decision["failed_closed"], true);
    let hostile = &decision["policies"][2];
    assert_eq!(hostile["verdict"], "failed");
    let entry = ledger_of(server, &answer).await;
    assert_eq!(entry["payload"]["decision"]["failed_closed"], true, "the ledger records the failure");
    hostile["failure"].as_str().unwrap_or_default().to_owned()
}

async fn ledger_of(server: &TestServer, answer: &Value) -> Value {
    let (_, case) = server.get("auditor", &format!("/v1/cases/{}", answer["case_id"].as_str().unwrap())).await;
    case["ledger"][0].clone()
}

/// A plugin that traps fails closed.
#[tokio::test]
async fn trapping_policy_fails_closed() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("trap")).await;
    let failure = failure_of(&server).await;
    assert!(failure.starts_with("trapped") && failure.contains("unreachable"), "{failure}");
    server.stop().await;
}

/// A plugin that panics fails closed.
#[tokio::test]
async fn panicking_policy_fails_closed() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("panic")).await;
    assert!(failure_of(&server).await.starts_with("trapped"));
    server.stop().await;
}

/// An endless loop runs out of fuel.
#[tokio::test]
async fn looping_policy_runs_out_of_fuel() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(PolicyConfig { fuel: Some(5_000_000), ..hostile("loop") }).await;
    assert_eq!(failure_of(&server).await, "ran out of fuel (limit 5000000)");
    server.stop().await;
}

/// With fuel to spare, an endless loop hits the epoch deadline, and the server keeps answering
/// other requests while it spins.
#[tokio::test]
async fn looping_policy_hits_its_deadline_while_the_server_answers() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let policy = PolicyConfig { fuel: Some(u64::MAX / 2), deadline_ms: Some(1_500), ..hostile("loop") };
    let maxima = SandboxMaxima { fuel: u64::MAX / 2, deadline_ms: 1_500, ..SandboxMaxima::default() };
    let options = Options { extra_policies: vec![policy], sandbox_max: Some(maxima), ..Options::default() };
    let server = TestServer::start_with(options).await;
    let (failure, during) = tokio::join!(failure_of(&server), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let health = server.get_anonymous("/healthz").await.0;
        let taxonomy = server.get("agent", "/v1/taxonomy").await.0;
        (health, taxonomy)
    });
    assert_eq!(failure, "exceeded its deadline of 1500 ms");
    assert_eq!(during, (StatusCode::OK, StatusCode::OK));
    server.stop().await;
}

/// A memory bomb hits the memory cap.
#[tokio::test]
async fn memory_bomb_hits_the_memory_cap() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(PolicyConfig { memory_bytes: Some(8 << 20), ..hostile("grow") }).await;
    assert_eq!(failure_of(&server).await, format!("exceeded its memory cap of {} bytes", 8 << 20));
    server.stop().await;
}

/// A decision the WIT types allow but that makes no sense (0 approvals) is malformed output.
#[tokio::test]
async fn malformed_decision_fails_closed() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("malformed")).await;
    let failure = failure_of(&server).await;
    assert!(failure.starts_with("returned a malformed decision"), "{failure}");
    server.stop().await;
}

/// A plugin that returns an error fails closed too.
#[tokio::test]
async fn erroring_policy_fails_closed() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("error")).await;
    assert_eq!(failure_of(&server).await, "returned an error (internal): hostile error");
    server.stop().await;
}

/// Compiled policies are kept in the data directory by digest and engine settings, and a
/// restart loads them instead of compiling again.
#[tokio::test]
async fn compiled_policies_are_kept_and_reused_across_restarts() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = TestServer::start().await;
    let answer = server.submit(refund(4_000, "cached")).await;
    let digests: Vec<String> = answer["decision"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|policy| policy["digest"].as_str().unwrap().to_owned())
        .collect();
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let cache = data_dir.join(levee::app::COMPILED_CACHE);
    let kept = |digest: &str| -> std::fs::Metadata {
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .filter_map(Result::ok)
            .find(|entry| entry.file_name().to_string_lossy().starts_with(digest))
            .unwrap_or_else(|| panic!("no compiled entry for {digest}"));
        entry.metadata().unwrap()
    };
    let before: Vec<_> = digests.iter().map(|digest| kept(digest).modified().unwrap()).collect();

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    assert_eq!(server.submit(refund(4_000, "cached-again")).await["status"], "auto_approved");
    server.stop().await;
    let after: Vec<_> = digests.iter().map(|digest| kept(digest).modified().unwrap()).collect();
    assert_eq!(before, after, "the restart reused the compiled files instead of rewriting them");
    drop(temp);
}

/// A plugin that imports WASI is served the deterministic subset: the clock reads the case's
/// submission time and an hour's sleep returns at once, an hour later by that clock; there is no
/// environment, argument or preopened directory.
#[tokio::test]
async fn wasi_plugins_see_the_case_not_the_machine() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("probe")).await;
    let answer = server.submit(refund(4_000, "probe")).await;
    let (_, case) = server.get("auditor", &format!("/v1/cases/{}", answer["case_id"].as_str().unwrap())).await;
    let submitted_at = chrono::DateTime::parse_from_rfc3339(case["case"]["submitted_at"].as_str().unwrap()).unwrap();
    let signals: Vec<&str> =
        answer["decision"]["signals"].as_array().unwrap().iter().map(|signal| signal.as_str().unwrap()).collect();
    let wall = format!("wall={}.{:09}", submitted_at.timestamp(), submitted_at.timestamp_subsec_nanos());
    let after_sleep = format!("wall_after_sleep={}", submitted_at.timestamp() + 3600);
    for expected in [wall.as_str(), &after_sleep, "monotonic=3600000000000", "env=0", "args=0", "preopens=0"] {
        assert!(signals.contains(&expected), "{expected} in {signals:?}");
    }
    assert_eq!(answer["status"], "auto_approved", "{answer}");
    server.stop().await;
}

/// What a failing plugin wrote to stderr is quoted in its failure; stdout is discarded.
#[tokio::test]
async fn a_failing_plugin_has_its_stderr_quoted() {
    if skip_on_spin("plugins are deployed with the component on Spin, in no per-plugin sandbox (docs/spin.md)") {
        return;
    }
    let server = server_with(hostile("stderr")).await;
    let failure = failure_of(&server).await;
    assert!(failure.starts_with("trapped") && failure.ends_with("stderr: hostile: about to trap"), "{failure}");
    assert!(!failure.contains("stdout is discarded"), "{failure}");
    server.stop().await;
}
