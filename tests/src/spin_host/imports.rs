//! The import check: the composed levee component may import only what Spin 4 gives a spin-sdk
//! 5.2 component, so that a component that passes the tests also links under Spin, and so that
//! no plugin smuggles in a capability. Allowed, by exact name: the `spin-runtime` world's
//! interfaces (host/spin/wit/world.wit) and `levee:policy/types@0.1.0` (type-only); by family,
//! at any WASI 0.2.x version: `wasi:cli/*`, `wasi:clocks/*`, `wasi:random/*`, `wasi:io/*`,
//! `wasi:filesystem/*`, `wasi:http/types` and `wasi:http/outgoing-handler`. Not `wasi:sockets`,
//! nor anything else.

use wasmparser::{Parser, Payload};

/// The `spin-runtime` world's imports and the plugins' shared types, by exact name.
pub const EXACT: &[&str] = &[
    "wasi:keyvalue/store@0.2.0-draft2",
    "wasi:keyvalue/atomics@0.2.0-draft2",
    "fermyon:spin/variables@2.0.0",
    "levee:policy/types@0.1.0",
];

/// WASI 0.2 interfaces Spin provides: a package (every interface of it) or `package/interface`.
pub const WASI_0_2: &[&str] = &[
    "wasi:cli",
    "wasi:clocks",
    "wasi:random",
    "wasi:io",
    "wasi:filesystem",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// Checks every top-level import of `component`; the error names each one not allowed (or says
/// why the bytes could not be read).
pub fn check_imports(component: &[u8]) -> Result<(), Vec<String>> {
    let imports =
        top_level_imports(component).map_err(|error| vec![format!("cannot decode the component: {error}")])?;
    let refused: Vec<String> = imports.into_iter().filter(|name| !allowed(name)).collect();
    if refused.is_empty() { Ok(()) } else { Err(refused) }
}

/// The names of a component's own imports (not those of the components and modules inside it).
pub fn top_level_imports(component: &[u8]) -> wasmparser::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    names.push(import?.name.name.to_owned());
                }
            }
            Payload::ImportSection(reader) if depth == 1 => {
                // A core module at the top: not a component at all, but name what it imports.
                for import in reader.into_imports() {
                    let import = import?;
                    names.push(format!("{}#{}", import.module, import.name));
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn allowed(name: &str) -> bool {
    if EXACT.contains(&name) {
        return true;
    }
    let Some((path, version)) = name.split_once('@') else {
        return false;
    };
    let Some((package, _interface)) = path.split_once('/') else {
        return false;
    };
    let family = WASI_0_2.iter().any(|allowed| *allowed == package || *allowed == path);
    family && is_0_2_release(version)
}

/// `0.2.N`, no pre-release or build suffix.
fn is_0_2_release(version: &str) -> bool {
    version.strip_prefix("0.2.").is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_allowlist() {
        for name in [
            "wasi:cli/environment@0.2.0",
            "wasi:cli/terminal-stdout@0.2.6",
            "wasi:io/streams@0.2.3",
            "wasi:http/types@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:keyvalue/atomics@0.2.0-draft2",
            "fermyon:spin/variables@2.0.0",
            "levee:policy/types@0.1.0",
        ] {
            assert!(allowed(name), "{name} should be allowed");
        }
        for name in [
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/incoming-handler@0.2.0",
            "wasi:cli/environment@0.3.0",
            "wasi:cli/environment@0.2.0-rc-2023-11-10",
            "wasi:cli/environment",
            "wasi:keyvalue/batch@0.2.0-draft2",
            "fermyon:spin/key-value@2.0.0",
            "threshold",
            "levee:policy/rules@0.1.0",
        ] {
            assert!(!allowed(name), "{name} should be refused");
        }
    }

    #[test]
    fn an_extra_import_is_named() {
        let component = wat::parse_str(
            r#"(component
                (import "wasi:clocks/wall-clock@0.2.0" (instance))
                (import "wasi:sockets/tcp@0.2.0" (instance))
                (component $inner (import "nested-is-not-top-level" (func)))
            )"#,
        )
        .expect("valid WAT");
        assert_eq!(top_level_imports(&component).unwrap(), ["wasi:clocks/wall-clock@0.2.0", "wasi:sockets/tcp@0.2.0"]);
        assert_eq!(check_imports(&component), Err(vec!["wasi:sockets/tcp@0.2.0".to_owned()]));
    }

    #[test]
    fn the_composed_levee_component_imports_only_what_spin_gives() {
        let composed = crate::spin_host::composed_levee().expect("levee-spin composes with threshold and routing");
        let imports = top_level_imports(&composed).expect("decodes");
        assert!(imports.iter().any(|name| name == "levee:policy/types@0.1.0"), "{imports:?}");
        assert!(!imports.iter().any(|name| name == "threshold" || name == "routing"), "slots filled: {imports:?}");
        if let Err(refused) = check_imports(&composed) {
            panic!("imports Spin does not provide: {refused:?} (all imports: {imports:?})");
        }
    }
}
