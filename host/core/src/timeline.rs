//! One case's ledger as a timeline, and the check of that case's own lineage, for the case page
//! of the web console and `GET /v1/cases/{id}/timeline`.
//!
//! The check covers what can be proved from the case's entries and their neighbours, without
//! walking the whole log: each entry sits at its place and hashes to its own `hash`; it links to
//! the hash of the entry stored just before it; the case stored with it hashes to its
//! `state_hash`; each entry follows legally from the case's previous one (`case::Lineage`, as
//! `GET /v1/audit/verify` checks it); and the case record is the state its last entry recorded.
//! The whole chain is `GET /v1/audit/verify`'s work.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::case::{Case, CaseStatus, Lineage};
use crate::identity::{AuthoritySnapshot, Role};
use crate::ledger::{ChainChecker, EventType, GENESIS_HASH, LedgerEntry, Mismatch};
use crate::ledger_store::{LedgerSlot, LedgerStore};
use crate::money::Money;
use crate::projections;
use crate::store::{Store, StoreError};
use crate::subject::Subject;

/// The longest a summary gets, in characters.
const SUMMARY_CHARS: usize = 240;

/// A case's ledger, oldest entry first, with the check of its lineage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseTimeline {
    pub case_id: String,
    /// The status the case record holds.
    pub status: CaseStatus,
    pub entries: Vec<TimelineEntry>,
    pub verify: LineageReport,
}

/// One ledger entry of the case, as the timeline shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: EventType,
    pub actor: String,
    pub role: Role,
    /// The authority the actor held (approvals and rejections).
    pub authority: Option<AuthoritySnapshot>,
    /// The case version this entry produced.
    pub subject_version: u64,
    pub hash: String,
    pub prev_hash: String,
    pub state_hash: String,
    /// The payload in one line: the rationale, the evidence, the escalation, the decision.
    pub summary: String,
}

/// Whether the case's entries hold together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LineageReport {
    pub ok: bool,
    /// How many of the case's entries passed before the first that did not.
    pub entries_checked: u64,
    /// The case's last entry and its hash (0 and empty if it has none).
    pub last_seq: u64,
    pub last_hash: String,
    pub first_mismatch: Option<Mismatch>,
}

/// Reads the case record, its slots and the hashes of the entries just before them, and checks
/// them (`None`: no such case).
pub(crate) fn read_timeline(store: &dyn Store, case_id: &str) -> Result<Option<CaseTimeline>, StoreError> {
    let Some((record, _)) = projections::read::<Case>(store, &projections::case_key(case_id))? else {
        return Ok(None);
    };
    let ledger_store = LedgerStore::new(store);
    let mut slots = Vec::with_capacity(record.ledger_seqs.len());
    for seq in &record.ledger_seqs {
        slots.push((*seq, ledger_store.slot(*seq)?));
    }
    let predecessors: Vec<u64> = record.ledger_seqs.iter().filter(|seq| **seq > 1).map(|seq| seq - 1).collect();
    let previous_hashes: BTreeMap<u64, String> =
        ledger_store.entries(&predecessors)?.into_iter().map(|entry| (entry.seq, entry.hash)).collect();
    let verify = check_lineage(&record, &slots, &previous_hashes);
    let entries = slots.into_iter().filter_map(|(_, slot)| slot).map(|slot| timeline_entry(&slot.entry)).collect();
    Ok(Some(CaseTimeline { case_id: record.id.clone(), status: record.status, entries, verify }))
}

/// Checks the case's slots in order, then the record against the last; names the first problem.
fn check_lineage(
    record: &Case,
    slots: &[(u64, Option<LedgerSlot>)],
    previous_hashes: &BTreeMap<u64, String>,
) -> LineageReport {
    let mut report = LineageReport::default();
    let mut lineage: Option<Lineage> = None;
    let mut last_case: Option<&Case> = None;
    for (seq, slot) in slots {
        let Some(slot) = slot else {
            return report.broken(*seq, record, format!("entry {seq} of case {} is missing", record.id));
        };
        let case = match check_slot(record, *seq, slot, previous_hashes, lineage.as_ref()) {
            Ok(case) => case,
            Err(problem) => return report.broken(*seq, record, problem),
        };
        lineage = Some(Lineage::of(case, &slot.entry.state_hash));
        last_case = Some(case);
        report.passed(&slot.entry);
    }
    if last_case != Some(record) {
        let problem = format!("the stored record of {} is not the state its last entry recorded", record.id);
        return report.broken(record.ledger_seqs.last().copied().unwrap_or_default(), record, problem);
    }
    report
}

