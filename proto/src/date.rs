//! Calendar dates as data. The rules never read a clock: every date they use arrives
//! inside a signed transaction and is validated here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pb::ReasonCode;
use crate::rejection::Rejection;

/// A proleptic Gregorian date, years 1900–9999 (a guard against typos such as "0225").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1900..=9999).contains(&year) && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Parses "YYYY-MM-DD"; `what` names the field in the rejection.
    pub fn parse(text: &str, what: &str) -> Result<Date, Rejection> {
        let invalid = || Rejection::new(ReasonCode::InvalidDate, format!("{what} '{text}' is not a date like 2026-03-31"));
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(invalid());
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = &text[range];
            part.bytes().all(|byte| byte.is_ascii_digit()).then(|| part.parse().ok()).flatten()
        };
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
            return Err(invalid());
        };
        Date::new(year, month as u8, day as u8).ok_or_else(invalid)
    }

    pub fn year(self) -> u16 {
        self.year
    }

    /// Calendar quarter 1–4, as the IZA monitor reports.
    pub fn quarter(self) -> u8 {
        (self.month - 1) / 3 + 1
    }

    /// Days since 1970-01-01 (negative before): the difference of two is the days between
    /// them. Howard Hinnant's `days_from_civil`.
    pub fn day_number(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// "2026-Q1".
    pub fn quarter_label(self) -> String {
        format!("{}-Q{}", self.year, self.quarter())
    }

    /// The same calendar day `years` later; 29 February becomes 28 February in a common year.
    pub fn plus_years(self, years: u16) -> Date {
        let year = self.year.saturating_add(years).min(9999);
        let day = self.day.min(days_in_month(year, self.month));
        Date { year, month: self.month, day }
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse(&text, "date").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_count_days_since_1970_across_leap_years() {
        let day = |text: &str| Date::parse(text, "date").unwrap().day_number();
        assert_eq!(day("1970-01-01"), 0);
        assert_eq!(day("1969-12-31"), -1);
        assert_eq!(day("2000-03-01") - day("2000-02-28"), 2, "2000 is a leap year");
        assert_eq!(day("2100-03-01") - day("2100-02-28"), 1, "2100 is not");
        assert_eq!(day("2026-12-03"), 20_790);
    }

    #[test]
    fn dates_are_validated_as_data() {
        assert_eq!(Date::parse("2024-02-29", "d").unwrap().to_string(), "2024-02-29");
        for bad in ["2023-02-29", "2026-13-01", "2026-00-10", "26-01-01", "2026-1-01", "2026-01-32", "abcd-ef-gh", "+026-01-01"] {
            assert_eq!(Date::parse(bad, "d").unwrap_err().code, ReasonCode::InvalidDate, "{bad}");
        }
    }

    #[test]
    fn quarters_and_years() {
        let date = Date::parse("2024-02-29", "d").unwrap();
        assert_eq!(date.quarter_label(), "2024-Q1");
        assert_eq!(date.plus_years(5).to_string(), "2029-02-28");
        assert_eq!(Date::parse("2026-10-01", "d").unwrap().quarter(), 4);
        assert!(Date::parse("2026-01-01", "d").unwrap() < Date::parse("2026-01-02", "d").unwrap());
    }
}
