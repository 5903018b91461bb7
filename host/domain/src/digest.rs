//! Hashing as the ledger does it: canonical JSON (keys sorted at every depth, no whitespace)
//! and SHA-256 as lowercase hex. An entry's hash, a subject's state hash and a policy's
//! parameter digest are all made here, so the same value always hashes the same way.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Canonical JSON: object keys sorted, no white space. Values here are strings, integers,
/// booleans and nulls (money is never a float), so this matches RFC 8785 for them.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Every piece is serde_json's own output or ASCII punctuation: valid UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// SHA-256 of `value`'s canonical JSON (`canonical_json`), hashed as it is written: the same
/// digest as hashing the string, without building it.
pub fn sha256_of_canonical(value: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(value, &mut hasher);
    hex::encode(hasher.finalize())
}

/// Where canonical JSON is written: a buffer, or a hash that takes it as it comes.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// A `Sink` as `std::io::Write`, so that serde_json writes keys and scalars straight into it.
struct SinkWriter<'a, S: Sink>(&'a mut S);

impl<S: Sink> std::io::Write for SinkWriter<'_, S> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.put(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_canonical<S: Sink>(value: &serde_json::Value, out: &mut S) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by_key(|(key, _)| *key);
            out.put(b"{");
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.put(b",");
                }
                write_json(key.as_str(), out);
                out.put(b":");
                write_canonical(item, out);
            }
            out.put(b"}");
        }
        Value::Array(items) => {
            out.put(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.put(b",");
                }
                write_canonical(item, out);
            }
            out.put(b"]");
        }
        scalar => write_json(scalar, out),
    }
}

/// serde_json's compact form of a string or scalar, as `Value::to_string` gives it. Neither can
/// fail to serialize, and a `Sink` cannot refuse a write.
fn write_json<T: Serialize + ?Sized, S: Sink>(value: &T, out: &mut S) {
    if let Err(error) = serde_json::to_writer(SinkWriter(out), value) {
        unreachable!("a JSON string or scalar always serializes: {error}");
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the canonical JSON of anything serializable.
pub fn sha256_of_json<T: Serialize + ?Sized>(value: &T) -> String {
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    sha256_of_canonical(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest hashed as it is written is the digest of the canonical string, and the
    /// string is serde_json's escaping of every key and scalar.
    #[test]
    fn hashing_as_written_matches_hashing_the_canonical_string() {
        let value = serde_json::json!({
            "z": [1, -2, 18446744073709551615u64, 1.5, true, null, "tab\t \"quote\" \\ é ☃ \u{1}"],
            "a\"key\n": {"y": {}, "x": [], "é": "\u{1f}"},
            "": "empty key",
        });
        let canonical = canonical_json(&value);
        assert_eq!(
            canonical,
            r#"{"":"empty key","a\"key\n":{"x":[],"y":{},"é":"\u001f"},"z":[1,-2,18446744073709551615,1.5,true,null,"tab\t \"quote\" \\ é ☃ \u0001"]}"#
        );
        // The digest ledgers already hold for this value: the form may never drift.
        assert_eq!(sha256_of_canonical(&value), "b0da06be18ab017dcece47b0cd06f565936a7b85d77cd26ee65e8ced479e1bc3");
        assert_eq!(sha256_of_canonical(&value), sha256_hex(canonical.as_bytes()));
        assert_eq!(sha256_of_json(&value), sha256_hex(canonical.as_bytes()));
    }
}
