//! The monthly review as a service.

use crate::metrics::charts;
use crate::metrics::derive::format_major;
use crate::metrics::query::{self, Loaded, Scope};
use crate::metrics::report::{Page, STYLE, cycle_section, escape, exceptions_section};
use crate::metrics::summary::{self};
use crate::money::Money;
use crate::remediation::Rag;
use crate::service::{Metrics, ServiceError};
use chrono::Months;

impl Metrics<'_> {
    /// The monthly review of `month` (`YYYY-MM`) as one HTML page.
    pub fn monthly_report(&self, month: &str) -> Result<String, ServiceError> {
        let scope = Scope::month(month, None)?;
        let previous =
            Scope { from: scope.from - Months::new(1), to: scope.from - chrono::Duration::days(1), team: None };
        self.fold(query::FOLD_ON_READ)?;
        let loaded = self.read_scope(&scope)?;
        let before = self.read_scope(&previous)?;
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let actionable = |code: &str| taxonomy.get(code).is_some_and(|entry| !entry.playbook.trim().is_empty());
        let today = self.levee.clock.now().date_naive();
        let now_figures = summary::figures_of(&loaded, scope.elapsed_weeks(today), &actionable);
        let then_figures = summary::figures_of(&before, previous.elapsed_weeks(today), &actionable);

        let mut page = Page { html: String::new() };
        page.push(&format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>levee monthly review {m}</title>\
             <style>{STYLE}</style></head><body><h1>levee monthly review: {m}</h1>",
            m = escape(month)
        ));
        page.paragraph(&format!(
            "{} to {} (UTC). Generated {} from the ledger's aggregates.",
            scope.from,
            scope.to,
            self.levee.clock.now().format("%Y-%m-%d %H:%M UTC")
        ));
        page.cards(&summary::headline(&now_figures, Some(&then_figures)));
        self.leakage_section(&mut page, &scope, &loaded)?;
        exceptions_section(&mut page, &loaded);
        cycle_section(&mut page, &scope, &loaded);
        self.drift_section(&mut page, &scope, &loaded);
        self.remediation_section(&mut page)?;
        page.push("</body></html>");
        Ok(page.html)
    }

    fn leakage_section(&self, page: &mut Page, scope: &Scope, loaded: &Loaded) -> Result<(), ServiceError> {
        page.heading("Leakage");
        let report = query::leakage(scope, loaded);
        let amount = |line: &query::LeakageLine| {
            format_major(&Money { minor_units: line.amount.minor_units, currency: line.amount.currency.clone() })
        };
        let rows: Vec<Vec<String>> = report
            .totals
            .iter()
            .map(|line| vec![line.key.replace('_', " "), line.amount.count.to_string(), amount(line)])
            .collect();
        page.table(&["Cause", "#Items", "#Amount"], &rows);
        if report.over_authority_approvals > 0 {
            page.push(&format!(
                "<p class=\"red\">{} approvals above the approver's authority.</p>",
                report.over_authority_approvals
            ));
        }
        // Six months of context, ending with this one.
        let context = Scope { from: scope.from - Months::new(5), to: scope.to, team: None };
        let context_loaded = self.read_scope(&context)?;
        let currency = context_loaded.main_currency().unwrap_or_else(|| "USD".to_owned());
        page.chart(charts::leakage(&query::leakage(&context, &context_loaded), &currency));
        let by_code: Vec<Vec<String>> = report
            .by_code
            .iter()
            .take(10)
            .map(|line| vec![line.key.clone(), line.amount.count.to_string(), amount(line)])
            .collect();
        page.table(&["Code", "#Items", "#Amount"], &by_code);
        Ok(())
    }

    fn drift_section(&self, page: &mut Page, scope: &Scope, loaded: &Loaded) {
        page.heading("Drift signals");
        let current_week = crate::metrics::fold::PeriodKind::Week.id(self.levee.clock.now());
        let report = query::drift(scope, loaded, &self.levee.settings.metrics, &current_week);
        page.paragraph(&report.method);
        let rows: Vec<Vec<String>> = report
            .weeks
            .iter()
            .map(|week| {
                vec![
                    week.week.clone(),
                    week.cases.to_string(),
                    week.code_mix_psi.map_or_else(|| "–".to_owned(), |psi| format!("{psi:.3}")),
                    if week.flags.is_empty() { "–".to_owned() } else { week.flags.join("; ") },
                ]
            })
            .collect();
        page.table(&["Week", "#Cases", "#PSI", "Flags"], &rows);
        page.chart(charts::drift(&report));
    }

    fn remediation_section(&self, page: &mut Page) -> Result<(), ServiceError> {
        page.heading("Red remediation items");
        let now = self.levee.clock.now();
        let rows: Vec<Vec<String>> = self
            .levee
            .remediation()
            .items()?
            .into_iter()
            .filter(|item| item.rag(now) == Rag::Red)
            .map(|item| {
                let overdue = if item.is_overdue(now) { "overdue" } else { "open" };
                vec![
                    item.id.clone(),
                    item.code.clone(),
                    item.owner.clone(),
                    item.due_at.format("%Y-%m-%d %H:%M").to_string(),
                    overdue.to_owned(),
                ]
            })
            .collect();
        page.table(&["Item", "Code", "Owner", "Due (UTC)", "State"], &rows);
        Ok(())
    }
}
