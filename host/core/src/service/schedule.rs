//! levee's own schedule as a service: one run (the governance run: SLA escalation, the
//! remediation loop, rematching, folding the metrics; then the webhook deliveries that are due).

use crate::case;
use crate::identity::{ApproverLevel, Principal};
use crate::ledger_proofs::store_tiles;
use crate::projections;
use crate::schedule::{GovernanceRun, MERKLE_TILES_PER_RUN, METRICS_FOLD_PER_RUN, ScheduleRun};
use crate::service::{Levee, ServiceError};

/// levee's own schedule: `levee.schedule()`.
pub struct Schedule<'a> {
    pub(super) levee: &'a Levee,
}

impl Schedule<'_> {
    /// One run of the schedule, as `levee serve`'s timer makes it and a scheduler asks for it
    /// with `POST /v1/jobs/run` (Spin has no background tasks): the governance run, made
    /// durable, then each outgoing webhook endpoint's due messages (`deliver_due`), leased to
    /// `holder`. Every step is idempotent, so runs on many hosts, or overlapping runs, take
    /// turns rather than repeat work.
    pub fn run(&self, holder: &str) -> Result<ScheduleRun, ServiceError> {
        let governance = self.run_governance()?;
        self.levee.sync_store()?;
        let deliveries = self
            .levee
            .settings
            .outgoing_webhooks
            .iter()
            .map(|endpoint| self.levee.outbox().deliver_due(&endpoint.name, holder))
            .collect::<Result<_, _>>()?;
        Ok(ScheduleRun { governance, deliveries })
    }

    /// Escalates every pending case whose SLA ran out before now.
    pub fn run_governance(&self) -> Result<GovernanceRun, ServiceError> {
        self.levee.ledger_store().settle()?;
        let now = self.levee.clock.now();
        let system = Principal::system("sla-escalation");
        let mut run = GovernanceRun::default();
        let controls = self.levee.controls().current()?;
        let groups = &controls.approval_groups;
        for case_id in self.overdue_cases(now)? {
            match self
                .levee
                .transition(&case_id, &system, |case, at| case::escalate(case, at, groups, &self.levee.settings.matrix))
            {
                Ok(_) => run.escalated.push(case_id),
                // Decided, or escalated or changed by another host, since the queue was read: the
                // next run sees it as it is now.
                Err(ServiceError::Transition(case::TransitionError::WrongState(_)) | ServiceError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        if !run.escalated.is_empty() {
            tracing::info!(cases = ?run.escalated, "escalated past their SLA");
        }
        match self.levee.remediation().run(now) {
            Ok(items) => run.remediation = items,
            Err(ServiceError::Conflict(message)) => tracing::debug!(%message, "remediation raced another host"),
            Err(error) => return Err(error),
        }
        match self.levee.reconciliation().rematch_silent() {
            Ok(executions) => run.rematched = executions,
            Err(ServiceError::Conflict(message)) => tracing::debug!(%message, "reconciliation raced another host"),
            Err(error) => return Err(error),
        }
        // Everything above is in the ledger now: fold it, and whatever else is new, into the
        // metrics so dashboards stay current without folding on their own reads.
        run.metrics_folded = self.levee.metrics().fold(METRICS_FOLD_PER_RUN)?.entries;
        let settled = self.levee.ledger_store().settle()?.seq;
        // A ledger that does not read as a sound chain stops no other work: its checkpoints
        // refuse it and `verify` names where.
        run.merkle_tiles_stored =
            store_tiles(&*self.levee.store, settled, MERKLE_TILES_PER_RUN).unwrap_or_else(|error| {
                tracing::warn!(%error, "the ledger's Merkle nodes could not be stored");
                0
            });
        self.levee.sync_store()?;
        Ok(run)
    }

    /// Pending cases past their SLA, from the approval queues.
    fn overdue_cases(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<String>, ServiceError> {
        let mut overdue = Vec::new();
        for level in ApproverLevel::ALL {
            overdue.extend(
                projections::queue_items(&*self.levee.store, level)?
                    .into_iter()
                    .filter(|item| item.sla_due_at.is_some_and(|due| due < now))
                    .map(|item| item.case_id),
            );
        }
        Ok(overdue)
    }
}
