//! Wiring: builds levee from a configuration (store, policy engine, settings), and runs the
//! HTTP server until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use levee_core::clock::{Clock, SystemClock};
use levee_core::registry::ChainLink;
use levee_core::{Levee, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{PolicyConfig, ServeConfig, TokenConfig};
use crate::policy::{LoadedPolicySpec, PolicySource, WasmPolicyEngine, builtin};
use crate::{demo, http, store};

/// Where compiled policies are kept, inside the data directory.
pub const COMPILED_CACHE: &str = "compiled";

/// Builds the service on `clock`: opens the store, loads the policy chain, resolves tokens.
pub fn build_levee(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Levee> {
    let report = crate::config_check::check(&config.file, config.demo);
    if !report.is_ok() {
        bail!("the configuration has errors (`levee config check` lists them):\n{}", report.render());
    }
    for warning in &report.warnings {
        tracing::warn!("config: {warning}");
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("create {}", config.data_dir.display()))?;
    let demo_cast = if config.demo { demo_cast(config)? } else { Default::default() };
    let origin = config.config_path.as_ref().map(|path| path.display().to_string()).unwrap_or_else(|| "config".into());
    let mut settings = config.file.workflow().settings(&origin, &demo_cast).map_err(anyhow::Error::msg)?;
    let specs = config
        .chain()
        .iter()
        .map(|policy| policy_spec(policy, config, &settings))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = store::open(&config.file.store, &config.data_dir)?;
    tracing::info!("store: {}", config.file.store.describe(&config.data_dir));
    settings.configured_chain = configured_chain(&config.chain(), &specs, &*store)?;
    settings.checkpoint_signer = crate::audit::checkpoint_signer(&config.file.audit)?;
    let cache = config.data_dir.join(COMPILED_CACHE);
    let engine = WasmPolicyEngine::new(specs, Some(&cache), config.file.sandbox, config.file.sandbox_max)?;
    let levee = Levee::new(store, Arc::new(engine), clock, Arc::new(crate::jobs::HttpSender::new()), settings);
    levee
        .policies()
        .check_configured_chain()
        .map_err(|error| anyhow::anyhow!("the configured policy chain ([[policies]], in order): {error}"))?;
    // A chain activated through the registry replaces the configured one.
    levee.policies().sync().map_err(|error| anyhow::anyhow!("load the active policy chain: {error}"))?;
    // Before the outbox is placed, so new endpoints start after the seeded history.
    if config.seed_demo_data {
        levee_demo::seed_if_empty(&levee)?;
    }
    levee.outbox().start().map_err(|error| anyhow::anyhow!("place new outgoing webhook endpoints: {error}"))?;
    levee.sync_store().map_err(|error| anyhow::anyhow!("make the start-up writes durable: {error}"))?;
    Ok(levee)
}

fn policy_spec(policy: &PolicyConfig, config: &ServeConfig, settings: &Settings) -> anyhow::Result<LoadedPolicySpec> {
    let source = match (&policy.path, builtin::by_name(&policy.name)) {
        (Some(path), _) => PolicySource::Bytes(
            std::fs::read(path).with_context(|| format!("read policy {} from {}", policy.name, path.display()))?,
        ),
        (None, Some(bytes)) => PolicySource::Builtin(bytes),
        (None, None) => bail!("policy {} is not built in, so it needs a `path`", policy.name),
    };
    let params = policy.params.clone().unwrap_or_else(|| settings.default_params(&policy.name, &settings.taxonomy));
    Ok(LoadedPolicySpec { name: policy.name.clone(), source, params, limits: policy.limits(config.file.sandbox) })
}

/// The configured chain as the core reloads it (when the taxonomy changes, or on a rollback to
/// it): built-ins by name, plugin files by digest, their bytes kept in the store like uploads.
fn configured_chain(
    policies: &[PolicyConfig],
    specs: &[LoadedPolicySpec],
    store: &dyn levee_core::store::Store,
) -> anyhow::Result<Vec<ChainLink>> {
    policies
        .iter()
        .zip(specs)
        .map(|(policy, spec)| {
            let digest = match &spec.source {
                PolicySource::Builtin(_) => None,
                PolicySource::Bytes(bytes) => {
                    let digest = levee_core::ledger::sha256_hex(bytes);
                    store.set(&levee_core::registry_changes::blob_key(&digest), bytes)?;
                    Some(digest)
                }
            };
            Ok(policy.chain_link(digest))
        })
        .collect()
}

/// Demo tokens for every role, published to `<data>/demo-tokens.json`.
fn demo_cast(config: &ServeConfig) -> anyhow::Result<std::collections::BTreeMap<&'static str, TokenConfig>> {
    if !config.file.tokens.is_empty() {
        tracing::warn!(
            "--demo adds demo admin and director tokens beside the configured ones: never do this in production"
        );
    }
    let cast = demo::demo_tokens();
    demo::publish(&cast, &config.data_dir)?;
    Ok(cast)
}

/// A server running in the background of the current tokio runtime, with its background jobs.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    jobs: crate::jobs::Jobs,
}

impl RunningServer {
    /// Stops the jobs and accepting, finishes requests in flight, and releases the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.jobs.stop().await;
        let _ = self.shutdown.send(());
        self.task.await.context("server task")?.context("server")
    }

    /// Runs until the process is interrupted (Ctrl-C or SIGTERM).
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Builds levee and starts serving on `config.listen`, on the system clock.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    start_on(config, Arc::new(SystemClock)).await
}

/// Builds levee on `clock` (tests drive SLAs with a manual one) and starts serving and its jobs.
pub async fn start_on(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    let limits = config.file.http;
    let listen = config.listen;
    let jobs_config = config.file.jobs;
    let levee = tokio::task::spawn_blocking(move || build_levee(&config, clock)).await.context("start-up task")??;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let levee = Arc::new(levee);
    let jobs = crate::jobs::start(levee.clone(), jobs_config);
    let app = http::app(levee, limits);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "levee listening");
    Ok(RunningServer { addr, shutdown, task, jobs })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
