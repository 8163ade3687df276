//! The spec REST API (`/api/projects/...`): the route shapes of design §6,
//! each turned into one bridge command (docs/protocol.md) and routed to the
//! chosen machine.
//!
//! The machine is `?machine=<id or name>`; without it, the most recently seen
//! machine that serves the project (online machines first). Errors answer a
//! flat `{code, message, hint}` body (a conflict adds `current_hash` and
//! `current_content`) with the status of [`status_for`].

use crate::api::User;
use crate::error::{status_for, ApiError};
use crate::store::MachineRow;
use crate::HubState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use specbridge_protocol::{ErrorBody, ErrorCode};
use std::sync::Arc;
use std::time::Duration;

/// Longest deadline a caller may ask for (`job-run` may need it).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The spec routes.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/projects", get(list_projects))
        .route("/api/projects/{project}", get(project_info))
        .route("/api/projects/{project}/specs", get(spec_list).post(create_spec))
        .route("/api/projects/{project}/archive/specs", get(archived_list))
        .route("/api/projects/{project}/archive/specs/{name}", get(archived_read))
        .route("/api/projects/{project}/specs/{name}", get(spec_read))
        .route("/api/projects/{project}/specs/{name}/{document}", get(document_read).put(document_write))
        .route("/api/projects/{project}/specs/{name}/frontmatter", axum::routing::patch(frontmatter))
        .route("/api/projects/{project}/specs/{name}/content", put(content))
        .route("/api/projects/{project}/specs/{name}/progress", get(task_progress))
        .route("/api/projects/{project}/specs/{name}/tasks/{task}/status", put(task_status))
        .route("/api/projects/{project}/specs/{name}/archive", post(archive))
        .route("/api/projects/{project}/specs/{name}/unarchive", post(unarchive))
        .route("/api/projects/{project}/specs/{name}/implementation-log", get(log_read).post(log_add))
        .route("/api/projects/{project}/specs/{name}/implementation-log/task/{task}/stats", get(log_stats))
        .route("/api/projects/{project}/implementation-log/search", get(log_search))
        .route("/api/projects/{project}/approvals", get(approval_list).post(approval_create))
        .route("/api/projects/{project}/approvals/{id}", get(approval_get).delete(approval_delete))
        .route("/api/projects/{project}/approvals/{id}/content", get(approval_content))
        .route("/api/projects/{project}/approvals/{id}/snapshots", get(approval_snapshots).post(approval_snapshot))
        .route("/api/projects/{project}/approvals/{id}/snapshots/{version}", get(approval_snapshot_get))
        .route("/api/projects/{project}/approvals/{id}/diff", get(approval_diff))
        .route("/api/projects/{project}/approvals/{id}/{action}", post(approval_action))
        .route("/api/projects/{project}/steering", get(steering_status))
        .route("/api/projects/{project}/steering/{doc}", get(steering_read).put(steering_write))
        .route("/api/projects/{project}/jobs", get(job_list).post(job_create))
        .route("/api/projects/{project}/jobs/{job}", get(job_get).put(job_update).delete(job_delete))
        .route("/api/projects/{project}/jobs/{job}/run", post(job_run))
        .route("/api/projects/{project}/jobs/{job}/cancel", post(job_cancel))
        .route("/api/projects/{project}/jobs/{job}/history", get(job_history))
        .route("/api/projects/{project}/jobs/{job}/stats", get(job_stats))
}

/// An error in the flat shape of this API.
#[derive(Debug)]
pub(crate) struct SpecApiError(ErrorBody);

impl From<ErrorBody> for SpecApiError {
    fn from(body: ErrorBody) -> Self {
        Self(body)
    }
}

impl From<ApiError> for SpecApiError {
    fn from(error: ApiError) -> Self {
        Self(error.0)
    }
}

macro_rules! rejection {
    ($($rejection:ty),+) => {$(
        impl From<$rejection> for SpecApiError {
            fn from(rejection: $rejection) -> Self {
                Self(ApiError::from(rejection).0)
            }
        }
    )+};
}
rejection!(JsonRejection, PathRejection, QueryRejection);

impl IntoResponse for SpecApiError {
    fn into_response(self) -> Response {
        let body = self.0;
        let mut out = json!({ "code": body.code.as_str(), "message": body.message, "hint": body.hint });
        if let Some(Value::Object(details)) = body.details {
            for (key, value) in details {
                // Text travels as a plain string; only binary keeps the {encoding, data} form.
                let value = match value {
                    Value::Object(ref c) if c.get("encoding") == Some(&json!("utf8")) => {
                        c.get("data").cloned().unwrap_or(Value::Null)
                    }
                    other => other,
                };
                out[key] = value;
            }
        }
        (status_for(body.code), Json(out)).into_response()
    }
}

