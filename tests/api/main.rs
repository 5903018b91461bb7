//! Black-box tests of levee over real HTTP: a real server (`levee::app::start`) on a temporary
//! redb store, the real wasmtime engine and the real rule plugins. One test binary, one module
//! per area.

mod approval_matrix;
mod approvals;
mod authorization;
mod browser;
mod checkpoints;
mod comms;
mod concurrency;
mod console;
mod crash;
mod delegation;
mod demo_seed;
mod disk_full;
mod escalation;
mod evidence;
mod export;
mod floors;
mod four_eyes;
mod intake;
mod javascript;
mod job_ticks;
mod ledger;
mod many_hosts;
mod metrics;
mod outgoing_webhooks;
mod reconciliation;
mod redis_store;
mod registry;
mod remediation;
mod sandbox;
mod spin;
mod taxonomy;
mod validation;
