//! Dashboard edits. The hub computes the new file from the last-known content
//! with `specbridge-specs` (a status change, a task toggle, an approval
//! answer) and sends it as one `file-write` whose base hash is the hash that
//! content had, so a file changed locally in the meantime answers `conflict`
//! and is never clobbered. A machine that is offline answers `offline`, or
//! queues the write when the caller asked (`"queue": true`).

use super::auth::Viewer;
use super::queue::{CommandOutcome, QueuedCommand};
use super::HubEvent;
use crate::error::ApiError;
use crate::store::MachineRow;
use crate::{now_ms, HubState};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use specbridge_protocol::{commands, Content, ErrorBody, ErrorCode, FileWriteArgs};
use specbridge_specs::{
    apply_action, parse_approval, set_task_status, update_frontmatter, ApprovalAction, ApprovalComment,
    FrontmatterChanges, SpecError, TaskStatus, Timestamp, WorkflowRoot,
};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<HubState>> {
    let base = "/v1/machines/{machine}/projects/{project}";
    Router::new()
        .route(&format!("{base}/documents/{{*path}}"), put(write_document))
        .route(&format!("{base}/specs/{{name}}/frontmatter"), patch(frontmatter))
        .route(&format!("{base}/specs/{{name}}/tasks/{{task}}/status"), put(task_status))
        .route(&format!("{base}/approvals/{{id}}/{{action}}"), post(approval))
}

/// A write the dashboard asked for, ready to send.
struct Write {
    machine: MachineRow,
    project: String,
    path: String,
    content: String,
    base_hash: Option<String>,
    summary: String,
    queue: bool,
}

/// Sends a write now, or queues it, and tells dashboards how it went.
async fn dispatch(hub: &HubState, viewer: &Viewer, write: Write) -> Result<Response, ApiError> {
    let id = format!("d_{}", uuid::Uuid::new_v4().simple());
    let args = FileWriteArgs {
        path: write.path.clone(),
        content: Content::from_bytes(write.content.as_bytes()),
        base_hash: write.base_hash.clone(),
    };
    let args = serde_json::to_value(args).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let machine = write.machine.id.clone();
    if !hub.router.is_online(&machine) && write.queue {
        hub.dash.queue.push(QueuedCommand {
            id: id.clone(),
            account: viewer.account_id.clone(),
            machine: machine.clone(),
            project: write.project,
            path: write.path,
            summary: write.summary,
            queued_ms: now_ms(),
            args,
        });
        hub.dash.publish(HubEvent::QueueChanged { machine: machine.clone() });
        // It may have come back between the check and the push.
        hub.dash.kick(&machine);
        return Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "queued", "id": id }))).into_response());
    }
    let outcome =
        hub.router.send_command(&machine, &write.project, commands::FILE_WRITE, args, hub.config.command_timeout).await;
    hub.dash.publish(HubEvent::CommandResult(CommandOutcome {
        id: id.clone(),
        machine,
        project: write.project,
        path: write.path,
        summary: write.summary,
        replayed: false,
        result: outcome.as_ref().ok().cloned(),
        error: outcome.as_ref().err().cloned(),
    }));
    let result = outcome?;
    Ok(Json(serde_json::json!({ "status": "applied", "id": id, "result": result })).into_response())
}

async fn machine_of(hub: &HubState, viewer: &Viewer, key: &str) -> Result<MachineRow, ApiError> {
    hub.store
        .find_machine(&viewer.account_id, key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("machine {key:?}")))
}

