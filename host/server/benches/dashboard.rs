//! Benchmark: the dashboard's answer time over the aggregates of 1,000,000 cases.
//!
//! Builds the week and month slices that six months of 1,000,000 synthetic cases produce
//! (eight teams, 24 codes with a Pareto mix, 40 approvers, leaks of every cause), with the same
//! `Slice::apply` the ledger fold uses, writes them to a real redb store, and times what the
//! console asks for: the summary, each chart, the reports and the monthly review, each on a
//! levee built exactly as `levee serve` builds it. The cases themselves are not written to the
//! ledger (a million submissions through the policy chain is the HTTP benchmark's business);
//! the dashboard never reads them, which is the point being measured.
//!
//! Run: `cargo bench -p levee --bench dashboard` (results go in BENCHMARKS.md).

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use levee_core::api::render::charts::svg;
use levee_core::api::render::report::html;
use levee_core::case::CaseStatus;
use levee_core::identity::ApproverLevel;
use levee_core::metrics::fold::{PeriodKind, TEAMS_KEY, Teams, slice_key};
use levee_core::metrics::query::Scope;
use levee_core::metrics::slice::{ApprovalGiven, Decided, Effect, Leak, LeakCause, Slice};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const CASES: u64 = 1_000_000;
const DAYS: i64 = 182;
const TEAMS: usize = 8;
const CODES: usize = 24;
const APPROVERS_PER_TEAM: usize = 5;
const ROUNDS: usize = 30;

fn code(rng: &mut StdRng) -> String {
    // Pareto-like: code k is chosen with weight 1/(k+1).
    let weights: Vec<f64> = (0..CODES).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let mut pick = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (k, weight) in weights.iter().enumerate() {
        pick -= weight;
        if pick <= 0.0 {
            return format!("CODE_{k:02}");
        }
    }
    "CODE_00".to_owned()
}

/// One synthetic case's effects.
fn case_effects(rng: &mut StdRng, team: usize) -> Vec<Effect> {
    let code = code(rng);
    let minor_units: i64 =
        if rng.random::<f64>() < 0.4 { rng.random_range(500..5_000) } else { rng.random_range(5_001..400_000) };
    let band = if minor_units <= 5_000 { "auto ≤ 50.00 USD" } else { "lead ≤ 500.00 USD" }.to_owned();
    let requester = format!("agent-{team}-{}", rng.random_range(0..12));
    let mut effects = vec![Effect::Submitted {
        code: code.clone(),
        band: band.clone(),
        currency: "USD".into(),
        minor_units,
        requester,
    }];
    if minor_units <= 5_000 {
        effects.push(Effect::Decided(Decided {
            code,
            band,
            status: CaseStatus::AutoApproved,
            complete: true,
            cycle_seconds: None,
            decider: None,
        }));
        return effects;
    }
    let approver = format!("approver-{team}-{}", rng.random_range(0..APPROVERS_PER_TEAM));
    let wait: u64 = rng.random_range(20..200_000);
    let approved = rng.random::<f64>() < 0.85;
    if approved {
        effects.push(Effect::Approval(ApprovalGiven {
            approver: approver.clone(),
            level: ApproverLevel::Lead,
            currency: "USD".into(),
            minor_units,
            wait_seconds: wait,
            fast: wait < 60,
            without_rationale: wait < 60 && rng.random::<f64>() < 0.5,
            over_authority: false,
        }));
    } else {
        effects.push(Effect::Rejection { approver: approver.clone(), level: Some(ApproverLevel::Lead) });
    }
    let status = if approved { CaseStatus::Approved } else { CaseStatus::Rejected };
    effects.push(Effect::Decided(Decided {
        code: code.clone(),
        band: band.clone(),
        status,
        complete: rng.random::<f64>() < 0.93,
        cycle_seconds: Some(wait),
        decider: Some(approver.clone()),
    }));
    if rng.random::<f64>() < 0.01 {
        let cause = LeakCause::ALL[rng.random_range(0..LeakCause::ALL.len())];
        effects.push(Effect::Leak(Leak { currency: "USD".into(), cause, band, code, approver, minor_units, count: 1 }));
    }
    effects
}

