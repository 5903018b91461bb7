//! What levee's build scripts share: building a nested cargo project (the rule plugins in
//! guest-policies/, the Spin component in host/spin/) for wasm32-wasip2, in release.
//!
//! The nested cargo gets a target directory of its own (`<target>/<name>`): sharing the outer
//! build's would wait forever on the outer build's lock. The wasm32-wasip2 target is added with
//! rustup if the toolchain lacks it, so a fresh machine needs nothing installed by hand.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// Builds the cargo project at `manifest` in release for wasm32-wasip2 into `<target>/<name>`,
/// and answers that directory. Panics, naming the project, if the build fails.
pub fn build_release(manifest: &Path, name: &str) -> PathBuf {
    ensure_target_installed();
    let target_dir = nested_target_dir(name);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(manifest.parent().unwrap_or(Path::new(".")))
        .args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target_dir);
    for variable in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        command.env_remove(variable);
    }
    let status = command.status().unwrap_or_else(|error| panic!("run cargo for {}: {error}", manifest.display()));
    assert!(status.success(), "building {} for {TARGET} failed", manifest.display());
    target_dir
}

/// The component `crate_name` built into `target_dir`, which must exist.
pub fn release_artifact(target_dir: &Path, crate_name: &str) -> PathBuf {
    let path = target_dir.join(TARGET).join("release").join(format!("{crate_name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// `<target>/<name>`, found from OUT_DIR (`<target>/<profile>/build/<pkg>/out`).
fn nested_target_dir(name: &str) -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let build_dir = out_dir.ancestors().find(|dir| dir.file_name().is_some_and(|dir| dir == "build"));
    let target = build_dir.and_then(Path::parent).and_then(Path::parent);
    target.map(|target| target.join(name)).unwrap_or_else(|| out_dir.join(name))
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
