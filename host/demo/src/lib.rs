//! Demo data: `levee serve --demo` on an empty store first seeds about six months of synthetic
//! but realistic activity, so every chart of the dashboard has something true to show.
//!
//! Everything is done through levee's own service functions (submit, attach evidence, draft
//! and review customer messages, approve, reject, cancel, the governance run, recording
//! executed refunds, remediation steps), so the ledger holds all of it and verifies. A seeding
//! `Levee` shares the server's policy engine and settings, runs on a `ManualClock` moved
//! forward from six months ago to now, and writes through a `Staged` store (write-back) over
//! the server's store, flushed in one batch at the end: a crash while seeding leaves the store
//! empty, so the next start seeds again, and a store that already holds a ledger is never
//! seeded.
//!
//! The story (`plan`, `story`): four teams of agents, seven leads, two managers, finance and
//! directors; exception codes in a Pareto shape; mostly USD, some EUR and GBP; most amounts
//! small and auto-approved, fewer needing a lead, manager, finance or directors; SLA
//! escalations; rejections, cancellations, customer messages. Planted on purpose: leaks found
//! by reconciliation in the last two months (`leaks`), a rubber-stamping lead (`approvers`),
//! one code surging in the last three weeks, one team filing far more per agent, and the
//! remediation items the surges open (`remediation`). A fixed seed tells the same story every
//! time, relative to now.

mod approvers;
mod cast;
mod leaks;
mod plan;
mod profile;
mod remediation;
mod report;
mod story;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::Duration;
use levee_core::Levee;
use levee_core::clock::ManualClock;
use levee_core::ledger_store::{LedgerStore, entry_key};
use levee_core::store::Staged;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use self::cast::RUBBER_STAMPER;
pub use self::report::{SeedReport, Tally};

/// The seed of the story: the same seed tells the same story.
const SEED: u64 = 0x1e7e_e5ee_d000_2026;

/// Seeds the demo story into `levee`'s store if it holds no ledger yet; `None` if it did.
pub fn seed_if_empty(levee: &Levee) -> anyhow::Result<Option<SeedReport>> {
    if levee.store.get(&entry_key(1)).context("read the store")?.is_some() {
        tracing::info!("the store already holds a ledger: the demo data is not seeded again");
        return Ok(None);
    }
    println!("levee demo: seeding about six months of activity into the empty store (--no-seed skips this)…");
    let started = Instant::now();
    let end = levee.clock.now();
    let buffer = Arc::new(Staged::over(levee.store.clone()));
    let clock = Arc::new(ManualClock::new(end - Duration::days(plan::STORY_DAYS)));
    let seeding = Levee::new(
        buffer.clone(),
        levee.engine.clone(),
        clock.clone(),
        levee.webhook_sender.clone(),
        (*levee.settings).clone(),
    );
    let tally = tell(&seeding, &clock, end).context("seed the demo story")?;
    let entries = LedgerStore::new(&*seeding.store).settle().context("settle the seeded ledger")?.seq;
    buffer.flush().context("write the seeded demo data to the store")?;
    tally.log_details();
    let report = SeedReport { tally, days: plan::STORY_DAYS, entries, elapsed: started.elapsed() };
    println!("{report}");
    Ok(Some(report))
}

/// Plans and plays the story on `clock`, ending at `end`.
fn tell(levee: &Levee, clock: &ManualClock, end: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Tally> {
    let currencies: Vec<String> = levee.settings.matrix.ladders.keys().cloned().collect();
    let cast = cast::Cast::new(&currencies);
    let taxonomy = levee.taxonomy().current().context("read the taxonomy")?.taxonomy;
    let codes: Vec<&'static profile::CodeProfile> = profile::CODES
        .iter()
        .filter(|profile| taxonomy.get(profile.code).is_some_and(|code| code.is_active()))
        .collect();
    if codes.is_empty() || !currencies.iter().any(|currency| currency == "USD") {
        tracing::warn!("the taxonomy or approval matrix is not one the demo story fits: nothing seeded");
        return Ok(Tally::default());
    }
    let mut rng = StdRng::seed_from_u64(SEED);
    let plans = plan::plan_cases(&mut rng, end, &cast, &codes, &currencies);
    let expected = plan::expected_per_30_days(&cast, &codes);
    let taxonomy_changes = remediation::calibrate_triggers(levee, &cast.admin, &expected)?;
    let mut story = story::Story::new(levee, clock, rng, &cast, end);
    story.tally.taxonomy_changes = taxonomy_changes;
    for plan in plans {
        story.file(plan);
    }
    for execution in leaks::silent(story.rng(), end) {
        story.execute(execution);
    }
    let tally = story.play()?;
    mark_baseline(levee, &cast.admin, end)?;
    Ok(tally)
}

/// The organisation marks the story's first eight weeks as the weeks before its pilot, so every
/// headline on the dashboard shows its change against them.
fn mark_baseline(
    levee: &Levee,
    admin: &levee_core::identity::Principal,
    end: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let first = (end - Duration::days(plan::STORY_DAYS)).date_naive() + Duration::days(7);
    let request = levee_core::metrics::baseline::BaselineRequest {
        team: levee_core::metrics::baseline::ALL_TEAMS.to_owned(),
        from: first,
        to: first + Duration::days(7 * 7),
        note: "the eight weeks before the levee pilot".to_owned(),
    };
    levee.metrics().set_baseline(admin, &request).context("mark the baseline weeks")?;
    Ok(())
}
