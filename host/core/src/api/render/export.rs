//! Exports for auditors: the cases submitted in a range of UTC days, with their decisions and
//! approvals, and the ledger entries recorded in such a range, as CSV or NDJSON. Pure: rows and
//! lines from cases and entries, the date range and format parsing, and the search for where a
//! range starts in the ledger. Reading the store is `api::export`'s.
//!
//! **NDJSON** has one JSON object per line: an [`ExportedCase`] per case, or the ledger entry
//! exactly as it is hashed (so an auditor can recompute every `hash` from the line).
//!
//! **CSV** (RFC 4180, CRLF line ends, a header row) has one row per case or per entry, so that a
//! spreadsheet's counts and sums over amounts hold. Lists inside a cell:
//!
//! - identifiers (rule ids, evidence kinds, policies as `name@version:digest`, ledger
//!   sequence numbers) are joined with `;`;
//! - `reasons` and `evidence` (`kind:reference`, then ` sha256:<hex>` where a hash was given) put
//!   one item per line in the cell;
//! - `approvals` is `approver@at` joined with `;`, written `approver(for delegator)@at` when
//!   given on behalf of a delegator;
//! - `approvals_json` and `evidence_json` carry every field of each approval and each piece of
//!   evidence as a JSON array, and the ledger's `payload` is its JSON text, for anything that
//!   must be exact.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return)
//! as a formula, so such a cell gets a leading `'` (OWASP's advice against CSV injection). No
//! number levee writes is negative, so only text is ever changed; NDJSON is never changed.
//!
//! An export is written a run of rows at a time ([`Export::take`]) and sent as it is written, so
//! that its size does not bound it: `api::export` streams it.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

use crate::case::{Approval, Case, Closure};
use crate::decision::Verdict;
use crate::engine::PolicyIdentity;
use crate::evidence::{Evidence, EvidenceKind};
use crate::identity::ApproverLevel;
use crate::ledger::LedgerEntry;
use crate::validation::FieldError;

/// The longest range one export may cover, in days (a leap year).
pub const MAX_DAYS: i64 = 366;

/// How far the ledger's times may run out of order: hosts' clocks differ, and a submission
/// takes its time before its policies run. The walk starts and stops this far outside the range.
pub fn clock_skew() -> TimeDelta {
    TimeDelta::minutes(5)
}

