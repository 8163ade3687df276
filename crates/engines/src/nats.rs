//! A NATS server (`nats-server` from Debian's package) per test, on a free
//! loopback port.

use crate::process;
use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

/// A running NATS server; killed when dropped.
#[derive(Debug)]
pub struct Nats {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// Starts one, or `None` (after [`crate::require`]'s skip line) when
    /// `nats-server` is not installed. Panics if it is installed but will
    /// not start: that is a broken machine, not a skip.
    pub fn start() -> Option<Self> {
        let program = process::find_program(&["nats-server"]);
        let program = if crate::require("nats-server", program.is_some()) { program? } else { return None };
        let dir = tempfile::tempdir().expect("a temp folder for NATS");
        let port = process::free_port().expect("a free port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("nats.log");
        let args: Vec<String> =
            ["-a", "127.0.0.1", "-p", &port.to_string(), "--no_advertise"].iter().map(|s| (*s).to_owned()).collect();
        let mut child = process::spawn(&program, &args, &log).expect("starting nats-server");
        if let Err(why) = process::wait_for_port(&mut child, addr, Duration::from_secs(15), &log) {
            process::kill(&mut child);
            panic!("nats-server did not start: {why}");
        }
        Some(Self { child, addr, _dir: dir })
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        process::kill(&mut self.child);
    }
}
