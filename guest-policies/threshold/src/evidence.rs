//! The evidence gates: which evidence must be attached before the final approval.

use alloc::vec::Vec;

use levee_policy_sdk::{CodeFlags, EvidenceKind, Facts};

use crate::params::{Ladder, ThresholdParams};

/// In order, without duplicates: rationale above the ladder's `rationale_above`, an
/// attachment above its `attachment_above` (both for `placed`, the amount the ladder placed:
/// the case's, or its order's total), customer comms for the kinds that need them or when the
/// code is flagged `customer-comms-required`.
pub fn required_evidence(facts: &Facts, placed: i64, ladder: &Ladder, params: &ThresholdParams) -> Vec<EvidenceKind> {
    let amount = placed;
    let needs_customer_comms =
        params.requires_customer_comms(facts.kind) || facts.code_flags.has(CodeFlags::CUSTOMER_COMMS_REQUIRED);
    let gates = [
        (amount > ladder.rationale_above, EvidenceKind::Rationale),
        (amount > ladder.attachment_above, EvidenceKind::Attachment),
        (needs_customer_comms, EvidenceKind::CustomerComms),
    ];
    gates.into_iter().filter(|(required, _)| *required).map(|(_, kind)| kind).collect()
}
