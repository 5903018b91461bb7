//! The story: the planned cases filed, worked and decided through levee's own service, one
//! event at a time in time order, on a manual clock moved forward through the past. Between
//! events, levee's governance runs whenever a waiting case's SLA has run out (as the 30-second
//! job would) and once a day, so escalations, remediation items and re-matched findings happen
//! exactly as they would have.
//!
//! What people do next is decided against the case as levee returned it: a case that waits for
//! an attachment gets one (or, now and then, never does and is rejected for it); one that needs
//! a customer message gets it drafted and reviewed; then an approver at the level it waits at
//! decides it. An escalation hands it to the level above.

mod cases;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use levee_core::Levee;
use levee_core::case::Case;
use levee_core::clock::{Clock, ManualClock};
use levee_core::evidence::EvidenceKind;
use levee_core::identity::Principal;
use rand::RngExt;
use rand::rngs::StdRng;

use super::cast::Cast;
use super::leaks::{self, Execution};
use super::plan::CasePlan;
use super::remediation;
use super::report::Tally;

/// How long after a case's SLA runs out the governance job notices it.
const JOB_LAG_SECONDS: i64 = 30;

/// What happens next to a waiting case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Attach(EvidenceKind),
    Draft,
    Review,
    Decide,
}

enum Action {
    Submit(Box<CasePlan>),
    /// A step of a case, valid while the case is still at `generation`.
    Step {
        case: String,
        generation: u32,
        step: Step,
    },
    Cancel(String),
    Execute(Box<Execution>),
    Remediate {
        item: String,
        owner: String,
        fix: bool,
    },
}

struct Scheduled {
    at: DateTime<Utc>,
    order: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Earliest first out of the (max-)heap; ties in the order scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// A case as the story knows it.
struct Tracked {
    plan: CasePlan,
    case: Case,
    /// Bumped by every change of the case: a step scheduled for an older generation is stale.
    generation: u32,
    /// Who takes the scheduled decision, and since when the case has been theirs.
    approver: Option<Principal>,
    ready_at: DateTime<Utc>,
}

/// The story being played.
pub struct Story<'a> {
    levee: &'a Levee,
    clock: &'a ManualClock,
    rng: StdRng,
    cast: &'a Cast,
    end: DateTime<Utc>,
    events: BinaryHeap<Scheduled>,
    scheduled: u64,
    cases: BTreeMap<String, Tracked>,
    pending: BTreeSet<String>,
    /// Waiting cases governance did not escalate when due; not waited on again.
    stuck: BTreeSet<String>,
    next_daily: DateTime<Utc>,
    last_governance: DateTime<Utc>,
    items_seen: BTreeSet<String>,
    reconciliation_from: DateTime<Utc>,
    /// Cases an execution found silent while they waited: their approval re-matches it.
    silent_cases: BTreeSet<String>,
    /// A governance run due soon (the job's next tick after such an approval).
    governance_soon: Option<DateTime<Utc>>,
    pub tally: Tally,
}