/// The last-known content of a text file and its hash.
async fn current(hub: &HubState, machine: &str, project: &str, path: &str) -> Result<(String, String), ApiError> {
    let (row, bytes) = hub
        .store
        .get_file(machine, project, path)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("file {path:?}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::new(ErrorCode::Invalid, format!("{path} is not UTF-8 text")))?;
    Ok((text, row.hash))
}

/// The author saw `seen`; the hub holds `hash`. A mismatch is a conflict
/// answered here, without bothering the bridge.
fn check_seen(seen: Option<&str>, hash: &str, content: &str) -> Result<(), ApiError> {
    match seen {
        Some(seen) if seen != hash => Err(ApiError(
            ErrorBody::new(ErrorCode::Conflict, "the file changed since you loaded it")
                .with_hint("reload to see the new version, or overwrite it knowingly")
                .with_details(serde_json::json!({
                    "current_hash": hash,
                    "current_content": Content::from_bytes(content.as_bytes()),
                })),
        )),
        _ => Ok(()),
    }
}

fn spec_error(err: SpecError) -> ApiError {
    let code = match err.code() {
        "conflict" => ErrorCode::Conflict,
        "not_found" => ErrorCode::NotFound,
        "forbidden" => ErrorCode::Forbidden,
        _ => ErrorCode::Invalid,
    };
    let hint = err.hint();
    let mut error = ApiError::new(code, err.to_string());
    if !hint.is_empty() {
        error = error.hint(hint);
    }
    error
}

fn now() -> Timestamp {
    Timestamp::from_unix_millis(now_ms())
}

#[derive(Debug, Deserialize)]
struct DocumentWrite {
    content: String,
    /// The hash the author started from; absent creates a new file.
    base_hash: Option<String>,
    #[serde(default)]
    queue: bool,
}

async fn write_document(
    State(hub): State<Arc<HubState>>,
    viewer: Viewer,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<DocumentWrite>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, path)), Json(body)) = (path?, body?);
    let machine = machine_of(&hub, &viewer, &machine).await?;
    let write = Write {
        machine,
        project,
        summary: format!("edit {path}"),
        path,
        content: body.content,
        base_hash: body.base_hash,
        queue: body.queue,
    };
    dispatch(&hub, &viewer, write).await
}

#[derive(Debug, Deserialize)]
struct FrontmatterEdit {
    status: Option<String>,
    priority: Option<String>,
    tags: Option<Vec<String>>,
    assignee: Option<String>,
    base_hash: Option<String>,
    #[serde(default)]
    queue: bool,
}

async fn frontmatter(
    State(hub): State<Arc<HubState>>,
    viewer: Viewer,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<FrontmatterEdit>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, name)), Json(body)) = (path?, body?);
    let machine = machine_of(&hub, &viewer, &machine).await?;
    specbridge_specs::validate_name("spec name", &name).map_err(spec_error)?;
    let path = format!("specs/{name}/README.md");
    let (text, hash) = current(&hub, &machine.id, &project, &path).await?;
    check_seen(body.base_hash.as_deref(), &hash, &text)?;
    let changes = FrontmatterChanges {
        status: body.status.as_deref().map(str::parse).transpose().map_err(spec_error)?,
        priority: body.priority.as_deref().map(str::parse).transpose().map_err(spec_error)?,
        tags: body.tags,
        assignee: body.assignee.map(|a| Some(a).filter(|a| !a.trim().is_empty())),
        ..FrontmatterChanges::default()
    };
    let mut summary: Vec<String> = Vec::new();
    if let Some(status) = changes.status {
        summary.push(format!("status -> {status}"));
    }
    if let Some(priority) = changes.priority {
        summary.push(format!("priority -> {priority}"));
    }
    let updated = update_frontmatter(&text, &changes, now()).map_err(spec_error)?;
    let summary = format!("{name}: {}", if summary.is_empty() { "frontmatter".to_owned() } else { summary.join(", ") });
    let write = Write { machine, project, path, content: updated, base_hash: Some(hash), summary, queue: body.queue };
    dispatch(&hub, &viewer, write).await
}

#[derive(Debug, Deserialize)]
struct TaskEdit {
    status: String,
    base_hash: Option<String>,
    #[serde(default)]
    queue: bool,
}

