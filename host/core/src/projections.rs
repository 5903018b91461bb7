//! Projections: records rebuilt from ledger entries so reads never replay the ledger. Each
//! subject's record, the approval queue per level, each customer's refund history, each
//! exception code's cases by day, and the index of remediation items.
//!
//! Applying an entry is idempotent and never moves a record backwards: each record carries
//! the last sequence (or case version) applied to it, and writes go through compare-and-swap,
//! so any number of hosts may apply the same entry at once.

pub use crate::remediation::{CaseCounts, CodeStats};
pub use crate::store::encode;
pub use crate::subject::{case_key, subject_key};
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

use crate::case::{Case, CaseKind, CaseStatus};
use crate::evidence::EvidenceKind;
use crate::identity::ApproverLevel;
use crate::ledger::{EventType, LedgerEntry};
use crate::money::Money;
use crate::store::{Store, StoreError};
use crate::subject::Subject;

/// Where an exception code's cases are counted, by day.
pub fn code_stats_key(code: &str) -> String {
    format!("stats/code/{code}")
}

/// Cases by a reference an execution can name them by (`order`, `charge`, `payment_intent`,
/// `ticket`).
pub fn case_reference_key(kind: &str, value: &str) -> String {
    format!("refs/case/{kind}/{value}")
}

/// Executions by the case or order they refunded: execution id → amount.
pub fn execution_reference_key(kind: &str, value: &str) -> String {
    format!("refs/execution/{kind}/{value}")
}

/// Every finding of every execution, as ledgers kept it before findings were listed from pages
/// (`Listed::Findings`): still read, never written.
pub const FINDINGS_INDEX_KEY: &str = "findings/index";

/// A finding as `GET /v1/findings` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FindingSummary {
    pub execution_id: String,
    pub source: String,
    /// The refund as the payment tool names it.
    pub refund_id: String,
    #[serde(flatten)]
    pub finding: crate::reconcile::Finding,
}

impl FindingSummary {
    /// The findings of one execution, as listed.
    pub fn of(record: &crate::reconcile::ExecutionRecord) -> impl Iterator<Item = FindingSummary> + '_ {
        record.findings.iter().map(|finding| FindingSummary {
            execution_id: record.id.clone(),
            source: record.source.clone(),
            refund_id: record.report.id.clone(),
            finding: finding.clone(),
        })
    }
}

/// The findings an older ledger kept in one record (`FINDINGS_INDEX_KEY`), rewritten whole with
/// every execution: read for the executions it names, never written now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsIndex {
    /// By `<execution>/<finding index>`.
    pub findings: BTreeMap<String, FindingSummary>,
    /// The version of each execution applied.
    pub applied: BTreeMap<String, u64>,
}

/// The index of remediation items.
pub const REMEDIATION_INDEX_KEY: &str = "remediation/index";
/// How many days of a code's cases are kept: more than the longest trigger window twice over.
pub const CODE_STATS_DAYS: i64 = 800;

/// Every remediation item, by id, with what lists and triggers need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationIndex {
    pub items: BTreeMap<String, RemediationIndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationIndexEntry {
    pub code: String,
    pub version: u64,
    pub status: crate::remediation::RemediationStatus,
}

impl RemediationIndex {
    /// The item of `code` not yet verified, if any: a code has at most one at a time.
    pub fn current_item(&self, code: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(_, entry)| entry.code == code && entry.status != crate::remediation::RemediationStatus::Verified)
            .map(|(id, _)| id.as_str())
    }
}

/// How many records each level's queue membership is split across (`queue_members_key`).
pub const QUEUE_SHARDS: u32 = 64;

/// The ids of one shard of the cases waiting at a level (`QueueMembers`).
fn queue_members_key(level: ApproverLevel, shard: u32) -> String {
    format!("queue/{}/members/{shard:02}", level.as_str())
}

/// A pending case's queue item (`QueueEntry`), kept while it waits and after, as what was last
/// applied to it.
pub fn queue_item_key(case_id: &str) -> String {
    format!("queue/items/{case_id}")
}

