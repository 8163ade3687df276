//! haproxy (Debian's package) as the load balancer in front of hub nodes,
//! configured as a deployment would be: HTTP mode with WebSocket tunnels,
//! `/readyz` health checks, and a retry on another node when one refuses.

use crate::process;
use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

/// A running haproxy; killed when dropped.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Balances `nodes` in order (`balance first`: every new connection goes
    /// to the first node that is up, so a test knows where a bridge lands,
    /// and moves to the next when it dies). `None` (after the skip line)
    /// when haproxy is not installed.
    pub fn start(nodes: &[SocketAddr]) -> Option<Self> {
        Self::start_sized(nodes, 1000)
    }

    /// [`Haproxy::start`] for up to `maxconn` client connections at once
    /// (it needs two descriptors per connection: raise `ulimit -n` first).
    pub fn start_sized(nodes: &[SocketAddr], maxconn: usize) -> Option<Self> {
        let program = process::find_program(&["haproxy"]);
        let program = if crate::require("haproxy", program.is_some()) { program? } else { return None };
        let dir = tempfile::tempdir().expect("a temp folder for haproxy");
        let port = process::free_port().expect("a free port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let servers: String =
            nodes.iter().enumerate().map(|(i, node)| format!("    server node{i} {node} check\n")).collect();
        let config = format!(
            "global\n    maxconn {maxconn}\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 1h\n    timeout server 1h\n    \
             timeout tunnel 1h\n    option redispatch\n    retries 3\n\
             frontend hub\n    bind {addr}\n    option forwardfor\n    default_backend nodes\n\
             backend nodes\n    balance first\n    option httpchk GET /readyz\n    http-check expect status 200\n    \
             default-server inter 300ms fall 2 rise 1\n{servers}"
        );
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).expect("writing haproxy.cfg");
        let log = dir.path().join("haproxy.log");
        let args = vec!["-db".to_owned(), "-f".to_owned(), cfg.display().to_string()];
        let mut child = process::spawn(&program, &args, &log).expect("starting haproxy");
        if let Err(why) = process::wait_for_port(&mut child, addr, Duration::from_secs(15), &log) {
            process::kill(&mut child);
            panic!("haproxy did not start: {why}");
        }
        Some(Self { child, addr, _dir: dir })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        process::kill(&mut self.child);
    }
}
