//! The one error type of this crate, with stable codes the bridge maps onto protocol errors.

use thiserror::Error;

/// Everything that can go wrong while parsing or editing a spec file's contents.
///
/// Each variant maps to one stable [`code`](SpecError::code) (`conflict`, `not_found`, `invalid`,
/// `forbidden`, `open_items`, `skips_planned`) and carries a [`hint`](SpecError::hint) that tells a
/// person what to do about it; [`details`](SpecError::details) carries numbers for programs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The file has no `---` YAML frontmatter block at its top.
    #[error("the file has no YAML frontmatter (a `---` block at the top)")]
    NoFrontmatter,
    /// The frontmatter opens with `---` but never closes.
    #[error("the frontmatter is not closed by a `---` line")]
    UnclosedFrontmatter,
    /// No task with this id exists in the tasks document.
    #[error("task {id} not found")]
    TaskNotFound {
        /// The id that was asked for, e.g. `1.2`.
        id: String,
    },
    /// A value handed in (or read from a file) is not acceptable for this field.
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field or argument, e.g. `status`, `tags`, `approval id`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The key is maintained automatically (timestamps, transitions) and cannot be set directly.
    #[error("`{key}` is maintained automatically and cannot be set directly")]
    ReservedKey {
        /// The refused key.
        key: String,
    },
    /// A JSON document (approval, snapshot, metadata, legacy log) could not be read.
    #[error("{what} is not valid JSON: {reason}")]
    Json {
        /// Which kind of document, e.g. `approval`.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A JSON document parsed but lacks a field spec-workflow always writes.
    #[error("{what} lacks the `{field}` field")]
    MissingField {
        /// Which kind of document.
        what: &'static str,
        /// The missing field, in its on-disk spelling.
        field: &'static str,
    },
    /// The approval was already answered, so a new decision would overwrite someone else's.
    #[error("approval is already {status}")]
    ApprovalNotPending {
        /// The status found on disk.
        status: String,
    },
    /// An approval decision lacks the input spec-workflow requires for it.
    #[error("{action} needs {what}")]
    MissingInput {
        /// The action, e.g. `reject`.
        action: &'static str,
        /// What it needs, e.g. `a response explaining why`.
        what: &'static str,
    },
    /// No snapshot with this version is listed in the metadata.
    #[error("snapshot version {version} not found")]
    SnapshotNotFound {
        /// The version asked for.
        version: u32,
    },
    /// An implementation log file lacks its task id or log id.
    #[error("implementation log is missing its {what}")]
    ImplLog {
        /// What was missing, e.g. `task id`.
        what: &'static str,
    },
    /// A new implementation log entry names a task that tasks.md does not have. The message is
    /// spec-workflow's `log-implementation` tool's, word for word.
    #[error("Task '{task_id}' not found in specification '{spec}'")]
    LogTaskNotFound {
        /// The task id the entry was for.
        task_id: String,
        /// The spec name.
        spec: String,
    },
    /// LeanSpec refuses `--status complete` while checklist items are unchecked (unless forced).
    #[error("spec has {count} outstanding checklist item(s)")]
    OpenItems {
        /// How many `- [ ]` items LeanSpec counts in the body.
        count: usize,
    },
    /// LeanSpec refuses to move a `draft` spec to `in-progress` or `complete` (unless forced).
    #[error("cannot skip the `planned` stage: {to} straight from draft")]
    SkipsPlanned {
        /// The status asked for.
        to: &'static str,
    },
    /// The approval lies in a folder spec-workflow 2.x no longer reads
    /// (`approvals/<spec>/<document>/approval_*.json`): a decision there would never reach the agent.
    #[error("{path} is a legacy nested approval that spec-workflow no longer reads")]
    LegacyApproval {
        /// The approval file, project-relative.
        path: String,
    },
}

