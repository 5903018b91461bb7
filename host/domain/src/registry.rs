//! The policy registry: every rule plugin uploaded (stored by sha256 digest) and every chain
//! ever activated, in order. It is a ledger subject like a case: each upload and each
//! activation or rollback is a ledger entry, and the active chain is the last one activated.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::optional_whole_number;

/// The registry's id as a ledger subject.
pub const REGISTRY_SUBJECT: &str = "policy-registry";

/// A plugin version as uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadedPolicy {
    /// The name it is uploaded under (what chains refer to).
    pub name: String,
    /// The version its `describe()` gives.
    pub version: String,
    pub digest: String,
    pub size_bytes: u64,
    pub description: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

/// One policy of a chain: a built-in by name (no digest), or an uploaded version by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainLink {
    pub name: String,
    /// An uploaded version (its sha256, lowercase hex); absent for the built-ins (`threshold`,
    /// `routing`).
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub digest: Option<String>,
    /// Parameters; the built-ins default to the approval matrix and the taxonomy.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// The sandbox's limits for this policy; absent: the engine's defaults.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub deadline_ms: Option<u64>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub memory_bytes: Option<u64>,
}

/// A chain as activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivatedChain {
    /// 1, 2, 3, … in activation order.
    pub number: u64,
    /// In evaluation order. Empty only for a rollback to the chain from the configuration
    /// (`restores: 0`).
    pub links: Vec<ChainLink>,
    pub activated_by: String,
    pub activated_at: DateTime<Utc>,
    pub rationale: String,
    /// For a rollback, the earlier chain it restores.
    pub restores: Option<u64>,
}

/// A candidate chain running beside the active one on live cases, without affecting them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShadowChain {
    /// 1, 2, 3, … each time a shadow is started.
    pub number: u64,
    pub links: Vec<ChainLink>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub rationale: String,
}

/// Every upload and every activated chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRegistry {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub uploads: BTreeMap<String, UploadedPolicy>,
    /// Oldest first; the last is active. Empty: the chain from the configuration is active.
    pub chains: Vec<ActivatedChain>,
    /// The chain running in shadow, if any.
    #[serde(default)]
    pub shadow: Option<ShadowChain>,
    /// How many shadows have been started.
    #[serde(default)]
    pub shadows_started: u64,
}

impl PolicyRegistry {
    pub fn active(&self) -> Option<&ActivatedChain> {
        self.chains.last()
    }
}
