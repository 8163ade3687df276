//! `/ws/dashboard`: the full state on connect, then typed deltas.
//!
//! The first event after a quiet spell goes out at once; events arriving
//! within [`COALESCE`] after it are merged (one `file_changed` per project
//! with every path, one `machine` per machine, one `queue`) and sent together
//! when the window closes. A dashboard that falls behind the event bus gets
//! the full state again. Message shapes are in docs/protocol.md.
//!
//! A dashboard that sends `{"type":"watch_jobs","machine":<id>}` also gets
//! that machine's job runs (`job_run`) and their output (`job_output`),
//! pulled from the [`JobFeed`](crate::job_feed) at the same pace: the first
//! change at once, the rest each window, so output is merged per window. Its
//! memory stays the feed's: a slow socket gets a `gap`, never a queue.

use super::views::machine_views;
use crate::auth::{cross_origin, same_origin, Caller};
use crate::commands::routes::pending;
use crate::commands::CommandView;
use crate::error::ApiError;
use crate::events::HubEvent;
use crate::job_feed::Cursors;
use crate::HubState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as Ws, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

/// How long events after the first of a burst are gathered before sending.
const COALESCE: Duration = Duration::from_millis(25);
/// Close code for a feed whose user token was revoked (docs/protocol.md).
const REVOKED: u16 = 4001;
/// Pings keep proxies from closing an idle dashboard and find dead ones.
const PING_EVERY: Duration = Duration::from_secs(30);

pub(super) fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/ws/dashboard", get(upgrade))
}

async fn upgrade(
    State(hub): State<Arc<HubState>>,
    headers: HeaderMap,
    caller: Caller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(cross_origin());
    }
    let ws = ws.map_err(|e| ApiError::new(specbridge_protocol::ErrorCode::Invalid, e.body_text()))?;
    let tracker = hub.tracker.clone();
    Ok(ws.on_upgrade(move |socket| async move {
        tracker.track_future(serve(hub, caller, socket)).await;
    }))
}

/// Events gathered during one coalescing window.
#[derive(Debug, Default)]
struct Batch {
    machines: BTreeSet<String>,
    files: BTreeMap<(String, String), BTreeSet<String>>,
    results: Vec<CommandView>,
    queue: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.machines.is_empty() && self.files.is_empty() && self.results.is_empty() && !self.queue
    }

    fn add(&mut self, event: HubEvent) {
        match event {
            HubEvent::MachineOnline { machine }
            | HubEvent::MachineOffline { machine }
            | HubEvent::ProjectChanged { machine } => {
                self.machines.insert(machine);
            }
            HubEvent::FileChanged { machine, project, paths } => {
                self.files.entry((machine, project)).or_default().extend(paths);
            }
            HubEvent::CommandResult(outcome) => self.results.push(*outcome),
            HubEvent::QueueChanged { .. } => self.queue = true,
            // Handled before batching (it closes the connection).
            HubEvent::TokenRevoked { .. } => {}
        }
    }
}

/// One dashboard connection.
struct Feed {
    hub: Arc<HubState>,
    account: String,
    /// The user token behind the connection (revoking it closes the feed).
    token: String,
    /// Machines known to be the account's (events about others are dropped).
    mine: HashSet<String>,
}

impl Feed {
    async fn owns(&mut self, machine: &str) -> bool {
        if self.mine.contains(machine) {
            return true;
        }
        match self.hub.store.find_machines(&self.account, machine).await {
            Ok(rows) if rows.iter().any(|row| row.id == machine) => {
                self.mine.insert(machine.to_owned());
                true
            }
            _ => false,
        }
    }

    async fn state(&mut self) -> Result<serde_json::Value, ApiError> {
        let machines = machine_views(&self.hub, &self.account).await?;
        let value = serde_json::to_value(&machines)
            .map_err(|e| ApiError::new(specbridge_protocol::ErrorCode::Internal, e.to_string()))?;
        if let Some(list) = value.as_array() {
            self.mine = list.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect();
        }
        Ok(serde_json::json!({
            "type": "state",
            "machines": value,
            "queue": pending(&self.hub, &self.account).await?,
        }))
    }

    /// The messages for a batch, in a stable order: machines, files, results, queue.
    async fn messages(&mut self, batch: Batch) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        if !batch.machines.is_empty() {
            if let Ok(views) = machine_views(&self.hub, &self.account).await {
                for view in views {
                    let value = serde_json::to_value(&view).unwrap_or_default();
                    if value["id"].as_str().is_some_and(|id| batch.machines.contains(id)) {
                        out.push(serde_json::json!({ "type": "machine", "machine": value }));
                    }
                }
            }
        }
        for ((machine, project), paths) in batch.files {
            out.push(
                serde_json::json!({ "type": "file_changed", "machine": machine, "project": project, "paths": paths }),
            );
        }
        for result in batch.results {
            out.push(serde_json::json!({ "type": "command_result", "result": result }));
        }
        if batch.queue {
            if let Ok(items) = pending(&self.hub, &self.account).await {
                out.push(serde_json::json!({ "type": "queue", "items": items }));
            }
        }
        out
    }
}

/// The job runs of one machine that a dashboard follows.
struct JobWatch {
    machine: String,
    tick: tokio::sync::watch::Receiver<u64>,
    cursors: Cursors,
}

