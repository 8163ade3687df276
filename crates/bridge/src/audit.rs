//! The local audit log: one JSON line per mutation the hub asked for, allowed
//! or refused, and per job action (proposals, approvals, runs, refusals; a
//! `job` object says who asked, the argv, parameters, consent, exit and
//! duration). Append-only (`O_APPEND`), one `write` per line, so concurrent
//! appends never interleave inside a line. Lines that cannot be written (a
//! full disk) are held in memory in order and written when space returns
//! (`disk::retry_loop`).

use crate::disk::{Part, StateDisk};
use serde::Serialize;
use specbridge_protocol::{JobAudit, JobAuditEntry};
use std::collections::VecDeque;
use std::io::{Read as _, Seek as _, Write as _};
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
    /// For job actions: what, who asked, and how it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job: Option<&'a JobAudit>,
}

/// How much of the end of the log `job-audit` reads.
const JOB_AUDIT_TAIL: u64 = 2 * 1024 * 1024;

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

    /// The job lines of one project, newest first, at most `limit`, read from
    /// the end of the log (an unreadable log reads as empty).
    pub(crate) fn job_entries(&self, project: &str, id: Option<&str>, limit: usize) -> Vec<JobAuditEntry> {
        let Ok(text) = read_tail(&self.path, JOB_AUDIT_TAIL) else { return Vec::new() };
        text.lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<JobAuditEntry>(line).ok())
            .filter(|e| e.project == project && id.is_none_or(|id| e.job.id == id))
            .take(limit)
            .collect()
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
/// The last `max` bytes of a file, from the first whole line.
fn read_tail(path: &Path, max: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(std::io::SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if start > 0 { text.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default() } else { text })
}

fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut file = crate::fsutil::open_append_private(path)?;
    let len = file.metadata()?.len();
    file.write_all(line).inspect_err(|_| {
        let _ = file.set_len(len);
    })
}
