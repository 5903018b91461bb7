//! Folding the ledger into metric slices, in order, from a cursor.
//!
//! Each fold reads the ledger slots after `metrics/cursor` in one batch, derives their
//! effects, groups them by slice (team × ISO week and team × month), and writes each touched
//! slice once, under compare-and-swap. A slice remembers the last entry it took, so a fold
//! that crashes half-way, or two hosts folding the same entries at once, count each entry
//! once. The cursor moves only after every slice of the batch is written.
//!
//! The background jobs fold on their timer; every metrics read folds what is left first, so
//! an answer includes every entry committed before it was asked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::derive::Contribution;
use super::slice::{Effect, Slice};
use crate::ledger_store::LedgerStore;
use crate::projections::update;
use crate::reconcile::ExecutionRecord;
use crate::store::{Store, StoreError};
use crate::subject::Subject;

pub const CURSOR_KEY: &str = "metrics/cursor";
pub const TEAMS_KEY: &str = "metrics/teams";
pub const REPEATS_KEY: &str = "metrics/repeats";
/// Repeated (customer, code) pairs kept, the most repeated first.
pub const REPEATS_KEPT: usize = 5_000;
/// Entries read per store batch.
pub(crate) const FOLD_BATCH: u64 = 512;

/// A slice's period: an ISO week (`2026-W47`) or a calendar month (`2026-11`), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeriodKind {
    Week,
    Month,
}

impl PeriodKind {
    pub fn id(self, at: DateTime<Utc>) -> String {
        match self {
            PeriodKind::Week => at.format("%G-W%V").to_string(),
            PeriodKind::Month => at.format("%Y-%m").to_string(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
        }
    }
}

pub fn slice_key(kind: PeriodKind, period: &str, team: &str) -> String {
    format!("metrics/{}/{period}/{team}", kind.as_str())
}

fn customer_codes_key(customer: &str) -> String {
    format!("metrics/customer/{customer}")
}

/// How far the metrics have read the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub seq: u64,
}

/// The teams any slice exists for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teams {
    pub teams: BTreeSet<String>,
}

/// One customer's cases per exception code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CustomerCodes {
    through_seq: u64,
    codes: BTreeMap<String, u64>,
}

/// A customer who came back with the same exception code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    pub customer: String,
    pub code: String,
    pub count: u64,
    pub team: String,
    pub last_at: DateTime<Utc>,
}

/// Every (customer, code) pair seen at least twice, by `customer/code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeats {
    pub pairs: BTreeMap<String, Repeat>,
}

/// What a fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FoldReport {
    /// The cursor after the fold.
    pub through: u64,
    pub entries: u64,
    /// Entries still to fold (the ledger grew, or the fold stopped at its limit).
    pub behind: u64,
}

/// A case submission, for the customer repeat counts.
pub(crate) struct Submission {
    pub(crate) seq: u64,
    pub(crate) customer: String,
    pub(crate) code: String,
    pub(crate) team: String,
    pub(crate) at: DateTime<Utc>,
}

/// The effects of a batch, grouped by slice key and entry.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) slices: BTreeMap<String, BTreeMap<u64, Vec<Effect>>>,
    pub(crate) teams: BTreeSet<String>,
    pub(crate) submissions: Vec<Submission>,
}

impl Batch {
    pub(crate) fn add(&mut self, seq: u64, contribution: Contribution) {
        for kind in [PeriodKind::Week, PeriodKind::Month] {
            let key = slice_key(kind, &kind.id(contribution.at), &contribution.team);
            self.slices.entry(key).or_default().entry(seq).or_default().extend(contribution.effects.iter().cloned());
        }
        self.teams.insert(contribution.team);
    }
}

/// The execution as its previous ledger slot holds it (`None` for its first entry).
pub(crate) fn previous_execution(
    ledger_store: &LedgerStore<'_>,
    record: &ExecutionRecord,
) -> Result<Option<ExecutionRecord>, StoreError> {
    let seqs = &record.ledger_seqs;
    let Some(previous) = seqs.len().checked_sub(2).and_then(|index| seqs.get(index)) else { return Ok(None) };
    match ledger_store.slot(*previous)?.map(|slot| slot.subject) {
        Some(Subject::Execution(before)) => Ok(Some(*before)),
        _ => Err(StoreError::Backend(format!("ledger entry {previous} is not {}'s", record.id))),
    }
}

pub(crate) fn write_slices(
    store: &dyn Store,
    slices: &BTreeMap<String, BTreeMap<u64, Vec<Effect>>>,
) -> Result<(), StoreError> {
    for (key, entries) in slices {
        update(store, key, |mut slice: Slice| {
            let mut changed = false;
            for (seq, effects) in entries {
                changed |= slice.apply(*seq, effects);
            }
            changed.then_some(slice)
        })?;
    }
    Ok(())
}

pub(crate) fn write_teams(store: &dyn Store, seen: &BTreeSet<String>) -> Result<(), StoreError> {
    update(store, TEAMS_KEY, |mut teams: Teams| {
        let before = teams.teams.len();
        teams.teams.extend(seen.iter().cloned());
        (teams.teams.len() > before).then_some(teams)
    })
}

/// Counts each submission against its customer, and lists every (customer, code) pair that
/// reached two cases.
pub(crate) fn write_repeats(store: &dyn Store, submissions: &[Submission]) -> Result<(), StoreError> {
    let mut by_customer: BTreeMap<&str, Vec<&Submission>> = BTreeMap::new();
    for submission in submissions {
        by_customer.entry(&submission.customer).or_default().push(submission);
    }
    let mut repeats = Vec::new();
    for (customer, submissions) in by_customer {
        let mut counts = CustomerCodes::default();
        update(store, &customer_codes_key(customer), |mut codes: CustomerCodes| {
            counts = codes.clone();
            let fresh: Vec<_> = submissions.iter().filter(|submission| submission.seq > codes.through_seq).collect();
            let last = fresh.last()?.seq;
            fresh.iter().for_each(|submission| *codes.codes.entry(submission.code.clone()).or_default() += 1);
            codes.through_seq = last;
            counts = codes.clone();
            Some(codes)
        })?;
        for submission in submissions {
            let count = counts.codes.get(&submission.code).copied().unwrap_or(0);
            if count >= 2 {
                repeats.push(Repeat {
                    customer: customer.to_owned(),
                    code: submission.code.clone(),
                    count,
                    team: submission.team.clone(),
                    last_at: submission.at,
                });
            }
        }
    }
    if repeats.is_empty() {
        return Ok(());
    }
    update(store, REPEATS_KEY, |mut record: Repeats| {
        for repeat in &repeats {
            record.pairs.insert(format!("{}/{}", repeat.customer, repeat.code), repeat.clone());
        }
        if record.pairs.len() > REPEATS_KEPT {
            // Keep exactly the most repeated (the most recent first among equals).
            let mut ranked: Vec<(u64, DateTime<Utc>, String)> =
                record.pairs.iter().map(|(key, repeat)| (repeat.count, repeat.last_at, key.clone())).collect();
            ranked.sort_unstable_by(|a, b| b.cmp(a));
            for (_, _, key) in ranked.into_iter().skip(REPEATS_KEPT) {
                record.pairs.remove(&key);
            }
        }
        Some(record)
    })
}

pub(crate) fn advance_cursor(store: &dyn Store, seq: u64) -> Result<(), StoreError> {
    update(store, CURSOR_KEY, |cursor: Cursor| (cursor.seq < seq).then_some(Cursor { seq }))
}
