//! The approval queue.

use super::responses::{Forbidden, SignedIn};
use super::{ApiError, Call, Response, ok};
use crate::identity::Role;
use crate::service::QueueEntry;

/// Pending cases at or below your approver level, most urgent SLA first, each saying whether
/// you can give its next approval.
#[utoipa::path(get, path = "/v1/queue", tag = "approvals",
    responses((status = 200, body = [QueueEntry]), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let approver = call.principal_with(&[Role::Approver], "working the approval queue")?;
    ok(&call.levee.cases().queue(approver)?)
}
