//! The ledger on the storage port, kept as a commit log.
//!
//! A transition commits by claiming the next ledger slot with an insert-if-absent
//! compare-and-swap: that one write is the commit point, so a transition without its audit
//! entry cannot exist, and two writers can never both claim the same place. The slot holds the
//! entry and the case as it stands after it; the case record, queues and customer history are
//! projections of those slots (see `projections`). Whoever commits next first "settles" the
//! log, applying any slot whose projections a crashed or slow writer left unfinished, so a
//! crash between the commit and its projections loses nothing. A store with atomic batches
//! (all of levee's: redb, Redis, Spin's SQLite and Redis, memory) takes the slot, its
//! projections and the head hint in one batch, so there nothing is ever left to settle and a
//! failed write leaves no trace; a commit there appends after the head hint without reading
//! past it (`tip_to_append_after`).
//!
//! `ledger/head` is only a hint of how far the log is settled; the slots are the truth.

use std::cell::Cell;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::case::{Case, Lineage};
use crate::engine::PolicyIdentity;
use crate::identity::Role;
use crate::ledger::{ChainChecker, GENESIS_HASH, LedgerEntry, Mismatch, VerifyReport, sha256_of_json};
use crate::ledger_proofs::NodeCheck;
use crate::projections::{self, encode, read, subject_key};
use crate::store::{Staged, Store, StoreError};
use crate::subject::{Change, Subject};

pub const HEAD_KEY: &str = "ledger/head";

/// Slots are read this many at a time when the whole log is walked.
const VERIFY_BATCH: u64 = 256;

pub fn entry_key(seq: u64) -> String {
    format!("ledger/entry/{seq:020}")
}

/// What one ledger slot stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSlot {
    pub entry: LedgerEntry,
    /// The subject as it stood after the entry; its hash is the entry's `state_hash`.
    pub subject: Subject,
}

impl LedgerSlot {
    /// The case this slot is about, if it is about a case.
    pub fn into_case(self) -> Option<Case> {
        match self.subject {
            Subject::Case(case) => Some(*case),
            _ => None,
        }
    }
}

/// The last entry of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    pub seq: u64,
    pub hash: String,
}

impl Tip {
    fn genesis() -> Tip {
        Tip { seq: 0, hash: GENESIS_HASH.to_owned() }
    }
}

/// Everything an entry records besides the transition itself.
#[derive(Debug, Clone)]
pub struct EntryContext {
    pub actor: String,
    pub role: Role,
    pub at: DateTime<Utc>,
    pub policies: Vec<PolicyIdentity>,
    pub matrix_version: String,
    pub taxonomy_version: String,
    pub facts_hash: Option<String>,
}

/// The ledger over a store.
pub struct LedgerStore<'a> {
    store: &'a dyn Store,
    /// An append through this ledger store found its place taken (`try_append` gave `None`).
    lost_a_race: Cell<bool>,
}

