//! The same two rules in Rego (`threshold.rego`, `routing.rego` beside this file) on regorus:
//! its tree-walking interpreter, and its compiler to RVM bytecode run by its virtual machine.
//! The params are the policies' data (`data.params.threshold`, `data.params.routing`), loaded
//! once; each case is the input, built from levee's facts, and each decision is read back into
//! levee's type, so every engine goes from the same facts to the same decisions.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::anyhow;
use levee_core::case::CaseKind;
use levee_core::engine::{Facts, PolicyDecision};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::{Engine, Value};

use crate::Chain;

const MODULES: [(&str, &str); 2] =
    [("threshold.rego", include_str!("threshold.rego")), ("routing.rego", include_str!("routing.rego"))];
/// Each policy's decision, in chain order.
const RULES: [&str; 2] = ["data.levee.threshold.decision", "data.levee.routing.decision"];

/// An engine with both modules and the params as data.
fn loaded_engine(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> anyhow::Result<Engine> {
    let mut engine = Engine::new();
    for (name, source) in MODULES {
        engine.add_policy(name.to_owned(), source.to_owned())?;
    }
    engine.add_data(params_data(threshold_params, routing_params))?;
    Ok(engine)
}

fn params_data(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> Value {
    Value::from(serde_json::json!({"params": {"threshold": threshold_params, "routing": routing_params}}))
}

/// The facts as the rules read them, shaped like the WIT facts (names as params write them).
fn input(facts: &Facts) -> Value {
    let mut amount = BTreeMap::new();
    amount.insert(Value::from("minor_units"), Value::from(facts.amount.minor_units));
    amount.insert(Value::from("currency"), Value::from(facts.amount.currency.as_str()));
    amount.insert(Value::from("exponent"), Value::from(u32::from(facts.amount.exponent())));
    let mut input = BTreeMap::new();
    input.insert(Value::from("kind"), Value::from(kind_name(facts.kind)));
    input.insert(Value::from("amount"), Value::from(amount));
    input.insert(Value::from("exception_code"), Value::from(facts.exception_code.as_str()));
    input.insert(Value::from("escalate_always"), Value::from(facts.escalate_always));
    input.insert(Value::from("customer_comms_required"), Value::from(facts.customer_comms_required));
    input.insert(Value::from("refunds_90d"), Value::from(facts.refunds_90d));
    Value::from(input)
}

/// A kind as params name it: "fee_waiver".
fn kind_name(kind: CaseKind) -> &'static str {
    match kind {
        CaseKind::Refund => "refund",
        CaseKind::Credit => "credit",
        CaseKind::FeeWaiver => "fee_waiver",
        CaseKind::WriteOff => "write_off",
        CaseKind::Override => "override",
    }
}

/// A decision as the Rego rules write it, in levee's type.
fn decision(value: &Value) -> PolicyDecision {
    let json = serde_json::to_value(value).expect("a Rego value is JSON");
    serde_json::from_value(json).unwrap_or_else(|error| panic!("not a decision ({error}): {value}"))
}

/// regorus's interpreter, one engine for every case.
pub struct Interpreter(Engine);

pub fn interpreter(
    threshold_params: &serde_json::Value,
    routing_params: &serde_json::Value,
) -> anyhow::Result<Interpreter> {
    Ok(Interpreter(loaded_engine(threshold_params, routing_params)?))
}

impl Chain for Interpreter {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        self.0.set_input(input(facts));
        RULES.iter().map(|rule| decision(&self.0.eval_rule((*rule).to_owned()).expect("the rule evaluates"))).collect()
    }
}

/// regorus's virtual machine: one compiled program and one VM per policy, for every case.
pub struct Vm(Vec<RegoVM>);

pub fn vm(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> anyhow::Result<Vm> {
    let mut engine = loaded_engine(threshold_params, routing_params)?;
    let data = params_data(threshold_params, routing_params);
    let vms = RULES
        .iter()
        .map(|rule| {
            let policy = engine.compile_with_entrypoint(&(*rule).into())?;
            let program: Arc<Program> =
                Compiler::compile_from_policy(&policy, &[rule]).map_err(|error| anyhow!("{error}"))?;
            let mut vm = RegoVM::new_with_policy(policy);
            vm.load_program(program);
            vm.set_data(data.clone()).map_err(|error| anyhow!("{error}"))?;
            Ok(vm)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Vm(vms))
}

impl Chain for Vm {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let input = input(facts);
        self.0
            .iter_mut()
            .map(|vm| {
                vm.set_input(input.clone());
                decision(&vm.execute().expect("the program runs"))
            })
            .collect()
    }
}
