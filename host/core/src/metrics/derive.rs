//! What each ledger entry adds to the metrics: the effects on its team's slice of its period,
//! derived from the entry and the subject's state after it (the ledger slot holds both).
//!
//! Cases give submissions, approvals, rejections, escalations and decisions, with the leak
//! causes a decision can carry; executions give the leakage of their reconciliation findings,
//! as the difference between the findings before and after the entry.

use chrono::{DateTime, Utc};

use super::MetricsSettings;
use super::slice::{ApprovalGiven, Decided, Effect, Leak, LeakCause};
use crate::case::{Approval, Case, CaseStatus};
use crate::ledger::{EventType, LedgerEntry};
use crate::matrix::ApprovalMatrix;
use crate::money::Money;
use crate::reconcile::{ExecutionRecord, Finding, FindingKind};
use crate::store::StoreError;
use crate::subject::Subject;

/// Where leakage no case explains is counted.
pub const UNMATCHED: &str = "unmatched";

/// Effects on one team's slice at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub at: DateTime<Utc>,
    pub team: String,
    pub effects: Vec<Effect>,
}

/// What deriving needs besides the entry: the settings, and lookups into the store.
pub struct DeriveContext<'a> {
    pub matrix: &'a ApprovalMatrix,
    pub settings: &'a MetricsSettings,
    /// The case a finding names, as it stands now. A store error fails the fold's batch, which
    /// is retried: a guess here would be frozen into the slices.
    pub case: &'a dyn Fn(&str) -> Result<Option<Case>, StoreError>,
    /// An execution as it stood before this entry (`None`: this is its first entry).
    pub previous_execution: &'a dyn Fn(&ExecutionRecord) -> Result<Option<ExecutionRecord>, StoreError>,
}

/// The contributions of one entry (none for subjects metrics do not count).
pub fn contributions(
    entry: &LedgerEntry,
    subject: &Subject,
    context: &DeriveContext<'_>,
) -> Result<Vec<Contribution>, StoreError> {
    Ok(match subject {
        Subject::Case(case) => case_contributions(entry, case, context).into_iter().collect(),
        Subject::Execution(record) => execution_contributions(record, context)?,
        _ => Vec::new(),
    })
}

fn case_contributions(entry: &LedgerEntry, case: &Case, context: &DeriveContext<'_>) -> Option<Contribution> {
    let band = band_label(context.matrix, case);
    let mut effects = Vec::new();
    match entry.event {
        EventType::CaseSubmitted => effects.push(Effect::Submitted {
            code: case.exception_code.clone(),
            band: band.clone(),
            currency: case.amount.currency.clone(),
            minor_units: case.amount.minor_units,
            requester: case.requester.clone(),
        }),
        // An approval short of the count (`approval_recorded`) counts for its approver as
        // much as the one that completes it.
        EventType::CaseApproved | EventType::ApprovalRecorded => {
            effects.extend(case.approvals.last().map(|approval| approval_given(case, approval, context.settings)));
        }
        EventType::CaseRejected => effects.extend(case.closure.as_ref().map(|closure| Effect::Rejection {
            approver: closure.by.clone(),
            // The level the rejecter acted with, as the entry records it.
            level: entry.authority.as_ref().map(|authority| authority.level).or_else(|| decision_level(case)),
        })),
        EventType::CaseEscalated => effects.push(Effect::Escalated { code: case.exception_code.clone() }),
        _ => {}
    }
    if crate::projections::decided_by(entry, case) {
        effects.push(Effect::Decided(decided(case, &band)));
        effects.extend(decision_leak(case, &band, context.settings).map(Effect::Leak));
    }
    (!effects.is_empty()).then(|| Contribution { at: entry.at, team: case.team.clone(), effects })
}

/// The level a case's decision asked for, if it asked for one.
fn decision_level(case: &Case) -> Option<crate::identity::ApproverLevel> {
    match case.decision.verdict {
        crate::decision::Verdict::RequireApproval { level, .. } => Some(level),
        _ => None,
    }
}

fn decided(case: &Case, band: &str) -> Decided {
    let by_a_person = matches!(case.status, CaseStatus::Approved | CaseStatus::Rejected);
    let cycle_seconds = case
        .decided_at
        .filter(|_| by_a_person)
        .map(|decided_at| (decided_at - case.submitted_at).num_seconds().max(0) as u64);
    let decider = match case.status {
        CaseStatus::Approved => case.approvals.last().map(|approval| approval.approver.clone()),
        CaseStatus::Rejected => case.closure.as_ref().map(|closure| closure.by.clone()),
        _ => None,
    };
    Decided {
        code: case.exception_code.clone(),
        band: band.to_owned(),
        status: case.status,
        complete: case.missing_evidence().is_empty(),
        cycle_seconds,
        decider,
    }
}

