//! `levee audit verify`: recomputes the ledger's hash chain straight from the store on disk,
//! without a server.

use std::path::Path;

use anyhow::bail;
use levee_core::journal::Journal;
use levee_core::ledger::VerifyReport;

use crate::store::{RedbStore, redb_path};

/// Verifies the ledger of the embedded store in `data_dir`.
pub fn verify(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let path = redb_path(data_dir);
    if !path.exists() {
        bail!("no levee store at {} (is --data right?)", path.display());
    }
    let store = RedbStore::open(&path)?;
    Ok(Journal::new(&store).verify()?)
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
