//! Builds the levee Spin components (host/spin: levee-spin and its policy runner) for
//! wasm32-wasip2, so the Spin backend of the black-box tests (`LEVEE_TEST_BACKEND=spin`,
//! src/spin_backend.rs) runs what the sources in this tree make. Their paths reach the crate as
//! `LEVEE_SPIN_WASM` and `LEVEE_SPIN_POLICY_RUNNER_WASM`. The nested build (its own target
//! directory, `<target>/spin`, the one spin.toml's build command uses too) is levee-wasm-build's.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.join("..").canonicalize().expect("repository root");
    let spin = repo.join("host/spin");
    let runner = spin.join("policy-runner");
    for watched in [
        spin.join("Cargo.toml"),
        spin.join("Cargo.lock"),
        spin.join("src"),
        runner.join("Cargo.toml"),
        runner.join("src"),
        runner.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    for crate_dir in ["host/core", "host/domain"] {
        println!("cargo:rerun-if-changed={}", repo.join(crate_dir).join("src").display());
        println!("cargo:rerun-if-changed={}", repo.join(crate_dir).join("Cargo.toml").display());
    }
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let target_dir = levee_wasm_build::build_release(&spin.join("Cargo.toml"), "spin");
    let path = levee_wasm_build::release_artifact(&target_dir, "levee_spin");
    println!("cargo:rustc-env=LEVEE_SPIN_WASM={}", path.display());
    let path = levee_wasm_build::release_artifact(&target_dir, "levee_spin_policy_runner");
    println!("cargo:rustc-env=LEVEE_SPIN_POLICY_RUNNER_WASM={}", path.display());
}
