//! levee, the binary's library: everything `levee serve` and `levee audit verify` are made of,
//! so black-box tests can start a real server in-process.
//!
//! - `config`: levee.toml, flags and defaults; `config_check`: every problem of one, named;
//!   `init`: a commented starter levee.toml.
//! - `app`: wiring the core to a store and a policy engine; starting and stopping the server.
//! - `http`: the axum shell around levee-core's route table.
//! - `policy`: the wasmtime engine that runs rule plugins in sandboxes.
//! - `store`: the storage backends (redb, memory).
//! - `demo`: demo tokens for every role. The six months of synthetic activity `serve --demo`
//!   seeds on an empty store are the `levee-demo` crate's.
//! - `audit`: offline ledger verification.
//! - `jobs`: the background timer (SLA escalation, remediation, outgoing webhooks).
//! - `cli`: the `levee` command line, each subcommand in its own module (`main.rs` calls it).

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod demo;
pub mod http;
pub mod init;
pub mod jobs;
pub mod policy;
pub mod store;

/// Makes ring the process's TLS crypto provider, for HTTPS clients (outgoing webhooks, the
/// CLI's server commands). Safe to call more than once.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP(S) client, with the TLS provider installed first (reqwest needs one to build).
pub fn http_client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}
