//! New implementation log entries, as spec-workflow's `log-implementation` tool makes them
//! (`src/tools/log-implementation.ts`) and its `ImplementationLogManager.addLogEntry` writes them
//! (`src/dashboard/implementation-log-manager.ts`): one markdown file per entry in
//! `specs/{name}/Implementation Logs/`.

use serde::Deserialize;

use crate::error::SpecError;
use crate::impl_log::{ImplLogEntry, LogArtifacts, LogStatistics};
use crate::paths::WorkflowRoot;
use crate::tasks::parse_tasks;
use crate::time::Timestamp;

/// Line counts as a caller sends them: any of them may be left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogStatisticsInput {
    /// Lines added (0 when absent).
    #[serde(alias = "lines_added")]
    pub lines_added: Option<u64>,
    /// Lines removed (0 when absent).
    #[serde(alias = "lines_removed")]
    pub lines_removed: Option<u64>,
    /// Files changed; when absent, the number of modified plus created files, as the tool
    /// computes it.
    #[serde(alias = "files_changed")]
    pub files_changed: Option<u64>,
}

/// What a caller sends to log an implementation: the tool's arguments, in its camelCase or in
/// snake_case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryInput {
    /// The task, e.g. `1.3`; must exist in the spec's tasks.md.
    #[serde(alias = "task_id")]
    pub task_id: String,
    /// One line.
    pub summary: String,
    /// Paths.
    #[serde(default, alias = "files_modified")]
    pub files_modified: Vec<String>,
    /// Paths.
    #[serde(default, alias = "files_created")]
    pub files_created: Vec<String>,
    /// Line counts.
    #[serde(default)]
    pub statistics: LogStatisticsInput,
    /// Required, as by the tool (an empty object is accepted, as there).
    #[serde(default)]
    pub artifacts: Option<LogArtifacts>,
}

/// A new entry and the file to write for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogFile {
    /// The entry as it will read back.
    pub entry: ImplLogEntry,
    /// `{root}/specs/{spec}/Implementation Logs/task-<id>_<stamp>_<id8>.md`.
    pub path: String,
    /// Its markdown.
    pub markdown: String,
}

/// Builds a new entry the way `log-implementation` does, checking what it checks:
/// - `artifacts` must be given (`invalid`);
/// - the task must exist in `tasks_md` (`None` when the spec has no tasks.md), or the answer is
///   [`SpecError::LogTaskNotFound`]: `Task 'X' not found in specification 'Y'`;
/// - `statistics` missing values are 0, and a missing `filesChanged` is
///   `filesModified.len() + filesCreated.len()`.
///
/// `id` is the caller's UUID; `now` stamps the entry and its file name.
pub fn new_log_entry(
    root: WorkflowRoot,
    spec: &str,
    tasks_md: Option<&str>,
    input: &LogEntryInput,
    id: &str,
    now: Timestamp,
) -> Result<NewLogFile, SpecError> {
    let dir = root.impl_log_dir(spec)?;
    let Some(artifacts) = input.artifacts.clone() else {
        return Err(SpecError::invalid(
            "artifacts",
            "is required: apiEndpoints, components, functions, classes or integrations",
        ));
    };
    let known = tasks_md.is_some_and(|t| parse_tasks(t).iter().any(|t| t.id == input.task_id));
    if !known {
        return Err(SpecError::LogTaskNotFound { task_id: input.task_id.clone(), spec: spec.to_string() });
    }
    let s = input.statistics;
    let files = (input.files_modified.len() + input.files_created.len()) as u64;
    let entry = ImplLogEntry {
        id: id.to_string(),
        task_id: input.task_id.clone(),
        timestamp: now.to_iso_millis(),
        summary: input.summary.clone(),
        files_modified: input.files_modified.clone(),
        files_created: input.files_created.clone(),
        statistics: LogStatistics {
            lines_added: s.lines_added.unwrap_or(0),
            lines_removed: s.lines_removed.unwrap_or(0),
            files_changed: s.files_changed.unwrap_or(files),
        },
        artifacts,
    };
    let (file_name, markdown) = render_entry(&entry, now)?;
    Ok(NewLogFile { entry, path: format!("{dir}/{file_name}"), markdown })
}

