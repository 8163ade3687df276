//! The REST API: the last-known state from the store, and writes and commands
//! routed to the machine. Every route but `/healthz` needs a user token.

use crate::auth::{self, TokenKind};
use crate::error::ApiError;
use crate::store::MachineRow;
use crate::HubState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use specbridge_protocol::{commands, Content, ErrorBody, ErrorCode, FileWriteArgs};
use std::sync::Arc;
use std::time::Duration;

/// Largest body a `PUT` of a file accepts: the write must fit one 1 MiB frame
/// after JSON encoding (base64 worst case 4/3).
const MAX_WRITE_BYTES: usize = 700 * 1024;
/// Longest deadline a caller may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The REST routes.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/machines", get(machines))
        .route("/v1/machines/{machine}/projects", get(projects))
        .route("/v1/machines/{machine}/projects/{project}/files", get(files))
        .route(
            "/v1/machines/{machine}/projects/{project}/files/{*path}",
            get(read_file).put(write_file).layer(DefaultBodyLimit::max(MAX_WRITE_BYTES)),
        )
        .route("/v1/machines/{machine}/projects/{project}/commands", post(command))
        .fallback(|| async {
            ApiError::new(ErrorCode::NotFound, "no such route").hint("see docs/protocol.md and the README")
        })
        .method_not_allowed_fallback(|| async {
            let body = ErrorBody::new(ErrorCode::Invalid, "method not allowed on this route");
            (StatusCode::METHOD_NOT_ALLOWED, Json(serde_json::json!({ "error": body })))
        })
}

/// A caller authenticated with a user token.
pub(crate) struct User {
    pub(crate) account_id: String,
}

impl FromRequestParts<Arc<HubState>> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<HubState>) -> Result<Self, Self::Rejection> {
        let secret =
            auth::bearer(parts.headers.get(header::AUTHORIZATION)).ok_or_else(|| ApiError::unauthorized("user"))?;
        match hub.store.authenticate(secret, TokenKind::User).await? {
            Some(principal) => Ok(Self { account_id: principal.account_id }),
            None => Err(ApiError::unauthorized("user")),
        }
    }
}

/// `{"status":"ok"}`, or `"degraded"` with the store's problem (a full disk).
/// Always 200: a degraded hub still serves reads, and a liveness probe that
/// restarted it would not free any space.
async fn healthz(State(hub): State<Arc<HubState>>) -> Json<serde_json::Value> {
    let version = env!("CARGO_PKG_VERSION");
    match hub.health.check(hub.store.as_ref()).await {
        None => Json(serde_json::json!({ "status": "ok", "version": version, "store": { "status": "ok" } })),
        Some(problem) => Json(serde_json::json!({
            "status": "degraded",
            "version": version,
            "store": { "status": problem.code, "message": problem.message, "hint": problem.hint, "since_ms": problem.since_ms },
        })),
    }
}

async fn find_machine(hub: &HubState, user: &User, key: &str) -> Result<MachineRow, ApiError> {
    hub.store.find_machine(&user.account_id, key).await?.ok_or_else(|| ApiError::not_found(format!("machine {key:?}")))
}

async fn machines(State(hub): State<Arc<HubState>>, user: User) -> Result<Json<Vec<MachineRow>>, ApiError> {
    let mut machines = hub.store.list_machines(&user.account_id).await?;
    // On one node the router is the truth about who is connected: the stored
    // flag is written after the fact and can lag a reconnect by a moment.
    for machine in &mut machines {
        machine.online = hub.router.is_online(&machine.id);
    }
    Ok(Json(machines))
}

async fn projects(
    State(hub): State<Arc<HubState>>,
    user: User,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(machine) = path?;
    let machine = find_machine(&hub, &user, &machine).await?;
    Ok(Json(hub.store.list_projects(&machine.id).await?).into_response())
}

async fn files(
    State(hub): State<Arc<HubState>>,
    user: User,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project)) = path?;
    let machine = find_machine(&hub, &user, &machine).await?;
    let known = hub.store.list_projects(&machine.id).await?;
    if !known.iter().any(|p| p.id == project) {
        return Err(ApiError::not_found(format!("project {project:?}")));
    }
    Ok(Json(hub.store.list_files(&machine.id, &project).await?).into_response())
}

async fn read_file(
    State(hub): State<Arc<HubState>>,
    user: User,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project, path)) = path?;
    let machine = find_machine(&hub, &user, &machine).await?;
    let (row, bytes) = hub
        .store
        .get_file(&machine.id, &project, &path)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("file {path:?}")))?;
    let content_type =
        if std::str::from_utf8(&bytes).is_ok() { "text/plain; charset=utf-8" } else { "application/octet-stream" };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", row.hash)) {
        headers.insert(header::ETAG, etag);
    }
    Ok((headers, bytes).into_response())
}

#[derive(Debug, Deserialize)]
struct WriteQuery {
    base_hash: Option<String>,
    timeout_ms: Option<u64>,
}

async fn write_file(
    State(hub): State<Arc<HubState>>,
    user: User,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, path)), Query(query), body) = (path?, query?, body?);
    let machine = find_machine(&hub, &user, &machine).await?;
    let if_match =
        headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"').to_owned());
    let args = FileWriteArgs { path, content: Content::from_bytes(&body), base_hash: if_match.or(query.base_hash) };
    let args = serde_json::to_value(args).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let deadline = deadline(&hub, query.timeout_ms);
    let result = hub.router.send_command(&machine.id, &project, commands::FILE_WRITE, args, deadline).await?;
    Ok(Json(result).into_response())
}

#[derive(Debug, Deserialize)]
struct CommandRequest {
    name: String,
    #[serde(default)]
    args: serde_json::Value,
    deadline_ms: Option<u64>,
}

async fn command(
    State(hub): State<Arc<HubState>>,
    user: User,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Result<Json<CommandRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project)), Json(request)) = (path?, request?);
    let machine = find_machine(&hub, &user, &machine).await?;
    let deadline = deadline(&hub, request.deadline_ms);
    let result = hub.router.send_command(&machine.id, &project, &request.name, request.args, deadline).await?;
    Ok(Json(serde_json::json!({ "result": result })).into_response())
}

fn deadline(hub: &HubState, requested_ms: Option<u64>) -> Duration {
    requested_ms.map(Duration::from_millis).unwrap_or(hub.config.command_timeout).min(MAX_TIMEOUT)
}
