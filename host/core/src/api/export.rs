//! Auditor exports over HTTP: the cases submitted in a range of UTC days, and the ledger entries
//! recorded in one, as CSV or NDJSON attachments (the rows and lines are `api::render::export`'s),
//! streamed: sent a batch of rows at a time as they are read, so that an export of any size
//! takes the memory of one batch.
//!
//! Neither export scans the whole store. The ledger is appended in time order, so a binary
//! search over the sequence (about log2(entries) single-slot reads) finds the first entry at or
//! after the range's start, less [`export::clock_skew`] for hosts whose clocks disagree. From
//! there the slots are read in batches of [`BATCH`] until one is recorded later than the range's
//! end plus that margin, keeping the entries that fall in the range: the cost is every entry in
//! the range (plus a few minutes either side), read once. The cases export keeps each
//! `case.submitted` entry of the range and reads that case as it stands now (its record and
//! its last slot, as every case read does), so approvals, closures and evidence given after the
//! range are included.
//!
//! The ledger's tip is fixed when the request starts (after settling the log): entries
//! appended while the export is sent are not in it. The search and the first piece (the batches
//! up to the first that gives a row) run before the answer's status is sent, so a failure there
//! is answered with its own status; a failure after that (the store lost mid-way) aborts the
//! transfer, which an HTTP/1.1 or HTTP/2 client reports as broken rather than as a complete file
//! (`api::Body`).

use chrono::{DateTime, Utc};
use http::StatusCode;

