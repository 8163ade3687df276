//! The offline command queue (design §5): a dashboard edit to a machine that
//! is not connected is kept here when the caller asked for it, listed and
//! cancellable, and replayed in order when the machine reconnects. Each
//! replayed write carries the base hash its author saw, so the bridge's
//! conflict rule still protects edits made locally in the meantime.
//!
//! The queue lives in memory: a hub restart drops it (listed in the README's
//! limits); the store trait gains a table when the queue must survive that.

use super::auth::Viewer;
use super::HubEvent;
use crate::error::ApiError;
use crate::HubState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use specbridge_protocol::{commands, ErrorBody};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A command waiting for its machine.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueuedCommand {
    /// Queue id (also the id of its later `command_result`).
    pub(crate) id: String,
    /// Account that queued it.
    #[serde(skip)]
    pub(crate) account: String,
    /// Target machine.
    pub(crate) machine: String,
    /// Target project.
    pub(crate) project: String,
    /// The file it writes.
    pub(crate) path: String,
    /// What it does, for people ("status -> complete").
    pub(crate) summary: String,
    /// When it was queued, ms since the epoch.
    pub(crate) queued_ms: i64,
    /// The `file-write` arguments.
    #[serde(skip)]
    pub(crate) args: serde_json::Value,
}

/// How a dashboard command ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CommandOutcome {
    /// Command id (the queue id for replayed commands).
    pub(crate) id: String,
    /// Machine id.
    pub(crate) machine: String,
    /// Project id.
    pub(crate) project: String,
    /// The file written.
    pub(crate) path: String,
    /// What it did.
    pub(crate) summary: String,
    /// Whether it came from the queue.
    pub(crate) replayed: bool,
    /// The bridge's result on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<serde_json::Value>,
    /// The error otherwise (a `conflict` carries the current content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorBody>,
}

/// Pending commands, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    inner: Mutex<Vec<QueuedCommand>>,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<QueuedCommand>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a command.
    pub(crate) fn push(&self, command: QueuedCommand) {
        self.lock().push(command);
    }

    /// The account's pending commands, oldest first.
    pub(crate) fn list(&self, account: &str) -> Vec<QueuedCommand> {
        self.lock().iter().filter(|c| c.account == account).cloned().collect()
    }

    /// Removes one of the account's commands; returns it if it was pending.
    fn cancel(&self, account: &str, id: &str) -> Option<QueuedCommand> {
        let mut inner = self.lock();
        let at = inner.iter().position(|c| c.id == id && c.account == account)?;
        Some(inner.remove(at))
    }

    /// Takes the oldest command for `machine`.
    fn pop(&self, machine: &str) -> Option<QueuedCommand> {
        let mut inner = self.lock();
        let at = inner.iter().position(|c| c.machine == machine)?;
        Some(inner.remove(at))
    }
}

pub(super) fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/v1/queue", get(list)).route("/v1/queue/{id}", delete(cancel))
}

async fn list(State(hub): State<Arc<HubState>>, viewer: Viewer) -> Json<Vec<QueuedCommand>> {
    Json(hub.dash.queue.list(&viewer.account_id))
}

async fn cancel(
    State(hub): State<Arc<HubState>>,
    viewer: Viewer,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let removed = hub
        .dash
        .queue
        .cancel(&viewer.account_id, &id)
        .ok_or_else(|| ApiError::not_found(format!("queued command {id:?}")))?;
    hub.dash.publish(HubEvent::QueueChanged { machine: removed.machine });
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Drains a machine's queue whenever it is kicked (a machine came online, or
/// a command was queued for a machine that is online after all). One task
/// for all machines keeps each machine's commands strictly in order.
pub(crate) async fn replay_task(hub: Arc<HubState>, mut kicks: mpsc::UnboundedReceiver<String>) {
    loop {
        let machine = tokio::select! {
            () = hub.cancel.cancelled() => return,
            kick = kicks.recv() => match kick {
                Some(machine) => machine,
                None => return,
            },
        };
        while hub.router.is_online(&machine) {
            let Some(command) = hub.dash.queue.pop(&machine) else { break };
            hub.dash.publish(HubEvent::QueueChanged { machine: machine.clone() });
            let outcome = hub
                .router
                .send_command(
                    &machine,
                    &command.project,
                    commands::FILE_WRITE,
                    command.args.clone(),
                    hub.config.command_timeout,
                )
                .await;
            if matches!(&outcome, Err(e) if e.code == specbridge_protocol::ErrorCode::Offline) {
                // The machine went away mid-replay: keep the command, in front.
                hub.dash.queue.lock().insert(0, command);
                hub.dash.publish(HubEvent::QueueChanged { machine: machine.clone() });
                break;
            }
            tracing::info!(machine = %machine, id = %command.id, ok = outcome.is_ok(), "replayed a queued command");
            hub.dash.publish(HubEvent::CommandResult(CommandOutcome {
                id: command.id,
                machine: machine.clone(),
                project: command.project,
                path: command.path,
                summary: command.summary,
                replayed: true,
                result: outcome.as_ref().ok().cloned(),
                error: outcome.err(),
            }));
        }
    }
}
