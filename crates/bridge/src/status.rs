//! What the engine reports: link state, status snapshot, events, and the
//! `status.json` file that lets `specbridge status` in another process see a
//! running bridge.

use crate::disk::{Part, StateDisk};
use crate::error::StateError;
use crate::fsutil;
use crate::jobs::ConsentRequest;
use crate::paths::Paths;
use crate::project::Layout;
use serde::{Deserialize, Serialize};
use specbridge_protocol::Consent;
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// `status.json` is rewritten at most this often unless the link state changes.
const STATUS_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// The link to the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Dialling or waiting for `welcome`.
    Connecting,
    /// Session established.
    Connected,
    /// Disconnected; the next attempt comes after the delay.
    Offline {
        /// Milliseconds until the next attempt (as of the last change).
        retry_in_ms: u64,
    },
    /// The hub refused the token (HTTP 401). No retries until `retry_now` or a restart.
    Unauthorized,
    /// The engine has stopped.
    Stopped,
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.pad("connecting"),
            Self::Connected => f.pad("connected"),
            Self::Offline { retry_in_ms } => {
                f.pad(&format!("offline (retrying in {:.1} s)", *retry_in_ms as f64 / 1000.0))
            }
            Self::Unauthorized => f.pad("unauthorized (run `specbridge login`)"),
            Self::Stopped => f.pad("stopped"),
        }
    }
}

/// One served project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectStatus {
    /// Project id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Detected layout.
    pub layout: Layout,
    /// Canonical folder.
    pub path: PathBuf,
    /// Files in the index.
    pub files: usize,
    /// Whether the hub may only read.
    pub read_only: bool,
}

/// A snapshot of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// The link.
    pub link: LinkState,
    /// The configured hub URL.
    pub hub_url: String,
    /// Events waiting for the hub's ack.
    pub queue_depth: usize,
    /// The most recent error, cleared when a session is established.
    pub last_error: Option<String>,
    /// Served projects.
    pub projects: Vec<ProjectStatus>,
    /// When this snapshot last changed (ms since the Unix epoch).
    pub updated_ms: u64,
    /// The state folder cannot be written (a full disk): what is held in
    /// memory meanwhile. `None` when all is well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_problem: Option<StateProblem>,
}

/// The engine cannot write its state folder. It keeps running: what cannot
/// be saved stays in memory and is retried every second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProblem {
    /// `no_space` when the disk is full, `io` for any other write failure.
    pub code: String,
    /// What failed, and what is held back.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// When it started (ms since the Unix epoch).
    pub since_ms: u64,
}

/// Something the host (CLI, tray app) may want to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// The link state changed.
    LinkChanged(LinkState),
    /// The hub stored a project's events up to `seq`, or confirmed it is in sync.
    Synced {
        /// Project id.
        project: String,
        /// Highest acknowledged seq.
        seq: u64,
    },
    /// A command from the hub was handled.
    CommandHandled {
        /// Command name.
        name: String,
        /// Project id.
        project: String,
        /// Path argument, if any.
        path: Option<String>,
        /// `ok` or the error code.
        outcome: String,
    },
    /// A job run waits for the owner's confirmation: show the job, its argv,
    /// its parameters and who asked, and answer with
    /// [`crate::EngineHandle::answer_consent`].
    ConsentRequested(ConsentRequest),
    /// A consent request ended (answered, timed out or cancelled): close its dialog.
    ConsentSettled {
        /// The request.
        id: String,
        /// How it ended.
        consent: Consent,
    },
    /// Something went wrong that the user may need to know about.
    Error(String),
}

/// The content of `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Process id of the engine's host.
    pub pid: u32,
    /// Whether that engine is running (false after a clean stop or if the process is gone).
    pub running: bool,
    /// The last snapshot it wrote.
    pub status: EngineStatus,
}

/// Reads `status.json`, if a bridge ever ran with these paths. `running` is
/// false when the engine stopped, or (on Linux) when its process is gone.
pub fn read_status(paths: &Paths) -> Result<Option<StatusReport>, StateError> {
    let path = paths.status_file();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::io(path, e)),
    };
    let mut report: StatusReport =
        serde_json::from_slice(&bytes).map_err(|source| StateError::Json { path, source })?;
    if report.running && !process_alive(report.pid) {
        report.running = false;
    }
    Ok(Some(report))
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        // No portable check without unsafe code; trust the file.
        true
    }
}

