//! Placing an amount on its ladder: auto-approve, one of the bands, or above the top band.

use alloc::format;
use alloc::string::String;

use levee_policy_sdk::ApproverLevel;

use crate::params::{AboveTopBand, Ladder};

/// An approval to ask for: `approvals` distinct approvers at or above `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub level: ApproverLevel,
    pub approvals: u8,
}

/// Where an amount falls on a ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    /// At or below the auto-approve limit.
    AutoApprove,
    /// Within band `number` (1-based), up to `up_to`.
    Band { number: usize, up_to: i64, level: ApproverLevel },
    /// Above the last band, whose limit is `top`.
    AboveTopBand { top: i64, requirement: Requirement },
}

/// The rung `amount` takes on `ladder`: the first limit it does not exceed.
pub fn place(amount: i64, ladder: &Ladder, above_top_band: &AboveTopBand) -> Rung {
    if amount <= ladder.auto_approve_up_to {
        return Rung::AutoApprove;
    }
    let band = ladder.bands.iter().enumerate().find(|(_, band)| amount <= band.up_to);
    match band {
        Some((index, band)) => Rung::Band { number: index + 1, up_to: band.up_to, level: band.level.0 },
        None => Rung::AboveTopBand {
            top: ladder.bands.last().map_or(ladder.auto_approve_up_to, |band| band.up_to),
            requirement: Requirement { level: above_top_band.level.0, approvals: above_top_band.approvals },
        },
    }
}

impl Rung {
    /// What this rung asks for; `None` means auto-approve.
    pub fn requirement(&self) -> Option<Requirement> {
        match *self {
            Rung::AutoApprove => None,
            Rung::Band { level, .. } => Some(Requirement { level, approvals: 1 }),
            Rung::AboveTopBand { requirement, .. } => Some(requirement),
        }
    }

    /// The last part of the rule id: "auto", "band-2" or "above-top-band".
    pub fn rule_name(&self) -> String {
        match self {
            Rung::AutoApprove => "auto".into(),
            Rung::Band { number, .. } => format!("band-{number}"),
            Rung::AboveTopBand { .. } => "above-top-band".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Band;
    use alloc::vec;
    use levee_policy_sdk::LevelName;

    fn ladder() -> Ladder {
        Ladder {
            auto_approve_up_to: 100,
            bands: vec![
                Band { up_to: 200, level: LevelName(ApproverLevel::Lead) },
                Band { up_to: 300, level: LevelName(ApproverLevel::Finance) },
            ],
            rationale_above: 100,
            attachment_above: 200,
        }
    }

    const DUAL_DIRECTOR: AboveTopBand = AboveTopBand { level: LevelName(ApproverLevel::Director), approvals: 2 };

    #[test]
    fn limits_are_inclusive() {
        assert_eq!(place(100, &ladder(), &DUAL_DIRECTOR), Rung::AutoApprove);
        let band_1 = Rung::Band { number: 1, up_to: 200, level: ApproverLevel::Lead };
        assert_eq!(place(101, &ladder(), &DUAL_DIRECTOR), band_1);
        assert_eq!(place(200, &ladder(), &DUAL_DIRECTOR), band_1);
        assert_eq!(place(300, &ladder(), &DUAL_DIRECTOR).rule_name(), "band-2");
    }

    #[test]
    fn above_the_last_band_takes_the_above_top_band_requirement() {
        let rung = place(301, &ladder(), &DUAL_DIRECTOR);
        let dual = Requirement { level: ApproverLevel::Director, approvals: 2 };
        assert_eq!(rung, Rung::AboveTopBand { top: 300, requirement: dual });
        assert_eq!(rung.requirement(), Some(dual));
        assert_eq!(rung.rule_name(), "above-top-band");
    }
}
