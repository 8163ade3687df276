//! spec-workflow implementation logs: one markdown file per entry in
//! `specs/{name}/Implementation Logs/task-<id>_<stamp>_<id8>.md`, or the legacy
//! `implementation-log.json`. Reading follows spec-workflow's `ImplementationLogManager` line
//! for line; new entries are made in `impl_log_add.rs`, so entries written here read back there.

use serde::{Deserialize, Serialize};

use crate::error::SpecError;
use crate::time::Timestamp;

/// Line counts of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatistics {
    /// Lines added.
    pub lines_added: u64,
    /// Lines removed.
    pub lines_removed: u64,
    /// Files changed.
    pub files_changed: u64,
}

/// An API endpoint an entry recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiEndpoint {
    /// GET, POST, …
    pub method: String,
    /// `/api/status`
    pub path: String,
    /// What it does.
    pub purpose: String,
    /// `file:line`.
    pub location: String,
    /// Request format, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_format: Option<String>,
    /// Response format, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
}

/// A UI (or other) component an entry recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ComponentInfo {
    /// Name.
    pub name: String,
    /// `React`, `Rust struct`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// What it does.
    pub purpose: String,
    /// Where it lives.
    pub location: String,
    /// Props, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<String>,
    /// What it exports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
}

/// A function an entry recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionInfo {
    /// Name.
    pub name: String,
    /// What it does.
    pub purpose: String,
    /// `file:line`.
    pub location: String,
    /// Signature, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether it is exported.
    pub is_exported: bool,
}

/// A class an entry recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClassInfo {
    /// Name.
    pub name: String,
    /// What it does.
    pub purpose: String,
    /// Where it lives.
    pub location: String,
    /// Its methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Whether it is exported.
    pub is_exported: bool,
}

/// A frontend/backend integration an entry recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Integration {
    /// What it does.
    pub description: String,
    /// The frontend side.
    pub frontend_component: String,
    /// The backend side.
    pub backend_endpoint: String,
    /// How data moves.
    pub data_flow: String,
}

/// The artifacts of an entry, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogArtifacts {
    /// API endpoints.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_endpoints: Vec<ApiEndpoint>,
    /// Components.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentInfo>,
    /// Functions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionInfo>,
    /// Classes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassInfo>,
    /// Integrations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrations: Vec<Integration>,
}

impl LogArtifacts {
    pub(crate) fn is_empty(&self) -> bool {
        self.api_endpoints.is_empty()
            && self.components.is_empty()
            && self.functions.is_empty()
            && self.classes.is_empty()
            && self.integrations.is_empty()
    }
}

/// One implementation log entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImplLogEntry {
    /// A UUID.
    pub id: String,
    /// The task, e.g. `1.3`.
    pub task_id: String,
    /// ISO timestamp.
    pub timestamp: String,
    /// One line.
    pub summary: String,
    /// Paths.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// Paths.
    #[serde(default)]
    pub files_created: Vec<String>,
    /// Line counts.
    #[serde(default)]
    pub statistics: LogStatistics,
    /// Artifacts.
    #[serde(default)]
    pub artifacts: LogArtifacts,
}

