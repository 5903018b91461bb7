//! A levee rule plugin as a Spin component of its own. spin.toml plugs the plugin in as this
//! component's dependency `levee:policy/rules@0.1.0`, mounts the plugin's file at
//! `/plugin.wasm` and routes the component privately; the levee component calls it through
//! Spin's local service chaining (`http://policy-<name>.spin.internal/evaluate`).
//!
//! Why a component of its own: a plugin that traps ends only this instance, and levee, in its
//! own instance, records the case as failed closed, as `levee serve`'s sandbox does. Each call
//! is a fresh instance (Spin's HTTP trigger makes one per request), so no state survives from
//! one case to the next.
//!
//! - `POST /evaluate` with a `RemoteEvaluation` (the facts, and the parameters levee gives the
//!   plugin): a `RemoteDecision`, naming the plugin by what it says of itself and the SHA-256 of
//!   its bytes.
//! - `GET /describe`: the same identity, with the plugin's description and parameter schema.

use levee_core::engine::{PolicyIdentity, RemoteDecision, RemoteEvaluation};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Method, Request, Response};

mod bindings {
    wit_bindgen::generate!({ world: "policy-runner", path: "wit", generate_all });
}

use bindings::levee::policy::rules;

/// Facts and decisions between levee-core's types and these bindings (shared with both hosts).
mod convert {
    use crate::bindings::levee::policy::types as wit;

    include!("../../../../wit/convert.rs");
}

/// Where spin.toml mounts the plugin's own file (`files` of the runner's component).
const PLUGIN_FILE: &str = "/plugin.wasm";

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    match (request.method(), request.path()) {
        (Method::Post, "/evaluate") => evaluate(request.body()),
        (Method::Get, "/describe") => describe(),
        _ => plain(404, "a policy runner answers POST /evaluate and GET /describe"),
    }
}

fn evaluate(body: &[u8]) -> Response {
    let asked: RemoteEvaluation = match serde_json::from_slice(body) {
        Ok(asked) => asked,
        Err(error) => return plain(400, &format!("not a levee policy evaluation: {error}")),
    };
    let policy = match identity() {
        Ok(policy) => policy,
        Err(problem) => return plain(500, &problem),
    };
    let params = match asked.params {
        Some(params) => params.to_string(),
        None => own_params(),
    };
    let answer = rules::evaluate(&convert::facts_to_wit(&asked.facts), &params);
    let result = answer.map(convert::decision_from_wit).map_err(convert::policy_error_from_wit);
    json(&RemoteDecision { policy, result })
}

fn describe() -> Response {
    let info = rules::describe();
    match identity() {
        Ok(policy) => json(&serde_json::json!({
            "policy": policy,
            "description": info.description,
            "params_schema": info.params_schema,
        })),
        Err(problem) => plain(500, &problem),
    }
}

/// The plugin as the ledger names it: its name and version as it describes itself, and the
/// SHA-256 of its bytes (the file spin.toml plugs in and mounts).
fn identity() -> Result<PolicyIdentity, String> {
    let bytes = std::fs::read(PLUGIN_FILE).map_err(|error| {
        format!(
            "the plugin's own file is not mounted at {PLUGIN_FILE} ({error}): spin.toml must mount it (docs/spin.md)"
        )
    })?;
    let info = rules::describe();
    Ok(PolicyIdentity { name: info.name, version: info.version, digest: hex::encode(Sha256::digest(&bytes)) })
}

/// Parameters for a plugin levee's configuration does not parameterize: this component's
/// `params` variable, if spin.toml gives it one; otherwise `{}`.
fn own_params() -> String {
    spin_sdk::variables::get("params").ok().filter(|params| !params.trim().is_empty()).unwrap_or_else(|| "{}".into())
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder().status(200).header("content-type", "application/json").body(body).build(),
        Err(error) => plain(500, &format!("the answer could not be encoded: {error}")),
    }
}

fn plain(status: u16, message: &str) -> Response {
    Response::builder().status(status).header("content-type", "text/plain").body(message.to_owned()).build()
}
