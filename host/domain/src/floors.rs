//! Floors: what no policy chain can lower. They are set in configuration (`[floors]`), not by
//! any plugin, and the host applies them after the chain has decided: kinds that never
//! auto-approve, the most that may auto-approve per currency, and the lowest approver level
//! (and number of approvals) per amount band. A decision below a floor is raised to it, and the
//! decision records each floor that applied (`CaseDecision::floors`).
//!
//! Each part `[floors]` leaves out comes from the approval matrix: the kinds its
//! `never_auto_approve` names, its highest auto-approval limit per currency, and above its top
//! band its `above_top_band` requirement. So an approve-everything chain still cannot
//! auto-approve an override, or a $40,000 refund without two directors.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decision::{CaseDecision, Verdict, sla_due_at};
use crate::identity::ApproverLevel;
use crate::kind::CaseKind;
use crate::matrix::{ApprovalMatrix, Ladder};
use crate::money::Money;

/// The lowest requirement for amounts above `above` (minor units) in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelFloor {
    pub above: i64,
    pub level: ApproverLevel,
    #[serde(default = "one_approval")]
    pub approvals: u8,
}

fn one_approval() -> u8 {
    1
}

/// `[floors]` as written: each part left out comes from the approval matrix (`resolve`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FloorsConfig {
    /// Kinds that never auto-approve.
    pub never_auto_approve: Option<Vec<CaseKind>>,
    /// The most that auto-approves, per currency (minor units). A currency not listed never
    /// auto-approves.
    pub auto_approve_max: Option<BTreeMap<String, i64>>,
    /// The lowest requirement per amount band, per currency.
    pub min_levels: Option<BTreeMap<String, Vec<LevelFloor>>>,
}

impl FloorsConfig {
    /// The floors in force: what is written, and the matrix's for what is not.
    pub fn resolve(&self, matrix: &ApprovalMatrix) -> Floors {
        let derived = Floors::from_matrix(matrix);
        Floors {
            never_auto_approve: self.never_auto_approve.clone().unwrap_or(derived.never_auto_approve),
            auto_approve_max: self.auto_approve_max.clone().unwrap_or(derived.auto_approve_max),
            min_levels: self.min_levels.clone().unwrap_or(derived.min_levels),
        }
    }
}

/// The floors in force on every case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Floors {
    pub never_auto_approve: Vec<CaseKind>,
    pub auto_approve_max: BTreeMap<String, i64>,
    pub min_levels: BTreeMap<String, Vec<LevelFloor>>,
}

impl Floors {
    /// The matrix's own floors: its never-auto-approve kinds; per currency, the highest
    /// auto-approval limit of its ladders (kind ladders included) and, above the highest top
    /// band, its `above_top_band` requirement.
    pub fn from_matrix(matrix: &ApprovalMatrix) -> Floors {
        let mut ladders: BTreeMap<&String, Vec<&Ladder>> = BTreeMap::new();
        let kind_ladders = matrix.kind_ladders.values().flatten();
        for (currency, ladder) in matrix.ladders.iter().chain(kind_ladders) {
            ladders.entry(currency).or_default().push(ladder);
        }
        let most = |of: &dyn Fn(&Ladder) -> i64, ladders: &[&Ladder]| ladders.iter().map(|l| of(l)).max();
        let top_of = |ladder: &Ladder| ladder.bands.last().map_or(ladder.auto_approve_up_to, |band| band.up_to);
        let top = &matrix.above_top_band;
        Floors {
            never_auto_approve: matrix.never_auto_approve.clone(),
            auto_approve_max: ladders
                .iter()
                .filter_map(|(currency, of)| Some(((*currency).clone(), most(&|l| l.auto_approve_up_to, of)?)))
                .collect(),
            min_levels: ladders
                .iter()
                .filter_map(|(currency, of)| {
                    let above = most(&top_of, of)?;
                    Some(((*currency).clone(), vec![LevelFloor { above, level: top.level, approvals: top.approvals }]))
                })
                .collect(),
        }
    }