/// Checks one of the case's slots; the case it holds, or what is wrong with it.
fn check_slot<'a>(
    record: &Case,
    seq: u64,
    slot: &'a LedgerSlot,
    previous_hashes: &BTreeMap<u64, String>,
    lineage: Option<&Lineage>,
) -> Result<&'a Case, String> {
    let entry = &slot.entry;
    let Subject::Case(case) = &slot.subject else {
        return Err(format!("entry {seq} is not about a case"));
    };
    if entry.seq != seq || entry.subject != record.id || case.id != record.id {
        return Err(format!("entry {seq} is not an entry of case {}", record.id));
    }
    check_link(entry, previous_hashes)?;
    if slot.subject.state_hash() != entry.state_hash {
        return Err("the case stored with the entry does not match its state_hash".to_owned());
    }
    match lineage {
        None => Lineage::check_first(case, entry.event, seq)?,
        Some(lineage) => lineage.check_successor(case, seq)?,
    }
    Ok(case)
}

/// The entry must hash to its own hash and name the hash of the entry stored just before it:
/// the chain's own check, started at that entry.
fn check_link(entry: &LedgerEntry, previous_hashes: &BTreeMap<u64, String>) -> Result<(), String> {
    let before = entry.seq.saturating_sub(1);
    let expected = if before == 0 { Some(GENESIS_HASH) } else { previous_hashes.get(&before).map(String::as_str) };
    let Some(hash) = expected else {
        return Err(format!("entry {before}, just before entry {}, is missing", entry.seq));
    };
    ChainChecker::after(before, hash).check(entry).map_err(|mismatch| mismatch.problem)
}

impl LineageReport {
    fn passed(&mut self, entry: &LedgerEntry) {
        self.entries_checked += 1;
        self.last_seq = entry.seq;
        self.last_hash = entry.hash.clone();
    }

    fn broken(mut self, seq: u64, record: &Case, problem: String) -> LineageReport {
        self.ok = false;
        self.first_mismatch = Some(Mismatch { seq, subject: Some(record.id.clone()), problem });
        self
    }
}

impl Default for LineageReport {
    fn default() -> Self {
        LineageReport { ok: true, entries_checked: 0, last_seq: 0, last_hash: String::new(), first_mismatch: None }
    }
}

fn timeline_entry(entry: &LedgerEntry) -> TimelineEntry {
    TimelineEntry {
        seq: entry.seq,
        at: entry.at,
        event: entry.event,
        actor: entry.actor.clone(),
        role: entry.role,
        authority: entry.authority.clone(),
        subject_version: entry.subject_version,
        hash: entry.hash.clone(),
        prev_hash: entry.prev_hash.clone(),
        state_hash: entry.state_hash.clone(),
        summary: summary(entry),
    }
}

/// The payload in one line.
fn summary(entry: &LedgerEntry) -> String {
    let payload = &entry.payload;
    let text = match entry.event {
        EventType::CaseSubmitted => submission_summary(payload),
        EventType::EvidenceAttached => {
            format!("{}: {}", text_at(payload, "/evidence/kind"), text_at(payload, "/evidence/reference"))
        }
        EventType::ApprovalRecorded | EventType::CaseApproved => format!(
            "approval {} of {} at {}: {}",
            text_at(payload, "/approval"),
            text_at(payload, "/approvals_needed"),
            text_at(payload, "/required_level"),
            text_at(payload, "/rationale")
        ),
        EventType::CaseEscalated => escalation_summary(payload),
        EventType::CommsDrafted => format!("customer message, draft {}", text_at(payload, "/message/draft")),
        EventType::CommsReviewed => comms_review_summary(payload),
        _ => text_at(payload, "/rationale"),
    };
    shorten(text)
}

fn submission_summary(payload: &Value) -> String {
    let amount =
        serde_json::from_value::<Money>(payload["amount"].clone()).map(|money| money.to_string()).unwrap_or_default();
    format!(
        "{} of {amount} under {}: {}",
        text_at(payload, "/kind"),
        text_at(payload, "/exception_code"),
        text_at(payload, "/status")
    )
}

fn escalation_summary(payload: &Value) -> String {
    let overdue = text_at(payload, "/overdue_minutes");
    if payload["at_top_level"].as_bool() == Some(true) {
        return format!("reminder at {}: {overdue} min past its SLA", text_at(payload, "/escalation/to"));
    }
    format!(
        "{} to {}: {overdue} min past its SLA",
        text_at(payload, "/escalation/from"),
        text_at(payload, "/escalation/to")
    )
}

fn comms_review_summary(payload: &Value) -> String {
    let verdict = if payload.pointer("/message/review/approved").and_then(Value::as_bool) == Some(true) {
        "approved"
    } else {
        "sent back"
    };
    format!("customer message {verdict}: {}", text_at(payload, "/message/review/note"))
}

