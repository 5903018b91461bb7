//! Builds the rule plugins in guest-policies/ as WebAssembly components, so the default
//! policies are compiled from source on every build (no checked-in .wasm).
//!
//! The nested cargo gets its own target directory (target/guest-policies): sharing the outer
//! build's would wait forever on the outer build's lock. The wasm32-wasip2 target is added
//! with rustup if the toolchain lacks it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// The components this crate embeds or exposes to tests, by crate name.
const COMPONENTS: &[(&str, &str)] =
    &[("THRESHOLD", "levee_threshold"), ("ROUTING", "levee_routing"), ("HOSTILE", "levee_hostile")];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.join("../..").canonicalize().expect("repository root");
    let guests = repo.join("guest-policies");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    ensure_target_installed();
    let target_dir = guest_target_dir();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(&guests)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir);
    for variable in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        command.env_remove(variable);
    }
    let status = command.status().expect("run cargo for guest-policies");
    assert!(status.success(), "building guest-policies for {TARGET} failed");

    let out = target_dir.join(TARGET).join("release");
    for (name, crate_name) in COMPONENTS {
        let path = out.join(format!("{crate_name}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
        println!("cargo:rustc-env=LEVEE_{name}_WASM={}", path.display());
    }
}

/// `<target>/guest-policies`, found from OUT_DIR (`<target>/<profile>/build/<pkg>/out`).
fn guest_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let build_dir = out_dir.ancestors().find(|dir| dir.file_name().is_some_and(|name| name == "build"));
    let target = build_dir.and_then(Path::parent).and_then(Path::parent);
    target.map(|target| target.join("guest-policies")).unwrap_or_else(|| out_dir.join("guest-policies"))
}

/// Adds the wasm32-wasip2 standard library with rustup if it is missing.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let libdir = Command::new(&rustc).args(["--print", "target-libdir", "--target", TARGET]).output();
    let installed = libdir
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .is_some_and(|dir| dir.exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    assert!(
        status.is_ok_and(|status| status.success()),
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed"
    );
}
