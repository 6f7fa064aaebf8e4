//! The ICT Servicedesk: office hours, and handing a conversation to a person (issue 8).

pub mod holidays;
pub mod hours;

pub use holidays::{national_holidays, NationalHolidays};
pub use hours::{HoursError, OfficeHours, Opening, Relative, WeeklySchedule};
