//! A levee rule plugin as a Spin component of its own. spin.toml plugs the plugin in as this
//! component's dependency `levee:policy/rules@0.2.0`, mounts the plugin's file at
//! `/plugin.wasm` and routes the component privately; the levee component calls it through
//! Spin's local service chaining (`http://policy-<name>.spin.internal/evaluate`).
//!
//! Why a component of its own: a plugin that traps ends only this instance, and levee, in its
//! own instance, records the case as failed closed, as `levee serve`'s sandbox does. Each call
//! is a fresh instance (Spin's HTTP trigger makes one per request), so no state survives from
//! one case to the next. That also means the plugin is configured with its params on every
//! call, then asked to evaluate: Spin gives no way to snapshot a configured instance at run
//! time, as `levee serve` does (docs/spin.md).
//!
//! - `POST /evaluate` with a `RemoteEvaluation` (the facts, and the parameters levee gives the
//!   plugin): a `RemoteDecision`, naming the plugin by what it says of itself and the SHA-256 of
//!   its bytes.
//! - `GET /describe`: the same identity, with the plugin's description and parameter schema.
//!
//! The digest: hashing the file costs about a millisecond, on every call, since no state
//! outlives an instance. So the runner also answers the file's fingerprint (`file`), which levee
//! keeps and sends back (`known`, or `?fingerprint=…&digest=…` on `/describe`): while the file's
//! fingerprint is the same, the runner names the plugin by the digest it was given.

use levee_core::engine::{FileDigest, PolicyIdentity, RemoteDecision, RemoteEvaluation};
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

mod plugin_file;

#[spin_sdk::http_component]
fn handle(request: Request) -> Response {
    match (request.method(), request.path()) {
        (Method::Post, "/evaluate") => evaluate(request.body()),
        (Method::Get, "/describe") => describe(known_from_query(request.query())),
        _ => plain(404, "a policy runner answers POST /evaluate and GET /describe"),
    }
}

fn evaluate(body: &[u8]) -> Response {
    let asked: RemoteEvaluation = match serde_json::from_slice(body) {
        Ok(asked) => asked,
        Err(error) => return plain(400, &format!("not a levee policy evaluation: {error}")),
    };
    let (policy, file) = match identity(asked.known, rules::describe()) {
        Ok(identified) => identified,
        Err(problem) => return plain(500, &problem),
    };
    let params = match asked.params {
        Some(params) => params.to_string(),
        None => own_params(),
    };
    let answer = rules::configure(&params).and_then(|()| rules::evaluate(&convert::facts_to_wit(&asked.facts)));
    let result = answer.map(convert::decision_from_wit).map_err(convert::policy_error_from_wit);
    json(&RemoteDecision { policy, result, file: Some(file) })
}

fn describe(known: Option<FileDigest>) -> Response {
    let info = rules::describe();
    let (description, params_schema) = (info.description.clone(), info.params_schema.clone());
    match identity(known, info) {
        Ok((policy, file)) => json(&serde_json::json!({
            "policy": policy,
            "file": file,
            "description": description,
            "params_schema": params_schema,
        })),
        Err(problem) => plain(500, &problem),
    }
}

/// `fingerprint=…&digest=…` (hex, so nothing to decode), if both are there.
fn known_from_query(query: &str) -> Option<FileDigest> {
    let value =
        |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned);
    Some(FileDigest { fingerprint: value("fingerprint")?, digest: value("digest")? })
}

/// The plugin as the ledger names it: its name and version as it describes itself (`info`),
/// and the SHA-256 of its bytes (the file spin.toml plugs in and mounts): `known`'s digest if the
/// file still has `known`'s fingerprint, else hashed now.
fn identity(known: Option<FileDigest>, info: rules::PolicyInfo) -> Result<(PolicyIdentity, FileDigest), String> {
    let fingerprint = plugin_file::fingerprint()?;
    let file = match known {
        Some(known) if known.fingerprint == fingerprint => known,
        _ => FileDigest { fingerprint, digest: hex::encode(Sha256::digest(plugin_file::read()?)) },
    };
    Ok((PolicyIdentity { name: info.name, version: info.version, digest: file.digest.clone() }, file))
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
