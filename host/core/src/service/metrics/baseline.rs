//! Baselines as a service: recording the figures a change is measured against.

use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::metrics::baseline::{ALL_TEAMS, BASELINES_SUBJECT, Baseline, BaselineBook, BaselineRequest};
use crate::service::{Metrics, ServiceError};
use crate::subject::Change;
use std::collections::BTreeMap;

impl Metrics<'_> {
    /// Marks a team's baseline weeks. Admins may mark any team's (and `all`); an approver
    /// marks their own team's.
    pub fn set_baseline(&self, actor: &Principal, request: &BaselineRequest) -> Result<Baseline, ServiceError> {
        // `all` is the organisation's, whatever a team happens to be called.
        let own_team = actor.has_role(Role::Approver) && actor.team == request.team && request.team != ALL_TEAMS;
        if !(actor.has_role(Role::Admin) || own_team) {
            return Err(ServiceError::Forbidden(format!(
                "marking {}'s baseline needs the admin role, or an approver of that team",
                request.team
            )));
        }
        let (from, to) = request.weeks(self.levee.clock.now().date_naive())?;
        self.levee.commit_subject(actor, BASELINES_SUBJECT, BaselineBook::default, None, |book: &BaselineBook, at| {
            let baseline = Baseline {
                team: request.team.clone(),
                from,
                to,
                note: request.note.clone(),
                set_by: actor.actor.clone(),
                set_at: at,
            };
            let mut next = book.clone();
            next.version += 1;
            next.history.push(baseline.clone());
            let payload = serde_json::json!({ "baseline": baseline });
            Ok((baseline, Some(Change::of(next, EventType::BaselineSet, payload))))
        })
    }

    /// Each team's current baseline.
    pub fn baselines(&self) -> Result<BTreeMap<String, Baseline>, ServiceError> {
        Ok(self.levee.load_subject::<BaselineBook>(BASELINES_SUBJECT)?.map(|book| book.current()).unwrap_or_default())
    }
}
