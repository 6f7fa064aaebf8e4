//! Chat adapters: each turns a platform event into an engine input and a reply into platform
//! messages. No business rule lives here.

pub mod console;
pub mod discord;
pub mod qr;
pub mod queue;
pub mod teams;
pub mod telegram;