type Reply = Result<Json<Value>, SpecApiError>;

/// `?machine=` and `?timeout_ms=`, plus route-specific query keys.
#[derive(Debug, Default, Deserialize)]
struct Sel {
    machine: Option<String>,
    timeout_ms: Option<u64>,
    q: Option<String>,
    status: Option<String>,
    from: Option<u32>,
    to: Option<u32>,
    stream: Option<String>,
}

/// Common parts of a request: the caller, the selector, the project id.
struct Call {
    hub: Arc<HubState>,
    user: User,
    sel: Sel,
    project: String,
}

impl Call {
    fn new(
        hub: Arc<HubState>,
        user: Result<User, ApiError>,
        sel: Result<Query<Sel>, QueryRejection>,
        project: String,
    ) -> Result<Self, SpecApiError> {
        Ok(Self { hub, user: user?, sel: sel?.0, project })
    }

    /// The machine that runs the command.
    async fn machine(&self) -> Result<MachineRow, SpecApiError> {
        if let Some(key) = &self.sel.machine {
            return self
                .hub
                .store
                .find_machine(&self.user.account_id, key)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| ApiError::not_found(format!("machine {key:?}")).into());
        }
        let mut machines = self.hub.store.list_machines(&self.user.account_id).await.map_err(ApiError::from)?;
        for m in &mut machines {
            m.online = self.hub.router.is_online(&m.id);
        }
        // Online first, then most recently seen.
        machines.sort_by_key(|m| (std::cmp::Reverse(m.online), std::cmp::Reverse(m.last_seen_ms)));
        for machine in machines {
            let projects = self.hub.store.list_projects(&machine.id).await.map_err(ApiError::from)?;
            if projects.iter().any(|p| p.id == self.project) {
                return Ok(machine);
            }
        }
        Err(ErrorBody::new(ErrorCode::NotFound, format!("no machine serves project {:?}", self.project))
            .with_hint("GET /api/projects lists the projects of every machine")
            .into())
    }

    async fn send(&self, name: &str, args: Value) -> Reply {
        let machine = self.machine().await?;
        let deadline =
            self.sel.timeout_ms.map(Duration::from_millis).unwrap_or(self.hub.config.command_timeout).min(MAX_TIMEOUT);
        let result = self.hub.router.send_command(&machine.id, &self.project, name, args, deadline).await?;
        Ok(Json(result))
    }
}

type Q = Result<Query<Sel>, QueryRejection>;
type U = Result<User, ApiError>;
type Body = Result<Json<Map<String, Value>>, JsonRejection>;

/// The JSON object body, with `extra` keys set on top.
fn body_with(body: Body, extra: Value) -> Result<Value, SpecApiError> {
    let Json(mut map) = body?;
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Ok(Value::Object(map))
}

async fn list_projects(State(hub): State<Arc<HubState>>, user: U, sel: Q) -> Reply {
    let (user, Query(sel)) = (user?, sel?);
    let mut out = Vec::new();
    let mut machines = hub.store.list_machines(&user.account_id).await.map_err(ApiError::from)?;
    if let Some(key) = &sel.machine {
        machines.retain(|m| &m.id == key || &m.name == key);
    }
    for machine in machines {
        let online = hub.router.is_online(&machine.id);
        for p in hub.store.list_projects(&machine.id).await.map_err(ApiError::from)? {
            out.push(json!({
                "id": p.id, "name": p.name, "layout": p.layout, "read_only": p.read_only, "files": p.files,
                "machine_id": machine.id, "machine_name": machine.name, "online": online,
                "last_seen_ms": machine.last_seen_ms,
            }));
        }
    }
    Ok(Json(Value::Array(out)))
}

async fn project_info(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    Call::new(hub, user, sel, project)?.send("project-info", json!({})).await
}

async fn spec_list(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    Call::new(hub, user, sel, project)?.send("spec-list", json!({})).await
}

async fn archived_list(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    Call::new(hub, user, sel, project)?.send("spec-archived-list", json!({})).await
}

async fn steering_status(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    Call::new(hub, user, sel, project)?.send("steering-status", json!({})).await
}

async fn job_list(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    Call::new(hub, user, sel, project)?.send("job-list", json!({})).await
}

