//! The `levee` binary as a user runs it: `serve --demo` answers over HTTP and shuts down on
//! SIGTERM, and `audit verify` exits 0 on a sound ledger and 1, naming the entry, on a broken one.

mod checkpoint;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use levee::store::{RedbStore, redb_path};
use levee_core::ledger_store::entry_key;
use levee_core::store::Store;
use serde_json::{Value, json};

const LEVEE: &str = env!("CARGO_BIN_EXE_levee");

/// A `levee serve` process that is killed if the test fails before stopping it (a leftover
/// server would hold the test's output open and keep cargo waiting).
struct ServerProcess(Option<Child>);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `levee serve --demo --no-seed` (an empty ledger, without the seeded demo story) on a
/// free port; returns the process and its base URL.
fn serve_demo(data: &Path) -> (ServerProcess, String) {
    let mut child = Command::new(LEVEE)
        .args(["serve", "--demo", "--no-seed", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("levee starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("levee listening on "))
        .expect("levee says where it listens");
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (ServerProcess(Some(child)), line.trim_start_matches("levee listening on ").to_owned())
}

fn audit_verify(data: &Path) -> (Option<i32>, String) {
    let output = Command::new(LEVEE).args(["audit", "verify", "--data"]).arg(data).output().expect("levee runs");
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn terminate(mut server: ServerProcess) {
    let Some(mut child) = server.0.take() else { return };
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("levee exits");
    assert!(exit.success(), "levee exits cleanly on SIGTERM: {exit}");
}

/// The README's run command serves the demo; the offline verifier checks what it wrote.
#[tokio::test]
async fn serve_demo_then_audit_verify_offline() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("levee-data");
    let (child, base) = serve_demo(&data);
    let tokens: Value = serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let roles: Vec<&str> = tokens.as_object().unwrap().keys().map(String::as_str).collect();
    for role in ["agent", "lead", "manager", "finance", "director", "auditor", "admin"] {
        assert!(roles.contains(&role), "demo token for {role}");
    }
    let client = levee::http_client();
    let body = json!({"kind": "refund", "amount": {"minor_units": 4000, "currency": "USD"}, "customer_ref": "cus_1",
                      "exception_code": "LATE_DELIVERY", "rationale": "late"});
    for _ in 0..2 {
        let response = client
            .post(format!("{base}/v1/cases"))
            .bearer_auth(tokens["agent"].as_str().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    terminate(child);

    let (code, report) = audit_verify(&data);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.starts_with("ledger OK: 2 entries"), "{report}");

    let store = RedbStore::open(&redb_path(&data)).unwrap();
    let mut slot: Value = serde_json::from_slice(&store.get(&entry_key(2)).unwrap().unwrap()).unwrap();
    slot["entry"]["actor"] = json!("mallory");
    store.set(&entry_key(2), &serde_json::to_vec(&slot).unwrap()).unwrap();
    drop(store);
    let (code, report) = audit_verify(&data);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.starts_with("ledger BROKEN at entry 2"), "{report}");
}

/// Without tokens or --demo, serve refuses to start and says why.
#[test]
fn serve_without_tokens_refuses_to_start() {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(LEVEE)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(temp.path())
        .output()
        .expect("levee runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no bearer tokens are configured"));
}

/// A redb cache of nothing is refused at start-up, naming the setting, and the store is not made.
#[test]
fn serve_refuses_a_redb_cache_of_zero() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("levee.toml"), "store = { type = \"redb\", cache_mib = 0 }\n").unwrap();
    let data = temp.path().join("data");
    let mut child = Command::new(LEVEE)
        .args(["serve", "--demo", "--config", "levee.toml", "--listen", "127.0.0.1:0", "--data", "data"])
        .current_dir(temp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("levee runs");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("levee serve started with a redb cache of 0 MiB");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("store.cache_mib is 0"), "{text}");
    assert!(!redb_path(&data).exists(), "no store file is made");
}

