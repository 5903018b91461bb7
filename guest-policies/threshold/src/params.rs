//! The threshold policy's params (the approval matrix), the checks serde cannot do, and
//! the lookups the rules need. The JSON Schema that `describe()` returns is in `schema.rs`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use levee_policy_sdk::{ApproverLevel, CaseKind, KindName, LevelName, PolicyError};
use serde::Deserialize;

/// The approval matrix. Amounts are integer minor units of the ladder's currency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdParams {
    /// The matrix's version, e.g. "default-2026.11".
    pub version: String,
    /// The ladder for each currency ("USD").
    pub ladders: BTreeMap<String, Ladder>,
    /// Ladders that replace `ladders` for one kind and currency.
    #[serde(default)]
    pub kind_ladders: BTreeMap<KindName, BTreeMap<String, Ladder>>,
    /// What an amount above the last band of its ladder needs.
    pub above_top_band: AboveTopBand,
    /// Kinds that need at least lead approval however small the amount.
    pub never_auto_approve: Vec<KindName>,
    /// Kinds that always need a reviewed customer-impact message.
    pub customer_comms_for: Vec<KindName>,
    /// A refund escalates one level when the customer had at least this many refunds in
    /// the 90 days before.
    pub repeat_refunds_90d: u32,
    /// The SLA of each approver level, in minutes.
    pub sla_minutes: BTreeMap<LevelName, u32>,
}

/// The approval ladder of one currency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// Amounts up to this (inclusive) auto-approve.
    pub auto_approve_up_to: i64,
    /// Bands in strictly ascending `up_to` order; an amount takes the first band it fits.
    pub bands: Vec<Band>,
    /// Amounts above this need the requester's rationale.
    pub rationale_above: i64,
    /// Amounts above this need an attachment.
    pub attachment_above: i64,
}

/// Amounts up to `up_to` (inclusive) need approval at `level`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub up_to: i64,
    pub level: LevelName,
}

/// The approval needed above the top band.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AboveTopBand {
    pub level: LevelName,
    pub approvals: u8,
}

impl ThresholdParams {
    /// The ladder for a case: the kind's own ladder for the currency if there is one, else
    /// the currency's.
    pub fn ladder_for(&self, kind: CaseKind, currency: &str) -> Option<&Ladder> {
        self.kind_ladders
            .get(&KindName(kind))
            .and_then(|ladders| ladders.get(currency))
            .or_else(|| self.ladders.get(currency))
    }

    pub fn never_auto_approves(&self, kind: CaseKind) -> bool {
        self.never_auto_approve.contains(&KindName(kind))
    }

    pub fn requires_customer_comms(&self, kind: CaseKind) -> bool {
        self.customer_comms_for.contains(&KindName(kind))
    }

    pub fn sla_minutes_for(&self, level: ApproverLevel) -> Option<u32> {
        self.sla_minutes.get(&LevelName(level)).copied()
    }

    /// Checks what serde cannot: a non-empty version, sensible ladders, at least one
    /// approval above the top band.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version.trim().is_empty() {
            return Err(invalid("version must not be empty"));
        }
        if self.above_top_band.approvals < 1 {
            return Err(invalid("above_top_band.approvals must be at least 1"));
        }
        for (currency, ladder) in &self.ladders {
            ladder.validate(&format!("ladders.{currency}"))?;
        }
        for (kind, ladders) in &self.kind_ladders {
            for (currency, ladder) in ladders {
                ladder.validate(&format!("kind_ladders.{}.{currency}", kind.0.name()))?;
            }
        }
        Ok(())
    }
}

impl Ladder {
    /// The ladder needs at least one band, and the auto-approve limit and the bands' `up_to`
    /// must be strictly ascending (otherwise some band could never apply).
    fn validate(&self, path: &str) -> Result<(), PolicyError> {
        let Some(first) = self.bands.first() else {
            return Err(invalid(&format!("{path}.bands must list at least one band")));
        };
        if self.auto_approve_up_to >= first.up_to {
            return Err(invalid(&format!(
                "{path}: auto_approve_up_to ({}) must be below band 1's up_to ({})",
                self.auto_approve_up_to, first.up_to
            )));
        }
        for (index, pair) in self.bands.windows(2).enumerate() {
            if pair[1].up_to <= pair[0].up_to {
                return Err(invalid(&format!(
                    "{path}.bands must be strictly ascending: band {} (up_to {}) follows band {} \
                     (up_to {})",
                    index + 2,
                    pair[1].up_to,
                    index + 1,
                    pair[0].up_to
                )));
            }
        }
        Ok(())
    }
}

fn invalid(message: &str) -> PolicyError {
    PolicyError::InvalidParams(message.into())
}
