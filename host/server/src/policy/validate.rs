//! What a rule plugin must be before levee loads it, checked in order so the first problem is
//! the one named: under the size limit; a WebAssembly binary; a component (not a core module);
//! compiles; imports nothing but the contract's own type interface and the deterministic WASI
//! subset (`wasi::ALLOWED_INTERFACES`); exports the
//! `levee:policy/rules` interface of a compatible version. (`describe()` answering within the
//! sandbox limits is checked when the policy is prepared.)
//!
//! Components built with `std` for wasm32-wasip2, or from JavaScript or Python, import WASI;
//! anything beyond the subset, such as `wasi:sockets` or `wasi:http`, is refused here, by name.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The largest plugin accepted, in bytes. levee's own plugins are 100–150 KB.
pub const MAX_PLUGIN_BYTES: usize = 4 << 20;

/// The contract's type-only interface, of a contract version this host loads (the latest,
/// 0.2.x, and the frozen 0.1.x), which every plugin may import.
const ALLOWED_IMPORT_PREFIXES: [&str; 2] = ["levee:policy/types@0.2.", "levee:policy/types@0.1."];

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a core module, and of a component, after the magic.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

/// Why a plugin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("is not a WebAssembly binary")]
    NotWasm,
    #[error(
        "is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("does not compile as a component: {0}")]
    Invalid(String),
    #[error("imports {}, which plugins may not use (a plugin may import only levee:policy/types@0.2.x or @0.1.x and the deterministic WASI 0.2 subset: {})", .0.join(", "), super::wasi::ALLOWED_INTERFACES.join(", "))]
    ForbiddenImports(Vec<String>),
    #[error("is not a levee:policy plugin: it must export levee:policy/rules@0.2.x, or the frozen @0.1.x ({0})")]
    WrongWorld(String),
}

/// Checks everything that can be checked before the plugin runs, and compiles it.
pub fn check(engine: &Engine, bytes: &[u8]) -> Result<Component, Rejection> {
    check_header(bytes)?;
    let component = Component::new(engine, bytes).map_err(|error| Rejection::Invalid(format!("{error:#}")))?;
    check_imports(engine, &component)?;
    Ok(component)
}

/// Size, magic, and which kind of binary it is.
pub fn check_header(bytes: &[u8]) -> Result<(), Rejection> {
    if bytes.len() > MAX_PLUGIN_BYTES {
        return Err(Rejection::TooLarge { size: bytes.len(), limit: MAX_PLUGIN_BYTES });
    }
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(Rejection::NotWasm);
    }
    match <[u8; 4]>::try_from(&bytes[4..8]) {
        Ok(CORE_MODULE_VERSION) => Err(Rejection::CoreModule),
        Ok(COMPONENT_VERSION) => Ok(()),
        _ => Err(Rejection::NotWasm),
    }
}

/// Every import must be the contract's own type interface or in the WASI subset.
pub fn check_imports(engine: &Engine, component: &Component) -> Result<(), Rejection> {
    let forbidden: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            !ALLOWED_IMPORT_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) && !super::wasi::allows(name)
        })
        .map(str::to_owned)
        .collect();
    if forbidden.is_empty() { Ok(()) } else { Err(Rejection::ForbiddenImports(forbidden)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    fn component(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn refuses_random_bytes_and_oversized_files() {
        assert_eq!(check(&engine(), b"PK\x03\x04 certainly not wasm").err(), Some(Rejection::NotWasm));
        assert_eq!(check(&engine(), b"").err(), Some(Rejection::NotWasm));
        let mut huge = component("(component)");
        huge.resize(MAX_PLUGIN_BYTES + 1, 0);
        assert_eq!(
            check(&engine(), &huge).err(),
            Some(Rejection::TooLarge { size: MAX_PLUGIN_BYTES + 1, limit: MAX_PLUGIN_BYTES })
        );
    }

    #[test]
    fn refuses_a_core_module() {
        let module = wat::parse_str("(module (func (export \"evaluate\")))").unwrap();
        assert_eq!(check(&engine(), &module).err(), Some(Rejection::CoreModule));
    }

    #[test]
    fn refuses_a_component_that_does_not_compile() {
        let mut broken = component("(component)");
        broken.extend_from_slice(&[0x07, 0xff, 0xff]);
        assert!(matches!(check(&engine(), &broken), Err(Rejection::Invalid(_))));
    }

    #[test]
    fn refuses_forbidden_imports_naming_them() {
        let sockets = component(
            r#"(component
                 (import "wasi:sockets/tcp@0.2.0" (instance))
                 (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#,
        );
        let rejection = check(&engine(), &sockets).err().unwrap();
        assert_eq!(
            rejection,
            Rejection::ForbiddenImports(vec![
                "wasi:sockets/tcp@0.2.0".into(),
                "wasi:http/outgoing-handler@0.2.0".into()
            ])
        );
        assert!(rejection.to_string().contains("wasi:sockets/tcp@0.2.0"));
    }

    #[test]
    fn accepts_the_contracts_own_type_interface() {
        for version in ["0.2.0", "0.1.0"] {
            let types_only = component(&format!(r#"(component (import "levee:policy/types@{version}" (instance)))"#));
            assert!(check(&engine(), &types_only).is_ok(), "{version}");
        }
    }
}
