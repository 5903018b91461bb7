//! Backtests as a service: replaying recorded cases through a candidate chain.

use crate::backtest::{BATCH, BacktestReport, BacktestRequest, MAX_CASES, Submissions, replayable};
use crate::decision::{self};
use crate::engine::Facts;
use crate::floors::Floors;
use crate::ledger::EventType;
use crate::ledger_store::{LedgerSlot, entry_key};
use crate::registry::ChainLink;
use crate::service::{Policies, ServiceError};
use crate::taxonomy::Taxonomy;
use crate::validation::FieldError;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// How many recent cases a chain is dry-run on before it is activated.
const DRY_RUN_CASES: usize = 50;
/// How far back (in ledger entries) the dry run looks for them.
const DRY_RUN_SCAN: u64 = 5_000;

/// What a replay runs under: the taxonomy (the routing policy's default params, and each code's
/// flags) and the floors.
pub(crate) struct Conditions<'a> {
    pub taxonomy: &'a Taxonomy,
    pub floors: &'a Floors,
}

impl Conditions<'_> {
    /// The recorded facts with their code's flags as this taxonomy sets them.
    fn flagged(&self, mut facts: Facts) -> Facts {
        if let Some(code) = self.taxonomy.codes.iter().find(|code| code.code == facts.exception_code) {
            facts.escalate_always = code.escalate_always;
            facts.customer_comms_required = code.customer_comms_required;
        }
        facts
    }
}

impl Policies<'_> {
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
        self.backtest_chain(links, days)
    }

    /// Replays the last `days` days' submissions through the chain `links`, under the taxonomy
    /// and floors in force.
    pub(super) fn backtest_chain(&self, links: Vec<ChainLink>, days: u32) -> Result<BacktestReport, ServiceError> {
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let controls = self.levee.controls().current()?;
        self.replay(links, days, &Conditions { taxonomy: &taxonomy, floors: &controls.floors })
    }

    /// Replays the last `days` days' submissions through the chain `links` under `conditions`:
    /// each case's facts as recorded, but for its code's flags, which come from the taxonomy
    /// replayed under (so a change of `escalate_always` shows), and the floors applied to
    /// every decision as submission applies them.
    pub(crate) fn replay(
        &self,
        links: Vec<ChainLink>,
        days: u32,
        conditions: &Conditions<'_>,
    ) -> Result<BacktestReport, ServiceError> {
        let to = self.levee.clock.now();
        let from = to - Duration::days(i64::from(days));
        let submissions = self.submissions_since(from)?;
        let plugins = self.chain_plugins(&links, conditions.taxonomy)?;
        let facts: Vec<Facts> =
            submissions.replayable.iter().map(|submission| conditions.flagged(submission.facts.clone())).collect();
        let evaluations =
            self.levee.engine.evaluate_candidate(plugins, &facts).map_err(ServiceError::PluginRejected)?;
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
        let matrix = &self.levee.settings.matrix;
        for ((submission, facts), evaluations) in submissions.replayable.iter().zip(&facts).zip(evaluations) {
            let mut candidate = decision::combine(&evaluations, facts.submitted_at);
            let sla = |level| matrix.sla_minutes(level);
            conditions.floors.raise(&mut candidate, facts.kind, &facts.amount, sla, facts.submitted_at);
            let present = facts.evidence_present.iter().copied().collect();
            decision::hold_for_missing_evidence(&mut candidate, &present, facts.submitted_at);
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

    /// Runs a chain about to be activated on the most recent cases (up to `DRY_RUN_CASES`
    /// submissions among the last `DRY_RUN_SCAN` ledger entries), as they were submitted: a
    /// policy that fails on one of them (traps, runs out of fuel, time or memory, answers an
    /// error or something malformed) refuses the activation, naming the link, the case and why.
    pub(super) fn dry_run(&self, links: &[ChainLink]) -> Result<(), ServiceError> {
        let recent = self.recent_submissions()?;
        if recent.is_empty() {
            return Ok(());
        }
        let plugins = self.chain_plugins(links, &self.levee.taxonomy().current()?.taxonomy)?;
        let facts: Vec<Facts> = recent.iter().map(|submission| submission.facts.clone()).collect();
        let evaluations =
            self.levee.engine.evaluate_candidate(plugins, &facts).map_err(ServiceError::PluginRejected)?;
        for (submission, evaluations) in recent.iter().zip(evaluations) {
            for (index, evaluation) in evaluations.iter().enumerate() {
                let failure = match &evaluation.result {
                    Err(failure) => failure.to_string(),
                    Ok(answer) => match decision::validate(answer) {
                        Ok(()) => continue,
                        Err(message) => crate::engine::PolicyFailure::Malformed { message }.to_string(),
                    },
                };
                let message = format!(
                    "the chain was run on the {} most recent cases before it is recorded, and policy {} {failure} on \
                     case {}",
                    recent.len(),
                    evaluation.policy.name,
                    submission.case_id()
                );
                return Err(FieldError::new(format!("links[{index}]"), message).into());
            }
        }
        Ok(())
    }

    /// The most recent replayable submissions, newest first.
    fn recent_submissions(&self) -> Result<Vec<crate::backtest::Replayable>, ServiceError> {
        let tip = self.levee.ledger_store().settle()?;
        let oldest = tip.seq.saturating_sub(DRY_RUN_SCAN).max(1);
        let mut found = Vec::new();
        let mut end = tip.seq;
        while end >= oldest && found.len() < DRY_RUN_CASES {
            let start = end.saturating_sub(BATCH - 1).max(oldest);
            let keys: Vec<String> = (start..=end).rev().map(entry_key).collect();
            for bytes in self.levee.store.get_many(&keys)?.into_iter().flatten() {
                let Ok(slot) = serde_json::from_slice::<LedgerSlot>(&bytes) else { continue };
                if slot.entry.event != EventType::CaseSubmitted || found.len() >= DRY_RUN_CASES {
                    continue;
                }
                found.extend(replayable(&slot.entry));
            }
            end = start - 1;
        }
        Ok(found)
    }

    /// Submissions at or after `from`, oldest first.
    fn submissions_since(&self, from: DateTime<Utc>) -> Result<Submissions, ServiceError> {
        let tip = self.levee.ledger_store().settle()?;
        let mut found = Submissions::default();
        for start in (1..=tip.seq).step_by(BATCH as usize) {
            let keys: Vec<String> = (start..=tip.seq.min(start + BATCH - 1)).map(entry_key).collect();
            for bytes in self.levee.store.get_many(&keys)?.into_iter().flatten() {
                let Ok(slot) = serde_json::from_slice::<LedgerSlot>(&bytes) else { continue };
                if slot.entry.event != EventType::CaseSubmitted || slot.entry.at < from {
                    continue;
                }
                match replayable(&slot.entry) {
                    Some(submission) if found.replayable.len() < MAX_CASES => found.replayable.push(submission),
                    Some(_) => {}
                    None => found.skipped += 1,
                }
            }
        }
        Ok(found)
    }
}