/// `levee init` writes a starter configuration that `levee config check` passes; a broken one
/// has each problem named, and `serve` refuses to start with it.
#[test]
fn init_writes_a_configuration_that_checks_and_broken_ones_are_named() {
    let temp = tempfile::tempdir().unwrap();
    let (code, text) = levee(&["init", "--out", "levee.toml"], temp.path());
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = levee(&["init", "--out", "levee.toml"], temp.path());
    assert_eq!(code, Some(2), "init never overwrites without --force: {text}");
    let (code, text) = levee(&["config", "check", "--config", "levee.toml"], temp.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 error(s)"), "{text}");

    let broken = r#"
        [[tokens]]
        token = "lv_test_approver_token_0001"
        actor = "ann"
        roles = ["approver"]
        team = "support"
        level = "lead"
        limits = { USD = 50000 }

        [matrix]
        version = "broken"
        above_top_band = { level = "director", approvals = 2 }
        never_auto_approve = []
        customer_comms_for = []
        repeat_refunds_90d = 2
        sla_minutes = {}
        [matrix.ladders.USD]
        auto_approve_up_to = 5000
        rationale_above = 5000
        attachment_above = 100000
        bands = [{ up_to = 50000, level = "manager" }, { up_to = 40000, level = "lead" }]

        [[teams]]
        name = "billing-ops"
        manager = "nobody"
    "#;
    std::fs::write(temp.path().join("broken.toml"), broken).unwrap();
    let (code, text) = levee(&["config", "check", "--config", "broken.toml"], temp.path());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("matrix.ladders.USD: bands[1] (up to 40000) overlaps"), "{text}");
    assert!(text.contains("matrix.ladders.USD: bands[1] asks for a lower level (lead)"), "{text}");
    assert!(text.contains("teams[0] (billing-ops): manager nobody has no token"), "{text}");
    let (code, text) =
        levee(&["serve", "--listen", "127.0.0.1:0", "--config", "broken.toml", "--data", "d"], temp.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("the configuration has errors") && text.contains("overlaps"), "{text}");
}

/// Verifying a directory with no store is an error, not a pass.
#[test]
fn audit_verify_without_a_store_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let (code, _) = audit_verify(temp.path());
    assert_eq!(code, Some(2));
}