/// The format asked for with `format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    /// `csv` (also the default) or `ndjson`.
    pub fn parse(value: Option<&str>) -> Result<Format, FieldError> {
        match value {
            None | Some("csv") => Ok(Format::Csv),
            Some("ndjson") => Ok(Format::Ndjson),
            Some(other) => Err(FieldError::new("format", format!("'{other}' is not an export format"))
                .with_valid_values(vec!["csv".to_owned(), "ndjson".to_owned()])),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Whole UTC days, `from` through `to` inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl DateRange {
    /// Both days as `YYYY-MM-DD`; `to` not before `from`, and at most [`MAX_DAYS`] days in all.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<DateRange, FieldError> {
        let from = parse_day("from", from)?;
        let to = parse_day("to", to)?;
        if to < from {
            return Err(FieldError::new("to", format!("{to} is before from ({from})")));
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_DAYS {
            return Err(FieldError::new("to", format!("the range is {days} days; at most {MAX_DAYS} in one export")));
        }
        let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|time| time.and_utc());
        let end = to.succ_opt().and_then(midnight);
        match (midnight(from), end) {
            (Some(start), Some(end)) => Ok(DateRange { from, to, start, end }),
            _ => Err(FieldError::new("to", "is too far in the future")),
        }
    }

    /// Midnight (UTC) starting `from`.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Midnight (UTC) ending `to`: the first moment after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// The attachment's name, e.g. `levee-cases-2026-01-01-2026-01-31.csv`.
    pub fn filename(&self, what: &str, format: Format) -> String {
        format!("levee-{what}-{}-{}.{}", self.from, self.to, format.extension())
    }
}

fn parse_day(field: &str, value: Option<&str>) -> Result<NaiveDate, FieldError> {
    let text = value.ok_or_else(|| FieldError::new(field, "is required: a day as YYYY-MM-DD (UTC)"))?;
    let day = crate::validation::matches_shape(text, "DDDD-DD-DD")
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    day.ok_or_else(|| FieldError::new(field, format!("'{text}' is not a day as YYYY-MM-DD")))
}

/// The first sequence number in `1..=tip` whose entry was recorded at or after `target`
/// (`tip + 1` if none was), in about log2(tip) calls of `at_of`, which reads one entry's time.
/// Entries are appended in time order, so the times rise with the sequence; where clocks ran
/// out of order, the caller searches [`clock_skew`] early.
pub fn first_at_or_after<E>(
    tip: u64,
    target: DateTime<Utc>,
    mut at_of: impl FnMut(u64) -> Result<DateTime<Utc>, E>,
) -> Result<u64, E> {
    let (mut low, mut high) = (1, tip.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        if at_of(middle)? < target {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// Why an export could not be written (a row that would not serialize).
#[derive(Debug, thiserror::Error)]
#[error("the export could not be written: {0}")]
pub struct ExportError(String);

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    Cases,
    Ledger,
}

impl Contents {
    /// The name in the attachment's file name.
    pub fn name(self) -> &'static str {
        match self {
            Contents::Cases => "cases",
            Contents::Ledger => "ledger",
        }
    }
}

enum Sink {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Ndjson(Vec<u8>),
}

/// An export being written, row by row, into a buffer that [`Export::take`] empties: the
/// export is sent a run of rows at a time and never held whole.
pub struct Export {
    sink: Sink,
}

impl Export {
    /// An empty export (a CSV one starts with its header row).
    pub fn new(contents: Contents, format: Format) -> Result<Export, ExportError> {
        let sink = match format {
            Format::Ndjson => Sink::Ndjson(Vec::new()),
            Format::Csv => {
                let mut writer = csv_writer();
                let header = match contents {
                    Contents::Cases => &CASE_COLUMNS[..],
                    Contents::Ledger => &LEDGER_COLUMNS[..],
                };
                writer.write_record(header).map_err(write_error)?;
                Sink::Csv(Box::new(writer))
            }
        };
        Ok(Export { sink })
    }

    /// Adds one case.
    pub fn push_case(&mut self, case: &Case) -> Result<(), ExportError> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.write_record(case_row(case)).map_err(write_error),
            Sink::Ndjson(out) => write_line(out, &ExportedCase::of(case)),
        }
    }

    /// Adds one ledger entry.
    pub fn push_entry(&mut self, entry: &LedgerEntry) -> Result<(), ExportError> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.write_record(ledger_row(entry)).map_err(write_error),
            Sink::Ndjson(out) => write_line(out, entry),
        }
    }

    /// The bytes written since the last `take` (the header, for the first), leaving the buffer
    /// empty: every row is whole in the piece it was written to.
    pub fn take(&mut self) -> Result<Vec<u8>, ExportError> {
        match &mut self.sink {
            Sink::Csv(writer) => {
                let written = std::mem::replace(writer, Box::new(csv_writer()));
                written.into_inner().map_err(|error| ExportError(error.to_string()))
            }
            Sink::Ndjson(out) => Ok(std::mem::take(out)),
        }
    }
}

/// A CSV writer into memory, as RFC 4180 says (CRLF line ends).
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

fn write_error(error: csv::Error) -> ExportError {
    ExportError(error.to_string())
}

fn write_line<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, value).map_err(|error| ExportError(error.to_string()))?;
    out.push(b'\n');
    Ok(())
}

/// A case as the NDJSON export writes it: what an auditor checks, in a stable shape.
#[derive(Debug, Serialize)]
pub struct ExportedCase<'a> {
    pub case_id: &'a str,
    pub kind: crate::case::CaseKind,
    pub status: &'static str,
    pub exception_code: &'a str,
    pub code_category: &'a str,
    pub taxonomy_version: &'a str,
    pub team: &'a str,
    pub requester: &'a str,
    pub channel: &'a str,
    pub customer_ref: &'a str,
    pub order_ref: Option<&'a str>,
    pub amount_minor_units: i64,
    pub currency: &'a str,
    pub rationale: &'a str,
    pub submitted_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision: ExportedDecision<'a>,
    pub approvals: Vec<ExportedApproval<'a>>,
    pub closure: Option<&'a Closure>,
    pub evidence: Vec<ExportedEvidence<'a>>,
    pub version: u64,
    pub ledger_seqs: &'a [u64],
}