use super::render::export::{self, Contents, DateRange, Export, ExportError, Format};
use super::responses::{Forbidden, SignedIn};
use super::{ApiError, Body, Call, ErrorBody, Response};
use crate::identity::Role;
use crate::ledger::EventType;
use crate::ledger_store::{LedgerSlot, LedgerStore};
use crate::service::Levee;

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
        (status = 200, description = "An attachment, streamed: one CSV row or one JSON line per case",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        SignedIn, Forbidden,
        (status = 422, description = "A bad day, format or range", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn cases(call: &Call<'_>) -> Result<Response, ApiError> {
    let (range, format) = request(call, "exporting cases")?;
    stream(call.levee, range, Contents::Cases, format, write_case)
}

/// Ledger entries recorded in a range of UTC days, with their hashes and payloads.
#[utoipa::path(get, path = "/v1/export/ledger", tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "An attachment, streamed: one CSV row or one JSON line (the entry as hashed) per entry",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        SignedIn, Forbidden,
        (status = 422, description = "A bad day, format or range", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn ledger(call: &Call<'_>) -> Result<Response, ApiError> {
    let (range, format) = request(call, "exporting the ledger")?;
    stream(call.levee, range, Contents::Ledger, format, write_entry)
}

/// Writes what one slot of the range gives the export, if anything.
type WriteSlot = fn(&Levee, LedgerSlot, &mut Export) -> Result<(), ApiError>;

/// A case submitted in the range, as it stands now.
fn write_case(levee: &Levee, slot: LedgerSlot, export: &mut Export) -> Result<(), ApiError> {
    if slot.entry.event != EventType::CaseSubmitted {
        return Ok(());
    }
    let case_id = &slot.entry.subject;
    let case = levee.load_case(case_id)?.ok_or_else(|| {
        ApiError::Integrity(format!("case {case_id} has a submission entry but no record: run `levee audit verify`"))
    })?;
    export.push_case(&case).map_err(export_error)
}

/// An entry recorded in the range.
fn write_entry(_: &Levee, slot: LedgerSlot, export: &mut Export) -> Result<(), ApiError> {
    export.push_entry(&slot.entry).map_err(export_error)
}

/// The caller (an auditor or admin), the range and the format asked for.
fn request(call: &Call<'_>, action: &str) -> Result<(DateRange, Format), ApiError> {
    call.principal_with(AUDITORS, action)?;
    let range =
        DateRange::parse(call.query("from").as_deref(), call.query("to").as_deref()).map_err(ApiError::Invalid)?;
    let format = Format::parse(call.query("format").as_deref()).map_err(ApiError::Invalid)?;
    Ok((range, format))
}

fn export_error(error: ExportError) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// The export as an attachment whose rows are read and written while it is sent. The walk's
/// start and its first piece (the header and the rows up to the first batch that gives any)
/// are made now, so that their failures are answered as errors. The body keeps a view of levee
/// of its own (`for_request`): it outlives this call and the request's borrowed one.
fn stream(
    levee: &Levee,
    range: DateRange,
    contents: Contents,
    format: Format,
    write: WriteSlot,
) -> Result<Response, ApiError> {
    let levee = levee.for_request();
    let walk = RangeWalk::start(&levee.ledger_store(), range)?;
    let export = Export::new(contents, format).map_err(export_error)?;
    let mut pieces = ExportPieces { levee, walk, export, write, ready: None, failed: false };
    pieces.ready = pieces.next_piece()?;
    let filename = pieces.walk.range.filename(contents.name(), format);
    attachment(&filename, format, Body::Pieces(Box::new(pieces)))
}

/// The slots of a range of days, a batch at a time, up to the tip the walk started at.
struct RangeWalk {
    range: DateRange,
    next: u64,
    tip: u64,
    /// Past this time the walk ends: the range's end plus the clock skew allowed.
    stop: DateTime<Utc>,
    ended: bool,
}

impl RangeWalk {
    /// Settles the log and finds the range's first slot.
    fn start(ledger_store: &LedgerStore<'_>, range: DateRange) -> Result<RangeWalk, ApiError> {
        let tip = ledger_store.settle()?.seq;
        let skew = export::clock_skew();
        let next = export::first_at_or_after(tip, range.start() - skew, |seq| recorded_at(ledger_store, seq))?;
        let stop = range.end() + skew;
        Ok(RangeWalk { range, next, tip, stop, ended: false })
    }

    /// The next batch's slots whose entries were recorded in the range, in sequence order
    /// (possibly none); `None` once the walk is past the range or the tip.
    fn next_batch(&mut self, ledger_store: &LedgerStore<'_>) -> Result<Option<Vec<LedgerSlot>>, ApiError> {
        if self.ended || self.next > self.tip {
            return Ok(None);
        }
        let slots = ledger_store.slots(self.next, self.tip.min(self.next + BATCH - 1))?;
        if slots.is_empty() {
            return Err(missing(self.next));
        }
        self.next += slots.len() as u64;
        let mut in_range = Vec::with_capacity(slots.len());
        for slot in slots {
            if slot.entry.at >= self.stop {
                self.ended = true;
                break;
            }
            if self.range.contains(slot.entry.at) {
                in_range.push(slot);
            }
        }
        Ok(Some(in_range))
    }
}

/// An export's body: each piece the rows of the next batches that give any.
struct ExportPieces {
    levee: Levee,
    walk: RangeWalk,
    export: Export,
    write: WriteSlot,
    /// The piece made before the answer was sent (`stream`), given first.
    ready: Option<Vec<u8>>,
    /// A piece failed: nothing more is given (rows written before the failure are dropped).
    failed: bool,
}

impl ExportPieces {
    /// The rows of the next batches up to the first that gives any (with the header, the
    /// first time); `None` once the walk has ended and everything written was given.
    fn next_piece(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let ledger_store = self.levee.ledger_store();
        while let Some(slots) = self.walk.next_batch(&ledger_store)? {
            for slot in slots {
                (self.write)(&self.levee, slot, &mut self.export)?;
            }
            let piece = self.export.take().map_err(export_error)?;
            if !piece.is_empty() {
                return Ok(Some(piece));
            }
        }
        let rest = self.export.take().map_err(export_error)?;
        Ok((!rest.is_empty()).then_some(rest))
    }
}

impl Iterator for ExportPieces {
    type Item = Result<Vec<u8>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if let Some(piece) = self.ready.take() {
            return Some(Ok(piece));
        }
        match self.next_piece() {
            Ok(piece) => piece.map(Ok),
            Err(error) => {
                let cause = match error {
                    ApiError::Internal(cause) | ApiError::Unavailable(cause) | ApiError::Integrity(cause) => cause,
                    other => other.body().error.message,
                };
                tracing::error!(%cause, "an export failed while it was sent: the transfer is aborted");
                self.failed = true;
                Some(Err(cause))
            }
        }
    }
}

/// When the entry at `seq` (at or below the settled tip) was recorded.
fn recorded_at(ledger_store: &LedgerStore<'_>, seq: u64) -> Result<DateTime<Utc>, ApiError> {
    ledger_store.slot(seq)?.map(|slot| slot.entry.at).ok_or_else(|| missing(seq))
}

fn missing(seq: u64) -> ApiError {
    ApiError::Integrity(format!("ledger entry {seq} is missing below the tip: run `levee audit verify`"))
}

/// The export as an attachment named `filename`.
fn attachment(filename: &str, format: Format, body: Body) -> Result<Response, ApiError> {
    let mut response = http::Response::new(body);
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
        let ledger_store = LedgerStore::new(store);
        let mut walk = RangeWalk::start(&ledger_store, range).expect("started");
        let mut seqs = Vec::new();
        while let Some(slots) = walk.next_batch(&ledger_store).expect("walked") {
            seqs.extend(slots.iter().map(|slot| slot.entry.seq));
        }
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