/// Reads one `Implementation Logs/*.md` file.
pub fn parse_log_markdown(text: &str) -> Result<ImplLogEntry, SpecError> {
    let mut e = ImplLogEntry::default();
    let mut section = "";
    let mut kind: Option<&'static str> = None;
    let mut item: Vec<(String, String)> = Vec::new();
    let mut header: Option<String> = None;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(v) = after(line, "**Log ID:**") {
            e.id = v;
        }
        if let Some(id) = line.strip_prefix("# Implementation Log: Task ") {
            e.task_id = id.trim().to_string();
        }
        if let Some(v) = after(line, "**Summary:**") {
            e.summary = v;
        }
        if let Some(v) = after(line, "**Timestamp:**") {
            e.timestamp = v;
        }
        if line.contains("**Lines Added:**") {
            e.statistics.lines_added = number_after(line, '+');
        }
        if line.contains("**Lines Removed:**") {
            e.statistics.lines_removed = number_after(line, '-');
        }
        if let Some(v) = after(line, "**Files Changed:**") {
            e.statistics.files_changed = number_after(&v, ' ');
        }
        if line.starts_with("## Files Modified")
            || line.starts_with("## Files Created")
            || line.starts_with("## Artifacts")
        {
            section = if line.contains("Modified") {
                "modified"
            } else if line.contains("Created") {
                "created"
            } else {
                "artifacts"
            };
            flush(&mut e.artifacts, kind, header.take(), &mut item);
            kind = None;
        } else if let Some(name) = line.strip_prefix("### ") {
            flush(&mut e.artifacts, kind, header.take(), &mut item);
            kind = artifact_kind(name);
        } else if let (Some(h), Some(_)) = (line.strip_prefix("#### "), kind) {
            flush(&mut e.artifacts, kind, header.take(), &mut item);
            header = Some(h.trim().to_string());
        } else if matches!(section, "modified" | "created") && line.starts_with("- ") && !line.contains("_No files") {
            let list = if section == "modified" { &mut e.files_modified } else { &mut e.files_created };
            list.push(line[2..].trim().to_string());
        } else if let (Some(_), Some((k, v))) = (kind, key_value(line)) {
            item.push((k, v));
        }
    }
    flush(&mut e.artifacts, kind, header.take(), &mut item);
    if e.task_id.is_empty() {
        return Err(SpecError::ImplLog { what: "task id" });
    }
    if e.id.is_empty() {
        return Err(SpecError::ImplLog { what: "log id" });
    }
    Ok(e)
}

fn after(line: &str, label: &str) -> Option<String> {
    line.find(label).map(|i| line[i + label.len()..].trim().to_string())
}

// The first run of digits after `sign` (or anywhere, for ' '), like spec-workflow's
// `/\+(\d+)/`, `/-(\d+)/` and `/(\d+)/`.
fn number_after(line: &str, sign: char) -> u64 {
    let b = line.as_bytes();
    let start = (0..b.len()).find_map(|i| match sign {
        ' ' => b[i].is_ascii_digit().then_some(i),
        _ => (b[i] == sign as u8 && b.get(i + 1).is_some_and(u8::is_ascii_digit)).then_some(i + 1),
    });
    let Some(start) = start else { return 0 };
    line[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

// `- **Key:** value` (the asterisks close after the colon), as spec-workflow matches it.
fn key_value(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("- **")?;
    let (key, value) = rest.split_once(":** ").or_else(|| rest.strip_suffix(":**").map(|k| (k, "")))?;
    (!key.contains(':')).then(|| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
}

fn artifact_kind(section: &str) -> Option<&'static str> {
    let s = section.to_ascii_lowercase();
    ["api endpoint", "component", "function", "class", "integration"].into_iter().find(|k| s.contains(k))
}

fn flush(artifacts: &mut LogArtifacts, kind: Option<&str>, header: Option<String>, item: &mut Vec<(String, String)>) {
    let fields = std::mem::take(item);
    let (Some(kind), Some(header)) = (kind, header) else { return };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| if v == "N/A" || v == "n/a" { String::new() } else { v.clone() })
    };
    let text = |k: &str| get(k).unwrap_or_default();
    let list = |k: &str| {
        get(k)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    };
    let exported = matches!(get("exported").as_deref(), Some("Yes" | "yes"));
    match kind {
        "api endpoint" => {
            let (method, path) = header.split_once(' ').unwrap_or(("", header.as_str()));
            artifacts.api_endpoints.push(ApiEndpoint {
                method: method.to_string(),
                path: path.to_string(),
                purpose: text("purpose"),
                location: text("location"),
                request_format: get("request format"),
                response_format: get("response format"),
            });
        }
        "component" => artifacts.components.push(ComponentInfo {
            name: header,
            kind: text("type"),
            purpose: text("purpose"),
            location: text("location"),
            props: get("props"),
            exports: list("exports"),
        }),
        "function" => artifacts.functions.push(FunctionInfo {
            name: header,
            purpose: text("purpose"),
            location: text("location"),
            signature: get("signature"),
            is_exported: exported,
        }),
        "class" => artifacts.classes.push(ClassInfo {
            name: header,
            purpose: text("purpose"),
            location: text("location"),
            methods: list("methods"),
            is_exported: exported,
        }),
        _ => artifacts.integrations.push(Integration {
            description: text("description"),
            frontend_component: text("frontend component"),
            backend_endpoint: text("backend endpoint"),
            data_flow: text("data flow"),
        }),
    }
}