/// The shard a case's id falls in (FNV-1a of its id: stable across hosts and builds).
pub fn queue_shard(case_id: &str) -> u32 {
    let hash = case_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
    (hash % u64::from(QUEUE_SHARDS)) as u32
}

/// The records of a level's queue that stores written by earlier versions hold, whole items in
/// each (`QueueIndex`): one record for the level (before the queue was sharded), then one per
/// shard. Their items are listed until their case next changes, which moves them out.
fn legacy_queue_keys(level: ApproverLevel, case_id: Option<&str>) -> Vec<String> {
    let unsharded = format!("queue/{}", level.as_str());
    let shard = |shard: u32| format!("queue/{}/{shard:02}", level.as_str());
    match case_id {
        Some(case_id) => vec![unsharded, shard(queue_shard(case_id))],
        None => std::iter::once(unsharded).chain((0..QUEUE_SHARDS).map(shard)).collect(),
    }
}

/// Every item of a level's queue: its members' ids from their shards, then their items, in two
/// batched reads (and whatever an earlier version's records still hold).
pub fn queue_items(store: &dyn Store, level: ApproverLevel) -> Result<Vec<QueueItem>, StoreError> {
    let members: Vec<String> = (0..QUEUE_SHARDS).map(|shard| queue_members_key(level, shard)).collect();
    let keys: Vec<String> = members.iter().cloned().chain(legacy_queue_keys(level, None)).collect();
    let mut records = keys.iter().zip(store.get_many(&keys)?);
    let mut item_keys = Vec::new();
    for (key, bytes) in records.by_ref().take(members.len()) {
        let ids = bytes.map(|bytes| decode::<QueueMembers>(key, &bytes)).transpose()?.flatten().unwrap_or_default().ids;
        item_keys.extend(ids.iter().map(|id| queue_item_key(id)));
    }
    let mut items = Vec::new();
    for (key, bytes) in records {
        if let Some(index) = bytes.map(|bytes| decode::<QueueIndex>(key, &bytes)).transpose()?.flatten() {
            items.extend(index.items.into_values());
        }
    }
    for (key, bytes) in item_keys.iter().zip(store.get_many(&item_keys)?) {
        let entry = bytes.map(|bytes| decode::<QueueEntry>(key, &bytes)).transpose()?.flatten();
        items.extend(entry.and_then(|entry| entry.item).filter(|item| item.level == level));
    }
    Ok(items)
}

/// Subjects of one kind that are each a subject of their own (rejected intakes, delegations)
/// are listed from pages: each page holds the ids of those first recorded in one run of this
/// many ledger entries, so a page never grows past it and listing one costs the same however
/// many came before.
pub const PAGE_ENTRIES: u64 = 4_096;

/// The kinds of subject listed from pages, by the prefix of their pages' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    RejectedIntakes,
    Delegations,
    /// Executions with findings: listed on the page of each entry that records one with findings
    /// (an execution may be on several pages; readers take it once).
    Findings,
}

impl Listed {
    /// The page that lists a subject first recorded at ledger entry `seq`.
    pub fn page_key(self, seq: u64) -> String {
        let prefix = match self {
            Listed::RejectedIntakes => "intake/rejections",
            Listed::Delegations => "delegations/pages",
            Listed::Findings => "findings/pages",
        };
        format!("{prefix}/{}", seq / PAGE_ENTRIES)
    }
}

/// The ids of the subjects one page lists, in ledger order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdList {
    pub ids: Vec<String>,
}

/// The ids of every subject of kind `listed` first recorded in entries 1..=`through`, oldest
/// first.
pub fn listed_ids(store: &dyn Store, listed: Listed, through: u64) -> Result<Vec<String>, StoreError> {
    let pages: Vec<String> = (0..=through / PAGE_ENTRIES).map(|page| listed.page_key(page * PAGE_ENTRIES)).collect();
    ids_in(store, &pages)
}

