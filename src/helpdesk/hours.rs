//! The helpdesk's office hours: a weekly schedule in a time zone, minus holidays.
//!
//! Pure: every question takes the instant it is about (`DateTime<Utc>`) and never reads the clock.
//! Schedules are written in the desk's local time (`mon = "08:00-18:00"`); answers are instants,
//! which a caller turns into words for a user with [`Opening`] (in the user's own time zone).
//!
//! ## Daylight-saving changes
//! Each interval of each open day is a span of real time, from the instant its local start time
//! occurs to the instant its local end time occurs:
//! - a local time that does not exist (spring forward, e.g. 02:30 in Amsterdam on the last Sunday
//!   of March) means the first instant after the gap (03:00 CEST);
//! - a local time that exists twice (autumn, 02:00–03:00 in Amsterdam) means the earlier one.
//!
//! Outside the hour of a change this is exactly "the local date is not a holiday and the local time
//! is inside one of that weekday's intervals" (start inclusive, end exclusive). Inside it, the desk
//! is open for one unbroken span rather than twice or not at all. [`OfficeHours::is_open`],
//! [`OfficeHours::next_opening`] and [`OfficeHours::open_until`] all answer from the same spans,
//! so they never disagree.

use super::holidays::{national_holidays, NationalHolidays, UnknownNationalHolidays};
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::fmt;
use std::iter::Peekable;

/// How far ahead [`OfficeHours::next_opening`] and [`OfficeHours::open_until`] look: more than a
/// year, so a weekly schedule with any holidays always finds its next opening.
pub const HORIZON_DAYS: usize = 400;

/// Minutes in a day; an interval may end at `24:00` (this value), meaning the next midnight.
const DAY_MINUTES: u16 = 24 * 60;

/// A configuration value that could not be parsed; each variant carries the value as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("invalid office hours {value:?}: {reason}")]
    Intervals { value: String, reason: String },
    #[error("unknown weekday {0:?}: expected mon, tue, wed, thu, fri, sat or sun")]
    Weekday(String),
    #[error("office hours for {0:?} are given twice")]
    DuplicateWeekday(String),
    #[error("invalid holiday {0:?}: expected a date as YYYY-MM-DD")]
    Holiday(String),
    #[error("unknown time zone {0:?}: expected an IANA name such as Europe/Amsterdam")]
    TimeZone(String),
    #[error(transparent)]
    NationalHolidays(#[from] UnknownNationalHolidays),
}

/// One opening interval of a day in local time: from `start` (inclusive) to `end` (exclusive),
/// with `start < end`, both on whole minutes; `end` may be `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// Minutes after local midnight, `0..1440`.
    start: u16,
    /// Minutes after local midnight, `1..=1440`.
    end: u16,
}

impl Interval {
    /// One interval such as `"08:00-18:00"` (spaces around the parts allowed; `24:00` only as end).
    pub fn parse(raw: &str) -> Result<Self, HoursError> {
        let bad = |reason: String| HoursError::Intervals {
            value: raw.to_owned(),
            reason,
        };
        let (start, end) = raw
            .split_once('-')
            .ok_or_else(|| bad("expected start-end, e.g. 08:00-18:00".into()))?;
        let start =
            parse_minutes(start.trim()).ok_or_else(|| bad(format!("bad time {start:?}")))?;
        let end = parse_minutes(end.trim()).ok_or_else(|| bad(format!("bad time {end:?}")))?;
        if start == DAY_MINUTES {
            return Err(bad("24:00 can only end an interval".into()));
        }
        if start >= end {
            return Err(bad(
                "the start must be before the end (no intervals past midnight)".into(),
            ));
        }
        Ok(Self { start, end })
    }

    /// Local start time.
    pub fn start(&self) -> NaiveTime {
        minutes_to_time(self.start)
    }

    /// Local end time; `None` for `24:00` (the next midnight, which `NaiveTime` cannot name).
    pub fn end(&self) -> Option<NaiveTime> {
        (self.end < DAY_MINUTES).then(|| minutes_to_time(self.end))
    }

