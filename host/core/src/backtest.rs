//! Backtests: replay the facts of the cases submitted in the last N days (as the ledger
//! recorded them) through a candidate chain, and compare with what was decided: outcomes that
//! change, approver workload by level, and per currency the amount auto-approved and the
//! amount that needs approval. Nothing is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::case::CaseStatus;
use crate::decision::{self, CaseDecision, Verdict};
use crate::engine::Facts;
use crate::journal::{LedgerSlot, entry_key};
use crate::ledger::EventType;
use crate::registry::ChainLink;
use crate::service::{Levee, ServiceError};
use crate::validation::{FieldError, optional_whole_number};

/// The most cases one backtest replays.
const MAX_CASES: usize = 100_000;
/// How many changed cases the report lists by id.
const EXAMPLES: usize = 25;
/// Slots read at a time while looking for submissions.
const BATCH: u64 = 256;

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Compared {
    pub actual: u64,
    pub candidate: u64,
}

/// Amounts in minor units of one currency, as decided and under the candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CurrencyFigures {
    pub auto_approved: Compared,
    pub needing_approval: Compared,
    pub rejected: Compared,
}

/// One case whose outcome changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangedCase {
    pub case_id: String,
    pub actual: Outcome,
    pub candidate: Outcome,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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
struct Replayable {
    case_id: String,
    facts: Facts,
    actual: Outcome,
}

impl Levee {
    /// Backtests the candidate: `links`, or the active chain with the uploaded plugin `digest`
    /// put in (replacing a link of the same name, or appended).
    pub fn backtest(&self, digest: &str, request: &BacktestRequest) -> Result<BacktestReport, ServiceError> {
        let days = request.days.unwrap_or(30);
        if !(1..=366).contains(&days) {
            return Err(FieldError::new("days", "must be from 1 to 366").into());
        }
        let registry = self.registry()?;
        let links = match &request.links {
            Some(links) => links.clone(),
            None => self.candidate_with(&registry, digest, request.params.clone())?,
        };
        self.check_chain(&registry, &links)?;
        let to = self.clock.now();
        let from = to - Duration::days(i64::from(days));
        let submissions = self.submissions_since(from)?;
        let plugins = self.chain_plugins(&links, &self.current_taxonomy()?.taxonomy)?;
        let facts: Vec<Facts> = submissions.replayable.iter().map(|submission| submission.facts.clone()).collect();
        let evaluations = self.engine.evaluate_candidate(plugins, &facts).map_err(ServiceError::PluginRejected)?;
        let mut report = BacktestReport {
            from,
            to,
            candidate: links,
            cases: 0,
            skipped_without_facts: submissions.skipped,
            changed: 0,
            changes: BTreeMap::new(),
            workload: BTreeMap::new(),
            amounts: BTreeMap::new(),
            failed_closed: 0,
            examples: Vec::new(),
        };
        for (submission, evaluations) in submissions.replayable.iter().zip(evaluations) {
            let mut candidate = decision::combine(&evaluations, submission.facts.submitted_at);
            let present = submission.facts.evidence_present.iter().copied().collect();
            decision::hold_for_missing_evidence(&mut candidate, &present, submission.facts.submitted_at);
            report.add(submission, &candidate);
        }
        Ok(report)
    }

    /// The active chain's links (or the built-in chain), with `digest` in place of the link of
    /// its name, or appended.
    fn candidate_with(
        &self,
        registry: &crate::registry::PolicyRegistry,
        digest: &str,
        params: Option<serde_json::Value>,
    ) -> Result<Vec<ChainLink>, ServiceError> {
        let upload = registry
            .uploads
            .get(digest)
            .ok_or_else(|| FieldError::new("digest", format!("no plugin with digest {digest} has been uploaded")))?;
        let builtin = |name: &str| ChainLink { name: name.to_owned(), ..ChainLink::default() };
        let mut links = match registry.active().filter(|chain| !chain.links.is_empty()) {
            Some(chain) => chain.links.clone(),
            None => vec![builtin("threshold"), builtin("routing")],
        };
        let candidate =
            ChainLink { name: upload.name.clone(), digest: Some(digest.to_owned()), params, ..ChainLink::default() };
        match links.iter_mut().find(|link| link.name == upload.name) {
            Some(link) => *link = candidate,
            None => links.push(candidate),
        }
        Ok(links)
    }

    /// Submissions at or after `from`, oldest first.
    fn submissions_since(&self, from: DateTime<Utc>) -> Result<Submissions, ServiceError> {
        let tip = self.journal().settle()?;
        let mut found = Submissions::default();
        for start in (1..=tip.seq).step_by(BATCH as usize) {
            let keys: Vec<String> = (start..=tip.seq.min(start + BATCH - 1)).map(entry_key).collect();
            for bytes in self.store.get_many(&keys)?.into_iter().flatten() {
                let Ok(slot) = serde_json::from_slice::<LedgerSlot>(&bytes) else { continue };
                if slot.entry.event != EventType::CaseSubmitted || slot.entry.at < from {
                    continue;
                }
                match replayable(&slot) {
                    Some(submission) if found.replayable.len() < MAX_CASES => found.replayable.push(submission),
                    Some(_) => {}
                    None => found.skipped += 1,
                }
            }
        }
        Ok(found)
    }
}

#[derive(Default)]
struct Submissions {
    replayable: Vec<Replayable>,
    skipped: u64,
}

fn replayable(slot: &LedgerSlot) -> Option<Replayable> {
    let facts: Facts = serde_json::from_value(slot.entry.payload.get("facts")?.clone()).ok()?;
    let status: CaseStatus = serde_json::from_value(slot.entry.payload.get("status")?.clone()).ok()?;
    let decided: CaseDecision = serde_json::from_value(slot.entry.payload.get("decision")?.clone()).ok()?;
    let actual = match status {
        CaseStatus::Rejected => Outcome::Reject,
        _ => outcome_of(&decided),
    };
    Some(Replayable { case_id: slot.entry.subject.clone(), facts, actual })
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
    fn add(&mut self, submission: &Replayable, candidate_decision: &CaseDecision) {
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
