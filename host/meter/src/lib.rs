//! Gives a WebAssembly component (or core module) a fuel budget of its own, for a runtime that
//! sets none. Spin 4 runs a WASIp2 component with no fuel and no deadline, so a rule plugin that
//! loops would hold one of Spin's worker threads for as long as the process lives (docs/spin.md).
//! `meter` rewrites each core module inside the component so that it counts its own work in a
//! global of its own and executes `unreachable` (a trap, which ends only that instance) once
//! the budget is spent.
//!
//! What is counted: on entry to each function and at the top of each pass through a loop, the
//! number of instructions in that function or loop body, not counting the loops nested in it
//! (which count themselves). Every instruction between two such points runs at most once, so
//! the count is at least the instructions executed (wasmtime's fuel counts about one per
//! instruction): a plugin may run out a little sooner than under `levee serve`'s fuel, never
//! later. Every way to run long passes through a loop or a call, so none escapes.
//!
//! A metered module carries a custom section `levee-meter` holding its budget; metering it
//! again is refused, so the budget stated is the budget in force.

mod module;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, ReencodeComponent};

/// The budget when none is given: `levee serve`'s default fuel per evaluation.
pub const DEFAULT_FUEL: u64 = 10_000_000;

/// The custom section naming a metered module's budget.
pub const MARK: &str = "levee-meter";

/// Why a file could not be metered.
#[derive(Debug)]
pub enum MeterError {
    /// Not a WebAssembly component or module, or one wasmparser cannot read.
    Invalid(String),
    /// It is metered already (its budget, as the mark says).
    AlreadyMetered(String),
    /// A budget of 0, or one above what the counter holds.
    Budget(u64),
}

impl std::fmt::Display for MeterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeterError::Invalid(why) => write!(f, "not a WebAssembly component or module levee can meter: {why}"),
            MeterError::AlreadyMetered(budget) => {
                write!(f, "already metered (a budget of {budget}): meter the plugin as built, not a metered copy")
            }
            MeterError::Budget(fuel) => write!(f, "a fuel budget is 1 to {}, not {fuel}", i64::MAX),
        }
    }
}

impl std::error::Error for MeterError {}

impl From<ReencodeError<MeterError>> for MeterError {
    fn from(error: ReencodeError<MeterError>) -> Self {
        match error {
            ReencodeError::UserError(error) => error,
            other => MeterError::Invalid(other.to_string()),
        }
    }
}

/// `wasm` (a component or a core module) with every core module in it metered to `fuel`.
pub fn meter(wasm: &[u8], fuel: u64) -> Result<Vec<u8>, MeterError> {
    let budget = i64::try_from(fuel).ok().filter(|budget| *budget > 0).ok_or(MeterError::Budget(fuel))?;
    let parser = wasmparser::Parser::new(0);
    let metered = if wasmparser::Parser::is_component(wasm) {
        let mut component = wasm_encoder::Component::new();
        ComponentMeter { budget }.parse_component(&mut component, parser, wasm)?;
        component.finish()
    } else if wasmparser::Parser::is_core_wasm(wasm) {
        let mut module = wasm_encoder::Module::new();
        module::meter(&mut module, parser, wasm, budget)?;
        module.finish()
    } else {
        return Err(MeterError::Invalid("it does not start with WebAssembly's magic number".into()));
    };
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&metered)
        .map_err(|error| MeterError::Invalid(format!("the metered file does not validate: {error}")))?;
    Ok(metered)
}

/// The budget a metered file's modules carry, if it is metered.
pub fn budget_of(wasm: &[u8]) -> Option<String> {
    let payloads = wasmparser::Parser::new(0).parse_all(wasm);
    payloads.filter_map(Result::ok).find_map(|payload| match payload {
        wasmparser::Payload::CustomSection(section) if section.name() == MARK => {
            Some(String::from_utf8_lossy(section.data()).into_owned())
        }
        _ => None,
    })
}

/// Re-encodes a component as it is, but for its core modules, each metered.
struct ComponentMeter {
    budget: i64,
}

impl Reencode for ComponentMeter {
    type Error = MeterError;
}

impl ReencodeComponent for ComponentMeter {
    fn parse_component_submodule(
        &mut self,
        component: &mut wasm_encoder::Component,
        parser: wasmparser::Parser,
        submodule: &[u8],
    ) -> Result<(), ReencodeError<MeterError>> {
        let mut module = wasm_encoder::Module::new();
        module::meter(&mut module, parser, submodule, self.budget).map_err(ReencodeError::UserError)?;
        component.section(&wasm_encoder::ModuleSection(&module));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store, Trap};