    /// Whether a local time of day falls inside (start inclusive, end exclusive).
    pub fn contains(&self, time: NaiveTime) -> bool {
        time >= minutes_to_time(self.start)
            && (self.end == DAY_MINUTES || time < minutes_to_time(self.end))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// `H:MM` or `HH:MM`, 00:00 to 24:00, as minutes after midnight.
fn parse_minutes(raw: &str) -> Option<u16> {
    let (hours, minutes) = raw.split_once(':')?;
    let digits = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let hours = digits(hours, 2)?;
    let minutes = digits(minutes, 2).filter(|_| minutes.len() == 2)?;
    match (hours, minutes) {
        (24, 0) => Some(DAY_MINUTES),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

fn minutes_to_time(minutes: u16) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt(u32::from(minutes) * 60, 0)
        .expect("interval minutes are below 24:00 by construction")
}

/// Sorts intervals and joins the ones that overlap or touch, so a day is a list of disjoint,
/// separated intervals in order.
fn normalise(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut joined: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match joined.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => joined.push(interval),
        }
    }
    joined
}

/// A day's intervals, comma-separated: `"08:00-18:00"` or `"08:00-12:00, 13:00-17:00"`.
///
/// An empty (or blank) value means closed. Intervals that overlap or touch are joined; the result
/// is sorted.
pub fn parse_intervals(raw: &str) -> Result<Vec<Interval>, HoursError> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    let intervals = raw
        .split(',')
        .map(|part| {
            Interval::parse(part.trim()).map_err(|error| match error {
                HoursError::Intervals { reason, .. } => HoursError::Intervals {
                    value: raw.to_owned(),
                    reason: format!("{:?}: {reason}", part.trim()),
                },
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(normalise(intervals))
}

/// A weekday key: `mon tue wed thu fri sat sun` (case and surrounding spaces ignored).
pub fn parse_weekday(raw: &str) -> Result<Weekday, HoursError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "mon" => Ok(Weekday::Mon),
        "tue" => Ok(Weekday::Tue),
        "wed" => Ok(Weekday::Wed),
        "thu" => Ok(Weekday::Thu),
        "fri" => Ok(Weekday::Fri),
        "sat" => Ok(Weekday::Sat),
        "sun" => Ok(Weekday::Sun),
        _ => Err(HoursError::Weekday(raw.to_owned())),
    }
}

/// A closed date as an ISO date, `YYYY-MM-DD` exactly.
pub fn parse_holiday(raw: &str) -> Result<NaiveDate, HoursError> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| HoursError::Holiday(raw.to_owned()))
}

/// A time zone by IANA name, e.g. `Europe/Amsterdam` (exact spelling).
pub fn parse_time_zone(raw: &str) -> Result<Tz, HoursError> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| HoursError::TimeZone(raw.to_owned()))
}

/// Opening intervals per weekday, in local time; a day without intervals is closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklySchedule {
    /// Indexed by `Weekday::num_days_from_monday`; each list sorted, disjoint and separated.
    days: [Vec<Interval>; 7],
}

impl WeeklySchedule {
    /// Closed every day.
    pub fn closed() -> Self {
        Self::default()
    }

    /// Sets one weekday's intervals (sorted, and joined where they overlap or touch).
    pub fn set(&mut self, day: Weekday, intervals: Vec<Interval>) {
        self.days[day.num_days_from_monday() as usize] = normalise(intervals);
    }

    /// The same schedule with one weekday's intervals set.
    pub fn with(mut self, day: Weekday, intervals: Vec<Interval>) -> Self {
        self.set(day, intervals);
        self
    }

    /// One weekday's intervals, in order; empty when closed.
    pub fn day(&self, day: Weekday) -> &[Interval] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether no day has any interval: such a desk never opens.
    pub fn is_always_closed(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// From `(weekday key, intervals)` pairs such as `("mon", "08:00-18:00")`; days not given are
    /// closed, a day given twice is an error.
    pub fn parse<K, V>(days: impl IntoIterator<Item = (K, V)>) -> Result<Self, HoursError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut schedule = Self::closed();
        let mut seen = BTreeSet::new();
        for (key, value) in days {
            let day = parse_weekday(key.as_ref())?;
            if !seen.insert(day.num_days_from_monday()) {
                return Err(HoursError::DuplicateWeekday(key.as_ref().to_owned()));
            }
            schedule.set(day, parse_intervals(value.as_ref())?);
        }
        Ok(schedule)
    }
}

/// When the helpdesk is staffed: a weekly schedule in a time zone, minus national holidays and
/// configured closed dates. See the module docs for how daylight-saving changes are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    time_zone: Tz,
    schedule: WeeklySchedule,
    closed_dates: BTreeSet<NaiveDate>,
    national: NationalHolidays,
}

impl Default for OfficeHours {
    fn default() -> Self {
        Self::default_nl()
    }
}

/// A span of real time in which the desk is open: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Span {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// Spans joined where they overlap or touch. `complete` is false for the last one before the
/// horizon, which may go on past it.
struct Stretch {
    span: Span,
    complete: bool,
}

struct Stretches<I: Iterator<Item = Span>> {
    spans: Peekable<I>,
}

impl<I: Iterator<Item = Span>> Iterator for Stretches<I> {
    type Item = Stretch;
    fn next(&mut self) -> Option<Stretch> {
        let mut span = self.spans.next()?;
        while let Some(next) = self.spans.next_if(|next| next.start <= span.end) {
            span.end = span.end.max(next.end);
        }
        let complete = self.spans.peek().is_some();
        Some(Stretch { span, complete })
    }
}

impl OfficeHours {
    /// Office hours from parsed parts. `closed_dates` are local dates on which the desk is closed,
    /// on top of the `national` holidays.
    pub fn new(
        time_zone: Tz,
        schedule: WeeklySchedule,
        closed_dates: impl IntoIterator<Item = NaiveDate>,
        national: NationalHolidays,
    ) -> Self {
        Self {
            time_zone,
            schedule,
            closed_dates: closed_dates.into_iter().collect(),
            national,
        }
    }

