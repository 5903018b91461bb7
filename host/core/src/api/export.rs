//! Auditor exports over HTTP: the cases submitted in a range of UTC days, and the ledger entries
//! recorded in one, as CSV or NDJSON attachments (the rows and lines are `api::render::export`'s).
//!
//! Neither export scans the whole store. The ledger is appended in time order, so a binary
//! search over the sequence (about log2(entries) single-slot reads) finds the first entry at or
//! after the range's start, less [`export::clock_skew`] for hosts whose clocks disagree. From
//! there the slots are read in batches of [`BATCH`] until one is recorded later than the range's
//! end plus that margin, keeping the entries that fall in the range: the cost is every entry in
//! the range (plus a few minutes either side), read once. The cases export keeps each
//! `case.submitted` entry of the range and reads that case as it stands now (its record and
//! its last slot, as every case read does), so approvals, closures and evidence given after the
//! range are included. At most one batch of slots and one case are held besides the output,
//! which is capped (`export::MAX_ROWS`, `export::MAX_BYTES`) with a 422 asking for a narrower
//! range.

use chrono::{DateTime, Utc};
use http::StatusCode;

use super::render::export::{self, Contents, DateRange, Export, ExportError, Format, Limits};
use super::responses::{Forbidden, SignedIn};
use super::{ApiError, Call, ErrorBody, Response};
use crate::identity::Role;
use crate::ledger::EventType;
use crate::ledger_store::{LedgerSlot, LedgerStore};

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
/// Slots read from the store at a time while walking the range.
const BATCH: u64 = 256;

/// The query both exports take (for the OpenAPI document; the handlers read it with `Call::query`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; never built")]
struct ExportQuery {
    /// First day, YYYY-MM-DD (UTC).
    #[param(format = Date)]
    from: String,
    /// Last day, YYYY-MM-DD (UTC), inclusive: not before `from`, and at most 366 days in all.
    #[param(format = Date)]
    to: String,
    /// `csv` (the default) or `ndjson`.
    #[param(value_type = Option<ExportFormat>, inline)]
    format: Option<String>,
}

/// The formats an export is written in, by the name a query gives them (the schema of a query
/// parameter).
struct ExportFormat;

impl utoipa::PartialSchema for ExportFormat {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let names = [Format::Csv, Format::Ndjson].map(Format::extension);
        utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).enum_values(Some(names)).into()
    }
}

impl utoipa::ToSchema for ExportFormat {}

