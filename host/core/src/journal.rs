//! The ledger on the storage port, kept as a commit log.
//!
//! A transition commits by claiming the next ledger slot with an insert-if-absent
//! compare-and-swap: that one write is the commit point, so a transition without its audit
//! entry cannot exist, and two writers can never both claim the same place. The slot holds the
//! entry and the case as it stands after it; the case record, queues and customer history are
//! projections of those slots (see `projections`). Whoever commits next first "settles" the
//! log, applying any slot whose projections a crashed or slow writer left unfinished, so a
//! crash between the commit and its projections loses nothing.
//!
//! `ledger/head` is only a hint of how far the log is settled; the slots are the truth.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::case::{Case, Transition};
use crate::engine::PolicyIdentity;
use crate::identity::Role;
use crate::ledger::{ChainChecker, GENESIS_HASH, LedgerEntry, Mismatch, VerifyReport, sha256_of_json};
use crate::projections::{self, case_key, encode, read};
use crate::store::{Store, StoreError};

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
    /// The case as it stood after the entry; its hash is the entry's `state_hash`.
    pub case: Case,
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
pub struct Journal<'a> {
    store: &'a dyn Store,
}

impl<'a> Journal<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Journal { store }
    }

    /// Finds the tip, applying the projections of any slot past the head hint on the way.
    pub fn settle(&self) -> Result<Tip, StoreError> {
        let hinted = read::<Tip>(self.store, HEAD_KEY)?.map(|(tip, _)| tip).unwrap_or_else(Tip::genesis);
        let mut tip = hinted.clone();
        while let Some(slot) = self.slot(tip.seq + 1)? {
            projections::apply(self.store, &slot.entry, &slot.case)?;
            tip = Tip { seq: slot.entry.seq, hash: slot.entry.hash };
        }
        if tip.seq > hinted.seq {
            self.advance_head(&tip)?;
        }
        Ok(tip)
    }

    /// Tries to commit `transition` as the entry after `tip`. `Ok(None)` means another writer
    /// took that place first: settle and try again.
    pub fn try_append(
        &self,
        tip: &Tip,
        transition: Transition,
        context: EntryContext,
    ) -> Result<Option<LedgerSlot>, StoreError> {
        let slot = seal(tip, transition, context);
        if !self.store.compare_and_swap(&entry_key(slot.entry.seq), None, &encode(&slot)?)? {
            return Ok(None);
        }
        projections::apply(self.store, &slot.entry, &slot.case)?;
        self.advance_head(&Tip { seq: slot.entry.seq, hash: slot.entry.hash.clone() })?;
        Ok(Some(slot))
    }

    pub fn slot(&self, seq: u64) -> Result<Option<LedgerSlot>, StoreError> {
        Ok(read::<LedgerSlot>(self.store, &entry_key(seq))?.map(|(slot, _)| slot))
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

    /// Recomputes the whole chain, then checks every case record against its last entry.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut checker = ChainChecker::default();
        let mut last_state: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut first_mismatch = None;
        'walk: for batch_start in (1..).step_by(VERIFY_BATCH as usize) {
            let keys: Vec<String> = (batch_start..batch_start + VERIFY_BATCH).map(entry_key).collect();
            for (key, bytes) in keys.iter().zip(self.store.get_many(&keys)?) {
                let Some(bytes) = bytes else { break 'walk };
                let problem = match decode_slot(key, &bytes) {
                    Ok(slot) => check_slot(&mut checker, &slot).map(|()| {
                        last_state.insert(slot.entry.case_id.clone(), (slot.entry.seq, slot.entry.state_hash));
                    }),
                    Err(error) => {
                        Err(Mismatch { seq: checker.checked() + 1, case_id: None, problem: error.to_string() })
                    }
                };
                if let Err(mismatch) = problem {
                    first_mismatch = Some(mismatch);
                    break 'walk;
                }
            }
        }
        if first_mismatch.is_none() {
            first_mismatch = self.check_head(checker.checked())?;
        }
        if first_mismatch.is_none() {
            first_mismatch = self.check_case_records(&last_state)?;
        }
        Ok(VerifyReport {
            ok: first_mismatch.is_none(),
            entries_checked: checker.checked(),
            head_seq: checker.checked(),
            head_hash: checker.head_hash().to_owned(),
            first_mismatch,
        })
    }

    /// The head hint must not claim more entries than the chain holds (a truncated tail).
    fn check_head(&self, checked: u64) -> Result<Option<Mismatch>, StoreError> {
        let head = read::<Tip>(self.store, HEAD_KEY)?.map(|(tip, _)| tip);
        Ok(head.filter(|head| head.seq > checked).map(|head| Mismatch {
            seq: checked + 1,
            case_id: None,
            problem: format!("entry {} is missing: the log was settled up to entry {}", checked + 1, head.seq),
        }))
    }

    /// Each case record must be exactly the state its last entry hashed.
    fn check_case_records(&self, last_state: &BTreeMap<String, (u64, String)>) -> Result<Option<Mismatch>, StoreError> {
        let mut first: Option<Mismatch> = None;
        for (case_id, (seq, state_hash)) in last_state {
            let stored = read::<Case>(self.store, &case_key(case_id))?.map(|(case, _)| sha256_of_json(&case));
            if stored.as_deref() != Some(state_hash.as_str()) && first.as_ref().is_none_or(|found| *seq < found.seq) {
                first = Some(Mismatch {
                    seq: *seq,
                    case_id: Some(case_id.clone()),
                    problem: format!("the stored record of case {case_id} is not the state entry {seq} recorded"),
                });
            }
        }
        Ok(first)
    }
}

