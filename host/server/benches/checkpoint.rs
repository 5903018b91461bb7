//! Benchmark: signed checkpoints and Merkle proofs over a ledger of 1,000,000 entries on redb.
//!
//! Writes a sound hash chain of synthetic submission entries (about 1.2 KB each, as a real
//! submission's entry is, beside a small subject) to a real redb store, then times what the
//! audit routes do: the first checkpoint over the whole ledger, which stores the roots of its
//! tiles of 256 entries (`ledger_proofs::LedgerTree`); then checkpoints, inclusion proofs and
//! consistency proofs over the stored nodes; then a checkpoint after the ledger grew by 1,000
//! entries. Beside them, the way every checkpoint was made before stored nodes: every entry read
//! and checked (`checked_leaves`), then the root. Every answer is checked against the root of all
//! leaves.
//!
//! Run: `cargo bench -p levee --bench checkpoint` (`LEVEE_BENCH_ENTRIES` to change the size;
//! results go in BENCHMARKS.md).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use levee::store::RedbStore;
use levee_core::identity::Role;
use levee_core::ledger::{EventType, GENESIS_HASH, LedgerEntry};
use levee_core::ledger_proofs::{LedgerTree, checked_leaves};
use levee_core::ledger_store::entry_key;
use levee_core::merkle;
use levee_core::store::Store;

const ROUNDS: usize = 30;
const WRITE_BATCH: u64 = 10_000;

/// Entry `seq`, after the entry whose hash is `prev_hash`.
fn entry(seq: u64, prev_hash: &str) -> LedgerEntry {
    let at = Utc.timestamp_opt(1_780_000_000 + seq as i64, 0).single().unwrap_or_default();
    let mut entry = LedgerEntry {
        seq,
        subject: format!("LV-{seq:07}"),
        event: EventType::CaseSubmitted,
        actor: "avery.agent".into(),
        role: Role::Agent,
        authority: None,
        at,
        payload: serde_json::json!({
            "amount": {"minor_units": 4_000 + seq % 997, "currency": "USD"},
            "exception_code": "LATE_DELIVERY",
            "rationale": "arrived a week late; the customer asked for a refund of the shipping",
            "facts": {"customer_ref": format!("customer-{}", seq % 50_000), "channel": "api",
                      "history": {"refunds_90d": seq % 4, "refunded_90d_minor_units": (seq % 4) * 2_500},
                      "evidence_present": ["order_record"], "attributes": [["order", format!("order-{seq}")]]},
            "decision": {"outcome": "auto_approve", "signals": [], "policies": ["threshold", "routing"],
                         "reasons": ["within the auto-approval limit of 50.00 USD", "routed to support-tier-1"]},
        }),
        policies: vec![],
        matrix_version: "matrix-2026-11".into(),
        taxonomy_version: "taxonomy-7".into(),
        facts_hash: Some(format!("{:064x}", seq)),
        subject_version: 1,
        state_hash: format!("{:064x}", seq * 7),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    entry
}

/// Appends entries `first..=last` to the store after `prev_hash`; the last entry's hash.
fn append(store: &RedbStore, first: u64, last: u64, mut prev_hash: String) -> anyhow::Result<String> {
    let subject = serde_json::json!({"type": "case", "state": {"id": "LV", "status": "approved", "version": 1}});
    let mut seq = first;
    while seq <= last {
        let mut batch = Vec::new();
        for seq in seq..=last.min(seq + WRITE_BATCH - 1) {
            let entry = entry(seq, &prev_hash);
            prev_hash = entry.hash.clone();
            let slot = serde_json::json!({"entry": entry, "subject": subject});
            batch.push((entry_key(seq), serde_json::to_vec(&slot)?));
        }
        store.set_many(&batch)?;
        seq += WRITE_BATCH;
    }
    store.sync()?;
    Ok(prev_hash)
}

/// Times `work` over `ROUNDS` rounds: (p50, max).
fn rounds(mut work: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        work()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[ROUNDS / 2], times[ROUNDS - 1]))
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1_000.0)
}

fn main() -> anyhow::Result<()> {
    let entries: u64 = std::env::var("LEVEE_BENCH_ENTRIES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("levee.redb"))?;
    let started = Instant::now();
    let last_hash = append(&store, 1, entries, GENESIS_HASH.to_owned())?;
    eprintln!("wrote {entries} entries in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let leaves = checked_leaves(&store, entries)?;
    let full_root = merkle::root(&leaves);
    let full_pass = started.elapsed();

    let started = Instant::now();
    let first_root = LedgerTree::open(&store, entries, true)?.root()?;
    let first_checkpoint = started.elapsed();
    assert_eq!(first_root, full_root, "the stored tree's root is the root of every leaf");

    let checkpoint = rounds(|| {
        let root = LedgerTree::open(&store, entries, true)?.root()?;
        anyhow::ensure!(root == full_root, "a checkpoint's root changed");
        Ok(())
    })?;
    let mut seq = 1;
    let inclusion = rounds(|| {
        seq = (seq * 7_919 + 104_729) % entries + 1;
        let mut tree = LedgerTree::open(&store, entries, false)?;
        let proof = merkle::inclusion_path(&mut tree, seq - 1, entries)?.unwrap_or_default();
        let leaf = leaves[usize::try_from(seq - 1)?];
        merkle::verify_inclusion(&leaf, seq - 1, entries, &proof, &tree.root()?)?;
        Ok(())
    })?;
    let mut from = 1;
    let consistency = rounds(|| {
        from = (from * 7_919 + 104_729) % entries + 1;
        let mut tree = LedgerTree::open(&store, entries, false)?;
        let proof = merkle::consistency_path(&mut tree, from, entries)?.unwrap_or_default();
        let old_root = merkle::range_root(&mut tree, 0, from)?;
        merkle::verify_consistency(from, entries, &old_root, &full_root, &proof)?;
        Ok(())
    })?;

    append(&store, entries + 1, entries + 1_000, last_hash)?;
    let started = Instant::now();
    LedgerTree::open(&store, entries + 1_000, true)?.root()?;
    let after_growth = started.elapsed();

    println!("| what, over {entries} entries on redb | p50 ms | max ms |");
    println!("|---|---:|---:|");
    println!("| every entry read and checked, then the root (before stored nodes) | {} | |", ms(full_pass));
    println!("| the first checkpoint: every tile's nodes stored | {} | |", ms(first_checkpoint));
    println!("| a checkpoint over the stored nodes ({ROUNDS} rounds) | {} | {} |", ms(checkpoint.0), ms(checkpoint.1));
    println!("| an inclusion proof, random entry ({ROUNDS} rounds) | {} | {} |", ms(inclusion.0), ms(inclusion.1));
    println!(
        "| a consistency proof, random old size ({ROUNDS} rounds) | {} | {} |",
        ms(consistency.0),
        ms(consistency.1)
    );
    println!("| a checkpoint after 1,000 more entries (four tiles stored) | {} | |", ms(after_growth));
    Ok(())
}
