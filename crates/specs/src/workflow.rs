//! The spec-workflow / spec-context project model, built from a list of files and a way to read
//! them. The caller owns the file system: it lists paths (relative to the project root, `/`
//! separated) with their modification times and hands in a reader.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::approvals::{parse_approval, Approval};
use crate::error::SpecError;
use crate::impl_log::{parse_legacy_log, parse_log_markdown, ImplLogEntry};
use crate::paths::{ApprovalLocation, WorkflowRoot, SPEC_DOCUMENTS};
use crate::tasks::{task_progress, TaskProgress};
use crate::time::Timestamp;
use crate::workflow_status::{workflow_status, SpecDocuments, WorkflowStatus};

/// A file the caller knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the project root, `/`-separated, e.g. `.spec-workflow/specs/auth/tasks.md`.
    pub path: String,
    /// Modification time, when known.
    pub modified: Option<Timestamp>,
}

/// One of a spec's documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecDocument {
    /// `requirements`, `design` or `tasks`.
    pub name: &'static str,
    /// Project-relative path.
    pub path: String,
    /// Modification time.
    pub modified: Option<Timestamp>,
}

/// A spec folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// The folder name.
    pub name: String,
    /// `auth-flow` → `Auth Flow`, as spec-workflow shows it.
    pub display_name: String,
    /// The documents present, in workflow order.
    pub documents: Vec<SpecDocument>,
    /// From tasks.md, when present.
    pub task_progress: Option<TaskProgress>,
    /// The status spec-workflow's `spec-status` tool derives (see [`workflow_status`]).
    pub status: WorkflowStatus,
    /// The newest modification time among the spec's files.
    pub last_modified: Option<Timestamp>,
}

/// A steering document's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SteeringDoc {
    /// `product`, `tech`, `structure` or `principles`.
    pub name: &'static str,
    /// Project-relative path.
    pub path: String,
    /// Whether the file exists.
    pub exists: bool,
    /// Modification time.
    pub modified: Option<Timestamp>,
}

/// An approval file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalFile {
    /// Project-relative path.
    pub path: String,
    /// The approval.
    pub approval: Approval,
}

/// One implementation log file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImplLogFile {
    /// The spec it belongs to.
    pub spec: String,
    /// Project-relative path.
    pub path: String,
    /// One entry for a markdown file, many for a legacy JSON log.
    pub entries: Vec<ImplLogEntry>,
}

/// A file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProblem {
    /// Project-relative path.
    pub path: String,
    /// The error's stable code.
    pub code: &'static str,
    /// The error's message.
    pub message: String,
}

/// Everything a dashboard shows about a spec-workflow / spec-context project.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowProject {
    /// Which layout.
    pub root: WorkflowRoot,
    /// Active specs, by name.
    pub specs: Vec<WorkflowSpec>,
    /// Specs under `archive/specs/`, by name.
    pub archived_specs: Vec<WorkflowSpec>,
    /// Steering documents this layout knows, present or not.
    pub steering: Vec<SteeringDoc>,
    /// Approval files spec-workflow reads (`approvals/{category}/*.json`), newest first: the
    /// ones to list, count and decide.
    pub approvals: Vec<ApprovalFile>,
    /// Legacy nested approvals (`approvals/{spec}/{document}/approval_*.json`), newest first.
    /// spec-workflow 2.x never reads them: show them read-only, never count them as pending,
    /// never decide them ([`WorkflowRoot::check_approval_path`] refuses).
    pub legacy_approvals: Vec<ApprovalFile>,
    /// Implementation logs.
    pub impl_logs: Vec<ImplLogFile>,
    /// Files that could not be read or parsed (the rest of the model is still built).
    pub problems: Vec<FileProblem>,
}

