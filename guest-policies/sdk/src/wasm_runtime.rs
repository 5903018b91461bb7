//! What a `no_std` component needs from its runtime on wasm32, so that it imports nothing
//! (no WASI): a global allocator over its own linear memory, a panic handler, the canonical
//! ABI's `cabi_realloc`, and `memcmp`/`bcmp`.
//!
//! On wasm32-wasip2 the standard library's `compiler_builtins` leaves the C memory routines
//! to wasi-libc, which a `no_std` crate does not link. `memcpy`, `memmove` and `memset` become
//! bulk-memory instructions (enabled by default on the target), but comparisons still call
//! `memcmp`/`bcmp`, which would otherwise be left as imports from `env`.

use core::alloc::{GlobalAlloc, Layout};

/// dlmalloc grows the component's linear memory with `memory.grow`; the host's limits
/// decide how far.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic traps the instance: the host sees a trap, not a message. (Formatting the message
/// would pull in code and could itself fail.)
#[panic_handler]
fn trap_on_panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator: the host calls it to place strings and lists (the facts,
/// the params) in this component's memory.
///
/// wit-bindgen supplies one only for wasm32-unknown-unknown and wasip1 targets; on
/// wasm32-wasip2 it expects the standard library's, which a `no_std` crate does not link.
///
/// # Safety
/// Called by the host under the canonical ABI's rules: `old_ptr`/`old_len`/`align` describe
/// a block this function returned earlier (or `old_len == 0`), and `align` is a power of two.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(old_ptr: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    let ptr = unsafe {
        if old_len == 0 {
            ALLOCATOR.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            let old_layout = Layout::from_size_align_unchecked(old_len, align);
            ALLOCATOR.realloc(old_ptr, old_layout, new_len)
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable();
    }
    ptr
}

/// C `memcmp`: compares `len` bytes, returning <0, 0 or >0 like the first differing byte.
///
/// # Safety
/// `left` and `right` must be valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, len: usize) -> i32 {
    for offset in 0..len {
        let (a, b) = unsafe { (*left.add(offset), *right.add(offset)) };
        if a != b {
            return i32::from(a) - i32::from(b);
        }
    }
    0
}

/// C `bcmp`: 0 when the `len` bytes are equal, non-zero otherwise.
///
/// # Safety
/// `left` and `right` must be valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(left: *const u8, right: *const u8, len: usize) -> i32 {
    unsafe { memcmp(left, right, len) }
}
