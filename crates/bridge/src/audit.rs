//! The local audit log: one JSON line per mutation the hub asked for, allowed
//! or refused. Append-only (`O_APPEND`), one `write` per line, so concurrent
//! appends never interleave inside a line.

use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};

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

/// The audit log file.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. A failure is logged, not returned: an audit problem
    /// must not turn a completed write into a reported failure.
    pub(crate) fn append(&self, record: &AuditRecord<'_>) {
        if let Err(e) = append_line(&self.path, record) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot append to the audit log");
        }
    }
}

fn append_line(path: &Path, record: &AuditRecord<'_>) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = crate::fsutil::open_append_private(path)?;
    file.write_all(&line)
}
