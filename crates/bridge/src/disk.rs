//! The state folder's health: which of the engine's own files cannot be
//! written right now (a full disk, mostly), shown in the status snapshot.
//!
//! A full state folder must not stop the bridge. Whatever cannot be saved is
//! kept in memory and retried by its owner: the sync core re-saves the index
//! and outbox every [`RETRY_EVERY`], the status writer rewrites `status.json`
//! (in place when no new file fits), and [`retry_loop`] flushes the audit
//! lines held back. Each owner reports here, and this module turns the set of
//! failing parts into [`EngineStatus::state_problem`] (which `specbridge
//! status` prints and the tray shows as "needs attention"), one error line in
//! the log when the trouble starts and one info line when it ends.

use crate::audit::AuditLog;
use crate::status::{EngineEvent, EngineStatus, StateProblem};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;

/// How often a failed state write is retried.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A part of the state folder that can fail on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part {
    /// `projects/<id>/index.json` and `outbox.json` (kept in memory meanwhile).
    SyncState,
    /// `audit.log` (lines held in memory meanwhile).
    Audit,
    /// `status.json`.
    Status,
}

impl Part {
    fn describe(self) -> &'static str {
        match self {
            Self::SyncState => "the index and outbox (kept in memory)",
            Self::Audit => "audit log lines (held in memory)",
            Self::Status => "status.json",
        }
    }
}

/// Whether an I/O error means "no space left" (or over quota).
pub(crate) fn is_full(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

#[derive(Debug, Default)]
struct Failing {
    /// Part -> (error text, was it a full disk).
    parts: BTreeMap<Part, (String, bool)>,
    since_ms: u64,
}

/// Shared by the parts that write into the state folder.
#[derive(Debug)]
pub(crate) struct StateDisk {
    dir: PathBuf,
    failing: Mutex<Failing>,
    status: watch::Sender<EngineStatus>,
    events: broadcast::Sender<EngineEvent>,
    /// Wakes [`retry_loop`] when audit lines were held back.
    audit_waiting: Notify,
}

impl StateDisk {
    pub(crate) fn new(
        dir: PathBuf,
        status: watch::Sender<EngineStatus>,
        events: broadcast::Sender<EngineEvent>,
    ) -> Arc<Self> {
        Arc::new(Self { dir, failing: Mutex::default(), status, events, audit_waiting: Notify::new() })
    }

    /// Records that `part` could not be written.
    pub(crate) fn failed(&self, part: Part, error: &std::io::Error) {
        self.failed_with(part, error.to_string(), is_full(error));
    }

    /// Records that `part` could not be written (`full`: for want of space).
    pub(crate) fn failed_with(&self, part: Part, error: String, full: bool) {
        if part == Part::Audit {
            self.audit_waiting.notify_one();
        }
        let problem = {
            let mut failing = self.lock();
            let started = failing.parts.is_empty();
            if failing.parts.get(&part).is_some_and(|(_, was_full)| *was_full == full) {
                return;
            }
            if started {
                failing.since_ms = crate::fsutil::now_ms();
            }
            failing.parts.insert(part, (error.clone(), full));
            let problem = self.problem(&failing);
            if started {
                tracing::error!(state_dir = %self.dir.display(), %error, "{}", problem.message);
                let _ = self.events.send(EngineEvent::Error(problem.message.clone()));
            } else {
                tracing::warn!(state_dir = %self.dir.display(), %error, "{}", problem.message);
            }
            problem
        };
        self.publish(Some(problem));
    }

    /// Records that `part` was written again.
    pub(crate) fn recovered(&self, part: Part) {
        let problem = {
            let mut failing = self.lock();
            if failing.parts.remove(&part).is_none() {
                return;
            }
            if failing.parts.is_empty() {
                tracing::info!(state_dir = %self.dir.display(), "the state folder is writable again; everything held back is saved");
                None
            } else {
                Some(self.problem(&failing))
            }
        };
        self.publish(problem);
    }

    fn problem(&self, failing: &Failing) -> StateProblem {
        let full = failing.parts.values().any(|(_, full)| *full);
        let what: Vec<&str> = failing.parts.keys().map(|p| p.describe()).collect();
        let (code, cause) = if full { ("no_space", "is full") } else { ("io", "cannot be written") };
        StateProblem {
            code: code.to_owned(),
            message: format!(
                "the state folder {} {cause}: cannot save {}; retrying every second",
                self.dir.display(),
                what.join(", ")
            ),
            hint: if full {
                "free space on that disk; the bridge keeps running and saves everything once it can".to_owned()
            } else {
                "check the folder's permissions and the disk; the bridge keeps running meanwhile".to_owned()
            },
            since_ms: failing.since_ms,
        }
    }

    fn publish(&self, problem: Option<StateProblem>) {
        self.status.send_if_modified(|s| {
            if s.state_problem == problem {
                return false;
            }
            s.state_problem = problem;
            s.updated_ms = crate::fsutil::now_ms();
            true
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failing> {
        // Plain data: a panic elsewhere leaves nothing half-updated that matters.
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes the audit lines held back by a full disk, every [`RETRY_EVERY`]
/// until none are left; sleeps while there are none. On shutdown it tries
/// once more and logs what could not be written.
pub(crate) async fn retry_loop(disk: Arc<StateDisk>, audit: AuditLog, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = disk.audit_waiting.notified() => {}
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(RETRY_EVERY) => {}
            }
            let flushing = audit.clone();
            if matches!(tokio::task::spawn_blocking(move || flushing.flush()).await, Ok(true)) {
                break;
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    let flushing = audit.clone();
    let _ = tokio::task::spawn_blocking(move || flushing.flush()).await;
    let left = audit.held_back();
    if left > 0 {
        tracing::error!(lines = left, "stopping with audit lines that could not be written (the state folder is full)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::LinkState;

    fn status() -> EngineStatus {
        EngineStatus {
            link: LinkState::Connected,
            hub_url: "http://hub".into(),
            queue_depth: 0,
            last_error: None,
            projects: vec![],
            updated_ms: 0,
            state_problem: None,
        }
    }

    #[test]
    fn failing_parts_show_in_the_status_until_each_recovers() {
        let (tx, rx) = watch::channel(status());
        let (events, mut seen) = broadcast::channel(8);
        let disk = StateDisk::new("/state".into(), tx, events);
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        disk.failed(Part::SyncState, &full);
        disk.failed(Part::Audit, &full);
        let problem = rx.borrow().state_problem.clone().unwrap();
        assert_eq!(problem.code, "no_space");
        assert!(problem.message.contains("/state is full"), "{}", problem.message);
        assert!(problem.message.contains("index and outbox") && problem.message.contains("audit"));
        assert!(matches!(seen.try_recv(), Ok(EngineEvent::Error(_))), "the start of the trouble is an event");
        assert!(seen.try_recv().is_err(), "only once");

        disk.recovered(Part::SyncState);
        assert!(!rx.borrow().state_problem.as_ref().unwrap().message.contains("outbox"));
        disk.recovered(Part::Audit);
        assert_eq!(rx.borrow().state_problem, None);
    }
}
