//! The component's wall clock (`wasi:clocks/wall-clock`) read from levee's clock port, so that a
//! test moving a `ManualClock` moves the time the component sees, as it does for the native
//! server. The monotonic clock stays the real one.

use std::sync::Arc;
use std::time::Duration;

use levee_core::clock::Clock;
use wasmtime_wasi::HostWallClock;

/// A `HostWallClock` over a levee `Clock`.
pub struct LeveeWallClock(pub Arc<dyn Clock>);

impl HostWallClock for LeveeWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    /// Time since the Unix epoch; a clock set before 1970 reads as the epoch.
    fn now(&self) -> Duration {
        let now = self.0.now();
        match u64::try_from(now.timestamp()) {
            Ok(seconds) => Duration::new(seconds, now.timestamp_subsec_nanos()),
            Err(_) => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use levee_core::clock::ManualClock;

    use super::*;

    #[test]
    fn reads_the_levee_clock() {
        let manual = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()));
        let clock = LeveeWallClock(manual.clone());
        assert_eq!(clock.now(), Duration::from_secs(1_893_553_445));
        manual.advance(chrono::Duration::hours(1));
        assert_eq!(clock.now(), Duration::from_secs(1_893_553_445 + 3600));
    }
}
