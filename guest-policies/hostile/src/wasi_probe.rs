//! The hostile plugin's WASI modes: what a plugin built with `std`, JavaScript or Python could
//! reach through WASI, probed directly, so the host's tests can check that every answer is the
//! deterministic one levee promises (see host/server/src/policy/wasi.rs).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use levee_policy_sdk::Decision;
use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::{cli, filesystem, random};

/// An hour, in nanoseconds: what `probe` sleeps.
const AN_HOUR_NANOS: u64 = 3_600_000_000_000;

/// Auto-approves, reporting in its signals what WASI answered: the wall clock before and after
/// sleeping an hour, the monotonic clock after it, eight random bytes, and how many
/// environment variables, arguments and preopened directories there are.
pub fn probe() -> Decision {
    let before = wall_clock::now();
    let sleep = monotonic_clock::subscribe_duration(AN_HOUR_NANOS);
    sleep.block();
    let after = wall_clock::now();
    let mut decision = Decision::auto_approve("hostile/probe");
    decision.signals = Vec::from([
        format!("wall={}.{:09}", before.seconds, before.nanoseconds),
        format!("wall_after_sleep={}", after.seconds),
        format!("monotonic={}", monotonic_clock::now()),
        format!("random={}", hex(&random::random::get_random_bytes(8))),
        format!("insecure_random={:016x}", random::insecure::get_insecure_random_u64()),
        format!("env={}", cli::environment::get_environment().len()),
        format!("args={}", cli::environment::get_arguments().len()),
        format!("preopens={}", filesystem::preopens::get_directories().len()),
    ]);
    decision
}

/// Writes to stdout and stderr, then traps: the host must quote stderr in the failure.
pub fn write_then_trap() -> ! {
    let _ = cli::stdout::get_stdout().blocking_write_and_flush(b"hostile: stdout is discarded\n");
    let _ = cli::stderr::get_stderr().blocking_write_and_flush(b"hostile: about to trap\n");
    crate::misbehaviour::trap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