fn levee(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(LEVEE).args(args).current_dir(dir).output().expect("levee runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

/// `policy test` runs a built-in plugin on fixtures, reports resource use against the limits,
/// and exits 1 when a fixture's expectation is not met.
#[test]
fn policy_test_reports_decisions_and_checks_expectations() {
    let temp = tempfile::tempdir().unwrap();
    let fixtures = json!([
        {"name": "small", "facts": {"kind": "refund", "amount": {"minor_units": 4000, "currency": "USD"}},
         "expect": {"outcome": "auto_approve", "rule_id": "threshold/USD/auto"}},
        {"name": "large", "facts": {"kind": "refund", "amount": {"minor_units": 4000000, "currency": "USD"}},
         "expect": {"outcome": "require_approval", "level": "director", "approvals_needed": 2}},
    ]);
    std::fs::write(temp.path().join("cases.json"), fixtures.to_string()).unwrap();
    let (code, report) = levee(&["policy", "test", "threshold", "--cases", "cases.json"], temp.path());
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("2 cases, 2 with expectations, 0 not as expected"), "{report}");
    assert!(report.contains("% of limit") && report.contains("% of cap"), "{report}");

    let wrong = json!([{"facts": {"kind": "override", "amount": {"minor_units": 100, "currency": "USD"}},
                        "expect": {"outcome": "auto_approve"}}]);
    std::fs::write(temp.path().join("wrong.json"), wrong.to_string()).unwrap();
    let (code, report) = levee(&["policy", "test", "threshold", "--cases", "wrong.json"], temp.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("expected auto_approve, got require_approval"), "{report}");
}

/// A hostile plugin's failure is reported by name, against the limit it broke.
#[test]
fn policy_test_names_a_broken_limit() {
    let temp = tempfile::tempdir().unwrap();
    let fixtures = json!([{"facts": {"kind": "refund", "amount": {"minor_units": 100, "currency": "USD"}},
                           "expect": {"outcome": "failed"}}]);
    std::fs::write(temp.path().join("cases.json"), fixtures.to_string()).unwrap();
    let hostile = levee::policy::builtin::HOSTILE_WASM_PATH;
    let args =
        ["policy", "test", hostile, "--cases", "cases.json", "--params", r#"{"mode":"loop"}"#, "--fuel", "1000000"];
    let (code, report) = levee(&args, temp.path());
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("failed: ran out of fuel (limit 1000000)"), "{report}");
}

/// Issue 3's story, through the documented steps: scaffold, unit-test natively, build the
/// component with one cargo command, run it on the fixtures, upload it, backtest it, activate
/// it (it decides the next case), roll back (the previous behaviour returns), all in the ledger.
#[tokio::test]
async fn scaffolded_plugin_from_new_to_service_and_rollback() {
    let temp = tempfile::tempdir().unwrap();
    let (code, output) = levee(&["policy", "new", "repeat-guard"], temp.path());
    assert_eq!(code, Some(0), "{output}");
    let project = temp.path().join("repeat-guard");
    let (code, output) = levee(&["policy", "new", "repeat-guard"], temp.path());
    assert_eq!(code, Some(2), "an existing project is not overwritten: {output}");
    assert_eq!(levee(&["policy", "new", "Bad Name"], temp.path()).0, Some(2));

    let unit_tests = cargo_in(&project, &["test"]);
    assert!(unit_tests.contains("test result: ok. 4 passed"), "{unit_tests}");
    cargo_in(&project, &["build", "--release", "--target", "wasm32-wasip2"]);
    let wasm = scaffold_target().join("wasm32-wasip2/release/repeat_guard.wasm");
    let wasm = wasm.to_str().unwrap();
    let (code, report) =
        levee(&["policy", "test", wasm, "--cases", "cases.json", "--params", "@params.json"], &project);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("4 cases, 4 with expectations, 0 not as expected"), "{report}");

    let data = temp.path().join("levee-data");
    let (child, base) = serve_demo(&data);
    let tokens: Value = serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let server = Running { base: base.clone(), tokens, client: levee::http_client() };
    let admin = server.token("admin");
    // Two granted refunds for one customer, so a third is a repeat.
    for _ in 0..2 {
        assert_eq!(server.refund("cus_repeat").await["status"], "auto_approved");
    }

    let upload = ["policy", "upload", wasm, "--name", "repeat-guard", "--url", &base, "--token", &admin];
    let (code, answer) = levee(&upload, &project);
    assert_eq!(code, Some(0), "{answer}");
    let digest = serde_json::from_str::<Value>(answer.trim()).unwrap()["digest"].as_str().unwrap().to_owned();
    let backtest = ["policy", "backtest", &digest, "--params", "@params.json", "--url", &base, "--token", &admin];
    let (code, answer) = levee(&backtest, &project);
    assert_eq!(code, Some(0), "{answer}");

    let before = server.refund("cus_repeat").await;
    assert_eq!(before["decision"]["level"], "lead", "without the plugin, a repeat refund escalates to a lead");
    let chain = json!({"rationale": "CR-12", "links": [{"name": "threshold"}, {"name": "routing"},
        {"name": "repeat-guard", "digest": digest, "params": {"review_at": 2, "reject_at": 5}}]});
    let (status, proposal) = server.post("admin", "/v1/policies/chain", chain).await;
    assert_eq!(status, 202, "a chain is proposed, and waits for a second admin: {proposal}");
    let approve = format!("/v1/policies/proposals/{}/approve", proposal["number"]);
    let (status, answer) = server.post("admin2", &approve, json!({"rationale": "backtest reviewed"})).await;
    assert_eq!(status, 200, "{answer}");
    let during = server.refund("cus_repeat").await;
    assert_eq!(during["decision"]["level"], "manager", "the plugin decides: {during}");
    assert_eq!(during["decision"]["policies"][2]["digest"], digest.as_str());

    let (status, _) = server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "back out CR-12"})).await;
    assert_eq!(status, 200);
    let after = server.refund("cus_repeat").await;
    assert_eq!(after["decision"]["level"], "lead", "the rollback restores the earlier behaviour");

    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    let events: Vec<&str> = ledger.as_array().unwrap().iter().filter_map(|entry| entry["event"].as_str()).collect();
    assert_eq!(events.iter().filter(|event| **event == "policy.chain_activated").count(), 2, "{events:?}");
    assert!(events.contains(&"policy.chain_proposed"), "{events:?}");
    assert!(events.contains(&"policy.uploaded"));
    assert_eq!(server.get("auditor", "/v1/audit/verify").await.1["ok"], true);
    terminate(child);
}

/// A levee process under test, with the demo tokens.
struct Running {
    base: String,
    tokens: Value,
    client: reqwest::Client,
}

impl Running {
    fn token(&self, role: &str) -> String {
        self.tokens[role].as_str().unwrap().to_owned()
    }

    async fn post(&self, role: &str, path: &str, body: Value) -> (u16, Value) {
        let request = self.client.post(format!("{}{path}", self.base)).bearer_auth(self.token(role)).json(&body);
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, role: &str, path: &str) -> (u16, Value) {
        let response =
            self.client.get(format!("{}{path}", self.base)).bearer_auth(self.token(role)).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// A $25 refund for `customer`, as the demo agent; returns the decision.
    async fn refund(&self, customer: &str) -> Value {
        let body = json!({"kind": "refund", "amount": {"minor_units": 2500, "currency": "USD"}, "customer_ref": customer,
                          "exception_code": "LATE_DELIVERY", "rationale": "late"});
        let (status, answer) = self.post("agent", "/v1/cases", body).await;
        assert_eq!(status, 201, "{answer}");
        answer
    }
}

/// The scaffolded project's own target folder, kept between runs: the outer build holds the
/// workspace's lock.
fn scaffold_target() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded-plugin")
}

