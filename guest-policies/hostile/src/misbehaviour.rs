//! The hostile plugin's misbehaviours, each written so that the optimizer keeps it.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;

use levee_policy_sdk::{ApprovalRequirement, ApproverLevel, Decision};

/// Each `grow` step allocates this much more and writes every byte of it.
const GROW_STEP_BYTES: usize = 1 << 20;

/// Traps: a wasm `unreachable` instruction (natively, a panic).
pub fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!("hostile trap");
}

/// Counts forever; `black_box` keeps the loop from being optimized away.
pub fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Keeps every buffer alive and adds a new, fully written one each step. When memory runs
/// out the allocation fails, which aborts (a trap on wasm32).
pub fn grow_until_allocation_fails() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let buffer = vec![0xA5_u8; GROW_STEP_BYTES];
        hoard.push(black_box(buffer));
        black_box(&mut hoard);
    }
}

/// Require-approval with zero approvals and no reason: output the host must refuse.
pub fn malformed_decision() -> Decision {
    let requirement =
        ApprovalRequirement { level: ApproverLevel::Lead, approvals_needed: 0, sla_minutes: None, reason: "".into() };
    Decision::require_approval(requirement, "hostile/malformed")
}

/// Recurses without end (the exit is never taken, but the optimizer cannot know that); adding
/// after the call keeps it from becoming a loop.
pub fn recurse_forever(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    let next = black_box(depth + 1);
    recurse_forever(next).wrapping_add(black_box(1))
}

/// A decision far larger than any host should accept: a 4 MiB reason, 50,000 signals.
pub fn huge_decision() -> Decision {
    use alloc::string::String;
    let reason: String = core::iter::repeat_n('x', 4 << 20).collect();
    let requirement =
        ApprovalRequirement { level: ApproverLevel::Lead, approvals_needed: 1, sla_minutes: None, reason };
    let mut decision = Decision::require_approval(requirement, "hostile/huge");
    decision.signals = (0..50_000).map(|index| alloc::format!("signal-{index}")).collect();
    decision
}