async fn approval_list(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    let call = Call::new(hub, user, sel, project)?;
    let args = json!({ "status": call.sel.status });
    call.send("approval-list", args).await
}

async fn log_search(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let Path(project) = path?;
    let call = Call::new(hub, user, sel, project)?;
    let args = json!({ "query": call.sel.q.clone().unwrap_or_default() });
    call.send("impl-log-search", args).await
}

async fn create_spec(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Reply {
    let Path(project) = path?;
    let args = body_with(body, json!({}))?;
    Call::new(hub, user, sel, project)?.send("create-spec", args).await
}

async fn approval_create(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Reply {
    let Path(project) = path?;
    let args = body_with(body, json!({}))?;
    Call::new(hub, user, sel, project)?.send("approval-create", args).await
}

async fn job_create(
    State(hub): State<Arc<HubState>>,
    user: U,
    sel: Q,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Reply {
    let Path(project) = path?;
    let args = body_with(body, json!({}))?;
    Call::new(hub, user, sel, project)?.send("job-create", args).await
}

type P2 = Result<Path<(String, String)>, PathRejection>;

async fn spec_read(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    Call::new(hub, user, sel, project)?.send("spec-read", json!({ "name": name })).await
}

async fn archived_read(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    Call::new(hub, user, sel, project)?.send("spec-archived-read", json!({ "name": name })).await
}

async fn task_progress(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    Call::new(hub, user, sel, project)?.send("task-progress", json!({ "name": name })).await
}

async fn archive(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    Call::new(hub, user, sel, project)?.send("spec-archive", json!({ "name": name })).await
}

async fn unarchive(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    Call::new(hub, user, sel, project)?.send("spec-unarchive", json!({ "name": name })).await
}

async fn log_read(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, name)) = path?;
    let call = Call::new(hub, user, sel, project)?;
    match call.sel.q.clone() {
        Some(query) => call.send("impl-log-search", json!({ "name": name, "query": query })).await,
        None => call.send("impl-log-read", json!({ "name": name })).await,
    }
}

async fn log_add(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2, body: Body) -> Reply {
    let Path((project, name)) = path?;
    let args = body_with(body, json!({ "name": name }))?;
    Call::new(hub, user, sel, project)?.send("impl-log-add", args).await
}

async fn frontmatter(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2, body: Body) -> Reply {
    let Path((project, name)) = path?;
    let args = body_with(body, json!({ "name": name }))?;
    Call::new(hub, user, sel, project)?.send("update-frontmatter", args).await
}

async fn content(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2, body: Body) -> Reply {
    let Path((project, name)) = path?;
    let args = body_with(body, json!({ "name": name }))?;
    Call::new(hub, user, sel, project)?.send("update-content", args).await
}

async fn approval_get(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    Call::new(hub, user, sel, project)?.send("approval-get", json!({ "id": id })).await
}

async fn approval_delete(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    Call::new(hub, user, sel, project)?.send("approval-delete", json!({ "id": id })).await
}

async fn approval_content(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    Call::new(hub, user, sel, project)?.send("approval-content", json!({ "id": id })).await
}

async fn approval_snapshots(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    Call::new(hub, user, sel, project)?.send("approval-snapshots", json!({ "id": id })).await
}

async fn approval_snapshot(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    Call::new(hub, user, sel, project)?.send("approval-snapshot", json!({ "id": id })).await
}

async fn approval_diff(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, id)) = path?;
    let call = Call::new(hub, user, sel, project)?;
    let Some(from) = call.sel.from else {
        return Err(ErrorBody::new(ErrorCode::Invalid, "missing ?from=<snapshot version>")
            .with_hint("add ?to=<version> to compare two snapshots; without it the current file is compared")
            .into());
    };
    let args = json!({ "id": id, "from": from, "to": call.sel.to });
    call.send("approval-diff", args).await
}

async fn steering_read(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, doc)) = path?;
    Call::new(hub, user, sel, project)?.send("steering-read", json!({ "doc": doc })).await
}

async fn steering_write(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2, body: Body) -> Reply {
    let Path((project, doc)) = path?;
    let args = body_with(body, json!({ "doc": doc }))?;
    Call::new(hub, user, sel, project)?.send("steering-write", args).await
}

async fn job_get(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, job)) = path?;
    Call::new(hub, user, sel, project)?.send("job-get", json!({ "id": job })).await
}

async fn job_update(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2, body: Body) -> Reply {
    let Path((project, job)) = path?;
    let args = body_with(body, json!({ "id": job }))?;
    Call::new(hub, user, sel, project)?.send("job-update", args).await
}

