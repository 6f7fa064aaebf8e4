//! Integration tests: one binary, one module per concern. `support` spins up the whole core
//! in-process on its own SQLite file with a manual clock (`TestApp::new`).

mod support;

mod cli;
mod console;
mod enumeration;
mod fake_telegram;
mod properties;
mod restart;
mod rules;
mod serve;
mod telegram;
mod transcripts;
