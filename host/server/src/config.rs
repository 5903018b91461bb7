//! levee's configuration: a TOML file (`--config`), command-line flags and environment
//! variables over it, and built-in defaults for everything.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data = "./levee-data"
//! store = { type = "redb", cache_mib = 64 }  # page cache (default 64); or { type = "memory" }, or shared by many hosts:
//! # store = { type = "redis", url = "rediss://:pw@redis.internal:6380", prefix = "levee:prod:",
//! #           tls_ca = "ca.pem", pool_size = 32, connect_timeout_ms = 2000, command_timeout_ms = 2000 }
//! http = { body_bytes = 65536, upload_bytes = 5242880, timeout_ms = 10000 }
//! sandbox = { fuel = 10000000, deadline_ms = 100, memory_bytes = 16777216 }
//! sandbox_max = { fuel = 100000000, deadline_ms = 1000, memory_bytes = 67108864 }  # no link above
//!
//! [[policies]]                          # the chain, in order; default: threshold, routing
//! name = "threshold"                    # a built-in, or any name with `path`
//! [[policies]]
//! name = "repeat-guard"
//! path = "plugins/repeat_guard.wasm"
//! params = { window_days = 30 }
//! fuel = 2000000                        # per-policy overrides of [sandbox]
//!
//! [[tokens]]
//! token = "…"
//! actor = "dana"
//! roles = ["approver"]
//! team = "billing-ops"
//! level = "manager"
//! limits = { USD = 500000, EUR = 500000 }
//!
//! [[approval_groups]]                   # N of M at a level (docs/governance.md)
//! name = "finance-committee"
//! level = "finance"
//! members = ["frankie", "dana", "drew"]
//! approvals = 2
//!
//! [[teams]]                             # code owners' managers, for remediation escalation
//! name = "billing-ops"
//! manager = "dana"
//!
//! [[outgoing_webhooks]]                 # Standard Webhooks for signals
//! name = "ops-alerts"
//! url = "https://hooks.example.com/levee"
//! secret = "whsec_…"
//!
//! [jobs]
//! interval_ms = 30000                   # SLA escalation, remediation, webhook delivery
//!
//! [audit]
//! checkpoint_key = "levee-checkpoint.key"   # signs ledger checkpoints (`levee audit keygen`; docs/audit.md)
//! ```
//!
//! `[taxonomy]` and `[matrix]` replace the built-in exception taxonomy and approval matrix;
//! `levee init` writes a starter file with both, and `levee config check` checks any file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use levee_core::config::WorkflowConfig;
pub use levee_core::config::{TeamConfig, TokenConfig};
use levee_core::engine::PolicyLimits;
use levee_core::matrix::ApprovalMatrix;
use levee_core::registry::ChainLink;
use levee_core::taxonomy::Taxonomy;
use serde::{Deserialize, Serialize};

use crate::policy::{SandboxLimits, SandboxMaxima};
use crate::store::StoreConfig;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA: &str = "./levee-data";

/// The contents of a levee.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data: Option<PathBuf>,
    pub store: StoreConfig,
    pub http: HttpLimits,
    pub sandbox: SandboxLimits,
    /// The most any chain link may set: a chain above it is refused before it is recorded.
    pub sandbox_max: SandboxMaxima,
    /// The policy chain in evaluation order; empty means threshold then routing.
    pub policies: Vec<PolicyConfig>,
    pub tokens: Vec<TokenConfig>,
    /// Replaces the built-in taxonomy.
    pub taxonomy: Option<Taxonomy>,
    /// Replaces the built-in approval matrix.
    pub matrix: Option<ApprovalMatrix>,
    /// Background jobs (SLA escalation).
    pub jobs: crate::jobs::JobsConfig,
    /// N-of-M approval groups: cases waiting at a group's level need its members' approvals.
    pub approval_groups: Vec<levee_core::identity::ApprovalGroup>,
    /// Teams and their managers, to whom overdue remediation items escalate.
    pub teams: Vec<TeamConfig>,
    /// Where outgoing signals (Standard Webhooks) are sent.
    pub outgoing_webhooks: Vec<levee_core::outbox::OutgoingEndpoint>,
    /// Helpdesks whose ticket webhooks become cases (`POST /v1/webhooks/{name}`).
    pub webhook_sources: Vec<levee_core::intake::WebhookSource>,
    /// `[metrics]`: the limits signals are judged by (fast approvals, outliers, drift).
    pub metrics: levee_core::metrics::MetricsSettings,
    /// `[floors]`: what no policy chain can lower (docs/governance.md).
    pub floors: levee_core::floors::FloorsConfig,
    /// `[evidence]`: whether required attachments must be files levee stores.
    pub evidence: levee_core::config::EvidenceConfig,
    /// `[audit]`: the key ledger checkpoints are signed with.
    pub audit: crate::audit::AuditConfig,
}

