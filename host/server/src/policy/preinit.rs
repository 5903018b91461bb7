//! Pre-initialization: a `levee:policy@0.2.0` plugin configured once with its params, and the
//! configured instance's memory and globals written back into the component as its initial
//! state, with the `wasmtime-wizer` crate (wasmtime's own pre-initializer). Every case's fresh
//! instance then starts from that image, copy-on-write, with its params already parsed.
//!
//! Two kinds of failure are kept apart:
//! - the plugin's own: `configure` refused the params, trapped, or ran out of its budget
//!   (`ConfigureFailed`); the chain that gives these params is refused, naming it.
//! - the pre-initializer's: a component shape wizer does not take (several instances of one
//!   module, aliases, ...) or a snapshot it could not take (`CannotSnapshot`); the plugin still
//!   runs, configured in each case's instance before it decides, only slower.

use std::future::Future;

use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, Linker, WasmList};
use wasmtime_wizer::{ComponentContext, ComponentInstanceState, Wizer};

use super::Policy;
use super::sandbox::{EvaluationError, SandboxState, configure};

/// Why a plugin was not pre-initialized.
pub(super) enum PreinitError {
    /// The plugin's `configure` failed: a refusal of the params, a trap or a broken limit.
    ConfigureFailed(EvaluationError),
    /// wizer could not take this component or its snapshot: the plugin is configured per case.
    CannotSnapshot(String),
}

/// A plugin instrumented for pre-initialization: its accessor functions export every memory and
/// global, for wizer to read back once it is configured.
pub(super) struct Instrumented<'a> {
    wizer: Wizer,
    context: ComponentContext<'a>,
    /// The instrumented component, to compile.
    pub bytes: Vec<u8>,
}

/// Instruments the plugin `bytes`, or says why wizer cannot take it.
pub(super) fn instrument(bytes: &[u8]) -> Result<Instrumented<'_>, PreinitError> {
    let wizer = Wizer::new();
    let (context, instrumented) = wizer.instrument_component(bytes).map_err(cannot_snapshot)?;
    Ok(Instrumented { wizer, context, bytes: instrumented })
}

/// Configures the instrumented plugin (`component`, compiled from `instrumented.bytes`) with
/// `params` in `store`, whose budget (the link's limits and the deterministic WASI of a
/// configuration) starts now, and answers the plugin's component with that state as its
/// initial state.
pub(super) fn snapshot_configured(
    linker: &Linker<SandboxState>,
    store: &mut Store<SandboxState>,
    instrumented: &Instrumented<'_>,
    component: &Component,
    params: &str,
) -> Result<Vec<u8>, PreinitError> {
    let instance = linker.instantiate(&mut *store, component).map_err(cannot_snapshot)?;
    let policy = Policy::new(&mut *store, &instance).map_err(cannot_snapshot)?;
    configure(&policy, store, params).map_err(PreinitError::ConfigureFailed)?;
    // WASI handles live in the host's table, not in the memory a snapshot keeps: a handle
    // `configure` opened (a stream its libc caches) would be in the image, and no fresh instance
    // would have it. A plugin that called WASI while configuring is configured per case.
    if store.data().wasi_was_called() {
        return Err(PreinitError::CannotSnapshot("configure called WASI, whose handles a snapshot cannot keep".into()));
    }
    // Reading the state back is the host's work, not the plugin's: no budget applies to it.
    let _ = store.set_fuel(u64::MAX);
    store.set_epoch_deadline(u64::MAX / 2);
    let mut state = ConfiguredState { store, instance, missing: None };
    let snapshot = instrumented.wizer.snapshot_component(&instrumented.context, &mut state);
    let snapshot = futures::executor::block_on(snapshot).map_err(cannot_snapshot)?;
    match state.missing {
        Some(problem) => Err(PreinitError::CannotSnapshot(problem)),
        None => Ok(snapshot),
    }
}

fn cannot_snapshot(error: wasmtime::Error) -> PreinitError {
    PreinitError::CannotSnapshot(format!("{error:#}"))
}

/// The configured instance, as wizer reads its memories and globals: through the accessor
/// functions its instrumentation exported. A call that fails is noted in `missing` (and
/// answers nothing), and the snapshot is then thrown away.
struct ConfiguredState<'a> {
    store: &'a mut Store<SandboxState>,
    instance: Instance,
    missing: Option<String>,
}

impl ConfiguredState<'_> {
    fn call<R: Lift + 'static>(&mut self, interface: &str, function: &str) -> Option<R> {
        let result = (|| {
            let (_, exported) = self
                .instance
                .get_export(&mut *self.store, None, interface)
                .ok_or_else(|| wasmtime::Error::msg(format!("no export {interface}")))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&exported), function)
                .ok_or_else(|| wasmtime::Error::msg(format!("no export {interface}#{function}")))?;
            let typed = self.instance.get_typed_func::<(), (R,)>(&mut *self.store, index)?;
            let (answer,) = typed.call(&mut *self.store, ())?;
            Ok::<_, wasmtime::Error>(answer)
        })();
        result.map_err(|error| self.missing.get_or_insert(format!("reading {interface}#{function}: {error:#}"))).ok()
    }
}

impl ComponentInstanceState for ConfiguredState<'_> {
    fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        match self.call::<WasmList<u8>>(instance, func) {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
        std::future::ready(())
    }

    fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> impl Future<Output = i32> + Send {
        std::future::ready(self.call::<i32>(instance, func).unwrap_or_default())
    }

    fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> impl Future<Output = i64> + Send {
        std::future::ready(self.call::<i64>(instance, func).unwrap_or_default())
    }

    fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> impl Future<Output = u32> + Send {
        std::future::ready(self.call::<f32>(instance, func).map(f32::to_bits).unwrap_or_default())
    }

    fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> impl Future<Output = u64> + Send {
        std::future::ready(self.call::<f64>(instance, func).map(f64::to_bits).unwrap_or_default())
    }
}
