//! The fault harness against the real parts: a hub and a bridge (in-process
//! or as processes killed with SIGKILL), the fault proxy on loopback, real
//! files, real SQLite, and a real full file system (a small tmpfs; root only).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod cluster;
mod disk;
mod link;
mod soak;

use specbridge_bridge::Timing;
use std::time::Duration;

/// Short heartbeats: a dead link is found in about two seconds.
pub fn quick() -> Timing {
    Timing {
        ping_interval: Duration::from_millis(1000),
        pong_timeout: Duration::from_millis(1000),
        write_timeout: Duration::from_millis(2000),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        ..Timing::default()
    }
}

/// A tmpfs of `bytes`, or `None` after saying why the test is skipped
/// (not root). As root a failed mount fails the test.
pub fn small_disk(bytes: u64) -> Option<specbridge_faults::disk::SmallDisk> {
    match specbridge_faults::disk::SmallDisk::mount(bytes) {
        Ok(disk) => Some(disk),
        Err(specbridge_faults::HarnessError::Unsupported(why)) => {
            eprintln!("SKIPPED (not a pass): {why}");
            None
        }
        Err(e) => panic!("cannot mount a small disk: {e}"),
    }
}
