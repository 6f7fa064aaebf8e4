//! Microsoft Teams: the Bot Framework pieces.

pub mod auth;
pub mod cards;
pub mod connector;
