//! Approval snapshots: `approvals/{categoryName}/.snapshots/{file}/snapshot-NNN.json` plus the
//! folder's `metadata.json`, written as spec-workflow's `captureSnapshot` writes them.

use serde::Serialize;

use crate::approvals::Approval;
use crate::comments::ApprovalComment;
use crate::error::SpecError;
use crate::json::Json;
use crate::paths::WorkflowRoot;
use crate::time::Timestamp;

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotTrigger {
    /// When the approval was created.
    Initial,
    /// Just before a needs-revision decision.
    RevisionRequested,
    /// Just before an approve decision.
    Approved,
    /// On request.
    Manual,
}

impl SnapshotTrigger {
    /// The on-disk spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotTrigger::Initial => "initial",
            SnapshotTrigger::RevisionRequested => "revision_requested",
            SnapshotTrigger::Approved => "approved",
            SnapshotTrigger::Manual => "manual",
        }
    }
}

/// One line of `metadata.json`'s `snapshots` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEntry {
    /// 1, 2, 3 …
    pub version: u32,
    /// `snapshot-001.json`.
    pub filename: String,
    /// ISO timestamp.
    pub timestamp: String,
    /// `initial`, `revision_requested`, `approved` or `manual` (kept as written).
    pub trigger: String,
    /// The approval it was taken for.
    pub approval_id: String,
    /// That approval's title.
    pub approval_title: String,
}

/// A snapshot folder's `metadata.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMetadata {
    /// The snapshotted file, relative to the project root.
    pub file_path: String,
    /// The highest version taken.
    pub current_version: u32,
    /// Every snapshot, oldest first.
    pub snapshots: Vec<SnapshotEntry>,
}

/// The size figures spec-workflow stores with a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStats {
    /// Bytes.
    pub size: u64,
    /// `content.split('\n').length`.
    pub lines: u64,
    /// The file's modification time (ISO).
    pub last_modified: String,
}

/// One `snapshot-NNN.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// `snapshot_<ms>_<rand>`.
    pub id: String,
    /// The approval it was taken for.
    pub approval_id: String,
    /// That approval's title.
    pub approval_title: String,
    /// 1, 2, 3 …
    pub version: u32,
    /// ISO timestamp.
    pub timestamp: String,
    /// Why it was taken (as written).
    pub trigger: String,
    /// The approval's status when it was taken.
    pub status: String,
    /// The file's contents.
    pub content: String,
    /// Size figures.
    pub file_stats: FileStats,
    /// The approval's comments at the time.
    pub comments: Vec<ApprovalComment>,
    /// The approval's annotations at the time.
    pub annotations: Option<String>,
}

