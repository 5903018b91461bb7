//! A slice: everything counted for one team in one period (an ISO week or a calendar month).
//! Slices are what the store holds; every metric is a sum of slices, so answering never
//! scans cases.
//!
//! A slice changes only by `Effect`s, each derived from one ledger entry, and remembers the
//! last entry it took (`through_seq`) so applying the same entry twice counts it once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::histogram::Histogram;
use crate::case::CaseStatus;
use crate::identity::ApproverLevel;

/// Why money counts as leaked, or as at risk of having leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakCause {
    /// Refunded with no approved case (a reconciliation finding).
    Silent,
    /// Refunded more than was approved (the excess).
    Overage,
    /// Refunded twice for one case (the second refund).
    Duplicate,
    /// Approved without evidence the decision required (the case's amount).
    MissingEvidence,
    /// Approved above the approver's authority (should never happen: the host refuses it).
    OverAuthority,
    /// Approved faster than the configured seconds with a rationale of under three words (the
    /// case's amount).
    FastWithoutRationale,
}

impl LeakCause {
    pub const ALL: [LeakCause; 6] = [
        LeakCause::Silent,
        LeakCause::Overage,
        LeakCause::Duplicate,
        LeakCause::MissingEvidence,
        LeakCause::OverAuthority,
        LeakCause::FastWithoutRationale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeakCause::Silent => "silent",
            LeakCause::Overage => "overage",
            LeakCause::Duplicate => "duplicate",
            LeakCause::MissingEvidence => "missing_evidence",
            LeakCause::OverAuthority => "over_authority",
            LeakCause::FastWithoutRationale => "fast_without_rationale",
        }
    }
}

/// Money that leaked, with what it is attributed to. Amounts and counts are signed: a finding
/// that a late approval answers takes its amount back out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    pub currency: String,
    pub cause: LeakCause,
    pub band: String,
    pub code: String,
    pub approver: String,
    pub minor_units: i64,
    pub count: i64,
}

impl Leak {
    fn same_place(&self, other: &Leak) -> bool {
        (self.currency.as_str(), self.cause, self.band.as_str(), self.code.as_str(), self.approver.as_str())
            == (other.currency.as_str(), other.cause, other.band.as_str(), other.code.as_str(), other.approver.as_str())
    }
}

/// One exception code's cases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeFigures {
    pub cases: u64,
    pub amounts: BTreeMap<String, i64>,
    pub decided: u64,
    /// Decided with every piece of evidence the decision required.
    pub complete: u64,
    pub escalations: u64,
}

/// One approver's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverFigures {
    pub level: Option<ApproverLevel>,
    pub approvals: u64,
    pub rejections: u64,
    /// Approvals given faster than the configured seconds after the case reached them.
    pub fast: u64,
    pub fast_without_rationale: u64,
    pub over_authority: u64,
    /// What they approved, in minor units per currency, and how many approvals in each.
    pub approved: BTreeMap<String, i64>,
    #[serde(default)]
    pub approved_cases: BTreeMap<String, u64>,
    /// Seconds from the case reaching them to their approval.
    pub wait: Histogram,
}

impl CodeFigures {
    fn add(&mut self, other: &CodeFigures) {
        self.cases += other.cases;
        self.decided += other.decided;
        self.complete += other.complete;
        self.escalations += other.escalations;
        add_amounts(&mut self.amounts, &other.amounts);
    }
}

impl ApproverFigures {
    /// Adds a later period's figures: the latest level held wins.
    fn add(&mut self, other: &ApproverFigures) {
        self.level = other.level.or(self.level);
        self.approvals += other.approvals;
        self.rejections += other.rejections;
        self.fast += other.fast;
        self.fast_without_rationale += other.fast_without_rationale;
        self.over_authority += other.over_authority;
        add_amounts(&mut self.approved, &other.approved);
        add_counts(&mut self.approved_cases, &other.approved_cases);
        self.wait.add(&other.wait);
    }
}

