//! Builds the rule plugins in guest-policies/ as WebAssembly components, so the default
//! policies are compiled from source on every build (no checked-in .wasm). The nested build
//! (its own target directory, target/guest-policies) is levee-wasm-build's.

use std::env;
use std::path::PathBuf;
/// The components this crate embeds or exposes to tests, by crate name.
const COMPONENTS: &[(&str, &str)] = &[
    ("THRESHOLD", "levee_threshold"),
    ("ROUTING", "levee_routing"),
    ("HOSTILE", "levee_hostile"),
    ("KV_SNOOPER", "levee_kv_snooper"),
    ("FROZEN_V0_1", "levee_frozen_v0_1"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.join("../..").canonicalize().expect("repository root");
    let guests = repo.join("guest-policies");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let target_dir = levee_wasm_build::build_release(&guests.join("Cargo.toml"), "guest-policies");
    for (name, crate_name) in COMPONENTS {
        let path = levee_wasm_build::release_artifact(&target_dir, crate_name);
        println!("cargo:rustc-env=LEVEE_{name}_WASM={}", path.display());
    }
}
