//! The local audit log: one JSON line per mutation the hub asked for, allowed
//! or refused. Append-only (`O_APPEND`), one `write` per line, so concurrent
//! appends never interleave inside a line. Lines that cannot be written (a
//! full disk) are held in memory in order and written when space returns
//! (`disk::retry_loop`).

use crate::disk::{Part, StateDisk};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) ts_ms: u64,
    pub(crate) request_id: &'a str,
    pub(crate) project: &'a str,
    pub(crate) command: &'a str,
    pub(crate) path: Option<&'a str>,
    pub(crate) base_hash: Option<&'a str>,
    pub(crate) new_hash: Option<&'a str>,
    /// `ok` or the error code.
    pub(crate) outcome: &'a str,
}

/// Most bytes of audit lines held in memory while the state folder is full.
/// Past it, further lines are counted, logged as errors, and recorded as one
/// `audit-gap` line (with the count) once the log can be written again.
const HELD_BACK_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The audit log file. Clones share the lines held back by a full disk.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    path: PathBuf,
    held: Arc<Mutex<HeldBack>>,
    disk: Option<Arc<StateDisk>>,
}

/// Lines not yet written, oldest first, and how many had to be dropped.
#[derive(Debug, Default)]
struct HeldBack {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    lost: u64,
}

impl AuditLog {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), held: Arc::default(), disk: None }
    }

    /// Reports write failures (and recoveries) to the state folder's health.
    pub(crate) fn reporting_to(mut self, disk: Arc<StateDisk>) -> Self {
        self.disk = Some(disk);
        self
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. A failure is not returned (an audit problem must
    /// not turn a completed write into a reported failure) and not silent
    /// either: the line is held in memory, in order, the state folder is
    /// reported unwritable, and the line is written once space returns.
    pub(crate) fn append(&self, record: &AuditRecord<'_>) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an audit line");
                return;
            }
        };
        line.push(b'\n');
        let mut held = self.lock();
        if held.bytes + line.len() > HELD_BACK_MAX_BYTES {
            held.lost += 1;
            tracing::error!(
                lost = held.lost,
                "audit line dropped: the state folder is full and 4 MiB are held already"
            );
        } else {
            held.bytes += line.len();
            held.lines.push_back(line);
        }
        self.write_held(&mut held);
    }

    /// Writes the lines held back; true when none are left.
    pub(crate) fn flush(&self) -> bool {
        let mut held = self.lock();
        self.write_held(&mut held)
    }

    /// How many lines wait in memory.
    pub(crate) fn held_back(&self) -> usize {
        self.lock().lines.len()
    }

    fn write_held(&self, held: &mut HeldBack) -> bool {
        if held.lines.is_empty() && held.lost == 0 {
            return true;
        }
        let result = (|| {
            if held.lost > 0 {
                let gap = serde_json::json!({
                    "ts_ms": crate::fsutil::now_ms(), "request_id": "", "project": "", "command": "audit-gap",
                    "outcome": "lost", "lost_lines": held.lost,
                });
                let mut line = gap.to_string().into_bytes();
                line.push(b'\n');
                append_line(&self.path, &line)?;
                held.lost = 0;
            }
            while let Some(line) = held.lines.front() {
                append_line(&self.path, line)?;
                held.bytes -= line.len();
                held.lines.pop_front();
            }
            Ok(())
        })();
        match (result, &self.disk) {
            (Ok(()), Some(disk)) => {
                disk.recovered(Part::Audit);
                true
            }
            (Ok(()), None) => true,
            (Err(e), Some(disk)) => {
                disk.failed(Part::Audit, &e);
                false
            }
            (Err(e), None) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot append to the audit log; line held");
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HeldBack> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Appends one whole line or nothing: a write cut short by a full disk is
/// truncated away, so a retry never leaves half a line in front of a whole one.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut file = crate::fsutil::open_append_private(path)?;
    let len = file.metadata()?.len();
    file.write_all(line).inspect_err(|_| {
        let _ = file.set_len(len);
    })
}
