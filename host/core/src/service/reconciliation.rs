//! Reconciliation as a service: recording executions, matching them to cases, findings.

use crate::case::Case;
use crate::executions::ExecutionReport;
use crate::identity::Principal;
use crate::ledger::EventType;
use crate::money::Money;
use crate::projections::{self, FindingsIndex, Listed};
use crate::reconcile::{ExecutionRecord, Finding, FindingKind, approved_after, is_approved};
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::subject::subject_key;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Reconciliation of executions: `levee.reconciliation()`.
pub struct Reconciliation<'a> {
    pub(super) levee: &'a Levee,
}

impl Reconciliation<'_> {
    /// Records executions reported by `source`; returns each with whether it was new.
    pub fn record_executions(
        &self,
        source: &str,
        reports: Vec<ExecutionReport>,
    ) -> Result<Vec<(ExecutionRecord, bool)>, ServiceError> {
        let system = Principal::system(&format!("webhook:{source}"));
        reports.into_iter().map(|report| self.record_execution(&system, source, report)).collect()
    }

    fn record_execution(
        &self,
        system: &Principal,
        source: &str,
        report: ExecutionReport,
    ) -> Result<(ExecutionRecord, bool), ServiceError> {
        let id = format!("EX-{source}-{}", report.id);
        let missing = || ExecutionRecord::missing(&id, source, &report);
        let mut created = true;
        let record = self.levee.commit_subject(system, &id, missing, None, |existing, at| {
            if existing.version > 0 {
                created = false;
                return Ok((existing.clone(), None));
            }
            let case = self.matching_case(&report, &id)?;
            let mut record = existing.clone();
            record.version = 1;
            record.recorded_at = at;
            record.case_id = case.as_ref().map(|case| case.id.clone());
            record.findings = self.findings_of(&id, &report, case.as_ref(), at)?;
            let payload =
                serde_json::json!({"execution": report, "case_id": record.case_id, "findings": record.findings});
            Ok((record.clone(), Some(Change::of(record, EventType::ExecutionRecorded, payload))))
        })?;
        Ok((record, created))
    }

    /// The case an execution's references name: among the cases in its currency that the first
    /// reference finding any names, an approved one with approved amount left over, else any
    /// approved one, else the first.
    fn matching_case(&self, report: &ExecutionReport, own_id: &str) -> Result<Option<Case>, ServiceError> {
        for kind in ["case", "charge", "payment_intent", "order", "ticket"] {
            let Some(value) = report.references.get(kind) else { continue };
            let ids = if kind == "case" { vec![value.clone()] } else { self.cases_by_reference(kind, value)? };
            let mut candidates = Vec::new();
            for id in ids {
                if let Some(case) =
                    self.levee.load_case(&id)?.filter(|case| case.amount.currency == report.amount.currency)
                {
                    let used = self.executed_against(&case.id, own_id)?;
                    candidates.push((case, used));
                }
            }
            let with_room =
                candidates.iter().position(|(case, used)| is_approved(case) && *used < case.amount.minor_units);
            let approved = candidates.iter().position(|(case, _)| is_approved(case));
            if let Some(index) = with_room.or(approved).or((!candidates.is_empty()).then_some(0)) {
                return Ok(Some(candidates.swap_remove(index).0));
            }
        }
        Ok(None)
    }

    /// The minor units executed against a case, by executions other than `own_id`.
    fn executed_against(&self, case_id: &str, own_id: &str) -> Result<i64, ServiceError> {
        let executions = self.executions_of_case(case_id)?;
        Ok(executions.iter().filter(|(id, _)| id.as_str() != own_id).map(|(_, amount)| amount.minor_units).sum())
    }

    fn cases_by_reference(&self, kind: &str, value: &str) -> Result<Vec<String>, ServiceError> {
        Ok(projections::read::<Vec<String>>(&*self.levee.store, &projections::case_reference_key(kind, value))?
            .map(|(ids, _)| ids)
            .unwrap_or_default())
    }

    /// What an execution that is being recorded shows, against its case and the executions
    /// recorded before it.
    fn findings_of(
        &self,
        own_id: &str,
        report: &ExecutionReport,
        case: Option<&Case>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Finding>, ServiceError> {
        let finding = |kind, amount: Money, detail: String| Finding {
            kind,
            amount,
            case_id: case.map(|case| case.id.clone()),
            detail,
            opened_at: at,
            resolved_at: None,
        };
        let mut findings = Vec::new();
        match case {
            Some(case) if is_approved(case) => {
                if approved_after(case, report.executed_at) {
                    let detail = format!("executed at {} but approved at {:?}", report.executed_at, case.decided_at);
                    findings.push(finding(FindingKind::ExecutedBeforeApproval, report.amount.clone(), detail));
                }
                let total = self.executed_against(&case.id, own_id)?.saturating_add(report.amount.minor_units);
                let approved = case.amount.minor_units;
                if total > approved {
                    let excess = (total - approved).min(report.amount.minor_units);
                    let detail = format!("{total} minor units executed against {approved} approved");
                    let excess = Money::new(excess, &case.amount.currency)
                        .map_err(|error| ServiceError::Integrity(format!("an overage of {excess}: {error}")))?;
                    findings.push(finding(FindingKind::Overage, excess, detail));
                }
            }
            Some(case) => {
                let detail = format!("case {} is {}, not approved", case.id, case.status.as_str());
                findings.push(finding(FindingKind::Silent, report.amount.clone(), detail));
            }
            None => {
                let detail = "no case matches its references".to_owned();
                findings.push(finding(FindingKind::Silent, report.amount.clone(), detail));
            }
        }
        // A second refund of an order by the same amount is a duplicate unless an approved case
        // still had room for it (two approved partial refunds of one order).
        let covered = match case {
            Some(case) if is_approved(case) => self.executed_against(&case.id, own_id)? < case.amount.minor_units,
            _ => false,
        };
        if let Some(order) = report.references.get("order").filter(|_| !covered) {
            let same = self.executions_of_order(order)?;
            if same.iter().any(|(id, amount)| id.as_str() != own_id && *amount == report.amount) {
                let detail = format!("order {order} was already refunded {}", report.amount);
                findings.push(finding(FindingKind::Duplicate, report.amount.clone(), detail));
            }
        }
        if let Some(short) = &report.discrepancy {
            let detail = format!("Shopify recorded {short} of this refund as a discrepancy");
            findings.push(finding(FindingKind::RefundDiscrepancy, short.clone(), detail));
        }
        Ok(findings)
    }

    fn executions_of_case(&self, case_id: &str) -> Result<BTreeMap<String, Money>, ServiceError> {
        Ok(projections::read(&*self.levee.store, &projections::execution_reference_key("case", case_id))?
            .map(|(map, _)| map)
            .unwrap_or_default())
    }

    fn executions_of_order(&self, order: &str) -> Result<BTreeMap<String, Money>, ServiceError> {
        Ok(projections::read(&*self.levee.store, &projections::execution_reference_key("order", order))?
            .map(|(map, _)| map)
            .unwrap_or_default())
    }

    /// Every finding, newest first.
    pub fn findings(&self) -> Result<Vec<projections::FindingSummary>, ServiceError> {
        let records = self.executions_with_findings()?;
        let mut findings: Vec<_> = records.iter().flat_map(projections::FindingSummary::of).collect();
        findings
            .sort_by(|a, b| b.finding.opened_at.cmp(&a.finding.opened_at).then(b.execution_id.cmp(&a.execution_id)));
        Ok(findings)
    }

    /// Every execution that has had a finding, as its record stands: those an older ledger's
    /// one index names, then those listed from pages, each once, read in one batch.
    fn executions_with_findings(&self) -> Result<Vec<ExecutionRecord>, ServiceError> {
        let tip = self.levee.ledger_store().settle()?;
        let store = &*self.levee.store;
        let older = projections::read::<FindingsIndex>(store, projections::FINDINGS_INDEX_KEY)?
            .map(|(index, _)| index)
            .unwrap_or_default();
        let mut ids: Vec<String> = older.findings.into_values().map(|summary| summary.execution_id).collect();
        ids.extend(projections::listed_ids(store, Listed::Findings, tip.seq)?);
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        let keys: Vec<String> = ids.iter().map(|id| subject_key(id)).collect();
        let mut records = Vec::with_capacity(keys.len());
        for (key, bytes) in keys.iter().zip(store.get_many(&keys)?) {
            records
                .extend(bytes.map(|bytes| projections::decode::<ExecutionRecord>(key, &bytes)).transpose()?.flatten());
        }
        Ok(records)
    }

    /// Looks again at executions with an open silent finding: an approval that arrived since
    /// resolves it, and the execution is then checked against that case as if it had just
    /// arrived (executed before approval, overage). Returns the executions changed; one lost to
    /// another host is left for the next run.
    pub(crate) fn rematch_silent(&self) -> Result<Vec<String>, ServiceError> {
        let open_silent = |record: &ExecutionRecord| {
            record.findings.iter().any(|finding| finding.kind == FindingKind::Silent && finding.resolved_at.is_none())
        };
        let open: Vec<String> =
            self.executions_with_findings()?.into_iter().filter(open_silent).map(|record| record.id).collect();
        let system = Principal::system("reconciliation");
        let mut changed = Vec::new();
        for id in open {
            match self.rematch(&system, &id) {
                Ok(true) => changed.push(id),
                Ok(false) | Err(ServiceError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(changed)
    }

    /// Re-matches one execution; whether it changed.
    fn rematch(&self, system: &Principal, id: &str) -> Result<bool, ServiceError> {
        let Some(record) = self.levee.load_subject::<ExecutionRecord>(id)? else { return Ok(false) };
        let Some(case) = self.matching_case(&record.report, id)?.filter(is_approved) else { return Ok(false) };
        let missing = || ExecutionRecord::missing(id, &record.source, &record.report);
        self.levee.commit_subject(system, id, missing, Some(record.version), |current, at| {
            let mut next = current.clone();
            next.version += 1;
            next.case_id = Some(case.id.clone());
            for finding in next.findings.iter_mut().filter(|f| f.kind == FindingKind::Silent && f.resolved_at.is_none())
            {
                finding.resolved_at = Some(at);
            }
            let against_case = self.findings_of(id, &next.report, Some(&case), at)?;
            next.findings.extend(
                against_case.into_iter().filter(|finding| {
                    matches!(finding.kind, FindingKind::ExecutedBeforeApproval | FindingKind::Overage)
                }),
            );
            let payload = serde_json::json!({"case_id": case.id, "findings": next.findings});
            Ok(((), Some(Change::of(next, EventType::ExecutionRematched, payload))))
        })?;
        Ok(true)
    }
}
