//! The Spin backend of `TestServer` (`LEVEE_TEST_BACKEND=spin` or `spin-redis`): the levee Spin
//! application under a real `spin up`, one process per server, as a user runs it.
//!
//! The application is the repository's own spin.toml, with its artifacts' paths made absolute
//! (to the components this build made) and the test's extra plugins added as components of their
//! own. Its configuration goes in through Spin variables (`SPIN_VARIABLE_*`), its state (the
//! SQLite database, the component logs) under the data directory. `spin-redis` adds the
//! repository's deploy/spin/runtime-config.redis.toml and points it at the test run's
//! redis-server, under a prefix per data directory. The demo cast's tokens are read from the
//! component's log, where levee prints them on the first request. A stand-in for the
//! deployment's scheduler calls `POST /v1/jobs/run` on a timer and counts the runs that answered.
//!
//! The `spin` binary: `SPIN_BIN`, else `spin` on PATH, else the one the project's shared tools
//! carry (`../shared/tools/spin/spin`).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::guard::Guarded;
use crate::redis_server::RedisServer;
use crate::{Backend, Options, Running, TestServer, backend, config_toml};

/// The levee-spin component and the policy runner, as tests/build.rs built them.
const LEVEE_SPIN_WASM: &str = env!("LEVEE_SPIN_WASM");
const POLICY_RUNNER_WASM: &str = env!("LEVEE_SPIN_POLICY_RUNNER_WASM");

/// The memory cap per instance the tests run Spin with (`--max-instance-memory`), as
/// docs/spin.md recommends: what levee's own instance needs with room to spare, and a bound on a
/// plugin that allocates without end.
pub const MAX_INSTANCE_MEMORY: u64 = 256 << 20;

/// How long a `spin up` may take to serve (the first start compiles the components; later ones
/// load them from Wasmtime's cache).
const STARTUP: Duration = Duration::from_secs(180);

/// A running Spin application.
pub struct SpinApp {
    process: Guarded,
    scheduler: tokio::task::JoinHandle<()>,
    /// Calls of `POST /v1/jobs/run` that answered 200.
    jobs_runs: Arc<AtomicU64>,
}

impl SpinApp {
    pub(crate) async fn stop(mut self) {
        self.scheduler.abort();
        let _ = self.scheduler.await;
        self.process.kill();
    }
}

/// The `spin` binary this run uses.
pub fn spin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SPIN_BIN") {
        return PathBuf::from(path);
    }
    if let Some(on_path) = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("spin")).find(|spin| spin.is_file()))
    {
        return on_path;
    }
    repository().join("../shared/tools/spin/spin")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the application keeps its SQLite database (`--state-dir`).
pub fn sqlite_path(data_dir: &Path) -> PathBuf {
    state_dir(data_dir).join("sqlite_db.db")
}

fn state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("spin-state")
}

impl TestServer {
    /// Starts the Spin application over `data_dir` and waits until it serves.
    pub(crate) async fn start_spin(data_dir: &Path, options: &Options) -> TestServer {
        fn cannot(what: &str) -> ! {
            panic!("{what} cannot be honoured on Spin: the test must be skipped on Spin (skip_on_spin)")
        }
        if options.body_bytes.is_some() {
            cannot("Options::body_bytes (the body limit is the platform's)");
        }
        if options.seed_demo_data {
            cannot("Options::seed_demo_data");
        }
        if options.clock.is_some() {
            cannot("Options::clock (the component reads the host's clock)");
        }
        if options.sandbox_max.is_some() {
            cannot("Options::sandbox_max (a plugin's limits are fixed when it is deployed)");
        }
        let manifest = write_manifest(data_dir, options);
        let mut process = spawn(data_dir, &manifest, options);
        let base_url = serving_url(&mut process);
        let client = crate::test_client();

        // The component makes the demo cast's tokens on its first request and prints them.
        let first = client.get(format!("{base_url}/healthz")).send().await.expect("the Spin application answers");
        assert!(first.status().is_success(), "the Spin application's first answer: {}", first.status());
        let mut tokens = demo_tokens(data_dir);
        for token in &options.extra_tokens {
            tokens.insert(token.actor.clone(), token.token.clone());
        }

        let jobs = JobsCaller {
            client: client.clone(),
            url: format!("{base_url}/v1/jobs/run"),
            admin_token: tokens.get("admin").cloned().expect("a demo admin token"),
            runs: Arc::new(AtomicU64::new(0)),
        };
        // The first run, awaited: `levee serve`'s timer also runs at once, before a test's first
        // request in practice.
        jobs.call().await;
        let jobs_runs = jobs.runs.clone();
        let interval_ms = options.jobs_interval_ms.unwrap_or(DEFAULT_JOBS_INTERVAL_MS);
        let scheduler = tokio::spawn(jobs.every(interval_ms));
        TestServer {
            base_url,
            data_dir: data_dir.to_path_buf(),
            tokens,
            client,
            server: Running::Spin(SpinApp { process, scheduler, jobs_runs }),
            _temp: None,
        }
    }