/// The ids the lists at `keys` hold, in order.
fn ids_in(store: &dyn Store, keys: &[String]) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    for (key, bytes) in keys.iter().zip(store.get_many(keys)?) {
        if let Some(list) = bytes.map(|bytes| decode::<IdList>(key, &bytes)).transpose()?.flatten() {
            ids.extend(list.ids);
        }
    }
    Ok(ids)
}

/// Adds `id` to the list at `key`, unless it is there.
fn apply_listed(store: &dyn Store, key: &str, id: &str) -> Result<(), StoreError> {
    update(store, key, |mut list: IdList| {
        if list.ids.iter().any(|listed| listed == id) {
            return None;
        }
        list.ids.push(id.to_owned());
        Some(list)
    })
}

/// The delegations naming `actor` as delegator or delegate, by id, in the order granted.
pub fn delegations_naming_key(actor: &str) -> String {
    format!("delegations/of/{actor}")
}

/// The ids of the delegations naming `actor`.
pub fn delegations_naming(store: &dyn Store, actor: &str) -> Result<Vec<String>, StoreError> {
    ids_in(store, &[delegations_naming_key(actor)])
}

/// A delegation's pages: the page of its grant, and the lists of the two people it names.
fn apply_delegation_lists(store: &dyn Store, record: &crate::delegation::DelegationRecord) -> Result<(), StoreError> {
    let granted_at_seq = record.ledger_seqs.first().copied().unwrap_or_default();
    apply_listed(store, &Listed::Delegations.page_key(granted_at_seq), &record.id)?;
    for actor in [&record.delegation.delegator, &record.delegation.delegate] {
        apply_listed(store, &delegations_naming_key(actor), &record.id)?;
    }
    Ok(())
}

pub fn customer_key(customer_ref: &str) -> String {
    format!("customer/{customer_ref}")
}

/// The refunds granted on one order (whichever customer the cases named).
pub fn order_key(order_ref: &str) -> String {
    format!("order/{order_ref}")
}

pub fn idempotency_key(actor: &str, key: &str) -> String {
    format!("idempotency/{actor}/{key}")
}

/// Shadow differences kept for listing, newest last.
pub const SHADOW_DIFFERENCES_KEPT: usize = 1_000;
pub const SHADOW_DIFFERENCES_KEY: &str = "shadow/differences";

/// What the shadow chain would have decided for a case, as its submission entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShadowOutcome {
    pub chain: u64,
    pub live: crate::backtest::Outcome,
    pub shadow: crate::backtest::Outcome,
    pub differs: bool,
    pub policies: Vec<crate::decision::PolicyRun>,
}

/// A case the shadow chain would have decided differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShadowDifference {
    pub case_id: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub outcome: ShadowOutcome,
}

/// The most recent shadow differences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowDifferences {
    pub applied_seq: u64,
    pub items: Vec<ShadowDifference>,
}

/// How far back a customer's and an order's refund history reach.
pub const HISTORY_WINDOW_DAYS: i64 = crate::engine::Facts::HISTORY_WINDOW_DAYS as i64;

/// A pending case as its queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueItem {
    pub case_id: String,
    pub case_version: u64,
    pub kind: CaseKind,
    pub amount: Money,
    pub exception_code: String,
    pub requester: String,
    pub team: String,
    pub queue: Option<String>,
    pub level: ApproverLevel,
    pub approvals_needed: u8,
    pub approved_by: Vec<String>,
    pub missing_evidence: Vec<EvidenceKind>,
    pub submitted_at: DateTime<Utc>,
    pub sla_due_at: Option<DateTime<Utc>>,
    /// The approval group (N of M) whose members must approve, if any.
    #[serde(default)]
    pub approver_group: Option<crate::identity::ApprovalGroup>,
}

/// The ids of the cases waiting at one approver level that fall in one shard (`queue_shard`):
/// a case's change rewrites its shard only when it joins or leaves the level, and then a list of
/// ids, so what a change costs does not grow with the items waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMembers {
    pub applied_seq: u64,
    pub ids: BTreeSet<String>,
}

