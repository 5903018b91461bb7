//! Background work on a timer: each tick makes one run of levee's schedule (`Schedule::run`:
//! SLA escalation, the remediation loop, the metrics fold, then the outgoing signals that are
//! due) on a blocking thread, as requests run. The outgoing signals go over HTTP through
//! `HttpSender`, levee's `WebhookSender` here. A failed run is logged and retried on the next
//! tick; runs never overlap. Every host runs it; each run is idempotent, and hosts take turns on
//! each webhook endpoint through the outbox's lease. Stopping waits for a run in progress to
//! finish, so the store is released when `stop` returns.

use std::sync::Arc;
use std::time::Duration;

use levee_core::Levee;
use levee_core::outbox::{DeliveryOutcome, OutgoingMessage, WebhookSender};
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
            let (run, holder) = (levee.for_request(), holder.clone());
            match tokio::task::spawn_blocking(move || run.schedule().run(&holder)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the scheduled run failed; retrying on the next tick"),
                Err(error) => tracing::error!(%error, "the scheduled run panicked"),
            }
        }
    });
    Jobs { stop, task }
}

/// How long a receiver has to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Outgoing webhooks over HTTP (reqwest, rustls with ring), each POST made on the tokio runtime
/// the schedule's blocking thread belongs to.
pub struct HttpSender {
    client: reqwest::Client,
}

impl HttpSender {
    pub fn new() -> HttpSender {
        HttpSender { client: crate::http_client() }
    }
}

impl Default for HttpSender {
    fn default() -> Self {
        HttpSender::new()
    }
}

impl WebhookSender for HttpSender {
    /// POSTs one message; 2xx is delivered, anything else (or no answer in time) failed.
    fn send(&self, message: &OutgoingMessage) -> DeliveryOutcome {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return DeliveryOutcome::Failed { reason: "not sent: no async runtime to send it on".to_owned() };
        };
        let mut request = self.client.post(&message.url).timeout(SEND_TIMEOUT).body(message.body.clone());
        for (name, value) in &message.headers {
            request = request.header(*name, value);
        }
        match runtime.block_on(request.send()) {
            Ok(response) if response.status().is_success() => {
                DeliveryOutcome::Delivered { status: response.status().as_u16() }
            }
            Ok(response) => DeliveryOutcome::Failed { reason: format!("HTTP {}", response.status().as_u16()) },
            Err(error) => DeliveryOutcome::Failed { reason: format!("no answer: {error}") },
        }
    }
}