impl SpecError {
    /// The stable error code: one of `conflict`, `not_found`, `invalid`, `forbidden`,
    /// `open_items` (completing with unchecked items; see [`details`](SpecError::details)) or
    /// `skips_planned` (draft straight to in-progress or complete). The last two are answered by
    /// repeating the request with `force`.
    pub fn code(&self) -> &'static str {
        match self {
            SpecError::TaskNotFound { .. } | SpecError::SnapshotNotFound { .. } | SpecError::LogTaskNotFound { .. } => {
                "not_found"
            }
            SpecError::ApprovalNotPending { .. } => "conflict",
            SpecError::ReservedKey { .. } | SpecError::LegacyApproval { .. } => "forbidden",
            SpecError::OpenItems { .. } => "open_items",
            SpecError::SkipsPlanned { .. } => "skips_planned",
            SpecError::NoFrontmatter
            | SpecError::UnclosedFrontmatter
            | SpecError::InvalidValue { .. }
            | SpecError::Json { .. }
            | SpecError::MissingField { .. }
            | SpecError::MissingInput { .. }
            | SpecError::ImplLog { .. } => "invalid",
        }
    }

    /// A short, human-readable suggestion for fixing the problem.
    pub fn hint(&self) -> &'static str {
        match self {
            SpecError::NoFrontmatter => "add a `---` block with at least `status:` at the top of README.md",
            SpecError::UnclosedFrontmatter => "add a line with only `---` after the last frontmatter key",
            SpecError::TaskNotFound { .. } => "reload tasks.md: the task may have been renumbered or removed",
            SpecError::InvalidValue { .. } => "check the value against the allowed values for this field",
            SpecError::ReservedKey { .. } => "change `status` instead: timestamps and transitions follow it",
            SpecError::Json { .. } | SpecError::MissingField { .. } => {
                "the file was edited by hand or truncated; fix or delete it locally"
            }
            SpecError::ApprovalNotPending { .. } => "reload the approval: someone already answered it",
            SpecError::MissingInput { .. } => "add the missing response or comments and try again",
            SpecError::SnapshotNotFound { .. } => "list the snapshots again and pick an existing version",
            SpecError::ImplLog { .. } => "the log needs `# Implementation Log: Task <id>` and `**Log ID:**` lines",
            SpecError::LogTaskNotFound { .. } => "check the task id in the spec's tasks.md",
            SpecError::OpenItems { .. } => "check the remaining items, or complete anyway with force",
            SpecError::SkipsPlanned { .. } => "move the spec to planned first, or pass force",
            SpecError::LegacyApproval { .. } => {
                "shown read-only: ask the agent to request the approval again so it lands where spec-workflow reads"
            }
        }
    }

    /// Structured details for programs, e.g. `{"open_items": 5}` for `open_items`, so a dashboard
    /// can ask "5 items are unchecked — complete anyway?" without parsing the message.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            SpecError::OpenItems { count } => Some(serde_json::json!({ "open_items": count })),
            SpecError::SkipsPlanned { to } => Some(serde_json::json!({ "from": "draft", "to": to })),
            SpecError::LogTaskNotFound { task_id, spec } => {
                Some(serde_json::json!({ "task_id": task_id, "spec": spec }))
            }
            _ => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::InvalidValue { field: field.into(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(SpecError::TaskNotFound { id: "1".into() }.code(), "not_found");
        assert_eq!(SpecError::ApprovalNotPending { status: "approved".into() }.code(), "conflict");
        assert_eq!(SpecError::ReservedKey { key: "updated_at".into() }.code(), "forbidden");
        assert_eq!(SpecError::NoFrontmatter.code(), "invalid");
        assert!(!SpecError::NoFrontmatter.hint().is_empty());
        let open = SpecError::OpenItems { count: 5 };
        assert_eq!((open.code(), open.details()), ("open_items", Some(serde_json::json!({ "open_items": 5 }))));
        assert_eq!(SpecError::SkipsPlanned { to: "complete" }.code(), "skips_planned");
        assert_eq!(SpecError::LegacyApproval { path: "a".into() }.code(), "forbidden");
        let log = SpecError::LogTaskNotFound { task_id: "9".into(), spec: "auth".into() };
        assert_eq!((log.code(), log.to_string().as_str()), ("not_found", "Task '9' not found in specification 'auth'"));
    }
}
