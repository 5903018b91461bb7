//! The Lua scripts that make levee's storage port atomic on Redis, and the arguments each takes.
//! Shared by the two Redis adapters: `levee serve --store redis://…` (the server crate's
//! `store::redis`, over the `redis` crate) and levee on Spin (`levee-spin`, over Spin's
//! outbound Redis). Each script runs atomically on the server, so a compare-and-swap or a
//! batch is one round trip whatever the adapter.

use super::Batch;

/// Writes ARGV[2] under KEYS[1] if it holds ARGV[1] (`ARGV[3]` = "absent": only if it has no
/// value); 1 if it wrote, 0 if the value differed. Lua strings are byte strings.
pub const COMPARE_AND_SWAP: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[3] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#;

/// Writes a batch if every expected value holds; 1 if it wrote, 0 if a value differed. KEYS:
/// the expected keys, then the written ones. ARGV[1]: how many keys are expected; then for each
/// expected key its state ("absent" or "present") and value, then for each written key its
/// operation ("set" or "delete") and value.
pub const COMMIT_BATCH: &str = r#"
local expected = tonumber(ARGV[1])
for i = 1, expected do
  local current = redis.call('GET', KEYS[i])
  if ARGV[2 * i] == 'absent' then
    if current then return 0 end
  elseif current ~= ARGV[2 * i + 1] then
    return 0
  end
end
for i = expected + 1, #KEYS do
  if ARGV[2 * i] == 'set' then
    redis.call('SET', KEYS[i], ARGV[2 * i + 1])
  else
    redis.call('DEL', KEYS[i])
  end
end
return 1
"#;

/// The KEYS and ARGV of one script call; keys already carry the deployment's prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptCall {
    pub keys: Vec<String>,
    pub args: Vec<Vec<u8>>,
}

/// `COMPARE_AND_SWAP` on `key` (prefixed): write `new` if it holds `current` (`None`: absent).
pub fn compare_and_swap_call(key: String, current: Option<&[u8]>, new: &[u8]) -> ScriptCall {
    let (expected, mode): (&[u8], &str) = match current {
        Some(value) => (value, "present"),
        None => (b"", "absent"),
    };
    ScriptCall { keys: vec![key], args: vec![expected.to_vec(), new.to_vec(), mode.as_bytes().to_vec()] }
}

/// `COMMIT_BATCH` for `batch`, each key passed through `prefixed`.
pub fn commit_batch_call(batch: &Batch, prefixed: impl Fn(&str) -> String) -> ScriptCall {
    let mut call = ScriptCall { keys: Vec::new(), args: vec![batch.expected.len().to_string().into_bytes()] };
    for (key, expected) in &batch.expected {
        let state = if expected.is_some() { "present" } else { "absent" };
        call.keys.push(prefixed(key));
        call.args.push(state.as_bytes().to_vec());
        call.args.push(expected.clone().unwrap_or_default());
    }
    for (key, value) in &batch.writes {
        let operation = if value.is_some() { "set" } else { "delete" };
        call.keys.push(prefixed(key));
        call.args.push(operation.as_bytes().to_vec());
        call.args.push(value.clone().unwrap_or_default());
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lists_expected_keys_first_then_written_ones() {
        let batch = Batch {
            expected: vec![("a".into(), None), ("b".into(), Some(b"1".to_vec()))],
            writes: vec![("c".into(), Some(b"2".to_vec())), ("d".into(), None)],
        };
        let call = commit_batch_call(&batch, |key| format!("p:{key}"));
        assert_eq!(call.keys, ["p:a", "p:b", "p:c", "p:d"]);
        let args: Vec<&[u8]> = call.args.iter().map(Vec::as_slice).collect();
        let expected: [&[u8]; 9] = [b"2", b"absent", b"", b"present", b"1", b"set", b"2", b"delete", b""];
        assert_eq!(args, expected);
    }

    #[test]
    fn an_insert_if_absent_says_absent() {
        let call = compare_and_swap_call("p:k".into(), None, b"v");
        assert_eq!(call.args, [b"".to_vec(), b"v".to_vec(), b"absent".to_vec()]);
    }
}