fn u32_field(v: &Json, key: &'static str, what: &'static str) -> Result<u32, SpecError> {
    v.get(key)
        .and_then(Json::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(SpecError::MissingField { what, field: key })
}

/// Reads a snapshot folder's `metadata.json`.
pub fn parse_snapshot_metadata(text: &str) -> Result<SnapshotMetadata, SpecError> {
    let v = Json::parse(text, "snapshot metadata")?;
    let what = "snapshot metadata";
    let Some(Json::Array(items)) = v.get("snapshots") else {
        return Err(SpecError::MissingField { what, field: "snapshots" });
    };
    let snapshots = items
        .iter()
        .map(|s| {
            Ok(SnapshotEntry {
                version: u32_field(s, "version", what)?,
                filename: s.str_field("filename").ok_or(SpecError::MissingField { what, field: "filename" })?,
                timestamp: s.str_field("timestamp").unwrap_or_default(),
                trigger: s.str_field("trigger").unwrap_or_default(),
                approval_id: s.str_field("approvalId").unwrap_or_default(),
                approval_title: s.str_field("approvalTitle").unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    Ok(SnapshotMetadata {
        file_path: v.str_field("filePath").unwrap_or_default(),
        current_version: u32_field(&v, "currentVersion", what)?,
        snapshots,
    })
}

/// Reads one `snapshot-NNN.json`.
pub fn parse_snapshot(text: &str) -> Result<Snapshot, SpecError> {
    let v = Json::parse(text, "snapshot")?;
    let what = "snapshot";
    let stats = v.get("fileStats");
    let stat = |k: &str| stats.and_then(|s| s.get(k)).and_then(Json::as_u64).unwrap_or(0);
    Ok(Snapshot {
        id: v.str_field("id").unwrap_or_default(),
        approval_id: v.str_field("approvalId").unwrap_or_default(),
        approval_title: v.str_field("approvalTitle").unwrap_or_default(),
        version: u32_field(&v, "version", what)?,
        timestamp: v.str_field("timestamp").unwrap_or_default(),
        trigger: v.str_field("trigger").unwrap_or_default(),
        status: v.str_field("status").unwrap_or_default(),
        content: v.str_field("content").ok_or(SpecError::MissingField { what, field: "content" })?,
        file_stats: FileStats {
            size: stat("size"),
            lines: stat("lines"),
            last_modified: stats.and_then(|s| s.str_field("lastModified")).unwrap_or_default(),
        },
        comments: match v.get("comments") {
            Some(Json::Array(items)) => items.iter().map(ApprovalComment::from_json).collect(),
            _ => Vec::new(),
        },
        annotations: v.str_field("annotations"),
    })
}

/// The metadata entry for `version`, or `not_found`.
pub fn find_snapshot(metadata: &SnapshotMetadata, version: u32) -> Result<&SnapshotEntry, SpecError> {
    metadata.snapshots.iter().find(|s| s.version == version).ok_or(SpecError::SnapshotNotFound { version })
}

/// The files to write for a new snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSnapshot {
    /// The new version number.
    pub version: u32,
    /// `{root}/approvals/{categoryName}/.snapshots/{file}/snapshot-NNN.json`.
    pub snapshot_path: String,
    /// Its contents.
    pub snapshot_json: String,
    /// `…/metadata.json`.
    pub metadata_path: String,
    /// Its new contents.
    pub metadata_json: String,
}

/// Inputs of [`next_snapshot`] that describe the snapshotted file.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotSource<'a> {
    /// The file's current contents.
    pub content: &'a str,
    /// The file's modification time.
    pub last_modified: Timestamp,
}

/// Builds the next snapshot of `approval`'s file, as spec-workflow's `captureSnapshot` does.
///
/// Take it *before* applying the decision: the snapshot records the approval's status and
/// comments as they were. `metadata_json` is the folder's current `metadata.json` (`None` if it
/// does not exist yet). `snapshot_id` is `snapshot_<ms>_<rand>` from the caller. An `initial`
/// snapshot when one already exists returns `Ok(None)`, as spec-workflow skips it.
pub fn next_snapshot(
    root: WorkflowRoot,
    metadata_json: Option<&str>,
    approval: &Approval,
    source: SnapshotSource<'_>,
    trigger: SnapshotTrigger,
    snapshot_id: &str,
    now: Timestamp,
) -> Result<Option<NewSnapshot>, SpecError> {
    let dir = root.snapshot_dir(&approval.category_name, &approval.file_path)?;
    let mut meta = match metadata_json {
        Some(text) => Json::parse(text, "snapshot metadata")?,
        None => Json::Object(vec![
            ("filePath".into(), Json::str(&approval.file_path)),
            ("currentVersion".into(), Json::num(0)),
            ("snapshots".into(), Json::Array(Vec::new())),
        ]),
    };
    let parsed = parse_snapshot_metadata(&meta.stringify())?;
    if trigger == SnapshotTrigger::Initial && parsed.snapshots.iter().any(|s| s.trigger == "initial") {
        return Ok(None);
    }
    let version = parsed.current_version + 1;
    let filename = format!("snapshot-{version:03}.json");
    let timestamp = now.to_iso_millis();
    let mut snap = Json::Object(vec![
        ("id".into(), Json::str(snapshot_id)),
        ("approvalId".into(), Json::str(&approval.id)),
        ("approvalTitle".into(), Json::str(&approval.title)),
        ("version".into(), Json::num(version.into())),
        ("timestamp".into(), Json::str(&timestamp)),
        ("trigger".into(), Json::str(trigger.as_str())),
        ("status".into(), Json::str(approval.status.as_str())),
        ("content".into(), Json::str(source.content)),
        (
            "fileStats".into(),
            Json::Object(vec![
                ("size".into(), Json::num(source.content.len() as u64)),
                ("lines".into(), Json::num(source.content.split('\n').count() as u64)),
                ("lastModified".into(), Json::str(source.last_modified.to_iso_millis())),
            ]),
        ),
        ("comments".into(), Json::Array(approval.comments.iter().map(ApprovalComment::to_json).collect())),
    ]);
    // `annotations: approval.annotations || undefined`: an empty string is left out too.
    if let Some(a) = approval.annotations.as_ref().filter(|a| !a.is_empty()) {
        snap.set("annotations", Json::str(a));
    }
    meta.set("currentVersion", Json::num(version.into()));
    let entry = Json::Object(vec![
        ("version".into(), Json::num(version.into())),
        ("filename".into(), Json::str(&filename)),
        ("timestamp".into(), Json::str(&timestamp)),
        ("trigger".into(), Json::str(trigger.as_str())),
        ("approvalId".into(), Json::str(&approval.id)),
        ("approvalTitle".into(), Json::str(&approval.title)),
    ]);
    match meta.get_mut("snapshots") {
        Some(Json::Array(items)) => items.push(entry),
        _ => meta.set("snapshots", Json::Array(vec![entry])),
    }
    Ok(Some(NewSnapshot {
        version,
        snapshot_path: format!("{dir}/{filename}"),
        snapshot_json: snap.stringify(),
        metadata_path: format!("{dir}/metadata.json"),
        metadata_json: meta.stringify(),
    }))
}

#[cfg(test)]
#[path = "snapshots_tests.rs"]
mod tests;