/// The decision on a case, with the level it was escalated to since, if any.
#[derive(Debug, Serialize)]
pub struct ExportedDecision<'a> {
    /// `auto_approve`, `require_approval` or `reject`.
    pub verdict: &'static str,
    pub level: Option<ApproverLevel>,
    pub approvals_needed: Option<u8>,
    /// The level the last SLA escalation moved the case to.
    pub escalated_to: Option<ApproverLevel>,
    pub failed_closed: bool,
    pub reasons: &'a [String],
    pub rule_ids: &'a [String],
    pub required_evidence: Vec<EvidenceKind>,
    /// Required evidence not attached (as the case stands now).
    pub missing_evidence: Vec<EvidenceKind>,
    pub policies: Vec<ExportedPolicy<'a>>,
}

/// One policy that took part in the decision.
#[derive(Debug, Serialize)]
pub struct ExportedPolicy<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub digest: &'a str,
    pub verdict: &'a str,
    pub rule_id: Option<&'a str>,
    pub failure: Option<&'a str>,
}

/// One approval, with the authority it was given under.
#[derive(Debug, Serialize)]
pub struct ExportedApproval<'a> {
    pub approver: &'a str,
    pub on_behalf_of: Option<&'a str>,
    pub level: ApproverLevel,
    pub limit_minor_units: Option<i64>,
    pub currency: &'a str,
    pub authority_source: &'a str,
    pub rationale: &'a str,
    pub at: DateTime<Utc>,
}

/// One piece of evidence: what it is, where it lives, its hash, who linked it and when.
#[derive(Debug, Serialize)]
pub struct ExportedEvidence<'a> {
    pub kind: EvidenceKind,
    pub reference: &'a str,
    pub sha256: Option<&'a str>,
    /// `stored` (levee keeps the file and computed `sha256`) or `asserted` (a reference).
    pub provenance: &'static str,
    pub added_by: &'a str,
    pub added_at: DateTime<Utc>,
}