/// Cases submitted in a range of UTC days, each with its decision, approvals, closure and
/// evidence, as it stands now.
#[utoipa::path(get, path = "/v1/export/cases", tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "An attachment: one CSV row or one JSON line per case",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        SignedIn, Forbidden,
        (status = 422, description = "A bad day, format or range, or more than 100,000 cases", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn cases(call: &Call<'_>) -> Result<Response, ApiError> {
    let (range, format) = request(call, "exporting cases")?;
    let mut export = new_export(Contents::Cases, format)?;
    each_slot_in(&call.levee.ledger_store(), &range, |slot| {
        if slot.entry.event != EventType::CaseSubmitted {
            return Ok(());
        }
        let case_id = &slot.entry.subject;
        let case = call.levee.load_case(case_id)?.ok_or_else(|| {
            ApiError::Integrity(format!(
                "case {case_id} has a submission entry but no record: run `levee audit verify`"
            ))
        })?;
        export.push_case(&case).map_err(export_error)
    })?;
    attachment(&range, Contents::Cases, format, export)
}

/// Ledger entries recorded in a range of UTC days, with their hashes and payloads.
#[utoipa::path(get, path = "/v1/export/ledger", tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "An attachment: one CSV row or one JSON line (the entry as hashed) per entry",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        SignedIn, Forbidden,
        (status = 422, description = "A bad day, format or range, or more than 100,000 entries", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn ledger(call: &Call<'_>) -> Result<Response, ApiError> {
    let (range, format) = request(call, "exporting the ledger")?;
    let mut export = new_export(Contents::Ledger, format)?;
    each_slot_in(&call.levee.ledger_store(), &range, |slot| export.push_entry(&slot.entry).map_err(export_error))?;
    attachment(&range, Contents::Ledger, format, export)
}

/// The caller (an auditor or admin), the range and the format asked for.
fn request(call: &Call<'_>, action: &str) -> Result<(DateRange, Format), ApiError> {
    call.principal_with(AUDITORS, action)?;
    let range =
        DateRange::parse(call.query("from").as_deref(), call.query("to").as_deref()).map_err(ApiError::Invalid)?;
    let format = Format::parse(call.query("format").as_deref()).map_err(ApiError::Invalid)?;
    Ok((range, format))
}

fn new_export(contents: Contents, format: Format) -> Result<Export, ApiError> {
    Export::new(contents, format, Limits::default()).map_err(export_error)
}

fn export_error(error: ExportError) -> ApiError {
    match error {
        ExportError::TooLarge(field) => ApiError::Invalid(field),
        ExportError::Write(message) => ApiError::Internal(message),
    }
}

/// Calls `visit` with every slot whose entry was recorded in `range`, in sequence order, after
/// settling the log.
fn each_slot_in(
    ledger_store: &LedgerStore<'_>,
    range: &DateRange,
    mut visit: impl FnMut(LedgerSlot) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let tip = ledger_store.settle()?.seq;
    let skew = export::clock_skew();
    let mut next = export::first_at_or_after(tip, range.start() - skew, |seq| recorded_at(ledger_store, seq))?;
    let stop = range.end() + skew;
    while next <= tip {
        let slots = ledger_store.slots(next, tip.min(next + BATCH - 1))?;
        if slots.is_empty() {
            return Err(missing(next));
        }
        next += slots.len() as u64;
        for slot in slots {
            if slot.entry.at >= stop {
                return Ok(());
            }
            if range.contains(slot.entry.at) {
                visit(slot)?;
            }
        }
    }
    Ok(())
}

/// When the entry at `seq` (at or below the settled tip) was recorded.
fn recorded_at(ledger_store: &LedgerStore<'_>, seq: u64) -> Result<DateTime<Utc>, ApiError> {
    ledger_store.slot(seq)?.map(|slot| slot.entry.at).ok_or_else(|| missing(seq))
}

fn missing(seq: u64) -> ApiError {
    ApiError::Integrity(format!("ledger entry {seq} is missing below the tip: run `levee audit verify`"))
}

/// The export as an attachment named after its range.
fn attachment(range: &DateRange, contents: Contents, format: Format, export: Export) -> Result<Response, ApiError> {
    let filename = range.filename(contents.name(), format);
    let mut response = http::Response::new(export.finish().map_err(export_error)?);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(format.content_type()));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    let disposition = http::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    headers.insert(http::header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::case::Transition;
    use crate::fixtures::pending_case;
    use crate::ledger_store::EntryContext;
    use crate::store::MemoryStore;

    /// A ledger of one submission per time, in this order.
    fn ledger(times: &[DateTime<Utc>]) -> MemoryStore {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        for (index, at) in times.iter().enumerate() {
            let tip = ledger_store.settle().expect("settled");
            let transition = Transition {
                case: pending_case(&format!("LV-{:06}", index + 1)),
                event: EventType::CaseSubmitted,
                authority: None,
                payload: serde_json::json!({}),
            };
            let context = EntryContext {
                actor: "avery".into(),
                role: Role::Agent,
                at: *at,
                policies: Vec::new(),
                matrix_version: "m".into(),
                taxonomy_version: "t".into(),
                facts_hash: None,
            };
            ledger_store.try_append(&tip, transition, context).expect("stored").expect("slot claimed");
        }
        store
    }

    fn seqs_in(store: &MemoryStore, from: &str, to: &str) -> Vec<u64> {
        let range = DateRange::parse(Some(from), Some(to)).expect("a range");
        let mut seqs = Vec::new();
        each_slot_in(&LedgerStore::new(store), &range, |slot| {
            seqs.push(slot.entry.seq);
            Ok(())
        })
        .expect("walked");
        seqs
    }

    /// Entry `n` (from 1) at 23:00 on 1 November plus `n` minutes, except that entry 62 ran
    /// 2 minutes behind: 23:59:30 on the 1st, after entries of the 2nd.
    fn times() -> Vec<DateTime<Utc>> {
        let base = Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).single().expect("a time");
        let mut times: Vec<DateTime<Utc>> = (1..=600).map(|minutes| base + TimeDelta::minutes(minutes)).collect();
        times[61] = base + TimeDelta::seconds(59 * 60 + 30);
        times
    }

    #[test]
    fn the_walk_keeps_the_range_across_batches_and_clock_skew() {
        let store = ledger(&times());
        let mut first_day: Vec<u64> = (1..=59).collect();
        first_day.push(62);
        assert_eq!(seqs_in(&store, "2026-11-01", "2026-11-01"), first_day, "the late entry is found past the end");
        let second_day: Vec<u64> = (60..=600).filter(|seq| *seq != 62).collect();
        assert_eq!(seqs_in(&store, "2026-11-02", "2026-11-02"), second_day, "over three batches");
        assert_eq!(seqs_in(&store, "2026-11-01", "2026-11-02"), (1..=600).collect::<Vec<_>>());
        assert!(seqs_in(&store, "2026-10-31", "2026-10-31").is_empty());
        assert!(seqs_in(&store, "2026-11-03", "2026-12-31").is_empty());
        assert!(seqs_in(&MemoryStore::new(), "2026-11-01", "2026-11-01").is_empty(), "an empty ledger");
    }
}