/// Seconds from the case reaching the approver (its submission, the approval before, or the
/// escalation that brought it to their level, whichever came last) to this approval.
fn wait_seconds(case: &Case, approval: &Approval) -> u64 {
    let approvals = case.approvals.iter().map(|earlier| earlier.at);
    let escalations = case.escalations.iter().map(|escalation| escalation.at);
    let reached = approvals
        .chain(escalations)
        .filter(|at| *at < approval.at)
        .max()
        .unwrap_or(case.submitted_at)
        .max(case.submitted_at);
    (approval.at - reached).num_seconds().max(0) as u64
}

/// A rationale of fewer than three words (`ok`, `approved`, `lgtm`) explains nothing: the
/// API requires one, so a rubber stamp shows as a token one.
pub fn lacks_rationale(rationale: &str) -> bool {
    rationale.split_whitespace().count() < 3
}

fn is_fast(case: &Case, approval: &Approval, settings: &MetricsSettings) -> bool {
    wait_seconds(case, approval) < settings.fast_approval_seconds
}

fn over_authority(case: &Case, approval: &Approval) -> bool {
    approval.authority.limit_minor_units.is_none_or(|limit| limit < case.amount.minor_units)
}

fn approval_given(case: &Case, approval: &Approval, settings: &MetricsSettings) -> Effect {
    Effect::Approval(ApprovalGiven {
        approver: approval.approver.clone(),
        level: approval.authority.level,
        currency: case.amount.currency.clone(),
        minor_units: case.amount.minor_units,
        wait_seconds: wait_seconds(case, approval),
        fast: is_fast(case, approval, settings),
        without_rationale: lacks_rationale(&approval.rationale),
        over_authority: over_authority(case, approval),
    })
}

/// The leak a granted case carries, counted once under its first cause in the order: above
/// authority, missing evidence, fast without a rationale; blamed on the approver whose approval
/// carried the cause (the last approver for missing evidence).
fn decision_leak(case: &Case, band: &str, settings: &MetricsSettings) -> Option<Leak> {
    if !matches!(case.status, CaseStatus::Approved | CaseStatus::AutoApproved) {
        return None;
    }
    let who = |approval: &Approval| approval.approver.clone();
    let (cause, approver) = if let Some(approval) = case.approvals.iter().find(|a| over_authority(case, a)) {
        (LeakCause::OverAuthority, who(approval))
    } else if !case.missing_evidence().is_empty() {
        (LeakCause::MissingEvidence, last_approver(case))
    } else if let Some(approval) =
        case.approvals.iter().find(|a| is_fast(case, a, settings) && lacks_rationale(&a.rationale))
    {
        (LeakCause::FastWithoutRationale, who(approval))
    } else {
        return None;
    };
    Some(Leak {
        currency: case.amount.currency.clone(),
        cause,
        band: band.to_owned(),
        code: case.exception_code.clone(),
        approver,
        minor_units: case.amount.minor_units,
        count: 1,
    })
}

/// Who had approved the case last when a finding about it was opened (`pending` if nobody
/// had): fixed by timestamps, so the finding is taken out under the same name it was counted
/// under, however late either is folded.
fn approver_when(case: &Case, at: DateTime<Utc>) -> String {
    if case.status == CaseStatus::AutoApproved {
        return "auto".to_owned();
    }
    let mut approvals = case.approvals.iter().rev().filter(|approval| approval.at <= at);
    approvals.next().map_or_else(|| "pending".to_owned(), |approval| approval.approver.clone())
}

fn last_approver(case: &Case) -> String {
    case.approvals.last().map_or_else(|| "auto".to_owned(), |approval| approval.approver.clone())
}

/// The leakage an execution entry adds: the open findings it opened, less those it closed or
/// changed. A finding that stays as it was adds nothing; one that leaves is taken out where it
/// was counted (by the execution as it stood then).
fn execution_contributions(
    record: &ExecutionRecord,
    context: &DeriveContext<'_>,
) -> Result<Vec<Contribution>, StoreError> {
    let previous = (context.previous_execution)(record)?;
    let open = |record: &ExecutionRecord| -> Vec<Finding> {
        record.findings.iter().filter(|finding| finding.resolved_at.is_none()).cloned().collect()
    };
    let now = open(record);
    let before = previous.as_ref().map(open).unwrap_or_default();
    let mut contributions = Vec::new();
    for finding in now.iter().filter(|finding| !before.contains(finding)) {
        contributions.extend(finding_leak(record, finding, 1, context)?);
    }
    if let Some(previous) = &previous {
        for finding in before.iter().filter(|finding| !now.contains(finding)) {
            contributions.extend(finding_leak(previous, finding, -1, context)?);
        }
    }
    Ok(contributions)
}

