//! What several fuzz targets share (each includes this file as `mod common`).

use levee_core::identity::{Principal, Role};

/// The submitter, as the core's own tests build one.
pub fn agent() -> Principal {
    Principal {
        actor: "avery".to_owned(),
        roles: vec![Role::Agent],
        team: "support".to_owned(),
        authority: None,
        source: "fuzz".to_owned(),
    }
}