async fn job_delete(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, job)) = path?;
    Call::new(hub, user, sel, project)?.send("job-delete", json!({ "id": job })).await
}

/// `POST …/jobs/:job/run`: the run's result. With `?stream=1` the answer is
/// NDJSON instead, sent as the job runs: `{"progress": "<output>"}` lines,
/// then one `{"result": …}` or `{"error": …}` line (`curl -N` shows it live).
async fn job_run(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Result<Response, SpecApiError> {
    let Path((project, job)) = path?;
    let call = Call::new(hub, user, sel, project)?;
    let args = json!({ "id": job });
    if !matches!(call.sel.stream.as_deref(), Some("1" | "true")) {
        return Ok(call.send("job-run", args).await?.into_response());
    }
    let machine = call.machine().await?;
    let deadline =
        call.sel.timeout_ms.map(Duration::from_millis).unwrap_or(call.hub.config.command_timeout).min(MAX_TIMEOUT);
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::channel::<specbridge_protocol::Progress>(64);
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(64);
    let hub = Arc::clone(&call.hub);
    // One task owns the command and the body: it ends when the command does,
    // and the hub's tracker waits for it on shutdown.
    call.hub.tracker.spawn(async move {
        let command = hub.router.send_command_with_progress(
            &machine.id,
            &call.project,
            "job-run",
            args,
            deadline,
            Some(progress_tx),
        );
        tokio::pin!(command);
        let outcome = loop {
            tokio::select! {
                outcome = &mut command => break outcome,
                Some(piece) = progress_rx.recv() => {
                    let line = json!({ "progress": piece.data, "seq": piece.seq }).to_string() + "\n";
                    if body_tx.send(Ok(line)).await.is_err() {
                        return; // the caller went away
                    }
                }
            }
        };
        // Pieces that arrived with the response.
        while let Ok(piece) = progress_rx.try_recv() {
            let _ = body_tx.send(Ok(json!({ "progress": piece.data, "seq": piece.seq }).to_string() + "\n")).await;
        }
        let last = match outcome {
            Ok(result) => json!({ "result": result }),
            Err(error) => json!({ "error": error }),
        };
        let _ = body_tx.send(Ok(last.to_string() + "\n")).await;
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let headers = [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")];
    Ok((headers, axum::body::Body::from_stream(stream)).into_response())
}

async fn job_cancel(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, job)) = path?;
    Call::new(hub, user, sel, project)?.send("job-cancel", json!({ "id": job })).await
}

async fn job_history(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, job)) = path?;
    Call::new(hub, user, sel, project)?.send("job-history", json!({ "id": job })).await
}

async fn job_stats(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P2) -> Reply {
    let Path((project, job)) = path?;
    Call::new(hub, user, sel, project)?.send("job-stats", json!({ "id": job })).await
}

type P3 = Result<Path<(String, String, String)>, PathRejection>;

async fn document_read(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3) -> Reply {
    let Path((project, name, document)) = path?;
    Call::new(hub, user, sel, project)?.send("spec-read", json!({ "name": name, "document": document })).await
}

async fn document_write(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3, body: Body) -> Reply {
    let Path((project, name, document)) = path?;
    let args = body_with(body, json!({ "name": name, "document": document }))?;
    Call::new(hub, user, sel, project)?.send("spec-document-write", args).await
}

async fn log_stats(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3) -> Reply {
    let Path((project, name, task)) = path?;
    Call::new(hub, user, sel, project)?.send("impl-log-task-stats", json!({ "name": name, "task_id": task })).await
}

async fn approval_action(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3, body: Body) -> Reply {
    let Path((project, id, action)) = path?;
    let args = body_with(body, json!({ "id": id, "action": action }))?;
    Call::new(hub, user, sel, project)?.send("approval-update", args).await
}

async fn approval_snapshot_get(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3) -> Reply {
    let Path((project, id, version)) = path?;
    let version: u32 = version.parse().map_err(|_| {
        SpecApiError(ErrorBody::new(ErrorCode::Invalid, format!("snapshot version {version:?} is not a number")))
    })?;
    Call::new(hub, user, sel, project)?.send("approval-snapshot-get", json!({ "id": id, "version": version })).await
}

async fn task_status(State(hub): State<Arc<HubState>>, user: U, sel: Q, path: P3, body: Body) -> Reply {
    let Path((project, name, task)) = path?;
    let args = body_with(body, json!({ "name": name, "task_id": task }))?;
    Call::new(hub, user, sel, project)?.send("task-status-update", args).await
}
