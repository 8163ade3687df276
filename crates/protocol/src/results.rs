//! The typed results of the commands that change something, so the hub, the
//! dashboard and tests read one shape. Read commands answer JSON models that
//! reproduce the spec tools' own structures; their shapes are in
//! docs/protocol.md.

use crate::Content;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Result of `file-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReadResult {
    /// The path read.
    pub path: String,
    /// Content hash of the bytes read.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    pub content: Content,
}

/// Result of `file-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWriteResult {
    /// The path written.
    pub path: String,
    /// Content hash of the new bytes.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// Result of `spec-document-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentWriteResult {
    /// The spec.
    pub name: String,
    /// The document as stored (`DESIGN.md`, `design`).
    pub document: String,
    /// The file written.
    pub path: String,
    /// Its new hash.
    pub hash: String,
}

/// Result of an edit of one file of a spec (`update-frontmatter`,
/// `update-content`, and LeanSpec's `spec-archive` / `spec-unarchive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecEditResult {
    /// The spec folder.
    pub name: String,
    /// The file written.
    pub path: String,
    /// Its new hash.
    pub hash: String,
    /// Whether any byte changed.
    #[serde(default)]
    pub changed: bool,
    /// The status set, when the edit set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Result of spec-workflow's `spec-archive` / `spec-unarchive`: a moved folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecMoveResult {
    /// The spec.
    pub name: String,
    /// The folder before.
    pub from: String,
    /// The folder after.
    pub to: String,
}

/// Result of `create-spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSpecResult {
    /// The new folder (`013-dark-mode`).
    pub name: String,
    /// Its number.
    pub number: u32,
    /// The README written.
    pub path: String,
    /// Its hash.
    pub hash: String,
}

/// Result of `task-status-update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatusResult {
    /// The spec.
    pub name: String,
    /// The task.
    pub task_id: String,
    /// The status set (`pending`, `in-progress`, `completed`, `blocked`).
    pub status: String,
    /// The blocked reason written (`  - _Blocked: <reason>_`), for `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// tasks.md.
    pub path: String,
    /// Its hash after the edit.
    pub hash: String,
    /// Whether any byte changed: as in spec-workflow, setting the status a
    /// task already has (with no new reason) writes nothing.
    #[serde(default)]
    pub changed: bool,
    /// Task counts after the edit.
    pub progress: Value,
}

/// Result of `steering-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteeringWriteResult {
    /// The document (`product`).
    pub doc: String,
    /// The file written.
    pub path: String,
    /// Its new hash.
    pub hash: String,
}

/// Result of `approval-create` and `approval-update`: the approval as
/// `approval-get` shows it, its file's new hash and the snapshot taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalEditResult {
    /// The approval (`approval-get`'s shape).
    #[serde(flatten)]
    pub approval: Map<String, Value>,
    /// The approval file's new hash.
    pub hash: String,
    /// The snapshot version written, if one was.
    pub snapshot_version: Option<u32>,
}

/// Result of `approval-snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    /// The approval.
    pub id: String,
    /// The version written (`None`: nothing to snapshot).
    pub version: Option<u32>,
}

/// Result of `approval-delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResult {
    /// What was deleted.
    pub id: String,
    /// Its file.
    pub path: String,
    /// Always true.
    pub deleted: bool,
}

/// Result of `impl-log-add`: the entry as stored, its file and hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogAddResult {
    /// The entry (spec-workflow's camelCase fields).
    #[serde(flatten)]
    pub entry: Map<String, Value>,
    /// The file written.
    pub path: String,
    /// Its hash.
    pub hash: String,
}
