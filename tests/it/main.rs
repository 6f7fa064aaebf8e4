//! Integration tests: one binary, one module per concern. `support` spins up the whole core
//! in-process on its own SQLite file with a manual clock (`TestApp::new`).

mod support;

mod cli;
mod console;
mod enumeration;
mod properties;
mod restart;
mod rules;
mod transcripts;