    /// The guide's ICT Servicedesk: Monday to Friday 08:00–18:00 Europe/Amsterdam, closed on the
    /// Dutch national holidays.
    pub fn default_nl() -> Self {
        let day = vec![Interval {
            start: 8 * 60,
            end: 18 * 60,
        }];
        let schedule = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .fold(WeeklySchedule::closed(), |schedule, weekday| {
            schedule.with(weekday, day.clone())
        });
        Self::new(
            chrono_tz::Europe::Amsterdam,
            schedule,
            [],
            NationalHolidays::Nl,
        )
    }

    /// From configuration text: an IANA time zone, `(weekday key, intervals)` pairs, closed dates
    /// as `YYYY-MM-DD`, and `"nl"` or `"none"`. The error names the first bad value.
    pub fn parse<K, V, H>(
        time_zone: &str,
        hours: impl IntoIterator<Item = (K, V)>,
        closed_dates: impl IntoIterator<Item = H>,
        national: &str,
    ) -> Result<Self, HoursError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        H: AsRef<str>,
    {
        let time_zone = parse_time_zone(time_zone)?;
        let schedule = WeeklySchedule::parse(hours)?;
        let closed_dates = closed_dates
            .into_iter()
            .map(|date| parse_holiday(date.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let national = NationalHolidays::parse(national)?;
        Ok(Self::new(time_zone, schedule, closed_dates, national))
    }

    /// The desk's time zone, in which the schedule is written.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The weekly schedule.
    pub fn schedule(&self) -> &WeeklySchedule {
        &self.schedule
    }

    /// The configured closed dates (without the national holidays).
    pub fn closed_dates(&self) -> &BTreeSet<NaiveDate> {
        &self.closed_dates
    }

    /// Which national holidays close the desk.
    pub fn national_holidays(&self) -> NationalHolidays {
        self.national
    }

    /// Whether a local date is a holiday: configured, or a national holiday.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.closed_dates.contains(&date)
            || national_holidays(self.national, date.year())
                .iter()
                .any(|(holiday, _)| *holiday == date)
    }

    /// Whether the desk is open at `at`: the local date is not a holiday and the local time is
    /// inside one of that weekday's intervals (start inclusive, end exclusive).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let today = at.with_timezone(&self.time_zone).date_naive();
        // A span belongs to the date it starts on, which need not be `at`'s local date when a
        // clock is set back across midnight; looking at both neighbouring dates costs little.
        [today.pred_opt(), Some(today), today.succ_opt()]
            .into_iter()
            .flatten()
            .any(|date| self.spans_on(date).any(|span| span.contains(at)))
    }

    /// The next instant strictly after `at` at which the desk opens (from closed to open). When
    /// it is open at `at`, that is the opening after the current stretch ends. `None` when it does
    /// not open within [`HORIZON_DAYS`]: an empty schedule, or one open around the clock.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.stretches_from(at)
            .map(|stretch| stretch.span.start)
            .find(|start| *start > at)
    }

    /// When the desk is open at `at`: the instant it closes (touching intervals, such as
    /// `00:00-24:00` on consecutive days, count as one stretch). `None` when it is closed at `at`,
    /// or stays open for all of [`HORIZON_DAYS`].
    pub fn open_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        for stretch in self.stretches_from(at) {
            if stretch.span.start > at {
                return None;
            }
            if at < stretch.span.end {
                return stretch.complete.then_some(stretch.span.end);
            }
        }
        None
    }

    /// Describes `opening` for a user, relative to `now`, in the desk's time zone.
    pub fn describe(&self, opening: DateTime<Utc>, now: DateTime<Utc>) -> Opening {
        Opening::new(opening, now, self.time_zone)
    }

    /// Open stretches from the day before `at`'s local date up to the horizon, in order.
    fn stretches_from(&self, at: DateTime<Utc>) -> impl Iterator<Item = Stretch> + '_ {
        let today = at.with_timezone(&self.time_zone).date_naive();
        // From the day before, to be safe around clocks set back across midnight. A stretch open
        // at `at` may have begun earlier still; its start is before `at` either way, so it is
        // never taken for the next opening.
        let first = today.pred_opt().unwrap_or(today);
        let spans = first
            .iter_days()
            .take(HORIZON_DAYS + 2)
            .flat_map(move |date| self.spans_on(date));
        Stretches {
            spans: spans.peekable(),
        }
    }

    /// The open spans of one local date, in order: none on a holiday.
    fn spans_on(&self, date: NaiveDate) -> impl Iterator<Item = Span> + '_ {
        let intervals = if self.is_holiday(date) {
            &[][..]
        } else {
            self.schedule.day(date.weekday())
        };
        intervals.iter().filter_map(move |interval| {
            let start = self.instant(date, interval.start)?;
            let end = self.instant(date, interval.end)?;
            // An interval entirely inside a spring-forward gap never happens.
            (start < end).then_some(Span { start, end })
        })
    }

    /// The instant a local time occurs on `date` (`minutes` after midnight, 1440 = next midnight):
    /// the earlier of two (autumn), or the first instant after the gap when it does not exist.
    /// `None` only at the edge of what `chrono` can represent.
    fn instant(&self, date: NaiveDate, minutes: u16) -> Option<DateTime<Utc>> {
        let local = if minutes == DAY_MINUTES {
            date.succ_opt()?.and_time(NaiveTime::MIN)
        } else {
            date.and_time(minutes_to_time(minutes))
        };
        match self.time_zone.from_local_datetime(&local).earliest() {
            Some(instant) => Some(instant.with_timezone(&Utc)),
            None => first_instant_after_gap(self.time_zone, local),
        }
    }
}

