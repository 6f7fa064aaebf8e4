//! Dutch national holidays, computed for any year rather than kept in a list that runs out.
//!
//! The ICT Servicedesk is closed on these days by default (`national_holidays = "nl"`); a
//! configuration can turn them off (`"none"`) and always adds its own dates on top
//! (see [`super::hours::OfficeHours`]).
//!
//! Two of them are not a day off for every employee under Dutch law or the usual collective
//! agreements, and are listed on purpose:
//! - **Goede Vrijdag** (Good Friday) is not a national day off, but many service desks close on it;
//!   a desk that opens on Good Friday sets `national_holidays = "none"` and lists its own dates.
//! - **Bevrijdingsdag** (5 May) is a day off for everyone only in lustrum years (2025, 2030, …), so
//!   it is included only when `year % 5 == 0`.
//!
//! Koningsdag follows the rule in force since 2014 (27 April, or 26 April when the 27th is a
//! Sunday); earlier years are not modelled historically.

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which national holidays close the desk: the Dutch ones, or none (only configured dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NationalHolidays {
    /// Dutch national holidays, computed per year (see the module docs for which).
    #[default]
    Nl,
    /// No computed holidays: only the configured closed dates.
    None,
}

/// A `national_holidays` setting that is neither `"nl"` nor `"none"`; carries the value given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown national holidays {0:?}: expected \"nl\" or \"none\"")]
pub struct UnknownNationalHolidays(pub String);

impl NationalHolidays {
    /// Parses `"nl"` or `"none"` (surrounding spaces and case ignored).
    pub fn parse(raw: &str) -> Result<Self, UnknownNationalHolidays> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "nl" => Ok(Self::Nl),
            "none" => Ok(Self::None),
            _ => Err(UnknownNationalHolidays(raw.to_owned())),
        }
    }

    /// The configuration spelling: `"nl"` or `"none"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nl => "nl",
            Self::None => "none",
        }
    }
}

impl FromStr for NationalHolidays {
    type Err = UnknownNationalHolidays;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for NationalHolidays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The national holidays of `kind` in `year`, by date, each with its Dutch name.
///
/// Empty for [`NationalHolidays::None`], and for a year outside what `chrono` can represent. Two
/// holidays can fall on one date (Bevrijdingsdag and Hemelvaartsdag did in 2005); both are listed.
pub fn national_holidays(kind: NationalHolidays, year: i32) -> Vec<(NaiveDate, &'static str)> {
    match kind {
        NationalHolidays::None => Vec::new(),
        NationalHolidays::Nl => dutch_holidays(year).unwrap_or_default(),
    }
}

/// The Dutch name of the national holiday of `kind` on `date`, if it is one.
pub fn holiday_name(kind: NationalHolidays, date: NaiveDate) -> Option<&'static str> {
    national_holidays(kind, date.year())
        .into_iter()
        .find(|(day, _)| *day == date)
        .map(|(_, name)| name)
}

/// Easter Sunday in the Gregorian calendar, by the anonymous algorithm (Meeus/Jones/Butcher).
///
/// `None` only for a year outside what `chrono` can represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    // month is 3 or 4 and day 1..=31 by construction of the algorithm.
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

