//! The deterministic WASI subset every plugin may import, so that components built with Rust's
//! `std`, or from JavaScript or Python, run, and every decision still replays from the ledger
//! (as Shopify Functions do):
//!
//! - no preopened directories, no arguments, an empty environment, an empty stdin; stdout is
//!   discarded and stderr kept (up to `STDERR_BYTES`) to explain a failure;
//! - a virtual clock that reads the case's submission time and advances only when the plugin
//!   sleeps, which returns at once: a plugin can neither block an evaluation thread nor see
//!   the real time;
//! - random numbers from a generator seeded by the case's id and submission time.
//!
//! Nothing else: `wasi:sockets` and `wasi:http` are neither allowed at upload
//! (`ALLOWED_INTERFACES`) nor linked (`add_to_linker`). Plugins that import no WASI (levee's
//! own, built `no_std`) never build any of this: the context is made on first use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::WasiCliCtxView;
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::p2::{DynPollable, Pollable, bindings, subscribe};
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder};

/// The WASI interfaces a plugin may import, at any 0.2.x version up to the one wasmtime-wasi
/// provides.
pub const ALLOWED_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// The WASI version family provided.
const WASI_VERSION_PREFIX: &str = "0.2.";

/// What a plugin may write to stderr per evaluation; a write beyond it fails.
pub const STDERR_BYTES: usize = 64 << 10;
/// The most random bytes one call may ask for.
const RANDOM_BYTES_PER_CALL: u64 = 64 << 10;
/// How much of stderr a failure quotes.
const STDERR_QUOTED: usize = 2 << 10;

/// Whether `import` (a component import name such as `wasi:io/poll@0.2.0`) is in the subset.
pub fn allows(import: &str) -> bool {
    import.split_once('@').is_some_and(|(interface, version)| {
        ALLOWED_INTERFACES.contains(&interface) && version.starts_with(WASI_VERSION_PREFIX)
    })
}

/// Whether `import` names a WASI interface at all.
pub fn is_wasi(import: &str) -> bool {
    import.starts_with("wasi:")
}

/// What the deterministic WASI of one evaluation is made from.
#[derive(Debug, Clone)]
pub struct Determinants {
    /// What the clock reads when the plugin starts.
    pub now: DateTime<Utc>,
    /// What the random source is seeded with.
    pub seed: [u8; 32],
}

impl Determinants {
    /// For a case: its submission time, and a seed from its id and that time, so a replay of
    /// the case sees the same clock and the same random numbers.
    pub fn for_case(case_id: &str, submitted_at: DateTime<Utc>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(case_id.as_bytes());
        hasher.update([0]);
        hasher.update(submitted_at.to_rfc3339().as_bytes());
        Determinants { now: submitted_at, seed: hasher.finalize().into() }
    }

    /// Outside any case (`describe()`): the Unix epoch and a zero seed.
    pub fn outside_a_case() -> Self {
        Determinants { now: DateTime::UNIX_EPOCH, seed: [0; 32] }
    }
}

/// The WASI state of one evaluation, built the first time the plugin calls into WASI.
pub struct WasiSession {
    determinants: Determinants,
    built: Option<Box<BuiltSession>>,
}

struct BuiltSession {
    ctx: WasiCtx,
    table: ResourceTable,
    clock: VirtualClock,
    stderr: MemoryOutputPipe,
}

impl WasiSession {
    pub fn new(determinants: Determinants) -> Self {
        WasiSession { determinants, built: None }
    }

    fn built(&mut self) -> &mut BuiltSession {
        let determinants = &self.determinants;
        self.built.get_or_insert_with(|| Box::new(BuiltSession::new(determinants)))
    }

    /// Whether the plugin has called WASI in this session (the session is built on the first
    /// call): if it has not, it holds no WASI handle.
    pub fn was_called(&self) -> bool {
        self.built.is_some()
    }

    /// The end of what the plugin wrote to stderr, if it wrote anything.
    pub fn stderr_tail(&self) -> Option<String> {
        let written = self.built.as_ref()?.stderr.contents();
        let text = String::from_utf8_lossy(&written);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let start = text.len().saturating_sub(STDERR_QUOTED);
        let start = (start..text.len()).find(|index| text.is_char_boundary(*index)).unwrap_or(text.len());
        Some(text[start..].to_owned())
    }
}

impl BuiltSession {
    fn new(determinants: &Determinants) -> Self {
        let clock = VirtualClock::starting_at(determinants.now);
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        let seed = determinants.seed;
        let insecure_seed = u128::from_le_bytes(seed[..16].try_into().unwrap_or_default());
        let ctx = WasiCtxBuilder::new()
            .stdout(SinkOutputStream)
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .secure_random(StdRng::from_seed(seed))
            .insecure_random(StdRng::from_seed(Sha256::digest(seed).into()))
            .insecure_random_seed(insecure_seed)
            .max_random_size(RANDOM_BYTES_PER_CALL)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        BuiltSession { ctx, table: ResourceTable::new(), clock, stderr }
    }
}

/// Gives a store's data the WASI subset.
pub trait HasWasiSession: Send + 'static {
    fn wasi_session(&mut self) -> &mut WasiSession;
}

