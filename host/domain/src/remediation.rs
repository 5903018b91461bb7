//! The remediation loop: an exception code that comes too often (or costs too much) must be
//! fixed at its source by the team that owns it.
//!
//! ```text
//! (trigger crossed) ─> open ─> in_progress ─> fix_submitted ─┬─> verified
//!                       ▲                                    │
//!                       └──────────── reopened ──────────────┘
//! ```
//!
//! - An item opens (red) for the code's owner when the code's cases within its trigger window
//!   reach the trigger's count or amount; its SLA (`sla_hours`) starts.
//! - The owner starts work, then submits the fix with closure evidence: a playbook or SOP link
//!   and a note saying what changed.
//! - One window after the fix, levee compares the code's cases in that window with the window
//!   that triggered the item (the baseline): if they fell by at least `verify_drop_percent`, the
//!   item is verified (green); otherwise it reopens with a new SLA.
//! - An item past its SLA before a fix is submitted escalates to the owner team's manager.
//!
//! Each item is a ledger subject (`RM-000001`); every step is an entry. Opening, verification,
//! reopening and escalation are levee's own (the governance run); starting and submitting a fix
//! are the owner's.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::taxonomy::RemediationTrigger;

/// A code's cases over a day or a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseCounts {
    /// Cases submitted.
    pub cases: u64,
    /// Their amounts, in minor units per currency.
    pub amounts: BTreeMap<String, i64>,
    /// Cases decided (auto-approved, approved, rejected, cancelled).
    #[serde(default)]
    pub decided: u64,
    /// Of those, the ones that carried every piece of evidence their decision required.
    #[serde(default)]
    pub complete: u64,
    /// SLA escalations.
    #[serde(default)]
    pub escalations: u64,
}

impl CaseCounts {
    pub fn add(&mut self, other: &CaseCounts) {
        self.cases += other.cases;
        self.decided += other.decided;
        self.complete += other.complete;
        self.escalations += other.escalations;
        for (currency, amount) in &other.amounts {
            *self.amounts.entry(currency.clone()).or_default() += amount;
        }
    }
}

/// An exception code's cases by day (UTC), for remediation triggers and their verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeStats {
    pub applied_seq: u64,
    pub days: BTreeMap<chrono::NaiveDate, CaseCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemediationStatus {
    Open,
    InProgress,
    FixSubmitted,
    Verified,
}

/// Red, amber or green, as a scorecard shows an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

/// A code's cases within a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WindowFigures {
    /// The window is `(from, to]`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: CaseCounts,
}

/// What the owner says they changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FixEvidence {
    /// The playbook, SOP or change that fixed the cause.
    pub link: String,
    pub note: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// How a fix was judged, one window after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub after_fix: WindowFigures,
    pub baseline_cases: u64,
    pub required_drop_percent: u8,
    /// The largest case count that would have passed.
    pub allowed_cases: u64,
    pub verified: bool,
}

/// One step of an item's life, as its history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemediationStep {
    pub at: DateTime<Utc>,
    pub by: String,
    pub status: RemediationStatus,
    pub note: String,
}

/// The overdue escalation of an item to the owner team's manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemediationEscalation {
    pub at: DateTime<Utc>,
    /// The manager's actor, if `[[teams]]` names one for the owner team.
    pub to: Option<String>,
    pub missed_due_at: DateTime<Utc>,
}

/// A remediation item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemediationItem {
    /// `RM-000001`, …
    pub id: String,
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub code: String,
    /// The team that owns the code.
    pub owner: String,
    pub playbook: String,
    pub status: RemediationStatus,
    /// The trigger as it stood when the item opened.
    pub trigger: RemediationTrigger,
    /// The window that crossed the trigger.
    pub baseline: WindowFigures,
    pub opened_at: DateTime<Utc>,
    /// When the owner's SLA runs out (from opening, or from the last reopening).
    pub due_at: DateTime<Utc>,
    pub reopened: u32,
    pub fix: Option<FixEvidence>,
    pub verification: Option<Verification>,
    pub escalation: Option<RemediationEscalation>,
    pub history: Vec<RemediationStep>,
}

impl RemediationItem {
    /// Red while open (or overdue), amber while worked on, green once verified.
    pub fn rag(&self, now: DateTime<Utc>) -> Rag {
        match self.status {
            RemediationStatus::Verified => Rag::Green,
            RemediationStatus::Open => Rag::Red,
            _ if self.is_overdue(now) => Rag::Red,
            _ => Rag::Amber,
        }
    }