/// For a local time that does not exist (it falls in a gap where the clock jumps forward), the
/// instant the clock jumps: the first instant whose local time is later than `local`.
fn first_instant_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let local_at = |timestamp: i64| {
        DateTime::from_timestamp(timestamp, 0).map(|utc| utc.with_timezone(&tz).naive_local())
    };
    let offset_near = |naive: NaiveDateTime| {
        i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc())
    };
    // The offsets before and after the jump; a few days away, so wider than any gap (Samoa
    // skipped a whole day in 2011).
    let before = offset_near(local.checked_sub_signed(TimeDelta::days(3))?);
    let after = offset_near(local.checked_add_signed(TimeDelta::days(3))?);
    let base = local.and_utc().timestamp();
    // Read with the later offset `local` lies before the jump, with the earlier offset after it;
    // between the two, "local time has reached `local`" turns true once, at the jump.
    let (mut before_jump, mut after_jump) = (base - after, base - before);
    if before_jump < after_jump && local_at(before_jump)? < local && local_at(after_jump)? >= local
    {
        while after_jump - before_jump > 1 {
            let middle = before_jump + (after_jump - before_jump) / 2;
            if local_at(middle)? >= local {
                after_jump = middle;
            } else {
                before_jump = middle;
            }
        }
        return DateTime::from_timestamp(after_jump, 0);
    }
    // Not a single jump between those offsets (never seen in the tz database): the first whole
    // minute after `local` that exists.
    let mut probe = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..2 * 24 * 60 {
        probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
        if let Some(instant) = tz.from_local_datetime(&probe).earliest() {
            return Some(instant.with_timezone(&Utc));
        }
    }
    None
}

/// How an opening relates to today, for choosing words ("vandaag", "morgen", "maandag", a date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relative {
    /// The same local date as now.
    Today,
    /// The next local date.
    Tomorrow,
    /// Two to six days ahead: the weekday alone names it unambiguously ("maandag om 08:00").
    ThisWeek,
    /// A week or more ahead (or, by mistake, in the past): say the date.
    Later,
}

impl Relative {
    /// A key for a Fluent selector: `today`, `tomorrow`, `week` or `later` (the keys of
    /// `dialogue::Opening::relative`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Tomorrow => "tomorrow",
            Self::ThisWeek => "week",
            Self::Later => "later",
        }
    }
}

/// An opening described in parts, for a Fluent message to put into words; all fields are in the
/// time zone it was described in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Opening {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    /// Local time, `HH:MM` ("08:00").
    pub time: String,
    /// Local date, `YYYY-MM-DD` ("2026-12-28").
    pub date: String,
    pub relative: Relative,
}

impl Opening {
    /// Describes `opening` relative to `now`, both seen in `tz` (the user's time zone when known,
    /// else the desk's).
    pub fn new(opening: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Self {
        let local = opening.with_timezone(&tz);
        let today = now.with_timezone(&tz).date_naive();
        let relative = match (local.date_naive() - today).num_days() {
            0 => Relative::Today,
            1 => Relative::Tomorrow,
            2..=6 => Relative::ThisWeek,
            _ => Relative::Later,
        };
        Self {
            weekday: local.weekday().num_days_from_monday(),
            time: local.format("%H:%M").to_string(),
            date: local.format("%Y-%m-%d").to_string(),
            relative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Amsterdam;
    use proptest::prelude::*;

    /// An Amsterdam wall-clock time that exists once, as an instant.
    fn ams(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        local(Amsterdam, y, mo, d, h, mi)
    }

    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("test times exist exactly once")
            .with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid UTC time")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn hours(tz: &str, days: &[(&str, &str)], closed: &[&str], national: &str) -> OfficeHours {
        OfficeHours::parse(tz, days.iter().copied(), closed.iter().copied(), national)
            .expect("test configuration parses")
    }

    #[test]
    fn monday_0755_is_closed_and_opens_at_0800_the_same_day() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 11, 30, 7, 55);
        assert!(!desk.is_open(at));
        assert_eq!(desk.open_until(at), None);
        assert_eq!(desk.next_opening(at), Some(ams(2026, 11, 30, 8, 0)));
        assert!(
            desk.is_open(ams(2026, 11, 30, 8, 0)),
            "08:00 itself is open"
        );
    }

