//! What kind of exception a case is: the first thing a rule, a ladder or a report asks of it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of money movement or exception a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Refund,
    Credit,
    FeeWaiver,
    WriteOff,
    Override,
}