    /// Past its SLA with no fix submitted.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status, RemediationStatus::Open | RemediationStatus::InProgress) && now > self.due_at
    }

    pub fn step(&mut self, at: DateTime<Utc>, by: &str, status: RemediationStatus, note: String) {
        self.version += 1;
        self.status = status;
        self.history.push(RemediationStep { at, by: by.to_owned(), status, note });
    }
}

/// Whether `subject` names a remediation item.
pub fn is_item_id(subject: &str) -> bool {
    subject.starts_with("RM-")
}

/// `POST /v1/remediation/{id}/start`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

/// `POST /v1/remediation/{id}/fix`: the closure evidence.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixRequest {
    /// The playbook, SOP or change that fixed the cause (a URL or document id).
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub link: String,
    /// What changed.
    #[schema(min_length = 1, max_length = 4000, pattern = r"\S")]
    pub note: String,
}

impl CodeStats {
    /// The code's cases in `(to - days, to]`, by day.
    pub fn window(&self, to: DateTime<Utc>, days: u32) -> WindowFigures {
        let from = to - Duration::days(i64::from(days));
        let (first, last) = (from.date_naive(), to.date_naive());
        let mut figures = WindowFigures { from, to, counts: CaseCounts::default() };
        for (_, day) in self.days.range(next_day(first)..=last) {
            figures.counts.add(day);
        }
        figures
    }
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// Whether `figures` reach `trigger`.
pub fn crosses(trigger: &RemediationTrigger, figures: &WindowFigures) -> bool {
    let by_count = trigger.count.is_some_and(|count| figures.counts.cases >= u64::from(count));
    let by_amount = match (trigger.amount_minor_units, &trigger.currency) {
        (Some(limit), Some(currency)) => figures.counts.amounts.get(currency).is_some_and(|amount| *amount >= limit),
        _ => false,
    };
    by_count || by_amount
}

impl RemediationItem {
    /// The placeholder `commit_subject` starts from for an id with no entries yet.
    pub fn missing(id: &str) -> RemediationItem {
        RemediationItem {
            id: id.to_owned(),
            version: 0,
            ledger_seqs: Vec::new(),
            code: String::new(),
            owner: String::new(),
            playbook: String::new(),
            status: RemediationStatus::Open,
            trigger: RemediationTrigger {
                count: None,
                amount_minor_units: None,
                currency: None,
                window_days: 1,
                sla_hours: 1,
                verify_drop_percent: 1,
            },
            baseline: CodeStats::default().window(DateTime::UNIX_EPOCH, 0),
            opened_at: DateTime::UNIX_EPOCH,
            due_at: DateTime::UNIX_EPOCH,
            reopened: 0,
            fix: None,
            verification: None,
            escalation: None,
            history: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stats(days: &[(&str, u64)]) -> CodeStats {
        let days = days
            .iter()
            .map(|(day, cases)| {
                let amounts = BTreeMap::from([("USD".to_owned(), *cases as i64 * 100)]);
                let figures = CaseCounts { cases: *cases, amounts, ..CaseCounts::default() };
                (day.parse().unwrap(), figures)
            })
            .collect();
        CodeStats { applied_seq: 0, days }
    }

    #[test]
    fn a_window_counts_the_days_after_its_start_up_to_its_end() {
        let stats = stats(&[("2026-11-01", 5), ("2026-11-02", 1), ("2026-11-08", 2), ("2026-11-09", 7)]);
        let to: DateTime<Utc> = "2026-11-08T12:00:00Z".parse().unwrap();
        let figures = stats.window(to, 7);
        assert_eq!((figures.counts.cases, figures.counts.amounts["USD"]), (3, 300), "2 Nov to 8 Nov");
    }

    #[test]
    fn a_trigger_is_crossed_by_count_or_by_amount() {
        let figures = stats(&[("2026-11-02", 3)]).window("2026-11-03T00:00:00Z".parse().unwrap(), 7);
        let trigger = |count, amount| RemediationTrigger {
            count,
            amount_minor_units: amount,
            currency: Some("USD".into()),
            window_days: 7,
            sla_hours: 24,
            verify_drop_percent: 50,
        };
        assert!(crosses(&trigger(Some(3), None), &figures));
        assert!(!crosses(&trigger(Some(4), None), &figures));
        assert!(crosses(&trigger(None, Some(300)), &figures));
        assert!(!crosses(&trigger(Some(4), Some(301)), &figures));
    }
}
