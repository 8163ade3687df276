//! Read models for the dashboard, built from the last-known files in the
//! store: they work the same whether the machine is online or asleep, which
//! is what keeps an offline machine readable.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::machines;
use crate::store::{FileRow, MachineRow, ProjectRow};
use crate::HubState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use specbridge_protocol::{ErrorCode, Layout};
use specbridge_specs::{build_project, parse_spec, FileEntry, LeanSpec, Timestamp, WorkflowProject, WorkflowRoot};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest file the content route returns as text.
const MAX_CONTENT_BYTES: usize = 2 * 1024 * 1024;

pub(super) fn routes() -> Router<Arc<HubState>> {
    let base = "/v1/machines/{machine}/projects/{project}";
    Router::new()
        .route("/v1/dashboard/machines", get(machine_list))
        .route(&format!("{base}/model"), get(model))
        .route(&format!("{base}/content/{{*path}}"), get(content))
        .route(&format!("{base}/model/specs/{{name}}/tasks"), get(tasks))
}

/// A machine with its projects, as the dashboard lists it.
#[derive(Debug, Serialize)]
pub(super) struct MachineView {
    #[serde(flatten)]
    machine: MachineRow,
    projects: Vec<ProjectRow>,
}

/// Every machine of an account, with live presence from the router.
pub(super) async fn machine_views(hub: &HubState, account: &str) -> Result<Vec<MachineView>, ApiError> {
    let mut views = Vec::new();
    for machine in machines::list(hub, account).await? {
        let projects = hub.store.list_projects(&machine.id).await?;
        views.push(MachineView { machine, projects });
    }
    Ok(views)
}

async fn machine_list(State(hub): State<Arc<HubState>>, caller: Caller) -> Result<Json<Vec<MachineView>>, ApiError> {
    Ok(Json(machine_views(&hub, &caller.account_id).await?))
}

/// The spec-workflow / spec-context root of a layout.
fn workflow_root(layout: Layout) -> Option<WorkflowRoot> {
    match layout {
        Layout::SpecWorkflow => Some(WorkflowRoot::SpecWorkflow),
        Layout::SpecContext => Some(WorkflowRoot::SpecContext),
        Layout::LeanSpec | Layout::Generic => None,
    }
}

/// A LeanSpec spec with the hash of its README (the base hash for edits).
#[derive(Debug, Serialize)]
struct SpecView {
    path: String,
    hash: String,
    #[serde(flatten)]
    spec: LeanSpec,
}

/// Everything the dashboard shows about one project.
#[derive(Debug, Serialize)]
struct ProjectModel {
    machine: MachineRow,
    project: ProjectRow,
    /// LeanSpec specs, by folder name.
    specs: Vec<SpecView>,
    /// spec-workflow / spec-context model.
    workflow: Option<WorkflowProject>,
    /// Every stored file (path, hash, size): the base hashes for edits.
    files: Vec<FileRow>,
    /// Files that could not be parsed.
    problems: Vec<String>,
}

/// A LeanSpec README path's folder name: `specs/001-x/README.md` -> `001-x`.
fn leanspec_dir(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("specs/")?;
    let (dir, file) = rest.split_once('/')?;
    (file == "README.md").then_some(dir)
}

async fn model(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project)) = path?;
    let machine = machines::find(&hub, &caller, &machine).await?;
    let project = hub
        .store
        .list_projects(&machine.id)
        .await?
        .into_iter()
        .find(|p| p.id == project)
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))?;
    let files = hub.store.list_files(&machine.id, &project.id).await?;
    let root = workflow_root(project.layout);
    let wanted = |path: &str| match root {
        Some(root) => path.starts_with(root.dir()) && (path.ends_with(".md") || path.ends_with(".json")),
        None => leanspec_dir(path).is_some(),
    };
    let mut texts: HashMap<String, String> = HashMap::new();
    for row in files.iter().filter(|f| wanted(&f.path)) {
        if let Some((_, bytes)) = hub.store.get_file(&machine.id, &project.id, &row.path).await? {
            if let Ok(text) = String::from_utf8(bytes) {
                texts.insert(row.path.clone(), text);
            }
        }
    }
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    let workflow = match root {
        Some(root) => {
            let entries: Vec<FileEntry> = files
                .iter()
                .map(|f| FileEntry { path: f.path.clone(), modified: Some(Timestamp::from_unix_millis(f.mtime_ms)) })
                .collect();
            Some(build_project(root, &entries, &|p| texts.get(p).cloned()))
        }
        None => {
            for row in &files {
                let (Some(dir), Some(text)) = (leanspec_dir(&row.path), texts.get(&row.path)) else { continue };
                match parse_spec(dir, text) {
                    Ok(spec) => specs.push(SpecView { path: row.path.clone(), hash: row.hash.clone(), spec }),
                    Err(err) => problems.push(format!("{}: {err}", row.path)),
                }
            }
            None
        }
    };
    Ok(Json(ProjectModel { machine, project, specs, workflow, files, problems }).into_response())
}

async fn content(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project, path)) = path?;
    let (row, bytes) = machines::stored_file(&hub, &caller, &machine, &project, &path).await?;
    if bytes.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("{path} is over 2 MiB")).hint("open it on the machine"));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        ApiError::new(ErrorCode::Invalid, format!("{path} is not UTF-8 text")).hint("binary files are not shown")
    })?;
    Ok(Json(serde_json::json!({ "path": row.path, "hash": row.hash, "mtime_ms": row.mtime_ms, "content": text }))
        .into_response())
}

/// A spec-workflow spec's tasks.md, parsed, with its hash.
async fn tasks(
    State(hub): State<Arc<HubState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((machine, project, name)) = path?;
    let machine = machines::find(&hub, &caller, &machine).await?;
    let layout = hub.store.list_projects(&machine.id).await?.into_iter().find(|p| p.id == project).map(|p| p.layout);
    let root = layout
        .and_then(workflow_root)
        .ok_or_else(|| ApiError::not_found(format!("spec-workflow project {project:?}")))?;
    let dir = root.spec_dir(&name).map_err(|e| ApiError::new(ErrorCode::Invalid, e.to_string()))?;
    let path = format!("{dir}/tasks.md");
    let (row, bytes) = hub
        .store
        .get_file(&machine.id, &project, &path)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("file {path:?}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let tasks = specbridge_specs::parse_tasks(&text);
    Ok(Json(serde_json::json!({ "path": row.path, "hash": row.hash, "tasks": tasks })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leanspec_readmes_are_recognised() {
        assert_eq!(leanspec_dir("specs/001-login/README.md"), Some("001-login"));
        assert_eq!(leanspec_dir("specs/001-login/DESIGN.md"), None);
        assert_eq!(leanspec_dir("specs/README.md"), None);
        assert_eq!(leanspec_dir("docs/001/README.md"), None);
    }
}
