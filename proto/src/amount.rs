//! Money and ratios, exact.
//!
//! An [`Amount`] is euros with exactly two decimals. On the wire money is an integer of
//! micro-euros (fixed scale 6); converting refuses anything that is not whole cents, so a
//! third decimal is an error, never something rounded away.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::pb::ReasonCode;
use crate::rejection::Rejection;

const MICROS_PER_CENT: i64 = 10_000;
/// The largest amount one transaction may state: €10 billion, well above the whole fund,
/// so that sums over millions of entries stay far inside i64 cents.
pub const STATED_AMOUNT_CENTS_MAX: i64 = 1_000_000_000_000;

/// Euros with exactly two decimals. May be zero or negative as a *result* (a balance);
/// whether a stated amount must be positive is the caller's rule.
///
/// Serialised as a string with exactly two decimals ("1250.00"); deserialised through
/// [`FromStr`], so JSON and snapshots pass the same checks as parsing: a third decimal or
/// an amount beyond i64 cents is an error, never rounded or accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Serialize for Amount {
    /// Through [`fmt::Display`]: always exactly two decimals, also for a zero that was never
    /// computed ("0.00", not "0"), so JSON, exports and the digest see one form.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(|rejection: Rejection| serde::de::Error::custom(rejection.message))
    }
}

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Whole cents. Never fails: every i64 of cents is an amount.
    pub fn from_cents(cents: i64) -> Amount {
        Amount(Decimal::new(cents, 2))
    }

    /// The amount in whole cents.
    pub fn cents(self) -> i64 {
        let mut value = self.0;
        value.rescale(2);
        i64::try_from(value.mantissa()).expect("amounts stay within i64 cents")
    }

    /// From a wire value in micro-euros: refuses a value that is not whole cents.
    pub fn from_micros(micros: i64) -> Result<Amount, Rejection> {
        if micros % MICROS_PER_CENT != 0 {
            return Err(Rejection::new(
                ReasonCode::TooManyDecimals,
                format!("amount {} has more than two decimals; state whole cents", Decimal::new(micros, 6).normalize()),
            ));
        }
        Ok(Amount::from_cents(micros / MICROS_PER_CENT))
    }

    /// A stated amount that must be strictly positive, whole cents.
    pub fn positive_from_micros(micros: i64, what: &str) -> Result<Amount, Rejection> {
        Amount::positive(Amount::from_micros(micros)?, what)
    }

    /// The rule for every stated amount that must be positive: more than 0.00 and at most
    /// [`STATED_AMOUNT_CENTS_MAX`]. The one definition the rules and the CLI share.
    pub fn positive(amount: Amount, what: &str) -> Result<Amount, Rejection> {
        if amount.cents() <= 0 {
            return Err(Rejection::new(ReasonCode::InvalidAmount, format!("{what} must be more than 0.00, got {amount}")));
        }
        if amount.cents() > STATED_AMOUNT_CENTS_MAX {
            return Err(Rejection::new(
                ReasonCode::LimitExceeded,
                format!("{what} is {amount}; at most {} can be stated in one transaction", Amount::from_cents(STATED_AMOUNT_CENTS_MAX)),
            ));
        }
        Ok(amount)
    }

    /// The wire value in micro-euros.
    pub fn micros(self) -> i64 {
        self.cents() * MICROS_PER_CENT
    }

    /// From a decimal: refuses more than two decimals.
    pub fn from_decimal(value: Decimal) -> Result<Amount, Rejection> {
        if value.normalize().scale() > 2 {
            return Err(Rejection::new(
                ReasonCode::TooManyDecimals,
                format!("amount {value} has more than two decimals; state whole cents"),
            ));
        }
        let mut cents = value;
        cents.rescale(2);
        if i64::try_from(cents.mantissa()).is_err() {
            return Err(Rejection::new(ReasonCode::InvalidAmount, format!("amount {value} is too large")));
        }
        Ok(Amount(cents))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.cents().checked_add(other.cents()).map(Amount::from_cents)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.cents().checked_sub(other.cents()).map(Amount::from_cents)
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        self.checked_add(other).expect("amount overflow: sums stay far below i64 cents")
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        self.checked_sub(other).expect("amount overflow: differences stay far below i64 cents")
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Amount {
    fn sub_assign(&mut self, other: Amount) {
        *self = *self - other;
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |total, amount| total + amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = self.0;
        value.rescale(2);
        write!(formatter, "{value}")
    }
}

impl FromStr for Amount {
    type Err = Rejection;
    /// Parses "1234.56" (also "1234" or "1234.5"); more than two decimals is refused.
    fn from_str(text: &str) -> Result<Amount, Rejection> {
        let value = Decimal::from_str_exact(text.trim())
            .map_err(|_| Rejection::new(ReasonCode::InvalidAmount, format!("'{text}' is not an amount like 1250.00")))?;
        Amount::from_decimal(value)
    }
}

/// An exact ratio: a distribution-key share or a payout fraction. At most
/// [`Ratio::SCALE_MAX`] decimals, so the fair-share arithmetic stays exact in i128.
///
/// Deserialised through [`Ratio::parse`], so JSON passes the same checks as parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ratio(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ratio, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ratio::parse(&text, "ratio", ReasonCode::InvalidShare).map_err(|rejection| serde::de::Error::custom(rejection.message))
    }
}