    /// The `spin up` process's id (Spin only), which is also its process group's (`guard`): kill
    /// the group, as a crash would, to take its trigger process too.
    pub fn spin_pid(&self) -> Option<u32> {
        match &self.server {
            Running::Spin(app) => Some(app.process.pid),
            Running::Native(_) => None,
        }
    }

    /// The CPU time the `spin up` process group (Spin and its trigger process) has used so far,
    /// from /proc (Spin only): a plugin instance left running shows as a busy worker thread.
    pub fn spin_cpu_time(&self) -> Option<Duration> {
        let group = self.spin_pid()?;
        let ticks_per_second = std::process::Command::new("getconf").arg("CLK_TCK").output().ok();
        let ticks_per_second: u64 =
            ticks_per_second.and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok()).unwrap_or(100);
        let mut ticks = 0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // After the command's closing parenthesis: state, ppid, pgrp, … utime (14th field
            // of the line), stime (15th).
            let Some((_, fields)) = stat.rsplit_once(") ") else { continue };
            let fields: Vec<&str> = fields.split_whitespace().collect();
            if fields.get(2).and_then(|pgrp| pgrp.parse::<u32>().ok()) == Some(group) {
                let field = |at: usize| fields.get(at).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
                ticks += field(11) + field(12);
            }
        }
        Some(Duration::from_millis(ticks * 1000 / ticks_per_second.max(1)))
    }

    /// How many scheduled `POST /v1/jobs/run` calls have answered 200 (Spin only; natively, the
    /// server's own timer runs the jobs).
    pub fn spin_jobs_runs(&self) -> Option<u64> {
        match &self.server {
            Running::Spin(app) => Some(app.jobs_runs.load(Ordering::SeqCst)),
            Running::Native(_) => None,
        }
    }
}

/// Writes the application's manifest for this server: the repository's spin.toml with absolute
/// paths, plus a component per extra plugin, and levee allowed to reach each outgoing webhook's
/// receiver (as a deployment lists them in `allowed_outbound_hosts`).
fn write_manifest(data_dir: &Path, options: &Options) -> PathBuf {
    let extra = &options.extra_policies;
    let text = std::fs::read_to_string(repository().join("spin.toml")).expect("the repository's spin.toml");
    let mut manifest: toml::Table = toml::from_str(&text).expect("spin.toml is TOML");
    let components = manifest.get_mut("component").and_then(toml::Value::as_table_mut).expect("[component]");
    for (_, component) in components.iter_mut() {
        let Some(component) = component.as_table_mut() else { continue };
        component.remove("build");
        absolutize(component, data_dir);
    }
    for policy in extra {
        let path = policy.path.as_ref().expect("an extra plugin on Spin is a component file (PolicyConfig::path)");
        let id = format!("policy-{}", policy.name);
        components.insert(id.clone(), runner_component(data_dir, path, policy.params.as_ref()));
        let levee = components.get_mut("levee").and_then(toml::Value::as_table_mut).expect("[component.levee]");
        let hosts = levee.get_mut("allowed_outbound_hosts").and_then(toml::Value::as_array_mut).expect("levee's hosts");
        hosts.push(format!("http://{id}.spin.internal").into());
    }
    let levee = components.get_mut("levee").and_then(toml::Value::as_table_mut).expect("[component.levee]");
    let hosts = levee.get_mut("allowed_outbound_hosts").and_then(toml::Value::as_array_mut).expect("levee's hosts");
    for endpoint in &options.outgoing_webhooks {
        let url = reqwest::Url::parse(&endpoint.url).expect("an outgoing webhook's URL");
        hosts.push(url.origin().ascii_serialization().into());
    }
    let triggers = manifest.get_mut("trigger").and_then(|trigger| trigger.get_mut("http"));
    let triggers = triggers.and_then(toml::Value::as_array_mut).expect("[[trigger.http]]");
    for policy in extra {
        let private = toml::Table::from_iter([("private".to_owned(), toml::Value::Boolean(true))]);
        let trigger = toml::Table::from_iter([
            ("route".to_owned(), toml::Value::Table(private)),
            ("component".to_owned(), format!("policy-{}", policy.name).into()),
        ]);
        triggers.push(toml::Value::Table(trigger));
    }
    let path = data_dir.join("spin.toml");
    std::fs::write(&path, toml::to_string(&manifest).expect("the manifest as TOML")).expect("write the manifest");
    path
}

