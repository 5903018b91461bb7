//! Money: integer minor units of an ISO-4217 currency. Never a float.

use iso_currency::Currency;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest amount levee accepts, in minor units: 2^53 - 1, the largest integer every JSON
/// reader represents exactly, so no client or dashboard ever rounds an amount.
pub const MAX_MINOR_UNITS: i64 = 9_007_199_254_740_991;

/// An amount of money: positive integer minor units (cents, yen) and an ISO-4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Minor units of `currency` (cents for USD, yen for JPY).
    #[schema(example = 4000)]
    pub minor_units: i64,
    /// ISO-4217 alphabetic code, upper case.
    #[schema(example = "USD")]
    pub currency: String,
}

/// Why an amount or a currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a positive integer number of minor units, got {0}")]
    NotPositive(i64),
    #[error("must be at most {MAX_MINOR_UNITS} minor units, got {0}")]
    TooLarge(i64),
    #[error("'{0}' is not an ISO-4217 currency code")]
    UnknownCurrency(String),
    #[error("'{0}' has no minor unit (a fund, metal or testing code), so it cannot carry an amount")]
    NoMinorUnit(String),
}

impl Money {
    /// Validates the parts and builds the amount.
    pub fn new(minor_units: i64, currency: &str) -> Result<Self, MoneyError> {
        currency_exponent(currency)?;
        if minor_units <= 0 {
            return Err(MoneyError::NotPositive(minor_units));
        }
        if minor_units > MAX_MINOR_UNITS {
            return Err(MoneyError::TooLarge(minor_units));
        }
        Ok(Money { minor_units, currency: currency.to_owned() })
    }

    /// Decimal digits of the currency's minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u8 {
        currency_exponent(&self.currency).unwrap_or(2)
    }
}

/// The minor-unit exponent of a currency that can carry an amount.
pub fn currency_exponent(code: &str) -> Result<u8, MoneyError> {
    let currency = Currency::from_code(code).ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
    match currency.exponent() {
        Some(exponent) if !currency.is_fund() => Ok(exponent as u8),
        _ => Err(MoneyError::NoMinorUnit(code.to_owned())),
    }
}

impl std::fmt::Display for Money {
    /// `400.00 USD`, `5000 JPY`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let exponent = u32::from(self.exponent());
        if exponent == 0 {
            return write!(f, "{} {}", self.minor_units, self.currency);
        }
        let scale = 10i64.pow(exponent);
        let (units, fraction) = (self.minor_units / scale, self.minor_units % scale);
        write!(f, "{units}.{fraction:0width$} {}", self.currency, width = exponent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(Money::new(40000, "USD").unwrap().to_string(), "400.00 USD");
        assert_eq!(Money::new(5000, "JPY").unwrap().to_string(), "5000 JPY");
        assert_eq!(Money::new(1005, "KWD").unwrap().to_string(), "1.005 KWD");
    }

    #[test]
    fn refuses_bad_amounts_and_currencies() {
        assert_eq!(Money::new(0, "USD"), Err(MoneyError::NotPositive(0)));
        assert_eq!(Money::new(-5, "USD"), Err(MoneyError::NotPositive(-5)));
        assert_eq!(Money::new(i64::MAX, "USD"), Err(MoneyError::TooLarge(i64::MAX)));
        assert_eq!(Money::new(5, "XYZ"), Err(MoneyError::UnknownCurrency("XYZ".into())));
        assert_eq!(Money::new(5, "usd"), Err(MoneyError::UnknownCurrency("usd".into())));
        assert_eq!(Money::new(5, "XAU"), Err(MoneyError::NoMinorUnit("XAU".into())));
    }
}
