//! Formatting integer minor units for people: 40000 with exponent 2 is "400.00".

use alloc::format;
use alloc::string::{String, ToString};

use crate::Money;

/// Formats `minor_units` with `exponent` decimal digits, exactly (no floats):
/// `format_minor_units(40000, 2) == "400.00"`, `format_minor_units(500, 0) == "500"`.
pub fn format_minor_units(minor_units: i64, exponent: u8) -> String {
    let sign = if minor_units < 0 { "-" } else { "" };
    let digits = minor_units.unsigned_abs().to_string();
    let exponent = usize::from(exponent);
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{whole}.{fraction}")
}

impl Money {
    /// The amount and its currency: "400.00 USD".
    pub fn display(&self) -> String {
        self.display_other(self.minor_units)
    }

    /// Another amount in this amount's currency and exponent, such as a limit from params:
    /// `amount.display_other(5000) == "50.00 USD"`.
    pub fn display_other(&self, minor_units: i64) -> String {
        let number = format_minor_units(minor_units, self.exponent);
        format!("{number} {}", self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(format_minor_units(40000, 2), "400.00");
        assert_eq!(format_minor_units(5, 2), "0.05");
        assert_eq!(format_minor_units(500, 0), "500");
        assert_eq!(format_minor_units(1234, 3), "1.234");
        assert_eq!(format_minor_units(-150, 2), "-1.50");
        assert_eq!(format_minor_units(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(format_minor_units(7, 20), "0.00000000000000000007");
    }

    #[test]
    fn money_displays_its_currency() {
        let money = Money { minor_units: 40000, currency: "USD".into(), exponent: 2 };
        assert_eq!(money.display(), "400.00 USD");
        assert_eq!(money.display_other(5000), "50.00 USD");
    }
}
