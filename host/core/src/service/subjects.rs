//! Subjects as the service loads and changes them: a subject read from its record only when
//! the record matches its last ledger entry, and changed under compare-and-swap
//! (`crate::subject` says what a subject is).

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::identity::Principal;
use crate::ledger_store::LedgerStore;
use crate::projections;
use crate::service::{Levee, ServiceError};
use crate::subject::{Change, SubjectState};

impl Levee {
    /// A subject, as its last ledger entry recorded it (`None`: it has no entries yet). The
    /// record is only an index to that entry: a record that does not match it (edited behind
    /// the ledger's back) is refused, so nothing is ever decided from a forged record.
    pub(crate) fn load_subject<S: SubjectState>(&self, id: &str) -> Result<Option<S>, ServiceError> {
        let key = projections::subject_key(id);
        let stored = self.store.get(&key)?;
        self.subject_from(id, stored.as_deref())
    }

    /// What `make` builds from subject `id` as `load_subject` reads it, built once per stored
    /// record: while the record's bytes are the ones `cache` last decoded, its value is shared.
    /// The record is still read every time, so a change made on another host is in force at
    /// once; only the decoding, the check against its ledger entry and `make` are saved.
    pub(crate) fn cached_subject<S: SubjectState, T: Clone>(
        &self,
        id: &str,
        cache: &DecodedRecord<T>,
        make: impl FnOnce(Option<S>) -> T,
    ) -> Result<T, ServiceError> {
        let stored = self.store.get(&projections::subject_key(id))?;
        if let Some(value) = cache.get(stored.as_deref()) {
            return Ok(value);
        }
        let value = make(self.subject_from::<S>(id, stored.as_deref())?);
        cache.keep(stored, value.clone());
        Ok(value)
    }

    /// `load_subject`, from the record's bytes already read (`None`: no record).
    pub(crate) fn subject_from<S: SubjectState>(
        &self,
        id: &str,
        stored: Option<&[u8]>,
    ) -> Result<Option<S>, ServiceError> {
        let Some(bytes) = stored else { return Ok(None) };
        let Some(record) = projections::decode::<S>(&projections::subject_key(id), bytes)? else {
            return Ok(None);
        };
        let slot = match record.ledger_seqs().last() {
            Some(seq) => self.ledger_store().slot(*seq)?,
            None => None,
        };
        match slot.filter(|slot| slot.entry.subject == id).and_then(|slot| S::from_subject(slot.subject)) {
            Some(state) if state == record => Ok(Some(state)),
            _ => Err(ServiceError::Integrity(format!(
                "the stored record of {id} does not match its ledger entry: run `levee audit verify`"
            ))),
        }
    }

    /// Commits one change of subject `id` under compare-and-swap: `decide` gets the subject as
    /// it stands (or `initial()` if it has no entries yet) and returns the answer and the
    /// change to record (`None`: nothing to record). With `expected_version`, a subject that
    /// has moved on loses with 409.
    pub(crate) fn commit_subject<S, T, F>(
        &self,
        actor: &Principal,
        id: &str,
        initial: impl Fn() -> S,
        expected_version: Option<u64>,
        mut decide: F,
    ) -> Result<T, ServiceError>
    where
        S: SubjectState,
        T: Clone,
        F: FnMut(&S, DateTime<Utc>) -> Result<(T, Option<Change>), ServiceError>,
    {
        let mut seen_version = expected_version;
        self.commit(|ledger_store: &LedgerStore<'_>| {
            let tip = ledger_store.tip_to_append_after()?;
            let subject = self.load_subject::<S>(id)?.unwrap_or_else(&initial);
            if seen_version.is_some_and(|version| version != subject.version()) {
                return Err(ServiceError::Conflict(format!(
                    "{id} is at version {}: re-read it and act again",
                    subject.version()
                )));
            }
            seen_version = Some(subject.version());
            let at = self.clock.now();
            let (answer, change) = decide(&subject, at)?;
            let Some(change) = change else { return Ok(Some(answer)) };
            Ok(ledger_store.try_append(&tip, change, self.entry_context(actor, at)?)?.map(|_| answer.clone()))
        })
    }
}

/// A value built from a subject's record, with the stored bytes it was built from (`None`: no
/// record): `Levee::cached_subject`. Shared by every view of one `Levee`, so it holds values
/// that are cheap to clone (an `Arc`).
pub(crate) struct DecodedRecord<T>(Mutex<Option<(Option<Vec<u8>>, T)>>);

impl<T> Default for DecodedRecord<T> {
    fn default() -> Self {
        DecodedRecord(Mutex::new(None))
    }
}

impl<T: Clone> DecodedRecord<T> {
    /// The value, if `stored` is what it was built from.
    fn get(&self, stored: Option<&[u8]>) -> Option<T> {
        let cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cached.as_ref().filter(|(bytes, _)| bytes.as_deref() == stored).map(|(_, value)| value.clone())
    }

    /// Keeps `value`, built from `stored` or from a later record (records only move on, so the
    /// pair is never matched by a record older than `value`).
    fn keep(&self, stored: Option<Vec<u8>>, value: T) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((stored, value));
    }
}
