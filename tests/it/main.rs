//! Integration tests: one binary, one module per concern. `support` spins up the whole core
//! in-process on its own SQLite file with a manual clock (`TestApp::new`).

mod pg;
mod slapd;
mod support;

mod admin;
mod admin_report;
mod chat_ldap;
mod cli;
mod console;
mod discord;
mod email;
mod enumeration;
mod fake_botframework;
mod fake_connector;
mod fake_discord;
mod fake_telegram;
mod graph;
mod helpdesk;
mod helpdesk_telegram;
mod key_rotation;
mod ldap;
mod not_me;
mod postgres_flows;
mod properties;
mod push;
mod registration;
mod replicas;
mod restart;
mod rules;
mod serve;
mod sms;
mod store;
mod teams;
mod telegram;
mod transcripts;
mod voice;
