//! # sspr-bot
//!
//! Self-service password reset and account unlock through a chat bot. An employee who forgot a
//! password, or whose account is locked after three failed sign-ins, proves who they are with two
//! *different* registered methods (code to a private e-mail address, SMS code, a phone call
//! confirmed with `#`, three security questions, an authenticator push, an authenticator code) and
//! then sets a new password or gets the account unlocked. The procedure is the helpdesk's own
//! Entra ID SSPR guide, turned into a conversation, in Dutch and English.
//!
//! Data flows one way: platform event → channel adapter → [`dialogue`] engine → effects →
//! [`recovery`] core → replies → channel adapter → platform.
//!
//! ## Layout
//! - [`domain`] — parsed values: login name, phone number, e-mail address, code, new password.
//! - [`dialogue`] — the engine: the guide as a pure state machine (`(state, input, now)` → next
//!   state, replies, effects). Start reading here.
//! - [`recovery`] — the core that carries out effects: codes, throttles, TOTP, security answers,
//!   audit log, notifications, and the check that two distinct methods passed before any reset.
//! - [`directory`] — the `Directory` trait (find, reset, unlock, list) and its backends: embedded
//!   SQLite, LDAP, Microsoft Graph.
//! - [`providers`] — e-mail, SMS, call and push senders: SMTP, Twilio, Bird, Duo, and the
//!   development outbox.
//! - [`hashing`] — argon2id for passwords and security answers, off the async threads.
//! - [`store`] — SQLite or PostgreSQL via sqlx: conversations, recoveries, challenges, counters, audit log.
//! - [`i18n`] — Fluent bundles for `locales/nl` and `locales/en`.
//! - [`channels`] — chat adapters: the console (interactive and JSON lines), Telegram, Teams and
//!   Discord, with a per-chat queue and QR codes shared between them.
//! - [`helpdesk`] — the ICT Servicedesk: office hours, desks (Telegram group, Discord channel,
//!   Teams channel), handoffs.
//! - [`demo`] — the zero-configuration setup: demo accounts and their registered methods.
//! - [`admin`] — `sspr-bot admin`: import, export, show, clear registrations; report.
//! - [`config`] — the TOML configuration file with `SSPR_…` environment overrides.
//! - [`app`] — wiring: store, directory, providers, key and core, from defaults or a config.
//! - [`server`] — `serve`: the HTTP server and the chat channels until shutdown.
//! - [`http`] — the axum router: `/healthz`, `/readyz`, `/metrics`.
//! - [`metrics`] — Prometheus counters, kept by the core.
//!
//! A turn: [`recovery::Core::handle`] loads the conversation, runs [`dialogue::step`], executes
//! each effect, feeds the results back into the engine, and stores the conversation once.

pub mod admin;
pub mod app;
pub mod channels;
pub mod config;
pub mod demo;
pub mod dialogue;
pub mod directory;
pub mod domain;
pub mod hashing;
pub mod helpdesk;
pub mod http;
pub mod i18n;
pub mod metrics;
pub mod providers;
pub mod recovery;
pub mod server;
pub mod store;
