//! levee as separate processes: `levee serve` hosts started from the built binary, each with its
//! own data directory and port, all on one shared store, as an operator runs them behind a load
//! balancer (docs/operations.md). For the tests of many hosts on one Redis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use levee::config::TokenConfig;

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

/// A levee.toml for a fleet on the Redis at `url` under `prefix`: the fleet's tokens, and
/// background jobs every `jobs_interval_ms` on every host.
pub fn fleet_config(url: &str, prefix: &str, jobs_interval_ms: u64) -> String {
    let mut document = toml::Table::new();
    let mut store = toml::Table::new();
    store.insert("type".into(), "redis".into());
    store.insert("url".into(), url.into());
    store.insert("prefix".into(), prefix.into());
    document.insert("store".into(), toml::Value::Table(store));
    let tokens: Vec<TokenConfig> = fleet_tokens().into_values().collect();
    document.insert("tokens".into(), toml::Value::try_from(&tokens).expect("tokens as TOML"));
    let mut jobs = toml::Table::new();
    jobs.insert("interval_ms".into(), toml::Value::Integer(jobs_interval_ms as i64));
    document.insert("jobs".into(), toml::Value::Table(jobs));
    toml::to_string(&document).expect("config as TOML")
}

/// One `levee serve` process.
pub struct Host {
    pub base_url: String,
    child: Child,
}

impl Host {
    /// Starts `levee serve --config CONFIG --data DATA` on a free port, and waits until it
    /// answers `/healthz` (it compiles its policies first); its log goes to `DATA.log`.
    pub async fn start(config: &Path, data_dir: &Path) -> Host {
        let port = crate::redis_server::free_port();
        let log_path = data_dir.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("host log file");
        let child = Command::new(levee_binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start levee serve");
        let mut host = Host { base_url: format!("http://127.0.0.1:{port}"), child };
        host.wait_until_ready(&log_path).await;
        host
    }

    async fn wait_until_ready(&mut self, log_path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = format!("{}/healthz", self.base_url);
        let client = levee::http_client();
        loop {
            if client.get(&url).send().await.is_ok_and(|answer| answer.status().is_success()) {
                return;
            }
            let log = || std::fs::read_to_string(log_path).unwrap_or_default();
            if let Some(status) = self.child.try_wait().expect("the host's status") {
                panic!("levee serve exited with {status}; its log:\n{}", log());
            }
            assert!(Instant::now() < deadline, "levee serve never answered {url}; its log:\n{}", log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
