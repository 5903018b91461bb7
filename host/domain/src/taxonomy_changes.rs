//! Managing the exception taxonomy through the API: adding or changing a code, deprecating one,
//! merging one into another. The taxonomy is a ledger subject: each change is an entry that
//! carries the whole taxonomy after it, under a new version label (`<seed>.r<n>`), so any
//! version a case was filed under can be read back. Until the first change, the taxonomy from
//! the configuration is in force (revision 0).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::taxonomy::{ExceptionCode, Taxonomy};
use crate::validation::{FieldError, optional_whole_number};

/// The taxonomy's id as a ledger subject.
pub const TAXONOMY_SUBJECT: &str = "taxonomy";

/// The taxonomy as changed through the API, with every revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxonomyRecord {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    /// The version of the taxonomy the configuration started from.
    pub seed_version: String,
    pub taxonomy: Taxonomy,
    /// One per change, oldest first; the n-th was recorded by the n-th ledger entry.
    pub revisions: Vec<TaxonomyRevision>,
}

/// One change of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxonomyRevision {
    /// The version label the change made.
    pub taxonomy_version: String,
    /// What changed, in a sentence.
    pub change: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub rationale: String,
    /// The control proposal this change carried out (one admin proposed it, `by` approved it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u64>,
}

/// The taxonomy in force and its revision (0: the configuration's), shared: every submission
/// reads it, and a service may keep it decoded while its record is unchanged.
#[derive(Debug, Clone)]
pub struct CurrentTaxonomy {
    pub revision: u64,
    pub taxonomy: std::sync::Arc<Taxonomy>,
}

/// `POST /v1/taxonomy/codes`: add a code, or change one (which also reinstates a deprecated or
/// merged code).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCodeRequest {
    /// The code as it is to be; its `lifecycle` must be `active` (deprecate and merge through
    /// their own endpoints).
    pub code: ExceptionCode,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
    /// The taxonomy revision looked at; if it has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_revision: Option<u64>,
}

/// `POST /v1/taxonomy/codes/{code}/deprecate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeprecateRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
    /// The taxonomy revision looked at; if it has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_revision: Option<u64>,
}

/// `POST /v1/taxonomy/codes/{code}/merge`: new cases go under `into` from now on.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// Another active code.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub into: String,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
    /// The taxonomy revision looked at; if it has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_revision: Option<u64>,
}

/// An active code of the taxonomy, to change; refused naming `field` otherwise.
pub fn active_code<'a>(
    taxonomy: &'a mut Taxonomy,
    code: &str,
    field: &str,
) -> Result<&'a mut ExceptionCode, FieldError> {
    let valid = taxonomy.valid_codes();
    match taxonomy.codes.iter_mut().find(|entry| entry.code == code) {
        Some(entry) if entry.is_active() => Ok(entry),
        Some(_) => Err(FieldError::new(field, format!("{code} is no longer active")).with_valid_values(valid)),
        None => Err(FieldError::new(field, format!("{code} is not a code of the taxonomy")).with_valid_values(valid)),
    }
}
