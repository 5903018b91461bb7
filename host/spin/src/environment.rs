//! levee as this request's Spin environment makes it: the configuration from the `config`
//! variable (the workflow sections of a levee.toml: tokens, taxonomy, matrix, teams, webhooks,
//! metrics; checked exactly as `levee serve` checks them), demo tokens when the `demo` variable
//! is `true`, the store the `store` variable names (`store`), and the rule plugins the
//! `policies` variable names, each a component of its own (`engine`).

use std::collections::BTreeMap;
use std::sync::Arc;

use levee_core::Levee;
use levee_core::clock::SystemClock;
use levee_core::config::{self, TokenConfig, WorkflowConfig};
use levee_core::controls::CONTROLS_SUBJECT;
use levee_core::projections;
use levee_core::registry::{ChainLink, REGISTRY_SUBJECT};
use levee_core::store::Store;
use levee_core::taxonomy_changes::TAXONOMY_SUBJECT;

use spin_sdk::variables::{self, Error as VariableError};

use crate::engine::ChainedEngine;
use crate::webhooks::SpinSender;

/// Where the demo cast's tokens are kept, role → token, once the first request has made them.
pub const DEMO_TOKENS_KEY: &str = "demo/tokens";

/// Builds levee for one request.
pub fn levee() -> Result<Levee, String> {
    let workflow = workflow_config()?;
    let chain = ChainedEngine::chain_from(variable("policies")?.as_deref())?;
    let store = crate::store::open(&read_ahead(&chain))?;
    let demo_cast = if variable("demo")?.is_some_and(|value| value.trim() == "true") {
        demo_cast(&*store)?
    } else {
        BTreeMap::new()
    };
    let report = config::check(&workflow, &demo_cast.values().cloned().collect::<Vec<_>>());
    if !report.is_ok() {
        return Err(format!("the `config` variable is not a usable levee configuration:\n{}", report.render()));
    }
    let mut settings = workflow.settings("spin variable config", &demo_cast)?;
    settings.configured_chain = chain.iter().map(|name| builtin_link(name)).collect();
    let max_deadline_ms = match variable("policy_deadline_max_ms")? {
        Some(text) if !text.trim().is_empty() => {
            text.trim().parse::<u64>().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                format!(
                    "the `policy_deadline_max_ms` variable must be a whole number of milliseconds above 0, not {text:?}"
                )
            })?
        }
        _ => crate::engine::DEFAULT_MAX_DEADLINE_MS,
    };
    let default_params = |name: &str| settings.default_params(name, &settings.taxonomy);
    let engine = ChainedEngine::new(chain, default_params, Arc::clone(&store), max_deadline_ms);
    let levee = Levee::new(store, Arc::new(engine), Arc::new(SystemClock), Arc::new(SpinSender), settings);
    levee.policies().sync().map_err(|error| format!("load the active policy chain: {error}"))?;
    Ok(levee)
}

/// The records levee reads one by one, for the store to read at once: the demo tokens, what the
/// plugins' runners said of their files, the policy registry and the taxonomy (read building
/// levee), and the controls (read by every submission: the groups and floors in force).
fn read_ahead(chain: &[String]) -> Vec<String> {
    let mut keys = vec![DEMO_TOKENS_KEY.to_owned()];
    keys.extend(ChainedEngine::keys_read(chain));
    keys.extend([REGISTRY_SUBJECT, TAXONOMY_SUBJECT, CONTROLS_SUBJECT].map(projections::subject_key));
    keys
}

/// The workflow configuration in the `config` variable (TOML); the defaults if it is empty.
fn workflow_config() -> Result<WorkflowConfig, String> {
    match variable("config")? {
        Some(text) if !text.trim().is_empty() => {
            toml::from_str(&text).map_err(|error| format!("the `config` variable is not valid levee TOML: {error}"))
        }
        _ => Ok(WorkflowConfig::default()),
    }
}

/// A Spin variable, `None` if the manifest does not define it.
pub fn variable(name: &str) -> Result<Option<String>, String> {
    match variables::get(name) {
        Ok(value) => Ok(Some(value)),
        Err(VariableError::Undefined(_)) => Ok(None),
        Err(error) => Err(format!("read the Spin variable {name}: {error:?}")),
    }
}

fn builtin_link(name: &str) -> ChainLink {
    ChainLink { name: name.to_owned(), digest: None, params: None, fuel: None, deadline_ms: None, memory_bytes: None }
}

/// The demo cast, its tokens made once, kept in the store and printed to the component's log.
fn demo_cast(store: &dyn Store) -> Result<BTreeMap<&'static str, TokenConfig>, String> {
    let tokens = match stored_demo_tokens(store)? {
        Some(tokens) => tokens,
        None => {
            let mut randoms = Vec::new();
            for _ in 0..config::demo::ROLES {
                randoms.push(random_u128()?);
            }
            let mut randoms = randoms.into_iter();
            let fresh =
                config::demo::cast(|role| format!("lv_demo_{role}_{:032x}", randoms.next().unwrap_or_default()));
            let by_role: BTreeMap<&str, &str> =
                fresh.iter().map(|(role, token)| (*role, token.token.as_str())).collect();
            let encoded = serde_json::to_vec(&by_role).map_err(|error| error.to_string())?;
            if store.compare_and_swap(DEMO_TOKENS_KEY, None, &encoded).map_err(|error| error.to_string())? {
                print_cast(&fresh);
            }
            stored_demo_tokens(store)?.ok_or("the demo tokens were not stored")?
        }
    };
    // A role added to the cast after these tokens were made has none, and no token is empty.
    let cast = config::demo::cast(|role| tokens.get(role).cloned().unwrap_or_default());
    Ok(cast.into_iter().filter(|(_, token)| !token.token.is_empty()).collect())
}

fn stored_demo_tokens(store: &dyn Store) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(bytes) = store.get(DEMO_TOKENS_KEY).map_err(|error| error.to_string())? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| format!("{DEMO_TOKENS_KEY} is not role → token: {error}"))
}

fn print_cast(cast: &BTreeMap<&'static str, TokenConfig>) {
    println!("levee demo tokens (kept in the store under {DEMO_TOKENS_KEY}):");
    for (role, token) in cast {
        println!("  {role:<10} {:<16} {}", token.actor, token.token);
    }
}

/// 128 bits from `wasi:random`.
fn random_u128() -> Result<u128, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| format!("no random source for the demo tokens: {error}"))?;
    Ok(u128::from_le_bytes(bytes))
}