impl<'a> ExportedCase<'a> {
    pub fn of(case: &'a Case) -> ExportedCase<'a> {
        ExportedCase {
            case_id: &case.id,
            kind: case.kind,
            status: case.status.as_str(),
            exception_code: &case.exception_code,
            code_category: &case.code_category,
            taxonomy_version: &case.taxonomy_version,
            team: &case.team,
            requester: &case.requester,
            channel: &case.channel,
            customer_ref: &case.customer_ref,
            order_ref: case.order_ref.as_deref(),
            amount_minor_units: case.amount.minor_units,
            currency: &case.amount.currency,
            rationale: &case.rationale,
            submitted_at: case.submitted_at,
            decided_at: case.decided_at,
            decision: ExportedDecision::of(case),
            approvals: case.approvals.iter().map(ExportedApproval::of).collect(),
            closure: case.closure.as_ref(),
            evidence: case.evidence.iter().map(ExportedEvidence::of).collect(),
            version: case.version,
            ledger_seqs: &case.ledger_seqs,
        }
    }
}

impl<'a> ExportedDecision<'a> {
    fn of(case: &'a Case) -> ExportedDecision<'a> {
        let decision = &case.decision;
        let (verdict, level, approvals_needed) = match decision.verdict {
            Verdict::AutoApprove => ("auto_approve", None, None),
            Verdict::RequireApproval { level, approvals_needed } => {
                ("require_approval", Some(level), Some(approvals_needed))
            }
            Verdict::Reject => ("reject", None, None),
        };
        let policies = decision
            .policies
            .iter()
            .map(|run| ExportedPolicy {
                name: &run.policy.name,
                version: &run.policy.version,
                digest: &run.policy.digest,
                verdict: &run.verdict,
                rule_id: run.rule_id.as_deref(),
                failure: run.failure.as_deref(),
            })
            .collect();
        ExportedDecision {
            verdict,
            level,
            approvals_needed,
            escalated_to: case.escalations.last().map(|escalation| escalation.to),
            failed_closed: decision.failed_closed,
            reasons: &decision.reasons,
            rule_ids: &decision.rule_ids,
            required_evidence: decision.required_evidence.iter().copied().collect(),
            missing_evidence: case.missing_evidence(),
            policies,
        }
    }
}

impl<'a> ExportedApproval<'a> {
    fn of(approval: &'a Approval) -> ExportedApproval<'a> {
        ExportedApproval {
            approver: &approval.approver,
            on_behalf_of: approval.on_behalf_of.as_deref(),
            level: approval.authority.level,
            limit_minor_units: approval.authority.limit_minor_units,
            currency: &approval.authority.currency,
            authority_source: &approval.authority.source,
            rationale: &approval.rationale,
            at: approval.at,
        }
    }
}

impl<'a> ExportedEvidence<'a> {
    fn of(evidence: &'a Evidence) -> ExportedEvidence<'a> {
        ExportedEvidence {
            kind: evidence.kind,
            reference: &evidence.reference,
            sha256: evidence.sha256.as_deref(),
            provenance: if evidence.stored.is_some() { "stored" } else { "asserted" },
            added_by: &evidence.added_by,
            added_at: evidence.added_at,
        }
    }
}

/// The columns of the cases CSV, in order.
pub const CASE_COLUMNS: [&str; 36] = [
    "case_id",
    "kind",
    "status",
    "exception_code",
    "code_category",
    "team",
    "requester",
    "channel",
    "customer_ref",
    "order_ref",
    "amount_minor_units",
    "currency",
    "submitted_at",
    "decided_at",
    "verdict",
    "level",
    "approvals_needed",
    "escalated_to",
    "failed_closed",
    "reasons",
    "rule_ids",
    "required_evidence",
    "missing_evidence",
    "policies",
    "approval_count",
    "approvals",
    "approvals_json",
    "closure_by",
    "closure_at",
    "closure_rationale",
    "evidence",
    "evidence_json",
    "rationale",
    "taxonomy_version",
    "version",
    "ledger_seqs",
];

/// One case as a CSV row, cells guarded against formulas.
pub fn case_row(case: &Case) -> [String; CASE_COLUMNS.len()] {
    let exported = ExportedCase::of(case);
    let decision = &exported.decision;
    let closure = exported.closure;
    [
        exported.case_id.to_owned(),
        name_of(&exported.kind),
        exported.status.to_owned(),
        exported.exception_code.to_owned(),
        exported.code_category.to_owned(),
        exported.team.to_owned(),
        exported.requester.to_owned(),
        exported.channel.to_owned(),
        exported.customer_ref.to_owned(),
        exported.order_ref.unwrap_or_default().to_owned(),
        exported.amount_minor_units.to_string(),
        exported.currency.to_owned(),
        timestamp(exported.submitted_at),
        exported.decided_at.map(timestamp).unwrap_or_default(),
        decision.verdict.to_owned(),
        decision.level.map(ApproverLevel::as_str).unwrap_or_default().to_owned(),
        decision.approvals_needed.map(|needed| needed.to_string()).unwrap_or_default(),
        decision.escalated_to.map(ApproverLevel::as_str).unwrap_or_default().to_owned(),
        decision.failed_closed.to_string(),
        decision.reasons.join("\n"),
        decision.rule_ids.join(";"),
        joined(decision.required_evidence.iter().map(name_of), ";"),
        joined(decision.missing_evidence.iter().map(name_of), ";"),
        joined(case.decision.policies.iter().map(|run| policy_label(&run.policy)), ";"),
        exported.approvals.len().to_string(),
        joined(exported.approvals.iter().map(approval_summary), ";"),
        json_text(&exported.approvals),
        closure.map(|closure| closure.by.clone()).unwrap_or_default(),
        closure.map(|closure| timestamp(closure.at)).unwrap_or_default(),
        closure.map(|closure| closure.rationale.clone()).unwrap_or_default(),
        joined(exported.evidence.iter().map(evidence_summary), "\n"),
        json_text(&exported.evidence),
        exported.rationale.to_owned(),
        exported.taxonomy_version.to_owned(),
        exported.version.to_string(),
        joined(exported.ledger_seqs.iter().map(u64::to_string), ";"),
    ]
    .map(guard_formula)
}

/// The columns of the ledger CSV, in order.
pub const LEDGER_COLUMNS: [&str; 19] = [
    "seq",
    "at",
    "subject",
    "subject_version",
    "event",
    "actor",
    "role",
    "authority_level",
    "authority_limit_minor_units",
    "authority_currency",
    "authority_source",
    "policies",
    "matrix_version",
    "taxonomy_version",
    "facts_hash",
    "state_hash",
    "prev_hash",
    "hash",
    "payload",
];

/// One ledger entry as a CSV row, cells guarded against formulas.
pub fn ledger_row(entry: &LedgerEntry) -> [String; LEDGER_COLUMNS.len()] {
    let authority = entry.authority.as_ref();
    [
        entry.seq.to_string(),
        timestamp(entry.at),
        entry.subject.clone(),
        entry.subject_version.to_string(),
        name_of(&entry.event),
        entry.actor.clone(),
        name_of(&entry.role),
        authority.map(|authority| authority.level.as_str().to_owned()).unwrap_or_default(),
        authority.and_then(|authority| authority.limit_minor_units).map(|limit| limit.to_string()).unwrap_or_default(),
        authority.map(|authority| authority.currency.clone()).unwrap_or_default(),
        authority.map(|authority| authority.source.clone()).unwrap_or_default(),
        joined(entry.policies.iter().map(policy_label), ";"),
        entry.matrix_version.clone(),
        entry.taxonomy_version.clone(),
        entry.facts_hash.clone().unwrap_or_default(),
        entry.state_hash.clone(),
        entry.prev_hash.clone(),
        entry.hash.clone(),
        json_text(&entry.payload),
    ]
    .map(guard_formula)
}

/// `name@version:digest`.
fn policy_label(policy: &PolicyIdentity) -> String {
    format!("{}@{}:{}", policy.name, policy.version, policy.digest)
}

/// `approver@at`, or `approver(for delegator)@at`.
fn approval_summary(approval: &ExportedApproval<'_>) -> String {
    match approval.on_behalf_of {
        Some(delegator) => format!("{}(for {delegator})@{}", approval.approver, timestamp(approval.at)),
        None => format!("{}@{}", approval.approver, timestamp(approval.at)),
    }
}

/// `kind:reference`, with ` sha256:<hex>` where a hash was given.
fn evidence_summary(evidence: &ExportedEvidence<'_>) -> String {
    let mut summary = format!("{}:{}", name_of(&evidence.kind), evidence.reference);
    if let Some(sha256) = evidence.sha256 {
        summary.push_str(" sha256:");
        summary.push_str(sha256);
    }
    summary
}

/// A leading `'` for a cell a spreadsheet would run as a formula.
pub fn guard_formula(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

/// A time as the JSON has it: RFC 3339 in UTC, `Z`, fractions only where there are any.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The name serde gives a unit enum value (`refund`, `case.submitted`).
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn joined(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{CaseStatus, Escalation};
    use crate::identity::{AuthoritySnapshot, Role};
    use crate::ledger::EventType;
    use chrono::TimeZone;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
    }

    fn time(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, minute, 0).single().expect("a time")
    }