/// Every slice the synthetic cases produce, by store key.
fn build_slices() -> (BTreeMap<String, Slice>, Teams) {
    let mut rng = StdRng::seed_from_u64(6);
    let end = Utc::now();
    let mut slices: BTreeMap<String, Slice> = BTreeMap::new();
    let mut teams = Teams::default();
    for seq in 1..=CASES {
        let at = end - Days::seconds(rng.random_range(0..DAYS * 86_400));
        let team_index = rng.random_range(0..TEAMS);
        let team = format!("team-{team_index}");
        let effects = case_effects(&mut rng, team_index);
        for kind in [PeriodKind::Week, PeriodKind::Month] {
            slices.entry(slice_key(kind, &kind.id(at), &team)).or_default().apply(seq, &effects);
        }
        teams.teams.insert(team);
    }
    (slices, teams)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn time(name: &str, mut run: impl FnMut() -> usize) {
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        bytes = run();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {bytes} |",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let levee = common::build_levee(&dir.path().join("data"))?;

    let started = Instant::now();
    let (slices, teams) = build_slices();
    let built = started.elapsed();
    let entries: Vec<(String, Vec<u8>)> = slices
        .iter()
        .map(|(key, slice)| Ok((key.clone(), serde_json::to_vec(slice)?)))
        .collect::<anyhow::Result<_>>()?;
    let stored: usize = entries.iter().map(|(_, bytes)| bytes.len()).sum();
    levee.store.set_many(&entries)?;
    levee.store.set(TEAMS_KEY, &serde_json::to_vec(&teams)?)?;
    println!(
        "{CASES} cases → {} slices ({:.1} MiB of JSON) built in {:.1} s",
        entries.len(),
        stored as f64 / (1024.0 * 1024.0),
        built.as_secs_f64()
    );

    let today = Utc::now().date_naive();
    let scope = Scope::parse(None, None, None, today)?;
    let month = PeriodKind::Month.id(Utc::now());
    println!(
        "\n| What (default scope: six months, all teams) | p50 ms | p99 ms | max ms | bytes |\n|---|---:|---:|---:|---:|"
    );
    time("GET /v1/metrics/summary", || {
        serde_json::to_vec(&levee.metrics().summary(&scope).expect("summary")).map_or(0, |b| b.len())
    });
    for chart in levee_core::metrics::chart::CHART_IDS {
        time(&format!("GET /v1/charts/{chart}"), || {
            svg(&levee.metrics().chart(chart, &scope).expect("chart")).expect("svg").len()
        });
    }
    time("GET /v1/metrics/leakage", || {
        let loaded = levee.metrics().load(&scope).expect("load");
        serde_json::to_vec(&levee_core::metrics::query::leakage(&scope, &loaded)).map_or(0, |b| b.len())
    });
    time("GET /v1/reports/monthly (this month)", || {
        html(&levee.metrics().monthly_review(&month).expect("review")).len()
    });
    let team_scope = Scope { team: Some("team-3".into()), ..scope.clone() };
    time("GET /v1/metrics/summary?team=team-3", || {
        serde_json::to_vec(&levee.metrics().summary(&team_scope).expect("summary")).map_or(0, |b| b.len())
    });
    // The whole dashboard as the console loads it: the summary and six charts.
    time("dashboard: summary + six charts", || {
        let mut bytes = serde_json::to_vec(&levee.metrics().summary(&scope).expect("summary")).map_or(0, |b| b.len());
        for chart in levee_core::metrics::chart::CHART_IDS {
            bytes += svg(&levee.metrics().chart(chart, &scope).expect("chart")).expect("svg").len();
        }
        bytes
    });
    Ok(())
}
