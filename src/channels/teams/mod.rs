//! Microsoft Teams: a Bot Framework bot in personal scope whose messaging endpoint is
//! `POST /api/teams/messages` (DESIGN §4). [`auth`] checks the Bot Framework's tokens,
//! [`connector`] sends replies through the Bot Connector REST API, [`cards`] draws Adaptive
//! Cards, and [`bot`] ties them to the core.

pub mod auth;
pub mod bot;
pub mod cards;
pub mod connector;

pub use bot::{Teams, MESSAGES_PATH};
