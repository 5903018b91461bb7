//! `levee audit verify`: recomputes the ledger's hash chain straight from the store on disk,
//! without a server.

use std::path::Path;

use anyhow::bail;
use levee_core::journal::Journal;
use levee_core::ledger::VerifyReport;

use crate::store::{StoreConfig, redb_path};

/// Verifies the ledger of the embedded store in `data_dir`.
pub fn verify(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    verify_store(&StoreConfig::default(), data_dir)
}

/// Verifies the ledger of the configured store (the embedded one lives in `data_dir`).
pub fn verify_store(config: &StoreConfig, data_dir: &Path) -> anyhow::Result<VerifyReport> {
    if let StoreConfig::Redb { path } = config {
        let path = path.clone().unwrap_or_else(|| redb_path(data_dir));
        if !path.exists() {
            bail!("no levee store at {} (is --data right?)", path.display());
        }
    }
    let store = crate::store::open(config, data_dir)?;
    Ok(Journal::new(&*store).verify()?)
}

/// The report as a person reads it.
pub fn describe(report: &VerifyReport) -> String {
    match &report.first_mismatch {
        None => format!(
            "ledger OK: {} entries, head {} (hash {})",
            report.entries_checked, report.head_seq, report.head_hash
        ),
        Some(mismatch) => format!(
            "ledger BROKEN at entry {}{}: {}\n{} entries before it verified",
            mismatch.seq,
            mismatch.subject.as_deref().map(|subject| format!(" ({subject})")).unwrap_or_default(),
            mismatch.problem,
            report.entries_checked
        ),
    }
}
