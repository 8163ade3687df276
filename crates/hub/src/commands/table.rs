//! The spec REST routes (design §6) as a table: each row is a path, a method
//! and the command it runs. One handler serves every row: it builds the
//! command's arguments from the path, the query and the JSON body, parses
//! them into a typed [`Call`] (a bad request is refused before anything is
//! sent), picks the machine and submits the command.
//!
//! Every row is mounted twice: under `/api/projects/{project}` (the machine
//! is `?machine=<id or name>`, else the default for the project) and under
//! `/v1/machines/{machine}/projects/{project}` (the dashboard's form).

use super::routes::{idempotency_key, respond, timeout};
use super::{command_id, submit, Outcome, Request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::{machines, HubState};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};
use specbridge_protocol::{Call, CommandName, ErrorBody, ErrorCode};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One route: `method suffix` runs `command`.
#[derive(Debug)]
struct Row {
    method: MethodFilter,
    /// The path after the project prefix.
    suffix: &'static str,
    command: CommandName,
    /// Query keys copied into the arguments: `(query key, argument key)`.
    query: &'static [(&'static str, &'static str)],
    /// Whether the JSON body (an object) holds arguments.
    body: bool,
    /// With `?q=`, this command runs instead (an implementation-log read becomes a search).
    with_q: Option<CommandName>,
}

const fn row(method: MethodFilter, suffix: &'static str, command: CommandName) -> Row {
    Row { method, suffix, command, query: &[], body: false, with_q: None }
}

const fn with_body(method: MethodFilter, suffix: &'static str, command: CommandName) -> Row {
    Row { method, suffix, command, query: &[], body: true, with_q: None }
}

use CommandName as C;
use MethodFilter as M;

/// The table (docs/protocol.md, "Spec REST API", lists the same).
static ROWS: &[Row] = &[
    row(M::GET, "", C::ProjectInfo),
    row(M::GET, "/specs", C::SpecList),
    with_body(M::POST, "/specs", C::CreateSpec),
    row(M::GET, "/archive/specs", C::SpecArchivedList),
    row(M::GET, "/archive/specs/{name}", C::SpecArchivedRead),
    row(M::GET, "/specs/{name}", C::SpecRead),
    row(M::GET, "/specs/{name}/{document}", C::SpecRead),
    with_body(M::PUT, "/specs/{name}/{document}", C::SpecDocumentWrite),
    with_body(M::PATCH, "/specs/{name}/frontmatter", C::UpdateFrontmatter),
    with_body(M::PUT, "/specs/{name}/content", C::UpdateContent),
    row(M::GET, "/specs/{name}/progress", C::TaskProgress),
    with_body(M::PUT, "/specs/{name}/tasks/{task_id}/status", C::TaskStatusUpdate),
    with_body(M::POST, "/specs/{name}/archive", C::SpecArchive),
    with_body(M::POST, "/specs/{name}/unarchive", C::SpecUnarchive),
    Row {
        with_q: Some(C::ImplLogSearch),
        query: &[("q", "query")],
        ..row(M::GET, "/specs/{name}/implementation-log", C::ImplLogRead)
    },
    with_body(M::POST, "/specs/{name}/implementation-log", C::ImplLogAdd),
    row(M::GET, "/specs/{name}/implementation-log/task/{task_id}/stats", C::ImplLogTaskStats),
    Row { query: &[("q", "query")], ..row(M::GET, "/implementation-log/search", C::ImplLogSearch) },
    Row { query: &[("status", "status"), ("legacy", "legacy")], ..row(M::GET, "/approvals", C::ApprovalList) },
    with_body(M::POST, "/approvals", C::ApprovalCreate),
    row(M::GET, "/approvals/{id}", C::ApprovalGet),
    row(M::DELETE, "/approvals/{id}", C::ApprovalDelete),
    row(M::GET, "/approvals/{id}/content", C::ApprovalContent),
    row(M::GET, "/approvals/{id}/snapshots", C::ApprovalSnapshots),
    row(M::POST, "/approvals/{id}/snapshots", C::ApprovalSnapshot),
    row(M::GET, "/approvals/{id}/snapshots/{version}", C::ApprovalSnapshotGet),
    Row { query: &[("from", "from"), ("to", "to")], ..row(M::GET, "/approvals/{id}/diff", C::ApprovalDiff) },
    with_body(M::POST, "/approvals/{id}/{action}", C::ApprovalUpdate),
    row(M::GET, "/steering", C::SteeringStatus),
    row(M::GET, "/steering/{doc}", C::SteeringRead),
    with_body(M::PUT, "/steering/{doc}", C::SteeringWrite),
    row(M::GET, "/jobs", C::JobList),
    with_body(M::POST, "/jobs", C::JobCreate),
    row(M::GET, "/jobs/{id}", C::JobGet),
    with_body(M::PUT, "/jobs/{id}", C::JobUpdate),
    row(M::DELETE, "/jobs/{id}", C::JobDelete),
    with_body(M::POST, "/jobs/{id}/run", C::JobRun),
    row(M::POST, "/jobs/{id}/cancel", C::JobCancel),
    row(M::GET, "/jobs/{id}/history", C::JobHistory),
    row(M::GET, "/jobs/{id}/stats", C::JobStats),
    row(M::GET, "/jobs/{id}/audit", C::JobAudit),
    row(M::GET, "/audit/jobs", C::JobAudit),
    with_body(M::PUT, "/documents/{*path}", C::FileWrite),
];