/// Writes `status.json` atomically. When that fails (no room for a new file on
/// a full disk) the old file is overwritten in place, so `specbridge status`
/// still learns what is wrong; the error is returned either way.
pub(crate) fn write_status(file: &Path, status: &EngineStatus, running: bool) -> Result<(), StateError> {
    let report = StatusReport { pid: std::process::id(), running, status: status.clone() };
    let bytes = serde_json::to_vec_pretty(&report).map_err(|source| StateError::Json { path: file.into(), source })?;
    let error = match fsutil::atomic_write(file, &bytes, Some(fsutil::PRIVATE_FILE)) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let Err(e) = overwrite_in_place(file, &bytes) {
        tracing::debug!(error = %e, "cannot overwrite status.json in place either");
    }
    Err(StateError::io(file, error))
}

/// Rewrites an existing file from its first byte without creating anything:
/// blocks the file already owns need no free space (ext4, xfs, tmpfs; its
/// last block's slack too). A shorter text is padded with spaces, which JSON
/// readers skip, so the file never needs truncating. Not atomic: a reader may
/// see a torn file while this runs, which is why it is only the fallback.
fn overwrite_in_place(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::fs::OpenOptions::new().write(true).open(file)?;
    let old_len = usize::try_from(out.metadata()?.len()).unwrap_or(usize::MAX);
    out.seek(std::io::SeekFrom::Start(0))?;
    out.write_all(bytes)?;
    if old_len > bytes.len() {
        out.write_all(&vec![b' '; old_len - bytes.len()])?;
    }
    out.sync_data()
}

/// Rewrites `status.json` when the snapshot changes: at once for a link state
/// change, otherwise at most once per second. Idle engines write nothing. A
/// failed write is reported to `disk` and retried every second until it works.
pub(crate) async fn write_loop(
    mut rx: watch::Receiver<EngineStatus>,
    file: PathBuf,
    disk: Arc<StateDisk>,
    cancel: CancellationToken,
) {
    let mut written_link: Option<LinkState> = None;
    let mut last_write = tokio::time::Instant::now() - STATUS_WRITE_INTERVAL;
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
            _ = crate::timing::sleep_until_opt(retry_at) => {}
        }
        // Link changes are what `specbridge status` users wait for: those go out at
        // once; anything else is coalesced.
        let same_link = written_link.as_ref() == Some(&rx.borrow().link);
        if same_link {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(last_write + STATUS_WRITE_INTERVAL) => {}
            }
        }
        let snapshot = rx.borrow_and_update().clone();
        written_link = Some(snapshot.link.clone());
        last_write = tokio::time::Instant::now();
        let file = file.clone();
        let written = tokio::task::spawn_blocking(move || write_status(&file, &snapshot, true)).await;
        retry_at = None;
        match written {
            Ok(Ok(())) => disk.recovered(Part::Status),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot write status.json");
                match &e {
                    StateError::Io { source, .. } => disk.failed(Part::Status, source),
                    StateError::Json { .. } => disk.failed_with(Part::Status, e.to_string(), false),
                }
                retry_at = Some(tokio::time::Instant::now() + crate::disk::RETRY_EVERY);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_state_serializes_with_a_state_tag_and_displays_plainly() {
        let json = serde_json::to_value(LinkState::Offline { retry_in_ms: 1500 }).unwrap();
        assert_eq!(json, serde_json::json!({"state": "offline", "retry_in_ms": 1500}));
        assert_eq!(serde_json::to_value(LinkState::Connected).unwrap(), serde_json::json!({"state": "connected"}));
        assert_eq!(LinkState::Connected.to_string(), "connected");
        assert_eq!(LinkState::Offline { retry_in_ms: 1500 }.to_string(), "offline (retrying in 1.5 s)");
    }

    #[test]
    fn status_file_round_trips_and_knows_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path());
        assert!(read_status(&paths).unwrap().is_none());
        let status = EngineStatus {
            link: LinkState::Connected,
            hub_url: "http://hub".into(),
            queue_depth: 2,
            last_error: None,
            projects: vec![],
            updated_ms: 1,
            state_problem: None,
        };
        write_status(&paths.status_file(), &status, true).unwrap();
        let report = read_status(&paths).unwrap().unwrap();
        assert!(report.running);
        assert_eq!(report.status, status);
        write_status(&paths.status_file(), &status, false).unwrap();
        assert!(!read_status(&paths).unwrap().unwrap().running);
    }
}