/// The workflow root of a project, from its layout.
pub(super) fn workflow_root(layout: &str) -> Option<WorkflowRoot> {
    match layout {
        "spec-workflow" => Some(WorkflowRoot::SpecWorkflow),
        "spec-context" => Some(WorkflowRoot::SpecContext),
        _ => None,
    }
}

async fn layout_of(hub: &HubState, machine: &str, project: &str) -> Result<String, ApiError> {
    let projects = hub.store.list_projects(machine).await?;
    projects
        .into_iter()
        .find(|p| p.id == project)
        .map(|p| p.layout)
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))
}

async fn task_status(
    State(hub): State<Arc<HubState>>,
    viewer: Viewer,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    body: Result<Json<TaskEdit>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, name, task)), Json(body)) = (path?, body?);
    let machine = machine_of(&hub, &viewer, &machine).await?;
    let layout = layout_of(&hub, &machine.id, &project).await?;
    let root = workflow_root(&layout)
        .ok_or_else(|| ApiError::new(ErrorCode::Invalid, format!("a {layout} project has no tasks.md")))?;
    let path = format!("{}/tasks.md", root.spec_dir(&name).map_err(spec_error)?);
    let (text, hash) = current(&hub, &machine.id, &project, &path).await?;
    check_seen(body.base_hash.as_deref(), &hash, &text)?;
    let status = TaskStatus::from_name(&body.status).map_err(spec_error)?;
    let updated = set_task_status(&text, &task, status, None).map_err(spec_error)?;
    let summary = format!("{name}: task {task} -> {}", body.status);
    let write = Write { machine, project, path, content: updated, base_hash: Some(hash), summary, queue: body.queue };
    dispatch(&hub, &viewer, write).await
}

#[derive(Debug, Deserialize)]
struct ApprovalAnswer {
    #[serde(default)]
    comment: String,
    response: Option<String>,
    #[serde(default)]
    queue: bool,
}

async fn approval(
    State(hub): State<Arc<HubState>>,
    viewer: Viewer,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    body: Result<Json<ApprovalAnswer>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (Path((machine, project, id, action)), Json(body)) = (path?, body?);
    let machine = machine_of(&hub, &viewer, &machine).await?;
    specbridge_specs::validate_approval_id(&id).map_err(spec_error)?;
    let action = ApprovalAction::parse(&action).map_err(spec_error)?;
    let layout = layout_of(&hub, &machine.id, &project).await?;
    let root = workflow_root(&layout)
        .ok_or_else(|| ApiError::new(ErrorCode::Invalid, format!("a {layout} project has no approvals")))?;
    let prefix = format!("{}/approvals/", root.dir());
    let suffix = format!("/{id}.json");
    let files = hub.store.list_files(&machine.id, &project).await?;
    let row = files
        .iter()
        .find(|f| f.path.starts_with(&prefix) && f.path.ends_with(&suffix))
        .ok_or_else(|| ApiError::not_found(format!("approval {id:?}")))?;
    let (text, hash) = current(&hub, &machine.id, &project, &row.path).await?;
    let title = parse_approval(&text).map(|a| a.title).unwrap_or_else(|_| id.clone());
    let comments: Vec<ApprovalComment> = Some(body.comment.trim())
        .filter(|c| !c.is_empty())
        .map(|c| ApprovalComment::general(c, &now().to_iso_millis(), None))
        .into_iter()
        .collect();
    let updated = apply_action(&text, action, body.response.as_deref(), &comments, now()).map_err(spec_error)?;
    let verb = match action {
        ApprovalAction::Approve => "approve",
        ApprovalAction::Reject => "reject",
        ApprovalAction::NeedsRevision => "needs revision",
    };
    let summary = format!("{title}: {verb}");
    let write = Write {
        machine,
        project,
        path: row.path.clone(),
        content: updated,
        base_hash: Some(hash),
        summary,
        queue: body.queue,
    };
    dispatch(&hub, &viewer, write).await
}