    fn approval(approver: &str, on_behalf_of: Option<&str>, at: DateTime<Utc>) -> Approval {
        Approval {
            approver: approver.to_owned(),
            role: Role::Approver,
            authority: AuthoritySnapshot {
                level: ApproverLevel::Lead,
                limit_minor_units: Some(50_000),
                currency: "USD".to_owned(),
                source: "demo:lead".to_owned(),
            },
            rationale: "checked, \"tracking\" shows loss".to_owned(),
            at,
            checks: vec![],
            on_behalf_of: on_behalf_of.map(str::to_owned),
            delegation: None,
        }
    }

    /// A case that puts every quoting and guarding rule to work.
    fn awkward_case() -> Case {
        let mut case = crate::fixtures::pending_case("LV-000007");
        case.customer_ref = "=HYPERLINK(\"http://evil\")".to_owned();
        case.rationale = "late; customer said \"never again\"\nsecond line".to_owned();
        case.team = "-ops".to_owned();
        case.status = CaseStatus::Approved;
        case.decided_at = Some(time(11, 0));
        case.ledger_seqs = vec![1, 4, 9];
        case.approvals = vec![approval("lee", None, time(10, 0)), approval("kim", Some("pat"), time(11, 0))];
        case.evidence = vec![Evidence {
            kind: EvidenceKind::Attachment,
            reference: "@doc,1".to_owned(),
            sha256: Some("ab".repeat(32)),
            description: None,
            added_by: "avery".to_owned(),
            added_at: time(9, 45),
            stored: None,
        }];
        case
    }