/// A case's queue item as its last applied entry left it: `None` once the case waits for no one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub applied_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<QueueItem>,
}

/// A level's queue (or one shard of it) as earlier versions stored it, whole items in one record:
/// still read, never written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueIndex {
    pub applied_seq: u64,
    pub items: BTreeMap<String, QueueItem>,
}

/// A refund in a customer's or an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastRefund {
    pub case_id: String,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

/// The refunds granted (auto-approved or approved) to one customer (`customer_key`) or on one
/// order (`order_key`) in the history window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundHistory {
    pub applied_seq: u64,
    pub refunds: Vec<PastRefund>,
}

pub use crate::engine::RefundsGranted;

impl RefundHistory {
    /// Refunds in the window before `at`, and their total in `currency`.
    pub fn window(&self, at: DateTime<Utc>, currency: &str) -> RefundsGranted {
        let since = at - Duration::days(HISTORY_WINDOW_DAYS);
        let recent = self.refunds.iter().filter(|refund| refund.at >= since && refund.at <= at);
        recent.fold(RefundsGranted::default(), |granted, refund| {
            let same_currency = refund.amount.currency == currency;
            RefundsGranted {
                refunds: granted.refunds + 1,
                refunded_minor_units: granted.refunded_minor_units
                    + if same_currency { refund.amount.minor_units } else { 0 },
            }
        })
    }
}

/// Reads and decodes a JSON record.
pub fn read<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<(T, Vec<u8>)>, StoreError> {
    let Some(bytes) = store.get(key)? else { return Ok(None) };
    Ok(decode(key, &bytes)?.map(|value| (value, bytes)))
}

/// Applies one committed entry (and its subject as it stood after it) to every projection.
pub fn apply(store: &dyn Store, entry: &LedgerEntry, subject: &Subject) -> Result<(), StoreError> {
    apply_subject_record(store, subject)?;
    match subject {
        Subject::Case(case) => apply_case_indexes(store, entry, case),
        Subject::Remediation(item) => apply_remediation_index(store, item),
        Subject::Execution(record) => apply_execution_indexes(store, entry, record),
        Subject::RejectedIntake(rejected) => {
            apply_listed(store, &Listed::RejectedIntakes.page_key(entry.seq), &rejected.id)
        }
        Subject::Delegation(record) => apply_delegation_lists(store, record),
        Subject::PolicyRegistry(_)
        | Subject::Taxonomy(_)
        | Subject::Delegations(_)
        | Subject::Intake(_)
        | Subject::Baselines(_)
        | Subject::Controls(_) => Ok(()),
    }
}

/// Keys `apply` may read for an entry of `subject`, for a store to fetch together first
/// (`Staged::prefetch`). A hint: a key left out is read when `apply` needs it, and one fetched
/// but not read costs nothing more.
pub fn keys_read(subject: &Subject) -> Vec<String> {
    let mut keys = vec![subject.record_key()];
    if let Subject::Case(case) = subject {
        keys.push(queue_item_key(&case.id));
        keys.extend(queue_item(case).map(|item| queue_members_key(item.level, queue_shard(&case.id))));
        keys.push(customer_key(&case.customer_ref));
        keys.extend(case.order_ref.as_deref().map(order_key));
        keys.push(code_stats_key(&case.exception_code));
    }
    keys
}