/// A scalar of the payload as text (empty if absent).
fn text_at(payload: &Value, pointer: &str) -> String {
    match payload.pointer(pointer) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn shorten(text: String) -> String {
    let text = text.trim();
    if text.chars().count() <= SUMMARY_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Transition;
    use crate::fixtures::{at, pending_case};
    use crate::ledger_store::{EntryContext, entry_key};
    use crate::projections::{case_key, encode};
    use crate::store::MemoryStore;

    /// What each test entry records of its moment.
    fn context() -> EntryContext {
        let (matrix_version, taxonomy_version) = ("matrix-1".to_owned(), "taxonomy-1".to_owned());
        EntryContext {
            actor: "lee".into(),
            role: Role::Approver,
            at: at(),
            policies: Vec::new(),
            matrix_version,
            taxonomy_version,
            facts_hash: None,
        }
    }

    /// Commits a submission of LV-1 between two other cases' entries, then a second entry of
    /// LV-1 that attaches nothing but moves it one version on.
    fn ledger() -> MemoryStore {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        let commit = |transition: Transition| {
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, transition, context()).unwrap().expect("slot claimed");
        };
        let submitted = |id: &str| Transition {
            case: pending_case(id),
            event: EventType::CaseSubmitted,
            authority: None,
            payload: serde_json::json!({"kind": "refund", "amount": {"minor_units": 40000, "currency": "USD"}}),
        };
        commit(submitted("LV-0"));
        commit(submitted("LV-1"));
        let mut next = read::<Case>(&store, "LV-1");
        next.version += 1;
        commit(Transition {
            case: next,
            event: EventType::EvidenceAttached,
            authority: None,
            payload: serde_json::json!({"evidence": {"kind": "attachment", "reference": "doc://1"}}),
        });
        store
    }

    fn read<T: serde::de::DeserializeOwned>(store: &MemoryStore, id: &str) -> T {
        projections::read::<T>(store, &case_key(id)).unwrap().expect("a record").0
    }

    /// An untouched case checks out, entry by entry, with a summary of each payload.
    #[test]
    fn an_intact_case_checks_out() {
        let store = ledger();
        let timeline = read_timeline(&store, "LV-1").unwrap().expect("the case");
        assert!(timeline.verify.ok, "{:?}", timeline.verify);
        assert_eq!(timeline.verify.entries_checked, 2);
        assert_eq!(timeline.verify.last_seq, 3);
        let seqs: Vec<u64> = timeline.entries.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert!(timeline.entries[0].summary.starts_with("refund of 400.00 USD"), "{}", timeline.entries[0].summary);
        assert_eq!(timeline.entries[1].summary, "attachment: doc://1");
        assert!(read_timeline(&store, "LV-9").unwrap().is_none());
    }

    /// An entry edited in place no longer hashes to its `hash`: named by its sequence number.
    #[test]
    fn an_altered_entry_breaks_the_case() {
        let store = ledger();
        let mut slot = LedgerStore::new(&store).slot(3).unwrap().unwrap();
        slot.entry.actor = "mallory".into();
        store.set(&entry_key(3), &encode(&slot).unwrap()).unwrap();
        let report = read_timeline(&store, "LV-1").unwrap().unwrap().verify;
        assert!(!report.ok);
        assert_eq!(report.entries_checked, 1);
        let mismatch = report.first_mismatch.expect("a mismatch");
        assert_eq!(mismatch.seq, 3);
        assert!(mismatch.problem.contains("hashes to"), "{}", mismatch.problem);
    }

    /// A record edited behind the ledger's back shows as broken instead of failing to load.
    #[test]
    fn a_forged_record_breaks_the_case() {
        let store = ledger();
        let mut record: Case = read(&store, "LV-1");
        record.status = CaseStatus::Approved;
        store.set(&case_key("LV-1"), &encode(&record).unwrap()).unwrap();
        let timeline = read_timeline(&store, "LV-1").unwrap().unwrap();
        assert_eq!(timeline.status, CaseStatus::Approved);
        let mismatch = timeline.verify.first_mismatch.expect("a mismatch");
        assert!(mismatch.problem.contains("not the state its last entry recorded"), "{}", mismatch.problem);
    }

    /// An entry of the case whose predecessor was rewritten no longer links to it.
    #[test]
    fn a_rewritten_predecessor_breaks_the_link() {
        let store = ledger();
        let mut slot = LedgerStore::new(&store).slot(1).unwrap().unwrap();
        slot.entry.hash = "ff".repeat(32);
        store.set(&entry_key(1), &encode(&slot).unwrap()).unwrap();
        let mismatch = read_timeline(&store, "LV-1").unwrap().unwrap().verify.first_mismatch.expect("a mismatch");
        assert_eq!(mismatch.seq, 2);
        assert!(mismatch.problem.contains("prev_hash"), "{}", mismatch.problem);
    }

    #[test]
    fn summaries_are_cut_to_one_line_of_bounded_length() {
        assert_eq!(shorten("  short  ".into()), "short");
        assert_eq!(shorten("x".repeat(500)).chars().count(), SUMMARY_CHARS);
    }
}