impl<'a> LedgerStore<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        LedgerStore { store, lost_a_race: Cell::new(false) }
    }

    /// The tip a commit attempt appends after. Where the store has atomic batches every slot
    /// is written with the head hint, so the hint is the tip, and this reads only the hint: a
    /// slot past it (left by a writer without atomic batches) makes the append lose its race,
    /// since the append reads that slot, and every attempt after a lost race settles in full.
    /// Elsewhere, `settle`.
    pub fn tip_to_append_after(&self) -> Result<Tip, StoreError> {
        if self.store.atomic_batches() && !self.lost_a_race.get() {
            return self.head_hint();
        }
        self.settle()
    }

    /// What `ledger/head` says the tip is (genesis on an empty ledger).
    fn head_hint(&self) -> Result<Tip, StoreError> {
        Ok(read::<Tip>(self.store, HEAD_KEY)?.map(|(tip, _)| tip).unwrap_or_else(Tip::genesis))
    }

    /// Finds the tip, applying the projections of any slot past the head hint on the way.
    pub fn settle(&self) -> Result<Tip, StoreError> {
        let hinted = self.head_hint()?;
        let mut tip = hinted.clone();
        while let Some(slot) = self.slot(tip.seq + 1)? {
            projections::apply(self.store, &slot.entry, &slot.subject)?;
            tip = Tip { seq: slot.entry.seq, hash: slot.entry.hash };
        }
        if tip.seq > hinted.seq {
            self.advance_head(&tip)?;
        }
        Ok(tip)
    }

    /// Tries to commit `change` as the entry after `tip`. `Ok(None)` means another writer
    /// took that place first: try again from `tip_to_append_after`, which then settles.
    pub fn try_append(
        &self,
        tip: &Tip,
        change: impl Into<Change>,
        context: EntryContext,
    ) -> Result<Option<LedgerSlot>, StoreError> {
        let slot = seal(tip, change.into(), context);
        let appended =
            if self.store.atomic_batches() { self.append_at_once(slot)? } else { self.append_then_project(slot)? };
        self.lost_a_race.set(self.lost_a_race.get() || appended.is_none());
        Ok(appended)
    }

    /// Claims the slot, then applies its projections (a store without atomic batches).
    fn append_then_project(&self, slot: LedgerSlot) -> Result<Option<LedgerSlot>, StoreError> {
        if !self.claim(&slot)? {
            return Ok(None);
        }
        // Committed. From here on the answer is success whatever happens: projections that
        // fail now are finished by the next settle, on this host or another.
        if let Err(error) = self.project(&slot) {
            tracing::warn!(seq = slot.entry.seq, %error, "entry committed; its projections will be finished by the next settle");
        }
        Ok(Some(slot))
    }

    /// Commits `slot` with its projections and the head hint in one atomic batch, where the
    /// store has them: a failed write then leaves none of it, and a lost race (`Ok(None)`:
    /// the slot, or a record the projections read, changed meanwhile) leaves nothing either.
    fn append_at_once(&self, slot: LedgerSlot) -> Result<Option<LedgerSlot>, StoreError> {
        let staged = Staged::over(self.store);
        let keys_read = [entry_key(slot.entry.seq), HEAD_KEY.to_owned()];
        staged.prefetch(keys_read.into_iter().chain(projections::keys_read(&slot.subject)))?;
        {
            let ledger_store = LedgerStore::new(&staged);
            if !ledger_store.claim(&slot)? {
                return Ok(None);
            }
            ledger_store.project(&slot)?;
        }
        Ok(self.store.commit_batch(&staged.into_batch())?.then_some(slot))
    }

    /// Claims the slot's place in the log: the commit point, unless another writer took it.
    fn claim(&self, slot: &LedgerSlot) -> Result<bool, StoreError> {
        self.store.compare_and_swap(&entry_key(slot.entry.seq), None, &encode(slot)?)
    }

    /// Applies a claimed slot to every projection and moves the head hint up to it.
    fn project(&self, slot: &LedgerSlot) -> Result<(), StoreError> {
        projections::apply(self.store, &slot.entry, &slot.subject)?;
        self.advance_head(&Tip { seq: slot.entry.seq, hash: slot.entry.hash.clone() })
    }

    pub fn slot(&self, seq: u64) -> Result<Option<LedgerSlot>, StoreError> {
        Ok(read::<LedgerSlot>(self.store, &entry_key(seq))?.map(|(slot, _)| slot))
    }

    /// The slots `from..=through`, read in one batch, stopping at the first absent one.
    pub fn slots(&self, from: u64, through: u64) -> Result<Vec<LedgerSlot>, StoreError> {
        let keys: Vec<String> = (from..=through).map(entry_key).collect();
        let mut slots = Vec::with_capacity(keys.len());
        for (key, bytes) in keys.iter().zip(self.store.get_many(&keys)?) {
            let Some(bytes) = bytes else { break };
            slots.push(decode_slot(key, &bytes)?);
        }
        Ok(slots)
    }

    /// The entries at `seqs`, skipping any that are absent.
    pub fn entries(&self, seqs: &[u64]) -> Result<Vec<LedgerEntry>, StoreError> {
        let keys: Vec<String> = seqs.iter().map(|seq| entry_key(*seq)).collect();
        let mut entries = Vec::with_capacity(keys.len());
        for (key, bytes) in keys.iter().zip(self.store.get_many(&keys)?) {
            if let Some(bytes) = bytes {
                entries.push(decode_slot(key, &bytes)?.entry);
            }
        }
        Ok(entries)
    }

    /// Moves the head hint forward, never back.
    fn advance_head(&self, tip: &Tip) -> Result<(), StoreError> {
        loop {
            let current = read::<Tip>(self.store, HEAD_KEY)?;
            if current.as_ref().is_some_and(|(head, _)| head.seq >= tip.seq) {
                return Ok(());
            }
            let raw = current.map(|(_, raw)| raw);
            if self.store.compare_and_swap(HEAD_KEY, raw.as_deref(), &encode(tip)?)? {
                return Ok(());
            }
        }
    }

    /// Settles the log (finishing projections a crash left, from the log alone), then
    /// recomputes the chain up to the settled tip. It names the first entry where any of these
    /// fail: the entry's place, link and own hash; the subject state stored with it; the entry
    /// following legally from its subject's previous entry; no entry missing below the tip or
    /// just past it; every subject's record equal to the state its last entry recorded.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let tip = self.settle()?;
        let mut checker = ChainChecker::default();
        let mut subjects: BTreeMap<String, Remembered> = BTreeMap::new();
        let mut nodes = NodeCheck::new(self.store)?;
        let mut first_mismatch = self.walk(tip.seq, &mut checker, &mut subjects, &mut nodes)?;
        if first_mismatch.is_none() {
            first_mismatch = self.check_beyond(tip.seq)?;
        }
        if first_mismatch.is_none() {
            first_mismatch = self.check_records(&subjects)?;
        }
        Ok(VerifyReport {
            ok: first_mismatch.is_none(),
            entries_checked: checker.checked(),
            head_seq: tip.seq,
            head_hash: tip.hash,
            first_mismatch,
        })
    }

    /// Checks entries 1..=`tip` in order; returns the first mismatch.
    fn walk(
        &self,
        tip: u64,
        checker: &mut ChainChecker,
        subjects: &mut BTreeMap<String, Remembered>,
        nodes: &mut NodeCheck,
    ) -> Result<Option<Mismatch>, StoreError> {
        for batch_start in (1..=tip).step_by(VERIFY_BATCH as usize) {
            let keys: Vec<String> = (batch_start..=tip.min(batch_start + VERIFY_BATCH - 1)).map(entry_key).collect();
            for (key, bytes) in keys.iter().zip(self.store.get_many(&keys)?) {
                let seq = checker.checked() + 1;
                let mismatch = |problem: String| Some(Mismatch { seq, subject: None, problem });
                let Some(bytes) = bytes else {
                    return Ok(mismatch(format!("entry {seq} is missing: the log was settled up to entry {tip}")));
                };
                let slot = match decode_slot(key, &bytes) {
                    Ok(slot) => slot,
                    Err(error) => return Ok(mismatch(error.to_string())),
                };
                if let Err(mismatch) = check_slot(checker, &slot, subjects.get(&slot.entry.subject)) {
                    return Ok(Some(mismatch));
                }
                if let Some(mismatch) = nodes.feed(self.store, &slot.entry)? {
                    return Ok(Some(mismatch));
                }
                subjects.insert(slot.entry.subject.clone(), Remembered::of(&slot));
            }
        }
        Ok(None)
    }

    /// An entry missing just past the tip while later ones exist means entries were removed and
    /// the head hint wound back. (A tail removed together with the hint can only be caught
    /// against a head hash recorded outside the store.)
    fn check_beyond(&self, tip: u64) -> Result<Option<Mismatch>, StoreError> {
        let keys: Vec<String> = (tip + 1..=tip + 4).map(entry_key).collect();
        let present = self.store.get_many(&keys)?;
        let first_missing = present.first().is_some_and(Option::is_none);
        if let Some(offset) = present.iter().position(Option::is_some).filter(|_| first_missing) {
            return Ok(Some(Mismatch {
                seq: tip + 1,
                subject: None,
                problem: format!("entry {} is missing but entry {} exists", tip + 1, tip + 1 + offset as u64),
            }));
        }
        Ok(None)
    }

    /// Each subject's record must be exactly the state its last entry recorded, or (if a
    /// commit landed while we walked) the state of its own later entry.
    fn check_records(&self, subjects: &BTreeMap<String, Remembered>) -> Result<Option<Mismatch>, StoreError> {
        let mut first: Option<Mismatch> = None;
        for (subject, remembered) in subjects {
            if self.record_matches(subject, remembered)? {
                continue;
            }
            let seq = remembered.last_seq;
            if first.as_ref().is_none_or(|found| seq < found.seq) {
                let problem = format!("the stored record of {subject} is not the state its last entry recorded");
                first = Some(Mismatch { seq, subject: Some(subject.clone()), problem });
            }
        }
        Ok(first)
    }

    fn record_matches(&self, subject: &str, remembered: &Remembered) -> Result<bool, StoreError> {
        let Some((record, _)) = read::<serde_json::Value>(self.store, &subject_key(subject))? else { return Ok(false) };
        let hash = sha256_of_json(&record);
        if hash == remembered.state_hash {
            return Ok(true);
        }
        if record["version"].as_u64().is_none_or(|version| version <= remembered.version) {
            return Ok(false);
        }
        let own_slot = match record["ledger_seqs"].as_array().and_then(|seqs| seqs.last()).and_then(|seq| seq.as_u64())
        {
            Some(seq) => self.slot(seq)?,
            None => None,
        };
        Ok(own_slot.is_some_and(|slot| slot.entry.subject == subject && slot.entry.state_hash == hash))
    }
}

