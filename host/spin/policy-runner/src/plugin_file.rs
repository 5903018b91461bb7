//! The plugin's own file, where spin.toml mounts it (`files` of the runner's component): its
//! bytes, and its fingerprint from WASI's filesystem (size, modification and creation times,
//! taken without reading the file).

use wasi::clocks::wall_clock::Datetime;
use wasi::filesystem::preopens;
use wasi::filesystem::types::{Descriptor, PathFlags};

/// Where the file is mounted.
const MOUNTED_AT: &str = "/plugin.wasm";

/// The file's bytes.
pub fn read() -> Result<Vec<u8>, String> {
    std::fs::read(MOUNTED_AT).map_err(|error| not_mounted(&error.to_string()))
}

/// What changes when the file is replaced: its size, its modification time and its creation
/// time, to the nanosecond (WASI's `status-change-timestamp`, which wasmtime fills with the
/// file's birth time). A file rewritten in place gets a new modification time; a file put in
/// its place, even one copied with its modification time kept, was created at another moment.
/// Where the host knows no creation time, the file's metadata hash (which WASI hosts derive
/// from its device and inode) stands in for it, at the cost of a second call.
pub fn fingerprint() -> Result<String, String> {
    let root = root().ok_or_else(|| not_mounted("no directory is mounted at /"))?;
    let path = MOUNTED_AT.trim_start_matches('/');
    let stat = root.stat_at(PathFlags::empty(), path).map_err(|error| not_mounted(&format!("{error:?}")))?;
    let at = |time: Option<Datetime>| time.map(|at| format!("{}.{:09}", at.seconds, at.nanoseconds));
    let modified = at(stat.data_modification_timestamp).unwrap_or_default();
    let made = match at(stat.status_change_timestamp) {
        Some(created) => created,
        None => {
            let hash =
                root.metadata_hash_at(PathFlags::empty(), path).map_err(|error| not_mounted(&format!("{error:?}")))?;
            format!("{:016x}{:016x}", hash.upper, hash.lower)
        }
    };
    Ok(format!("{}-{modified}-{made}", stat.size))
}

/// The directory Spin mounts the component's files at.
fn root() -> Option<Descriptor> {
    preopens::get_directories().into_iter().find(|(_, path)| path == "/").map(|(directory, _)| directory)
}

fn not_mounted(problem: &str) -> String {
    format!("the plugin's own file is not mounted at {MOUNTED_AT} ({problem}): spin.toml must mount it (docs/spin.md)")
}
