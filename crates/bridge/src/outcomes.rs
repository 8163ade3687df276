//! The bridge's memory of the recorded commands it ran (writes, jobs), by
//! command id, so a command is applied at most once however often the hub
//! sends it: a retry after a timeout, a replay after a reconnect or a hub
//! restart, or a caller's retried request with the same idempotency key.
//!
//! - An id seen before answers the recorded response, without running again.
//! - An id still running is joined: the second arrival waits for the first's answer.
//! - An id whose run was cut off (the bridge stopped between "started" and the
//!   answer) answers `internal` "interrupted": it may or may not have been
//!   applied, and is never applied a second time.
//!
//! Persisted as JSON lines in the state folder (`commands.jsonl`, private to
//! the user): a `started` line before the command touches anything, and a
//! `done` line with the response before the response is sent. Bounded by count,
//! age and bytes; compacted when the file holds twice what is live. If the
//! state folder cannot be written (a full disk), the memory still holds within
//! this process and the problem is logged: refusing every edit would help nobody.
//!
//! What it does not know: what a command does, or the hub.

use crate::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::json;
use specbridge_protocol::{ErrorBody, ErrorCode, Response};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// Outcomes remembered at most. A hub re-sends a command only while it is
/// queued or in doubt, so the window needed is the hub's backlog of one machine.
const MAX_ENTRIES: usize = 2048;
/// …and for at most this long: longer than the hub keeps a queued command (7 days).
const MAX_AGE_MS: u64 = 8 * 24 * 3600 * 1000;
/// Bytes of recorded responses kept in memory at most.
const MAX_BYTES: usize = 4 * 1024 * 1024;
/// A response larger than this is remembered without its result (a job's
/// output, say); a repeat then learns that it ran and how it ended, not the output.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// What to do with a command that arrived.
#[derive(Debug)]
pub(crate) enum Begin {
    /// Run it, then call [`Outcomes::finish`].
    Run,
    /// It ran before: answer this.
    Done(Response),
    /// It is running now: wait for its answer.
    Wait(oneshot::Receiver<Response>),
}

#[derive(Debug)]
enum Entry {
    Running { waiters: Vec<oneshot::Sender<Response>> },
    Done { at_ms: u64, response: Response, bytes: usize },
}

/// One line of the journal file.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    id: String,
    at_ms: u64,
    /// Absent on a `started` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<Response>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Ids oldest first (for eviction).
    order: VecDeque<String>,
    bytes: usize,
    lines_in_file: usize,
}

/// The journal of recorded commands.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    /// `None` keeps the memory only (tests).
    file: Option<PathBuf>,
    inner: Mutex<Inner>,
}

impl Outcomes {
    /// Loads the journal. A torn last line (a crash mid-append) is skipped; a
    /// command with a `started` line and no answer is remembered as interrupted.
    pub(crate) fn load(file: PathBuf) -> Self {
        let mut inner = Inner::default();
        if let Ok(opened) = std::fs::File::open(&file) {
            for line in std::io::BufReader::new(opened).lines() {
                let Ok(line) = line else { break };
                let Ok(line) = serde_json::from_str::<Line>(&line) else { continue };
                inner.lines_in_file += 1;
                let response = line.response.unwrap_or_else(|| Response::err(line.id.clone(), interrupted()));
                inner.insert_done(line.id, line.at_ms, response);
            }
        }
        inner.evict(fsutil::now_ms());
        let outcomes = Self { file: Some(file), inner: Mutex::new(inner) };
        outcomes.compact_if_needed();
        outcomes
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `id` for a run, or says how it already went.
    pub(crate) fn begin(&self, id: &str) -> Begin {
        let mut inner = self.lock();
        match inner.entries.get_mut(id) {
            Some(Entry::Done { response, .. }) => return Begin::Done(response.clone()),
            Some(Entry::Running { waiters }) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                return Begin::Wait(rx);
            }
            None => {}
        }
        inner.entries.insert(id.to_owned(), Entry::Running { waiters: Vec::new() });
        inner.order.push_back(id.to_owned());
        drop(inner);
        self.append(&Line { id: id.to_owned(), at_ms: fsutil::now_ms(), response: None });
        Begin::Run
    }

    /// Records the answer of a run claimed with [`Outcomes::begin`] (before it
    /// is sent), and hands it to every arrival that waited for it.
    pub(crate) fn finish(&self, response: &Response) {
        let kept = keepable(response);
        let at_ms = fsutil::now_ms();
        self.append(&Line { id: response.id.clone(), at_ms, response: Some(kept.clone()) });
        let waiters = {
            let mut inner = self.lock();
            let waiters = match inner.entries.remove(&response.id) {
                Some(Entry::Running { waiters }) => waiters,
                _ => Vec::new(),
            };
            inner.order.retain(|id| id != &response.id);
            inner.insert_done(response.id.clone(), at_ms, kept);
            inner.evict(at_ms);
            waiters
        };
        for waiter in waiters {
            let _ = waiter.send(response.clone());
        }
        self.compact_if_needed();
    }

