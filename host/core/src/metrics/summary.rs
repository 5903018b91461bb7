//! The dashboard's summary: headline figures with their change against the baseline, and the
//! signals worth a look (rubber-stamping, outliers, leakage, drift, overdue remediation).

use serde::Serialize;
use utoipa::ToSchema;

use super::baseline::Baseline;
use super::derive::format_major;
use super::query::{self, Loaded, OutlierReport};
use super::slice::{LeakCause, Slice};
use crate::money::Money;

/// One headline figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Headline {
    pub id: String,
    pub label: String,
    pub value: String,
    pub detail: String,
    /// The change against the team's baseline weeks, if it has one, e.g. `-18%`.
    pub change_vs_baseline: Option<String>,
    /// Which way is better: `lower` (leakage, cycle time, exceptions) or `higher`.
    pub better_when: String,
}

/// Something worth a look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Signal {
    /// `rubber_stamp`, `approver_outlier`, `over_authority`, `leakage`, `team_outlier`,
    /// `repeat_customer`, `drift`, `remediation_overdue`.
    pub kind: String,
    /// `red`, `amber` or `info`.
    pub severity: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub team: Option<String>,
    /// Every team with figures, for choosing one.
    pub teams: Vec<String>,
    pub headline: Vec<Headline>,
    pub signals: Vec<Signal>,
    pub baseline: Option<Baseline>,
}

/// The figures a headline compares: one scope's, per week where they are totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub weeks: f64,
    pub leakage: Option<Money>,
    pub p50_cycle_seconds: Option<u64>,
    pub p90_cycle_seconds: Option<u64>,
    pub evidence_share: Option<f64>,
    pub cases: u64,
    pub auto_approved: u64,
    pub actionable_share: Option<f64>,
}

impl Figures {
    /// `total` covers `weeks` weeks; leakage is taken in `currency`.
    pub fn of(total: &Slice, weeks: f64, currency: Option<&str>, actionable: &dyn Fn(&str) -> bool) -> Figures {
        let cycle = total.cycle.get("all");
        let leakage = currency.map(|currency| Money {
            minor_units: total
                .leakage
                .iter()
                .filter(|leak| leak.currency == currency)
                .map(|leak| leak.minor_units)
                .sum(),
            currency: currency.to_owned(),
        });
        let actionable_cases: u64 =
            total.by_code.iter().filter(|(code, _)| actionable(code)).map(|(_, figures)| figures.cases).sum();
        Figures {
            weeks: weeks.max(1.0 / 7.0),
            leakage,
            p50_cycle_seconds: cycle.and_then(|histogram| histogram.percentile(0.5)),
            p90_cycle_seconds: cycle.and_then(|histogram| histogram.percentile(0.9)),
            evidence_share: (total.decided > 0).then(|| total.complete as f64 / total.decided as f64),
            cases: total.cases,
            auto_approved: total.outcomes.auto_approved,
            actionable_share: (total.cases > 0).then(|| actionable_cases as f64 / total.cases as f64),
        }
    }

    fn leakage_per_week(&self) -> Option<f64> {
        self.leakage.as_ref().map(|money| money.minor_units as f64 / self.weeks)
    }
}

/// Seconds as the largest sensible unit: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
pub fn format_duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7_199 => format!("{} min", seconds / 60),
        7_200..=172_799 => format!("{:.1} h", seconds as f64 / 3_600.0),
        _ => format!("{:.1} d", seconds as f64 / 86_400.0),
    }
}

/// A weekly rate: whole numbers from 10 up, one decimal below.
fn per_week_figure(rate: f64) -> String {
    if rate >= 10.0 { format!("{rate:.0}") } else { format!("{rate:.1}") }
}

fn relative_change(now: Option<f64>, then: Option<f64>) -> Option<String> {
    match (now, then) {
        (Some(now), Some(then)) if then != 0.0 => Some(format!("{:+.0}%", (now / then - 1.0) * 100.0)),
        (Some(0.0), Some(_)) => Some("±0%".to_owned()),
        _ => None,
    }
}

fn point_change(now: Option<f64>, then: Option<f64>) -> Option<String> {
    Some(format!("{:+.1} pts", (now? - then?) * 100.0))
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |share| format!("{:.1}%", share * 100.0))
}