/// Reads the legacy `implementation-log.json` (`{ "entries": [...], "lastUpdated": ... }`).
pub fn parse_legacy_log(text: &str) -> Result<Vec<ImplLogEntry>, SpecError> {
    #[derive(Deserialize)]
    struct Legacy {
        #[serde(default)]
        entries: Vec<ImplLogEntry>,
    }
    let legacy: Legacy = serde_json::from_str(text)
        .map_err(|e| SpecError::Json { what: "implementation log", reason: e.to_string() })?;
    Ok(legacy.entries)
}

/// Sorts entries newest first (spec-workflow's order).
pub fn sort_newest_first(entries: &mut [ImplLogEntry]) {
    let key = |e: &ImplLogEntry| Timestamp::parse(&e.timestamp).map_or(i64::MIN, Timestamp::unix_micros);
    entries.sort_by_key(|e| std::cmp::Reverse(key(e)));
}

/// Entries matching every whitespace-separated keyword (case-insensitive) in the summary, task id,
/// file paths or any artifact field, as spec-workflow's `searchLogs`.
pub fn search<'a>(entries: &'a [ImplLogEntry], query: &str) -> Vec<&'a ImplLogEntry> {
    let keywords: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    entries
        .iter()
        .filter(|e| {
            let haystack = searchable(e);
            keywords.iter().all(|k| haystack.iter().any(|h| h.contains(k.as_str())))
        })
        .collect()
}

fn searchable(e: &ImplLogEntry) -> Vec<String> {
    let a = &e.artifacts;
    let mut fields: Vec<&str> = vec![&e.summary, &e.task_id];
    fields.extend(e.files_modified.iter().chain(&e.files_created).map(String::as_str));
    for x in &a.api_endpoints {
        fields.extend([&x.method, &x.path, &x.purpose, &x.location].map(String::as_str));
        fields.extend(x.request_format.iter().chain(&x.response_format).map(String::as_str));
    }
    for x in &a.components {
        fields.extend([&x.name, &x.kind, &x.purpose, &x.location].map(String::as_str));
        fields.extend(x.props.iter().chain(&x.exports).map(String::as_str));
    }
    for x in &a.functions {
        fields.extend([&x.name, &x.purpose, &x.location].map(String::as_str));
        fields.extend(x.signature.iter().map(String::as_str));
    }
    for x in &a.classes {
        fields.extend([&x.name, &x.purpose, &x.location].map(String::as_str));
        fields.extend(x.methods.iter().map(String::as_str));
    }
    for x in &a.integrations {
        fields.extend([&x.description, &x.frontend_component, &x.backend_endpoint, &x.data_flow].map(String::as_str));
    }
    fields.into_iter().map(str::to_lowercase).collect()
}

/// Totals for one task, as spec-workflow's `getTaskStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLogStats {
    /// Entries for the task.
    pub total_implementations: usize,
    /// Sum of modified-file counts.
    pub total_files_modified: usize,
    /// Sum of created-file counts.
    pub total_files_created: usize,
    /// Sum of lines added.
    pub total_lines_added: u64,
    /// Sum of lines removed.
    pub total_lines_removed: u64,
    /// The newest entry.
    pub last_implementation: Option<ImplLogEntry>,
}

/// Totals over the entries of `task_id`.
pub fn task_stats(entries: &[ImplLogEntry], task_id: &str) -> TaskLogStats {
    let mut mine: Vec<ImplLogEntry> = entries.iter().filter(|e| e.task_id == task_id).cloned().collect();
    sort_newest_first(&mut mine);
    TaskLogStats {
        total_implementations: mine.len(),
        total_files_modified: mine.iter().map(|e| e.files_modified.len()).sum(),
        total_files_created: mine.iter().map(|e| e.files_created.len()).sum(),
        total_lines_added: mine.iter().map(|e| e.statistics.lines_added).sum(),
        total_lines_removed: mine.iter().map(|e| e.statistics.lines_removed).sum(),
        last_implementation: mine.into_iter().next(),
    }
}
