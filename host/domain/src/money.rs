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
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
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
    #[error(
        "'{amount}' is not an amount in {currency}: digits, at most one '.', and no more decimals than {currency} has"
    )]
    NotDecimal { amount: String, currency: String },
    #[error("'{0}' is more than {MAX_MINOR_UNITS} minor units")]
    DecimalTooLarge(String),
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

    /// A decimal amount as payment tools and helpdesks write it: "12.5" USD is 1250 minor units,
    /// "1.500" USD is 150 (trailing zeros are exact), "12.505" USD is refused, never rounded.
    pub fn from_decimal(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let exponent = usize::from(currency_exponent(currency)?);
        let not_decimal = || MoneyError::NotDecimal { amount: amount.to_owned(), currency: currency.to_owned() };
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let fraction = fraction.trim_end_matches('0');
        let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > exponent {
            return Err(not_decimal());
        }
        let too_large = || MoneyError::DecimalTooLarge(amount.to_owned());
        let minor_units: i64 = format!("{whole}{fraction:0<exponent$}").parse().map_err(|_| too_large())?;
        if minor_units > MAX_MINOR_UNITS {
            return Err(too_large());
        }
        Money::new(minor_units, currency)
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
        // Totals and differences can be negative: the sign belongs to the whole amount.
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let scale = 10u64.pow(exponent);
        let (units, fraction) = (self.minor_units.unsigned_abs() / scale, self.minor_units.unsigned_abs() % scale);
        write!(f, "{sign}{units}.{fraction:0width$} {}", self.currency, width = exponent as usize)
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
        let negative = |minor_units| Money { minor_units, currency: "USD".to_owned() }.to_string();
        assert_eq!(negative(-150), "-1.50 USD");
        assert_eq!(negative(-5), "-0.05 USD");
        assert_eq!(negative(i64::MIN), "-92233720368547758.08 USD");
    }

    #[test]
    fn reads_decimal_amounts_exactly_or_not_at_all() {
        let decimal = |amount, currency| Money::from_decimal(amount, currency).map(|money| money.minor_units);
        assert_eq!(decimal("12.5", "USD"), Ok(1250));
        assert_eq!(decimal("1.500", "USD"), Ok(150));
        assert_eq!(decimal("100", "JPY"), Ok(100));
        assert_eq!(decimal("1.005", "KWD"), Ok(1005));
        assert_eq!(
            decimal("1234567890123456.78", "USD"),
            Err(MoneyError::DecimalTooLarge("1234567890123456.78".into()))
        );
        assert_eq!(decimal("90071992547409.91", "USD"), Ok(MAX_MINOR_UNITS));
        assert_eq!(decimal("0000000000000000012.00", "USD"), Ok(1200));
        for refused in ["12.505", "1.5e2", "-1.00", "", ".5", "1.2.3", "1,50", " 1.50", "١٢"] {
            assert!(matches!(decimal(refused, "USD"), Err(MoneyError::NotDecimal { .. })), "{refused:?}");
        }
        assert_eq!(decimal("1.5", "JPY"), Err(MoneyError::NotDecimal { amount: "1.5".into(), currency: "JPY".into() }));
        assert_eq!(decimal("0.00", "USD"), Err(MoneyError::NotPositive(0)));
        assert_eq!(
            decimal("99999999999999999999999", "USD"),
            Err(MoneyError::DecimalTooLarge("99999999999999999999999".into()))
        );
        assert_eq!(decimal("1", "XAU"), Err(MoneyError::NoMinorUnit("XAU".into())));
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
