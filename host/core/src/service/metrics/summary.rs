//! The metrics summary as a service.

use crate::metrics::baseline::{ALL_TEAMS, Baseline};
use crate::metrics::fold::{REPEATS_KEY, Repeats};
use crate::metrics::query::{self, Scope};
use crate::metrics::summary::{
    Figures, Signal, Summary, approver_signals, format_duration, headline, leakage_signals, other_signals, signal,
};
use crate::projections::read;
use crate::remediation::RemediationItem;
use crate::service::{Metrics, ServiceError};

impl Metrics<'_> {
    /// The dashboard's summary for `scope`.
    pub fn summary(&self, scope: &Scope) -> Result<Summary, ServiceError> {
        let loaded = self.load(scope)?;
        let settings = &self.levee.settings.metrics;
        let total = loaded.total();
        let currency = query::main_currency(&total);
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let actionable = |code: &str| taxonomy.get(code).is_some_and(|entry| !entry.playbook.trim().is_empty());
        let weeks = scope.elapsed_weeks(self.levee.clock.now().date_naive());
        let now = Figures::of(&total, weeks, currency.as_deref(), &actionable);
        let baseline = self.baselines()?.remove(scope.team.as_deref().unwrap_or(ALL_TEAMS));
        let then = baseline
            .as_ref()
            .map(|baseline| self.baseline_figures(baseline, scope, currency.as_deref(), &actionable))
            .transpose()?;
        let repeats = read::<Repeats>(&*self.levee.store, REPEATS_KEY)?.map(|(repeats, _)| repeats).unwrap_or_default();
        let outliers = query::outliers_of(scope, &total, &loaded.by_team(), &repeats, settings);
        let current_week = crate::metrics::fold::PeriodKind::Week.id(self.levee.clock.now());
        let drift = query::drift(scope, &loaded, settings, &current_week);
        let mut signals = approver_signals(&outliers);
        signals.extend(leakage_signals(&total));
        signals.extend(other_signals(&outliers, &drift));
        signals.extend(self.remediation_signals(scope)?);
        let severity_rank = |signal: &Signal| match signal.severity.as_str() {
            "red" => 0,
            "amber" => 1,
            _ => 2,
        };
        signals.sort_by_key(severity_rank);
        Ok(Summary {
            from: scope.from,
            to: scope.to,
            team: scope.team.clone(),
            teams: self.teams()?.into_iter().collect(),
            headline: headline(&now, then.as_ref()),
            signals,
            baseline,
        })
    }

    /// The baseline weeks' figures, for the scope's team.
    fn baseline_figures(
        &self,
        baseline: &Baseline,
        scope: &Scope,
        currency: Option<&str>,
        actionable: &dyn Fn(&str) -> bool,
    ) -> Result<Figures, ServiceError> {
        let weeks = query::weeks_between(baseline.from, baseline.to);
        let length = ((baseline.to - baseline.from).num_days() + 1) as f64 / 7.0;
        let teams: Vec<String> = match &scope.team {
            Some(team) => vec![team.clone()],
            None => self.teams()?.into_iter().collect(),
        };
        let slices = self.read_slices(crate::metrics::fold::PeriodKind::Week, &weeks, &teams)?;
        let total = query::sum(slices.values().flat_map(|teams| teams.values()).map(|slice| &**slice));
        Ok(Figures::of(&total, length, currency, actionable))
    }

    /// Remediation items past their SLA (for the scope's team, when it names one).
    fn remediation_signals(&self, scope: &Scope) -> Result<Vec<Signal>, ServiceError> {
        let now = self.levee.clock.now();
        let overdue = self.levee.remediation().items()?.into_iter().filter(|item: &RemediationItem| {
            item.is_overdue(now) && scope.team.as_ref().is_none_or(|team| *team == item.owner)
        });
        Ok(overdue
            .map(|item| {
                let late = format_duration((now - item.due_at).num_seconds().max(0) as u64);
                signal(
                    "remediation_overdue",
                    "red",
                    &item.id,
                    format!("{} owned by {}, {late} past its SLA", item.code, item.owner),
                )
            })
            .collect())
    }
}
