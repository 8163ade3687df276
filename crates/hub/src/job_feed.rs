//! Live job runs for dashboards: each run's state and a bounded buffer of its
//! output, per machine, fanned out to every dashboard watching that machine.
//!
//! The command lane tells the feed when it sends a `job-run` ([`follow`]),
//! the bridge's `progress` messages fill it (phase changes and output), and
//! the answer ends it ([`JobFeed::finish`]). Dashboards do not get a copy of
//! each piece: each one keeps a [`Cursors`] (per run, the state version and
//! the output offset it has sent) and, when the machine's watch channel
//! ticks, pulls what is new ([`JobFeed::pull`]). So memory is bounded by the
//! runs' buffers (256 KiB each), never by the number or speed of dashboards:
//! a dashboard that falls behind a buffer gets a gap marker (`gap`: bytes it
//! missed) and goes on from the oldest byte still held. A dashboard that
//! starts watching mid-run gets the output so far, the same way.
//!
//! Job output does not ride the event bus on purpose: at 100 lines/s per job
//! it would fill the bus's ring for every dashboard of every account, and a
//! lagging dashboard there reloads its whole state.
//!
//! What it does not know: sockets or JSON framing of the other messages
//! (`dashboard/ws.rs`), or how commands are sent (`commands/`).

use crate::router::RouteError;
use crate::store::CommandRecord;
use crate::{now_ms, HubState};
use serde::Serialize;
use serde_json::{json, Value};
use specbridge_protocol::{ErrorBody, Progress, RunPhase};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, watch};

/// Output held per run (the tail).
const RUN_BUFFER: usize = 256 * 1024;
/// Output held per run once it finished.
const FINISHED_BUFFER: usize = 64 * 1024;
/// Finished runs kept per machine, for dashboards that open just after.
const FINISHED_KEPT: usize = 16;
/// Pieces are merged into chunks of about this size.
const CHUNK: usize = 8 * 1024;
/// Output sent to one dashboard in one message at most.
pub(crate) const PULL_BYTES: usize = 256 * 1024;
/// Progress pieces waiting between the router and the feed for one run.
const PIECES: usize = 1024;
/// Shown in the output where the bridge dropped pieces under back-pressure.
const DROPPED_ON_MACHINE: &str = "\r\n\x1b[33m[… output dropped on the machine …]\x1b[0m\r\n";

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunState {
    /// Sent to the machine; no word yet.
    Sent,
    /// Waiting for the owner's confirmation on the machine.
    Waiting,
    /// The process runs.
    Running,
    /// Answered (`result` or `error`).
    Finished,
    /// The machine went away before answering, or no answer came in time.
    Lost,
}

/// A run as dashboards see it (`job_run` messages).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunView {
    /// The command id: the run's key.
    pub(crate) command: String,
    pub(crate) machine: String,
    pub(crate) project: String,
    pub(crate) job: String,
    pub(crate) params: Value,
    pub(crate) requested_by: Option<String>,
    pub(crate) state: RunState,
    pub(crate) created_ms: i64,
    /// While waiting: when the confirmation times out.
    pub(crate) until_ms: Option<u64>,
    pub(crate) finished_ms: Option<i64>,
    /// The bridge's result (a run record without its output).
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<ErrorBody>,
    /// Output bytes produced so far.
    pub(crate) bytes: u64,
}

impl RunView {
    /// A run just sent to its machine.
    fn sent(
        command: &str,
        machine: &str,
        project: &str,
        job: &str,
        params: Value,
        requested_by: Option<String>,
        created_ms: i64,
    ) -> Self {
        Self {
            command: command.to_owned(),
            machine: machine.to_owned(),
            project: project.to_owned(),
            job: job.to_owned(),
            params,
            requested_by,
            state: RunState::Sent,
            created_ms,
            until_ms: None,
            finished_ms: None,
            result: None,
            error: None,
            bytes: 0,
        }
    }
}

#[derive(Debug)]
struct Run {
    view: RunView,
    version: u64,
    /// `(offset, text)`, contiguous, oldest first.
    chunks: VecDeque<(u64, String)>,
    /// Offset of the first byte held.
    start: u64,
    held: usize,
    last_seq: Option<u64>,
}

impl Run {
    fn new(view: RunView) -> Self {
        Self { view, version: 1, chunks: VecDeque::new(), start: 0, held: 0, last_seq: None }
    }

    fn append(&mut self, text: &str, cap: usize) {
        let end = self.view.bytes;
        match self.chunks.back_mut() {
            Some((_, last)) if last.len() + text.len() <= CHUNK => last.push_str(text),
            _ => self.chunks.push_back((end, text.to_owned())),
        }
        self.view.bytes += text.len() as u64;
        self.held += text.len();
        self.trim(cap);
    }

