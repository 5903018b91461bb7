//! Scorecards: red, amber or green per exception code and per owner team, over the last
//! `SCORECARD_DAYS`, from three things a process owner answers for:
//!
//! - remediation: the code's current item (red while open or overdue, amber while worked on,
//!   green when verified or when there is none);
//! - SLA health: the share of the window's cases that went past their SLA (escalations per
//!   case): red above 20%, amber above 5%;
//! - evidence completeness: the share of the window's decided cases that carried every piece of
//!   evidence their decision required: red below 80%, amber below 95%.
//!
//! The card takes the worst of the three. A team's card adds up its codes' figures and takes
//! the worst remediation colour among them. Everything comes from maintained records (the
//! per-code day buckets and the remediation index), never from scanning cases.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::remediation::{Rag, RemediationItem, WindowFigures};

/// The window a scorecard covers.
pub const SCORECARD_DAYS: u32 = 30;
const SLA_RED_ABOVE: f64 = 0.20;
const SLA_AMBER_ABOVE: f64 = 0.05;
const EVIDENCE_RED_BELOW: f64 = 0.80;
const EVIDENCE_AMBER_BELOW: f64 = 0.95;

/// One scorecard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scorecard {
    /// The code, or the team.
    pub name: String,
    pub rag: Rag,
    /// Why it has that colour, one line per reason (empty when green).
    pub reasons: Vec<String>,
    pub cases: u64,
    pub escalations: u64,
    /// Escalations per case, if there were cases.
    pub escalation_rate: Option<f64>,
    pub decided: u64,
    pub complete: u64,
    /// Decided cases with all their evidence, per decided case, if any were decided.
    pub evidence_completeness: Option<f64>,
    pub remediation: Rag,
    /// The open remediation items, by id.
    pub open_items: Vec<String>,
}

/// Every code's and every team's scorecard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scorecards {
    pub window_days: u32,
    pub as_of: DateTime<Utc>,
    pub codes: Vec<Scorecard>,
    pub teams: Vec<Scorecard>,
}

pub(crate) fn empty(now: DateTime<Utc>) -> WindowFigures {
    crate::projections::CodeStats::default().window(now, SCORECARD_DAYS)
}

/// The card of `figures` and the remediation `items` (newest first) behind them.
pub(crate) fn card(name: &str, figures: &WindowFigures, items: &[&RemediationItem], now: DateTime<Utc>) -> Scorecard {
    let escalation_rate =
        (figures.counts.cases > 0).then(|| figures.counts.escalations as f64 / figures.counts.cases as f64);
    let evidence_completeness =
        (figures.counts.decided > 0).then(|| figures.counts.complete as f64 / figures.counts.decided as f64);
    let remediation = items.iter().map(|item| item.rag(now)).max().unwrap_or(Rag::Green);
    let mut reasons = Vec::new();
    let mut rag = remediation;
    if remediation != Rag::Green {
        reasons.push(format!("remediation is {}", name_of(remediation)));
    }
    if let Some(rate) = escalation_rate {
        let colour = if rate > SLA_RED_ABOVE {
            Rag::Red
        } else if rate > SLA_AMBER_ABOVE {
            Rag::Amber
        } else {
            Rag::Green
        };
        if colour != Rag::Green {
            reasons.push(format!("{:.0}% of cases went past their SLA", rate * 100.0));
        }
        rag = rag.max(colour);
    }
    if let Some(share) = evidence_completeness {
        let colour = if share < EVIDENCE_RED_BELOW {
            Rag::Red
        } else if share < EVIDENCE_AMBER_BELOW {
            Rag::Amber
        } else {
            Rag::Green
        };
        if colour != Rag::Green {
            reasons.push(format!("{:.0}% of decided cases had all their evidence", share * 100.0));
        }
        rag = rag.max(colour);
    }
    Scorecard {
        name: name.to_owned(),
        rag,
        reasons,
        cases: figures.counts.cases,
        escalations: figures.counts.escalations,
        escalation_rate,
        decided: figures.counts.decided,
        complete: figures.counts.complete,
        evidence_completeness,
        remediation,
        open_items: items.iter().filter(|item| item.rag(now) != Rag::Green).map(|item| item.id.clone()).collect(),
    }
}

fn name_of(rag: Rag) -> &'static str {
    match rag {
        Rag::Green => "green",
        Rag::Amber => "amber",
        Rag::Red => "red",
    }
}
