//! The command routes that are not spec routes, and how every command route
//! answers:
//!
//! - `POST /v1/machines/{m}/projects/{p}/commands` `{name, args, timeout_ms?, queue?}`: any command;
//! - `GET /v1/commands/{id}`: a recorded command's outcome, also after the caller timed out;
//! - `DELETE /v1/commands/{id}`: cancel a queued command;
//! - `GET /v1/queue`: the account's pending commands, oldest first.

use super::{submit, CommandView, Outcome, Request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::machines;
use crate::HubState;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use specbridge_protocol::{Call, ErrorBody, ErrorCode};
use std::sync::Arc;
use std::time::Duration;

/// Longest a caller may wait for one command (`job-run` may need it).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest idempotency key accepted.
const MAX_KEY: usize = 128;

pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/v1/machines/{machine}/projects/{project}/commands", post(command))
        .route("/v1/commands/{id}", get(outcome).delete(cancel))
        .route("/v1/queue", get(queue))
}

/// The caller's `Idempotency-Key` header: printable, at most 128 bytes.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= MAX_KEY);
    let key = key.filter(|k| k.chars().all(|c| c.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::new(ErrorCode::Invalid, "Idempotency-Key must be 1-128 printable ASCII characters")
            .hint("send a fresh random key (a UUID) per edit, and the same key when retrying it")
    })
}

/// The caller's wait: `timeout_ms`, else the hub's default, never more than [`MAX_TIMEOUT`].
pub(crate) fn timeout(hub: &HubState, requested_ms: Option<u64>) -> Duration {
    requested_ms.map(Duration::from_millis).unwrap_or(hub.config.command_timeout).min(MAX_TIMEOUT)
}

/// How every command route answers:
/// - a read: `200` with its result;
/// - applied: `200` with the command (`{id, state: "applied", result, …}`);
/// - queued: `202` with the command (`state: "queued"`);
/// - refused, expired or cancelled: the error's status, `{"error", "command"}`;
/// - in doubt: `504 timeout`, `{"error", "command"}`, and the hint to ask
///   `GET /v1/commands/{id}` later.
pub(crate) fn respond(outcome: Result<Outcome, ErrorBody>) -> Response {
    match outcome {
        Err(error) => ApiError(error).into_response(),
        Ok(Outcome::Read(result)) => Json(result).into_response(),
        Ok(Outcome::Queued(record)) => (StatusCode::ACCEPTED, Json(CommandView::from(&record))).into_response(),
        Ok(Outcome::Done(record)) => {
            let view = CommandView::from(&record);
            match &view.error {
                None => Json(view).into_response(),
                Some(error) => {
                    let status = crate::error::status_for(error.code);
                    (status, Json(json!({ "error": error, "command": view }))).into_response()
                }
            }
        }
        Ok(Outcome::InDoubt(record)) => {
            let view = CommandView::from(&record);
            let error =
                ErrorBody::new(ErrorCode::Timeout, "no answer in time; the command may or may not have been applied")
                    .with_hint(format!("GET /v1/commands/{} tells how it ended; it is never applied twice", view.id))
                    .with_details(json!({ "command_id": view.id }));
            (StatusCode::GATEWAY_TIMEOUT, Json(json!({ "error": error, "command": view }))).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct CommandBody {
    name: String,
    #[serde(default)]
    args: serde_json::Value,
    #[serde(alias = "deadline_ms")]
    timeout_ms: Option<u64>,
    #[serde(default)]
    queue: bool,
}

async fn command(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<CommandBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project)), Json(body)) = (path?, body?);
    let call = Call::parse(&body.name, &body.args)?;
    let machine = machines::resolve(&hub, &caller, Some(&machine), &project).await?;
    let request = Request {
        account: caller.account_id,
        machine: machine.id,
        project,
        call,
        queue: body.queue,
        timeout: timeout(&hub, body.timeout_ms),
        key: idempotency_key(&headers)?,
        progress: None,
    };
    Ok(respond(submit(&hub, request).await))
}

async fn outcome(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<CommandView>, ApiError> {
    let Path(id) = path?;
    match hub.store.get_command(&id).await? {
        Some(record) if record.command.account_id == caller.account_id => Ok(Json(CommandView::from(&record))),
        _ => Err(ApiError::not_found(format!("command {id:?}")).hint("outcomes are kept for 7 days")),
    }
}

async fn cancel(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<CommandView>, ApiError> {
    let Path(id) = path?;
    match super::cancel(&hub, &caller.account_id, &id).await? {
        Some(record) => Ok(Json(CommandView::from(&record))),
        None => Err(ApiError::not_found(format!("command {id:?}"))),
    }
}

async fn queue(State(hub): State<Arc<HubState>>, caller: Caller) -> Result<Json<Vec<CommandView>>, ApiError> {
    pending(&hub, &caller.account_id).await.map(Json)
}

/// The account's pending commands as clients see them (also in `/ws/dashboard`'s state).
pub(crate) async fn pending(hub: &HubState, account: &str) -> Result<Vec<CommandView>, ApiError> {
    Ok(hub.store.pending_commands(account).await?.iter().map(CommandView::from).collect())
}