    fn trim(&mut self, cap: usize) {
        while self.held > cap && self.chunks.len() > 1 {
            if let Some((_, text)) = self.chunks.pop_front() {
                self.held -= text.len();
            }
            self.start = self.chunks.front().map_or(self.view.bytes, |(offset, _)| *offset);
        }
    }

    /// Output from `offset`, at most about `max` bytes: `(gap, from, text)`.
    fn read(&self, offset: u64, max: usize) -> (u64, u64, String) {
        let (gap, from) = if offset < self.start { (self.start - offset, self.start) } else { (0, offset) };
        let mut text = String::new();
        for (at, chunk) in &self.chunks {
            let chunk_end = at + chunk.len() as u64;
            if chunk_end <= from {
                continue;
            }
            let skip = usize::try_from(from.saturating_sub(*at)).unwrap_or(0);
            // Offsets always fall between whole pieces, which are whole UTF-8.
            let Some(part) = chunk.get(skip..) else { continue };
            text.push_str(part);
            if text.len() >= max {
                break;
            }
        }
        (gap, from, text)
    }
}

#[derive(Debug)]
struct MachineRuns {
    runs: Vec<Run>,
    tick: watch::Sender<u64>,
}

impl Default for MachineRuns {
    fn default() -> Self {
        Self { runs: Vec::new(), tick: watch::channel(0).0 }
    }
}

impl MachineRuns {
    fn run(&mut self, command: &str) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.view.command == command)
    }

    fn changed(&self) {
        self.tick.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets the oldest finished runs past [`FINISHED_KEPT`].
    fn prune(&mut self) {
        let finished = self.runs.iter().filter(|r| matches!(r.view.state, RunState::Finished | RunState::Lost)).count();
        let mut drop = finished.saturating_sub(FINISHED_KEPT);
        self.runs.retain(|r| {
            let old = drop > 0 && matches!(r.view.state, RunState::Finished | RunState::Lost);
            if old {
                drop -= 1;
            }
            !old
        });
    }
}

/// What one dashboard has seen of one machine's runs.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    /// Per run: the state version and output offset sent.
    seen: HashMap<String, (u64, u64)>,
}

/// What a pull found for one dashboard.
#[derive(Debug, Default)]
pub(crate) struct Pulled {
    /// `job_output` and `job_run` messages, in order.
    pub(crate) messages: Vec<Value>,
    /// More output is waiting past [`PULL_BYTES`].
    pub(crate) more: bool,
}

/// The live runs of every machine on this hub.
#[derive(Debug, Default)]
pub(crate) struct JobFeed {
    machines: Mutex<HashMap<String, MachineRuns>>,
}

impl JobFeed {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, MachineRuns>> {
        self.machines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ticks whenever a run of `machine` changes.
    pub(crate) fn watch(&self, machine: &str) -> watch::Receiver<u64> {
        self.lock().entry(machine.to_owned()).or_default().tick.subscribe()
    }

    /// A `job-run` was sent (again, after a reconnect: the same run).
    pub(crate) fn begin(&self, record: &CommandRecord) {
        let c = &record.command;
        let mut machines = self.lock();
        let runs = machines.entry(c.machine_id.clone()).or_default();
        if let Some(run) = runs.run(&c.id) {
            run.view.state = RunState::Sent;
            run.version += 1;
        } else {
            let params = c.args.get("params").cloned().unwrap_or_else(|| json!({}));
            let requested_by = c.args.get("requested_by").and_then(Value::as_str).map(str::to_owned);
            let view =
                RunView::sent(&c.id, &c.machine_id, &c.project_id, &c.target, params, requested_by, c.created_ms);
            runs.runs.push(Run::new(view));
        }
        runs.changed();
    }

    /// A progress message of a run: a phase change or output.
    pub(crate) fn progress(&self, machine: &str, piece: &Progress) {
        let mut machines = self.lock();
        let Some(runs) = machines.get_mut(machine) else { return };
        let Some(run) = runs.run(&piece.id) else { return };
        if let Some(last) = run.last_seq {
            if piece.seq > last + 1 {
                run.append(DROPPED_ON_MACHINE, RUN_BUFFER);
            }
        }
        run.last_seq = Some(run.last_seq.map_or(piece.seq, |last| last.max(piece.seq)));
        if let Some(phase) = piece.phase {
            run.view.state = match phase {
                RunPhase::Waiting => RunState::Waiting,
                RunPhase::Running => RunState::Running,
            };
            run.view.until_ms = piece.until_ms;
            run.version += 1;
        }
        if !piece.data.is_empty() {
            run.append(&piece.data, RUN_BUFFER);
        }
        runs.changed();
    }

