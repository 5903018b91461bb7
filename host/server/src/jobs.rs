//! Background work on a timer: each tick runs levee's own schedule (`Levee::run_governance`:
//! SLA escalation) on a blocking thread, as requests run. A failed run is logged and retried on
//! the next tick; runs never overlap. Every host runs it; each run is idempotent. Stopping
//! waits for a run in progress to finish, so the store is released when `stop` returns.

use std::sync::Arc;
use std::time::Duration;

use levee_core::Levee;
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
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(config.interval_ms.max(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => return,
            }
            let levee = levee.clone();
            match tokio::task::spawn_blocking(move || levee.run_governance()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the governance run failed; retrying on the next tick"),
                Err(error) => tracing::error!(%error, "the governance run panicked"),
            }
        }
    });
    Jobs { stop, task }
}