/// The file name and markdown for a new entry, as spec-workflow's `addLogEntry` writes them.
/// `entry.id` is the caller's UUID; `now` stamps the file name.
pub fn render_entry(entry: &ImplLogEntry, now: Timestamp) -> Result<(String, String), SpecError> {
    let ok_id = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if entry.task_id.is_empty() || !entry.task_id.chars().all(ok_id) {
        return Err(SpecError::invalid("task id", "must use letters, digits, `.`, `-` or `_`"));
    }
    if entry.id.is_empty() || !entry.id.chars().all(ok_id) {
        return Err(SpecError::invalid("log id", "must be a UUID"));
    }
    if [&entry.summary, &entry.timestamp].iter().any(|s| s.contains(['\n', '\r'])) {
        return Err(SpecError::invalid("summary", "must be a single line"));
    }
    let id8: String = entry.id.chars().take(8).collect();
    let file_name = format!("task-{}_{}_{id8}.md", entry.task_id.replace(['/', '.'], "-"), now.to_log_file_stamp());
    Ok((file_name, render_markdown(entry)))
}

fn render_markdown(e: &ImplLogEntry) -> String {
    let s = &e.statistics;
    let mut md = format!("# Implementation Log: Task {}\n\n**Summary:** {}\n\n", e.task_id, e.summary);
    md += &format!("**Timestamp:** {}\n**Log ID:** {}\n\n---\n\n## Statistics\n\n", e.timestamp, e.id);
    md += &format!("- **Lines Added:** +{}\n- **Lines Removed:** -{}\n", s.lines_added, s.lines_removed);
    let net = i128::from(s.lines_added) - i128::from(s.lines_removed);
    md += &format!("- **Files Changed:** {}\n- **Net Change:** {net}\n\n", s.files_changed);
    for (title, files, none) in
        [("Modified", &e.files_modified, "_No files modified_"), ("Created", &e.files_created, "_No files created_")]
    {
        md += &format!("## Files {title}\n");
        if files.is_empty() {
            md += &format!("{none}\n");
        }
        for f in files {
            md += &format!("- {f}\n");
        }
        md += "\n";
    }
    md += "---\n\n## Artifacts\n\n";
    let a = &e.artifacts;
    if a.is_empty() {
        md += "_No artifacts recorded_\n";
        return md;
    }
    let opt = |label: &str, v: &Option<String>| {
        v.as_ref().filter(|s| !s.is_empty()).map_or(String::new(), |v| format!("- **{label}:** {v}\n"))
    };
    let yes_no = |b: bool| if b { "Yes" } else { "No" };
    if !a.api_endpoints.is_empty() {
        md += "### API Endpoints\n\n";
        for x in &a.api_endpoints {
            md += &format!(
                "#### {} {}\n- **Purpose:** {}\n- **Location:** {}\n",
                x.method, x.path, x.purpose, x.location
            );
            md += &(opt("Request Format", &x.request_format) + &opt("Response Format", &x.response_format) + "\n");
        }
    }
    if !a.components.is_empty() {
        md += "### Components\n\n";
        for x in &a.components {
            md += &format!(
                "#### {}\n- **Type:** {}\n- **Purpose:** {}\n- **Location:** {}\n",
                x.name, x.kind, x.purpose, x.location
            );
            md += &opt("Props", &x.props);
            if !x.exports.is_empty() {
                md += &format!("- **Exports:** {}\n", x.exports.join(", "));
            }
            md += "\n";
        }
    }
    if !a.functions.is_empty() {
        md += "### Functions\n\n";
        for x in &a.functions {
            md += &format!("#### {}\n- **Purpose:** {}\n- **Location:** {}\n", x.name, x.purpose, x.location);
            md += &format!("{}- **Exported:** {}\n\n", opt("Signature", &x.signature), yes_no(x.is_exported));
        }
    }
    if !a.classes.is_empty() {
        md += "### Classes\n\n";
        for x in &a.classes {
            md += &format!("#### {}\n- **Purpose:** {}\n- **Location:** {}\n", x.name, x.purpose, x.location);
            if !x.methods.is_empty() {
                md += &format!("- **Methods:** {}\n", x.methods.join(", "));
            }
            md += &format!("- **Exported:** {}\n\n", yes_no(x.is_exported));
        }
    }
    if !a.integrations.is_empty() {
        md += "### Integrations\n\n";
        for x in &a.integrations {
            md += &format!(
                "#### Integration\n- **Description:** {}\n- **Frontend Component:** {}\n- **Backend Endpoint:** {}\n- **Data Flow:** {}\n\n",
                x.description, x.frontend_component, x.backend_endpoint, x.data_flow
            );
        }
    }
    md
}
