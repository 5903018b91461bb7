//! The exception taxonomy: the standard codes a case must be filed under, each with the team
//! that owns it, its approval queue and SLA, and flags that change how it is decided.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One exception code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExceptionCode {
    /// UPPER_SNAKE_CASE identifier, e.g. `DUPLICATE_CHARGE`.
    pub code: String,
    pub category: String,
    pub description: String,
    /// The team that owns the code and its remediation.
    pub owner: String,
    /// The approval queue cases with this code are worked in.
    pub queue: String,
    /// Minutes approvers have before a case breaches its SLA.
    pub sla_minutes: u32,
    /// Every case escalates one approver level.
    #[serde(default)]
    pub escalate_always: bool,
    /// Every case needs a reviewed customer-impact message.
    #[serde(default)]
    pub customer_comms_required: bool,
}

/// A versioned set of codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Taxonomy {
    pub version: String,
    pub codes: Vec<ExceptionCode>,
}

impl Taxonomy {
    pub fn get(&self, code: &str) -> Option<&ExceptionCode> {
        self.codes.iter().find(|entry| entry.code == code)
    }

    /// Every valid code, sorted, for error messages.
    pub fn valid_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.codes.iter().map(|entry| entry.code.clone()).collect();
        codes.sort();
        codes
    }

    /// Parameters for the routing policy: code → queue, owning team and SLA.
    pub fn routing_params(&self) -> serde_json::Value {
        let codes: BTreeMap<&str, serde_json::Value> = self
            .codes
            .iter()
            .map(|entry| {
                let route = serde_json::json!({
                    "queue": entry.queue, "team": entry.owner, "sla_minutes": entry.sla_minutes,
                });
                (entry.code.as_str(), route)
            })
            .collect();
        serde_json::json!({
            "default": {"queue": "approvals", "team": "support-ops", "sla_minutes": 1440},
            "codes": codes,
        })
    }

    /// The built-in taxonomy: 21 refund, credit, fee and override codes.
    pub fn default_taxonomy() -> Taxonomy {
        let codes = DEFAULT_CODES
            .iter()
            .map(|&(code, category, owner, queue, sla_minutes, flags, description)| ExceptionCode {
                code: code.to_owned(),
                category: category.to_owned(),
                description: description.to_owned(),
                owner: owner.to_owned(),
                queue: queue.to_owned(),
                sla_minutes,
                escalate_always: flags.contains("escalate"),
                customer_comms_required: flags.contains("comms"),
            })
            .collect();
        Taxonomy { version: "default-2026.11".to_owned(), codes }
    }
}

/// (code, category, owner, queue, SLA minutes, flags, description)
type CodeRow = (&'static str, &'static str, &'static str, &'static str, u32, &'static str, &'static str);

const DEFAULT_CODES: &[CodeRow] = &[
    (
        "DUPLICATE_CHARGE",
        "billing",
        "billing-ops",
        "billing-approvals",
        480,
        "",
        "The customer was charged twice for the same order or period.",
    ),
    (
        "BILLING_ERROR",
        "billing",
        "billing-ops",
        "billing-approvals",
        480,
        "",
        "An invoice or charge was computed wrongly.",
    ),
    ("PRICING_ERROR", "billing", "pricing", "billing-approvals", 480, "", "The listed or quoted price was wrong."),
    (
        "PROMO_NOT_APPLIED",
        "billing",
        "growth",
        "billing-approvals",
        720,
        "",
        "A promotion or discount the customer was owed was not applied.",
    ),
    (
        "LATE_CANCELLATION",
        "billing",
        "billing-ops",
        "billing-approvals",
        720,
        "",
        "A subscription renewed after the customer asked to cancel.",
    ),
    (
        "LATE_DELIVERY",
        "fulfilment",
        "logistics",
        "fulfilment-approvals",
        1440,
        "",
        "The order arrived after the promised date.",
    ),
    (
        "ITEM_NOT_RECEIVED",
        "fulfilment",
        "logistics",
        "fulfilment-approvals",
        1440,
        "",
        "The customer did not receive the order.",
    ),
    ("DAMAGED_IN_TRANSIT", "fulfilment", "logistics", "fulfilment-approvals", 1440, "", "The order arrived damaged."),
    (
        "WRONG_ITEM_SHIPPED",
        "fulfilment",
        "warehouse",
        "fulfilment-approvals",
        1440,
        "",
        "A different item than ordered was shipped.",
    ),
    (
        "DEFECTIVE_PRODUCT",
        "product",
        "product-quality",
        "product-approvals",
        1440,
        "",
        "The product does not work as it should.",
    ),
    (
        "NOT_AS_DESCRIBED",
        "product",
        "merchandising",
        "product-approvals",
        1440,
        "",
        "The product differs materially from its description.",
    ),
    (
        "SERVICE_OUTAGE",
        "service",
        "sre",
        "service-approvals",
        480,
        "comms",
        "The service was unavailable; credit under the outage policy.",
    ),
    (
        "SLA_BREACH",
        "service",
        "customer-success",
        "service-approvals",
        480,
        "comms",
        "A contractual service level was missed.",
    ),
    (
        "POOR_SUPPORT_EXPERIENCE",
        "service",
        "support-ops",
        "approvals",
        1440,
        "",
        "Goodwill for a support interaction that went badly.",
    ),
    (
        "GOODWILL_RETENTION",
        "goodwill",
        "retention",
        "approvals",
        1440,
        "",
        "A gesture to keep a customer at risk of leaving.",
    ),
    (
        "ESCALATED_COMPLAINT",
        "goodwill",
        "support-ops",
        "approvals",
        240,
        "escalate,comms",
        "A complaint escalated to executives, regulators or the press.",
    ),
    (
        "LATE_FEE_DISPUTE",
        "fees",
        "billing-ops",
        "billing-approvals",
        1440,
        "",
        "The customer disputes a late or penalty fee.",
    ),
    (
        "CHARGEBACK_PREVENTION",
        "risk",
        "payments-risk",
        "risk-approvals",
        240,
        "escalate",
        "Refund to head off a likely chargeback.",
    ),
    (
        "POLICY_EXCEPTION",
        "policy",
        "support-ops",
        "approvals",
        720,
        "escalate",
        "An exception to a written policy (returns window, eligibility).",
    ),
    (
        "SYSTEM_CALCULATION_OVERRIDE",
        "policy",
        "platform",
        "approvals",
        720,
        "",
        "Overriding an amount the system computed wrongly.",
    ),
    (
        "UNCOLLECTIBLE_BALANCE",
        "finance",
        "finance-ops",
        "finance-approvals",
        2880,
        "",
        "A balance that cannot be collected and is written off.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_taxonomy_is_in_the_healthy_range_with_unique_codes() {
        let taxonomy = Taxonomy::default_taxonomy();
        assert!((10..=30).contains(&taxonomy.codes.len()));
        let mut codes = taxonomy.valid_codes();
        codes.dedup();
        assert_eq!(codes.len(), taxonomy.codes.len());
    }
}
