//! Background work on a timer: each tick runs levee's own schedule (`Levee::run_governance`:
//! SLA escalation and the remediation loop) on a blocking thread, as requests run, then sends
//! the outgoing signals that are due (`outbox`), over HTTP. A failed run is logged and retried
//! on the next tick; runs never overlap. Every host runs it; each run is idempotent, and hosts
//! take turns on each webhook endpoint through the outbox's lease. Stopping waits for a run in
//! progress to finish, so the store is released when `stop` returns.

use std::sync::Arc;
use std::time::Duration;

use levee_core::Levee;
use levee_core::outbox::{DeliveryOutcome, OutgoingMessage};
use serde::Deserialize;
use tokio::task::JoinHandle;

/// `[jobs]` in levee.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the schedule runs, in milliseconds.
    pub interval_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { interval_ms: 30_000 }
    }
}

/// The running timer.
pub struct Jobs {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Jobs {
    /// Stops the timer after the run in progress, if any, has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the timer; the first run is at once.
pub fn start(levee: Arc<Levee>, config: JobsConfig) -> Jobs {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let client = crate::http_client();
    // This host's name in the outbox leases.
    let holder = format!("host-{:016x}", rand::random::<u64>());
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(config.interval_ms.max(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => return,
            }
            let run = levee.clone();
            match tokio::task::spawn_blocking(move || run.run_governance()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the governance run failed; retrying on the next tick"),
                Err(error) => tracing::error!(%error, "the governance run panicked"),
            }
            for endpoint in levee.settings.outgoing_webhooks.iter().map(|endpoint| endpoint.name.clone()) {
                if let Err(error) = deliver_due(&levee, &client, &holder, &endpoint).await {
                    tracing::warn!(%endpoint, %error, "outgoing webhooks could not be sent; retrying on the next tick");
                }
            }
        }
    });
    Jobs { stop, task }
}

/// How long a receiver has to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `endpoint` the messages that are due (`Levee::deliver_due`), on a blocking thread as
/// requests run, each message over HTTP on the runtime.
async fn deliver_due(levee: &Arc<Levee>, client: &reqwest::Client, holder: &str, endpoint: &str) -> anyhow::Result<()> {
    let (levee, client, holder, endpoint) = (levee.clone(), client.clone(), holder.to_owned(), endpoint.to_owned());
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        levee.deliver_due(&endpoint, &holder, &mut |message| runtime.block_on(send(&client, message)))
    })
    .await??;
    Ok(())
}

/// POSTs one message; 2xx is delivered, anything else (or no answer in time) failed.
async fn send(client: &reqwest::Client, message: &OutgoingMessage) -> DeliveryOutcome {
    let mut request = client.post(&message.url).timeout(SEND_TIMEOUT).body(message.body.clone());
    for (name, value) in &message.headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            DeliveryOutcome::Delivered { status: response.status().as_u16() }
        }
        Ok(response) => DeliveryOutcome::Failed { reason: format!("HTTP {}", response.status().as_u16()) },
        Err(error) => DeliveryOutcome::Failed { reason: format!("no answer: {error}") },
    }
}
