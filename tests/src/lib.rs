//! The black-box test harness: starts a real levee server (the same `levee::app::start` that
//! `levee serve` runs) on 127.0.0.1:0 with a temporary redb store and demo tokens, and talks
//! to it over real HTTP.
//!
//! With `LEVEE_TEST_BACKEND=redis` the same server runs on a real redis-server (`redis_server`)
//! instead of redb. With `LEVEE_TEST_BACKEND=spin` (or `spin-redis`) the same tests run against
//! the levee Spin application under a real `spin up` (`spin_backend`), on Spin's SQLite
//! database (or on Redis): see [`backend`] and [`skip_on_spin`]. Every test a run skips is
//! recorded (`LEVEE_TEST_SKIP_LOG`), and scripts/test holds each run to its expected list.

pub mod browser;
pub mod crowd;
pub mod guard;
pub mod hosts;
pub mod redis_server;
pub mod spin_backend;
mod spin_sqlite;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee_core::clock::{Clock, ManualClock, SystemClock};

use levee::app::RunningServer;
use levee::config::{PolicyConfig, ServeConfig, TokenConfig};
use levee_core::store::Store;
use serde_json::Value;

pub use levee::policy::builtin::HOSTILE_WASM_PATH;
pub use reqwest::StatusCode;

/// Which levee the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `levee serve` (`levee::app`): axum, redb, background jobs. The default.
    Native,
    /// `levee serve` on a real redis-server (`redis_server::RedisServer::shared`), each server
    /// under its own key prefix.
    Redis,
    /// The levee Spin application (spin.toml) under a real `spin up`, on Spin's SQLite
    /// database: variables for configuration, each plugin a component of its own, jobs through
    /// `POST /v1/jobs/run` (`spin_backend`).
    Spin,
    /// The same on Redis, through Spin's outbound Redis (deploy/spin/runtime-config.redis.toml).
    SpinRedis,
}

impl Backend {
    /// Whether levee runs on Spin (either store).
    pub fn is_spin(self) -> bool {
        matches!(self, Backend::Spin | Backend::SpinRedis)
    }
}

/// The backend from `LEVEE_TEST_BACKEND`: `native` (or unset), `redis`, `spin` or `spin-redis`.
pub fn backend() -> Backend {
    match std::env::var("LEVEE_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("native") => Backend::Native,
        Ok("redis") => Backend::Redis,
        Ok("spin") => Backend::Spin,
        Ok("spin-redis") => Backend::SpinRedis,
        Ok(other) => panic!("LEVEE_TEST_BACKEND={other}: expected `native`, `redis`, `spin` or `spin-redis`"),
    }
}

/// True (and says so) unless the tests run on Redis: for a test that only the Redis run needs
/// (many hosts, an outage), which returns early: `if only_on_redis() { return; }`.
pub fn only_on_redis() -> bool {
    skip_unless(backend() == Backend::Redis, "runs with LEVEE_TEST_BACKEND=redis (scripts/test runs it so)")
}

/// True (and says so) when the tests run on Spin: for a test of something Spin cannot do, which
/// returns early: `if skip_on_spin("why") { return; }`.
pub fn skip_on_spin(reason: &str) -> bool {
    skip_unless(!backend().is_spin(), &format!("skipped on Spin: {reason}"))
}

/// Why a test that moves levee's clock is skipped on Spin: the component reads the host's clock,
/// which a test cannot move. What those tests check is levee-core's, the same on Spin; what
/// only Spin does on a schedule (`POST /v1/jobs/run`) has tests of its own (api/spin.rs).
pub const NEEDS_A_MANUAL_CLOCK: &str = "it moves levee's clock, and levee on Spin reads the host's";

/// True (and says so) unless the tests run on Spin: for a test of the Spin application only.
pub fn only_on_spin() -> bool {
    skip_unless(backend().is_spin(), "a test of the Spin application: runs with LEVEE_TEST_BACKEND=spin or spin-redis")
}

