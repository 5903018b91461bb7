//! Input validation that names the field at fault. A request that fails here writes nothing.

use serde::Serialize;
use serde::de::{self, Deserializer, Error as _, Unexpected, Visitor};
use utoipa::ToSchema;

/// One thing wrong with a request, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the field, e.g. `amount.minor_units`.
    pub field: String,
    pub message: String,
    /// The values that would have been accepted, where there is a short list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_values: Option<Vec<String>>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into(), valid_values: None }
    }

    pub fn with_valid_values(mut self, values: Vec<String>) -> Self {
        self.valid_values = Some(values);
        self
    }
}

/// A required text field: at most `max` characters, and not blank; trimmed. The OpenAPI
/// document says so with `#[schema(min_length = 1, max_length = max, pattern = r"\S")]`: `\S`
/// is a character outside Unicode `White_Space`, which is what `trim` removes.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    bounded_text(field, value, max)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    Ok(trimmed.to_owned())
}

/// An optional text field: at most `max` characters; trimmed, and blank becomes absent
/// (`#[schema(max_length = max)]`).
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    bounded_text(field, value, max)?;
    Ok(Some(value.trim()).filter(|text| !text.is_empty()).map(str::to_owned))
}

/// The length is counted as sent, before trimming, as the OpenAPI document's `maxLength` counts it.
fn bounded_text(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    if text.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// Whether `text` has the shape of `shape`, where `D` stands for an ASCII digit and any other
/// character for itself: `matches_shape("2026-11", "DDDD-DD")`. Dates are parsed after this, so
/// nothing a date parser would also forgive (signs, spaces, short fields) gets through.
pub fn matches_shape(text: &str, shape: &str) -> bool {
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(byte, wanted)| match wanted {
            b'D' => byte.is_ascii_digit(),
            _ => byte == wanted,
        })
}

/// A SHA-256 digest: 64 hex digits, stored lowercase.
pub fn sha256_hex(field: &str, value: Option<&str>) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(hex) if hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
            Ok(Some(hex.to_ascii_lowercase()))
        }
        Some(_) => Err(FieldError::new(field, "must be a SHA-256 digest: 64 hexadecimal digits")),
    }
}

/// Serde's `deserialize_with` for an integer field of a request. JSON Schema, which the OpenAPI
/// document is written in, counts `3.0` as the integer 3, so a whole number written with a
/// fraction is taken as that integer; `3.5` is refused, and so is a float past 2^53, which may
/// not be the integer it spells. (An amount of money takes no fraction at all: see
/// `case::MoneyInput`.)
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let number = deserializer.deserialize_any(WholeNumber)?;
    T::try_from(number).map_err(|_| {
        let expected = format!("a whole number that fits {}", std::any::type_name::<T>());
        D::Error::invalid_value(Unexpected::Other(&number.to_string()), &expected.as_str())
    })
}

/// [`whole_number`] for an optional field: null or absent is `None` (with `#[serde(default)]`).
pub fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    struct Optional<T>(std::marker::PhantomData<T>);

    impl<'de, T: TryFrom<i128>> Visitor<'de> for Optional<T> {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a whole number or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            whole_number(deserializer).map(Some)
        }
    }

    deserializer.deserialize_option(Optional(std::marker::PhantomData))
}

/// The largest integer every float up to it spells exactly: 2^53.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = i128;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i128, E> {
        Ok(i128::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i128, E> {
        Ok(i128::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i128, E> {
        if value.fract() != 0.0 || value.abs() > EXACT_FLOAT {
            return Err(E::invalid_value(Unexpected::Float(value), &self));
        }
        // Whole and within 2^53: the conversion is exact.
        Ok(value as i128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_as_sent_and_refused_when_blank() {
        assert_eq!(required_text("f", "  a  ", 5), Ok("a".to_owned()));
        assert!(required_text("f", "  a   ", 5).is_err(), "six characters as sent");
        assert!(required_text("f", " \u{85}\u{3000}", 5).is_err());
        assert_eq!(optional_text("f", Some("   "), 5), Ok(None));
        assert!(optional_text("f", Some("      "), 5).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Numbers {
        #[serde(deserialize_with = "whole_number")]
        version: u32,
        #[serde(default, deserialize_with = "optional_whole_number")]
        limit: Option<u64>,
    }

    fn numbers(json: &str) -> Result<Numbers, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// `3.0` is the integer 3; `3.5`, a negative, a float past 2^53 or past the type are not.
    #[test]
    fn whole_numbers_may_be_written_with_a_fraction_of_zero() {
        let taken = numbers(r#"{"version": 3.0, "limit": 9007199254740992.0}"#).expect("whole numbers");
        assert_eq!((taken.version, taken.limit), (3, Some(9_007_199_254_740_992)));
        assert_eq!(numbers(r#"{"version": 7, "limit": null}"#).expect("integers").limit, None);
        assert_eq!(numbers(r#"{"version": 7}"#).expect("absent").limit, None);
        assert_eq!(numbers(r#"{"version": 7, "limit": 18446744073709551615}"#).expect("u64").limit, Some(u64::MAX));
        for refused in [
            r#"{"version": 3.5}"#,
            r#"{"version": -1}"#,
            r#"{"version": 4294967296}"#,
            r#"{"version": "3"}"#,
            r#"{"version": 1, "limit": 9007199254740994.0}"#,
            r#"{"version": 1, "limit": -0.5}"#,
        ] {
            assert!(numbers(refused).is_err(), "{refused}");
        }
    }
}
