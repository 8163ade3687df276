//! The runs of each job (`jobs.json` in the state folder): the last 50 per
//! job, each with who asked, the argv, the parameters, the consent, the exit
//! code, the duration and the end of its output.
//!
//! Before jobs were pinned, `jobs.json` also held job definitions made from
//! the hub. [`History::load`] hands those back so they become proposals:
//! after the upgrade they run nothing until the owner approves them.

use crate::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use specbridge_protocol::{ErrorBody, ErrorCode, JobStats, RunOutcome, RunRecord};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// Runs kept per job.
const KEEP: usize = 50;
/// Output kept per run in the history (the result of `job-run` has 64 KiB):
/// 50 runs of 8 KiB keep `job-history` well inside one message.
pub(crate) const HISTORY_OUTPUT: usize = 8 * 1024;

/// A job definition from before jobs were pinned (`jobs.json`'s `jobs`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LegacyDefinition {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) project: String,
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct HistoryFile {
    runs: BTreeMap<String, Vec<RunRecord>>,
}

/// The run history.
#[derive(Debug)]
pub(crate) struct History {
    path: PathBuf,
    runs: Mutex<BTreeMap<String, Vec<RunRecord>>>,
}

impl History {
    /// Loads `jobs.json`; a missing file is empty, unreadable runs are skipped.
    /// Returns the legacy definitions it held, if any.
    pub(crate) fn load(path: PathBuf) -> (Self, Vec<LegacyDefinition>) {
        let value: Value =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let mut runs = BTreeMap::new();
        if let Some(by_job) = value.get("runs").and_then(Value::as_object) {
            for (job, list) in by_job {
                let parsed: Vec<RunRecord> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| serde_json::from_value(r.clone()).ok())
                    .collect();
                if !parsed.is_empty() {
                    runs.insert(job.clone(), parsed);
                }
            }
        }
        let legacy = value
            .get("jobs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| serde_json::from_value(d.clone()).ok())
            .collect();
        (Self { path, runs: Mutex::new(runs) }, legacy)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<RunRecord>>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a run (newest first), trims the job's history and saves.
    pub(crate) fn record(&self, run: &RunRecord) -> Result<(), ErrorBody> {
        let mut kept = run.clone();
        kept.output = tail(&run.output, HISTORY_OUTPUT);
        let mut runs = self.lock();
        let list = runs.entry(run.id.clone()).or_default();
        list.insert(0, kept);
        list.truncate(KEEP);
        let bytes =
            serde_json::to_vec_pretty(&HistoryFile { runs: runs.clone() }).map_err(crate::mutation::internal)?;
        drop(runs);
        fsutil::atomic_write(&self.path, &bytes, Some(fsutil::PRIVATE_FILE))
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot save jobs.json: {e}")))
    }

    /// Saves the history as it is (dropping legacy definitions from the file).
    pub(crate) fn save(&self) -> Result<(), ErrorBody> {
        let bytes =
            serde_json::to_vec_pretty(&HistoryFile { runs: self.lock().clone() }).map_err(crate::mutation::internal)?;
        fsutil::atomic_write(&self.path, &bytes, Some(fsutil::PRIVATE_FILE))
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot save jobs.json: {e}")))
    }

    /// A job's runs, newest first.
    pub(crate) fn runs(&self, job: &str) -> Vec<RunRecord> {
        self.lock().get(job).cloned().unwrap_or_default()
    }

    /// A job's last run.
    pub(crate) fn last(&self, job: &str) -> Option<RunRecord> {
        self.lock().get(job).and_then(|l| l.first().cloned())
    }

    /// A job's statistics over its kept runs.
    pub(crate) fn stats(&self, job: &str) -> JobStats {
        let runs = self.runs(job);
        let count = |o: RunOutcome| runs.iter().filter(|r| r.outcome == o).count();
        let started: Vec<&RunRecord> = runs.iter().filter(|r| r.consent.allows()).collect();
        let total: u64 = started.iter().map(|r| r.duration_ms).sum();
        JobStats {
            id: job.to_owned(),
            runs: runs.len(),
            succeeded: count(RunOutcome::Succeeded),
            failed: count(RunOutcome::Failed),
            timed_out: count(RunOutcome::TimedOut),
            cancelled: count(RunOutcome::Cancelled),
            errors: count(RunOutcome::Error),
            refused: count(RunOutcome::Denied) + count(RunOutcome::Unconfirmed),
            average_duration_ms: if started.is_empty() { 0 } else { total / started.len() as u64 },
            last_exit_code: runs.first().and_then(|r| r.exit_code),
        }
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
