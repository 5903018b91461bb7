//! Benchmark: one policy decision by the default chain (threshold + routing), issue 9.
//!
//! 1,000 generated cases (`policy/cases.rs`) are decided by levee's own engine, exactly as
//! `levee serve` builds it (a fresh sandboxed instance per policy per case, started from each
//! plugin's configured snapshot), and side by side by: the same engine configuring every case's
//! instance first (what parsing params per case costs, as before levee:policy@0.2.0), the same
//! two snapshotted components on bare wasmtime with the same pooling allocator and no sandbox
//! limits (a fresh instance per policy per case: the limit of this design), the same with fuel
//! and epoch interruption on (what those limits cost), the same on one instance reused (for
//! reference), the same rules in Rego on regorus (its interpreter and its compiled RVM
//! bytecode), and the plugins' own Rust natively. Every engine must decide every
//! case exactly as levee does (the whole decision: outcome, level, approvals, SLA, reason,
//! evidence, route, signals, rule id), or the benchmark fails.
//!
//! Each case's chain is timed on its own (from levee's facts to levee's decisions); engines take
//! turns, a pass over all cases each, `ROUNDS` times, so that load from elsewhere on the machine
//! falls on all of them alike. Compare ratios within one run.
//!
//! Run: `cargo bench -p levee --bench policy` (results go in BENCHMARKS.md).

#[path = "policy/cases.rs"]
mod cases;
#[path = "common.rs"]
mod common;
#[path = "policy/native.rs"]
mod native;
#[path = "policy/rego.rs"]
mod rego;
#[path = "policy/wasm.rs"]
mod wasm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use levee::policy::{LoadedPolicySpec, PolicySource, SandboxLimits, WasmPolicyEngine, builtin};
use levee_core::engine::{Facts, PolicyDecision, PolicyEngine, PolicyEvaluation, PolicyOutcome};

const CASES: usize = 1_000;
const ROUNDS: usize = 10;

/// One way of deciding a case by the default chain: threshold's decision, then routing's.
pub trait Chain {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision>;
}

/// levee's engine as `levee serve` builds it.
struct Levee(Arc<dyn PolicyEngine>);

impl Chain for Levee {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let evaluations = self.0.evaluate(facts);
        evaluations
            .into_iter()
            .map(|evaluation| {
                evaluation
                    .result
                    .unwrap_or_else(|failure| panic!("{}: {} failed: {failure}", facts.case_id, evaluation.policy.name))
            })
            .collect()
    }
}

/// An engine under test and the time each case took it.
struct Contender {
    name: &'static str,
    chain: Box<dyn Chain>,
    samples: Vec<Duration>,
}

impl Contender {
    fn new(name: &'static str, chain: impl Chain + 'static) -> Self {
        Contender { name, chain: Box::new(chain), samples: Vec::with_capacity(CASES * ROUNDS) }
    }

    /// Decides every case, untimed, and checks each decision against levee's.
    fn warm_up(&mut self, cases: &[Facts], expected: &[Vec<PolicyDecision>]) {
        for (facts, expected) in cases.iter().zip(expected) {
            check(self.name, facts, &self.chain.decide(facts), expected);
        }
    }

    /// Decides every case, each timed on its own, and checks each decision against levee's.
    fn timed_pass(&mut self, cases: &[Facts], expected: &[Vec<PolicyDecision>]) {
        for (facts, expected) in cases.iter().zip(expected) {
            let started = Instant::now();
            let decisions = self.chain.decide(facts);
            self.samples.push(started.elapsed());
            check(self.name, facts, &decisions, expected);
        }
    }
}

fn check(engine: &str, facts: &Facts, decisions: &[PolicyDecision], expected: &[PolicyDecision]) {
    assert_eq!(decisions, expected, "{engine} decides {} differently from levee; facts: {facts:?}", facts.case_id);
}

/// p50, p90, p99 and mean, in microseconds.
struct Summary {
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
}

fn summarize(samples: &[Duration]) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6;
    let mean = sorted.iter().map(Duration::as_secs_f64).sum::<f64>() / sorted.len() as f64 * 1e6;
    Summary { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean }
}

fn micros(value: f64) -> String {
    if value < 1.0 { format!("{value:.3}") } else { format!("{value:.2}") }
}

/// The table of every engine, with each one's p50 and mean as a multiple of levee's.
fn report(contenders: &[Contender]) {
    let levee = summarize(&contenders[0].samples);
    println!(
        "\n| Engine (threshold + routing, one case) | p50 µs | p90 µs | p99 µs | mean µs | p50 ÷ levee | mean ÷ levee |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for contender in contenders {
        let summary = summarize(&contender.samples);
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} |",
            contender.name,
            micros(summary.p50),
            micros(summary.p90),
            micros(summary.p99),
            micros(summary.mean),
            summary.p50 / levee.p50,
            summary.mean / levee.mean
        );
    }
}

