//! The plugin's own file, where spin.toml mounts it (`files` of the runner's component): its
//! bytes, and its fingerprint from WASI's filesystem (size, modification time and the host's
//! hash of its device and inode, taken without reading the file).

use wasi::filesystem::preopens;
use wasi::filesystem::types::{Descriptor, PathFlags};

/// Where the file is mounted.
const MOUNTED_AT: &str = "/plugin.wasm";

/// The file's bytes.
pub fn read() -> Result<Vec<u8>, String> {
    std::fs::read(MOUNTED_AT).map_err(|error| not_mounted(&error.to_string()))
}

/// What changes when the file is replaced: its size, its modification time and its metadata
/// hash (which WASI hosts derive from the device and inode).
pub fn fingerprint() -> Result<String, String> {
    let root = root().ok_or_else(|| not_mounted("no directory is mounted at /"))?;
    let path = MOUNTED_AT.trim_start_matches('/');
    let stat = root.stat_at(PathFlags::empty(), path).map_err(|error| not_mounted(&format!("{error:?}")))?;
    let hash = root.metadata_hash_at(PathFlags::empty(), path).map_err(|error| not_mounted(&format!("{error:?}")))?;
    let modified = stat.data_modification_timestamp.map(|at| (at.seconds, at.nanoseconds)).unwrap_or_default();
    Ok(format!("{}-{}.{:09}-{:016x}{:016x}", stat.size, modified.0, modified.1, hash.upper, hash.lower))
}

/// The directory Spin mounts the component's files at.
fn root() -> Option<Descriptor> {
    preopens::get_directories().into_iter().find(|(_, path)| path == "/").map(|(directory, _)| directory)
}

fn not_mounted(problem: &str) -> String {
    format!("the plugin's own file is not mounted at {MOUNTED_AT} ({problem}): spin.toml must mount it (docs/spin.md)")
}
