//! The approval matrix: amount bands per kind and currency → approver level. It is the
//! threshold policy's parameters; the host keeps it to record its version in the ledger and to
//! hand it to the plugin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identity::ApproverLevel;
use crate::kind::CaseKind;

/// One band of a ladder: amounts up to `up_to` (inclusive) need `level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    pub up_to: i64,
    pub level: ApproverLevel,
}

/// The bands for one currency (and optionally one kind), all in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ladder {
    pub auto_approve_up_to: i64,
    pub bands: Vec<Band>,
    pub rationale_above: i64,
    pub attachment_above: i64,
}

impl Ladder {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.auto_approve_up_to < 0 || self.rationale_above < 0 || self.attachment_above < 0 {
            problems.push("amounts must not be negative".to_owned());
        }
        if self.bands.is_empty() {
            problems.push("no bands: every amount above auto-approval would go to the top band".to_owned());
        }
        let mut floor = self.auto_approve_up_to;
        let mut previous_level: Option<ApproverLevel> = None;
        for (index, band) in self.bands.iter().enumerate() {
            if band.up_to <= floor {
                problems.push(format!(
                    "bands[{index}] (up to {}) overlaps what comes before it (up to {floor}): bands must rise strictly",
                    band.up_to
                ));
            }
            if previous_level.is_some_and(|previous| band.level < previous) {
                problems.push(format!(
                    "bands[{index}] asks for a lower level ({}) than the band below it",
                    band.level.as_str()
                ));
            }
            floor = floor.max(band.up_to);
            previous_level = Some(band.level);
        }
        problems
    }
}

/// What amounts above the last band need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopBand {
    pub level: ApproverLevel,
    pub approvals: u8,
}

/// The threshold policy's parameters. The shape is the plugin's contract: see
/// guest-policies/threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalMatrix {
    pub version: String,
    pub ladders: BTreeMap<String, Ladder>,
    #[serde(default)]
    pub kind_ladders: BTreeMap<CaseKind, BTreeMap<String, Ladder>>,
    pub above_top_band: TopBand,
    pub never_auto_approve: Vec<CaseKind>,
    pub customer_comms_for: Vec<CaseKind>,
    pub repeat_refunds_90d: u32,
    pub sla_minutes: BTreeMap<ApproverLevel, u32>,
}

impl ApprovalMatrix {
    /// The built-in matrix. In USD: up to $50 auto-approves, up to $500 a lead, $2,500 a
    /// manager, $10,000 finance, $25,000 a director, and above that two distinct directors.
    pub fn default_matrix() -> ApprovalMatrix {
        let ladder = Ladder {
            auto_approve_up_to: 5_000,
            bands: vec![
                Band { up_to: 50_000, level: ApproverLevel::Lead },
                Band { up_to: 250_000, level: ApproverLevel::Manager },
                Band { up_to: 1_000_000, level: ApproverLevel::Finance },
                Band { up_to: 2_500_000, level: ApproverLevel::Director },
            ],
            rationale_above: 5_000,
            attachment_above: 250_000,
        };
        let ladders = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY"]
            .into_iter()
            .map(|currency| (currency.to_owned(), ladder.clone()))
            .collect();
        let sla_minutes = [
            (ApproverLevel::Lead, 240),
            (ApproverLevel::Manager, 480),
            (ApproverLevel::Finance, 1440),
            (ApproverLevel::Director, 2880),
        ]
        .into_iter()
        .collect();
        ApprovalMatrix {
            version: "default-2026.11".to_owned(),
            ladders,
            kind_ladders: BTreeMap::new(),
            above_top_band: TopBand { level: ApproverLevel::Director, approvals: 2 },
            never_auto_approve: vec![CaseKind::Override, CaseKind::WriteOff],
            customer_comms_for: vec![CaseKind::Credit, CaseKind::Override],
            repeat_refunds_90d: 2,
            sla_minutes,
        }
    }

    /// The SLA of a level, in minutes (a day if the matrix does not say).
    pub fn sla_minutes(&self, level: ApproverLevel) -> u32 {
        self.sla_minutes.get(&level).copied().unwrap_or(1440)
    }

    /// What is wrong with the matrix, each problem named: a ladder for an unknown currency,
    /// bands that overlap or are out of order, a level that goes down as amounts go up.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let kind_ladders = self.kind_ladders.iter().flat_map(|(kind, ladders)| {
            ladders
                .iter()
                .map(move |(currency, ladder)| (format!("matrix.kind_ladders.{kind:?}.{currency}"), currency, ladder))
        });
        let ladders =
            self.ladders.iter().map(|(currency, ladder)| (format!("matrix.ladders.{currency}"), currency, ladder));
        for (place, currency, ladder) in ladders.chain(kind_ladders) {
            if let Err(error) = crate::money::currency_exponent(currency) {
                problems.push(format!("{place}: {error}"));
            }
            problems.extend(ladder.problems().into_iter().map(|problem| format!("{place}: {problem}")));
        }
        if self.above_top_band.approvals == 0 {
            problems.push("matrix.above_top_band.approvals: must be at least 1".to_owned());
        }
        problems
    }

    pub fn to_params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
