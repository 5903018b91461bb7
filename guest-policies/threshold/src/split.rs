//! Split refunds: a refund on an order that already had refunds granted in the history window
//! is placed on the ladder by the order's total, this refund included, when that asks for more
//! than the refund alone. So two 49.00 USD refunds on one order, under a 50.00 USD
//! auto-approve limit, do not both auto-approve: the second asks for what 98.00 USD asks for.

use levee_policy_sdk::{CaseKind, Facts, RefundsGranted};

use crate::ladder::{self, Requirement, Rung};
use crate::params::{AboveTopBand, Ladder};

/// The signal given when the order's total, not the refund alone, set the requirement.
pub const SPLIT_REFUND_SIGNAL: &str = "split-refund";

/// A refund's order, with the refunds granted on it before, and where its total lands.
#[derive(Debug)]
pub struct OrderTotal {
    pub earlier: RefundsGranted,
    /// This refund and the earlier ones, in minor units of its currency.
    pub total: i64,
    pub rung: Rung,
}

/// The order's total and its rung, if `facts` are a refund on an order with earlier refunds
/// in its currency and that total asks for more than `alone` (the refund's own rung).
pub fn order_total_asking_more(
    facts: &Facts,
    ladder: &Ladder,
    above_top_band: &AboveTopBand,
    alone: &Rung,
) -> Option<OrderTotal> {
    let earlier = facts.history.order.filter(|earlier| earlier.refunded_minor_units > 0)?;
    if facts.kind != CaseKind::Refund {
        return None;
    }
    let total = facts.amount.minor_units.saturating_add(earlier.refunded_minor_units);
    let rung = ladder::place(total, ladder, above_top_band);
    (weight(rung.requirement()) > weight(alone.requirement())).then_some(OrderTotal { earlier, total, rung })
}

/// Orders requirements: auto-approve first, then by level, then by the approvals needed.
fn weight(requirement: Option<Requirement>) -> (u8, u8) {
    requirement.map_or((0, 0), |requirement| (requirement.level.rank() + 1, requirement.approvals))
}