/// Argument keys whose values are numbers (path and query values arrive as text).
const NUMBERS: &[&str] = &["version", "from", "to"];
/// Argument keys whose values are booleans (`1`/`true`, `0`/`false`).
const BOOLS: &[&str] = &["legacy"];

/// The table's routes, under both prefixes.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<HubState>>> = BTreeMap::new();
    for row in ROWS {
        let handler =
            move |state, caller, path, query, headers, body| handle(row, state, caller, path, query, headers, body);
        let method_router =
            by_path.remove(row.suffix).map_or_else(|| on(row.method, handler), |m| m.on(row.method, handler));
        by_path.insert(row.suffix, method_router);
    }
    let mut router = Router::new();
    for (suffix, method_router) in by_path {
        router = router
            .route(&format!("/api/projects/{{project}}{suffix}"), method_router.clone())
            .route(&format!("/v1/machines/{{machine}}/projects/{{project}}{suffix}"), method_router);
    }
    router
}

type Params = Result<Path<HashMap<String, String>>, PathRejection>;
type QueryMap = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn handle(
    row: &'static Row,
    State(hub): State<Arc<HubState>>,
    caller: Result<Caller, ApiError>,
    path: Params,
    query: QueryMap,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match prepare(row, &hub, caller, path, query, &headers, &body).await {
        Ok((request, Follow::Stream)) => streamed(hub, request),
        Ok((request, Follow::Detach)) => detached(hub, request),
        Ok((request, Follow::Wait)) => respond(submit(&hub, request).await),
        Err(error) => error.into_response(),
    }
}

/// How the caller of a `job-run` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// Wait for the answer (every command).
    Wait,
    /// `?stream=1`: NDJSON progress, then the answer.
    Stream,
    /// `?detach=1`: `202` at once with the command id; the run goes on, and
    /// dashboards follow it on `/ws/dashboard` (`watch_jobs`).
    Detach,
}

/// The request a row's HTTP request stands for, and how to follow it.
async fn prepare(
    row: &Row,
    hub: &Arc<HubState>,
    caller: Result<Caller, ApiError>,
    path: Params,
    query: QueryMap,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Request, Follow), ApiError> {
    let caller = caller?;
    let (Path(mut params), Query(query)) = (path?, query?);
    let project = params.remove("project").unwrap_or_default();
    let machine_key = params.remove("machine").or_else(|| query.get("machine").cloned());
    let mut args = if row.body { body_object(body)? } else { Map::new() };
    let queue_in_body = args.remove("queue").and_then(|v| v.as_bool()).unwrap_or(false);
    for (from, to) in row.query {
        if let Some(value) = query.get(*from) {
            args.insert((*to).to_owned(), argument(to, value)?);
        }
    }
    // Path parameters last: a body cannot retarget the command.
    for (key, value) in params {
        let value = argument(&key, &value)?;
        args.insert(key, value);
    }
    let name = match row.with_q {
        Some(other) if query.contains_key("q") => other,
        _ => row.command,
    };
    let call = Call::parse(name.as_str(), &Value::Object(args))?;
    let machine = machines::resolve(hub, &caller, machine_key.as_deref(), &project).await?;
    let flag = |key: &str| query.get(key).is_some_and(|v| matches!(v.as_str(), "1" | "true"));
    let request = Request {
        account: caller.account_id,
        machine: machine.id,
        project,
        call,
        queue: queue_in_body || flag("queue"),
        timeout: timeout(hub, query.get("timeout_ms").and_then(|v| v.parse().ok())),
        key: idempotency_key(headers)?,
        progress: None,
    };
    let follow = match name {
        CommandName::JobRun if flag("stream") => Follow::Stream,
        CommandName::JobRun if flag("detach") => Follow::Detach,
        _ => Follow::Wait,
    };
    Ok((request, follow))
}

