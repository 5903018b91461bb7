//! The schedule on request: a scheduler's call for one run (Spin has no background tasks, so a
//! Kubernetes CronJob, cron with curl or a Spin cron trigger calls it every 30 s or so;
//! `levee serve` runs the same schedule on its own timer, and answers the call too).

use super::responses::{Forbidden, SignedIn};
use super::{ApiError, Call, Response, ok};
use crate::identity::Role;
use crate::schedule::ScheduleRun;

/// One run of the schedule (`Schedule::run`): SLA escalation, the remediation loop, the
/// metrics fold, then the outgoing webhooks that are due. Admins only.
#[utoipa::path(post, path = "/v1/jobs/run", tag = "operations",
    responses((status = 200, body = ScheduleRun), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn run(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin], "running the schedule")?;
    // Each call leases the endpoints it sends to under a name of its own.
    let holder = format!("run-{}", call.levee.clock.now().timestamp_nanos_opt().unwrap_or_default());
    ok(&call.levee.schedule().run(&holder)?)
}