/// True (the test returns early) unless `runs`; a skip is printed and, when
/// `LEVEE_TEST_SKIP_LOG` names a file, recorded there as one line: the test's name. scripts/test
/// compares each run's record with the list of tests that run is expected to skip
/// (tests/expected-skips/), so a test that stops running on a backend fails the suite.
pub fn skip_unless(runs: bool, reason: &str) -> bool {
    if runs {
        return false;
    }
    println!("{reason}");
    if let Some(log) = std::env::var_os("LEVEE_TEST_SKIP_LOG") {
        let test = std::thread::current().name().unwrap_or("unnamed").to_owned();
        let line = format!("{test}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
        appended.unwrap_or_else(|error| panic!("record the skip in {}: {error}", log.to_string_lossy()));
    }
    true
}

/// What a test can change about the server it starts.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Policies run after threshold and routing.
    pub extra_policies: Vec<PolicyConfig>,
    /// Tokens besides the demo cast (which is always there).
    pub extra_tokens: Vec<TokenConfig>,
    /// Request body limit, if not the default.
    pub body_bytes: Option<usize>,
    /// The clock levee runs on (SLA tests move it); the system clock if absent.
    pub clock: Option<Arc<ManualClock>>,
    /// How often background jobs run, in milliseconds, if not the default (30 s).
    pub jobs_interval_ms: Option<u64>,
    /// N-of-M approval groups.
    pub approval_groups: Vec<levee_core::identity::ApprovalGroup>,
    /// Teams and their managers.
    pub teams: Vec<levee::config::TeamConfig>,
    /// Outgoing webhook endpoints.
    pub outgoing_webhooks: Vec<levee_core::outbox::OutgoingEndpoint>,
    /// Helpdesks whose webhooks become cases.
    pub webhook_sources: Vec<levee_core::intake::WebhookSource>,
    /// Seed six months of synthetic activity first, as `serve --demo` does (off by default).
    pub seed_demo_data: bool,
    /// `[audit] checkpoint_key`: the key file checkpoints are signed with. Ignored on Spin,
    /// which has no signing key.
    pub checkpoint_key: Option<PathBuf>,
    /// `sandbox_max`: the most a chain link may set, if not the default. Not on Spin.
    pub sandbox_max: Option<levee::policy::SandboxMaxima>,
    /// `[evidence] stored_attachments`: required attachments must be files levee stores.
    pub stored_attachments: bool,
}

/// A running server, its data directory, and a client holding every demo token.
pub struct TestServer {
    pub base_url: String,
    pub data_dir: PathBuf,
    pub(crate) tokens: BTreeMap<String, String>,
    pub(crate) client: reqwest::Client,
    pub(crate) server: Running,
    pub(crate) _temp: Option<tempfile::TempDir>,
}

/// The server behind a `TestServer`.
pub(crate) enum Running {
    Native(RunningServer),
    Spin(spin_backend::SpinApp),
}

impl TestServer {
    /// The default server: threshold then routing, demo tokens.
    pub async fn start() -> TestServer {
        TestServer::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestServer {
        let temp = tempfile::tempdir().expect("temporary directory");
        let data_dir = temp.path().join("data");
        let mut server = TestServer::start_in(&data_dir, &options).await;
        server._temp = Some(temp);
        server
    }

    /// Starts on an existing data directory (to restart over the same store).
    pub async fn start_in(data_dir: &Path, options: &Options) -> TestServer {
        std::fs::create_dir_all(data_dir).expect("data directory");
        if backend().is_spin() {
            return TestServer::start_spin(data_dir, options).await;
        }
        let config_path = data_dir.with_extension("toml");
        let mut config_text = config_toml(options);
        if backend() == Backend::Redis {
            config_text.push_str(&store_section(data_dir));
        }
        std::fs::write(&config_path, config_text).expect("write config");
        let mut config = ServeConfig::resolve(
            Some("127.0.0.1:0".parse().expect("address")),
            Some(data_dir.to_path_buf()),
            Some(config_path),
            true,
        )
        .expect("config");
        config.seed_demo_data = options.seed_demo_data;
        let clock: Arc<dyn Clock> = match &options.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let server = levee::app::start_on(config, clock).await.expect("server starts");
        let mut tokens: BTreeMap<String, String> =
            serde_json::from_slice(&std::fs::read(data_dir.join(levee::demo::TOKENS_FILE)).expect("demo tokens file"))
                .expect("demo tokens are JSON");
        for token in &options.extra_tokens {
            tokens.insert(token.actor.clone(), token.token.clone());
        }
        TestServer {
            base_url: format!("http://{}", server.addr),
            data_dir: data_dir.to_path_buf(),
            tokens,
            client: test_client(),
            server: Running::Native(server),
            _temp: None,
        }
    }

    /// Stops the server and releases the store; the data directory stays for inspection.
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        match self.server {
            Running::Native(server) => server.stop().await.expect("server stops cleanly"),
            Running::Spin(app) => app.stop().await,
        }
        self._temp
    }