/// The headline figures, each against the baseline's when there is one.
pub fn headline(now: &Figures, baseline: Option<&Figures>) -> Vec<Headline> {
    let then = |get: &dyn Fn(&Figures) -> Option<f64>| baseline.and_then(get);
    let leakage_value = now.leakage.as_ref().map_or_else(|| "–".to_owned(), format_major);
    let per_week = now.leakage_per_week().map(|per_week| per_week.round() as i64);
    let per_week_text = match (&now.leakage, per_week) {
        (Some(money), Some(minor_units)) => {
            format!("{} per week", format_major(&Money { minor_units, currency: money.currency.clone() }))
        }
        _ => "no cases yet".to_owned(),
    };
    let auto_share = (now.cases > 0).then(|| now.auto_approved as f64 / now.cases as f64);
    vec![
        Headline {
            id: "leakage".into(),
            label: "Refund leakage".into(),
            value: leakage_value,
            detail: per_week_text,
            better_when: "lower".into(),
            change_vs_baseline: relative_change(now.leakage_per_week(), then(&|f| f.leakage_per_week())),
        },
        Headline {
            id: "cycle-time".into(),
            label: "Approval cycle time (p50)".into(),
            value: now.p50_cycle_seconds.map_or_else(|| "–".to_owned(), format_duration),
            detail: format!("p90 {}", now.p90_cycle_seconds.map_or_else(|| "–".to_owned(), format_duration)),
            better_when: "lower".into(),
            change_vs_baseline: relative_change(
                now.p50_cycle_seconds.map(|s| s as f64),
                then(&|f| f.p50_cycle_seconds.map(|s| s as f64)),
            ),
        },
        Headline {
            id: "evidence".into(),
            label: "Evidence completeness".into(),
            value: percent(now.evidence_share),
            detail: "decided cases with every required piece of evidence".into(),
            better_when: "higher".into(),
            change_vs_baseline: point_change(now.evidence_share, then(&|f| f.evidence_share)),
        },
        Headline {
            id: "cases".into(),
            label: "Exceptions".into(),
            value: now.cases.to_string(),
            detail: format!(
                "{} per week · {} auto-approved",
                per_week_figure(now.cases as f64 / now.weeks),
                percent(auto_share)
            ),
            better_when: "lower".into(),
            change_vs_baseline: relative_change(
                Some(now.cases as f64 / now.weeks),
                then(&|f| Some(f.cases as f64 / f.weeks)),
            ),
        },
        Headline {
            id: "actionable".into(),
            label: "With an actionable code".into(),
            value: percent(now.actionable_share),
            detail: "cases whose code has a playbook".into(),
            better_when: "higher".into(),
            change_vs_baseline: point_change(now.actionable_share, then(&|f| f.actionable_share)),
        },
    ]
}

pub(crate) fn signal(kind: &str, severity: &str, subject: &str, detail: String) -> Signal {
    Signal { kind: kind.into(), severity: severity.into(), subject: subject.into(), detail }
}

/// Approvers who approve fast, and those whose rate or amounts stand out.
pub(crate) fn approver_signals(outliers: &OutlierReport) -> Vec<Signal> {
    let mut signals = Vec::new();
    for line in &outliers.approvers {
        let fast_flagged = line.z_fast_share.is_some_and(|z| z >= outliers.outlier_z);
        if fast_flagged || line.fast_without_rationale > 0 {
            let severity = if fast_flagged && line.fast_share.unwrap_or(0.0) >= 0.5 { "red" } else { "amber" };
            let detail = format!(
                "{} of {} approvals within {} s ({} without a rationale); median wait {}",
                line.fast_approvals,
                line.approvals,
                outliers.fast_approval_seconds,
                line.fast_without_rationale,
                line.p50_wait_seconds.map_or_else(|| "–".to_owned(), format_duration)
            );
            signals.push(signal("rubber_stamp", severity, &line.approver, detail));
        }
        let other_flags: Vec<&String> = line.flags.iter().filter(|flag| !flag.contains("approvals within")).collect();
        if !other_flags.is_empty() {
            let detail = other_flags.iter().map(|flag| flag.as_str()).collect::<Vec<_>>().join("; ");
            signals.push(signal("approver_outlier", "amber", &line.approver, detail));
        }
    }
    signals
}

pub(crate) fn leakage_signals(total: &Slice) -> Vec<Signal> {
    let mut signals = Vec::new();
    for cause in LeakCause::ALL {
        let leaks: Vec<_> = total.leakage.iter().filter(|leak| leak.cause == cause && leak.count > 0).collect();
        let currencies: std::collections::BTreeSet<&str> = leaks.iter().map(|leak| leak.currency.as_str()).collect();
        for currency in currencies {
            let in_currency = leaks.iter().filter(|leak| leak.currency == currency);
            let (count, minor_units) =
                in_currency.fold((0, 0), |(count, sum), leak| (count + leak.count, sum + leak.minor_units));
            let severity = if matches!(cause, LeakCause::OverAuthority | LeakCause::Silent) { "red" } else { "amber" };
            let kind = if cause == LeakCause::OverAuthority { "over_authority" } else { "leakage" };
            let amount = format_major(&Money { minor_units, currency: currency.to_owned() });
            signals.push(signal(kind, severity, cause.as_str(), format!("{count} × {}: {amount}", cause.as_str())));
        }
    }
    signals
}

pub(crate) fn other_signals(outliers: &OutlierReport, drift: &query::DriftReport) -> Vec<Signal> {
    let mut signals = Vec::new();
    for team in outliers.teams.iter().filter(|team| team.flagged) {
        let detail = format!(
            "{:.1} cases per requester (z {:+.1}) against the other teams",
            team.cases_per_requester.unwrap_or(0.0),
            team.z.unwrap_or(0.0)
        );
        signals.push(signal("team_outlier", "amber", &team.team, detail));
    }
    for repeat in outliers.repeats.iter().take(5) {
        let detail = format!("{} cases with {} ({})", repeat.count, repeat.code, repeat.team);
        signals.push(signal("repeat_customer", "info", &repeat.customer, detail));
    }
    if let Some(latest) = &drift.latest {
        for flag in &latest.flags {
            signals.push(signal("drift", "amber", &latest.week, flag.clone()));
        }
    }
    signals
}

/// The loaded slices of `weeks` weeks as summary figures (for the monthly review).
pub fn figures_of(loaded: &Loaded, weeks: f64, actionable: &dyn Fn(&str) -> bool) -> Figures {
    let total = loaded.total();
    Figures::of(&total, weeks, query::main_currency(&total).as_deref(), actionable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(45), "45 s");
        assert_eq!(format_duration(720), "12 min");
        assert_eq!(format_duration(12_600), "3.5 h");
        assert_eq!(format_duration(181_440), "2.1 d");
    }
}
