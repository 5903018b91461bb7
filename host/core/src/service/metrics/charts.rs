//! Charts as a service: the figures a chart draws, read from the aggregates
//! (`metrics::chart::ChartData`); the API draws them (`api::render::charts`).

use crate::metrics::chart::{CHART_IDS, ChartData};
use crate::metrics::fold::{PeriodKind, Repeats};
use crate::metrics::query::{self, Scope};
use crate::service::{Metrics, ServiceError};

impl Metrics<'_> {
    /// The figures of chart `id` (one of `CHART_IDS`) over `scope`.
    pub fn chart(&self, id: &str, scope: &Scope) -> Result<ChartData, ServiceError> {
        let loaded = self.load(scope)?;
        let settings = &self.levee.settings.metrics;
        Ok(match id {
            "leakage" => ChartData::Leakage {
                report: query::leakage(scope, &loaded),
                currency: loaded.main_currency().unwrap_or_else(|| "USD".to_owned()),
            },
            "cycle-time" => ChartData::CycleTime(query::cycle_time(scope, &loaded)),
            "pareto" => ChartData::Pareto(loaded.total()),
            "approver-outliers" => {
                ChartData::ApproverOutliers(query::outliers(scope, &loaded, &Repeats::default(), settings))
            }
            "remediation-sla" => {
                let items = self.levee.remediation().items()?;
                let owned = items.into_iter().filter(|item| scope.team.as_ref().is_none_or(|team| *team == item.owner));
                ChartData::RemediationSla { items: owned.collect(), now: self.levee.clock.now() }
            }
            "drift" => {
                let current_week = PeriodKind::Week.id(self.levee.clock.now());
                ChartData::Drift(query::drift(scope, &loaded, settings, &current_week))
            }
            other => {
                return Err(ServiceError::NotFound(format!("chart '{other}' (charts: {})", CHART_IDS.join(", "))));
            }
        })
    }
}
