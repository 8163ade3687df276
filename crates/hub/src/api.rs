//! The REST API's read side (the last-known state from the store) and the
//! raw file write. Every route needs a user (a [`Caller`]).
//! Commands go through `commands` (`commands/table.rs` for the spec routes).

use crate::auth::Caller;
use crate::commands::routes::{idempotency_key, respond, timeout};
use crate::commands::{submit, Request};
use crate::error::ApiError;
use crate::machines;
use crate::store::MachineRow;
use crate::HubState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use specbridge_protocol::{Call, Content, ErrorBody, ErrorCode, FileWriteArgs};
use std::sync::Arc;

/// Largest body a `PUT` of a file accepts: the write must fit one 1 MiB frame
/// after JSON encoding (base64 worst case 4/3).
const MAX_WRITE_BYTES: usize = 700 * 1024;

/// The REST routes.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/v1/machines", get(list_machines))
        .route("/v1/machines/{machine}/projects", get(projects))
        .route("/v1/machines/{machine}/projects/{project}/files", get(files))
        .route(
            "/v1/machines/{machine}/projects/{project}/files/{*path}",
            get(read_file).put(write_file).layer(DefaultBodyLimit::max(MAX_WRITE_BYTES)),
        )
        .route("/api/projects", get(all_projects))
        .fallback(|| async {
            ApiError::new(ErrorCode::NotFound, "no such route").hint("see docs/protocol.md and the README")
        })
        .method_not_allowed_fallback(|| async {
            let body = ErrorBody::new(ErrorCode::Invalid, "method not allowed on this route");
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": body })))
        })
}

async fn list_machines(State(hub): State<Arc<HubState>>, caller: Caller) -> Result<Json<Vec<MachineRow>>, ApiError> {
    Ok(Json(machines::list(&hub, &caller.account_id).await?))
}

async fn projects(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(machine) = path?;
    let machine = machines::find(&hub, &caller, &machine).await?;
    Ok(Json(hub.store.list_projects(&machine.id).await?).into_response())
}

#[derive(Debug, Deserialize)]
struct MachineQuery {
    machine: Option<String>,
}

/// `GET /api/projects[?machine=]`: every project of every machine of the account.
async fn all_projects(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    query: Result<Query<MachineQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let mut out = Vec::new();
    for machine in machines::list(&hub, &caller.account_id).await? {
        if query.machine.as_ref().is_some_and(|key| key != &machine.id && key != &machine.name) {
            continue;
        }
        for p in hub.store.list_projects(&machine.id).await? {
            out.push(json!({
                "id": p.id, "name": p.name, "layout": p.layout, "read_only": p.read_only, "files": p.files,
                "machine_id": machine.id, "machine_name": machine.name, "online": machine.online,
                "last_seen_ms": machine.last_seen_ms,
            }));
        }
    }
    Ok(Json(Value::Array(out)))
}

async fn files(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project)) = path?;
    let machine = machines::find(&hub, &caller, &machine).await?;
    let known = hub.store.list_projects(&machine.id).await?;
    if !known.iter().any(|p| p.id == project) {
        return Err(ApiError::not_found(format!("project {project:?}")));
    }
    Ok(Json(hub.store.list_files(&machine.id, &project).await?).into_response())
}

async fn read_file(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project, path)) = path?;
    let (row, bytes) = machines::stored_file(&hub, &caller, &machine, &project, &path).await?;
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
    #[serde(default)]
    queue: bool,
}

/// `PUT …/files/{path}`: the raw body becomes one `file-write`, with
/// `If-Match` (or `?base_hash=`) as the hash the author saw.
async fn write_file(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, path)), Query(query), body) = (path?, query?, body?);
    let machine = machines::find(&hub, &caller, &machine).await?;
    let if_match =
        headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"').to_owned());
    let args = FileWriteArgs { path, content: Content::from_bytes(&body), base_hash: if_match.or(query.base_hash) };
    // Parsed like any other command, so a malformed base hash is refused here.
    let call = Call::parse("file-write", &Call::FileWrite(args).args())?;
    let request = Request {
        account: caller.account_id,
        machine: machine.id,
        project,
        call,
        queue: query.queue,
        timeout: timeout(&hub, query.timeout_ms),
        key: idempotency_key(&headers)?,
        progress: None,
    };
    Ok(respond(submit(&hub, request).await))
}
