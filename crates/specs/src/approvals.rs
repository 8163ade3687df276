//! spec-workflow approval requests: `approvals/{categoryName}/approval_<ms>_<rand>.json`.
//!
//! Files are read into a typed [`Approval`] and written back the way spec-workflow's dashboard
//! writes them (`JSON.stringify(approval, null, 2)`, no trailing newline, keys in its order), so
//! the agent polling the file sees exactly what spec-workflow itself would have written.

use serde::{Deserialize, Serialize};

use crate::comments::{feedback_summary, ApprovalComment};
use crate::error::SpecError;
use crate::json::Json;
use crate::paths::validate_approval_id;
use crate::time::Timestamp;

/// An approval's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Sent back to the agent with comments.
    NeedsRevision,
}

impl ApprovalStatus {
    /// The on-disk spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::NeedsRevision => "needs-revision",
        }
    }

    fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "rejected" => Some(ApprovalStatus::Rejected),
            "needs-revision" => Some(ApprovalStatus::NeedsRevision),
            _ => None,
        }
    }
}

/// A decision on a pending approval (the dashboard's `:action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalAction {
    /// `approve`
    Approve,
    /// `reject`
    Reject,
    /// `needs-revision`
    NeedsRevision,
}

impl ApprovalAction {
    /// Parses `approve`, `reject` or `needs-revision`.
    pub fn parse(s: &str) -> Result<ApprovalAction, SpecError> {
        match s {
            "approve" => Ok(ApprovalAction::Approve),
            "reject" => Ok(ApprovalAction::Reject),
            "needs-revision" => Ok(ApprovalAction::NeedsRevision),
            other => Err(SpecError::invalid(
                "approval action",
                format!("`{other}` is not approve, reject or needs-revision"),
            )),
        }
    }

    fn status(self) -> ApprovalStatus {
        match self {
            ApprovalAction::Approve => ApprovalStatus::Approved,
            ApprovalAction::Reject => ApprovalStatus::Rejected,
            ApprovalAction::NeedsRevision => ApprovalStatus::NeedsRevision,
        }
    }
}

/// What an approval is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalCategory {
    /// A spec document.
    Spec,
    /// A steering document.
    Steering,
}

impl ApprovalCategory {
    /// The on-disk spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalCategory::Spec => "spec",
            ApprovalCategory::Steering => "steering",
        }
    }
}

/// An approval request as stored by spec-workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// `approval_<ms>_<rand>`.
    pub id: String,
    /// What is being approved.
    pub title: String,
    /// The reviewed file, relative to the project root (e.g. `.spec-workflow/specs/x/design.md`).
    pub file_path: String,
    /// `document` or `action`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The state.
    pub status: ApprovalStatus,
    /// ISO timestamp, as written.
    pub created_at: String,
    /// ISO timestamp of the decision.
    pub responded_at: Option<String>,
    /// The decision's text.
    pub response: Option<String>,
    /// A JSON string with the decision, comments and summary (needs-revision).
    pub annotations: Option<String>,
    /// Reviewer comments, each in the key order it was written.
    pub comments: Vec<ApprovalComment>,
    /// `spec` or `steering` (kept as written).
    pub category: String,
    /// The spec name, or `steering`.
    pub category_name: String,
    /// Fields this crate does not know (e.g. `metadata`, `revisionHistory`), in file order.
    pub extra: Vec<(String, serde_json::Value)>,
}

const KNOWN: [&str; 12] = [
    "id",
    "title",
    "filePath",
    "type",
    "status",
    "createdAt",
    "respondedAt",
    "response",
    "annotations",
    "comments",
    "category",
    "categoryName",
];

/// Reads an approval file.
pub fn parse_approval(text: &str) -> Result<Approval, SpecError> {
    approval_from_json(&Json::parse(text, "approval")?)
}

pub(crate) fn approval_from_json(v: &Json) -> Result<Approval, SpecError> {
    let req = |field: &'static str| v.str_field(field).ok_or(SpecError::MissingField { what: "approval", field });
    let status_text = req("status")?;
    let status = ApprovalStatus::parse(&status_text)
        .ok_or_else(|| SpecError::invalid("approval status", format!("`{status_text}` is unknown")))?;
    let comments = match v.get("comments") {
        Some(Json::Array(items)) => items.iter().map(ApprovalComment::from_json).collect(),
        _ => Vec::new(),
    };
    let extra = match v {
        Json::Object(entries) => entries
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Approval {
        id: req("id")?,
        title: v.str_field("title").unwrap_or_default(),
        file_path: v.str_field("filePath").unwrap_or_default(),
        kind: v.str_field("type").unwrap_or_else(|| "document".into()),
        status,
        created_at: req("createdAt")?,
        responded_at: v.str_field("respondedAt"),
        response: v.str_field("response"),
        annotations: v.str_field("annotations"),
        comments,
        category: v.str_field("category").unwrap_or_default(),
        category_name: v.str_field("categoryName").unwrap_or_default(),
        extra,
    })
}