/// What verify remembers of a subject between its entries.
struct Remembered {
    last_seq: u64,
    version: u64,
    state_hash: String,
    rules: SuccessionRules,
}

/// How a subject's next entry must follow from its last.
enum SuccessionRules {
    Case(Lineage),
    /// Any other subject: one version on, and what it keeps never changes (see `kept`).
    Kept(Vec<Vec<Kept>>),
}

/// One element a subject keeps for good: the digest of what may never change, and of what may
/// be set once and then never change (a delegation's revocation).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    fixed: String,
    set_once: Option<String>,
}

impl Kept {
    fn of<T: serde::Serialize>(element: &T) -> Kept {
        Kept { fixed: sha256_of_json(element), set_once: None }
    }

    /// Whether `next` is this element, unchanged but for a first setting of `set_once`.
    fn kept_by(&self, next: &Kept) -> bool {
        self.fixed == next.fixed && (self.set_once.is_none() || self.set_once == next.set_once)
    }
}

/// What a subject other than a case keeps for good, collection by collection, oldest first:
/// activated chains (a rollback's confirmation may be set once), taxonomy revisions,
/// delegations (whose revocation may be set once), a remediation item's history, and the
/// control proposals decided. Uploads are keyed by their content's digest, so only their
/// number is kept here.
fn kept(subject: &Subject) -> Vec<Vec<Kept>> {
    match subject {
        Subject::Case(_) => Vec::new(),
        Subject::PolicyRegistry(registry) => {
            // A chain never changes once activated, except that a rollback is confirmed once.
            let chains = registry.chains.iter().map(|chain| Kept {
                fixed: sha256_of_json(&crate::registry::ActivatedChain { confirmed: None, ..chain.clone() }),
                set_once: chain.confirmed.as_ref().map(sha256_of_json),
            });
            vec![registry.uploads.keys().map(Kept::of).collect(), chains.collect()]
        }
        Subject::Taxonomy(record) => vec![record.revisions.iter().map(Kept::of).collect()],
        Subject::Delegations(book) => vec![book.delegations.iter().map(kept_delegation).collect()],
        Subject::Delegation(record) => vec![vec![kept_delegation(&record.delegation)]],
        Subject::Remediation(item) => vec![item.history.iter().map(Kept::of).collect()],
        Subject::Intake(log) => vec![log.rejections.iter().map(Kept::of).collect()],
        Subject::RejectedIntake(rejected) => vec![vec![Kept::of(&rejected.rejection)]],
        Subject::Baselines(book) => vec![book.history.iter().map(Kept::of).collect()],
        Subject::Controls(record) => vec![record.decided.iter().map(Kept::of).collect()],
        Subject::Execution(record) => vec![
            vec![Kept::of(&(&record.report, &record.source))],
            record
                .findings
                .iter()
                .map(|finding| Kept {
                    fixed: sha256_of_json(&crate::reconcile::Finding { resolved_at: None, ..finding.clone() }),
                    set_once: finding.resolved_at.as_ref().map(sha256_of_json),
                })
                .collect(),
        ],
    }
}