/// Resolves when the watched machine's runs change (never without a watch).
async fn job_tick(watch: &mut Option<JobWatch>) {
    let Some(w) = watch else { return std::future::pending().await };
    if w.tick.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a dashboard may send: which machine's jobs it watches (`null`: none).
#[derive(serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromDashboard {
    WatchJobs { machine: Option<String> },
}

async fn send(socket: &mut WebSocket, value: &serde_json::Value) -> bool {
    socket.send(Ws::Text(value.to_string().into())).await.is_ok()
}

async fn serve(hub: Arc<HubState>, caller: Caller, mut socket: WebSocket) {
    let _open = crate::state::OpenConnection::count(&hub.stats.dashboards_connected);
    // Subscribe before reading the state, so nothing between the two is missed.
    let mut events = hub.events.subscribe();
    let mut feed = Feed { hub: hub.clone(), account: caller.account_id, token: caller.token_id, mine: HashSet::new() };
    match feed.state().await {
        Ok(state) if send(&mut socket, &state).await => {}
        _ => return,
    }
    let mut batch = Batch::default();
    let mut jobs: Option<JobWatch> = None;
    // Job runs changed since the last pull (or a pull left output behind).
    let mut jobs_due = false;
    // While `Some`, a window is open: events wait for it to close.
    let mut window: Option<Instant> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let flush_at = window.unwrap_or_else(|| Instant::now() + PING_EVERY);
        tokio::select! {
            () = hub.cancel.cancelled() => {
                let frame = CloseFrame { code: 1001, reason: "hub restarting".into() };
                let _ = socket.send(Ws::Close(Some(frame))).await;
                return;
            }
            frame = socket.recv() => match frame {
                None | Some(Err(_)) | Some(Ok(Ws::Close(_))) => return,
                Some(Ok(Ws::Text(text))) => {
                    // Anything else a dashboard sends is ignored, as before.
                    if let Ok(FromDashboard::WatchJobs { machine }) = serde_json::from_str(&text) {
                        jobs = None;
                        if let Some(machine) = machine {
                            if feed.owns(&machine).await {
                                let tick = hub.jobs.watch(&machine);
                                let ack = serde_json::json!({ "type": "watching_jobs", "machine": machine });
                                if !send(&mut socket, &ack).await {
                                    return;
                                }
                                jobs = Some(JobWatch { machine, tick, cursors: Cursors::default() });
                                jobs_due = true;
                                if window.is_none() {
                                    if !flush_jobs(&hub, &mut socket, &mut jobs, &mut jobs_due).await {
                                        return;
                                    }
                                    window = Some(Instant::now() + COALESCE);
                                }
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
            },
            () = job_tick(&mut jobs) => {
                jobs_due = true;
                if window.is_none() {
                    if !flush_jobs(&hub, &mut socket, &mut jobs, &mut jobs_due).await {
                        return;
                    }
                    window = Some(Instant::now() + COALESCE);
                }
            }
            _ = ping.tick() => {
                if socket.send(Ws::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(flush_at), if window.is_some() => {
                if batch.is_empty() && !jobs_due {
                    window = None;
                } else {
                    for message in feed.messages(std::mem::take(&mut batch)).await {
                        if !send(&mut socket, &message).await {
                            return;
                        }
                    }
                    if !flush_jobs(&hub, &mut socket, &mut jobs, &mut jobs_due).await {
                        return;
                    }
                    window = Some(Instant::now() + COALESCE);
                }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    if let HubEvent::TokenRevoked { token } = &event {
                        if *token == feed.token {
                            let frame = CloseFrame { code: REVOKED, reason: "token revoked".into() };
                            let _ = socket.send(Ws::Close(Some(frame))).await;
                            return;
                        }
                        continue;
                    }
                    if !feed.owns(event.machine().unwrap_or_default()).await {
                        continue;
                    }
                    batch.add(event);
                    if window.is_none() {
                        for message in feed.messages(std::mem::take(&mut batch)).await {
                            if !send(&mut socket, &message).await {
                                return;
                            }
                        }
                        window = Some(Instant::now() + COALESCE);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    batch = Batch::default();
                    match feed.state().await {
                        Ok(state) if send(&mut socket, &state).await => {}
                        _ => return,
                    }
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Sends what is new in the watched machine's runs, if anything is due.
/// Returns false when the socket is gone.
async fn flush_jobs(hub: &HubState, socket: &mut WebSocket, jobs: &mut Option<JobWatch>, due: &mut bool) -> bool {
    let Some(watch) = jobs.as_mut() else {
        *due = false;
        return true;
    };
    if !*due {
        return true;
    }
    // Seen now: a tick from here on is news for the next pull.
    watch.tick.borrow_and_update();
    let pulled = hub.jobs.pull(&watch.machine, &mut watch.cursors);
    *due = pulled.more;
    for message in &pulled.messages {
        if !send(socket, message).await {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_file_events_merges_into_one_per_project() {
        let mut batch = Batch::default();
        for path in ["a.md", "b.md", "a.md"] {
            batch.add(HubEvent::FileChanged { machine: "m".into(), project: "p".into(), paths: vec![path.into()] });
        }
        batch.add(HubEvent::MachineOnline { machine: "m".into() });
        batch.add(HubEvent::MachineOffline { machine: "m".into() });
        assert_eq!(batch.files.len(), 1);
        assert_eq!(batch.files[&("m".to_owned(), "p".to_owned())].len(), 2);
        assert_eq!(batch.machines.len(), 1);
        assert!(!batch.queue);
    }
}
