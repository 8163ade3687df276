//! The store's health as `/healthz` reports it: ok, or degraded since a write
//! failed (a full disk: `no_space`).
//!
//! A full disk must not take the hub down: reads keep working, writes answer
//! `507 no_space`. What fails is recorded here ([`StoreHealth::observe`]), once
//! per episode in the log, and cleared by itself: `/healthz` retries a one-row
//! write at most once per [`PROBE_EVERY`] while degraded (every
//! [`PROBE_HEALTHY_EVERY`] otherwise), so the hub reports healthy again as
//! soon as space is back, without a restart.

use crate::error::HubError;
use crate::store::Store;
use serde::Serialize;
use specbridge_protocol::ErrorCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Probes while degraded happen at most this often (a `/healthz` poller
/// cannot turn into a write storm on a sick disk)…
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// …and while healthy at most this often: a disk that filled up while nothing
/// wrote still shows on `/healthz` within this time.
const PROBE_HEALTHY_EVERY: Duration = Duration::from_secs(10);

/// What `/healthz` says about the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Degraded {
    /// `no_space` for a full disk, `internal` for any other failed write.
    pub(crate) code: ErrorCode,
    /// The failure, as the database reported it.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) hint: &'static str,
    /// When the first failure of this episode happened (ms since the epoch).
    pub(crate) since_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    degraded: Option<Degraded>,
    last_probe: Option<Instant>,
}

/// Whether the store accepts writes, as its callers have seen: shared by
/// them; cheap to consult, never held across an await.
#[derive(Debug, Default)]
pub struct StoreHealth {
    state: Mutex<State>,
}

/// The hint given with every `no_space` answer.
pub(crate) const NO_SPACE_HINT: &str =
    "free space on the disk that holds the hub's data folder; reads keep working, and writes resume by themselves";

impl StoreHealth {
    /// Records a failed store call. Only failures that say something about
    /// the disk count (a full disk); others are the caller's to report.
    pub(crate) fn observe(&self, error: &HubError) {
        if error.is_no_space() {
            self.mark_no_space(error.to_string());
        }
    }

    /// Records that a write failed for want of space (logged once per episode).
    pub(crate) fn mark_no_space(&self, message: String) {
        let mut state = self.lock();
        if state.degraded.is_none() {
            tracing::error!(error = %message, "the hub's disk is full: writes fail with no_space, reads keep working");
            state.degraded =
                Some(Degraded { code: ErrorCode::NoSpace, message, hint: NO_SPACE_HINT, since_ms: crate::now_ms() });
        }
    }

    /// The store's state now, refreshed by a probe write when one is due.
    pub(crate) async fn check(&self, store: &dyn Store) -> Option<Degraded> {
        {
            let mut state = self.lock();
            let every = if state.degraded.is_some() { PROBE_EVERY } else { PROBE_HEALTHY_EVERY };
            if state.last_probe.is_some_and(|at| at.elapsed() < every) {
                return state.degraded.clone();
            }
            state.last_probe = Some(Instant::now());
        }
        match store.probe_write().await {
            Ok(()) => {
                let mut state = self.lock();
                if let Some(was) = state.degraded.take() {
                    tracing::info!(since_ms = was.since_ms, "the hub's store accepts writes again");
                }
                None
            }
            Err(error) => {
                self.observe(&error);
                self.lock().degraded.clone()
            }
        }
    }

    /// The last known state, without probing (for `/metrics`, which must not write).
    pub(crate) fn current(&self) -> Option<Degraded> {
        self.lock().degraded.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
