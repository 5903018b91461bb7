//! The exception taxonomy: the standard codes a case must be filed under, each with the team
//! that owns it, its playbook, its approval queue and SLA, when it needs fixing at the source
//! (its remediation trigger), and flags that change how it is decided. Codes are never
//! removed: a code is deprecated, or merged into another, so the cases filed under it stay
//! readable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::{FieldError, optional_text, optional_whole_number, required_text, whole_number};

/// A taxonomy is healthiest with this many active codes: fewer and codes hide causes, more and
/// people file under the wrong one.
pub const HEALTHY_CODE_COUNT: std::ops::RangeInclusive<usize> = 10..=30;

/// One exception code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionCode {
    /// UPPER_SNAKE_CASE identifier, e.g. `DUPLICATE_CHARGE`.
    #[schema(pattern = "^[A-Z][A-Z0-9_]{2,63}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub category: String,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub description: String,
    /// The team that owns the code and its remediation.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub owner: String,
    /// The approval queue cases with this code are worked in.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub queue: String,
    /// Minutes approvers have before a case breaches its SLA (at most a year).
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 525600)]
    pub sla_minutes: u32,
    /// Every case escalates one approver level.
    #[serde(default)]
    pub escalate_always: bool,
    /// Every case needs a reviewed customer-impact message.
    #[serde(default)]
    pub customer_comms_required: bool,
    /// What the owner does when the code needs fixing at the source: steps, or a link to them.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub playbook: String,
    /// The customer message drafted for this code's cases, with `{case_id}`, `{amount}`,
    /// `{kind}`, `{customer_ref}`, `{order_ref}` and `{code}` filled in; none: a generic one.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub comms_template: Option<String>,
    /// When the code's cases call for a remediation item; none: never.
    #[serde(default)]
    pub remediation: Option<RemediationTrigger>,
    /// Active, deprecated, or merged into another code.
    #[serde(default)]
    pub lifecycle: CodeLifecycle,
}

/// When a code's cases come often enough, or add up to enough, that its owner must fix the
/// cause, and how the fix is judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemediationTrigger {
    /// Open an item when at least this many cases carry the code within the window.
    #[serde(default, deserialize_with = "optional_whole_number")]
    #[schema(minimum = 1)]
    pub count: Option<u32>,
    /// Or when their amounts add up to at least this, in minor units of `currency` (written as
    /// an integer, as every amount is). A count, an amount, or both.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub amount_minor_units: Option<i64>,
    /// The amount's ISO-4217 code; needed with an amount.
    #[serde(default)]
    pub currency: Option<String>,
    /// The window the count and amount are taken over, and the window a fix is judged over.
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 365)]
    pub window_days: u32,
    /// Hours the owner has to submit a fix before the item is overdue.
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 8760)]
    pub sla_hours: u32,
    /// A fix is verified when the code's cases over the window after it fall by at least this
    /// share (percent) against the window that triggered the item; otherwise the item reopens.
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    pub verify_drop_percent: u8,
}

/// Whether new cases may be filed under a code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CodeLifecycle {
    #[default]
    Active,
    /// No new cases; the cases already filed keep it.
    Deprecated { reason: String },
    /// No new cases: file them under `into`. The cases already filed keep this code.
    Merged { into: String, reason: String },
}

/// The customer message for codes without a template of their own.
pub const GENERIC_COMMS_TEMPLATE: &str = "Hello,\n\nWe are sorry for the trouble with {order_ref}. We have \
     arranged a {kind} of {amount} for you (our reference {case_id}). You will see it on your account shortly; \
     reply to this message if anything is unclear.\n\nKind regards,\nCustomer Support";

impl ExceptionCode {
    pub fn is_active(&self) -> bool {
        self.lifecycle == CodeLifecycle::Active
    }

    /// The template a customer message for this code is drafted from.
    pub fn comms_template(&self) -> &str {
        self.comms_template.as_deref().unwrap_or(GENERIC_COMMS_TEMPLATE)
    }

    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<ExceptionCode, FieldError> {
        let code = self.code.trim();
        let well_formed = (3..=64).contains(&code.len())
            && code.starts_with(|c: char| c.is_ascii_uppercase())
            && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            return Err(FieldError::new("code", "use 3 to 64 UPPER_SNAKE_CASE characters, starting with a letter"));
        }
        if !(1..=525_600).contains(&self.sla_minutes) {
            return Err(FieldError::new("sla_minutes", "must be 1 to 525600 minutes (a year)"));
        }
        if let Some(trigger) = &self.remediation {
            trigger.validate()?;
        }
        Ok(ExceptionCode {
            code: code.to_owned(),
            category: required_text("category", &self.category, 100)?,
            description: required_text("description", &self.description, 500)?,
            owner: required_text("owner", &self.owner, 100)?,
            queue: required_text("queue", &self.queue, 100)?,
            playbook: optional_text("playbook", Some(&self.playbook), 4_000)?.unwrap_or_default(),
            comms_template: optional_text("comms_template", self.comms_template.as_deref(), 10_000)?,
            ..self.clone()
        })
    }
}