/// `POST …/jobs/{id}/run?detach=1`: the run is submitted by a task of its
/// own, and the caller gets `202 {"id", "state": "accepted"}` at once (a page
/// running ten jobs must not hold ten of its six connections). The id is the
/// command's, derived from the `Idempotency-Key` (or a fresh one).
fn detached(hub: Arc<HubState>, mut request: Request) -> Response {
    if !request.queue && !hub.is_online(&request.machine) {
        return respond(Err(crate::router::RouteError::NotConnected.into_body()));
    }
    let key = request.key.get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string()).clone();
    let id = command_id(&request.account, Some(&key));
    let task = Arc::clone(&hub);
    hub.tracker.spawn(async move {
        if let Err(error) = submit(&task, request).await {
            tracing::info!(code = error.code.as_str(), %error, "a detached job run was refused");
        }
    });
    (axum::http::StatusCode::ACCEPTED, axum::Json(json!({ "id": id, "state": "accepted" }))).into_response()
}

/// The body as a JSON object; an empty body is `{}`.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(ErrorCode::Invalid, "the body must be a JSON object")),
        Err(e) => Err(ApiError::new(ErrorCode::Invalid, format!("the body is not JSON: {e}"))
            .hint("send `Content-Type: application/json` and an object such as {\"content\": \"…\"}")),
    }
}

/// A path or query value as an argument: a number or a boolean for those keys, else text.
fn argument(key: &str, value: &str) -> Result<Value, ApiError> {
    if BOOLS.contains(&key) {
        return match value {
            "1" | "true" => Ok(json!(true)),
            "0" | "false" => Ok(json!(false)),
            _ => Err(ApiError::new(ErrorCode::Invalid, format!("`{key}` must be true or false, not {value:?}"))),
        };
    }
    if !NUMBERS.contains(&key) {
        return Ok(json!(value));
    }
    value
        .parse::<u64>()
        .map(|n| json!(n))
        .map_err(|_| ApiError::new(ErrorCode::Invalid, format!("`{key}` must be a number, not {value:?}")))
}

/// `POST …/jobs/{id}/run?stream=1`: NDJSON sent as the job runs:
/// `{"progress": "<output>", "seq"}` lines, then one `{"result"}` or
/// `{"error"}` line (`curl -N` shows it live).
fn streamed(hub: Arc<HubState>, mut request: Request) -> Response {
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::channel(64);
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(64);
    request.progress = Some(progress_tx);
    // One task owns the command and the body: it ends when the command does,
    // and the hub's tracker waits for it on shutdown.
    hub.tracker.clone().spawn(async move {
        let command = submit(&hub, request);
        tokio::pin!(command);
        let line = |piece: specbridge_protocol::Progress| {
            let mut line = json!({ "progress": piece.data, "seq": piece.seq });
            if let Some(phase) = piece.phase {
                line["phase"] = json!(phase);
            }
            line.to_string() + "\n"
        };
        let outcome = loop {
            tokio::select! {
                outcome = &mut command => break outcome,
                Some(piece) = progress_rx.recv() => {
                    if body_tx.send(Ok(line(piece))).await.is_err() {
                        return; // the caller went away
                    }
                }
            }
        };
        while let Ok(piece) = progress_rx.try_recv() {
            let _ = body_tx.send(Ok(line(piece))).await;
        }
        let _ = body_tx.send(Ok(last_line(outcome).to_string() + "\n")).await;
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let headers = [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")];
    (headers, axum::body::Body::from_stream(stream)).into_response()
}

/// The final NDJSON line of a streamed run.
fn last_line(outcome: Result<Outcome, ErrorBody>) -> Value {
    match outcome {
        Ok(Outcome::Done(record)) => match record.error {
            Some(error) => json!({ "error": error, "id": record.command.id }),
            None => json!({ "result": record.result, "id": record.command.id }),
        },
        Ok(Outcome::Read(result)) => json!({ "result": result }),
        Ok(Outcome::Queued(record)) => json!({ "queued": record.command.id }),
        Ok(Outcome::InDoubt(record)) => json!({
            "error": ErrorBody::new(ErrorCode::Timeout, "no answer in time")
                .with_hint(format!("GET /v1/commands/{} tells how it ended", record.command.id)),
        }),
        Err(error) => json!({ "error": error }),
    }
}