    fn cell<'a>(row: &'a [String], column: &str) -> &'a str {
        let index = CASE_COLUMNS.iter().position(|name| *name == column).expect("a column");
        &row[index]
    }

    #[test]
    fn ranges_are_whole_utc_days_inclusive() {
        let range = DateRange::parse(Some("2026-11-02"), Some("2026-11-03")).expect("a range");
        assert_eq!(range.start(), time(0, 0));
        assert_eq!(range.end(), Utc.with_ymd_and_hms(2026, 11, 4, 0, 0, 0).single().expect("a time"));
        assert!(range.contains(time(0, 0)));
        assert!(range.contains(Utc.with_ymd_and_hms(2026, 11, 3, 23, 59, 59).single().expect("a time")));
        assert!(!range.contains(range.end()));
        assert!(!range.contains(time(0, 0) - TimeDelta::nanoseconds(1)));
        assert_eq!(range.filename("cases", Format::Csv), "levee-cases-2026-11-02-2026-11-03.csv");
        assert_eq!((range.from, range.to), (day("2026-11-02"), day("2026-11-03")));
    }

    #[test]
    fn bad_ranges_name_their_field() {
        let field = |from: Option<&str>, to: Option<&str>| DateRange::parse(from, to).expect_err("refused").field;
        assert_eq!(field(None, Some("2026-11-02")), "from");
        assert_eq!(field(Some("2026-11-02"), None), "to");
        assert_eq!(field(Some("2026-13-01"), Some("2026-12-01")), "from");
        assert_eq!(field(Some("2026-1-1"), Some("2026-12-01")), "from");
        assert_eq!(field(Some("2026-11-02"), Some("yesterday")), "to");
        assert_eq!(field(Some("2026-11-02"), Some("2026-11-01")), "to");
        assert!(DateRange::parse(Some("2024-01-01"), Some("2024-12-31")).is_ok(), "a leap year is 366 days");
        assert_eq!(field(Some("2025-01-01"), Some("2026-01-02")), "to");
    }

    #[test]
    fn formats_parse_and_name_their_media_type() {
        assert_eq!(Format::parse(None), Ok(Format::Csv));
        assert_eq!(Format::parse(Some("ndjson")).map(Format::content_type), Ok("application/x-ndjson"));
        assert_eq!(Format::parse(Some("csv")).map(Format::content_type), Ok("text/csv; charset=utf-8"));
        let refused = Format::parse(Some("xlsx")).expect_err("refused");
        assert_eq!((refused.field.as_str(), refused.valid_values.map(|values| values.len())), ("format", Some(2)));
    }

    #[test]
    fn the_search_finds_the_first_entry_at_or_after_a_time() {
        let times: Vec<DateTime<Utc>> = [1, 3, 3, 3, 7, 9].iter().map(|minute| time(8, *minute)).collect();
        let search = |target| first_at_or_after::<()>(6, target, |seq| Ok(times[seq as usize - 1]));
        assert_eq!(search(time(8, 0)), Ok(1));
        assert_eq!(search(time(8, 3)), Ok(2), "the first of equal times");
        assert_eq!(search(time(8, 4)), Ok(5));
        assert_eq!(search(time(8, 9)), Ok(6));
        assert_eq!(search(time(8, 10)), Ok(7), "past the tip");
        assert_eq!(first_at_or_after::<()>(0, time(8, 0), |_| Err(())), Ok(1), "an empty ledger reads nothing");
    }

    #[test]
    fn formulas_are_guarded_and_other_text_is_not() {
        for dangerous in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(guard_formula(dangerous.to_owned()), format!("'{dangerous}"));
        }
        for safe in ["", "a=b", "1-2", "'=already", "LV-000001"] {
            assert_eq!(guard_formula(safe.to_owned()), safe);
        }
    }