    /// What is wrong with these floors, each problem named by where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let currencies = self.auto_approve_max.keys().chain(self.min_levels.keys());
        for currency in currencies {
            if let Err(error) = crate::money::currency_exponent(currency) {
                problems.push(format!("floors: {currency}: {error}"));
            }
        }
        for (currency, max) in &self.auto_approve_max {
            if *max < 0 {
                problems.push(format!("floors.auto_approve_max.{currency}: must not be negative"));
            }
        }
        for (currency, bands) in &self.min_levels {
            for (index, band) in bands.iter().enumerate() {
                let place = format!("floors.min_levels.{currency}[{index}]");
                if band.above < 0 {
                    problems.push(format!("{place}.above: must not be negative"));
                }
                if band.approvals == 0 {
                    problems.push(format!("{place}.approvals: must be at least 1"));
                }
            }
        }
        problems
    }

    /// Raises `decision`, on a case of `kind` and `amount` submitted at `at`, to every floor it
    /// is below, and records each in `decision.floors`. A rejection stays a rejection.
    /// `sla_minutes` gives the SLA of a level, for a decision that had none.
    pub fn raise(
        &self,
        decision: &mut CaseDecision,
        kind: CaseKind,
        amount: &Money,
        sla_minutes: impl Fn(ApproverLevel) -> u32,
        at: DateTime<Utc>,
    ) {
        let mut requirement = match decision.verdict {
            Verdict::Reject => return,
            Verdict::AutoApprove => None,
            Verdict::RequireApproval { level, approvals_needed } => Some((level, approvals_needed)),
        };
        let mut applied = Vec::new();
        if requirement.is_none()
            && let Some(floor) = self.refuses_auto_approval(kind, amount)
        {
            requirement = Some((ApproverLevel::Lead, 1));
            applied.push(floor);
        }
        if let Some(band) = self.band_for(amount) {
            let below = requirement.is_none_or(|(level, approvals)| level < band.level || approvals < band.approvals);
            if below {
                let (level, approvals) = requirement.unwrap_or((band.level, band.approvals));
                requirement = Some((level.max(band.level), approvals.max(band.approvals)));
                applied.push(format!(
                    "floors.min_levels.{}: above {} needs {} approval x{}",
                    amount.currency,
                    Money { minor_units: band.above, currency: amount.currency.clone() },
                    band.level.as_str(),
                    band.approvals
                ));
            }
        }
        let Some((level, approvals_needed)) = requirement.filter(|_| !applied.is_empty()) else { return };
        decision.verdict = Verdict::RequireApproval { level, approvals_needed };
        decision.reasons.extend(applied.iter().map(|floor| format!("raised to a floor no policy can lower: {floor}")));
        decision.signals.insert("floor-applied".to_owned());
        let minutes = decision.sla_minutes.unwrap_or_else(|| sla_minutes(level));
        decision.sla_minutes = Some(minutes);
        decision.sla_due_at = sla_due_at(at, Some(minutes));
        decision.floors = applied;
    }

    /// The floor that forbids auto-approving this case, if one does.
    fn refuses_auto_approval(&self, kind: CaseKind, amount: &Money) -> Option<String> {
        if self.never_auto_approve.contains(&kind) {
            let kind = serde_json::to_value(kind).ok()?.as_str().unwrap_or_default().to_owned();
            return Some(format!("floors.never_auto_approve: {kind} never auto-approves"));
        }
        match self.auto_approve_max.get(&amount.currency) {
            Some(max) if amount.minor_units <= *max => None,
            Some(max) => Some(format!(
                "floors.auto_approve_max.{}: nothing above {} auto-approves",
                amount.currency,
                Money { minor_units: *max, currency: amount.currency.clone() }
            )),
            None => Some(format!("floors.auto_approve_max: nothing in {} auto-approves", amount.currency)),
        }
    }

    /// The strictest band this amount is above, if any.
    fn band_for(&self, amount: &Money) -> Option<LevelFloor> {
        let bands = self.min_levels.get(&amount.currency)?;
        bands
            .iter()
            .filter(|band| amount.minor_units > band.above)
            .max_by_key(|band| (band.level, band.approvals))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::combine;
    use crate::engine::{PolicyDecision, PolicyOutcome};
    use crate::fixtures::{at, evaluation};

    fn approve_everything() -> CaseDecision {
        let outcome = PolicyOutcome::AutoApprove;
        let yes =
            PolicyDecision { outcome, required_evidence: vec![], route: None, signals: vec![], rule_id: "yes".into() };
        combine(&[evaluation("yes", Ok(yes))], at())
    }

    fn usd(minor_units: i64) -> Money {
        Money { minor_units, currency: "USD".into() }
    }

    fn raised(kind: CaseKind, amount: Money) -> CaseDecision {
        let mut decision = approve_everything();
        Floors::from_matrix(&ApprovalMatrix::default_matrix()).raise(&mut decision, kind, &amount, |_| 60, at());
        decision
    }

    #[test]
    fn the_matrix_floors_stop_an_approve_everything_chain() {
        let big = raised(CaseKind::Refund, usd(4_000_000));
        assert_eq!(big.verdict, Verdict::RequireApproval { level: ApproverLevel::Director, approvals_needed: 2 });
        assert_eq!(big.floors.len(), 2, "{:?}", big.floors);
        assert!(big.floors[0].starts_with("floors.auto_approve_max.USD: nothing above 50.00 USD"));
        assert!(big.floors[1].starts_with("floors.min_levels.USD: above 25000.00 USD needs director approval x2"));
        assert!(big.signals.contains("floor-applied") && big.sla_due_at.is_some());

        let small_override = raised(CaseKind::Override, usd(1_000));
        assert_eq!(
            small_override.verdict,
            Verdict::RequireApproval { level: ApproverLevel::Lead, approvals_needed: 1 }
        );
        assert_eq!(small_override.floors, ["floors.never_auto_approve: override never auto-approves"]);

        let small_refund = raised(CaseKind::Refund, usd(4_000));
        assert_eq!((small_refund.verdict, small_refund.floors.len()), (Verdict::AutoApprove, 0));
    }

    #[test]
    fn a_stricter_decision_and_a_rejection_stay_as_they_are() {
        let floors = Floors::from_matrix(&ApprovalMatrix::default_matrix());
        let mut strict = approve_everything();
        strict.verdict = Verdict::RequireApproval { level: ApproverLevel::Director, approvals_needed: 3 };
        floors.raise(&mut strict, CaseKind::Refund, &usd(4_000_000), |_| 60, at());
        assert_eq!(strict.verdict, Verdict::RequireApproval { level: ApproverLevel::Director, approvals_needed: 3 });
        assert!(strict.floors.is_empty());
        let mut rejected = approve_everything();
        rejected.verdict = Verdict::Reject;
        floors.raise(&mut rejected, CaseKind::Override, &usd(4_000_000), |_| 60, at());
        assert_eq!(rejected.verdict, Verdict::Reject);
    }

    #[test]
    fn a_written_part_replaces_the_matrix_and_an_unlisted_currency_never_auto_approves() {
        let written =
            FloorsConfig { auto_approve_max: Some(BTreeMap::from([("EUR".into(), 100)])), ..Default::default() };
        let floors = written.resolve(&ApprovalMatrix::default_matrix());
        let mut decision = approve_everything();
        floors.raise(&mut decision, CaseKind::Refund, &usd(1), |_| 60, at());
        assert_eq!(decision.floors, ["floors.auto_approve_max: nothing in USD auto-approves"]);
        assert_eq!(floors.never_auto_approve, [CaseKind::Override, CaseKind::WriteOff], "from the matrix");
    }
}