/// A delegation never changes once granted, except that it is revoked once.
fn kept_delegation(delegation: &crate::delegation::Delegation) -> Kept {
    Kept {
        fixed: sha256_of_json(&crate::delegation::Delegation { revoked: None, ..delegation.clone() }),
        set_once: delegation.revoked.as_ref().map(sha256_of_json),
    }
}

/// Whether every element of `before` is still there, at its place, in `now` (uploads: by key,
/// anywhere).
fn keeps(before: &[Vec<Kept>], now: &[Vec<Kept>], keyed_first: bool) -> bool {
    before.iter().zip(now).enumerate().all(|(index, (before, now))| {
        if keyed_first && index == 0 {
            return before.iter().all(|element| now.contains(element));
        }
        before.len() <= now.len() && before.iter().zip(now).all(|(before, now)| before.kept_by(now))
    })
}

impl Remembered {
    fn of(slot: &LedgerSlot) -> Remembered {
        let rules = match &slot.subject {
            Subject::Case(case) => SuccessionRules::Case(Lineage::of(case, &slot.entry.state_hash)),
            other => SuccessionRules::Kept(kept(other)),
        };
        Remembered {
            last_seq: slot.entry.seq,
            version: slot.subject.version(),
            state_hash: slot.entry.state_hash.clone(),
            rules,
        }
    }
}

fn check_slot(checker: &mut ChainChecker, slot: &LedgerSlot, previous: Option<&Remembered>) -> Result<(), Mismatch> {
    checker.check(&slot.entry)?;
    let entry = &slot.entry;
    let mismatch = |problem: String| Mismatch { seq: entry.seq, subject: Some(entry.subject.clone()), problem };
    if slot.subject.state_hash() != entry.state_hash || slot.subject.id() != entry.subject {
        return Err(mismatch("the state stored with the entry does not match its state_hash".to_owned()));
    }
    follows(slot, previous).map_err(mismatch)
}