    /// Sums 1..=n in a loop; `spin` loops forever; `fib` recurses with no loop at all.
    const MODULE: &str = r#"(module
        (func (export "sum") (param $n i64) (result i64) (local $total i64)
            (loop $again
                (local.set $total (i64.add (local.get $total) (local.get $n)))
                (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                (br_if $again (i64.gt_s (local.get $n) (i64.const 0))))
            (local.get $total))
        (func (export "spin") (loop $forever (br $forever)))
        (func $fib (export "fib") (param $n i32) (result i32)
            (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
                (then (local.get $n))
                (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                               (call $fib (i32.sub (local.get $n) (i32.const 2))))))))"#;

    fn metered_instance(fuel: u64) -> (Store<()>, Instance) {
        let engine = Engine::default();
        let wasm = meter(&wat::parse_str(MODULE).expect("the test module"), fuel).expect("metered");
        let module = Module::new(&engine, wasm).expect("a metered module compiles");
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).expect("instantiated");
        (store, instance)
    }

    fn trapped_unreachable(error: &wasmtime::Error) -> bool {
        error.downcast_ref::<Trap>() == Some(&Trap::UnreachableCodeReached)
    }

    #[test]
    fn work_within_the_budget_runs_as_before() {
        let (mut store, instance) = metered_instance(100_000);
        let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").expect("sum");
        assert_eq!(sum.call(&mut store, 1_000).expect("a thousand passes fit"), 500_500);
        let fib = instance.get_typed_func::<i32, i32>(&mut store, "fib").expect("fib");
        assert_eq!(fib.call(&mut store, 10).expect("177 calls fit"), 55);
    }

    #[test]
    fn a_loop_or_a_recursion_past_the_budget_traps() {
        let (mut store, instance) = metered_instance(100_000);
        let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").expect("spin");
        assert!(trapped_unreachable(&spin.call(&mut store, ()).expect_err("a loop without end is stopped")));
        let (mut store, instance) = metered_instance(100_000);
        let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").expect("sum");
        assert!(trapped_unreachable(&sum.call(&mut store, 1_000_000).expect_err("a million passes do not fit")));
        let (mut store, instance) = metered_instance(100_000);
        let fib = instance.get_typed_func::<i32, i32>(&mut store, "fib").expect("fib");
        assert!(trapped_unreachable(&fib.call(&mut store, 40).expect_err("3 * 10^8 calls do not fit")));
    }

    #[test]
    fn the_count_is_at_least_what_wasmtime_fuel_counts() {
        let engine = Engine::new(wasmtime::Config::new().consume_fuel(true)).expect("an engine with fuel");
        let module = Module::new(&engine, wat::parse_str(MODULE).expect("the test module")).expect("compiles");
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel");
        let instance = Instance::new(&mut store, &module, &[]).expect("instantiated");
        let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").expect("sum");
        sum.call(&mut store, 1_000).expect("sums");
        let fuel_used = u64::MAX / 2 - store.get_fuel().expect("fuel");
        // Metered to less than wasmtime counted, the same work cannot finish.
        let (mut store, instance) = metered_instance(fuel_used - 1);
        let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").expect("sum");
        assert!(trapped_unreachable(&sum.call(&mut store, 1_000).expect_err("the meter counts no less than fuel")));
        let (mut store, instance) = metered_instance(fuel_used * 2);
        let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").expect("sum");
        assert_eq!(sum.call(&mut store, 1_000).expect("twice wasmtime's count is room enough"), 500_500);
    }

    #[test]
    fn a_metered_file_is_not_metered_again_and_names_its_budget() {
        let metered = meter(&wat::parse_str(MODULE).expect("the test module"), 1_234).expect("metered");
        assert_eq!(budget_of(&metered).as_deref(), Some("1234"));
        assert!(matches!(meter(&metered, 99), Err(MeterError::AlreadyMetered(budget)) if budget == "1234"));
        assert!(matches!(meter(&wat::parse_str(MODULE).expect("wat"), 0), Err(MeterError::Budget(0))));
        assert!(matches!(meter(b"not wasm", 5), Err(MeterError::Invalid(_))));
    }

    #[test]
    fn a_component_has_each_of_its_modules_metered() {
        let component = wat::parse_str(
            r#"(component
                (core module $a (func (export "spin") (loop $forever (br $forever))))
                (core module $b (global (mut i32) (i32.const 0)) (func (export "f")))
                (core instance $a (instantiate $a))
                (core instance $b (instantiate $b)))"#,
        )
        .expect("the test component");
        let metered = meter(&component, 50).expect("metered");
        let modules = wasmparser::Parser::new(0)
            .parse_all(&metered)
            .filter_map(Result::ok)
            .filter(|payload| matches!(payload, wasmparser::Payload::CustomSection(section) if section.name() == MARK))
            .count();
        assert_eq!(modules, 2, "each module carries the mark");
    }
}
