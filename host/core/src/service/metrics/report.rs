//! The monthly review as a service: the month's figures read from the aggregates
//! (`metrics::review::MonthlyReview`); the API renders the page (`api::render::report`).

use chrono::Months;

use crate::metrics::fold::PeriodKind;
use crate::metrics::query::{self, Scope};
use crate::metrics::review::MonthlyReview;
use crate::metrics::summary;
use crate::remediation::Rag;
use crate::service::{Metrics, ServiceError};

impl Metrics<'_> {
    /// The review of `month` (`YYYY-MM`).
    pub fn monthly_review(&self, month: &str) -> Result<MonthlyReview, ServiceError> {
        let scope = Scope::month(month, None)?;
        let previous =
            Scope { from: scope.from - Months::new(1), to: scope.from - chrono::Duration::days(1), team: None };
        // Six months of context, ending with this one.
        let context = Scope { from: scope.from - Months::new(5), to: scope.to, team: None };
        self.fold(query::FOLD_ON_READ)?;
        let loaded = self.read_scope(&scope)?;
        let before = self.read_scope(&previous)?;
        let context_loaded = self.read_scope(&context)?;
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let actionable = |code: &str| taxonomy.get(code).is_some_and(|entry| !entry.playbook.trim().is_empty());
        let now = self.levee.clock.now();
        let today = now.date_naive();
        let now_figures = summary::figures_of(&loaded, scope.elapsed_weeks(today), &actionable);
        let then_figures = summary::figures_of(&before, previous.elapsed_weeks(today), &actionable);
        let current_week = PeriodKind::Week.id(now);
        let red_items =
            self.levee.remediation().items()?.into_iter().filter(|item| item.rag(now) == Rag::Red).collect();
        Ok(MonthlyReview {
            month: month.to_owned(),
            from: scope.from,
            to: scope.to,
            generated_at: now,
            headline: summary::headline(&now_figures, Some(&then_figures)),
            leakage: query::leakage(&scope, &loaded),
            leakage_context: query::leakage(&context, &context_loaded),
            context_currency: context_loaded.main_currency().unwrap_or_else(|| "USD".to_owned()),
            total: loaded.total(),
            cycle_time: query::cycle_time(&scope, &loaded),
            drift: query::drift(&scope, &loaded, &self.levee.settings.metrics, &current_week),
            red_items,
        })
    }
}
