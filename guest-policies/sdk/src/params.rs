//! Parsing a policy's JSON params into a typed struct.

use alloc::format;
use serde::de::DeserializeOwned;

use crate::PolicyError;

/// Parses `params` (the JSON the host passes to `evaluate`) into `T`.
///
/// Malformed JSON, a missing field or a value of the wrong type becomes
/// `PolicyError::InvalidParams` with serde's message, which names the field and position.
pub fn parse_params<T: DeserializeOwned>(params: &str) -> Result<T, PolicyError> {
    serde_json::from_str(params).map_err(|error| PolicyError::InvalidParams(format!("params do not parse: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Limit {
        up_to: i64,
    }

    #[test]
    fn parses_valid_params() {
        assert_eq!(parse_params::<Limit>(r#"{"up_to": 5}"#), Ok(Limit { up_to: 5 }));
    }

    #[test]
    fn reports_a_missing_field_as_invalid_params() {
        let Err(PolicyError::InvalidParams(message)) = parse_params::<Limit>("{}") else {
            panic!("expected InvalidParams");
        };
        assert!(message.contains("up_to"), "{message}");
    }
}
