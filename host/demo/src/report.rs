//! What the seeding did, counted as it went: the totals printed at start-up, and the details
//! (per team, per code, per approver, each finding) logged at debug level.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One approver's decisions in the story.
#[derive(Debug, Clone, Default)]
pub struct ApproverTally {
    pub approvals: u64,
    pub rejections: u64,
    /// Seconds from the case reaching them to their decision.
    pub waits: Vec<i64>,
    /// What they approved, in minor units (currencies summed as they come).
    pub approved_minor_units: i64,
}

impl ApproverTally {
    fn median_wait(&self) -> i64 {
        let mut waits = self.waits.clone();
        waits.sort_unstable();
        waits.get(waits.len() / 2).copied().unwrap_or_default()
    }

    fn mean_approved(&self) -> i64 {
        self.approved_minor_units / i64::try_from(self.approvals.max(1)).unwrap_or(1)
    }
}

/// Counts of everything the story did.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub cases: u64,
    pub by_team: BTreeMap<String, u64>,
    pub by_code: BTreeMap<String, u64>,
    /// Final status → cases (pending included).
    pub outcomes: BTreeMap<&'static str, u64>,
    pub escalations: u64,
    pub messages: u64,
    pub evidence_attached: u64,
    pub executions: u64,
    /// Each finding, described.
    pub findings: Vec<String>,
    pub rematched: u64,
    pub remediation_items: Vec<String>,
    pub taxonomy_changes: u64,
    pub approvers: BTreeMap<String, ApproverTally>,
    /// Steps the service refused (a configuration the story does not fit), worked around.
    pub refused: u64,
}

impl Tally {
    /// One decision by `actor`, `wait` seconds after the case reached them: an approval of
    /// `approved` minor units, or a rejection.
    pub fn decision(&mut self, actor: &str, wait: i64, approved: Option<i64>) {
        let figures = self.approvers.entry(actor.to_owned()).or_default();
        figures.waits.push(wait);
        match approved {
            Some(minor_units) => {
                figures.approvals += 1;
                figures.approved_minor_units += minor_units;
            }
            None => figures.rejections += 1,
        }
    }

    /// The details, one line each, for `RUST_LOG=levee::demo_seed=debug`.
    pub fn log_details(&self) {
        for (team, cases) in &self.by_team {
            tracing::debug!(team, cases, "seeded cases by team");
        }
        for (code, cases) in &self.by_code {
            tracing::debug!(code, cases, "seeded cases by code");
        }
        for (status, cases) in &self.outcomes {
            tracing::debug!(status, cases, "seeded cases by outcome");
        }
        for (actor, figures) in &self.approvers {
            tracing::debug!(
                actor,
                approvals = figures.approvals,
                rejections = figures.rejections,
                median_wait_seconds = figures.median_wait(),
                mean_approved_minor_units = figures.mean_approved(),
                "seeded approver"
            );
        }
        for finding in &self.findings {
            tracing::debug!(finding, "seeded finding");
        }
        let items = &self.remediation_items;
        tracing::debug!(?items, taxonomy_changes = self.taxonomy_changes, "seeded remediation");
        tracing::debug!(refused = self.refused, evidence_attached = self.evidence_attached, "seeded steps");
    }
}

/// What seeding left in the store, and how long it took.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub tally: Tally,
    pub days: i64,
    pub entries: u64,
    pub elapsed: Duration,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tally = &self.tally;
        let outcome = |status: &str| tally.outcomes.get(status).copied().unwrap_or_default();
        write!(
            formatter,
            "levee demo: seeded {} cases over {} days ({} auto-approved, {} approved, {} rejected, {} cancelled, {} \
             pending), {} SLA escalations, {} customer messages, {} executed refunds with {} findings, {} \
             remediation items: {} ledger entries in {:.1} s",
            tally.cases,
            self.days,
            outcome("auto_approved"),
            outcome("approved"),
            outcome("rejected"),
            outcome("cancelled"),
            outcome("pending_approval"),
            tally.escalations,
            tally.messages,
            tally.executions,
            tally.findings.len(),
            tally.remediation_items.len(),
            self.entries,
            self.elapsed.as_secs_f64()
        )
    }
}