    #[test]
    fn a_case_row_joins_lists_as_documented() {
        let row = case_row(&awkward_case());
        assert_eq!(cell(&row, "case_id"), "LV-000007");
        assert_eq!(cell(&row, "customer_ref"), "'=HYPERLINK(\"http://evil\")");
        assert_eq!(cell(&row, "team"), "'-ops");
        assert_eq!(cell(&row, "amount_minor_units"), "40000");
        assert_eq!((cell(&row, "verdict"), cell(&row, "level")), ("require_approval", "lead"));
        assert_eq!(cell(&row, "approvals_needed"), "1");
        assert_eq!(cell(&row, "approvals"), "lee@2026-11-02T10:00:00Z;kim(for pat)@2026-11-02T11:00:00Z");
        assert_eq!(cell(&row, "approval_count"), "2");
        assert_eq!(cell(&row, "evidence"), format!("attachment:@doc,1 sha256:{}", "ab".repeat(32)));
        assert_eq!(cell(&row, "policies"), format!("threshold@1:{}", "d".repeat(64)));
        assert_eq!(cell(&row, "required_evidence"), "rationale");
        assert_eq!(cell(&row, "missing_evidence"), "");
        assert_eq!(cell(&row, "decided_at"), "2026-11-02T11:00:00Z");
        let approvals: serde_json::Value = serde_json::from_str(cell(&row, "approvals_json")).expect("JSON");
        assert_eq!(approvals[1]["on_behalf_of"], "pat");
        assert_eq!(approvals[0]["limit_minor_units"], 50_000);
    }

    #[test]
    fn the_cases_csv_is_quoted_as_rfc_4180_says() {
        let mut case = awkward_case();
        case.approvals.truncate(1);
        case.evidence.clear();
        let mut export = Export::new(Contents::Cases, Format::Csv).expect("an export");
        export.push_case(&case).expect("a row");
        let text = String::from_utf8(export.take().expect("bytes")).expect("UTF-8");
        let (header, row) = text.split_once("\r\n").expect("a header line");
        assert_eq!(header, CASE_COLUMNS.join(","));
        let expected = [
            "LV-000007",
            "refund",
            "approved",
            "LATE_DELIVERY",
            "fulfilment",
            "'-ops",
            "avery",
            "api",
            "\"'=HYPERLINK(\"\"http://evil\"\")\"",
            "",
            "40000",
            "USD",
            "2026-11-02T09:30:00Z",
            "2026-11-02T11:00:00Z",
            "require_approval",
            "lead",
            "1",
            "",
            "false",
            "band",
            "test/band",
            "rationale",
            "",
            &format!("threshold@1:{}", "d".repeat(64)),
            "1",
            "lee@2026-11-02T10:00:00Z",
            "\"[{\"\"approver\"\":\"\"lee\"\",\"\"on_behalf_of\"\":null,\"\"level\"\":\"\"lead\"\",\
             \"\"limit_minor_units\"\":50000,\"\"currency\"\":\"\"USD\"\",\"\"authority_source\"\":\"\"demo:lead\"\",\
             \"\"rationale\"\":\"\"checked, \\\"\"tracking\\\"\" shows loss\"\",\"\"at\"\":\"\"2026-11-02T10:00:00Z\"\"}]\"",
            "",
            "",
            "",
            "",
            "[]",
            "\"late; customer said \"\"never again\"\"\nsecond line\"",
            "t",
            "1",
            "1;4;9",
        ]
        .join(",");
        assert_eq!(row, format!("{expected}\r\n"));
    }

    #[test]
    fn the_ledger_csv_carries_hashes_and_the_payload_as_json() {
        let entry = LedgerEntry {
            seq: 12,
            subject: "LV-000007".to_owned(),
            event: EventType::ApprovalRecorded,
            actor: "lee".to_owned(),
            role: Role::Approver,
            authority: Some(AuthoritySnapshot {
                level: ApproverLevel::Manager,
                limit_minor_units: Some(250_000),
                currency: "EUR".to_owned(),
                source: "config:levee.toml#tokens[3]".to_owned(),
            }),
            at: time(10, 0),
            payload: serde_json::json!({"rationale": "=cmd|' /C calc'!A0, ok"}),
            policies: vec![],
            matrix_version: "m1".to_owned(),
            taxonomy_version: "t1".to_owned(),
            facts_hash: None,
            subject_version: 2,
            state_hash: "s".repeat(4),
            prev_hash: "p".repeat(4),
            hash: "h".repeat(4),
        };
        let mut export = Export::new(Contents::Ledger, Format::Csv).expect("an export");
        export.push_entry(&entry).expect("a row");
        let text = String::from_utf8(export.take().expect("bytes")).expect("UTF-8");
        assert_eq!(
            text,
            "seq,at,subject,subject_version,event,actor,role,authority_level,authority_limit_minor_units,\
             authority_currency,authority_source,policies,matrix_version,taxonomy_version,facts_hash,state_hash,\
             prev_hash,hash,payload\r\n\
             12,2026-11-02T10:00:00Z,LV-000007,2,case.approval_recorded,lee,approver,manager,250000,EUR,\
             config:levee.toml#tokens[3],,m1,t1,,ssss,pppp,hhhh,\
             \"{\"\"rationale\"\":\"\"=cmd|' /C calc'!A0, ok\"\"}\"\r\n"
        );
    }

