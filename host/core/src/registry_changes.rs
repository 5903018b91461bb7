//! Rule-plugin administration: upload (stored by sha256 digest after the engine has checked
//! it), activation of a chain, and rollback to an earlier one. Each is a ledger entry about
//! the policy registry. Every host's engine follows the registry's active chain: it is loaded
//! at start-up and re-checked before every decision, so a change takes effect everywhere
//! without a restart, and evaluations in flight finish on the chain they started with.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::ledger::EventType;
use crate::registry::{ChainLink, PolicyRegistry, UploadedPolicy};
use crate::subject::Change;
use crate::validation::{FieldError, optional_whole_number, required_text};

/// The most policies a chain may hold.
pub(crate) const MAX_CHAIN: usize = 16;

pub fn blob_key(digest: &str) -> String {
    format!("policy/blob/{digest}")
}

/// `POST /v1/policies/chain`: the chain to activate, in evaluation order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// 1 to 16 policies.
    #[schema(min_items = 1, max_items = 16)]
    pub links: Vec<ChainLink>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
    /// The registry version looked at; if it has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_version: Option<u64>,
}

/// `POST /v1/policies/chain/rollback`: restore an earlier chain (default: the one before the
/// active one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The chain to restore (0: the one from the configuration).
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub to: Option<u64>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
}

/// `POST /v1/policies/shadow`: a candidate chain to run beside the active one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// 1 to 16 policies.
    #[schema(min_items = 1, max_items = 16)]
    pub links: Vec<ChainLink>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
}

/// `POST /v1/policies/shadow/stop`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopShadowRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub policy: UploadedPolicy,
    /// False when these exact bytes were uploaded before (nothing new was recorded).
    pub created: bool,
}

pub(crate) fn change(registry: PolicyRegistry, event: EventType, payload: serde_json::Value) -> Change {
    Change::of(registry, event, payload)
}

/// A plugin name: lowercase letters, digits and hyphens, starting with a letter, at most 64.
pub fn plugin_name(name: &str) -> Result<String, FieldError> {
    let name = required_text("name", name, 64)?;
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(FieldError::new("name", "use lowercase letters, digits and hyphens, starting with a letter"));
    }
    Ok(name)
}

/// A plugin's params schema (what its `describe()` gave), ready to check params with. A schema
/// that is not JSON, or not a JSON Schema this host can use (a remote `$ref` is never fetched),
/// is refused: levee could not check the plugin's params.
pub fn params_validator(plugin: &str, schema: &str) -> Result<jsonschema::Validator, String> {
    let schema: serde_json::Value = serde_json::from_str(schema)
        .map_err(|error| format!("policy {plugin}'s params schema (from describe()) is not JSON: {error}"))?;
    jsonschema::validator_for(&schema).map_err(|error| {
        format!("policy {plugin}'s params schema (from describe()) is not a usable JSON Schema: {error}")
    })
}

/// Whether `params` satisfy plugin `plugin`'s params schema; the refusal names each place in the
/// params that does not (at most five) and what is wrong there.
pub fn check_params(plugin: &str, schema: &str, params: &serde_json::Value) -> Result<(), String> {
    let validator = params_validator(plugin, schema)?;
    let problems: Vec<String> = validator
        .iter_errors(params)
        .take(5)
        .map(|error| match error.instance_path().to_string() {
            path if path.is_empty() => error.to_string(),
            path => format!("{path}: {error}"),
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!("the params do not match policy {plugin}'s schema: {}", problems.join("; ")))
}