impl RemediationTrigger {
    fn validate(&self) -> Result<(), FieldError> {
        let field = |name: &str| format!("remediation.{name}");
        if self.count.is_none() && self.amount_minor_units.is_none() {
            return Err(FieldError::new(field("count"), "give a count, an amount, or both"));
        }
        if self.count == Some(0) {
            return Err(FieldError::new(field("count"), "must be at least 1"));
        }
        if let Some(amount) = self.amount_minor_units {
            if amount <= 0 {
                return Err(FieldError::new(field("amount_minor_units"), "must be positive"));
            }
            let currency = self.currency.as_deref().unwrap_or_default();
            crate::money::currency_exponent(currency).map_err(|error| {
                FieldError::new(field("currency"), format!("an amount needs its currency: {error}"))
            })?;
        }
        if !(1..=365).contains(&self.window_days) {
            return Err(FieldError::new(field("window_days"), "must be 1 to 365 days"));
        }
        if !(1..=8_760).contains(&self.sla_hours) {
            return Err(FieldError::new(field("sla_hours"), "must be 1 to 8760 hours (a year)"));
        }
        if !(1..=100).contains(&self.verify_drop_percent) {
            return Err(FieldError::new(field("verify_drop_percent"), "must be 1 to 100"));
        }
        Ok(())
    }
}

/// A versioned set of codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Taxonomy {
    pub version: String,
    pub codes: Vec<ExceptionCode>,
}

impl Taxonomy {
    /// A code, whatever its lifecycle.
    pub fn get(&self, code: &str) -> Option<&ExceptionCode> {
        self.codes.iter().find(|entry| entry.code == code)
    }

    /// The code a new case may be filed under, or why not, with the codes that are allowed.
    pub fn code_for_new_case(&self, code: &str) -> Result<&ExceptionCode, FieldError> {
        let refusal = |message: String| Err(FieldError::new("exception_code", message));
        let result = match self.get(code) {
            Some(entry) => match &entry.lifecycle {
                CodeLifecycle::Active => Ok(entry),
                CodeLifecycle::Deprecated { reason } => {
                    refusal(format!("'{code}' is deprecated in taxonomy {} ({reason})", self.version))
                }
                CodeLifecycle::Merged { into, .. } => {
                    refusal(format!("'{code}' was merged into {into} in taxonomy {}: use {into}", self.version))
                }
            },
            None => refusal(format!("'{code}' is not a code in taxonomy {}", self.version)),
        };
        result.map_err(|error: FieldError| error.with_valid_values(self.valid_codes()))
    }

    /// Every code a new case may be filed under, sorted, for error messages.
    pub fn valid_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> =
            self.codes.iter().filter(|entry| entry.is_active()).map(|entry| entry.code.clone()).collect();
        codes.sort();
        codes
    }

    /// What an administrator should know about the taxonomy's shape.
    pub fn warnings(&self) -> Vec<String> {
        let active = self.codes.iter().filter(|entry| entry.is_active()).count();
        let (low, high) = (*HEALTHY_CODE_COUNT.start(), *HEALTHY_CODE_COUNT.end());
        let mut warnings = Vec::new();
        if active < low {
            warnings.push(format!(
                "{active} active codes, below the healthy range of {low}–{high}: broad codes hide causes; split them"
            ));
        }
        if active > high {
            warnings.push(format!(
                "{active} active codes, above the healthy range of {low}–{high}: people file under the wrong one; merge some"
            ));
        }
        for entry in self.codes.iter().filter(|entry| entry.is_active()) {
            if entry.playbook.is_empty() {
                warnings.push(format!("{} has no playbook", entry.code));
            }
        }
        warnings
    }

    /// Parameters for the routing policy: code → queue, owning team and SLA (every code, so
    /// that a case filed before a deprecation still routes).
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
                playbook: default_playbook(category).to_owned(),
                comms_template: None,
                remediation: Some(RemediationTrigger {
                    count: Some(20),
                    amount_minor_units: None,
                    currency: None,
                    window_days: 30,
                    sla_hours: 24 * 14,
                    verify_drop_percent: 30,
                }),
                lifecycle: CodeLifecycle::Active,
            })
            .collect();
        Taxonomy { version: "default-2026.11".to_owned(), codes }
    }
}