/// A policy runner with the plugin at `path` plugged in (metered) and mounted, given `params`.
fn runner_component(app_dir: &Path, path: &Path, params: Option<&serde_json::Value>) -> toml::Value {
    let mut component = toml::Table::new();
    component.insert("source".into(), POLICY_RUNNER_WASM.into());
    let mount = toml::Table::from_iter([
        ("source".into(), mounted(app_dir, path).into()),
        ("destination".into(), "/plugin.wasm".into()),
    ]);
    component.insert("files".into(), toml::Value::Array(vec![toml::Value::Table(mount)]));
    let dependency = toml::Table::from_iter([("path".into(), metered(app_dir, path).into())]);
    let dependencies = toml::Table::from_iter([("levee:policy/rules@0.2.0".into(), toml::Value::Table(dependency))]);
    component.insert("dependencies".into(), toml::Value::Table(dependencies));
    if let Some(params) = params {
        let variables = toml::Table::from_iter([("params".into(), params.to_string().into())]);
        component.insert("variables".into(), toml::Value::Table(variables));
    }
    toml::Value::Table(component)
}

/// Points a component's artifact paths (`source`, `files`, dependencies) at what this build made.
fn absolutize(component: &mut toml::Table, app_dir: &Path) {
    if let Some(toml::Value::String(source)) = component.get_mut("source") {
        *source = artifact(app_dir, source);
    }
    for mount in component.get_mut("files").and_then(toml::Value::as_array_mut).into_iter().flatten() {
        if let Some(toml::Value::String(source)) = mount.get_mut("source") {
            *source = mounted(app_dir, Path::new(&artifact(app_dir, source)));
        }
    }
    let dependencies = component.get_mut("dependencies").and_then(toml::Value::as_table_mut);
    for (_, dependency) in dependencies.into_iter().flat_map(|dependencies| dependencies.iter_mut()) {
        if let Some(toml::Value::String(path)) = dependency.get_mut("path") {
            *path = artifact(app_dir, path);
        }
    }
}

/// A file a component mounts, copied into the application's directory: Spin takes a mounted
/// file's `source` relative to the manifest. Answers that relative path.
fn mounted(app_dir: &Path, file: &Path) -> String {
    let name = file.file_name().expect("a mounted file has a name");
    let relative = Path::new("mounted").join(name);
    std::fs::create_dir_all(app_dir.join("mounted")).expect("the mounted files' directory");
    std::fs::copy(file, app_dir.join(&relative)).unwrap_or_else(|error| panic!("copy {}: {error}", file.display()));
    relative.display().to_string()
}

/// spin.toml's path of an artifact, as this build made it: the Spin components from
/// tests/build.rs, the rule plugins from levee's build, a metered plugin metered now.
fn artifact(app_dir: &Path, path: &str) -> String {
    let file = Path::new(path).file_name().expect("an artifact names a file");
    let built_in = |built: &str| Path::new(built).with_file_name(file).display().to_string();
    if path.starts_with("target/spin/metered/") {
        metered(app_dir, Path::new(&built_in(levee::policy::builtin::HOSTILE_WASM_PATH)))
    } else if path.starts_with("target/spin/") {
        built_in(LEVEE_SPIN_WASM)
    } else if path.starts_with("target/guest-policies/") {
        built_in(levee::policy::builtin::HOSTILE_WASM_PATH)
    } else {
        repository().join(path).display().to_string()
    }
}

/// The plugin at `plugin` metered as spin.toml's build meters it (`levee-meter`, levee serve's
/// default fuel), written under the application's directory. Answers its path.
fn metered(app_dir: &Path, plugin: &Path) -> String {
    let wasm = std::fs::read(plugin).unwrap_or_else(|error| panic!("read {}: {error}", plugin.display()));
    let metered = levee_meter::meter(&wasm, levee_meter::DEFAULT_FUEL)
        .unwrap_or_else(|error| panic!("meter {}: {error}", plugin.display()));
    let path = app_dir.join("metered").join(plugin.file_name().expect("a plugin file has a name"));
    std::fs::create_dir_all(app_dir.join("metered")).expect("the metered plugins' directory");
    std::fs::write(&path, metered).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    path.display().to_string()
}

