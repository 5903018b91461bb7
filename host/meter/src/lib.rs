//! Gives a WebAssembly component (or core module) a fuel budget of its own, for a runtime that
//! sets none. Spin 4 runs a WASIp2 component with no fuel and no deadline, so a rule plugin that
//! loops would hold one of Spin's worker threads for as long as the process lives (docs/spin.md).
//! `meter` rewrites each core module inside the component so that it counts its own work in a
//! global of its own and executes `unreachable` (a trap, which ends only that instance) once
//! the budget is spent.
//!
//! What is counted: on entry to each function and at the top of each pass through a loop, the
//! number of instructions in that function or loop body, not counting the loops nested in it
//! (which count themselves); and before an instruction whose work grows with an operand
//! (`memory.fill`, `memory.copy`, `memory.init`, `table.fill`, `table.copy`, `table.init`,
//! `table.grow`), one unit per 64 bytes or elements of it. Every instruction between two such
//! points runs at most once, so the count is at least the instructions executed (wasmtime's
//! fuel counts about one per instruction). Every way to run long passes through a loop, a call
//! or a bulk instruction, so none escapes. What it bounds is the component's own work, not
//! wall time: waiting in a host call (a sleep on WASI's clock) is not counted.
//!
//! The budget is the component's, shared out: each core module instance gets an equal part
//! (the budget divided by the core instantiations the component makes), so all of them
//! together run at most the budget, and a plugin may run out sooner than under `levee serve`'s
//! fuel, never later. The count lasts an instance's life: right for Spin, which makes a new
//! instance for every request, and wrong for a runtime that reuses instances.
//!
//! Only what the meter was built for is taken: the input must validate with WebAssembly's
//! default features but threads (an atomic wait blocks in one instruction), GC (array
//! instructions whose work is not counted) and 64-bit memories and tables (a bulk length is
//! counted as 32-bit). A metered module carries a custom section `levee-meter` holding the
//! component's budget; metering it again is refused, so the budget stated is the budget in
//! force.

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

/// What a file to meter may use (module docs).
fn features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures;
    WasmFeatures::default().difference(WasmFeatures::THREADS | WasmFeatures::GC | WasmFeatures::MEMORY64)
}

/// `wasm` (a component or a core module) with every core module in it metered, all of them
/// together to `fuel`.
pub fn meter(wasm: &[u8], fuel: u64) -> Result<Vec<u8>, MeterError> {
    if fuel == 0 || i64::try_from(fuel).is_err() {
        return Err(MeterError::Budget(fuel));
    }
    wasmparser::Validator::new_with_features(features())
        .validate_all(wasm)
        .map_err(|error| MeterError::Invalid(format!("it does not validate: {error}")))?;
    let share = i64::try_from(fuel / core_instantiations(wasm).max(1)).unwrap_or(i64::MAX).max(1);
    let mark = fuel.to_string();
    let parser = wasmparser::Parser::new(0);
    let metered = if wasmparser::Parser::is_component(wasm) {
        let mut component = wasm_encoder::Component::new();
        ComponentMeter { share, mark }.parse_component(&mut component, parser, wasm)?;
        component.finish()
    } else {
        let mut module = wasm_encoder::Module::new();
        module::meter(&mut module, parser, wasm, share, &mark)?;
        module.finish()
    };
    wasmparser::Validator::new_with_features(features())
        .validate_all(&metered)
        .map_err(|error| MeterError::Invalid(format!("the metered file does not validate: {error}")))?;
    Ok(metered)
}

/// How many core module instances `wasm` makes: 1 for a core module; for a component, its
/// core instantiations, nested components' included. (A nested component instantiated more
/// than once would make its modules' instances that many times: the wit-component and wac
/// tools levee's plugins are built with instantiate each once.)
fn core_instantiations(wasm: &[u8]) -> u64 {
    if !wasmparser::Parser::is_component(wasm) {
        return 1;
    }
    let mut count = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm).flatten() {
        if let wasmparser::Payload::InstanceSection(instances) = payload {
            let made = instances.into_iter().flatten();
            count += made.filter(|instance| matches!(instance, wasmparser::Instance::Instantiate { .. })).count();
        }
    }
    u64::try_from(count).unwrap_or(u64::MAX)
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

