//! Audit endpoints: recompute the ledger's hash chain, and page through the ledger.

use super::{ApiError, Call, ErrorBody, Response, ok};
use crate::identity::Role;
use crate::ledger::{LedgerEntry, VerifyReport};
use crate::validation::FieldError;

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
const MAX_PAGE: u64 = 1000;

/// Recompute the whole hash chain and check every case record against its last entry; names
/// the first entry that does not match.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn verify(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "verifying the ledger")?;
    ok(&call.levee.verify()?)
}

/// Ledger entries in sequence order, for export.
#[utoipa::path(get, path = "/v1/ledger", tag = "audit",
    params(("from" = Option<u64>, Query, description = "First sequence number (default 1)"),
           ("limit" = Option<u64>, Query, description = "At most this many entries (default and maximum 1000)")),
    responses((status = 200, body = [LedgerEntry]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn ledger(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "reading the ledger")?;
    let from = number_param(call, "from", 1)?;
    let limit = number_param(call, "limit", MAX_PAGE)?.min(MAX_PAGE);
    ok(&call.levee.ledger_page(from, limit)?)
}

fn number_param(call: &Call<'_>, name: &str, default: u64) -> Result<u64, ApiError> {
    match call.query(name) {
        None => Ok(default),
        Some(text) => {
            text.parse().map_err(|_| ApiError::Invalid(FieldError::new(name, "must be a non-negative integer")))
        }
    }
}