/// `spin up` on `manifest`, under a guard, with the test's configuration as Spin variables.
fn spawn(data_dir: &Path, manifest: &Path, options: &Options) -> Guarded {
    let spin = spin_binary();
    assert!(
        spin.is_file(),
        "no Spin binary at {}: set SPIN_BIN, put `spin` on PATH, or see docs/spin.md for installing Spin",
        spin.display()
    );
    let mut args: Vec<String> = vec![
        "up".into(),
        "--from".into(),
        manifest.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--state-dir".into(),
        state_dir(data_dir).display().to_string(),
        "--max-instance-memory".into(),
        MAX_INSTANCE_MEMORY.to_string(),
        "--quiet".into(),
    ];
    let mut variables = BTreeMap::from([("CONFIG", spin_config_toml(options)), ("DEMO", "true".to_owned())]);
    let chain: Vec<String> = ["threshold", "routing"]
        .into_iter()
        .map(str::to_owned)
        .chain(options.extra_policies.iter().map(|policy| policy.name.clone()))
        .collect();
    variables.insert("POLICIES", chain.join(","));
    if backend() == Backend::SpinRedis {
        args.push("--runtime-config-file".into());
        args.push(repository().join("deploy/spin/runtime-config.redis.toml").display().to_string());
        let redis = RedisServer::shared();
        variables.insert("REDIS_ADDRESS", redis.address());
        variables.insert("REDIS_PREFIX", redis.store_for(data_dir).prefix);
    }
    Guarded::spawn(&spin, &args, None, |command| {
        for (name, value) in &variables {
            command.env(format!("SPIN_VARIABLE_{name}"), value);
        }
        command.stderr(std::process::Stdio::inherit());
    })
}

/// Reads `spin up`'s output until it says where it serves; keeps draining it after. Panics if
/// it exits first (its error is on the test's stderr) or takes longer than `STARTUP`.
fn serving_url(process: &mut Guarded) -> String {
    let mut stdout = process.stdout.take().expect("spin up's output");
    let (found, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let mut sent = false;
        while stdout.read_line(&mut line).is_ok_and(|read| read > 0) {
            if !sent && let Some(url) = line.trim().strip_prefix("Serving ") {
                let _ = found.send(url.to_owned());
                sent = true;
            }
            line.clear();
        }
    });
    let started = std::time::Instant::now();
    while started.elapsed() < STARTUP {
        if let Ok(url) = url.recv_timeout(Duration::from_millis(100)) {
            return url;
        }
        assert!(!process.has_exited(), "spin up exited before serving (its error is above)");
    }
    panic!("spin up did not serve within {STARTUP:?}")
}

/// The demo cast's tokens, role → token, as the component printed them to its log.
fn demo_tokens(data_dir: &Path) -> BTreeMap<String, String> {
    let log = state_dir(data_dir).join("logs/levee_stdout.txt");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|error| panic!("read {}: {error}", log.display()));
    let tokens: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [role, _actor, token] if token.starts_with("lv_demo_") => {
                    Some(((*role).to_owned(), (*token).to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    assert!(tokens.contains_key("admin"), "no demo tokens in {}:\n{text}", log.display());
    tokens
}

/// How often jobs run when a test does not say (as `levee serve`'s `[jobs]` default).
const DEFAULT_JOBS_INTERVAL_MS: u64 = 30_000;

/// The deployment's scheduler on Spin, which has no background tasks: `POST /v1/jobs/run` as the
/// admin. A run that does not answer 200 is reported on stderr and not counted.
struct JobsCaller {
    client: reqwest::Client,
    url: String,
    admin_token: String,
    runs: Arc<AtomicU64>,
}

impl JobsCaller {
    async fn call(&self) {
        match self.client.post(&self.url).bearer_auth(&self.admin_token).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                self.runs.fetch_add(1, Ordering::SeqCst);
            }
            Ok(response) => {
                let status = response.status();
                eprintln!("POST /v1/jobs/run answered {status}: {}", response.text().await.unwrap_or_default());
            }
            Err(error) => eprintln!("POST /v1/jobs/run: {error}"),
        }
    }

    /// Calls every `interval_ms` (as the native timer ticks), the first after one interval, until
    /// aborted.
    async fn every(self, interval_ms: u64) {
        let period = Duration::from_millis(interval_ms.max(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.call().await;
        }
    }
}

/// The Spin `config` variable: the same levee.toml, less what is the platform's on Spin (`http`:
/// body limits; `jobs`: the timer is the scheduler's) or spin.toml's (`policies`: the plugin
/// components).
fn spin_config_toml(options: &Options) -> String {
    let mut document: toml::Table = toml::from_str(&config_toml(options)).expect("the test config parses");
    for section in ["http", "jobs", "policies"] {
        document.remove(section);
    }
    toml::to_string(&document).expect("config as TOML")
}