/// Limits on every HTTP request: the body size, and how long receiving it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    pub body_bytes: usize,
    /// The body limit of plugin uploads (`POST /v1/policies`), above the plugin size limit so
    /// that an oversized plugin is refused by name.
    pub upload_bytes: usize,
    pub timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { body_bytes: levee_core::api::DEFAULT_BODY_BYTES, upload_bytes: 5 << 20, timeout_ms: 10_000 }
    }
}

/// One policy of the chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `threshold` and `routing` are built in; any other name needs `path`.
    pub name: String,
    /// A component file to load instead of a built-in.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Parameters; the built-ins default to the matrix and the taxonomy.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    #[serde(default)]
    pub fuel: Option<u64>,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
}

impl PolicyConfig {
    pub fn builtin(name: &str) -> Self {
        PolicyConfig {
            name: name.to_owned(),
            path: None,
            params: None,
            fuel: None,
            deadline_ms: None,
            memory_bytes: None,
        }
    }

    /// This policy as a link of a chain, its file (if any) named by `digest`.
    pub fn chain_link(&self, digest: Option<String>) -> ChainLink {
        ChainLink {
            name: self.name.clone(),
            digest,
            params: self.params.clone(),
            fuel: self.fuel,
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_bytes,
        }
    }

    /// The sandbox limits for this policy: its overrides over the defaults.
    pub fn limits(&self, defaults: SandboxLimits) -> SandboxLimits {
        defaults.overridden_by(PolicyLimits {
            fuel: self.fuel,
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_bytes,
        })
    }
}

/// Everything `levee serve` runs with, after flags and environment are applied.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Add demo tokens for every role and write them to `<data>/demo-tokens.json`.
    pub demo: bool,
    /// Seed about six months of synthetic activity into an empty store before serving (`serve
    /// --demo`, unless `--no-seed`). Off unless set: `resolve` leaves it false.
    pub seed_demo_data: bool,
    pub file: FileConfig,
    /// Where `file` came from, for the provenance of token authority.
    pub config_path: Option<PathBuf>,
}

impl FileConfig {
    /// The workflow sections, as every shell reads them (`levee_core::config`).
    pub fn workflow(&self) -> WorkflowConfig {
        WorkflowConfig {
            tokens: self.tokens.clone(),
            taxonomy: self.taxonomy.clone(),
            matrix: self.matrix.clone(),
            approval_groups: self.approval_groups.clone(),
            teams: self.teams.clone(),
            outgoing_webhooks: self.outgoing_webhooks.clone(),
            webhook_sources: self.webhook_sources.clone(),
            metrics: self.metrics.clone(),
            floors: self.floors.clone(),
            evidence: self.evidence,
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read config {}", path.display()))?;
        // A TOML error quotes the offending line, which may hold the store's password.
        toml::from_str(&text).map_err(|error| {
            let message = crate::store::redis::redact_credentials(&error.to_string());
            anyhow::anyhow!("config {} is not valid: {message}", path.display())
        })
    }
}

impl ServeConfig {
    /// Flags win over the file, the file over the defaults.
    pub fn resolve(
        listen: Option<SocketAddr>,
        data: Option<PathBuf>,
        config_path: Option<PathBuf>,
        demo: bool,
    ) -> anyhow::Result<Self> {
        let file = match &config_path {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse().context("default listen address")?;
        Ok(ServeConfig {
            listen: listen.or(file.listen).unwrap_or(default_listen),
            data_dir: data.or_else(|| file.data.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            demo,
            seed_demo_data: false,
            file,
            config_path,
        })
    }

    /// The policy chain, defaulting to threshold then routing.
    pub fn chain(&self) -> Vec<PolicyConfig> {
        if self.file.policies.is_empty() {
            return vec![PolicyConfig::builtin("threshold"), PolicyConfig::builtin("routing")];
        }
        self.file.policies.clone()
    }
}
