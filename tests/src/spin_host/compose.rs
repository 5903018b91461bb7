//! Composes the levee-spin component with its rule plugins as Spin composes a component with its
//! `[component.levee.dependencies]` (Spin's crates/compose, which uses wac-graph too): each
//! plugin is instantiated on its own, its `levee:policy/rules@0.1.0` export (spin.toml's
//! `export = "levee:policy/rules@0.1.0"`) fills the levee import of the same name as the
//! dependency (the plain-named slots `threshold` and `routing`), after the same subtype check,
//! and the composition exports what levee-spin exports.
//!
//! Spin also plugs its "deny-all" adapter into a dependency that does not inherit configuration
//! (the default, and spin.toml's choice), so the dependency's imports of Spin's configuration
//! interfaces fail. So does `compose`, with guest-policies/deny-all, which answers every call of
//! `wasi:keyvalue/store` and `wasi:keyvalue/atomics` (the configuration interfaces levee's world
//! has) with `access-denied`. levee's own plugins import only the type-only
//! `levee:policy/types@0.1.0`, so for them the plug changes nothing; whatever else a plugin
//! imports stays an import of the composition, where `imports::check_imports` refuses it.

use anyhow::{Context, anyhow, bail};
use wac_graph::types::{Package, SubtypeChecker};
use wac_graph::{CompositionGraph, EncodeOptions};

/// The interface a rule plugin exports and a slot is filled with.
pub const RULES_EXPORT: &str = "levee:policy/rules@0.1.0";

/// What a dependency gets of the levee component's configuration: spin.toml's
/// `dependencies_inherit_configuration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configuration {
    /// The default (and spin.toml's choice): the deny-all adapter answers its imports.
    Denied,
    /// `dependencies_inherit_configuration = true`: its imports join the component's own.
    Inherited,
}

/// Composes `component` (levee-spin) with `plugins`, each `(slot, component bytes)`, as
/// spin.toml does: dependencies inherit no configuration.
pub fn compose(component: &[u8], plugins: &[(&str, &[u8])]) -> anyhow::Result<Vec<u8>> {
    compose_with(component, plugins, Configuration::Denied)
}

/// Composes with `configuration` given to every dependency.
pub fn compose_with(
    component: &[u8],
    plugins: &[(&str, &[u8])],
    configuration: Configuration,
) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let levee = Package::from_bytes("levee", None, component.to_vec(), graph.types_mut())
        .context("decode the levee component")?;
    let levee_world = levee.ty();
    let levee_package = graph.register_package(levee).context("register the levee component")?;
    let levee_instance = graph.instantiate(levee_package);

    let mut cache = Default::default();
    for (slot, bytes) in plugins {
        let Some(&import_ty) = graph.types()[levee_world].imports.get(*slot) else {
            bail!("dependency '{slot}' doesn't match any import of the levee component");
        };
        let bytes = match configuration {
            Configuration::Denied => deny_all(slot, bytes)?,
            Configuration::Inherited => bytes.to_vec(),
        };
        let plugin = Package::from_bytes(slot, None, bytes, graph.types_mut())
            .with_context(|| format!("decode plugin '{slot}'"))?;
        let plugin_world = plugin.ty();
        let Some(&export_ty) = graph.types()[plugin_world].exports.get(RULES_EXPORT) else {
            bail!("dependency '{slot}' doesn't export '{RULES_EXPORT}' to satisfy import '{slot}'");
        };
        SubtypeChecker::new(&mut cache).is_subtype(export_ty, graph.types(), import_ty, graph.types()).with_context(
            || format!("dependency '{slot}' exports '{RULES_EXPORT}', not compatible with import '{slot}'"),
        )?;
        let plugin_package = graph.register_package(plugin).with_context(|| format!("register plugin '{slot}'"))?;
        let plugin_instance = graph.instantiate(plugin_package);
        let rules = graph.alias_instance_export(plugin_instance, RULES_EXPORT)?;
        graph.set_instantiation_argument(levee_instance, slot, rules)?;
    }

    let exports: Vec<String> = graph.types()[levee_world].exports.keys().cloned().collect();
    for name in exports {
        let export = graph.alias_instance_export(levee_instance, &name)?;
        graph.export(export, &name)?;
    }
    graph.encode(EncodeOptions::default()).map_err(|error| anyhow!("encode the composition: {error:#}"))
}

/// `dependency` with the deny-all adapter plugged into whichever of its imports the adapter
/// exports, as Spin's compose does; unchanged if it imports none of them.
fn deny_all(name: &str, dependency: &[u8]) -> anyhow::Result<Vec<u8>> {
    let adapter = std::fs::read(levee::policy::builtin::DENY_ALL_WASM_PATH)
        .with_context(|| format!("read the deny-all adapter {}", levee::policy::builtin::DENY_ALL_WASM_PATH))?;
    let original = dependency.to_vec();
    let mut graph = CompositionGraph::new();
    let dependency = Package::from_bytes(name, None, dependency.to_vec(), graph.types_mut())
        .with_context(|| format!("decode plugin '{name}'"))?;
    let dependency = graph.register_package(dependency)?;
    let adapter = Package::from_bytes("deny-all", None, adapter, graph.types_mut()).context("decode deny-all")?;
    let adapter = graph.register_package(adapter)?;
    match wac_graph::plug(&mut graph, vec![adapter], dependency) {
        Ok(()) => {
            graph.encode(EncodeOptions::default()).map_err(|error| anyhow!("encode '{name}' with deny-all: {error:#}"))
        }
        Err(wac_graph::PlugError::NoPlugHappened) => Ok(original),
        Err(error) => bail!("plug deny-all into '{name}': {error:?}"),
    }
}
