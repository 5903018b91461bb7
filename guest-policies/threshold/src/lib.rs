//! The threshold policy: levee's approval matrix. It places a case's amount on the
//! approval ladder of its currency (or of its kind and currency) and asks for approval at
//! the band's level, escalates repeat refunds and codes flagged `escalate-always` one level,
//! never auto-approves the kinds listed in `never_auto_approve`, places a refund on an order
//! with earlier refunds by the order's total (`split`), and gates evidence by amount, kind and
//! code flags. The params are described in `params.rs` and `schema.rs`; they are parsed and
//! checked once, in `configure`.

#![no_std]

extern crate alloc;
// Natively, std supplies the panic handler and allocator (and unwinding for tests); on
// wasm32 the SDK does, and the component imports nothing.
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod escalation;
mod evidence;
mod ladder;
mod params;
mod reason;
mod schema;
mod split;
mod verdict;

use alloc::format;
use alloc::string::ToString;

use levee_policy_sdk::{Decision, Facts, Policy, PolicyError, PolicyInfo, parse_params};

use crate::params::ThresholdParams;
use crate::verdict::Verdict;

/// The threshold policy, exported as the component's `rules` interface.
pub struct Threshold;

impl Policy for Threshold {
    type Params = ThresholdParams;

    fn configure(params: &str) -> Result<ThresholdParams, PolicyError> {
        let params: ThresholdParams = parse_params(params)?;
        params.validate()?;
        Ok(params)
    }

    fn evaluate(facts: &Facts, params: &ThresholdParams) -> Result<Decision, PolicyError> {
        decide(facts, params)
    }

    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "threshold".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Approval matrix: the approver level and number of approvals a case \
                          needs by amount, currency and kind, with mandatory escalation for \
                          repeat refunds and escalate-always codes, and evidence gates."
                .to_string(),
            params_schema: schema::PARAMS_SCHEMA.to_string(),
        }
    }
}

levee_policy_sdk::export_policy!(Threshold);

/// Applies the rules in order: ladder (of the refund, or of its order's total), never-auto-
/// approve kinds, escalation, evidence.
fn decide(facts: &Facts, params: &ThresholdParams) -> Result<Decision, PolicyError> {
    let currency = facts.amount.currency.as_str();
    let ladder = params.ladder_for(facts.kind, currency).ok_or_else(|| {
        let kind = facts.kind.name();
        PolicyError::Unsupported(format!("no approval ladder for {currency} ({kind})"))
    })?;
    let alone = ladder::place(facts.amount.minor_units, ladder, &params.above_top_band);
    let order = split::order_total_asking_more(facts, ladder, &params.above_top_band, &alone);
    let (mut verdict, rule_name, placed) = match &order {
        Some(order) => (
            Verdict::from_order_total(order, facts, ladder),
            format!("{}/order-total", order.rung.rule_name()),
            order.total,
        ),
        None => (Verdict::from_rung(&alone, facts, ladder), alone.rule_name(), facts.amount.minor_units),
    };
    if params.never_auto_approves(facts.kind) {
        verdict.refuse_auto_approve(facts);
    }
    verdict.escalate(&escalation::escalation_causes(facts, params));
    let rule_id = format!("threshold/{currency}/{rule_name}");
    let evidence = evidence::required_evidence(facts, placed, ladder, params);
    Ok(verdict.into_decision(rule_id, evidence, params))
}

#[cfg(test)]
mod tests;