/// The queues, refund histories and other indexes a case entry changes.
fn apply_case_indexes(store: &dyn Store, entry: &LedgerEntry, case: &Case) -> Result<(), StoreError> {
    apply_queue(store, entry.seq, case)?;
    let refund_granted = case.kind == CaseKind::Refund
        && matches!(
            (entry.event, case.status),
            (EventType::CaseSubmitted, CaseStatus::AutoApproved) | (EventType::CaseApproved, _)
        );
    if refund_granted {
        apply_refund_history(store, &customer_key(&case.customer_ref), entry.seq, case)?;
        if let Some(order_ref) = &case.order_ref {
            apply_refund_history(store, &order_key(order_ref), entry.seq, case)?;
        }
    }
    if let (EventType::CaseSubmitted, Some(recorded)) = (entry.event, &case.idempotency_key) {
        apply_idempotency(store, case, recorded)?;
    }
    apply_code_stats(store, entry, case)?;
    if entry.event == EventType::CaseSubmitted {
        apply_case_references(store, case)?;
    }
    let shadow =
        entry.payload.get("shadow").and_then(|value| serde_json::from_value::<ShadowOutcome>(value.clone()).ok());
    if let Some(outcome) = shadow.filter(|outcome| outcome.differs) {
        apply_shadow_difference(store, entry, outcome)?;
    }
    Ok(())
}

/// Updates `key` with `change` until it sticks; `change` returns `None` when there is nothing
/// to do (already applied, or no difference).
pub(crate) fn update<T, F>(store: &dyn Store, key: &str, mut change: F) -> Result<(), StoreError>
where
    T: Serialize + DeserializeOwned + Default,
    F: FnMut(T) -> Option<T>,
{
    loop {
        let (current, raw) = match read::<T>(store, key)? {
            Some((value, raw)) => (value, Some(raw)),
            None => (T::default(), None),
        };
        let Some(next) = change(current) else { return Ok(()) };
        if store.compare_and_swap(key, raw.as_deref(), &encode(&next)?)? {
            return Ok(());
        }
    }
}

