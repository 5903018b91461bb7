//! Backtests: replay the facts of the cases submitted in the last N days (as the ledger
//! recorded them) through a candidate chain, and compare with what was decided: outcomes that
//! change, approver workload by level, and per currency the amount auto-approved and the
//! amount that needs approval. Nothing is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::case::CaseStatus;
use crate::decision::{CaseDecision, Verdict};
use crate::engine::Facts;
use crate::ledger::LedgerEntry;
use crate::registry::ChainLink;
use crate::validation::optional_whole_number;

/// The most cases one backtest replays.
pub const MAX_CASES: usize = 100_000;
/// How many changed cases the report lists by id.
const EXAMPLES: usize = 25;
/// Slots read at a time while looking for submissions.
pub const BATCH: u64 = 256;

/// `POST /v1/policies/{digest}/backtest`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// How far back to replay, in days (default 30, at most 366).
    #[serde(default, deserialize_with = "optional_whole_number")]
    #[schema(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
    /// The candidate plugin's parameters.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// A whole candidate chain (1 to 16 policies) instead of "the active chain with this plugin
    /// in it".
    #[serde(default)]
    #[schema(min_items = 1, max_items = 16)]
    pub links: Option<Vec<ChainLink>>,
}

/// What happened to a case at submission, or would happen under the candidate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    AutoApprove,
    Lead,
    Manager,
    Finance,
    Director,
    Reject,
}

/// Counts, as decided and under the candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Compared {
    pub actual: u64,
    pub candidate: u64,
}

/// Amounts in minor units of one currency, as decided and under the candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyFigures {
    pub auto_approved: Compared,
    pub needing_approval: Compared,
    pub rejected: Compared,
}

/// One case whose outcome changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangedCase {
    pub case_id: String,
    pub actual: Outcome,
    pub candidate: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BacktestReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub candidate: Vec<ChainLink>,
    /// Submissions replayed.
    pub cases: u64,
    /// Submissions in the window whose facts the ledger does not hold (made before levee
    /// recorded them), so they could not be replayed.
    pub skipped_without_facts: u64,
    pub changed: u64,
    /// "actual → candidate" and how many cases moved that way.
    pub changes: BTreeMap<String, u64>,
    /// Cases waiting for each approver level.
    pub workload: BTreeMap<String, Compared>,
    /// Per ISO-4217 currency.
    pub amounts: BTreeMap<String, CurrencyFigures>,
    /// Cases where a candidate policy failed and the decision failed closed.
    pub failed_closed: u64,
    pub examples: Vec<ChangedCase>,
}

/// A submission as the ledger recorded it.
pub struct Replayable {
    case_id: String,
    pub facts: Facts,
    actual: Outcome,
}

impl Replayable {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
}

#[derive(Default)]
pub struct Submissions {
    pub replayable: Vec<Replayable>,
    pub skipped: u64,
}

/// A recorded submission as a backtest replays it: its facts and the outcome it had.
pub fn replayable(entry: &LedgerEntry) -> Option<Replayable> {
    let facts: Facts = serde_json::from_value(entry.payload.get("facts")?.clone()).ok()?;
    let status: CaseStatus = serde_json::from_value(entry.payload.get("status")?.clone()).ok()?;
    let decided: CaseDecision = serde_json::from_value(entry.payload.get("decision")?.clone()).ok()?;
    let actual = match status {
        CaseStatus::Rejected => Outcome::Reject,
        _ => outcome_of(&decided),
    };
    Some(Replayable { case_id: entry.subject.clone(), facts, actual })
}

/// The outcome a decision gives a case at submission.
pub fn outcome_of(decision: &CaseDecision) -> Outcome {
    use crate::identity::ApproverLevel;
    match decision.verdict {
        Verdict::AutoApprove => Outcome::AutoApprove,
        Verdict::Reject => Outcome::Reject,
        Verdict::RequireApproval { level: ApproverLevel::Lead, .. } => Outcome::Lead,
        Verdict::RequireApproval { level: ApproverLevel::Manager, .. } => Outcome::Manager,
        Verdict::RequireApproval { level: ApproverLevel::Finance, .. } => Outcome::Finance,
        Verdict::RequireApproval { level: ApproverLevel::Director, .. } => Outcome::Director,
    }
}

impl Outcome {
    fn label(&self) -> String {
        serde_json::to_value(self).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
    }

    fn needs_approval(&self) -> bool {
        !matches!(self, Outcome::AutoApprove | Outcome::Reject)
    }
}

impl BacktestReport {
    pub fn add(&mut self, submission: &Replayable, candidate_decision: &CaseDecision) {
        let (actual, candidate) = (submission.actual.clone(), outcome_of(candidate_decision));
        self.cases += 1;
        self.failed_closed += u64::from(candidate_decision.failed_closed);
        if actual != candidate {
            self.changed += 1;
            *self.changes.entry(format!("{} → {}", actual.label(), candidate.label())).or_default() += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push(ChangedCase {
                    case_id: submission.case_id.clone(),
                    actual: actual.clone(),
                    candidate: candidate.clone(),
                });
            }
        }
        for (outcome, is_candidate) in [(&actual, false), (&candidate, true)] {
            if outcome.needs_approval() {
                bump(self.workload.entry(outcome.label()).or_default(), is_candidate, 1);
            }
            let amount = &submission.facts.amount;
            let figures = self.amounts.entry(amount.currency.clone()).or_default();
            let bucket = match outcome {
                Outcome::AutoApprove => &mut figures.auto_approved,
                Outcome::Reject => &mut figures.rejected,
                _ => &mut figures.needing_approval,
            };
            bump(bucket, is_candidate, amount.minor_units as u64);
        }
    }
}

fn bump(compared: &mut Compared, candidate: bool, by: u64) {
    if candidate {
        compared.candidate += by;
    } else {
        compared.actual += by;
    }
}
