//! Builds the levee-spin component (host/spin) for wasm32-wasip2, so the Spin backend of the
//! black-box tests (`LEVEE_TEST_BACKEND=spin`, src/spin_host) serves the component built from
//! the sources in this tree. Its path reaches the crate as `LEVEE_SPIN_WASM`. The nested build
//! (its own target directory, `<target>/spin`, the one spin.toml's build command uses too) is
//! levee-wasm-build's.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.join("..").canonicalize().expect("repository root");
    let spin = repo.join("host/spin");
    for watched in [spin.join("Cargo.toml"), spin.join("Cargo.lock"), spin.join("src"), spin.join("wit")] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    println!("cargo:rerun-if-changed={}", repo.join("host/core/src").display());
    println!("cargo:rerun-if-changed={}", repo.join("host/core/Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let target_dir = levee_wasm_build::build_release(&spin.join("Cargo.toml"), "spin");
    let path = levee_wasm_build::release_artifact(&target_dir, "levee_spin");
    println!("cargo:rustc-env=LEVEE_SPIN_WASM={}", path.display());
}
