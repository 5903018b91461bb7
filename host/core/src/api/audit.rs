//! Audit endpoints: recompute the ledger's hash chain, page through the ledger, and the
//! ledger's Merkle tree: signed checkpoints, inclusion and consistency proofs (`ledger_proofs`).

use super::responses::{Forbidden, Invalid, SignedIn};
use super::{ApiError, Call, ErrorBody, Response, ok};
use crate::identity::Role;
use crate::ledger::{LedgerEntry, VerifyReport};
use crate::ledger_proofs::{ConsistencyProof, InclusionProof};
use crate::validation::FieldError;

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
const MAX_PAGE: u64 = 1000;

/// Recompute the whole hash chain and check every case record against its last entry; names
/// the first entry that does not match.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn verify(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "verifying the ledger")?;
    ok(&call.levee.audit().verify()?)
}

/// Ledger entries in sequence order, for export.
#[utoipa::path(get, path = "/v1/ledger", tag = "audit",
    params(("from" = Option<i64>, Query, minimum = 0, description = "First sequence number (default 1)"),
           ("limit" = Option<i64>, Query, minimum = 0,
               description = "At most this many entries (default 1000; more than 1000 is taken as 1000)")),
    responses((status = 200, body = [LedgerEntry]), SignedIn, Forbidden, Invalid),
    security(("bearer" = [])))]
pub fn ledger(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "reading the ledger")?;
    let from = number_param(call, "from", 1)?;
    let limit = number_param(call, "limit", MAX_PAGE)?.min(MAX_PAGE);
    ok(&call.levee.audit().ledger_page(from, limit)?)
}

/// A query parameter the document declares as an `int64` of at least 0.
fn number_param(call: &Call<'_>, name: &str, default: u64) -> Result<u64, ApiError> {
    let Some(text) = call.query(name) else { return Ok(default) };
    text.parse::<u64>()
        .ok()
        .filter(|number| i64::try_from(*number).is_ok())
        .ok_or_else(|| ApiError::Invalid(FieldError::new(name, format!("must be an integer from 0 to {}", i64::MAX))))
}

/// The current tree of the ledger as a checkpoint signed by this host's key: a C2SP signed
/// note (origin, size, base64 root, then the signature line), to publish outside levee.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String,
               description = "A signed note: `<origin>\\n<size>\\n<base64 root>\\n\\n— <key name> <base64 signature>\\n`"),
              SignedIn, Forbidden,
              (status = 500, body = ErrorBody, description = "The chain does not verify (`integrity_check_failed`): nothing is signed"),
              (status = 501, body = ErrorBody, description = "No signing key is configured (`[audit] checkpoint_key`)")),
    security(("bearer" = [])))]
pub fn checkpoint(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "reading a signed checkpoint")?;
    let note = call.levee.audit().signed_checkpoint()?;
    let mut response = http::Response::new(note.into_bytes().into());
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

/// The proof that entry `seq` is in the tree of the first `size` entries (RFC 9162 §2.1.3).
#[utoipa::path(get, path = "/v1/audit/proof/inclusion", tag = "audit",
    params(("seq" = i64, Query, minimum = 1, description = "The entry's sequence number, at most `size`"),
           ("size" = Option<i64>, Query, minimum = 1,
               description = "The tree size, e.g. a checkpoint's, at most the ledger's (default: every entry)")),
    responses((status = 200, body = InclusionProof), SignedIn, Forbidden, Invalid),
    security(("bearer" = [])))]
pub fn inclusion_proof(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "reading a ledger proof")?;
    let seq = required_number(call, "seq")?;
    let size = optional_number(call, "size")?;
    ok(&call.levee.audit().inclusion_proof(seq, size)?)
}

/// The proof that the tree of the first `from` entries is a prefix of the tree of the first
/// `to` (RFC 9162 §2.1.4): the ledger only grew in between.
#[utoipa::path(get, path = "/v1/audit/proof/consistency", tag = "audit",
    params(("from" = i64, Query, minimum = 1, description = "The older tree size, e.g. a published checkpoint's, at most `to`"),
           ("to" = Option<i64>, Query, minimum = 1,
               description = "The newer tree size, at most the ledger's (default: every entry)")),
    responses((status = 200, body = ConsistencyProof), SignedIn, Forbidden, Invalid),
    security(("bearer" = [])))]
pub fn consistency_proof(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(AUDITORS, "reading a ledger proof")?;
    let from = required_number(call, "from")?;
    let to = optional_number(call, "to")?;
    ok(&call.levee.audit().consistency_proof(from, to)?)
}

fn optional_number(call: &Call<'_>, name: &str) -> Result<Option<u64>, ApiError> {
    call.query(name).map(|_| number_param(call, name, 0)).transpose()
}

fn required_number(call: &Call<'_>, name: &str) -> Result<u64, ApiError> {
    optional_number(call, name)?.ok_or_else(|| ApiError::Invalid(FieldError::new(name, "is required")))
}