/// Whether the slot's subject state legally follows the subject's previous entry.
fn follows(slot: &LedgerSlot, previous: Option<&Remembered>) -> Result<(), String> {
    let (entry, seqs) = (&slot.entry, slot.subject.ledger_seqs());
    let rules = previous.map(|remembered| &remembered.rules);
    match (&slot.subject, rules) {
        (Subject::Case(case), None) => Lineage::check_first(case, entry.event, entry.seq),
        (Subject::Case(case), Some(SuccessionRules::Case(lineage))) => lineage.check_successor(case, entry.seq),
        (Subject::Case(case), Some(SuccessionRules::Kept(_))) => {
            Err(format!("case {} reuses another subject's id", case.id))
        }
        (other, Some(SuccessionRules::Case(_))) => Err(format!("{} reuses a case's subject id", other.id())),
        (other, kept_before) => {
            four_eyes_held(other)?;
            let previous_version = previous.map_or(0, |remembered| remembered.version);
            let kept_all = match kept_before {
                Some(SuccessionRules::Kept(before)) => {
                    keeps(before, &kept(other), matches!(other, Subject::PolicyRegistry(_)))
                }
                _ => true,
            };
            if other.version() == previous_version + 1 && seqs.last() == Some(&entry.seq) && kept_all {
                Ok(())
            } else {
                Err(format!("{} did not move one version on, keeping its history", other.id()))
            }
        }
    }
}

/// Four eyes as the ledger must show them: every chain activated through a proposal approved by
/// someone other than its proposer, every confirmation on a rollback and by someone other than
/// the admin who made it, and every control proposal approved by someone other than its
/// proposer.
fn four_eyes_held(subject: &Subject) -> Result<(), String> {
    match subject {
        Subject::PolicyRegistry(registry) => registry.chains.iter().try_for_each(|chain| {
            let number = chain.number;
            if let Some(approval) =
                chain.approval.as_ref().filter(|approval| approval.approved.by == approval.proposed.by)
            {
                return Err(format!("chain {number} was approved by its own proposer, {}", approval.proposed.by));
            }
            match &chain.confirmed {
                Some(_) if chain.restores.is_none() => {
                    Err(format!("chain {number} is confirmed but is not a rollback"))
                }
                Some(confirmed) if confirmed.by == chain.activated_by => {
                    Err(format!("rollback {number} was confirmed by the admin who made it, {}", confirmed.by))
                }
                _ => Ok(()),
            }
        }),
        Subject::Controls(record) => record.decided.iter().try_for_each(|decided| match &decided.outcome {
            crate::controls::ProposalOutcome::Approved { approved } if approved.by == decided.proposed.by => {
                Err(format!("control proposal {} was approved by its own proposer, {}", decided.number, approved.by))
            }
            _ => Ok(()),
        }),
        _ => Ok(()),
    }
}

fn decode_slot(key: &str, bytes: &[u8]) -> Result<LedgerSlot, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| StoreError::Backend(format!("ledger slot {key} does not decode: {error}")))
}