impl<'a> Story<'a> {
    pub fn new(levee: &'a Levee, clock: &'a ManualClock, rng: StdRng, cast: &'a Cast, end: DateTime<Utc>) -> Self {
        let start = clock.now();
        Story {
            levee,
            clock,
            rng,
            cast,
            end,
            events: BinaryHeap::new(),
            scheduled: 0,
            cases: BTreeMap::new(),
            pending: BTreeSet::new(),
            stuck: BTreeSet::new(),
            next_daily: start + Duration::hours(1),
            last_governance: start,
            items_seen: BTreeSet::new(),
            reconciliation_from: end - Duration::days(leaks::RECONCILIATION_DAYS),
            silent_cases: BTreeSet::new(),
            governance_soon: None,
            tally: Tally::default(),
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    pub fn file(&mut self, plan: CasePlan) {
        self.schedule(plan.at, Action::Submit(Box::new(plan)));
    }

    pub fn execute(&mut self, execution: Execution) {
        self.schedule(execution.at, Action::Execute(Box::new(execution)));
    }

    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        self.scheduled += 1;
        self.events.push(Scheduled { at, order: self.scheduled, action });
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn move_to(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        if at > now {
            self.clock.advance(at - now);
        }
    }

    /// Plays every event up to the end; what would happen after it does not.
    pub fn play(mut self) -> anyhow::Result<Tally> {
        while let Some(next) = self.events.pop() {
            if next.at > self.end {
                break;
            }
            self.govern_until(next.at)?;
            self.move_to(next.at);
            self.perform(next.action)?;
        }
        self.govern_until(self.end)?;
        self.move_to(self.end);
        self.govern()?;
        self.conclude()?;
        Ok(self.tally)
    }

    fn perform(&mut self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::Submit(plan) => self.submit(*plan),
            Action::Step { case, generation, step } => self.step(&case, generation, step),
            Action::Cancel(case) => self.cancel(&case),
            Action::Execute(execution) => self.record(*execution),
            Action::Remediate { item, owner, fix } => {
                let done = if fix {
                    remediation::fix(self.levee, &owner, &item)?
                } else {
                    remediation::start(self.levee, &owner, &item)?
                };
                self.tally.refused += u64::from(!done);
                Ok(())
            }
        }
    }

    /// Runs governance each time a waiting case's SLA has run out, and daily, until `until`.
    fn govern_until(&mut self, until: DateTime<Utc>) -> anyhow::Result<()> {
        loop {
            let next = self.next_governance();
            if next >= until {
                return Ok(());
            }
            self.move_to(next);
            self.govern()?;
        }
    }

    fn next_governance(&self) -> DateTime<Utc> {
        let due = self
            .pending
            .iter()
            .filter(|id| !self.stuck.contains(*id))
            .filter_map(|id| self.cases.get(id)?.case.sla_due_at())
            .min();
        let at = due.map_or(self.next_daily, |due| (due + Duration::seconds(JOB_LAG_SECONDS)).min(self.next_daily));
        let at = self.governance_soon.map_or(at, |soon| soon.min(at));
        at.max(self.last_governance + Duration::minutes(1))
    }

    fn govern(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        self.last_governance = now;
        self.governance_soon = self.governance_soon.filter(|soon| *soon > now);
        while self.next_daily <= now {
            self.next_daily += Duration::days(1);
        }
        let run = self.levee.schedule().run_governance().context("run governance on the story's clock")?;
        self.tally.escalations += run.escalated.len() as u64;
        self.tally.rematched += run.rematched.len() as u64;
        for id in &run.escalated {
            let case = self.levee.cases().get(id).with_context(|| format!("read escalated case {id}"))?;
            self.update(case);
            self.advance(id)?;
        }
        self.mark_stuck(now);
        for item in &run.remediation {
            self.remediation_changed(item)?;
        }
        Ok(())
    }

    /// Waiting cases past due that governance left alone are not waited on again.
    fn mark_stuck(&mut self, now: DateTime<Utc>) {
        let overdue: Vec<String> = self
            .pending
            .iter()
            .filter(|id| self.cases.get(*id).and_then(|tracked| tracked.case.sla_due_at()).is_some_and(|due| due < now))
            .cloned()
            .collect();
        self.stuck.extend(overdue);
    }

    /// A remediation item the governance run opened: its owners start within a day or two,
    /// and fix it a week later unless it opened in the story's last month.
    fn remediation_changed(&mut self, id: &str) -> anyhow::Result<()> {
        if !self.items_seen.insert(id.to_owned()) {
            return Ok(());
        }
        let item = self.levee.remediation().item(id).with_context(|| format!("read remediation item {id}"))?;
        self.tally.remediation_items.push(id.to_owned());
        let now = self.now();
        let start = now + Duration::hours(self.rng.random_range(18..40));
        self.schedule(start, Action::Remediate { item: id.to_owned(), owner: item.owner.clone(), fix: false });
        if now < self.end - Duration::days(30) {
            let fix = now + Duration::hours(self.rng.random_range(6 * 24..9 * 24));
            self.schedule(fix, Action::Remediate { item: id.to_owned(), owner: item.owner, fix: true });
        }
        Ok(())
    }

    /// Final counts: outcomes, and every finding as levee lists it.
    fn conclude(&mut self) -> anyhow::Result<()> {
        for tracked in self.cases.values() {
            *self.tally.outcomes.entry(tracked.case.status.as_str()).or_default() += 1;
        }
        let findings = self.levee.reconciliation().findings().context("list the seeded findings")?;
        self.tally.findings = findings
            .iter()
            .map(|summary| {
                let finding = &summary.finding;
                format!(
                    "{:?} {} {} on {} (case {}) opened {}{}",
                    finding.kind,
                    money(finding.amount.minor_units),
                    finding.amount.currency,
                    summary.execution_id,
                    finding.case_id.as_deref().unwrap_or("none"),
                    finding.opened_at.format("%Y-%m-%d %H:%M"),
                    finding
                        .resolved_at
                        .map(|at| format!(", resolved {}", at.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_default()
                )
            })
            .collect();
        Ok(())
    }
}

/// Minor units as a decimal amount with two places.
fn money(minor_units: i64) -> String {
    format!("{}.{:02}", minor_units / 100, minor_units % 100)
}