    /// The run's answer came (or the lane gave up on it).
    pub(crate) fn finish(&self, machine: &str, command: &str, answer: &Result<Value, RouteError>) {
        let mut machines = self.lock();
        let Some(runs) = machines.get_mut(machine) else { return };
        let Some(run) = runs.run(command) else { return };
        match answer {
            Ok(result) => {
                run.view.state = RunState::Finished;
                run.view.result = Some(without_output(result));
            }
            Err(RouteError::Refused(error) | RouteError::Unsendable(error)) => {
                run.view.state = RunState::Finished;
                let mut error = error.clone();
                error.details = error.details.as_deref().map(|details| Box::new(without_output(details)));
                run.view.error = Some(error);
            }
            Err(other) => {
                run.view.state = RunState::Lost;
                run.view.error = Some(other.clone().into_body());
            }
        }
        run.view.finished_ms = Some(now_ms());
        run.view.until_ms = None;
        run.version += 1;
        run.trim(FINISHED_BUFFER);
        runs.prune();
        runs.changed();
    }

    /// What is new for a dashboard since its cursors, about [`PULL_BYTES`] at most.
    pub(crate) fn pull(&self, machine: &str, cursors: &mut Cursors) -> Pulled {
        let machines = self.lock();
        let mut pulled = Pulled::default();
        let Some(runs) = machines.get(machine) else { return pulled };
        cursors.seen.retain(|command, _| runs.runs.iter().any(|r| &r.view.command == command));
        let mut chunks = Vec::new();
        // States go first (a dashboard knows a run before its output), but a
        // run it already knows that finished goes after the last of its output.
        let (mut first, mut last) = (Vec::new(), Vec::new());
        let mut budget = PULL_BYTES;
        for run in &runs.runs {
            let known = cursors.seen.contains_key(&run.view.command);
            let seen = cursors.seen.entry(run.view.command.clone()).or_insert((0, 0));
            if seen.1 < run.view.bytes && budget == 0 {
                pulled.more = true;
            } else if seen.1 < run.view.bytes {
                let (gap, from, text) = run.read(seen.1, budget);
                let to = from + text.len() as u64;
                budget = budget.saturating_sub(text.len());
                seen.1 = to;
                if to < run.view.bytes {
                    pulled.more = true;
                }
                chunks.push(json!({
                    "run": run.view.command, "job": run.view.job, "project": run.view.project,
                    "offset": from, "gap": gap, "data": text,
                }));
            }
            let ended = matches!(run.view.state, RunState::Finished | RunState::Lost);
            // A run this dashboard follows is told it ended only with the last of its output.
            let hold = known && ended && seen.1 < run.view.bytes;
            if seen.0 != run.version && !hold {
                seen.0 = run.version;
                let state = json!({ "type": "job_run", "run": run.view });
                if known && ended {
                    last.push(state);
                } else {
                    first.push(state);
                }
            }
        }
        pulled.messages.extend(first);
        if !chunks.is_empty() {
            pulled.messages.push(json!({ "type": "job_output", "machine": machine, "chunks": chunks }));
        }
        pulled.messages.extend(last);
        pulled
    }
}

/// A result or error detail without its output (dashboards have the stream).
fn without_output(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        map.remove("output");
    }
    value
}

/// The progress channel of a `job-run` being sent: every piece goes to the
/// feed, and to the REST caller following it (`?stream=1`) if there is one.
/// The channel closes when the router is done with the command.
/// The returned task ends once the router let go of the channel and every
/// piece is in the feed: [`finished`] waits for it, so a run's end never
/// overtakes its last output.
pub(crate) fn follow(
    hub: &Arc<HubState>,
    record: &CommandRecord,
    caller: Option<mpsc::Sender<Progress>>,
) -> (mpsc::Sender<Progress>, tokio::task::JoinHandle<()>) {
    hub.jobs.begin(record);
    let (tx, mut rx) = mpsc::channel::<Progress>(PIECES);
    let (hub, machine) = (Arc::clone(hub), record.command.machine_id.clone());
    let fed = hub.tracker.clone().spawn(async move {
        while let Some(piece) = rx.recv().await {
            hub.jobs.progress(&machine, &piece);
            if let Some(caller) = &caller {
                // The caller's own pace: a full channel drops a piece for it only.
                let _ = caller.try_send(piece);
            }
        }
    });
    (tx, fed)
}

