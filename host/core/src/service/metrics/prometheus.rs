//! The Prometheus exposition as a service.

use crate::metrics::fold::PeriodKind;
use crate::metrics::prometheus::Exposition;
use crate::metrics::query::{self, Scope};
use crate::remediation::RemediationStatus;
use crate::service::{Metrics, ServiceError};

impl Metrics<'_> {
    /// Every metric for the current month, as Prometheus text.
    pub fn prometheus_text(&self) -> Result<String, ServiceError> {
        let now = self.levee.clock.now();
        let month = PeriodKind::Month.id(now);
        let scope = Scope::month(&month, None)?;
        let fold = self.fold(query::FOLD_ON_READ)?;
        let loaded = self.read_scope(&scope)?;
        let total = loaded.total();
        let mut out = Exposition::default();
        let m = || ("month", month.clone());

        let cases: Vec<_> = loaded
            .by_team()
            .iter()
            .map(|(team, slice)| (vec![m(), ("team", team.clone())], slice.cases as f64))
            .collect();
        out.gauge("levee_cases", "Cases submitted this month, by team.", &cases);

        let leakage = query::leakage(&scope, &loaded);
        let amounts: Vec<_> = leakage
            .totals
            .iter()
            .map(|line| {
                (
                    vec![m(), ("currency", line.amount.currency.clone()), ("cause", line.key.clone())],
                    line.amount.minor_units as f64,
                )
            })
            .collect();
        out.gauge(
            "levee_leakage_minor_units",
            "Leaked money this month in minor units, by currency and cause.",
            &amounts,
        );
        let items: Vec<_> = leakage
            .totals
            .iter()
            .map(|line| {
                (
                    vec![m(), ("currency", line.amount.currency.clone()), ("cause", line.key.clone())],
                    line.amount.count as f64,
                )
            })
            .collect();
        out.gauge("levee_leakage_items", "Leaks this month, by currency and cause.", &items);

        let cycle = total.cycle.get("all").cloned().unwrap_or_default();
        let quantiles: Vec<_> = [("0.5", 0.5), ("0.9", 0.9)]
            .into_iter()
            .filter_map(|(label, q)| cycle.percentile(q).map(|s| (vec![m(), ("quantile", label.to_owned())], s as f64)))
            .collect();
        out.gauge("levee_cycle_time_seconds", "Submission to decision by a person this month.", &quantiles);

        // No sample until something is decided: 0/0 is not 100%.
        let completeness: Vec<_> = (total.decided > 0)
            .then(|| (vec![m()], total.complete as f64 / total.decided as f64))
            .into_iter()
            .collect();
        out.gauge(
            "levee_evidence_completeness_ratio",
            "Share of decided cases with every required piece of evidence this month.",
            &completeness,
        );

        let approvals: Vec<_> = total
            .approvers
            .iter()
            .map(|(approver, figures)| (vec![m(), ("approver", approver.clone())], figures.approvals as f64))
            .collect();
        out.gauge("levee_approvals", "Approvals given this month, by approver.", &approvals);
        let fast: Vec<_> = total
            .approvers
            .iter()
            .map(|(approver, figures)| (vec![m(), ("approver", approver.clone())], figures.fast as f64))
            .collect();
        out.gauge(
            "levee_fast_approvals",
            "Approvals faster than fast_approval_seconds this month, by approver.",
            &fast,
        );

        let current_week = PeriodKind::Week.id(now);
        let drift = query::drift(&scope, &loaded, &self.levee.settings.metrics, &current_week);
        let psi: Vec<_> = drift
            .latest
            .iter()
            .filter_map(|week| week.code_mix_psi.map(|psi| (vec![("week", week.week.clone())], psi)))
            .collect();
        out.gauge(
            "levee_drift_code_mix_psi",
            "PSI of the code mix of the last complete week against the week before.",
            &psi,
        );

        let remediation = self.levee.remediation().items()?;
        let statuses = [
            (RemediationStatus::Open, "open"),
            (RemediationStatus::InProgress, "in_progress"),
            (RemediationStatus::FixSubmitted, "fix_submitted"),
            (RemediationStatus::Verified, "verified"),
        ];
        let by_status: Vec<_> = statuses
            .iter()
            .map(|(status, name)| {
                let count = remediation.iter().filter(|item| item.status == *status).count();
                (vec![("status", (*name).to_owned())], count as f64)
            })
            .collect();
        out.gauge("levee_remediation_items", "Remediation items by status.", &by_status);
        let overdue = remediation.iter().filter(|item| item.is_overdue(now)).count();
        out.gauge("levee_remediation_overdue", "Remediation items past their SLA.", &[(vec![], overdue as f64)]);

        out.gauge("levee_ledger_entries", "Entries in the ledger.", &[(vec![], (fold.through + fold.behind) as f64)]);
        out.gauge(
            "levee_metrics_fold_behind_entries",
            "Ledger entries not yet folded into the metrics.",
            &[(vec![], fold.behind as f64)],
        );
        Ok(out.text)
    }
}