impl Ratio {
    pub const SCALE_MAX: u32 = 12;
    pub const ONE: Ratio = Ratio(Decimal::ONE);

    /// Parses a decimal string; refuses more than [`Ratio::SCALE_MAX`] decimals.
    pub fn parse(text: &str, what: &str, code: ReasonCode) -> Result<Ratio, Rejection> {
        let value = Decimal::from_str_exact(text.trim())
            .map_err(|_| Rejection::new(code, format!("{what} '{text}' is not a decimal like 0.25")))?;
        Ratio::new(value, what, code)
    }

    pub fn new(value: Decimal, what: &str, code: ReasonCode) -> Result<Ratio, Rejection> {
        let value = value.normalize();
        if value.scale() > Ratio::SCALE_MAX {
            return Err(Rejection::new(code, format!("{what} {value} has more than {} decimals", Ratio::SCALE_MAX)));
        }
        Ok(Ratio(value))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    /// The ratio as an integer numerator over 10^SCALE_MAX.
    pub fn scaled(self) -> i128 {
        let mut value = self.0;
        value.rescale(Ratio::SCALE_MAX);
        value.mantissa()
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_third_decimal_is_refused_not_rounded() {
        assert_eq!(Amount::from_micros(1_230_000).unwrap().to_string(), "1.23");
        let error = Amount::from_micros(1_234_560).unwrap_err();
        assert_eq!(error.code, ReasonCode::TooManyDecimals);
        assert_eq!("1.005".parse::<Amount>().unwrap_err().code, ReasonCode::TooManyDecimals);
        assert_eq!("12.50".parse::<Amount>().unwrap().cents(), 1250);
    }

    #[test]
    fn zero_and_negative_stated_amounts_are_refused() {
        assert_eq!(Amount::positive_from_micros(0, "x").unwrap_err().code, ReasonCode::InvalidAmount);
        assert_eq!(Amount::positive_from_micros(-10_000, "x").unwrap_err().code, ReasonCode::InvalidAmount);
        assert_eq!(Amount::positive_from_micros(10_000, "x").unwrap().cents(), 1);
        let beyond = (STATED_AMOUNT_CENTS_MAX + 1) * MICROS_PER_CENT;
        assert_eq!(Amount::positive_from_micros(beyond, "x").unwrap_err().code, ReasonCode::LimitExceeded);
    }

    #[test]
    fn deserialising_an_amount_passes_the_checks_of_parsing() {
        let parse = |json: &str| serde_json::from_str::<Amount>(json);
        assert_eq!(parse(r#""1250.5""#).unwrap().cents(), 125_050);
        assert_eq!(serde_json::to_string(&parse(r#""5""#).unwrap()).unwrap(), r#""5.00""#);
        assert_eq!(serde_json::to_string(&Amount::default()).unwrap(), r#""0.00""#);
        let third_decimal = parse(r#""1.005""#).unwrap_err().to_string();
        assert!(third_decimal.contains("more than two decimals"), "refused, not rounded to 1.01: {third_decimal}");
        // Beyond i64 cents: refused here instead of panicking in a later sum.
        let too_large = parse(r#""99999999999999999999.99""#).unwrap_err().to_string();
        assert!(too_large.contains("too large"), "{too_large}");
        assert!(parse(r#""twelve""#).is_err());
        assert!(parse("12.5").is_err(), "amounts are strings, never floats");
        // Every amount that serialises reads back to itself.
        for cents in [0, 1, -1, 125_050, i64::MAX, i64::MIN + 1] {
            let amount = Amount::from_cents(cents);
            assert_eq!(parse(&serde_json::to_string(&amount).unwrap()).unwrap(), amount);
        }
    }

    #[test]
    fn deserialising_a_ratio_passes_the_checks_of_parsing() {
        assert_eq!(serde_json::from_str::<Ratio>(r#""0.2537""#).unwrap().scaled(), 253_700_000_000);
        assert!(serde_json::from_str::<Ratio>(r#""0.1234567890123""#).is_err());
    }

    #[test]
    fn ratios_scale_exactly() {
        let ratio = Ratio::parse("0.25", "share", ReasonCode::InvalidShare).unwrap();
        assert_eq!(ratio.scaled(), 250_000_000_000);
        assert!(Ratio::parse("0.1234567890123", "share", ReasonCode::InvalidShare).is_err());
        assert!(Ratio::parse("abc", "share", ReasonCode::InvalidShare).is_err());
    }
}