    #[test]
    fn friday_1759_is_open_until_1800() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 12, 4, 17, 59);
        assert!(desk.is_open(at));
        assert_eq!(desk.open_until(at), Some(ams(2026, 12, 4, 18, 0)));
        assert_eq!(
            desk.next_opening(at),
            Some(ams(2026, 12, 7, 8, 0)),
            "after this stretch"
        );
    }

    #[test]
    fn friday_1800_is_closed_and_opens_monday_0800() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 12, 4, 18, 0);
        assert!(!desk.is_open(at), "the end is exclusive");
        assert_eq!(desk.next_opening(at), Some(ams(2026, 12, 7, 8, 0)));
    }

    #[test]
    fn saturday_is_closed_and_opens_monday_0800() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 12, 5, 11, 30);
        assert!(!desk.is_open(at));
        assert_eq!(desk.next_opening(at), Some(ams(2026, 12, 7, 8, 0)));
    }

    #[test]
    fn christmas_friday_2026_is_closed_and_opens_monday_28_december_0800() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 12, 25, 10, 0);
        assert!(!desk.is_open(at));
        assert_eq!(desk.next_opening(at), Some(ams(2026, 12, 28, 8, 0)));
        // From Thursday evening the next opening skips Christmas and the weekend.
        assert_eq!(
            desk.next_opening(ams(2026, 12, 24, 18, 0)),
            Some(ams(2026, 12, 28, 8, 0))
        );
    }

    #[test]
    fn easter_monday_2026_is_closed_and_opens_tuesday_0800() {
        let desk = OfficeHours::default_nl();
        let at = ams(2026, 4, 6, 9, 0);
        assert!(!desk.is_open(at));
        assert_eq!(desk.next_opening(at), Some(ams(2026, 4, 7, 8, 0)));
    }

    #[test]
    fn spring_forward_night_next_opening_is_monday_0800_cest_which_is_0600_utc() {
        let desk = OfficeHours::default_nl();
        // Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        for at in [
            utc(2026, 3, 29, 0, 30),
            utc(2026, 3, 29, 0, 59),
            utc(2026, 3, 29, 1, 0),
        ] {
            assert!(!desk.is_open(at));
            assert_eq!(
                desk.next_opening(at),
                Some(utc(2026, 3, 30, 6, 0)),
                "from {at}"
            );
        }
    }

    #[test]
    fn autumn_night_next_opening_is_monday_0800_cet_which_is_0700_utc() {
        let desk = OfficeHours::default_nl();
        // Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens twice.
        for at in [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)] {
            assert!(!desk.is_open(at));
            assert_eq!(
                desk.next_opening(at),
                Some(utc(2026, 10, 26, 7, 0)),
                "from {at}"
            );
        }
    }

    #[test]
    fn opening_time_in_the_spring_forward_gap_opens_at_the_first_instant_after_it() {
        let desk = hours("Europe/Amsterdam", &[("sun", "02:30-04:00")], &[], "none");
        let jump = utc(2026, 3, 29, 1, 0); // 03:00 CEST
        assert_eq!(desk.next_opening(utc(2026, 3, 28, 12, 0)), Some(jump));
        assert!(desk.is_open(jump));
        assert!(!desk.is_open(jump - TimeDelta::seconds(1)));
        assert_eq!(desk.open_until(jump), Some(utc(2026, 3, 29, 2, 0))); // 04:00 CEST
    }

    #[test]
    fn interval_wholly_inside_the_spring_forward_gap_never_opens_that_night() {
        let desk = hours("Europe/Amsterdam", &[("sun", "02:15-02:45")], &[], "none");
        // The next Sunday's 02:15 CEST instead.
        assert_eq!(
            desk.next_opening(utc(2026, 3, 28, 12, 0)),
            Some(utc(2026, 4, 5, 0, 15))
        );
    }

    #[test]
    fn opening_time_that_exists_twice_in_autumn_opens_at_the_earlier_and_stays_open() {
        let desk = hours("Europe/Amsterdam", &[("sun", "02:30-04:00")], &[], "none");
        let first_0230 = utc(2026, 10, 25, 0, 30); // 02:30 CEST
        assert_eq!(
            desk.next_opening(utc(2026, 10, 24, 12, 0)),
            Some(first_0230)
        );
        // One unbroken span until 04:00 CET, through the repeated 02:00–02:30.
        assert!(desk.is_open(utc(2026, 10, 25, 1, 15)));
        assert_eq!(desk.open_until(first_0230), Some(utc(2026, 10, 25, 3, 0)));
    }

    #[test]
    fn configured_extra_holiday_closes_the_desk_until_the_next_working_day() {
        let desk = hours(
            "Europe/Amsterdam",
            &[
                ("mon", "08:00-18:00"),
                ("thu", "08:00-18:00"),
                ("fri", "08:00-18:00"),
            ],
            &["2026-12-31"],
            "nl",
        );
        // Thursday 31 December (configured), Friday 1 January (Nieuwjaarsdag), the weekend.
        assert!(!desk.is_open(ams(2026, 12, 31, 10, 0)));
        assert!(desk.is_holiday(date(2026, 12, 31)));
        assert_eq!(
            desk.next_opening(ams(2026, 12, 31, 10, 0)),
            Some(ams(2027, 1, 4, 8, 0))
        );
    }

    #[test]
    fn lunch_break_closes_at_noon_and_opens_at_1300() {
        let desk = hours(
            "Europe/Amsterdam",
            &[("wed", "08:00-12:00,13:00-17:00")],
            &[],
            "nl",
        );
        let before_lunch = ams(2026, 12, 2, 11, 59);
        assert!(desk.is_open(before_lunch));
        assert_eq!(desk.open_until(before_lunch), Some(ams(2026, 12, 2, 12, 0)));
        assert_eq!(
            desk.next_opening(before_lunch),
            Some(ams(2026, 12, 2, 13, 0))
        );
        assert!(!desk.is_open(ams(2026, 12, 2, 12, 0)));
        assert_eq!(
            desk.next_opening(ams(2026, 12, 2, 12, 0)),
            Some(ams(2026, 12, 2, 13, 0))
        );
        assert_eq!(
            desk.open_until(ams(2026, 12, 2, 13, 0)),
            Some(ams(2026, 12, 2, 17, 0))
        );
    }

    #[test]
    fn empty_schedule_never_opens() {
        let desk = OfficeHours::new(
            Amsterdam,
            WeeklySchedule::closed(),
            [],
            NationalHolidays::Nl,
        );
        let at = ams(2026, 11, 30, 10, 0);
        assert!(desk.schedule().is_always_closed());
        assert!(!desk.is_open(at));
        assert_eq!(desk.next_opening(at), None);
        assert_eq!(desk.open_until(at), None);
    }

    #[test]
    fn new_york_desk_opens_at_0900_eastern_in_winter_and_summer() {
        let desk = hours(
            "America/New_York",
            &[("mon", "09:00-17:00"), ("tue", "09:00-17:00")],
            &[],
            "none",
        );
        // Monday 30 November 2026, EST (UTC-5).
        let at = local(New_York, 2026, 11, 30, 8, 59);
        assert!(!desk.is_open(at));
        assert_eq!(desk.next_opening(at), Some(utc(2026, 11, 30, 14, 0)));
        // Sunday 8 March 2026 is the US change (EDT, UTC-4) while Amsterdam is still on CET.
        assert_eq!(
            desk.next_opening(utc(2026, 3, 8, 12, 0)),
            Some(utc(2026, 3, 9, 13, 0))
        );
        assert!(desk.is_open(utc(2026, 3, 9, 20, 59)));
        assert!(!desk.is_open(utc(2026, 3, 9, 21, 0)));
        // Dutch holidays are off: Easter Monday is an ordinary Monday in this desk.
        assert!(desk.is_open(local(New_York, 2026, 4, 6, 10, 0)));
    }

    #[test]
    fn round_the_clock_days_join_into_one_stretch() {
        let all_day = "00:00-24:00";
        let weekdays = [
            ("mon", all_day),
            ("tue", all_day),
            ("wed", all_day),
            ("thu", all_day),
        ];
        let desk = hours("Europe/Amsterdam", &weekdays, &[], "none");
        let monday = ams(2026, 11, 30, 0, 0);
        assert!(desk.is_open(monday));
        assert_eq!(desk.open_until(monday), Some(ams(2026, 12, 4, 0, 0)));
        assert_eq!(
            desk.next_opening(ams(2026, 12, 1, 12, 0)),
            Some(ams(2026, 12, 7, 0, 0))
        );

        let every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(|d| (d, all_day));
        let always = hours("Europe/Amsterdam", &every_day, &[], "none");
        assert!(always.is_open(monday));
        assert_eq!(
            always.open_until(monday),
            None,
            "never closes within the horizon"
        );
        assert_eq!(
            always.next_opening(monday),
            None,
            "never opens: it never closes"
        );
    }

    #[test]
    fn default_nl_is_the_issue_configuration() {
        let weekdays = ["mon", "tue", "wed", "thu", "fri"].map(|d| (d, "08:00-18:00"));
        let parsed = hours("Europe/Amsterdam", &weekdays, &[], "nl");
        assert_eq!(parsed, OfficeHours::default_nl());
        assert_eq!(OfficeHours::default(), OfficeHours::default_nl());
        assert_eq!(parsed.schedule().day(Weekday::Sat), &[]);
        assert_eq!(
            parsed.schedule().day(Weekday::Mon)[0].to_string(),
            "08:00-18:00"
        );
    }

    #[test]
    fn intervals_parse_sorted_and_joined() {
        let parsed = parse_intervals(" 13:00-17:00 , 8:00-12:00,11:00-12:30").expect("valid");
        let shown: Vec<_> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["08:00-12:30", "13:00-17:00"]);
        assert_eq!(parse_intervals("  "), Ok(Vec::new()), "blank is closed");
        let touching = parse_intervals("08:00-12:00,12:00-17:00").expect("valid");
        assert_eq!(touching.len(), 1);
        let night = parse_intervals("18:00-24:00").expect("valid");
        assert_eq!(night[0].end(), None);
        assert!(night[0].contains(NaiveTime::from_hms_opt(23, 59, 59).expect("valid")));
    }

    #[test]
    fn bad_values_are_refused_with_the_value_named() {
        for bad in [
            "18:00-08:00",
            "8h-17h",
            "08:00",
            "25:00-26:00",
            "08:60-09:00",
            "24:00-24:00",
            "08:00-18:00,",
            "08:0-18:00",
            "08:00-18:00-19:00",
            "+8:00-18:00",
        ] {
            let error = parse_intervals(bad).expect_err(bad);
            assert!(matches!(error, HoursError::Intervals { ref value, .. } if value == bad));
            assert!(error.to_string().contains(bad), "{error}");
        }
        assert_eq!(
            parse_weekday("maandag"),
            Err(HoursError::Weekday("maandag".into()))
        );
        assert_eq!(parse_weekday("Mon"), Ok(Weekday::Mon));
        for bad in [
            "2026-13-01",
            "26-12-2026",
            "2026-2-01",
            "2026-02-30",
            " 2026-12-25",
        ] {
            assert_eq!(parse_holiday(bad), Err(HoursError::Holiday(bad.into())));
        }
        assert_eq!(parse_holiday("2026-12-25"), Ok(date(2026, 12, 25)));
        assert_eq!(
            parse_time_zone("Europe/Amsterdm"),
            Err(HoursError::TimeZone("Europe/Amsterdm".into()))
        );
        assert_eq!(parse_time_zone("America/New_York"), Ok(New_York));

        let error = OfficeHours::parse("Europe/Amsterdam", [("mon", "08:00-18:00")], ["x"], "nl")
            .expect_err("bad date");
        assert_eq!(error, HoursError::Holiday("x".into()));
        let error = OfficeHours::parse("UTC", [("mon", ""), ("mon", "")], [""; 0], "nl")
            .expect_err("twice");
        assert_eq!(error, HoursError::DuplicateWeekday("mon".into()));
        let error = OfficeHours::parse("UTC", [("mon", "")], [""; 0], "de").expect_err("bad kind");
        assert!(error.to_string().contains("\"de\""), "{error}");
    }

    #[test]
    fn describe_says_today_tomorrow_weekday_or_date() {
        let desk = OfficeHours::default_nl();
        let monday_0800 = ams(2026, 12, 7, 8, 0);
        let saturday = desk.describe(monday_0800, ams(2026, 12, 5, 11, 0));
        assert_eq!(
            saturday,
            Opening {
                weekday: 0,
                time: "08:00".into(),
                date: "2026-12-07".into(),
                relative: Relative::ThisWeek,
            }
        );
        assert_eq!(
            desk.describe(monday_0800, ams(2026, 12, 7, 7, 55)).relative,
            Relative::Today
        );
        assert_eq!(
            desk.describe(monday_0800, ams(2026, 12, 6, 23, 0)).relative,
            Relative::Tomorrow
        );
        assert_eq!(
            desk.describe(monday_0800, ams(2026, 11, 30, 18, 0))
                .relative,
            Relative::Later
        );
        assert_eq!(Relative::ThisWeek.as_str(), "week");
    }

    #[test]
    fn describe_in_the_users_time_zone_shows_their_clock_and_date() {
        let monday_0800 = ams(2026, 12, 7, 8, 0);
        let in_new_york = Opening::new(monday_0800, ams(2026, 12, 5, 11, 0), New_York);
        assert_eq!(in_new_york.time, "02:00");
        assert_eq!(in_new_york.weekday, 0);
        // 23:30 Sunday in New York is already Monday in Amsterdam: "today" is the user's today.
        let sunday_night_ny = local(New_York, 2026, 12, 6, 23, 30);
        let opening = ams(2026, 12, 7, 6, 0) + TimeDelta::hours(8); // 14:00 Amsterdam, 08:00 NY
        assert_eq!(
            Opening::new(opening, sunday_night_ny, New_York).relative,
            Relative::Tomorrow
        );
        assert_eq!(
            Opening::new(opening, sunday_night_ny, Amsterdam).relative,
            Relative::Today
        );
    }

    // ---- property tests ----------------------------------------------------------------------

    /// Zones whose offsets are whole quarter hours, each with instants (UTC) of its daylight-saving
    /// changes to test near: changes of an hour, of half an hour (Lord Howe), at midnight (São
    /// Paulo until 2019), at 02:45 (Chatham) or none at all (Kolkata).
    #[allow(clippy::type_complexity)]
    const ZONES: [(&str, &[(i32, u32, u32, u32, u32)]); 6] = [
        (
            "Europe/Amsterdam",
            &[(2026, 3, 29, 1, 0), (2026, 10, 25, 1, 0)],
        ),
        (
            "America/New_York",
            &[(2026, 3, 8, 7, 0), (2026, 11, 1, 6, 0)],
        ),
        (
            "Australia/Lord_Howe",
            &[(2026, 4, 4, 15, 0), (2026, 10, 3, 15, 30)],
        ),
        // Forward at midnight; back at midnight, into the previous date.
        (
            "America/Sao_Paulo",
            &[(2018, 11, 4, 3, 0), (2018, 2, 18, 2, 0)],
        ),
        ("Asia/Kolkata", &[]),
        (
            "Pacific/Chatham",
            &[(2026, 4, 4, 14, 0), (2026, 9, 26, 14, 0)],
        ),
    ];

    const QUARTER: TimeDelta = TimeDelta::minutes(15);

    fn schedule_strategy() -> impl Strategy<Value = WeeklySchedule> {
        // Quarter-hour boundaries, often in the small hours where clocks change, or at midnight
        // where days touch.
        let boundary = prop_oneof![0u16..=96, 0u16..=20, Just(0u16), Just(96u16)];
        let interval = (boundary.clone(), boundary).prop_filter_map("empty", |(a, b)| {
            let (start, end) = (a.min(b), a.max(b));
            (start < end).then_some(Interval {
                start: start * 15,
                end: end * 15,
            })
        });
        prop::array::uniform7(prop::collection::vec(interval, 0..3)).prop_map(|days| {
            days.into_iter()
                .enumerate()
                .fold(WeeklySchedule::closed(), |schedule, (index, day)| {
                    let weekday = Weekday::try_from(index as u8).expect("index below 7");
                    schedule.with(weekday, day)
                })
        })
    }

    /// A desk and an instant: anywhere in 2015–2035, or within three days of one of the desk's
    /// own clock changes.
    fn case_strategy() -> impl Strategy<Value = (OfficeHours, DateTime<Utc>)> {
        (0..ZONES.len(), schedule_strategy(), prop::bool::ANY).prop_flat_map(
            |(zone, schedule, dutch)| {
                let (name, changes) = ZONES[zone];
                let national = if dutch {
                    NationalHolidays::Nl
                } else {
                    NationalHolidays::None
                };
                let tz = name.parse().expect("known zone");
                let closed = [date(2026, 12, 31), date(2018, 11, 5)];
                let desk = OfficeHours::new(tz, schedule, closed, national);
                let anywhere = (utc(2015, 1, 1, 0, 0).timestamp()
                    ..utc(2035, 1, 1, 0, 0).timestamp())
                    .prop_map(|seconds| DateTime::from_timestamp(seconds, 0).expect("in range"));
                let at = if changes.is_empty() {
                    anywhere.boxed()
                } else {
                    let near_a_change = (
                        prop::sample::select(changes.to_vec()),
                        -3 * 86_400i64..3 * 86_400,
                    )
                        .prop_map(|((y, mo, d, h, mi), offset)| {
                            utc(y, mo, d, h, mi) + TimeDelta::seconds(offset)
                        });
                    prop_oneof![anywhere, near_a_change].boxed()
                };
                (Just(desk), at)
            },
        )
    }

    /// The first quarter-hour instant strictly after `at`. All span boundaries in `ZONES` are
    /// on quarter hours, so `is_open` is constant from one quarter to the next.
    fn next_quarter(at: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = at.timestamp();
        let quarter = QUARTER.num_seconds();
        DateTime::from_timestamp(seconds - seconds.rem_euclid(quarter) + quarter, 0)
            .expect("in range")
    }

    /// The spec's definition, without spans: not a holiday and inside an interval of the weekday.
    fn wall_clock_open(desk: &OfficeHours, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&desk.time_zone()).naive_local();
        !desk.is_holiday(local.date())
            && desk
                .schedule()
                .day(local.weekday())
                .iter()
                .any(|i| i.contains(local.time()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// `next_opening(t)` is after `t`, open, closed just before, and nothing opens in between
        /// (checked on every quarter hour, where all changes happen).
        #[test]
        fn next_opening_is_the_first_change_from_closed_to_open_after_t(
            (desk, at) in case_strategy(),
        ) {
            let mut was_open = desk.is_open(at);
            let mut probe = next_quarter(at);
            match desk.next_opening(at) {
                Some(opening) => {
                    prop_assert!(opening > at);
                    prop_assert!(desk.is_open(opening));
                    prop_assert!(!desk.is_open(opening - TimeDelta::nanoseconds(1)));
                    while probe < opening {
                        let open = desk.is_open(probe);
                        prop_assert!(was_open || !open, "opened at {} before {}", probe, opening);
                        was_open = open;
                        probe += QUARTER;
                    }
                    prop_assert!(!was_open, "still open right before {}", opening);
                }
                None => {
                    // Never opens: closed throughout, or open throughout.
                    for _ in 0..8 * 96 {
                        prop_assert_eq!(desk.is_open(probe), was_open, "changed at {}", probe);
                        probe += QUARTER;
                    }
                }
            }
        }

        /// When open at `t`, `open_until(t)` is the first instant after `t` that is closed.
        #[test]
        fn open_until_is_the_first_closed_instant_after_t(
            (desk, at) in case_strategy(),
        ) {
            let until = desk.open_until(at);
            if !desk.is_open(at) {
                prop_assert_eq!(until, None);
            } else if let Some(until) = until {
                prop_assert!(until > at);
                prop_assert!(!desk.is_open(until));
                let mut probe = next_quarter(at);
                while probe < until {
                    prop_assert!(desk.is_open(probe), "closed at {} before {}", probe, until);
                    probe += QUARTER;
                }
            } else {
                let mut probe = next_quarter(at);
                for _ in 0..8 * 96 {
                    prop_assert!(desk.is_open(probe), "closed at {}", probe);
                    probe += QUARTER;
                }
            }
        }

        /// Away from a daylight-saving change, open means exactly: not a holiday, and the local
        /// time inside one of the weekday's intervals.
        #[test]
        fn away_from_clock_changes_is_open_is_the_wall_clock_definition(
            (desk, at) in case_strategy(),
        ) {
            let tz = desk.time_zone();
            let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
            prop_assume!(offset(at - TimeDelta::hours(3)) == offset(at + TimeDelta::hours(3)));
            prop_assert_eq!(desk.is_open(at), wall_clock_open(&desk, at));
        }
    }
}
