//! A case's ledger as a timeline, with the check of its lineage (the console's case page).

use super::responses::{Forbidden, NotFound, SignedIn};
use super::{ApiError, Call, Response, ok};
use crate::timeline::CaseTimeline;

/// The case's ledger entries, oldest first (sequence, time, event, actor and role, hashes, a
/// one-line summary of the payload), and whether they hold together: each entry's own hash,
/// its link to the entry before it, the case state it stored, each entry following legally
/// from the one before, and the case record equal to what its last entry recorded. The whole
/// chain is checked by `GET /v1/audit/verify`. Readable by every role that may read cases.
#[utoipa::path(get, path = "/v1/cases/{id}/timeline", tag = "cases",
    params(("id" = String, Path, description = "Case id, e.g. LV-000001")),
    responses((status = 200, body = CaseTimeline), SignedIn, Forbidden, NotFound),
    security(("bearer" = [])))]
pub fn get(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(super::cases::READERS, "reading a case")?;
    ok(&call.levee.cases().timeline(call.id())?)
}
