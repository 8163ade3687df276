//! Fault injection for specbridge: break the link, the processes and the
//! disks on purpose, and check that nothing was lost.
//!
//! - [`proxy`]: a loopback TCP proxy between bridge and hub that stalls,
//!   delays, resets and black-holes, and counts the bytes it forwards;
//! - [`procs`]: the hub and the bridge as child processes (the
//!   `specbridge-chaos hub|bridge` roles: the same libraries the shipped
//!   binaries run), restarted after `kill -9`;
//! - [`disk`]: a small real file system (tmpfs) to fill up;
//! - [`check`]: the invariants: every file at the hub matches the disk, no
//!   temp file is left, nothing is applied twice and nothing acknowledged is
//!   lost;
//! - [`soak`]: rounds of faults with the checks after each (a short run is
//!   in the test suite, a long one is `scripts/chaos.sh MINUTES`);
//! - [`rig`]: an in-process hub and engine behind the proxy, to watch closely;
//! - [`bench`]: the recovery numbers of docs/benchmarks.md.
//!
//! Nothing here is mocked: real sockets on loopback, real processes, real
//! SQLite, real files in temp folders.

pub mod bench;
pub mod bench_cluster;
pub mod check;
pub mod disk;
pub mod http;
pub mod procs;
pub mod proxy;
pub mod rig;
pub mod soak;

/// What can go wrong driving a fault run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The hub library failed (opening its store, issuing a token).
    #[error("hub: {0}")]
    Hub(#[from] specbridge_hub::HubError),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The setup is impossible here (for example: not root, so no tmpfs).
    #[error("{0}")]
    Unsupported(String),
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { what: what.into(), source }
    }
}

/// Result of a harness call.
pub type HarnessResult<T> = Result<T, HarnessError>;

/// Polls `check` every 20 ms until it is true; false after `within`.
pub async fn wait_until<F, Fut>(within: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
