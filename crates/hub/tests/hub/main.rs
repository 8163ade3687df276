//! The hub against a raw WebSocket client: real sockets on 127.0.0.1:0, real
//! SQLite in a temp folder. The client speaks the protocol by hand, so these
//! tests pin the hub's side of it independently of the bridge engine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns; a panic is a failed test

mod accounts;
mod auth;
mod commands;
mod dashboard;
mod hostile;
mod lifecycle;
mod ops;
mod routing;
mod stores;
mod support;
mod sync;
mod trust;
mod updates;
