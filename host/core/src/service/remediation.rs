//! Remediation as a service: items opened by triggers, their progress and verification.

use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::projections::{self, CodeStats, RemediationIndex};
use crate::remediation::{
    FixEvidence, FixRequest, RemediationEscalation, RemediationItem, RemediationStatus, StartRequest, Verification,
    WindowFigures, crosses, is_item_id,
};
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::taxonomy::{ExceptionCode, RemediationTrigger};
use crate::validation::required_text;
use chrono::{DateTime, Duration, Utc};

/// Remediation items and scorecards: `levee.remediation()`.
pub struct Remediation<'a> {
    pub(super) levee: &'a Levee,
}

impl Remediation<'_> {
    /// Every item, newest first, as the index lists them.
    pub fn items(&self) -> Result<Vec<RemediationItem>, ServiceError> {
        self.levee.ledger_store().settle()?;
        let index = self.index()?;
        let mut items = Vec::new();
        for id in index.items.keys().rev() {
            if let Some(item) = self.levee.load_subject::<RemediationItem>(id)? {
                items.push(item);
            }
        }
        Ok(items)
    }

    pub fn item(&self, id: &str) -> Result<RemediationItem, ServiceError> {
        if !is_item_id(id) {
            return Err(ServiceError::NotFound(format!("remediation item {id}")));
        }
        self.levee.ledger_store().settle()?;
        self.levee
            .load_subject::<RemediationItem>(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("remediation item {id}")))
    }

    fn index(&self) -> Result<RemediationIndex, ServiceError> {
        Ok(projections::read::<RemediationIndex>(&*self.levee.store, projections::REMEDIATION_INDEX_KEY)?
            .map(|(index, _)| index)
            .unwrap_or_default())
    }

    /// The owner starts work on an item.
    pub fn start(&self, actor: &Principal, id: &str, request: &StartRequest) -> Result<RemediationItem, ServiceError> {
        let note = required_text("note", &request.note, 2_000)?;
        self.change_item(actor, id, EventType::RemediationStarted, |item, at| {
            if item.status != RemediationStatus::Open {
                return Err(wrong_state(item, "started"));
            }
            item.step(at, &actor.actor, RemediationStatus::InProgress, note.clone());
            Ok(serde_json::json!({"note": note}))
        })
    }

    /// The owner submits the fix, with its closure evidence.
    pub fn submit_fix(
        &self,
        actor: &Principal,
        id: &str,
        request: &FixRequest,
    ) -> Result<RemediationItem, ServiceError> {
        let link = required_text("link", &request.link, 2_000)?;
        let note = required_text("note", &request.note, 4_000)?;
        self.change_item(actor, id, EventType::RemediationFixSubmitted, |item, at| {
            if !matches!(item.status, RemediationStatus::Open | RemediationStatus::InProgress) {
                return Err(wrong_state(item, "given a fix"));
            }
            let fix = FixEvidence { link: link.clone(), note: note.clone(), by: actor.actor.clone(), at };
            item.fix = Some(fix.clone());
            item.verification = None;
            item.step(at, &actor.actor, RemediationStatus::FixSubmitted, note.clone());
            let verify_at = at + Duration::days(i64::from(item.trigger.window_days));
            Ok(serde_json::json!({"fix": fix, "verified_from": verify_at}))
        })
    }

    /// One owner step on an item: only its owner team (or an admin) may take it.
    fn change_item<F>(
        &self,
        actor: &Principal,
        id: &str,
        event: EventType,
        mut apply: F,
    ) -> Result<RemediationItem, ServiceError>
    where
        F: FnMut(&mut RemediationItem, DateTime<Utc>) -> Result<serde_json::Value, ServiceError>,
    {
        if !is_item_id(id) {
            return Err(ServiceError::NotFound(format!("remediation item {id}")));
        }
        let missing = || RemediationItem::missing(id);
        self.levee.commit_subject(actor, id, missing, None, |item, at| {
            if item.version == 0 {
                return Err(ServiceError::NotFound(format!("remediation item {id}")));
            }
            let may_act = [Role::Agent, Role::Approver, Role::Admin].iter().any(|role| actor.has_role(*role));
            if !may_act || (actor.team != item.owner && !actor.has_role(Role::Admin)) {
                return Err(ServiceError::Forbidden(format!(
                    "item {id} belongs to team {}; {} is in team {}",
                    item.owner, actor.actor, actor.team
                )));
            }
            let mut next = item.clone();
            let payload = apply(&mut next, at)?;
            Ok((next.clone(), Some(Change::of(next, event, payload))))
        })
    }

    /// Opens items for codes that crossed their trigger, judges fixes whose window has passed,
    /// and escalates overdue items. Returns the ids of items it changed.
    pub(crate) fn run(&self, now: DateTime<Utc>) -> Result<Vec<String>, ServiceError> {
        let system = Principal::system("remediation");
        let index = self.index()?;
        let mut changed = Vec::new();
        for code in self.levee.taxonomy().current()?.taxonomy.codes.iter().filter(|code| code.is_active()) {
            let Some(trigger) = &code.remediation else { continue };
            if index.current_item(&code.code).is_some() {
                continue;
            }
            let figures = self.code_stats(&code.code)?.window(now, trigger.window_days);
            if crosses(trigger, &figures) {
                let number = index.items.values().filter(|entry| entry.code == code.code).count() + 1;
                changed.extend(self.open_item(&system, code, trigger, figures, number)?);
            }
        }
        for (id, entry) in &index.items {
            if entry.status == RemediationStatus::Verified {
                continue;
            }
            let Some(item) = self.levee.load_subject::<RemediationItem>(id)? else { continue };
            if let Some(event) = self.judge_item(&system, item, now)? {
                changed.push(event);
            }
        }
        Ok(changed)
    }

    fn code_stats(&self, code: &str) -> Result<CodeStats, ServiceError> {
        Ok(projections::read::<CodeStats>(&*self.levee.store, &projections::code_stats_key(code))?
            .map(|(stats, _)| stats)
            .unwrap_or_default())
    }

    fn open_item(
        &self,
        system: &Principal,
        code: &ExceptionCode,
        trigger: &RemediationTrigger,
        baseline: WindowFigures,
        number: usize,
    ) -> Result<Option<String>, ServiceError> {
        // The id is the code's own n-th item, so hosts opening it at once name the same subject
        // and the ledger's compare-and-swap lets one of them through.
        let id = format!("RM-{}-{number}", code.code);
        let open = || RemediationItem::missing(&id);
        self.levee
            .commit_subject(system, &id, open, None, |existing, at| {
                if existing.version > 0 {
                    return Ok((None, None));
                }
                let mut item = RemediationItem {
                    id: id.clone(),
                    version: 0,
                    ledger_seqs: Vec::new(),
                    code: code.code.clone(),
                    owner: code.owner.clone(),
                    playbook: code.playbook.clone(),
                    status: RemediationStatus::Open,
                    trigger: trigger.clone(),
                    baseline: baseline.clone(),
                    opened_at: at,
                    due_at: at + Duration::hours(i64::from(trigger.sla_hours)),
                    reopened: 0,
                    fix: None,
                    verification: None,
                    escalation: None,
                    history: Vec::new(),
                };
                let note = format!(
                    "{} cases of {} in {} days crossed the trigger",
                    baseline.counts.cases, code.code, trigger.window_days
                );
                item.step(at, &system.actor, RemediationStatus::Open, note);
                let payload = serde_json::json!({"baseline": baseline, "trigger": trigger, "due_at": item.due_at});
                Ok((Some(id.clone()), Some(Change::of(item, EventType::RemediationOpened, payload))))
            })
            .inspect(|opened| {
                if opened.is_some() {
                    tracing::info!(item = %id, code = %code.code, "remediation item opened");
                }
            })
    }

    /// Verifies or reopens a fix whose window has passed; escalates an overdue item once per SLA.
    fn judge_item(
        &self,
        system: &Principal,
        item: RemediationItem,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ServiceError> {
        let window = Duration::days(i64::from(item.trigger.window_days));
        let verdict = match (&item.fix, item.status) {
            (Some(fix), RemediationStatus::FixSubmitted) if now >= fix.at + window => {
                let after_fix = self.code_stats(&item.code)?.window(fix.at + window, item.trigger.window_days);
                Some(self.verification(&item, after_fix))
            }
            _ => None,
        };
        let overdue = item.is_overdue(now) && item.escalation.as_ref().is_none_or(|e| e.missed_due_at != item.due_at);
        if verdict.is_none() && !overdue {
            return Ok(None);
        }
        let manager = self.levee.settings.team_managers.get(&item.owner).cloned();
        let id = item.id.clone();
        self.levee
            .commit_subject(
                system,
                &id,
                || RemediationItem::missing(&id),
                Some(item.version),
                |current, at| {
                    let mut next = current.clone();
                    let (event, payload) = match &verdict {
                        Some(verification) if verification.verified => {
                            next.verification = Some(verification.clone());
                            next.step(at, &system.actor, RemediationStatus::Verified, "the fix held".to_owned());
                            (EventType::RemediationVerified, serde_json::json!({"verification": verification}))
                        }
                        Some(verification) => {
                            next.verification = Some(verification.clone());
                            next.reopened += 1;
                            next.due_at = at + Duration::hours(i64::from(next.trigger.sla_hours));
                            next.escalation = None;
                            let note = format!(
                                "{} cases after the fix, more than the {} allowed: reopened",
                                verification.after_fix.counts.cases, verification.allowed_cases
                            );
                            next.step(at, &system.actor, RemediationStatus::Open, note);
                            (
                                EventType::RemediationReopened,
                                serde_json::json!({"verification": verification, "due_at": next.due_at}),
                            )
                        }
                        None => {
                            let escalation =
                                RemediationEscalation { at, to: manager.clone(), missed_due_at: next.due_at };
                            next.escalation = Some(escalation.clone());
                            next.version += 1;
                            (
                                EventType::RemediationEscalated,
                                serde_json::json!({"escalation": escalation, "owner": next.owner}),
                            )
                        }
                    };
                    Ok((id.clone(), Some(Change::of(next, event, payload))))
                },
            )
            .map(Some)
    }

    fn verification(&self, item: &RemediationItem, after_fix: WindowFigures) -> Verification {
        let keep = 100 - u64::from(item.trigger.verify_drop_percent.min(100));
        let allowed_cases = item.baseline.counts.cases * keep / 100;
        Verification {
            verified: after_fix.counts.cases <= allowed_cases,
            after_fix,
            baseline_cases: item.baseline.counts.cases,
            required_drop_percent: item.trigger.verify_drop_percent,
            allowed_cases,
        }
    }
}

fn wrong_state(item: &RemediationItem, action: &str) -> ServiceError {
    let status = serde_json::to_value(item.status).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
    ServiceError::Conflict(format!("item {} is {status}, so it cannot be {action}", item.id))
}
