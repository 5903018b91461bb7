//! Facts and decisions between levee-core's types and the wasmtime bindings of policy.wit: the
//! conversions are shared with the Spin component (`wit/convert.rs`).

use super::levee::policy::types as wit;

include!("../../../../wit/convert.rs");