fn cargo_in(project: &Path, args: &[&str]) -> String {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(project).env("CARGO_TARGET_DIR", scaffold_target());
    for variable in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER"] {
        command.env_remove(variable);
    }
    let output = command.output().expect("cargo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "cargo {args:?} failed:\n{text}");
    text
}

/// Plugins that are not what levee runs are refused before loading, each naming the problem.
#[test]
fn invalid_plugins_are_refused_naming_the_problem() {
    let temp = tempfile::tempdir().unwrap();
    let fixtures = json!([{"facts": {"kind": "refund", "amount": {"minor_units": 100, "currency": "USD"}}}]);
    std::fs::write(temp.path().join("cases.json"), fixtures.to_string()).unwrap();
    let plugins: [(&str, Vec<u8>, &str); 4] = [
        ("random.wasm", b"this is not webassembly at all".to_vec(), "is not a WebAssembly binary"),
        ("module.wasm", wat::parse_str("(module)").unwrap(), "is a core WebAssembly module, not a component"),
        (
            "sockets.wasm",
            wat::parse_str(r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#).unwrap(),
            "imports wasi:sockets/tcp@0.2.0, which plugins may not use",
        ),
        ("empty.wasm", wat::parse_str("(component)").unwrap(), "is not a levee:policy plugin"),
    ];
    for (file, bytes, problem) in plugins {
        std::fs::write(temp.path().join(file), bytes).unwrap();
        let (code, output) = levee(&["policy", "test", file, "--cases", "cases.json"], temp.path());
        assert_eq!(code, Some(2), "{file}: {output}");
        assert!(output.contains(problem), "{file}: expected «{problem}» in {output}");
    }
}

/// `levee policy upload` and `levee policy backtest` talk to a running server with a token.
#[test]
fn policy_upload_and_backtest_against_a_running_server() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("levee-data");
    let (child, base) = serve_demo(&data);
    let tokens: Value = serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let admin = tokens["admin"].as_str().unwrap();
    let hostile = levee::policy::builtin::HOSTILE_WASM_PATH;

    let (code, answer) =
        levee(&["policy", "upload", hostile, "--name", "hostile", "--url", &base, "--token", admin], temp.path());
    assert_eq!(code, Some(0), "{answer}");
    let uploaded: Value = serde_json::from_str(answer.trim()).expect("the upload answer is JSON");
    let digest = uploaded["digest"].as_str().unwrap();

    let args = ["policy", "backtest", digest, "--params", r#"{"mode":"approve"}"#, "--url", &base, "--token", admin];
    let (code, answer) = levee(&args, temp.path());
    assert_eq!(code, Some(0), "{answer}");
    assert!(answer.contains("\"changed\": 0"), "{answer}");

    std::fs::write(temp.path().join("junk.wasm"), b"junk").unwrap();
    let (code, answer) =
        levee(&["policy", "upload", "junk.wasm", "--name", "junk", "--url", &base, "--token", admin], temp.path());
    assert_eq!(code, Some(1));
    assert!(answer.contains("is not a WebAssembly binary"), "{answer}");
    terminate(child);
}

/// `levee report --month` writes the month's review from a running server; a bad month or a
/// token that may not read it writes nothing and says why.
#[test]
fn report_writes_the_monthly_review_as_one_page() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("levee-data");
    let (child, base) = serve_demo(&data);
    let tokens: Value = serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    let auditor = tokens["auditor"].as_str().unwrap();
    let (code, answer) = levee(&["report", "--month", &month, "--url", &base, "--token", auditor], temp.path());
    assert_eq!(code, Some(0), "{answer}");
    let written = temp.path().join(format!("levee-review-{month}.html"));
    let page = std::fs::read_to_string(&written).expect("the review is written");
    assert!(page.starts_with("<!doctype html>") && page.contains(&format!("levee monthly review: {month}")));
    assert!(!page.contains("<script"), "the review is self-contained and static");

    let (code, answer) =
        levee(&["report", "--month", "2026-13", "--out", "bad.html", "--url", &base, "--token", auditor], temp.path());
    assert_eq!(code, Some(1));
    assert!(answer.contains("422") && answer.contains("YYYY-MM"), "{answer}");
    let agent = tokens["agent"].as_str().unwrap();
    let (code, answer) =
        levee(&["report", "--month", &month, "--out", "agent.html", "--url", &base, "--token", agent], temp.path());
    assert_eq!(code, Some(1));
    assert!(answer.contains("403"), "{answer}");
    assert!(!temp.path().join("bad.html").exists() && !temp.path().join("agent.html").exists());
    terminate(child);
}