/// A custom section, byte for byte: a section wasm-encoder could not read (a damaged `name`
/// section) is no reason to refuse a file that runs.
fn as_it_is<'a>(section: &wasmparser::CustomSectionReader<'a>) -> wasm_encoder::CustomSection<'a> {
    wasm_encoder::CustomSection {
        name: std::borrow::Cow::Borrowed(section.name()),
        data: std::borrow::Cow::Borrowed(section.data()),
    }
}

/// Re-encodes a component as it is, but for its core modules, each metered to its `share`.
struct ComponentMeter {
    share: i64,
    mark: String,
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
        module::meter(&mut module, parser, submodule, self.share, &self.mark).map_err(ReencodeError::UserError)?;
        component.section(&wasm_encoder::ModuleSection(&module));
        Ok(())
    }

    /// Custom sections go through as they are.
    fn parse_component_custom_section(
        &mut self,
        component: &mut wasm_encoder::Component,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        component.section(&as_it_is(&section));
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

    #[test]
    fn an_invalid_file_is_refused_not_repaired() {
        // Global 0 does not exist; once metered it would be the counter, refilled every pass.
        let refill = wat::parse_str(
            r#"(module (func (export "spin") (loop $forever (global.set 0 (i64.const 1000000)) (br $forever))))"#,
        );
        // wat checks names, not indices: the text assembles, the module does not validate.
        let refill = refill.expect("the text assembles");
        assert!(matches!(meter(&refill, 1_000), Err(MeterError::Invalid(why)) if why.contains("does not validate")));
        let shared = wat::parse_str("(module (memory 1 1 shared))").expect("the text assembles");
        assert!(matches!(meter(&shared, 1_000), Err(MeterError::Invalid(_))), "threads are refused");
    }

    #[test]
    fn bulk_instructions_are_charged_by_their_length() {
        let fill = r#"(module (memory 16)
            (func (export "fill") (param $bytes i32) (param $times i32)
                (loop $again
                    (memory.fill (i32.const 0) (i32.const 7) (local.get $bytes))
                    (local.set $times (i32.sub (local.get $times) (i32.const 1)))
                    (br_if $again (local.get $times)))))"#;
        let engine = Engine::default();
        let wasm = meter(&wat::parse_str(fill).expect("the test module"), 100_000).expect("metered");
        let module = Module::new(&engine, wasm).expect("compiles");
        let run = |bytes: i32, times: i32| {
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, &module, &[]).expect("instantiated");
            let fill = instance.get_typed_func::<(i32, i32), ()>(&mut store, "fill").expect("fill");
            fill.call(&mut store, (bytes, times))
        };
        run(64, 1_000).expect("a thousand fills of 64 bytes fit");
        // Ten fills of 1 MiB are 163,840 units: the same ten passes, but not the same work.
        assert!(trapped_unreachable(&run(1 << 20, 10).expect_err("ten fills of 1 MiB do not fit")));
    }

    #[test]
    fn the_budget_is_shared_by_the_components_module_instances() {
        let component = wat::parse_str(
            r#"(component
                (core module $a (func (export "f")))
                (core module $b (global (mut i32) (i32.const 0)))
                (core instance (instantiate $a))
                (core instance (instantiate $a))
                (core instance (instantiate $b)))"#,
        )
        .expect("the test component");
        let metered = meter(&component, 3_000).expect("metered");
        let mut counters = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&metered).flatten() {
            if let wasmparser::Payload::GlobalSection(globals) = payload {
                let counter = globals.into_iter().flatten().last().expect("the counter");
                let mut init = counter.init_expr.get_operators_reader();
                counters.push(match init.read().expect("an operator") {
                    wasmparser::Operator::I64Const { value } => value,
                    other => panic!("the counter starts at a constant, not {other:?}"),
                });
            }
        }
        assert_eq!(counters, vec![1_000, 1_000], "three instances share 3,000: each module instance gets 1,000");
        assert_eq!(budget_of(&metered).as_deref(), Some("3000"), "the mark names the component's budget");
    }
}
