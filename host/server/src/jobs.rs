//! Background work on a timer: each tick runs levee's own schedule (`Levee::run_governance`:
//! SLA escalation) on a blocking thread, as requests run. A failed run is logged and retried on
//! the next tick; runs never overlap. Every host runs it; each run is idempotent.

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

/// Starts the timer; the task runs until aborted.
pub fn start(levee: Arc<Levee>, config: JobsConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(config.interval_ms.max(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let levee = levee.clone();
            match tokio::task::spawn_blocking(move || levee.run_governance()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the governance run failed; retrying on the next tick"),
                Err(error) => tracing::error!(%error, "the governance run panicked"),
            }
        }
    })
}