/// Gives a change its place after `tip` and computes its hashes.
fn seal(tip: &Tip, change: Change, context: EntryContext) -> LedgerSlot {
    let Change { mut subject, event, authority, payload } = change;
    let seq = tip.seq + 1;
    subject.record_seq(seq);
    let mut entry = LedgerEntry {
        seq,
        subject: subject.id().to_owned(),
        event,
        actor: context.actor,
        role: context.role,
        authority,
        at: context.at,
        payload,
        policies: context.policies,
        matrix_version: context.matrix_version,
        taxonomy_version: context.taxonomy_version,
        facts_hash: context.facts_hash,
        subject_version: subject.version(),
        state_hash: subject.state_hash(),
        prev_hash: tip.hash.clone(),
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    LedgerSlot { entry, subject }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Transition;
    use crate::fixtures::{at, pending_case};
    use crate::ledger::EventType;
    use crate::projections::{case_key, queue_items};
    use crate::store::MemoryStore;

    fn context() -> EntryContext {
        EntryContext {
            actor: "avery".into(),
            role: Role::Agent,
            at: at(),
            policies: vec![],
            matrix_version: "m".into(),
            taxonomy_version: "t".into(),
            facts_hash: None,
        }
    }

    fn transition(case_id: &str) -> Transition {
        let case = pending_case(case_id);
        Transition { case, event: EventType::CaseSubmitted, authority: None, payload: serde_json::json!({}) }
    }

    /// A registry whose chain 1 was approved by `approver` (proposed by ade.admin).
    fn approved_by(approver: &str) -> crate::subject::Change {
        use crate::proposal::Signoff;
        use crate::registry::{ActivatedChain, ChainApproval, PolicyRegistry};
        let signoff =
            |by: &str| Signoff { by: by.into(), at: at(), rationale: "CR-1".into(), authority: "config".into() };
        let chain = ActivatedChain {
            number: 1,
            links: Vec::new(),
            activated_by: approver.into(),
            activated_at: at(),
            rationale: "CR-1".into(),
            restores: None,
            approval: Some(ChainApproval { proposal: 1, proposed: signoff("ade.admin"), approved: signoff(approver) }),
            confirmed: None,
        };
        let registry = PolicyRegistry { version: 1, chains: vec![chain], ..PolicyRegistry::default() };
        crate::subject::Change::of(registry, EventType::PolicyChainActivated, serde_json::json!({}))
    }

    #[test]
    fn verify_refuses_a_chain_its_own_proposer_approved() {
        for (approver, ok) in [("alex.admin", true), ("ade.admin", false)] {
            let store = MemoryStore::new();
            let ledger_store = LedgerStore::new(&store);
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, approved_by(approver), context()).unwrap().expect("slot claimed");
            let report = ledger_store.verify().unwrap();
            assert_eq!(report.ok, ok, "{report:?}");
            if !ok {
                let problem = report.first_mismatch.map(|mismatch| mismatch.problem).unwrap_or_default();
                assert!(problem.contains("approved by its own proposer, ade.admin"), "{problem}");
            }
        }
    }

    #[test]
    fn appends_chain_and_project() {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        for id in ["LV-1", "LV-2"] {
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, transition(id), context()).unwrap().expect("slot claimed");
        }
        let report = ledger_store.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries_checked, 2);
        let queue = queue_items(&store, crate::identity::ApproverLevel::Lead).unwrap();
        assert_eq!(queue.len(), 2);
    }

    /// A memory store that offers no atomic batches (as Spin's do not), or whose every batch
    /// loses to another writer moving the head hint just before it lands.
    struct Variant {
        inner: MemoryStore,
        batches: bool,
        raced: bool,
    }

    impl Store for Variant {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key)
        }
        fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
            self.inner.compare_and_swap(key, current, new)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            self.inner.increment(key, delta)
        }
        fn atomic_batches(&self) -> bool {
            self.batches
        }
        fn commit_batch(&self, batch: &crate::store::Batch) -> Result<bool, StoreError> {
            if self.raced {
                self.inner.set(HEAD_KEY, b"another writer's")?;
            }
            self.inner.commit_batch(batch)
        }
    }

    #[test]
    fn appends_chain_and_project_one_key_at_a_time_too() {
        let store = Variant { inner: MemoryStore::new(), batches: false, raced: false };
        let ledger_store = LedgerStore::new(&store);
        for id in ["LV-1", "LV-2"] {
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, transition(id), context()).unwrap().expect("slot claimed");
        }
        assert!(ledger_store.verify().unwrap().ok);
        assert_eq!(queue_items(&store, crate::identity::ApproverLevel::Lead).unwrap().len(), 2);
    }

    /// Where batches are atomic, a commit whose projections read a record another writer
    /// changes before the batch lands loses whole: no slot, no projection.
    #[test]
    fn a_batch_that_loses_a_race_writes_nothing() {
        let store = Variant { inner: MemoryStore::new(), batches: true, raced: true };
        let ledger_store = LedgerStore::new(&store);
        let tip = ledger_store.settle().unwrap();
        assert!(ledger_store.try_append(&tip, transition("LV-1"), context()).unwrap().is_none(), "the race is lost");
        assert_eq!(store.get(&entry_key(1)).unwrap(), None, "no slot");
        assert_eq!(store.get(&case_key("LV-1")).unwrap(), None, "no case record");
        assert!(queue_items(&store, crate::identity::ApproverLevel::Lead).unwrap().is_empty(), "no queue entry");
    }

    #[test]
    fn pending_cases_spread_over_queue_shards_and_leave_earlier_versions_queues_when_they_change() {
        use crate::identity::ApproverLevel;
        use crate::projections::{QueueIndex, encode, queue_item, queue_shard};
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        // A store written before the queues were sharded (LV-OLD waits in `queue/lead`), and one
        // written while shards held whole items (LV-MID waits in its shard).
        let legacy = |id: &str| QueueIndex {
            applied_seq: 0,
            items: [(id.to_owned(), queue_item(&pending_case(id)).unwrap())].into(),
        };
        store.set("queue/lead", &encode(&legacy("LV-OLD")).unwrap()).unwrap();
        let mid_shard = format!("queue/lead/{:02}", queue_shard("LV-MID"));
        store.set(&mid_shard, &encode(&legacy("LV-MID")).unwrap()).unwrap();
        for id in ["LV-1", "LV-2", "LV-3"] {
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, transition(id), context()).unwrap().expect("slot claimed");
        }
        let listed = || {
            let mut ids: Vec<String> =
                queue_items(&store, ApproverLevel::Lead).unwrap().into_iter().map(|item| item.case_id).collect();
            ids.sort();
            ids
        };
        assert_eq!(listed(), ["LV-1", "LV-2", "LV-3", "LV-MID", "LV-OLD"]);
        assert!(["LV-1", "LV-2", "LV-3"].iter().any(|id| queue_shard(id) != queue_shard("LV-1")), "spread");

        // Their next entries move them into the members of their shards, and the old records go.
        for id in ["LV-OLD", "LV-MID"] {
            let mut next = transition(id);
            next.case.version = 2;
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, next, context()).unwrap().expect("slot claimed");
        }
        assert_eq!(store.get("queue/lead").unwrap(), None);
        assert_eq!(store.get(&mid_shard).unwrap(), None);
        assert_eq!(listed(), ["LV-1", "LV-2", "LV-3", "LV-MID", "LV-OLD"]);
    }

    /// A case's change rewrites its level's membership only when it joins or leaves the level,
    /// and leaves the queue when it waits for no one.
    #[test]
    fn a_case_leaves_the_queue_when_it_waits_for_no_one() {
        use crate::identity::ApproverLevel;
        use crate::projections::{queue_item_key, queue_items};
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        let tip = ledger_store.settle().unwrap();
        ledger_store.try_append(&tip, transition("LV-1"), context()).unwrap().expect("slot claimed");
        assert_eq!(queue_items(&store, ApproverLevel::Lead).unwrap().len(), 1);
        let mut approved = transition("LV-1");
        approved.case.version = 2;
        approved.case.status = crate::case::CaseStatus::Approved;
        approved.event = EventType::CaseApproved;
        let tip = ledger_store.settle().unwrap();
        ledger_store.try_append(&tip, approved, context()).unwrap().expect("slot claimed");
        assert!(queue_items(&store, ApproverLevel::Lead).unwrap().is_empty());
        let entry: crate::projections::QueueEntry =
            serde_json::from_slice(&store.get(&queue_item_key("LV-1")).unwrap().unwrap()).unwrap();
        assert_eq!((entry.applied_seq, entry.item), (2, None), "what was last applied is kept");
    }

    /// A memory store that counts the bytes it is asked to read and write.
    #[derive(Default)]
    struct Counted {
        inner: MemoryStore,
        bytes: std::sync::atomic::AtomicUsize,
    }

    impl Counted {
        fn count(&self, bytes: usize) {
            self.bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        }
        fn take(&self) -> usize {
            self.bytes.swap(0, std::sync::atomic::Ordering::Relaxed)
        }
    }

    impl Store for Counted {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            let value = self.inner.get(key)?;
            self.count(value.as_ref().map_or(0, Vec::len));
            Ok(value)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            self.count(value.len());
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key)
        }
        fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
            self.count(new.len());
            self.inner.compare_and_swap(key, current, new)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            self.inner.increment(key, delta)
        }
        fn atomic_batches(&self) -> bool {
            true
        }
        fn commit_batch(&self, batch: &crate::store::Batch) -> Result<bool, StoreError> {
            self.count(batch.writes.iter().filter_map(|(_, value)| value.as_ref()).map(Vec::len).sum());
            self.inner.commit_batch(batch)
        }
    }

    /// What a pending case's submission reads and writes does not grow with the cases already
    /// waiting at its level.
    #[test]
    fn a_queued_case_costs_the_same_however_many_wait() {
        let store = Counted::default();
        let ledger_store = LedgerStore::new(&store);
        let mut bytes_for = Vec::new();
        for n in 1..=1_000 {
            let tip = ledger_store.settle().unwrap();
            store.take();
            ledger_store.try_append(&tip, transition(&format!("LV-{n:06}")), context()).unwrap().expect("slot claimed");
            bytes_for.push(store.take());
        }
        assert_eq!(queue_items(&store, crate::identity::ApproverLevel::Lead).unwrap().len(), 1_000);
        let (early, late) = (bytes_for[9], bytes_for[999]);
        assert!(late < early + early / 5, "the 10th case moved {early} bytes, the 1,000th {late}");
    }

    #[test]
    fn a_writer_with_a_stale_tip_loses_the_slot() {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        let stale = ledger_store.settle().unwrap();
        ledger_store.try_append(&stale, transition("LV-1"), context()).unwrap().expect("first claim");
        assert!(ledger_store.try_append(&stale, transition("LV-2"), context()).unwrap().is_none());
        assert!(ledger_store.verify().unwrap().ok);
    }

    /// A crash after the commit but before the projections: the next settle finishes them.
    #[test]
    fn settle_finishes_projections_a_crashed_writer_left() {
        let store = MemoryStore::new();
        let slot = seal(&Tip::genesis(), transition("LV-1").into(), context());
        store.compare_and_swap(&entry_key(1), None, &encode(&slot).unwrap()).unwrap();
        assert!(store.get(&case_key("LV-1")).unwrap().is_none(), "nothing projected yet");

        let tip = LedgerStore::new(&store).settle().unwrap();
        assert_eq!(tip.seq, 1);
        let case: Case = read(&store, &case_key("LV-1")).unwrap().expect("projected").0;
        assert_eq!(case.ledger_seqs, vec![1]);
        assert!(LedgerStore::new(&store).verify().unwrap().ok);
    }

    /// On a store with atomic batches a commit appends after the head hint without looking
    /// past it; a slot past the hint (here, one a writer without atomic batches claimed and
    /// did not project) makes that attempt lose, and the next one settles and lands after it.
    #[test]
    fn an_append_after_a_stale_head_hint_loses_then_lands_after_settling() {
        let store = MemoryStore::new();
        assert!(store.atomic_batches());
        let left = seal(&Tip::genesis(), transition("LV-1").into(), context());
        store.compare_and_swap(&entry_key(1), None, &encode(&left).unwrap()).unwrap();

        let ledger_store = LedgerStore::new(&store);
        let hinted = ledger_store.tip_to_append_after().unwrap();
        assert_eq!(hinted.seq, 0, "the hint, not the slot past it");
        assert!(ledger_store.try_append(&hinted, transition("LV-2"), context()).unwrap().is_none(), "loses");
        let settled = ledger_store.tip_to_append_after().unwrap();
        assert_eq!(settled.seq, 1, "settled in full after the lost race");
        let slot = ledger_store.try_append(&settled, transition("LV-2"), context()).unwrap().expect("lands");
        assert_eq!(slot.entry.seq, 2);
        assert!(read::<Case>(&store, &case_key("LV-1")).unwrap().is_some(), "LV-1 projected by the settle");
        assert!(ledger_store.verify().unwrap().ok);
    }

    /// An attacker who re-seals a forged transition with correct hashes still breaks the rule
    /// that a case's request and decision never change after submission.
    #[test]
    fn verify_names_a_resealed_illegal_transition() {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        let tip = ledger_store.settle().unwrap();
        let submitted = ledger_store.try_append(&tip, transition("LV-1"), context()).unwrap().unwrap();
        let mut forged = submitted.into_case().unwrap();
        forged.version += 1;
        forged.decision.verdict = crate::decision::Verdict::AutoApprove;
        forged.status = crate::case::CaseStatus::Approved;
        let forged = Transition {
            case: forged,
            event: EventType::CaseApproved,
            authority: None,
            payload: serde_json::json!({}),
        };
        let tip = ledger_store.settle().unwrap();
        ledger_store.try_append(&tip, forged, context()).unwrap().unwrap();
        let mismatch = ledger_store.verify().unwrap().first_mismatch.expect("the forged entry is named");
        assert_eq!(mismatch.seq, 2);
        assert!(mismatch.problem.contains("request or decision"), "{}", mismatch.problem);
    }

    #[test]
    fn verify_names_an_altered_entry() {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        for id in ["LV-1", "LV-2", "LV-3"] {
            let tip = ledger_store.settle().unwrap();
            ledger_store.try_append(&tip, transition(id), context()).unwrap();
        }
        let mut slot = ledger_store.slot(2).unwrap().unwrap();
        slot.entry.actor = "mallory".into();
        store.set(&entry_key(2), &encode(&slot).unwrap()).unwrap();
        let report = ledger_store.verify().unwrap();
        assert_eq!(report.first_mismatch.map(|mismatch| mismatch.seq), Some(2));
        assert_eq!(report.entries_checked, 1);
    }

    /// A delegation whose window is widened, or whose revocation is undone, in a resealed
    /// entry is named by verify, though every hash is right.
    #[test]
    fn verify_names_a_rewritten_delegation() {
        use crate::delegation::{Delegation, DelegationBook, Revocation};
        use crate::subject::Change;
        for forge in [
            |book: &mut DelegationBook| book.delegations[0].ends_at += chrono::Duration::days(30),
            |book: &mut DelegationBook| book.delegations[0].revoked = None,
        ] {
            let store = MemoryStore::new();
            let ledger_store = LedgerStore::new(&store);
            let delegation = Delegation {
                id: "DG-1".into(),
                delegator: "morgan".into(),
                delegate: "lee".into(),
                starts_at: at(),
                ends_at: at() + chrono::Duration::days(7),
                reason: "leave".into(),
                granted_at: at(),
                revoked: None,
            };
            let mut book = DelegationBook { version: 1, ledger_seqs: vec![], delegations: vec![delegation] };
            let next = |book: &DelegationBook| {
                let tip = ledger_store.settle().unwrap();
                let change = Change::of(book.clone(), EventType::DelegationGranted, serde_json::json!({}));
                ledger_store.try_append(&tip, change, context()).unwrap().unwrap();
            };
            next(&book);
            book.ledger_seqs = vec![1];
            book.version = 2;
            book.delegations[0].revoked = Some(Revocation { by: "morgan".into(), at: at(), reason: "back".into() });
            next(&book);
            book.ledger_seqs.push(2);
            book.version = 3;
            forge(&mut book);
            next(&book);
            let mismatch = ledger_store.verify().unwrap().first_mismatch.expect("the rewrite is named");
            assert_eq!(mismatch.seq, 3, "{}", mismatch.problem);
        }
    }
}
