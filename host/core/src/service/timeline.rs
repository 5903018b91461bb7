//! A case's timeline as a service: its ledger entries and the check of its lineage.

use crate::case::{self};
use crate::service::{Cases, ServiceError};
use crate::timeline::{CaseTimeline, read_timeline};

impl Cases<'_> {
    /// The case's entries and the check of its lineage. The case record is read as stored (not
    /// refused when it disagrees with its ledger, as other reads are), so that a tampered case
    /// shows as broken rather than failing to load.
    pub fn timeline(&self, case_id: &str) -> Result<CaseTimeline, ServiceError> {
        if !case::is_case_id(case_id) {
            return Err(ServiceError::NotFound(format!("case {case_id}")));
        }
        self.levee.ledger_store().settle()?;
        read_timeline(&*self.levee.store, case_id)?.ok_or_else(|| ServiceError::NotFound(format!("case {case_id}")))
    }
}