/// A run's answer, recorded after the last of its output (see [`follow`]).
pub(crate) async fn finished(
    hub: &HubState,
    record: &CommandRecord,
    fed: tokio::task::JoinHandle<()>,
    answer: &Result<Value, RouteError>,
) {
    // Bounded: a forwarder that never ends must not hold the lane's task.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), fed).await;
    hub.jobs.finish(&record.command.machine_id, &record.command.id, answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        Run::new(RunView::sent("c", "m", "p", "j", json!({}), None, 0))
    }

    #[test]
    fn a_reader_behind_the_buffer_gets_a_gap_then_the_rest_and_memory_stays_bounded() {
        let mut r = run();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..10_000 {
            r.append(&line, RUN_BUFFER);
        }
        assert!(r.held <= RUN_BUFFER + CHUNK, "held {}", r.held);
        assert_eq!(r.view.bytes, 1_000_000);
        let (gap, from, text) = r.read(0, usize::MAX);
        assert_eq!(gap, r.start);
        assert_eq!(from + text.len() as u64, r.view.bytes, "the rest, up to the end");
        // A reader in the middle of a chunk goes on from there, no gap.
        let (gap, from, text) = r.read(r.view.bytes - 150, usize::MAX);
        assert_eq!((gap, from, text.len()), (0, r.view.bytes - 150, 150));
    }

    #[test]
    fn pulls_send_state_then_output_and_only_what_is_new() {
        let feed = JobFeed::default();
        feed.lock().entry("m".into()).or_default().runs.push(run());
        let piece = |seq, data: &str| Progress::output("c", seq, data);
        feed.progress("m", &piece(0, "one\n"));
        let mut cursors = Cursors::default();
        let first = feed.pull("m", &mut cursors);
        assert_eq!(first.messages.len(), 2);
        assert_eq!(first.messages[0]["type"], "job_run");
        assert_eq!(first.messages[1]["chunks"][0]["data"], "one\n");
        // Piece 1 was dropped on the machine: the stream says so.
        feed.progress("m", &piece(2, "three\n"));
        let next = feed.pull("m", &mut cursors);
        assert_eq!(next.messages.len(), 1, "no state change: output only");
        let data = next.messages[0]["chunks"][0]["data"].as_str().unwrap();
        assert!(data.contains("dropped on the machine") && data.ends_with("three\n"), "{data}");
        assert!(feed.pull("m", &mut cursors).messages.is_empty());
        feed.finish("m", "c", &Ok(json!({ "outcome": "succeeded", "output": "one\nthree\n" })));
        let last = feed.pull("m", &mut cursors);
        assert_eq!(last.messages[0]["run"]["state"], "finished");
        assert_eq!(last.messages[0]["run"]["result"], json!({ "outcome": "succeeded" }));
    }

    #[test]
    fn a_followed_run_is_said_to_end_only_after_the_last_of_its_output() {
        let feed = JobFeed::default();
        for id in ["c", "d", "e", "f", "g"] {
            feed.lock().entry("m".into()).or_default().runs.push(Run::new(RunView::sent(
                id,
                "m",
                "p",
                id,
                json!({}),
                None,
                0,
            )));
        }
        let mut cursors = Cursors::default();
        feed.pull("m", &mut cursors);
        // Five finished runs with 64 KiB each left to send: more than one pull holds.
        let piece = "y".repeat(CHUNK);
        for id in ["c", "d", "e", "f", "g"] {
            for seq in 0..(FINISHED_BUFFER / CHUNK) as u64 {
                feed.progress("m", &Progress::output(id, seq, piece.as_str()));
            }
            feed.finish("m", id, &Ok(json!({ "outcome": "succeeded" })));
        }
        let mut order = Vec::new();
        for _ in 0..8 {
            let pulled = feed.pull("m", &mut cursors);
            for m in &pulled.messages {
                match m["type"].as_str() {
                    Some("job_run") => order.push(format!("end {}", m["run"]["command"].as_str().unwrap_or_default())),
                    _ => order.extend(
                        m["chunks"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| format!("out {}", c["run"].as_str().unwrap_or_default())),
                    ),
                }
            }
            if !pulled.more {
                break;
            }
        }
        for id in ["c", "d", "e", "f", "g"] {
            let end = order
                .iter()
                .position(|o| *o == format!("end {id}"))
                .unwrap_or_else(|| panic!("{id} never ended: {order:?}"));
            let last_out = order.iter().rposition(|o| *o == format!("out {id}")).unwrap_or(0);
            assert!(last_out < end, "{id} ended before its output: {order:?}");
        }
    }
}