/// `approval_<ms>_<suffix>`: spec-workflow's id shape. The caller supplies the random suffix
/// (spec-workflow uses 9 base-36 characters).
pub fn approval_id(now: Timestamp, suffix: &str) -> Result<String, SpecError> {
    let id = format!("approval_{}_{suffix}", now.unix_millis());
    validate_approval_id(&id)?;
    Ok(id)
}

/// The JSON of a new pending approval, as spec-workflow's `createApproval` writes it.
pub fn new_approval(
    id: &str,
    title: &str,
    file_path: &str,
    category: ApprovalCategory,
    category_name: &str,
    kind: &str,
    now: Timestamp,
) -> Result<String, SpecError> {
    validate_approval_id(id)?;
    if !matches!(kind, "document" | "action") {
        return Err(SpecError::invalid("approval type", format!("`{kind}` is not document or action")));
    }
    if title.trim().is_empty() || file_path.trim().is_empty() || category_name.trim().is_empty() {
        return Err(SpecError::invalid("approval", "title, filePath and categoryName must not be empty"));
    }
    let v = Json::Object(vec![
        ("id".into(), Json::str(id)),
        ("title".into(), Json::str(title)),
        ("filePath".into(), Json::str(file_path)),
        ("type".into(), Json::str(kind)),
        ("status".into(), Json::str("pending")),
        ("createdAt".into(), Json::str(now.to_iso_millis())),
        ("category".into(), Json::str(category.as_str())),
        ("categoryName".into(), Json::str(category_name)),
    ]);
    Ok(v.stringify())
}

/// The response spec-workflow's dashboard sends with a plain approve.
pub const DEFAULT_APPROVE_RESPONSE: &str = "Approved via dashboard";

/// Records a decision on a pending approval and returns the new file contents.
///
/// Mirrors spec-workflow's dashboard and `updateApproval`:
/// - `approve`: no comments allowed (the dashboard refuses and asks for a revision instead);
///   `response` defaults to [`DEFAULT_APPROVE_RESPONSE`].
/// - `reject`: needs a non-empty `response` explaining why.
/// - `needs-revision`: needs at least one comment; `response` defaults to the dashboard's
///   "Feedback Summary" text, and `annotations` gets the JSON the dashboard writes.
///
/// `status`, `response`, `annotations` (dropped for approve/reject) and `respondedAt` are set;
/// `comments` is set when given. Every other key keeps its place and value.
/// Answering an approval that is no longer pending is a `conflict`.
pub fn apply_action(
    approval_json: &str,
    action: ApprovalAction,
    response: Option<&str>,
    comments: &[ApprovalComment],
    now: Timestamp,
) -> Result<String, SpecError> {
    let mut v = Json::parse(approval_json, "approval")?;
    let approval = approval_from_json(&v)?;
    if approval.status != ApprovalStatus::Pending {
        return Err(SpecError::ApprovalNotPending { status: approval.status.as_str().to_string() });
    }
    let response = response.map(str::trim).filter(|r| !r.is_empty());
    let (response, annotations) = match action {
        ApprovalAction::Approve => {
            if !comments.is_empty() {
                return Err(SpecError::MissingInput {
                    action: "approve",
                    what: "no comments (use needs-revision to send comments)",
                });
            }
            (response.unwrap_or(DEFAULT_APPROVE_RESPONSE).to_string(), None)
        }
        ApprovalAction::Reject => {
            let r = response.ok_or(SpecError::MissingInput { action: "reject", what: "a response explaining why" })?;
            (r.to_string(), None)
        }
        ApprovalAction::NeedsRevision => {
            if comments.is_empty() {
                return Err(SpecError::MissingInput { action: "needs-revision", what: "at least one comment" });
            }
            let summary = response.map_or_else(|| feedback_summary(comments), str::to_string);
            let annotations = Json::Object(vec![
                ("decision".into(), Json::str("needs-revision")),
                ("comments".into(), Json::Array(comments.iter().map(ApprovalComment::to_json).collect())),
                ("summary".into(), Json::str(&summary)),
                ("timestamp".into(), Json::str(now.to_iso_millis())),
            ]);
            (summary, Some(annotations.stringify()))
        }
    };
    v.set("status", Json::str(action.status().as_str()));
    v.set("response", Json::str(response));
    match annotations {
        Some(a) => v.set("annotations", Json::str(a)),
        None => v.remove("annotations"),
    }
    v.set("respondedAt", Json::str(now.to_iso_millis()));
    if !comments.is_empty() {
        v.set("comments", Json::Array(comments.iter().map(ApprovalComment::to_json).collect()));
    }
    Ok(v.stringify())
}

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod tests;
