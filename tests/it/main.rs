//! Integration tests: one binary, one module per concern. `support` spins up the whole core
//! in-process on its own SQLite file with a manual clock (`TestApp::new`).

mod support;

mod console;
mod properties;
mod rules;
mod enumeration;
mod restart;
mod transcripts;