fn check_slot(checker: &mut ChainChecker, slot: &LedgerSlot) -> Result<(), Mismatch> {
    checker.check(&slot.entry)?;
    if sha256_of_json(&slot.case) != slot.entry.state_hash || slot.case.id != slot.entry.case_id {
        return Err(Mismatch {
            seq: slot.entry.seq,
            case_id: Some(slot.entry.case_id.clone()),
            problem: "the case state stored with the entry does not match its state_hash".to_owned(),
        });
    }
    Ok(())
}

fn decode_slot(key: &str, bytes: &[u8]) -> Result<LedgerSlot, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| StoreError::Backend(format!("ledger slot {key} does not decode: {error}")))
}

/// Gives a transition its place after `tip` and computes its hashes.
fn seal(tip: &Tip, transition: Transition, context: EntryContext) -> LedgerSlot {
    let Transition { mut case, event, authority, payload } = transition;
    let seq = tip.seq + 1;
    case.ledger_seqs.push(seq);
    let mut entry = LedgerEntry {
        seq,
        case_id: case.id.clone(),
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
        case_version: case.version,
        state_hash: sha256_of_json(&case),
        prev_hash: tip.hash.clone(),
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    LedgerSlot { entry, case }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, pending_case};
    use crate::ledger::EventType;
    use crate::projections::{QueueIndex, queue_key};
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

    #[test]
    fn appends_chain_and_project() {
        let store = MemoryStore::new();
        let journal = Journal::new(&store);
        for id in ["LV-1", "LV-2"] {
            let tip = journal.settle().unwrap();
            journal.try_append(&tip, transition(id), context()).unwrap().expect("slot claimed");
        }
        let report = journal.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries_checked, 2);
        let queue: QueueIndex = read(&store, &queue_key(crate::identity::ApproverLevel::Lead)).unwrap().unwrap().0;
        assert_eq!(queue.items.len(), 2);
    }

    #[test]
    fn a_writer_with_a_stale_tip_loses_the_slot() {
        let store = MemoryStore::new();
        let journal = Journal::new(&store);
        let stale = journal.settle().unwrap();
        journal.try_append(&stale, transition("LV-1"), context()).unwrap().expect("first claim");
        assert!(journal.try_append(&stale, transition("LV-2"), context()).unwrap().is_none());
        assert!(journal.verify().unwrap().ok);
    }

    /// A crash after the commit but before the projections: the next settle finishes them.
    #[test]
    fn settle_finishes_projections_a_crashed_writer_left() {
        let store = MemoryStore::new();
        let slot = seal(&Tip::genesis(), transition("LV-1"), context());
        store.compare_and_swap(&entry_key(1), None, &encode(&slot).unwrap()).unwrap();
        assert!(store.get(&case_key("LV-1")).unwrap().is_none(), "nothing projected yet");

        let tip = Journal::new(&store).settle().unwrap();
        assert_eq!(tip.seq, 1);
        let case: Case = read(&store, &case_key("LV-1")).unwrap().expect("projected").0;
        assert_eq!(case.ledger_seqs, vec![1]);
        assert!(Journal::new(&store).verify().unwrap().ok);
    }

    #[test]
    fn verify_names_an_altered_entry() {
        let store = MemoryStore::new();
        let journal = Journal::new(&store);
        for id in ["LV-1", "LV-2", "LV-3"] {
            let tip = journal.settle().unwrap();
            journal.try_append(&tip, transition(id), context()).unwrap();
        }
        let mut slot = journal.slot(2).unwrap().unwrap();
        slot.entry.actor = "mallory".into();
        store.set(&entry_key(2), &encode(&slot).unwrap()).unwrap();
        let report = journal.verify().unwrap();
        assert_eq!(report.first_mismatch.map(|mismatch| mismatch.seq), Some(2));
        assert_eq!(report.entries_checked, 1);
    }
}
