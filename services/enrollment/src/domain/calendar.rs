//! Calendar arithmetic on the microsecond timestamps the store keeps.

use std::fmt;

use time::{Duration, OffsetDateTime, Weekday};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

fn datetime(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `days` business days (Monday to Friday) after `micros`, at the same time of day.
pub fn add_business_days(micros: i64, days: u32) -> i64 {
    let mut moment = datetime(micros);
    let mut remaining = days;
    while remaining > 0 {
        moment += Duration::days(1);
        if !matches!(moment.weekday(), Weekday::Saturday | Weekday::Sunday) {
            remaining -= 1;
        }
    }
    (moment.unix_timestamp_nanos() / 1_000) as i64
}

/// A calendar month, written `yyyy-mm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u8,
}

impl Month {
    /// The month `micros` falls in (UTC).
    pub fn of(micros: i64) -> Self {
        let moment = datetime(micros);
        Self {
            year: moment.year(),
            month: moment.month() as u8,
        }
    }

    /// Parses `yyyy-mm`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let refused = || "must be a month written yyyy-mm, e.g. 2026-10".to_owned();
        let (year, month) = value.trim().split_once('-').ok_or_else(refused)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(refused());
        }
        let year: i32 = year.parse().map_err(|_| refused())?;
        let month: u8 = month.parse().map_err(|_| refused())?;
        if !(1..=12).contains(&month) || year < 2000 {
            return Err(refused());
        }
        Ok(Self { year, month })
    }

    /// The month `count` months earlier.
    pub fn minus(self, count: u32) -> Self {
        let index = self.year * 12 + i32::from(self.month) - 1 - count as i32;
        Self {
            year: index.div_euclid(12),
            month: (index.rem_euclid(12) + 1) as u8,
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20 09:00 UTC, a Friday.
    const FRIDAY: i64 = 1_795_165_200_000_000;

    #[test]
    fn five_business_days_from_friday_is_the_next_friday() {
        let due = add_business_days(FRIDAY, 5);
        assert_eq!(due - FRIDAY, 7 * DAY_MICROS);
        assert_eq!(datetime(due).weekday(), Weekday::Friday);
    }

    #[test]
    fn five_business_days_from_saturday_is_the_next_friday() {
        let saturday = FRIDAY + DAY_MICROS;
        assert_eq!(datetime(saturday).weekday(), Weekday::Saturday);
        assert_eq!(add_business_days(saturday, 5) - saturday, 6 * DAY_MICROS);
    }

    #[test]
    fn five_business_days_from_monday_stays_in_the_week() {
        let monday = FRIDAY + 3 * DAY_MICROS;
        assert_eq!(add_business_days(monday, 5) - monday, 7 * DAY_MICROS);
        let tuesday = monday + DAY_MICROS;
        assert_eq!(add_business_days(tuesday, 3) - tuesday, 3 * DAY_MICROS);
    }

    #[test]
    fn months_parse_print_and_count_back_across_years() {
        let month = Month::parse("2026-02").unwrap();
        assert_eq!(month.to_string(), "2026-02");
        assert_eq!(month.minus(2).to_string(), "2025-12");
        assert_eq!(month.minus(12).to_string(), "2025-02");
        assert_eq!(Month::of(FRIDAY).to_string(), "2026-11");
        for bad in ["2026-13", "26-01", "2026/01", "2026-1", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }
}