/// Builds the project model. `read` returns a file's contents by its project-relative path.
pub fn build_project(
    root: WorkflowRoot,
    files: &[FileEntry],
    read: &dyn Fn(&str) -> Option<String>,
) -> WorkflowProject {
    let prefix = format!("{}/", root.dir());
    let mut active: BTreeMap<String, Vec<(&str, &FileEntry)>> = BTreeMap::new();
    let mut archived: BTreeMap<String, Vec<(&str, &FileEntry)>> = BTreeMap::new();
    let mut project = WorkflowProject {
        root,
        specs: Vec::new(),
        archived_specs: Vec::new(),
        steering: Vec::new(),
        approvals: Vec::new(),
        legacy_approvals: Vec::new(),
        impl_logs: Vec::new(),
        problems: Vec::new(),
    };
    let mut problems = Vec::new();
    for f in files {
        let Some(rel) = f.path.trim_start_matches("./").strip_prefix(&prefix) else { continue };
        let parts: Vec<&str> = rel.split('/').collect();
        match parts.as_slice() {
            ["specs", name, rest @ ..] if !rest.is_empty() => {
                active.entry(name.to_string()).or_default().push((rel, f))
            }
            ["archive", "specs", name, rest @ ..] if !rest.is_empty() => {
                archived.entry(name.to_string()).or_default().push((rel, f));
            }
            ["approvals", ..] => {
                let list = match root.approval_location(&f.path) {
                    ApprovalLocation::Current { .. } => &mut project.approvals,
                    ApprovalLocation::Legacy => &mut project.legacy_approvals,
                    ApprovalLocation::NotApproval => continue,
                };
                match read(&f.path).ok_or_else(unreadable).and_then(|t| parse_approval(&t)) {
                    Ok(approval) => list.push(ApprovalFile { path: f.path.clone(), approval }),
                    Err(e) => problems.push(problem(&f.path, e)),
                }
            }
            _ => {}
        }
    }
    for (name, files) in &active {
        project.specs.push(spec_model(name, files, read, &mut project.impl_logs, &mut problems));
    }
    for (name, files) in &archived {
        project.archived_specs.push(spec_model(name, files, read, &mut Vec::new(), &mut problems));
    }
    for name in root.steering_docs() {
        let path = format!("{prefix}steering/{name}.md");
        let found = files.iter().find(|f| f.path.trim_start_matches("./") == path);
        project.steering.push(SteeringDoc {
            name,
            path,
            exists: found.is_some(),
            modified: found.and_then(|f| f.modified),
        });
    }
    project.approvals.sort_by(|a, b| b.approval.created_at.cmp(&a.approval.created_at));
    project.legacy_approvals.sort_by(|a, b| b.approval.created_at.cmp(&a.approval.created_at));
    project.problems = problems;
    project
}

fn problem(path: &str, e: SpecError) -> FileProblem {
    FileProblem { path: path.to_string(), code: e.code(), message: e.to_string() }
}

fn unreadable() -> SpecError {
    SpecError::invalid("file", "could not be read as UTF-8 text")
}

fn spec_model(
    name: &str,
    files: &[(&str, &FileEntry)],
    read: &dyn Fn(&str) -> Option<String>,
    logs: &mut Vec<ImplLogFile>,
    problems: &mut Vec<FileProblem>,
) -> WorkflowSpec {
    let mut spec = WorkflowSpec {
        name: name.to_string(),
        display_name: display_name(name),
        documents: Vec::new(),
        task_progress: None,
        status: WorkflowStatus::RequirementsNeeded,
        last_modified: files.iter().filter_map(|(_, f)| f.modified).max(),
    };
    let mut docs = SpecDocuments::default();
    for doc in SPEC_DOCUMENTS {
        let file_name = format!("{doc}.md");
        let Some((_, f)) = files.iter().find(|(rel, _)| rel.rsplit('/').next() == Some(&file_name) && depth(rel) == 1)
        else {
            continue;
        };
        spec.documents.push(SpecDocument { name: doc, path: f.path.clone(), modified: f.modified });
        match doc {
            "requirements" => docs.requirements = true,
            "design" => docs.design = true,
            _ => {
                spec.task_progress = read(&f.path).map(|t| task_progress(&t));
                docs.tasks = Some(spec.task_progress);
            }
        }
    }
    spec.status = workflow_status(docs);
    for (rel, f) in files {
        let in_log_dir = rel.contains("/Implementation Logs/") && rel.ends_with(".md") && depth(rel) == 2;
        let legacy = rel.ends_with("/implementation-log.json") && depth(rel) == 1;
        if !(in_log_dir || legacy) {
            continue;
        }
        let parsed = read(&f.path).ok_or_else(unreadable).and_then(|text| {
            if legacy {
                parse_legacy_log(&text)
            } else {
                parse_log_markdown(&text).map(|e| vec![e])
            }
        });
        match parsed {
            Ok(entries) => logs.push(ImplLogFile { spec: name.to_string(), path: f.path.clone(), entries }),
            Err(e) => problems.push(problem(&f.path, e)),
        }
    }
    spec
}

// Folder depth below the spec folder: `specs/x/tasks.md` is 1.
fn depth(rel: &str) -> usize {
    let skip = if rel.starts_with("archive/") { 3 } else { 2 };
    rel.split('/').count().saturating_sub(skip)
}

/// `auth-flow` → `Auth Flow`.
pub fn display_name(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_uppercase().collect::<String>() + c.as_str())
        })
        .collect::<Vec<_>>()
        .join(" ")
}