/// Writes the subject's record, unless it already holds this version or a later one.
fn apply_subject_record(store: &dyn Store, subject: &Subject) -> Result<(), StoreError> {
    let key = subject.record_key();
    let encoded = subject.encode_state()?;
    /// Every subject's state has a version.
    #[derive(Deserialize)]
    struct Versioned {
        version: u64,
    }
    loop {
        let current = store.get(&key)?;
        let stored_version = match &current {
            None => None,
            Some(bytes) => decode::<Versioned>(&key, bytes)?.map(|record| record.version),
        };
        if stored_version.is_some_and(|version| version >= subject.version()) {
            return Ok(());
        }
        if store.compare_and_swap(&key, current.as_deref(), &encoded)? {
            return Ok(());
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<Option<T>, StoreError> {
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|error| StoreError::Backend(format!("record {key} does not decode: {error}")))
}

/// Puts a case's queue item where its entry leaves it: its membership of a level changes only
/// when it joins or leaves that level; the item itself is written last, so an application cut
/// short is finished by applying the entry again.
fn apply_queue(store: &dyn Store, seq: u64, case: &Case) -> Result<(), StoreError> {
    let key = queue_item_key(&case.id);
    let previous = read::<QueueEntry>(store, &key)?.map(|(entry, _)| entry);
    if previous.as_ref().is_some_and(|entry| entry.applied_seq >= seq) {
        return Ok(());
    }
    let was = previous.as_ref().and_then(|entry| entry.item.as_ref()).map(|item| item.level);
    let wanted = queue_item(case);
    let now = wanted.as_ref().map(|item| item.level);
    if previous.is_none() && case.version > 1 {
        move_out_of_legacy_queues(store, &case.id)?;
    }
    if was != now {
        for (level, member) in was.map(|level| (level, false)).into_iter().chain(now.map(|level| (level, true))) {
            apply_membership(store, level, seq, &case.id, member)?;
        }
    }
    if previous.is_none() && wanted.is_none() {
        return Ok(());
    }
    update(store, &key, |current: QueueEntry| {
        (current.applied_seq < seq).then(|| QueueEntry { applied_seq: seq, item: wanted.clone() })
    })
}

/// Adds a case to (or takes it from) the members of a level's queue.
fn apply_membership(
    store: &dyn Store,
    level: ApproverLevel,
    seq: u64,
    case_id: &str,
    member: bool,
) -> Result<(), StoreError> {
    update(store, &queue_members_key(level, queue_shard(case_id)), |mut members: QueueMembers| {
        if members.applied_seq >= seq || members.ids.contains(case_id) == member {
            return None;
        }
        if member {
            members.ids.insert(case_id.to_owned());
        } else {
            members.ids.remove(case_id);
        }
        members.applied_seq = seq;
        Some(members)
    })
}

/// Takes a case out of the records earlier versions kept its level's queue in
/// (`legacy_queue_keys`), wherever it is.
fn move_out_of_legacy_queues(store: &dyn Store, case_id: &str) -> Result<(), StoreError> {
    for key in ApproverLevel::ALL.into_iter().flat_map(|level| legacy_queue_keys(level, Some(case_id))) {
        move_out_of_legacy_queue(store, &key, case_id)?;
    }
    Ok(())
}

/// Takes a case out of one such record, if it is there; deletes the record once it is empty.
fn move_out_of_legacy_queue(store: &dyn Store, key: &str, case_id: &str) -> Result<(), StoreError> {
    loop {
        let Some((mut index, raw)) = read::<QueueIndex>(store, key)? else { return Ok(()) };
        if index.items.remove(case_id).is_none() {
            return Ok(());
        }
        if index.items.is_empty() {
            return store.delete(key);
        }
        if store.compare_and_swap(key, Some(&raw), &encode(&index)?)? {
            return Ok(());
        }
    }
}

/// Adds a granted refund to the history at `key` (a customer's or an order's), dropping what
/// fell out of the window.
fn apply_refund_history(store: &dyn Store, key: &str, seq: u64, case: &Case) -> Result<(), StoreError> {
    update(store, key, |mut history: RefundHistory| {
        if history.applied_seq >= seq {
            return None;
        }
        let since = case.submitted_at - Duration::days(HISTORY_WINDOW_DAYS);
        history.refunds.retain(|refund| refund.at >= since);
        history.refunds.push(PastRefund {
            case_id: case.id.clone(),
            amount: case.amount.clone(),
            at: case.submitted_at,
        });
        history.applied_seq = seq;
        Some(history)
    })
}

fn apply_shadow_difference(store: &dyn Store, entry: &LedgerEntry, outcome: ShadowOutcome) -> Result<(), StoreError> {
    let difference = ShadowDifference { case_id: entry.subject.clone(), seq: entry.seq, at: entry.at, outcome };
    update(store, SHADOW_DIFFERENCES_KEY, |mut differences: ShadowDifferences| {
        if differences.applied_seq >= entry.seq {
            return None;
        }
        differences.items.push(difference.clone());
        let excess = differences.items.len().saturating_sub(SHADOW_DIFFERENCES_KEPT);
        differences.items.drain(..excess);
        differences.applied_seq = entry.seq;
        Some(differences)
    })
}

/// Counts, on the code's day of the entry, a new case, a decision (and whether it had its
/// evidence) or an SLA escalation.
fn apply_code_stats(store: &dyn Store, entry: &LedgerEntry, case: &Case) -> Result<(), StoreError> {
    let submitted = entry.event == EventType::CaseSubmitted;
    let decided = decided_by(entry, case);
    let escalated = entry.event == EventType::CaseEscalated;
    if !(submitted || decided || escalated) {
        return Ok(());
    }
    update(store, &code_stats_key(&case.exception_code), |mut stats: CodeStats| {
        if stats.applied_seq >= entry.seq {
            return None;
        }
        let day = stats.days.entry(entry.at.date_naive()).or_default();
        if submitted {
            day.cases += 1;
            *day.amounts.entry(case.amount.currency.clone()).or_default() += case.amount.minor_units;
        }
        if decided {
            day.decided += 1;
            day.complete += u64::from(case.missing_evidence().is_empty());
        }
        day.escalations += u64::from(escalated);
        let oldest = (entry.at - Duration::days(CODE_STATS_DAYS)).date_naive();
        stats.days.retain(|day, _| *day >= oldest);
        stats.applied_seq = entry.seq;
        Some(stats)
    })
}

/// Whether `entry` is the one that brought `case` to its final status.
pub fn decided_by(entry: &LedgerEntry, case: &Case) -> bool {
    case.decided_at == Some(entry.at)
        && matches!(
            entry.event,
            EventType::CaseSubmitted | EventType::CaseApproved | EventType::CaseRejected | EventType::CaseCancelled
        )
}

/// Indexes a new case by the references executions may name it by.
fn apply_case_references(store: &dyn Store, case: &Case) -> Result<(), StoreError> {
    let references = case.order_ref.iter().map(|order| ("order", order)).chain(
        ["charge", "payment_intent", "ticket"]
            .into_iter()
            .filter_map(|kind| case.attributes.get(kind).map(|value| (kind, value))),
    );
    for (kind, value) in references {
        update(store, &case_reference_key(kind, value), |mut ids: Vec<String>| {
            if ids.contains(&case.id) {
                return None;
            }
            ids.push(case.id.clone());
            Some(ids)
        })?;
    }
    Ok(())
}

/// Indexes an execution by its case and order, and lists it among the executions with findings
/// from the entry that gives it one (on the page of that entry: a later finding of an execution
/// listed before may list it again, which readers take once).
fn apply_execution_indexes(
    store: &dyn Store,
    entry: &LedgerEntry,
    record: &crate::reconcile::ExecutionRecord,
) -> Result<(), StoreError> {
    let by = record
        .case_id
        .iter()
        .map(|case| ("case", case))
        .chain(record.report.references.get("order").map(|order| ("order", order)));
    for (kind, value) in by {
        update(store, &execution_reference_key(kind, value), |mut map: BTreeMap<String, Money>| {
            if map.contains_key(&record.id) {
                return None;
            }
            map.insert(record.id.clone(), record.report.amount.clone());
            Some(map)
        })?;
    }
    if record.findings.is_empty() {
        return Ok(());
    }
    apply_listed(store, &Listed::Findings.page_key(entry.seq), &record.id)
}

fn apply_remediation_index(store: &dyn Store, item: &crate::remediation::RemediationItem) -> Result<(), StoreError> {
    let wanted = RemediationIndexEntry { code: item.code.clone(), version: item.version, status: item.status };
    update(store, REMEDIATION_INDEX_KEY, |mut index: RemediationIndex| {
        if index.items.get(&item.id).is_some_and(|entry| entry.version >= item.version) {
            return None;
        }
        index.items.insert(item.id.clone(), wanted.clone());
        Some(index)
    })
}

/// Records which case an idempotency key created; the first writer wins.
fn apply_idempotency(store: &dyn Store, case: &Case, recorded: &str) -> Result<(), StoreError> {
    let key = recorded.split_once(':').map_or(recorded, |(_request_digest, key)| key);
    let record_key = idempotency_key(&case.requester, key);
    store.compare_and_swap(&record_key, None, &encode(&case.id)?)?;
    Ok(())
}

/// The queue item of a pending case.
pub fn queue_item(case: &Case) -> Option<QueueItem> {
    let (level, approvals_needed) = case.pending_requirement()?;
    Some(QueueItem {
        case_id: case.id.clone(),
        case_version: case.version,
        kind: case.kind,
        amount: case.amount.clone(),
        exception_code: case.exception_code.clone(),
        requester: case.requester.clone(),
        team: case.team.clone(),
        queue: case.decision.queue.clone(),
        level,
        approvals_needed,
        // Everyone counted: the approvers, and whoever they acted for.
        approved_by: case
            .approvals
            .iter()
            .flat_map(|approval| std::iter::once(approval.approver.clone()).chain(approval.on_behalf_of.clone()))
            .collect(),
        missing_evidence: case.missing_evidence(),
        submitted_at: case.submitted_at,
        sla_due_at: case.sla_due_at(),
        approver_group: case.unmet_groups().first().map(|group| (*group).clone()),
    })
}