/// What the cases reach: how many of each threshold outcome, and how many unrouted codes.
fn describe_mix(expected: &[Vec<PolicyDecision>]) {
    let mut mix = std::collections::BTreeMap::<String, usize>::new();
    for decisions in expected {
        let threshold = match &decisions[0].outcome {
            PolicyOutcome::AutoApprove => "auto-approve".to_owned(),
            PolicyOutcome::RequireApproval { level, approvals_needed, .. } => {
                format!("{approvals_needed}× {}", level.as_str())
            }
            PolicyOutcome::Reject { .. } => "reject".to_owned(),
        };
        *mix.entry(threshold).or_default() += 1;
        for signal in decisions.iter().flat_map(|decision| &decision.signals) {
            *mix.entry(format!("signal {signal}")).or_default() += 1;
        }
    }
    let parts: Vec<String> = mix.iter().map(|(what, count)| format!("{what}: {count}")).collect();
    println!("cases: {CASES}; {}", parts.join(", "));
}

/// What each policy of levee's chain used on the cases: median fuel and the most memory.
fn describe_resources(engine: &dyn PolicyEngine, cases: &[Facts]) {
    let runs: Vec<Vec<PolicyEvaluation>> = cases.iter().map(|facts| engine.evaluate(facts)).collect();
    for (index, policy) in engine.chain().iter().enumerate() {
        let mut fuel: Vec<u64> = runs.iter().map(|run| run[index].fuel_used).collect();
        fuel.sort_unstable();
        let peak = runs.iter().map(|run| run[index].peak_memory_bytes).max().unwrap_or(0);
        println!(
            "{}: median fuel {} per case, peak linear memory {} KiB",
            policy.name,
            fuel[fuel.len() / 2],
            peak >> 10
        );
    }
}

/// levee's engine with the same chain, configuring every case's instance instead of starting it
/// from the configured snapshot: the price of parsing params per case, as 0.1.0 plugins did.
fn configuring_every_case(
    threshold: &serde_json::Value,
    routing: &serde_json::Value,
) -> anyhow::Result<WasmPolicyEngine> {
    let spec = |name: &str, bytes, params: &serde_json::Value| LoadedPolicySpec {
        name: name.into(),
        source: PolicySource::Builtin(bytes),
        params: params.clone(),
        limits: SandboxLimits::default(),
    };
    WasmPolicyEngine::configuring_every_case(vec![
        spec("threshold", builtin::THRESHOLD, threshold),
        spec("routing", builtin::ROUTING, routing),
    ])
}

/// Every engine, levee first, each with the params levee gives its policies.
fn contenders(
    engine: Arc<dyn PolicyEngine>,
    threshold: &serde_json::Value,
    routing: &serde_json::Value,
) -> anyhow::Result<Vec<Contender>> {
    Ok(vec![
        Contender::new("levee (WasmPolicyEngine, fresh sandboxed instance per policy)", Levee(engine)),
        Contender::new(
            "levee, each instance configured first (params parsed per case, as before 0.2.0)",
            Levee(Arc::new(configuring_every_case(threshold, routing)?)),
        ),
        Contender::new(
            "raw wasmtime, fresh instance per policy, same pool, no limits",
            wasm::fresh(threshold, routing)?,
        ),
        Contender::new(
            "raw wasmtime, fresh instance per policy, same pool, fuel and epochs on",
            wasm::fresh_metered(threshold, routing)?,
        ),
        Contender::new("raw wasmtime, one instance per policy reused", wasm::reused(threshold, routing)?),
        Contender::new("regorus interpreter (Rego)", rego::interpreter(threshold, routing)?),
        Contender::new("regorus RVM (Rego compiled to bytecode)", rego::vm(threshold, routing)?),
        Contender::new("native Rust (the plugins' own code)", native::NativeChain::new(threshold, routing)),
    ])
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let levee = common::build_levee(dir.path())?;
    let settings = &levee.settings;
    let threshold_params = settings.default_params("threshold", &settings.taxonomy);
    let routing_params = settings.default_params("routing", &settings.taxonomy);
    let cases = cases::generate(CASES, &settings.matrix, &settings.taxonomy);
    let mut contenders = contenders(levee.engine.clone(), &threshold_params, &routing_params)?;
    let expected: Vec<Vec<PolicyDecision>> = cases.iter().map(|facts| contenders[0].chain.decide(facts)).collect();
    describe_mix(&expected);
    println!(
        "params: threshold {} bytes, routing {} bytes of JSON",
        threshold_params.to_string().len(),
        routing_params.to_string().len()
    );
    describe_resources(&*levee.engine, &cases);
    for contender in &mut contenders {
        contender.warm_up(&cases, &expected);
    }
    println!("every engine decided all {CASES} cases exactly as levee does; timing {ROUNDS} rounds");
    for _ in 0..ROUNDS {
        for contender in &mut contenders {
            contender.timed_pass(&cases, &expected);
        }
    }
    report(&contenders);
    Ok(())
}
