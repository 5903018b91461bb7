//! The Spin backend of `TestServer` (`LEVEE_TEST_BACKEND=spin`): the composed levee-spin component
//! under the Spin stand-in (`spin_host`), configured through Spin variables, with the demo cast
//! it makes on its first request and a stand-in for the deployment's scheduler.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use levee_core::clock::{Clock, SystemClock};
use levee_core::store::Store;

use crate::{Options, Running, TestServer, config_toml, spin_host};

impl TestServer {
    /// The Spin backend: the composed levee-spin component over the data directory's key-value
    /// store, configured through Spin variables, with the demo cast it makes on first request.
    pub(crate) async fn start_spin(data_dir: &Path, options: &Options) -> TestServer {
        fn cannot(what: &str) -> ! {
            panic!("{what} cannot be honoured on Spin: the test must be skipped on Spin (skip_on_spin)")
        }
        if !options.extra_policies.is_empty() {
            cannot("Options::extra_policies (the chain is spin.toml's plugin slots)");
        }
        if options.body_bytes.is_some() {
            cannot("Options::body_bytes (the body limit is the platform's)");
        }
        if options.seed_demo_data {
            cannot("Options::seed_demo_data");
        }
        let component = match &options.spin_component {
            Some(component) => component.clone(),
            None => spin_host::composed_levee().expect("the levee-spin component composes with its plugins"),
        };
        let kv = spin_host::KvStore::for_dir(data_dir);
        let variables =
            BTreeMap::from([("config".to_owned(), spin_config_toml(options)), ("demo".to_owned(), "true".to_owned())]);
        let clock: Arc<dyn Clock> = match &options.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let config = spin_host::SpinConfig { component, kv: kv.clone(), variables, clock };
        let server = spin_host::start(config).await.expect("the Spin host starts");
        let base_url = format!("http://{}", server.addr);
        let client = levee::http_client();

        // The component makes the demo cast's tokens on its first request and keeps them.
        let first = client.get(format!("{base_url}/healthz")).send().await.expect("the Spin host answers");
        let status = first.status();
        let body = first.text().await.unwrap_or_default();
        let stored = kv.get(DEMO_TOKENS_KEY).expect("the key-value store answers").unwrap_or_else(|| {
            panic!("no {DEMO_TOKENS_KEY} in the key-value store after the first request ({status}: {body})")
        });
        let mut tokens: BTreeMap<String, String> =
            serde_json::from_slice(&stored).expect("the demo tokens are a JSON object role → token");
        for token in &options.extra_tokens {
            tokens.insert(token.actor.clone(), token.token.clone());
        }

        // The scheduler's first call, awaited: `levee serve`'s timer also runs at once, before
        // a test's first request in practice, and a run landing amid a test's burst would see
        // (and act on) a state the native timer never sees.
        let jobs = JobsCaller {
            client: client.clone(),
            url: format!("{base_url}/v1/jobs/run"),
            admin_token: tokens.get("admin").cloned().expect("a demo admin token"),
        };
        jobs.call().await;
        let interval_ms = options.jobs_interval_ms.unwrap_or(DEFAULT_JOBS_INTERVAL_MS);
        let scheduler = tokio::spawn(jobs.every(interval_ms));
        TestServer {
            base_url,
            data_dir: data_dir.to_path_buf(),
            tokens,
            client,
            server: Running::Spin { server, kv, scheduler },
            _temp: None,
        }
    }
}

/// Where levee-spin keeps the demo cast's tokens (host/spin/src/environment.rs).
const DEMO_TOKENS_KEY: &str = "demo/tokens";

/// How often jobs run when a test does not say (as `levee serve`'s `[jobs]` default).
const DEFAULT_JOBS_INTERVAL_MS: u64 = 30_000;

/// The deployment's scheduler on Spin, which has no background tasks: `POST /v1/jobs/run` as the
/// admin, ignoring failures.
struct JobsCaller {
    client: reqwest::Client,
    url: String,
    admin_token: String,
}

impl JobsCaller {
    async fn call(&self) {
        if let Ok(response) = self.client.post(&self.url).bearer_auth(&self.admin_token).send().await {
            let _ = response.bytes().await;
        }
    }

    /// Calls every `interval_ms` (as the native timer ticks), the first after one interval, until
    /// aborted.
    async fn every(self, interval_ms: u64) {
        let period = std::time::Duration::from_millis(interval_ms.max(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.call().await;
        }
    }
}

/// The Spin `config` variable: the same levee.toml, less what is the platform's on Spin (`http`:
/// body limits; `jobs`: the timer is the scheduler's) or spin.toml's (`policies`: the slots).
fn spin_config_toml(options: &Options) -> String {
    let mut document: toml::Table = toml::from_str(&config_toml(options)).expect("the test config parses");
    for section in ["http", "jobs", "policies"] {
        document.remove(section);
    }
    toml::to_string(&document).expect("config as TOML")
}