/// The starter playbook of a category: where an owner begins when its codes need fixing.
fn default_playbook(category: &str) -> &'static str {
    match category {
        "billing" => {
            "Pull the cases of the window and group them by invoice run, plan and promotion. Find the rule or \
             data that produced the wrong charge, correct it, and re-run the affected invoices. Link the change."
        }
        "fulfilment" => {
            "Group the cases by carrier, warehouse and lane. Raise the worst lane with the carrier or the \
             warehouse lead, agree a corrective action, and link it."
        }
        "product" => {
            "Group the cases by product and batch. Open a quality ticket for the worst, pull stock if it is \
             unsafe or misdescribed, and correct the listing. Link the ticket."
        }
        "service" => {
            "Match the cases to incidents and SLA breaches. Make sure each incident has a post-mortem with \
             actions, and link the one that addresses this code."
        }
        "goodwill" => {
            "Review the cases with the team leads: is goodwill standing in for a fix elsewhere? Move those to \
             their real code, and tighten the goodwill guideline. Link the revised guideline."
        }
        "fees" => {
            "Check the fee rules against the terms the customers accepted; correct notices or rules that \
             surprise customers. Link the change."
        }
        "risk" => {
            "Review the cases with payments risk: find the pattern (product, region, payment method) and add \
             or tune the rule that stops it before the refund. Link the rule change."
        }
        "policy" => {
            "Read the cases for the written policy they keep working around. Change the policy, or the \
             system that computes it, so the exception is no longer needed. Link the revised policy."
        }
        _ => {
            "Review the cases of the window with finance: find why balances become uncollectible (terms, \
             dunning, credit checks), change the step that lets them, and link the change."
        }
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
    fn default_taxonomy_is_in_the_healthy_range_with_unique_valid_codes() {
        let taxonomy = Taxonomy::default_taxonomy();
        assert!(HEALTHY_CODE_COUNT.contains(&taxonomy.codes.len()));
        let mut codes = taxonomy.valid_codes();
        codes.dedup();
        assert_eq!(codes.len(), taxonomy.codes.len());
        assert_eq!(taxonomy.warnings(), Vec::<String>::new());
        for code in &taxonomy.codes {
            assert_eq!(code.validate().as_ref(), Ok(code), "{}", code.code);
        }
    }

    #[test]
    fn deprecated_and_merged_codes_are_refused_for_new_cases_naming_the_valid_ones() {
        let mut taxonomy = Taxonomy::default_taxonomy();
        taxonomy.codes[0].lifecycle = CodeLifecycle::Deprecated { reason: "split".into() };
        taxonomy.codes[1].lifecycle = CodeLifecycle::Merged { into: "PRICING_ERROR".into(), reason: "same".into() };
        let deprecated = taxonomy.code_for_new_case("DUPLICATE_CHARGE").unwrap_err();
        assert!(deprecated.message.contains("deprecated"), "{deprecated}");
        assert!(!deprecated.valid_values.as_ref().unwrap().contains(&"DUPLICATE_CHARGE".to_owned()));
        let merged = taxonomy.code_for_new_case("BILLING_ERROR").unwrap_err();
        assert!(merged.message.contains("use PRICING_ERROR"), "{merged}");
        assert!(taxonomy.code_for_new_case("NO_SUCH_CODE").unwrap_err().message.contains("not a code"));
        assert!(taxonomy.code_for_new_case("PRICING_ERROR").is_ok());
    }

    #[test]
    fn warns_outside_the_healthy_range() {
        let mut taxonomy = Taxonomy::default_taxonomy();
        taxonomy.codes.truncate(9);
        assert!(taxonomy.warnings()[0].starts_with("9 active codes, below"), "{:?}", taxonomy.warnings());
    }

    #[test]
    fn a_code_is_checked_field_by_field() {
        let mut code = Taxonomy::default_taxonomy().codes[0].clone();
        code.code = "lower".into();
        assert_eq!(code.validate().unwrap_err().field, "code");
        code.code = "FINE_CODE".into();
        code.remediation.as_mut().unwrap().amount_minor_units = Some(10_000);
        assert_eq!(code.validate().unwrap_err().field, "remediation.currency");
    }
}