    /// How many outcomes are remembered (running ones included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn append(&self, line: &Line) {
        let Some(file) = &self.file else { return };
        let result = serde_json::to_vec(line).map_err(std::io::Error::other).and_then(|mut bytes| {
            bytes.push(b'\n');
            let mut out = fsutil::open_append_private(file)?;
            out.write_all(&bytes)?;
            // A record must outlive a power cut as surely as the write it describes.
            out.sync_data()
        });
        match result {
            Ok(()) => self.lock().lines_in_file += 1,
            Err(error) => tracing::warn!(
                file = %file.display(), %error,
                "cannot record a command outcome; it is remembered until the bridge restarts"
            ),
        }
    }

    /// Rewrites the file with only what is remembered, once it holds twice that.
    fn compact_if_needed(&self) {
        let Some(file) = &self.file else { return };
        let bytes = {
            let inner = self.lock();
            if inner.lines_in_file <= 2 * inner.entries.len() + 64 {
                return;
            }
            let mut bytes = Vec::new();
            for id in &inner.order {
                if let Some(Entry::Done { at_ms, response, .. }) = inner.entries.get(id) {
                    let line = Line { id: id.clone(), at_ms: *at_ms, response: Some(response.clone()) };
                    if let Ok(json) = serde_json::to_vec(&line) {
                        bytes.extend_from_slice(&json);
                        bytes.push(b'\n');
                    }
                }
            }
            bytes
        };
        // A run that starts meanwhile appends to the old file, which the rename
        // replaces: it is still in memory, and `finish` appends it again.
        match fsutil::atomic_write(file, &bytes, Some(fsutil::PRIVATE_FILE)) {
            Ok(()) => {
                let mut inner = self.lock();
                inner.lines_in_file = inner.entries.len();
            }
            Err(error) => tracing::warn!(file = %file.display(), %error, "cannot compact the command journal"),
        }
    }
}

impl Inner {
    fn insert_done(&mut self, id: String, at_ms: u64, response: Response) {
        let bytes = serde_json::to_vec(&response).map_or(0, |v| v.len()) + id.len();
        if let Some(Entry::Done { bytes: old, .. }) = self.entries.get(&id) {
            self.bytes -= old;
        } else {
            self.order.push_back(id.clone());
        }
        self.bytes += bytes;
        self.entries.insert(id, Entry::Done { at_ms, response, bytes });
    }

    /// Forgets the oldest finished outcomes past the bounds (running ones stay).
    fn evict(&mut self, now_ms: u64) {
        while let Some(oldest) = self.order.front() {
            let over = self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES;
            let expired = match self.entries.get(oldest) {
                Some(Entry::Done { at_ms, .. }) => now_ms.saturating_sub(*at_ms) > MAX_AGE_MS,
                Some(Entry::Running { .. }) => false,
                None => true,
            };
            if !(over || expired) || matches!(self.entries.get(oldest), Some(Entry::Running { .. })) {
                break;
            }
            if let Some(id) = self.order.pop_front() {
                if let Some(Entry::Done { bytes, .. }) = self.entries.remove(&id) {
                    self.bytes -= bytes;
                }
            }
        }
    }
}

/// The response as remembered: whole, or without a result too large to keep.
fn keepable(response: &Response) -> Response {
    let size = serde_json::to_vec(response).map_or(usize::MAX, |v| v.len());
    if size <= MAX_RESPONSE_BYTES || response.result.is_none() {
        return response.clone();
    }
    Response::ok(
        response.id.clone(),
        json!({ "replayed": true, "note": "this command already ran; its result was too large to keep" }),
    )
}

/// The answer for a command whose run the bridge did not see through.
fn interrupted() -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, "the bridge stopped while running this command; it may have been applied")
        .with_hint("check the file or job on the machine; the command is not run again")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_arrival_gets_the_first_answer_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("commands.jsonl");
        let outcomes = Outcomes::load(file.clone());
        assert!(matches!(outcomes.begin("c1"), Begin::Run));
        let Begin::Wait(waiting) = outcomes.begin("c1") else { panic!("a running id is joined") };
        let answer = Response::ok("c1", json!({"hash": "h"}));
        outcomes.finish(&answer);
        assert_eq!(waiting.blocking_recv().unwrap(), answer);
        let Begin::Done(again) = outcomes.begin("c1") else { panic!("a finished id answers") };
        assert_eq!(again, answer);
        drop(outcomes);
        let reloaded = Outcomes::load(file);
        let Begin::Done(after_restart) = reloaded.begin("c1") else { panic!("remembered across restarts") };
        assert_eq!(after_restart, answer);
    }

    #[test]
    fn a_run_cut_off_by_a_crash_is_never_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("commands.jsonl");
        assert!(matches!(Outcomes::load(file.clone()).begin("c2"), Begin::Run));
        // The process died here: a `started` line, no answer. A torn line follows.
        std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"{\"id\":\"c3\",\"at").unwrap();
        let reloaded = Outcomes::load(file);
        let Begin::Done(response) = reloaded.begin("c2") else { panic!("interrupted runs are not rerun") };
        assert_eq!(response.error.unwrap().code, ErrorCode::Internal);
        assert!(matches!(reloaded.begin("c3"), Begin::Run), "a torn line is ignored");
    }

    #[test]
    fn memory_is_bounded_and_the_file_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("commands.jsonl");
        let outcomes = Outcomes::load(file.clone());
        for i in 0..MAX_ENTRIES + 100 {
            let id = format!("c{i}");
            assert!(matches!(outcomes.begin(&id), Begin::Run));
            outcomes.finish(&Response::ok(id, json!({})));
        }
        assert_eq!(outcomes.len(), MAX_ENTRIES);
        assert!(matches!(outcomes.begin("c0"), Begin::Run), "the oldest was forgotten");
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 2 * MAX_ENTRIES + 64 + 2, "{lines} lines");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_huge_result_is_remembered_without_its_body() {
        let outcomes = Outcomes::default();
        assert!(matches!(outcomes.begin("job"), Begin::Run));
        outcomes.finish(&Response::ok("job", json!({ "output": "x".repeat(100_000) })));
        let Begin::Done(kept) = outcomes.begin("job") else { panic!() };
        assert_eq!(kept.result.unwrap()["replayed"], true);
    }
}