/// Links the subset, and nothing else, into `linker`.
pub fn add_to_linker<T: HasWasiSession>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use bindings::{cli, clocks, filesystem, random};
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::clocks::WasiClocks;
    use wasmtime_wasi::filesystem::WasiFilesystem;
    use wasmtime_wasi::random::WasiRandom;

    let l = linker;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, |t| t.wasi_session().built().clocks())?;
    monotonic_clock::add_to_linker::<T, VirtualClocks>(l, |t| t.wasi_session().built().virtual_clock())?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, |t| t.wasi_session().built().filesystem())?;
    bindings::sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, |t| {
        t.wasi_session().built().filesystem()
    })?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.wasi_session().built().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.wasi_session().built().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.wasi_session().built().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::environment::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, |t| t.wasi_session().built().cli())?;
    bindings::io::error::add_to_linker::<T, Table>(l, |t| &mut t.wasi_session().built().table)?;
    bindings::sync::io::poll::add_to_linker::<T, Table>(l, |t| &mut t.wasi_session().built().table)?;
    bindings::sync::io::streams::add_to_linker::<T, Table>(l, |t| &mut t.wasi_session().built().table)?;
    Ok(())
}

struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

/// Time as the plugin sees it: where it started, plus what it has slept.
#[derive(Clone)]
struct VirtualClock {
    start: Duration,
    slept_nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    fn starting_at(now: DateTime<Utc>) -> Self {
        let since_epoch = (now - DateTime::UNIX_EPOCH).to_std().unwrap_or_default();
        VirtualClock { start: since_epoch, slept_nanos: Arc::new(AtomicU64::new(0)) }
    }

    fn elapsed_nanos(&self) -> u64 {
        self.slept_nanos.load(Ordering::Relaxed)
    }

    /// Moves the clock on to `nanos` after the start, never back.
    fn advance_to(&self, nanos: u64) {
        self.slept_nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.start.saturating_add(Duration::from_nanos(self.elapsed_nanos()))
    }
}

/// `wasi:clocks/monotonic-clock` on the virtual clock: it reads the time slept, and a
/// subscription is ready at once, having moved the clock on to its instant.
struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = VirtualClockView<'a>;
}

struct VirtualClockView<'a> {
    clock: &'a VirtualClock,
    table: &'a mut ResourceTable,
}

/// The views of the session that wasmtime-wasi's host implementations take.
impl BuiltSession {
    fn virtual_clock(&mut self) -> VirtualClockView<'_> {
        VirtualClockView { clock: &self.clock, table: &mut self.table }
    }

    fn clocks(&mut self) -> WasiClocksCtxView<'_> {
        WasiClocksCtxView { ctx: self.ctx.clocks(), table: &mut self.table }
    }

    fn filesystem(&mut self) -> WasiFilesystemCtxView<'_> {
        WasiFilesystemCtxView { ctx: self.ctx.filesystem(), table: &mut self.table }
    }

    fn cli(&mut self) -> WasiCliCtxView<'_> {
        WasiCliCtxView { ctx: self.ctx.cli(), table: &mut self.table }
    }
}

impl VirtualClockView<'_> {
    fn elapse_until(&mut self, instant: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.clock.advance_to(instant);
        let elapsed = self.table.push(Elapsed)?;
        subscribe(self.table, elapsed)
    }
}

impl monotonic_clock::Host for VirtualClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock.elapsed_nanos())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapse_until(when)
    }

    fn subscribe_duration(&mut self, duration: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let until = self.clock.elapsed_nanos().saturating_add(duration);
        self.elapse_until(until)
    }
}

/// A pollable for a time the virtual clock has already reached.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_subset_at_any_0_2_version_and_nothing_else() {
        assert!(allows("wasi:clocks/wall-clock@0.2.0"));
        assert!(allows("wasi:io/streams@0.2.6"));
        assert!(allows("wasi:filesystem/preopens@0.2.3"));
        assert!(!allows("wasi:sockets/tcp@0.2.0"));
        assert!(!allows("wasi:http/outgoing-handler@0.2.0"));
        assert!(!allows("wasi:clocks/wall-clock@0.3.0"));
        assert!(!allows("wasi:clocks/wall-clock"));
        assert!(is_wasi("wasi:sockets/tcp@0.2.0"));
        assert!(!is_wasi("levee:policy/types@0.1.0"));
    }

    #[test]
    fn the_clock_starts_at_the_submission_and_moves_only_by_sleeping() {
        let at = DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z").unwrap().with_timezone(&Utc);
        let clock = VirtualClock::starting_at(at);
        assert_eq!(clock.now().as_secs(), at.timestamp() as u64);
        clock.advance_to(3_600_000_000_000);
        clock.advance_to(1);
        assert_eq!(clock.now().as_secs(), at.timestamp() as u64 + 3600);
    }

    #[test]
    fn the_seed_is_the_cases_own() {
        let at = DateTime::UNIX_EPOCH;
        assert_eq!(Determinants::for_case("LV-1", at).seed, Determinants::for_case("LV-1", at).seed);
        assert_ne!(Determinants::for_case("LV-1", at).seed, Determinants::for_case("LV-2", at).seed);
    }
}