/// How decided cases ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub auto_approved: u64,
    pub approved: u64,
    pub rejected: u64,
    pub cancelled: u64,
}

/// Everything counted for one team in one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// The last ledger entry applied.
    pub through_seq: u64,
    pub cases: u64,
    /// Cases submitted per currency.
    #[serde(default)]
    pub by_currency: BTreeMap<String, u64>,
    pub by_code: BTreeMap<String, CodeFigures>,
    /// Cases submitted per threshold band.
    pub by_band: BTreeMap<String, u64>,
    /// Cases submitted per requester.
    pub requesters: BTreeMap<String, u64>,
    pub outcomes: Outcomes,
    pub decided: u64,
    pub complete: u64,
    pub escalations: u64,
    /// Submission to decision for cases a person decided, under `all`, `band:<band>`,
    /// `code:<code>` and `approver:<who decided>`.
    pub cycle: BTreeMap<String, Histogram>,
    pub approvers: BTreeMap<String, ApproverFigures>,
    pub leakage: Vec<Leak>,
}

/// What one ledger entry adds to the slice of its team and period.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Submitted { code: String, band: String, currency: String, minor_units: i64, requester: String },
    Decided(Decided),
    Approval(ApprovalGiven),
    Rejection { approver: String, level: Option<ApproverLevel> },
    Escalated { code: String },
    Leak(Leak),
}

/// A case reaching its final status.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub code: String,
    pub band: String,
    pub status: CaseStatus,
    pub complete: bool,
    /// Submission to decision, for cases a person decided.
    pub cycle_seconds: Option<u64>,
    /// Who decided: the last approver, or who rejected.
    pub decider: Option<String>,
}

/// One approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalGiven {
    pub approver: String,
    pub level: ApproverLevel,
    pub currency: String,
    pub minor_units: i64,
    pub wait_seconds: u64,
    pub fast: bool,
    pub without_rationale: bool,
    pub over_authority: bool,
}

impl Slice {
    /// Applies the effects of entry `seq`, unless this slice already took it.
    pub fn apply(&mut self, seq: u64, effects: &[Effect]) -> bool {
        if seq <= self.through_seq {
            return false;
        }
        effects.iter().for_each(|effect| self.apply_effect(effect));
        self.through_seq = seq;
        true
    }

    fn apply_effect(&mut self, effect: &Effect) {
        match effect {
            Effect::Submitted { code, band, currency, minor_units, requester } => {
                self.cases += 1;
                *self.by_currency.entry(currency.clone()).or_default() += 1;
                let figures = self.by_code.entry(code.clone()).or_default();
                figures.cases += 1;
                add_money(figures.amounts.entry(currency.clone()).or_default(), *minor_units);
                *self.by_band.entry(band.clone()).or_default() += 1;
                *self.requesters.entry(requester.clone()).or_default() += 1;
            }
            Effect::Decided(decided) => self.apply_decided(decided),
            Effect::Approval(approval) => self.apply_approval(approval),
            Effect::Rejection { approver, level } => {
                let figures = self.approvers.entry(approver.clone()).or_default();
                figures.rejections += 1;
                figures.level = level.or(figures.level);
            }
            Effect::Escalated { code } => {
                self.escalations += 1;
                self.by_code.entry(code.clone()).or_default().escalations += 1;
            }
            Effect::Leak(leak) => self.add_leak(leak),
        }
    }

    fn apply_decided(&mut self, decided: &Decided) {
        self.decided += 1;
        self.complete += u64::from(decided.complete);
        let figures = self.by_code.entry(decided.code.clone()).or_default();
        figures.decided += 1;
        figures.complete += u64::from(decided.complete);
        let outcome = match decided.status {
            CaseStatus::AutoApproved => &mut self.outcomes.auto_approved,
            CaseStatus::Approved => &mut self.outcomes.approved,
            CaseStatus::Rejected => &mut self.outcomes.rejected,
            CaseStatus::Cancelled | CaseStatus::PendingApproval => &mut self.outcomes.cancelled,
        };
        *outcome += 1;
        if let Some(seconds) = decided.cycle_seconds {
            let mut dimensions =
                vec!["all".to_owned(), format!("band:{}", decided.band), format!("code:{}", decided.code)];
            dimensions.extend(decided.decider.iter().map(|decider| format!("approver:{decider}")));
            for dimension in dimensions {
                self.cycle.entry(dimension).or_default().record(seconds);
            }
        }
    }

