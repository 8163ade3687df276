//! The typed arguments of every command in the catalogue ([`crate::Call`]).
//!
//! Field names are the wire names (snake_case). Unknown fields are ignored, so
//! a newer hub may send more than an older bridge reads. A `base_hash` is the
//! content hash of the copy the author saw: the bridge refuses the edit with
//! `conflict` if the file on disk has another hash.

use crate::jobs::{JobAuditArgs, JobProposeArgs, JobRunArgs, JobUpdateArgs};
use crate::Content;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Arguments of a command that takes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoArgs {}

/// Arguments of `file-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReadArgs {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
}

/// Arguments of `file-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWriteArgs {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
    /// The new content (a plain string is read as UTF-8 text).
    pub content: Content,
    /// The hash of the version the author edited. `None` means "create": the
    /// write is refused with `conflict` if the file already exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// A spec by name: the LeanSpec folder (`012-auth`), number or slug, or the
/// spec-workflow folder name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecArgs {
    /// The spec.
    pub name: String,
}

/// A spec edit that only needs the spec (`spec-archive`, `spec-unarchive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecEditArgs {
    /// The spec.
    pub name: String,
    /// Hash of the file the author saw (the LeanSpec README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `spec-read` and `spec-archived-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecReadArgs {
    /// The spec.
    pub name: String,
    /// One document of it (`DESIGN.md`, `design`, `tasks` …); absent: the whole spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

/// `spec-document-write`: a whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentWriteArgs {
    /// The spec.
    pub name: String,
    /// The document (`README.md`, `DESIGN.md`, … or `requirements`, `design`, `tasks`).
    pub document: String,
    /// The new text.
    pub content: String,
    /// The version replaced; absent creates the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `task-status-update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusArgs {
    /// The spec.
    pub name: String,
    /// The task id (`2`, `1.3`), never a line number.
    pub task_id: String,
    /// `pending`, `in-progress`, `completed` (or `done`), `blocked`.
    pub status: String,
    /// Why a blocked task is blocked (written as spec-workflow's `_Blocked:` line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Hash of tasks.md as the author saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `steering-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteeringArgs {
    /// The steering document (`product`, `tech`, `structure`, `principles`).
    #[serde(alias = "name")]
    pub doc: String,
}

/// `steering-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteeringWriteArgs {
    /// The steering document.
    #[serde(alias = "name")]
    pub doc: String,
    /// The new text.
    pub content: String,
    /// The version replaced; absent creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `approval-list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalListArgs {
    /// Only approvals with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only approvals of this category (usually the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_name: Option<String>,
    /// List the legacy nested approvals (`approvals/<spec>/<document>/*.json`)
    /// instead: spec-workflow 2.x no longer reads them, so they are read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
}

/// An approval by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalArgs {
    /// The approval id.
    pub id: String,
}

/// `approval-snapshot-get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotArgs {
    /// The approval id.
    pub id: String,
    /// The snapshot version.
    pub version: u32,
}

/// `approval-diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffArgs {
    /// The approval id.
    pub id: String,
    /// The older snapshot version.
    pub from: u32,
    /// The newer snapshot version; absent compares with the file as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
}

/// `approval-create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalCreateArgs {
    /// Title shown to the reviewer.
    pub title: String,
    /// The document under review, relative to the project.
    pub file_path: String,
    /// `spec` or `steering` (default `spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The spec (or `steering`) the approval belongs to.
    pub category_name: String,
    /// spec-workflow's `type` (default `document`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `approval-update`: a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalUpdateArgs {
    /// The approval id.
    pub id: String,
    /// `approve`, `reject` or `needs-revision`.
    pub action: String,
    /// The response text (spec-workflow's `response`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Comments, as spec-workflow stores them (`type`, `comment`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Value>,
    /// Hash of the approval file as the reviewer saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `impl-log-read`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReadArgs {
    /// One spec's entries; absent: every spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `impl-log-search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearchArgs {
    /// One spec's entries; absent: every spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text searched for.
    #[serde(default)]
    pub query: String,
}

/// `impl-log-task-stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStatsArgs {
    /// The spec.
    pub name: String,
    /// The task.
    pub task_id: String,
}

/// `impl-log-add`: the spec and the entry's fields, in snake_case or
/// spec-workflow's camelCase (`task_id`/`taskId`, `summary`, `statistics`,
/// `artifacts`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogAddArgs {
    /// The spec.
    pub name: String,
    /// The entry's fields.
    #[serde(flatten)]
    pub entry: Map<String, Value>,
}

/// A job by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobArgs {
    /// The job id.
    pub id: String,
}

/// `update-frontmatter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontmatterArgs {
    /// The spec.
    pub name: String,
    /// Keys to set (`status`, `priority`, `tags`, `depends_on`, `parent`,
    /// `assignee`, or any scalar key); `null` removes a key.
    pub changes: Map<String, Value>,
    /// Skip LeanSpec's status guard (`leanspec update --force`): complete a
    /// spec with unchecked items (`open_items`), or leave `draft` without
    /// `planned` (`skips_planned`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Hash of the README as the author saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `update-content`: the body after the frontmatter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentArgs {
    /// The spec.
    pub name: String,
    /// The new body.
    pub content: String,
    /// Hash of the README as the author saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `create-spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSpecArgs {
    /// The title; the folder's slug is made from it.
    pub title: String,
    /// Initial status (default `planned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Initial priority (default `medium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The `base_hash` an argument type carries, if any, so the catalogue can
/// check its form once for every command.
pub(crate) trait BaseHash {
    /// The base hash, when the command has one and the caller gave it.
    fn base_hash(&self) -> Option<&str> {
        None
    }
}

macro_rules! without_base_hash {
    ($($ty:ty),+) => { $(impl BaseHash for $ty {})+ };
}
macro_rules! with_base_hash {
    ($($ty:ty),+) => { $(impl BaseHash for $ty {
        fn base_hash(&self) -> Option<&str> {
            self.base_hash.as_deref()
        }
    })+ };
}

without_base_hash!(
    NoArgs,
    FileReadArgs,
    SpecArgs,
    SpecReadArgs,
    SteeringArgs,
    ApprovalListArgs,
    ApprovalArgs,
    SnapshotArgs,
    DiffArgs,
    ApprovalCreateArgs,
    LogReadArgs,
    LogSearchArgs,
    LogStatsArgs,
    LogAddArgs,
    JobArgs,
    JobRunArgs,
    JobProposeArgs,
    JobUpdateArgs,
    JobAuditArgs,
    CreateSpecArgs
);
with_base_hash!(
    FileWriteArgs,
    SpecEditArgs,
    DocumentWriteArgs,
    TaskStatusArgs,
    SteeringWriteArgs,
    ApprovalUpdateArgs,
    FrontmatterArgs,
    ContentArgs
);