    /// The token of a demo role (`agent`, `lead`, …) or of an extra token's actor.
    pub fn token(&self, who: &str) -> &str {
        self.tokens.get(who).unwrap_or_else(|| panic!("no token for {who}"))
    }

    pub async fn get(&self, who: &str, path: &str) -> (StatusCode, Value) {
        let request = self.client.get(format!("{}{path}", self.base_url)).bearer_auth(self.token(who));
        answer(request).await
    }

    pub async fn post(&self, who: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self.client.post(format!("{}{path}", self.base_url)).bearer_auth(self.token(who)).json(&body);
        answer(request).await
    }

    /// Posts raw bytes with the given content type.
    pub async fn post_raw(&self, who: &str, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.token(who))
            .header("content-type", content_type)
            .body(body);
        answer(request).await
    }

    /// A webhook delivery: no token, the vendor's headers, the raw body.
    pub async fn post_webhook(&self, source: &str, headers: &[(String, String)], body: &[u8]) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}/v1/webhooks/{source}", self.base_url)).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        answer(request).await
    }

    /// A GET answered with text (SVG, HTML, Prometheus), with its content type.
    pub async fn get_text(&self, who: &str, path: &str) -> (StatusCode, String, String) {
        let request = self.client.get(format!("{}{path}", self.base_url)).bearer_auth(self.token(who));
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
        (status, content_type, response.text().await.expect("a body"))
    }

    /// A GET answered with bytes (a stored file), with its headers.
    pub async fn get_bytes(&self, who: &str, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let request = self.client.get(format!("{}{path}", self.base_url)).bearer_auth(self.token(who));
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.bytes().await.expect("a body").to_vec())
    }

    /// A request without a token.
    pub async fn get_anonymous(&self, path: &str) -> (StatusCode, Value) {
        answer(self.client.get(format!("{}{path}", self.base_url))).await
    }

    /// Submits a case as `who`, asserting it was created; returns the answer.
    pub async fn submit_as(&self, who: &str, body: Value) -> Value {
        let (status, answer) = self.post(who, "/v1/cases", body).await;
        assert_eq!(status, StatusCode::CREATED, "submission refused: {answer}");
        answer
    }

    /// Submits a case as the demo agent.
    pub async fn submit(&self, body: Value) -> Value {
        self.submit_as("agent", body).await
    }

    /// Activates a chain as two admins do: `admin` proposes `body` (`links`, `rationale`, …) and
    /// `admin2` approves the proposal. The approval's status and registry, or the proposal's
    /// refusal.
    pub async fn activate_chain(&self, body: Value) -> (StatusCode, Value) {
        let (status, proposal) = self.post("admin", "/v1/policies/chain", body).await;
        if status != StatusCode::ACCEPTED {
            return (status, proposal);
        }
        let number = proposal["number"].as_u64().expect("a proposal's number");
        let review = serde_json::json!({"rationale": "second admin: reviewed the backtest"});
        self.post("admin2", &format!("/v1/policies/proposals/{number}/approve"), review).await
    }

    /// Adds or changes an exception code as two admins do: `admin` posts `body` (`code`,
    /// `rationale`); a change that alters routing or approval is a control proposal, which
    /// `admin2` approves. The taxonomy in force after it (`GET /v1/taxonomy`), or the refusal.
    pub async fn change_code(&self, body: Value) -> (StatusCode, Value) {
        let (status, answer) = self.post("admin", "/v1/taxonomy/codes", body).await;
        if status != StatusCode::ACCEPTED {
            return (status, answer);
        }
        let number = answer["number"].as_u64().expect("a proposal's number");
        let review = serde_json::json!({"rationale": "second admin: reviewed the routing change"});
        let (status, approved) = self.post("admin2", &format!("/v1/controls/proposals/{number}/approve"), review).await;
        if status != StatusCode::OK {
            return (status, approved);
        }
        self.get("admin", "/v1/taxonomy").await
    }

    /// Adds or changes an exception code of the taxonomy as two admins, asserting it was taken.
    pub async fn put_code(&self, code: Value) {
        let body = serde_json::json!({"code": code, "rationale": "a code the test needs"});
        let (status, answer) = self.change_code(body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// The ledger verification report, as the auditor sees it.
    pub async fn verify(&self) -> Value {
        let (status, report) = self.get("auditor", "/v1/audit/verify").await;
        assert_eq!(status, StatusCode::OK, "{report}");
        report
    }

    /// How many entries the ledger holds.
    pub async fn ledger_len(&self) -> u64 {
        self.verify().await["entries_checked"].as_u64().expect("entries_checked")
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let bytes = response.bytes().await.expect("a body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, body)
}

/// How long the suite waits for one answer: far longer than any request takes, short enough
/// that a server which stops answering (as a Spin host did when an unmetered plugin looped:
/// docs/spin.md) fails its test instead of holding the run until CI's time limit.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(300);

/// The suite's HTTP client for a test server: levee's, with a bound on every answer.
pub(crate) fn test_client() -> reqwest::Client {
    levee::install_tls_provider();
    reqwest::Client::builder().timeout(ANSWER_WITHIN).build().expect("an HTTP client")
}

/// A case body: `kind`, amount in minor units and currency, customer, code, rationale.
pub fn case(kind: &str, minor_units: i64, currency: &str, customer: &str, code: &str) -> Value {
    serde_json::json!({
        "kind": kind,
        "amount": {"minor_units": minor_units, "currency": currency},
        "customer_ref": customer,
        "order_ref": format!("order-{customer}"),
        "exception_code": code,
        "rationale": "customer contacted support; details in the ticket",
    })
}

/// A USD refund for a fresh customer.
pub fn refund(minor_units: i64, customer: &str) -> Value {
    case("refund", minor_units, "USD", customer, "LATE_DELIVERY")
}

/// `body` (a case) on order `order` instead of its customer's one order: refunds on one order
/// add up (the threshold plugin places a refund by its order's total).
pub fn on_order(mut body: Value, order: &str) -> Value {
    body["order_ref"] = serde_json::json!(order);
    body
}

/// The run of the policy named `name` in a submission's answer (its verdict, rule, digest).
pub fn run_of<'a>(answer: &'a Value, name: &str) -> &'a Value {
    let policies = answer["decision"]["policies"].as_array().expect("policies");
    policies.iter().find(|policy| policy["name"] == name).unwrap_or_else(|| panic!("no {name} in {answer}"))
}

/// A piece of evidence of `kind`.
pub fn evidence(kind: &str) -> Value {
    serde_json::json!({"kind": kind, "reference": format!("doc://{kind}/1"), "sha256": "ab".repeat(32)})
}

/// The store of a stopped server's data directory, to read or tamper with: its redb on the
/// native backend (dropping it releases the file), its prefix of the shared Redis on Redis (with
/// levee serve's or Spin's layout: they are the same), the Spin application's SQLite database.
pub fn open_store(data_dir: &Path) -> Arc<dyn Store> {
    match backend() {
        Backend::Native => {
            let path = levee::store::redb_path(data_dir);
            Arc::new(levee::store::RedbStore::open(&path).expect("open the stopped server's store"))
        }
        Backend::Redis | Backend::SpinRedis => {
            let config = redis_server::RedisServer::shared().store_for(data_dir);
            Arc::new(levee::store::RedisStore::open(&config).expect("open the stopped server's Redis"))
        }
        Backend::Spin => Arc::new(spin_sqlite::SqliteFileStore::open(&spin_backend::sqlite_path(data_dir))),
    }
}

/// Appends `change` to a stopped server's ledger as `actor` in `role`, durably: how a test
/// writes what an older version of levee wrote, then starts the server on it.
pub fn append_to_stopped(
    data_dir: &Path,
    change: levee_core::subject::Change,
    actor: &str,
    role: levee_core::identity::Role,
) -> levee_core::ledger_store::LedgerSlot {
    let store = open_store(data_dir);
    let ledger = levee_core::ledger_store::LedgerStore::new(&*store);
    let context = levee_core::ledger_store::EntryContext {
        actor: actor.to_owned(),
        role,
        at: chrono::Utc::now(),
        policies: vec![],
        matrix_version: "m".into(),
        taxonomy_version: "t".into(),
        facts_hash: None,
    };
    let tip = ledger.settle().expect("the stopped ledger settles");
    let slot = ledger.try_append(&tip, change, context).expect("the append runs").expect("nothing raced it");
    store.sync().expect("the append is durable");
    slot
}

/// The ledger check of a stopped server's store, without a server: `levee audit verify`'s check
/// on the native and Redis backends, the same check over the Spin application's store.
pub fn verify_stopped(data_dir: &Path) -> levee_core::ledger::VerifyReport {
    match backend() {
        Backend::Native => levee::audit::verify(data_dir).expect("verify runs"),
        Backend::Redis => {
            let config = levee::store::StoreConfig::Redis(redis_server::RedisServer::shared().store_for(data_dir));
            levee::audit::verify_store(&config, data_dir).expect("verify runs")
        }
        Backend::Spin | Backend::SpinRedis => {
            let store = open_store(data_dir);
            levee_core::ledger_store::LedgerStore::new(&*store).verify().expect("verify runs")
        }
    }
}

/// levee.toml's `[store]` for a data directory on the shared Redis.
fn store_section(data_dir: &Path) -> String {
    let config = redis_server::RedisServer::shared().store_for(data_dir);
    format!("\n[store]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"{}\"\n", config.url, config.prefix)
}

pub(crate) fn config_toml(options: &Options) -> String {
    let mut policies = vec![PolicyConfig::builtin("threshold"), PolicyConfig::builtin("routing")];
    policies.extend(options.extra_policies.iter().cloned());
    let mut document = toml::Table::new();
    document.insert("policies".into(), toml::Value::try_from(&policies).expect("policies as TOML"));
    document.insert("tokens".into(), toml::Value::try_from(&options.extra_tokens).expect("tokens as TOML"));
    if let Some(body_bytes) = options.body_bytes {
        let mut http = toml::Table::new();
        http.insert("body_bytes".into(), toml::Value::Integer(body_bytes as i64));
        document.insert("http".into(), toml::Value::Table(http));
    }
    if !options.webhook_sources.is_empty() {
        let sources = toml::Value::try_from(&options.webhook_sources).expect("sources as TOML");
        document.insert("webhook_sources".into(), sources);
    }
    if !options.outgoing_webhooks.is_empty() {
        let endpoints = toml::Value::try_from(&options.outgoing_webhooks).expect("webhooks as TOML");
        document.insert("outgoing_webhooks".into(), endpoints);
    }
    if !options.teams.is_empty() {
        document.insert("teams".into(), toml::Value::try_from(&options.teams).expect("teams as TOML"));
    }
    if !options.approval_groups.is_empty() {
        let groups = toml::Value::try_from(&options.approval_groups).expect("groups as TOML");
        document.insert("approval_groups".into(), groups);
    }
    if let Some(key) = &options.checkpoint_key {
        let mut audit = toml::Table::new();
        audit.insert("checkpoint_key".into(), toml::Value::String(key.display().to_string()));
        document.insert("audit".into(), toml::Value::Table(audit));
    }
    if options.stored_attachments {
        let mut evidence = toml::Table::new();
        evidence.insert("stored_attachments".into(), toml::Value::Boolean(true));
        document.insert("evidence".into(), toml::Value::Table(evidence));
    }
    if let Some(maxima) = &options.sandbox_max {
        document.insert("sandbox_max".into(), toml::Value::try_from(maxima).expect("sandbox_max as TOML"));
    }
    if let Some(interval_ms) = options.jobs_interval_ms {
        let mut jobs = toml::Table::new();
        jobs.insert("interval_ms".into(), toml::Value::Integer(interval_ms as i64));
        document.insert("jobs".into(), toml::Value::Table(jobs));
    }
    toml::to_string(&document).expect("config as TOML")
}

/// The JavaScript example plugin (guest-policies/js-repeat-guard) as a component: the file
/// `LEVEE_JS_REPEAT_GUARD_WASM` names (scripts/test builds it there), or else built once per
/// test run with the plugin's own `build.sh` (node and npm; the tool comes from the npm
/// registry, pinned by its lockfile).
pub fn javascript_plugin() -> Vec<u8> {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = BUILT.get_or_init(|| {
        if let Some(path) = std::env::var_os("LEVEE_JS_REPEAT_GUARD_WASM") {
            return PathBuf::from(path);
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = repo.join("target/js-repeat-guard/repeat_guard.wasm");
        let status = std::process::Command::new("bash")
            .arg(repo.join("guest-policies/js-repeat-guard/build.sh"))
            .arg(&out)
            .env("LEVEE_TOOLS_DIR", repo.join("target/tools"))
            .status()
            .expect("run guest-policies/js-repeat-guard/build.sh");
        assert!(status.success(), "building the JavaScript plugin failed");
        out
    });
    std::fs::read(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// Polls `probe` every 25 ms, for up to 10 s of real time, until it gives a value: for what
/// levee's background jobs do on their own timer. Panics naming `what` if it never comes.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}