fn finding_cause(kind: FindingKind) -> Option<LeakCause> {
    match kind {
        FindingKind::Silent => Some(LeakCause::Silent),
        FindingKind::Overage => Some(LeakCause::Overage),
        FindingKind::Duplicate => Some(LeakCause::Duplicate),
        FindingKind::ExecutedBeforeApproval | FindingKind::RefundDiscrepancy => None,
    }
}

/// A finding's leak, attributed to its case's team, band, code and approver when it names
/// one, and dated when the money left.
fn finding_leak(
    record: &ExecutionRecord,
    finding: &Finding,
    sign: i64,
    context: &DeriveContext<'_>,
) -> Result<Option<Contribution>, StoreError> {
    let Some(cause) = finding_cause(finding.kind) else { return Ok(None) };
    let case = match finding.case_id.as_deref().or(record.case_id.as_deref()) {
        Some(id) => (context.case)(id)?,
        None => None,
    };
    let (team, band, code, approver) = match &case {
        Some(case) => (
            case.team.clone(),
            band_label(context.matrix, case),
            case.exception_code.clone(),
            approver_when(case, finding.opened_at),
        ),
        None => (UNMATCHED.to_owned(), UNMATCHED.to_owned(), UNMATCHED.to_owned(), UNMATCHED.to_owned()),
    };
    let leak = Leak {
        currency: finding.amount.currency.clone(),
        cause,
        band,
        code,
        approver,
        minor_units: sign * finding.amount.minor_units,
        count: sign,
    };
    Ok(Some(Contribution { at: record.report.executed_at, team, effects: vec![Effect::Leak(leak)] }))
}

/// The threshold band of a case's amount in the matrix, e.g. `lead ≤ 500.00 USD`,
/// `auto ≤ 50.00 USD` or `director×2 > 25,000.00 USD`.
pub fn band_label(matrix: &ApprovalMatrix, case: &Case) -> String {
    let currency = &case.amount.currency;
    let ladder = matrix
        .kind_ladders
        .get(&case.kind)
        .and_then(|ladders| ladders.get(currency))
        .or_else(|| matrix.ladders.get(currency));
    let Some(ladder) = ladder else { return format!("no ladder ({currency})") };
    let amount = case.amount.minor_units;
    let show = |minor_units: i64| format_major(&Money { minor_units, currency: currency.clone() });
    if amount <= ladder.auto_approve_up_to {
        return format!("auto ≤ {}", show(ladder.auto_approve_up_to));
    }
    match ladder.bands.iter().find(|band| amount <= band.up_to) {
        Some(band) => format!("{} ≤ {}", band.level.as_str(), show(band.up_to)),
        None => {
            let top = ladder.bands.last().map_or(ladder.auto_approve_up_to, |band| band.up_to);
            let level = &matrix.above_top_band;
            format!("{}×{} > {}", level.level.as_str(), level.approvals, show(top))
        }
    }
}

/// An amount in major units with thousands separators and its code: `2,500.00 USD`, `900 JPY`.
pub fn format_major(money: &Money) -> String {
    let exponent = u32::from(money.exponent());
    let divisor = 10_i64.pow(exponent);
    let sign = if money.minor_units < 0 { "-" } else { "" };
    let magnitude = money.minor_units.unsigned_abs();
    let whole = magnitude / divisor.unsigned_abs();
    let fraction = magnitude % divisor.unsigned_abs();
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if exponent == 0 {
        format!("{sign}{grouped} {}", money.currency)
    } else {
        format!("{sign}{grouped}.{fraction:0width$} {}", money.currency, width = exponent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_units_are_grouped_by_the_currency_exponent() {
        let money = |minor_units, currency: &str| Money { minor_units, currency: currency.to_owned() };
        assert_eq!(format_major(&money(250_000, "USD")), "2,500.00 USD");
        assert_eq!(format_major(&money(5, "USD")), "0.05 USD");
        assert_eq!(format_major(&money(-123_456_789, "EUR")), "-1,234,567.89 EUR");
        assert_eq!(format_major(&money(900, "JPY")), "900 JPY");
        assert_eq!(format_major(&money(1_000, "JPY")), "1,000 JPY");
    }
}
