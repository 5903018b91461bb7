//! Hashing as the ledger does it: canonical JSON (keys sorted at every depth, no whitespace)
//! and SHA-256 as lowercase hex. An entry's hash, a subject's state hash and a policy's
//! parameter digest are all made here, so the same value always hashes the same way.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Canonical JSON: object keys sorted, no white space. Values here are strings, integers,
/// booleans and nulls (money is never a float), so this matches RFC 8785 for them.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the canonical JSON of anything serializable.
pub fn sha256_of_json<T: Serialize + ?Sized>(value: &T) -> String {
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    sha256_hex(canonical_json(&value).as_bytes())
}