    #[test]
    fn ndjson_is_one_object_per_line_and_ledger_lines_still_hash() {
        let mut entry_export = Export::new(Contents::Ledger, Format::Ndjson).expect("an export");
        let mut entry = LedgerEntry {
            seq: 1,
            subject: "LV-000001".to_owned(),
            event: EventType::CaseSubmitted,
            actor: "avery".to_owned(),
            role: Role::Agent,
            authority: None,
            at: time(9, 30),
            payload: serde_json::json!({"note": "line\nbreak"}),
            policies: vec![],
            matrix_version: "m".to_owned(),
            taxonomy_version: "t".to_owned(),
            facts_hash: None,
            subject_version: 1,
            state_hash: String::new(),
            prev_hash: crate::ledger::GENESIS_HASH.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry_export.push_entry(&entry).expect("a line");
        let text = String::from_utf8(entry_export.take().expect("bytes")).expect("UTF-8");
        assert_eq!(text.lines().count(), 1);
        let read: LedgerEntry = serde_json::from_str(text.trim_end()).expect("an entry");
        assert_eq!(read.compute_hash(), entry.hash);

        let mut case_export = Export::new(Contents::Cases, Format::Ndjson).expect("an export");
        let mut escalated = awkward_case();
        escalated.escalations.push(Escalation {
            at: time(12, 0),
            from: ApproverLevel::Lead,
            to: ApproverLevel::Manager,
            missed_due_at: time(11, 30),
            next_due_at: time(16, 0),
            approver_group: None,
        });
        case_export.push_case(&escalated).expect("a line");
        case_export.push_case(&crate::fixtures::pending_case("LV-000008")).expect("a line");
        let text = String::from_utf8(case_export.take().expect("bytes")).expect("UTF-8");
        let lines: Vec<serde_json::Value> =
            text.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["customer_ref"], "=HYPERLINK(\"http://evil\")", "NDJSON is never guarded");
        assert_eq!(lines[0]["decision"]["escalated_to"], "manager");
        assert_eq!(lines[0]["approvals"][1]["on_behalf_of"], "pat");
        assert_eq!(lines[0]["evidence"][0]["sha256"], "ab".repeat(32));
        assert_eq!(lines[0]["evidence"][0]["provenance"], "asserted");
        assert_eq!(lines[1]["decision"]["policies"][0]["digest"], "d".repeat(64));
        assert_eq!(lines[1]["status"], "pending_approval");
    }

    #[test]
    fn pieces_taken_between_rows_make_the_export_written_at_once() {
        let case = awkward_case();
        for format in [Format::Csv, Format::Ndjson] {
            let mut at_once = Export::new(Contents::Cases, format).expect("an export");
            let mut in_pieces = Export::new(Contents::Cases, format).expect("an export");
            let mut pieces = Vec::new();
            for _ in 0..3 {
                at_once.push_case(&case).expect("a row");
                in_pieces.push_case(&case).expect("a row");
                pieces.push(in_pieces.take().expect("a piece"));
            }
            assert!(in_pieces.take().expect("nothing left").is_empty(), "a take empties the buffer");
            assert_eq!(pieces.concat(), at_once.take().expect("bytes"), "{format:?}: one header, every row once");
            assert!(pieces.iter().all(|piece| piece.ends_with(b"\n")), "{format:?}: every piece ends on a whole row");
        }
    }
}
