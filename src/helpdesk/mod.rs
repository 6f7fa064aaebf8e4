//! The ICT Servicedesk: office hours, and handing a conversation to a person (issue 8).

pub mod desk;
pub mod discord_desk;
pub mod holidays;
pub mod hours;
pub mod teams_desk;
pub mod telegram_desk;

pub use holidays::{national_holidays, NationalHolidays};
pub use hours::{HoursError, OfficeHours, Opening, Relative, WeeklySchedule};