    fn apply_approval(&mut self, approval: &ApprovalGiven) {
        let figures = self.approvers.entry(approval.approver.clone()).or_default();
        figures.level = Some(approval.level);
        figures.approvals += 1;
        figures.fast += u64::from(approval.fast);
        figures.fast_without_rationale += u64::from(approval.fast && approval.without_rationale);
        figures.over_authority += u64::from(approval.over_authority);
        add_money(figures.approved.entry(approval.currency.clone()).or_default(), approval.minor_units);
        *figures.approved_cases.entry(approval.currency.clone()).or_default() += 1;
        figures.wait.record(approval.wait_seconds);
    }

    fn add_leak(&mut self, leak: &Leak) {
        match self.leakage.iter_mut().find(|existing| existing.same_place(leak)) {
            Some(existing) => {
                add_money(&mut existing.minor_units, leak.minor_units);
                existing.count += leak.count;
            }
            None => self.leakage.push(leak.clone()),
        }
        self.leakage.retain(|existing| existing.count != 0 || existing.minor_units != 0);
    }

    /// Adds another slice's figures into this one (for sums across periods and teams).
    pub fn add(&mut self, other: &Slice) {
        self.through_seq = self.through_seq.max(other.through_seq);
        self.cases += other.cases;
        add_counts(&mut self.by_currency, &other.by_currency);
        for (code, figures) in &other.by_code {
            self.by_code.entry(code.clone()).or_default().add(figures);
        }
        add_counts(&mut self.by_band, &other.by_band);
        add_counts(&mut self.requesters, &other.requesters);
        self.outcomes.auto_approved += other.outcomes.auto_approved;
        self.outcomes.approved += other.outcomes.approved;
        self.outcomes.rejected += other.outcomes.rejected;
        self.outcomes.cancelled += other.outcomes.cancelled;
        self.decided += other.decided;
        self.complete += other.complete;
        self.escalations += other.escalations;
        for (dimension, histogram) in &other.cycle {
            self.cycle.entry(dimension.clone()).or_default().add(histogram);
        }
        for (approver, figures) in &other.approvers {
            self.approvers.entry(approver.clone()).or_default().add(figures);
        }
        other.leakage.iter().for_each(|leak| self.add_leak(leak));
    }
}

/// Adds minor units, saturating: amounts reach 2^53 each, so a sum of many could pass i64.
fn add_money(into: &mut i64, amount: i64) {
    *into = into.saturating_add(amount);
}

pub fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, count) in from {
        *into.entry(key.clone()).or_default() += count;
    }
}

fn add_amounts(into: &mut BTreeMap<String, i64>, from: &BTreeMap<String, i64>) {
    for (currency, amount) in from {
        add_money(into.entry(currency.clone()).or_default(), *amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(minor_units: i64, count: i64) -> Effect {
        Effect::Leak(Leak {
            currency: "USD".into(),
            cause: LeakCause::Silent,
            band: "none".into(),
            code: "none".into(),
            approver: "none".into(),
            minor_units,
            count,
        })
    }

    #[test]
    fn an_entry_is_taken_once_and_answered_leaks_leave() {
        let mut slice = Slice::default();
        assert!(slice.apply(5, &[leak(1_000, 1)]));
        assert!(!slice.apply(5, &[leak(1_000, 1)]), "the same entry twice");
        assert!(!slice.apply(4, &[leak(1_000, 1)]), "an older entry");
        assert_eq!(slice.leakage[0].minor_units, 1_000);
        assert!(slice.apply(6, &[leak(-1_000, -1)]));
        assert!(slice.leakage.is_empty(), "a resolved finding takes its amount back out");
    }
}
