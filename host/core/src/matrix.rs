//! The approval matrix: amount bands per kind and currency → approver level. It is the
//! threshold policy's parameters; the host keeps it to record its version in the ledger and to
//! hand it to the plugin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::CaseKind;
use crate::identity::ApproverLevel;

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

    pub fn to_params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
