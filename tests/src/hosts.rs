//! levee as separate processes: `levee serve` hosts started from the built binary, each with its
//! own data directory and port, all on one shared store, as an operator runs them behind a load
//! balancer (docs/operations.md). For the tests of many hosts on one Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use levee::config::TokenConfig;
use levee::store::RedisConfig;
use reqwest::StatusCode;
use serde_json::Value;

use crate::guard::Guarded;

/// The `levee` binary `cargo test --workspace` built beside this test binary, or `LEVEE_BIN`.
pub fn levee_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LEVEE_BIN") {
        return PathBuf::from(path);
    }
    let test_binary = std::env::current_exe().expect("the test binary's path");
    // target/debug/deps/api-… → target/debug/levee
    let profile_dir = test_binary.parent().and_then(Path::parent).expect("the target profile directory");
    let binary = profile_dir.join("levee");
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build -p levee` (cargo test --workspace builds it), or set LEVEE_BIN",
        binary.display()
    );
    binary
}

/// The token of a demo role in a fleet's levee.toml.
pub fn fleet_token(role: &str) -> String {
    format!("fleet-token-of-the-{role}")
}

/// The demo cast as configured tokens (`fleet_token`): every host of a fleet must know the
/// same tokens, so they come from the shared levee.toml rather than `--demo`.
pub fn fleet_tokens() -> BTreeMap<String, TokenConfig> {
    levee_core::config::demo::cast(fleet_token).into_iter().map(|(role, token)| (role.to_owned(), token)).collect()
}

/// A levee.toml for a fleet: the fleet's tokens, background jobs every `jobs_interval_ms`, and
/// `redis` as the store, or else each host's own redb.
pub fn fleet_config(redis: Option<&RedisConfig>, jobs_interval_ms: u64) -> String {
    let mut document = toml::Table::new();
    if let Some(redis) = redis {
        let mut store = toml::Table::try_from(redis).expect("the Redis section as TOML");
        store.insert("type".into(), "redis".into());
        document.insert("store".into(), toml::Value::Table(store));
    }
    let tokens: Vec<TokenConfig> = fleet_tokens().into_values().collect();
    document.insert("tokens".into(), toml::Value::try_from(&tokens).expect("tokens as TOML"));
    let mut jobs = toml::Table::new();
    jobs.insert("interval_ms".into(), toml::Value::Integer(jobs_interval_ms as i64));
    document.insert("jobs".into(), toml::Value::Table(jobs));
    toml::to_string(&document).expect("config as TOML")
}

/// One `levee serve` process, under a guard (`guard`) so that it cannot outlive the tests.
pub struct Host {
    pub base_url: String,
    process: Guarded,
}

impl Host {
    /// Starts `levee serve --config CONFIG --data DATA --listen 127.0.0.1:0` and waits until it
    /// says where it listens (it compiles its policies and opens the store first); its log goes
    /// to `DATA.log`.
    pub async fn start(config: &Path, data_dir: &Path) -> Host {
        Host::launch(&levee_binary(), Vec::new(), config, data_dir).await
    }

    /// Starts levee as `start` does, under `sh -c SCRIPT`: the script prepares the process and
    /// then becomes levee with `exec "$@"` (so `pid` is levee's), as in `trap '' XFSZ; exec "$@"`.
    pub async fn start_in_shell(script: &str, config: &Path, data_dir: &Path) -> Host {
        let before = vec!["-c".to_owned(), script.to_owned(), "sh".to_owned(), levee_binary().display().to_string()];
        Host::launch(Path::new("sh"), before, config, data_dir).await
    }

    /// Runs `program` with `before`, then levee's `serve` arguments.
    async fn launch(program: &Path, before: Vec<String>, config: &Path, data_dir: &Path) -> Host {
        let log_path = data_dir.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("host log file");
        let args = ["serve", "--listen", "127.0.0.1:0", "--config"].map(str::to_owned).into_iter();
        let args: Vec<String> = before
            .into_iter()
            .chain(args)
            .chain([config.display().to_string(), "--data".into(), data_dir.display().to_string()])
            .collect();
        let mut process = Guarded::spawn(program, &args, None, |command| {
            command.env("RUST_LOG", "warn").stderr(log);
        });
        let stdout = process.stdout.take().expect("the host's stdout");
        let (listening, announced) = std::sync::mpsc::channel();
        // Reads what levee prints: the address it listens on, then nothing that matters.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("levee listening on ") {
                    let _ = listening.send(url.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        loop {
            if let Ok(base_url) = announced.try_recv() {
                return Host { base_url, process };
            }
            assert!(!process.has_exited(), "levee serve exited; its log:\n{}", log());
            assert!(Instant::now() < deadline, "levee serve never said where it listens; its log:\n{}", log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id, to kill it from elsewhere.
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// SIGKILL, as a crash would (nothing if it is gone already).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, as an operator stops levee, and waits until it has exited (a minute at most).
    pub async fn stop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.process.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.process.has_exited() {
            assert!(Instant::now() < deadline, "levee serve did not stop within a minute of SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.process.kill();
    }
}

/// `levee serve` processes on one store, and a client with the fleet's tokens.
pub struct Fleet {
    pub hosts: Vec<Host>,
    config: PathBuf,
    dir: PathBuf,
    client: reqwest::Client,
}

/// What one request was answered.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<String>,
    /// `Idempotent-Replayed: true`: a retry answered with the case an earlier attempt made.
    pub replayed: bool,
}

impl Fleet {
    /// `count` hosts with `config` (a levee.toml, `fleet_config`) written to `dir/levee.toml`,
    /// host `i` on the data directory `dir/host-i`.
    pub async fn start(count: usize, config: &str, dir: &Path) -> Fleet {
        let config_path = dir.join("levee.toml");
        std::fs::write(&config_path, config).expect("write levee.toml");
        let mut fleet =
            Fleet { hosts: Vec::new(), config: config_path, dir: dir.to_path_buf(), client: levee::http_client() };
        let data_dirs: Vec<PathBuf> = (0..count).map(|index| fleet.data_dir(index)).collect();
        let starts = data_dirs.iter().map(|data_dir| Host::start(&fleet.config, data_dir));
        fleet.hosts = futures::future::join_all(starts).await;
        fleet
    }

    /// Host `index`'s data directory.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.join(format!("host-{index}"))
    }

    /// Kills host `index` with SIGKILL, as a crash would (if it still runs), and starts it
    /// again on its data.
    pub async fn crash_and_restart(&mut self, index: usize) {
        self.hosts[index].kill();
        self.hosts[index] = Host::start(&self.config, &self.data_dir(index)).await;
    }

    fn host(&self, index: usize) -> &Host {
        &self.hosts[index % self.hosts.len()]
    }

    /// A request to host `index % hosts` as `role` (GET without a body, POST with one),
    /// with an Idempotency-Key if given. Panics if the host does not answer.
    pub async fn send(&self, host: usize, role: &str, path: &str, body: Option<Value>, key: Option<&str>) -> Answer {
        self.try_send(host, role, path, body, key).await.unwrap_or_else(|error| panic!("host {host}: {error}"))
    }

    /// The same, for a host that may be gone: its error if it did not answer.
    pub async fn try_send(
        &self,
        host: usize,
        role: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<Answer, reqwest::Error> {
        let url = format!("{}{path}", self.host(host).base_url);
        let mut request = match &body {
            Some(body) => self.client.post(url).json(body),
            None => self.client.get(url),
        };
        request = request.bearer_auth(fleet_token(role)).timeout(Duration::from_secs(30));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let retry_after = header("retry-after");
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer { status, body, retry_after, replayed })
    }

    /// A GET that must answer 200: its JSON.
    pub async fn get(&self, host: usize, role: &str, path: &str) -> Value {
        let answer = self.send(host, role, path, None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path} on host {host}: {}", answer.body);
        answer.body
    }

    /// Every acknowledged case, as each host reads it: present, and the same everywhere.
    pub async fn read_cases(&self, ids: &BTreeSet<String>) -> BTreeMap<String, Value> {
        let mut cases = BTreeMap::new();
        for id in ids {
            let mut seen = Vec::new();
            for host in 0..self.hosts.len() {
                seen.push(self.get(host, "auditor", &format!("/v1/cases/{id}")).await["case"].clone());
            }
            assert!(seen.windows(2).all(|pair| pair[0] == pair[1]), "hosts disagree about {id}: {seen:?}");
            cases.insert(id.clone(), seen.remove(0));
        }
        cases
    }

    /// The ledger verifies on every host. Returns how many entries each subject has, as host 0
    /// reads it (the hosts' jobs may append while the others are asked, so they may hold more).
    pub async fn verify(&self) -> BTreeMap<String, u64> {
        let mut per_subject: BTreeMap<String, u64> = BTreeMap::new();
        let mut from = 1;
        loop {
            let page = self.get(0, "auditor", &format!("/v1/ledger?from={from}")).await;
            let entries = page.as_array().expect("a page of entries");
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                *per_subject.entry(entry["subject"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
            from += entries.len();
        }
        let read = per_subject.values().sum::<u64>();
        for host in 0..self.hosts.len() {
            let report = self.get(host, "auditor", "/v1/audit/verify").await;
            assert_eq!(report["ok"], true, "host {host}: {report}");
            let checked = report["entries_checked"].as_u64().unwrap_or_default();
            assert!(checked >= read, "host {host} verified {checked} entries, host 0 listed {read}");
        }
        per_subject
    }
}