fn dutch_holidays(year: i32) -> Option<Vec<(NaiveDate, &'static str)>> {
    let easter = easter_sunday(year)?;
    let after_easter = |days: i64| easter.checked_add_signed(TimeDelta::days(days));
    let fixed = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day);

    let kings_day = {
        let the_27th = fixed(4, 27)?;
        if the_27th.weekday() == Weekday::Sun {
            fixed(4, 26)?
        } else {
            the_27th
        }
    };

    let mut days = vec![
        (fixed(1, 1)?, "Nieuwjaarsdag"),
        (after_easter(-2)?, "Goede Vrijdag"),
        (easter, "Eerste Paasdag"),
        (after_easter(1)?, "Tweede Paasdag"),
        (kings_day, "Koningsdag"),
        (after_easter(39)?, "Hemelvaartsdag"),
        (after_easter(49)?, "Eerste Pinksterdag"),
        (after_easter(50)?, "Tweede Pinksterdag"),
        (fixed(12, 25)?, "Eerste Kerstdag"),
        (fixed(12, 26)?, "Tweede Kerstdag"),
    ];
    if year.rem_euclid(5) == 0 {
        days.push((fixed(5, 5)?, "Bevrijdingsdag"));
    }
    days.sort_by_key(|(date, _)| *date);
    Some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
    }

    #[test]
    fn easter_sunday_matches_the_published_dates() {
        for (year, expected) in [
            (2024, date(2024, 3, 31)),
            (2025, date(2025, 4, 20)),
            (2026, date(2026, 4, 5)),
            (2027, date(2027, 3, 28)),
            // The latest possible date, 25 April.
            (2038, date(2038, 4, 25)),
            // The earliest possible date, 22 March.
            (2285, date(2285, 3, 22)),
        ] {
            assert_eq!(easter_sunday(year), Some(expected), "Easter {year}");
        }
    }

    #[test]
    fn easter_is_always_a_sunday_between_22_march_and_25_april() {
        for year in 1583..=4099 {
            let easter = easter_sunday(year).expect("representable year");
            assert_eq!(easter.weekday(), Weekday::Sun, "{easter}");
            assert!(
                easter >= date(year, 3, 22) && easter <= date(year, 4, 25),
                "{easter}"
            );
        }
    }

    #[test]
    fn koningsdag_2025_is_26_april_because_27_april_is_a_sunday() {
        assert_eq!(
            holiday_name(NationalHolidays::Nl, date(2025, 4, 26)),
            Some("Koningsdag")
        );
        assert_eq!(holiday_name(NationalHolidays::Nl, date(2025, 4, 27)), None);
        assert_eq!(
            holiday_name(NationalHolidays::Nl, date(2026, 4, 27)),
            Some("Koningsdag")
        );
    }

    #[test]
    fn the_full_dutch_list_for_2026_has_no_bevrijdingsdag() {
        assert_eq!(
            national_holidays(NationalHolidays::Nl, 2026),
            vec![
                (date(2026, 1, 1), "Nieuwjaarsdag"),
                (date(2026, 4, 3), "Goede Vrijdag"),
                (date(2026, 4, 5), "Eerste Paasdag"),
                (date(2026, 4, 6), "Tweede Paasdag"),
                (date(2026, 4, 27), "Koningsdag"),
                (date(2026, 5, 14), "Hemelvaartsdag"),
                (date(2026, 5, 24), "Eerste Pinksterdag"),
                (date(2026, 5, 25), "Tweede Pinksterdag"),
                (date(2026, 12, 25), "Eerste Kerstdag"),
                (date(2026, 12, 26), "Tweede Kerstdag"),
            ]
        );
    }

    #[test]
    fn bevrijdingsdag_is_a_holiday_only_in_lustrum_years() {
        for (year, included) in [(2025, true), (2026, false), (2029, false), (2030, true)] {
            assert_eq!(
                holiday_name(NationalHolidays::Nl, date(year, 5, 5)) == Some("Bevrijdingsdag"),
                included,
                "{year}"
            );
        }
        // 2025: sorted in among the others, between Koningsdag and Hemelvaartsdag (29 May).
        let names: Vec<_> = national_holidays(NationalHolidays::Nl, 2025)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        assert_eq!(
            names[4..7],
            ["Koningsdag", "Bevrijdingsdag", "Hemelvaartsdag"]
        );
    }

    #[test]
    fn no_national_holidays_means_an_empty_list() {
        assert!(national_holidays(NationalHolidays::None, 2026).is_empty());
        assert_eq!(
            holiday_name(NationalHolidays::None, date(2026, 12, 25)),
            None
        );
    }

    #[test]
    fn national_holidays_setting_parses_nl_and_none_and_names_a_bad_value() {
        assert_eq!("nl".parse(), Ok(NationalHolidays::Nl));
        assert_eq!(" None ".parse(), Ok(NationalHolidays::None));
        let error = NationalHolidays::parse("de").unwrap_err();
        assert_eq!(error, UnknownNationalHolidays("de".into()));
        assert!(error.to_string().contains("\"de\""), "{error}");
        assert_eq!(NationalHolidays::default(), NationalHolidays::Nl);
    }

    #[test]
    fn a_year_chrono_cannot_represent_has_no_holidays_instead_of_a_panic() {
        assert!(national_holidays(NationalHolidays::Nl, i32::MAX).is_empty());
        assert!(national_holidays(NationalHolidays::Nl, i32::MIN).is_empty());
    }
}
