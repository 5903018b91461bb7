//! Charts as a service: the figures a chart draws, read from the aggregates.

use crate::metrics::charts::{CHART_IDS, approver_outliers, cycle_time, drift, leakage, pareto, remediation_sla};
use crate::service::Metrics;

impl Metrics<'_> {
    /// Chart `id` (one of `CHART_IDS`) over `scope`, as SVG.
    pub fn chart(
        &self,
        id: &str,
        scope: &crate::metrics::query::Scope,
    ) -> Result<String, crate::service::ServiceError> {
        use crate::metrics::query;
        let loaded = self.load(scope)?;
        let settings = &self.levee.settings.metrics;
        let svg = match id {
            "leakage" => {
                let currency = loaded.main_currency().unwrap_or_else(|| "USD".to_owned());
                leakage(&query::leakage(scope, &loaded), &currency)
            }
            "cycle-time" => cycle_time(&query::cycle_time(scope, &loaded)),
            "pareto" => pareto(&loaded.total()),
            "approver-outliers" => {
                let repeats = crate::metrics::fold::Repeats::default();
                approver_outliers(&query::outliers(scope, &loaded, &repeats, settings))
            }
            "remediation-sla" => {
                let items = self.levee.remediation().items()?;
                let owned = items.into_iter().filter(|item| scope.team.as_ref().is_none_or(|team| *team == item.owner));
                remediation_sla(&owned.collect::<Vec<_>>(), self.levee.clock.now())
            }
            "drift" => {
                let current_week = crate::metrics::fold::PeriodKind::Week.id(self.levee.clock.now());
                drift(&query::drift(scope, &loaded, settings, &current_week))
            }
            other => {
                return Err(crate::service::ServiceError::NotFound(format!(
                    "chart '{other}' (charts: {})",
                    CHART_IDS.join(", ")
                )));
            }
        };
        svg.map_err(|message| crate::service::ServiceError::Store(crate::store::StoreError::Backend(message)))
    }
}
