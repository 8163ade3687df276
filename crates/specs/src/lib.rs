//! Spec formats for specbridge: parse and edit the files spec-driven tools keep in project
//! folders, as strings in and strings out.
//!
//! - **LeanSpec** (`specs/NNN-name/README.md`): [`parse_spec`], [`update_frontmatter`],
//!   [`update_content`], [`next_spec_number`], [`new_spec_readme`].
//! - **tasks.md** (spec-workflow / spec-context): [`parse_tasks`], [`task_progress`],
//!   [`set_task_status`] (with spec-workflow's `_Blocked: reason_` lines).
//! - **LeanSpec checklists**: [`count_checkboxes`] and the `update --status` guard
//!   [`check_status_change`] (`open_items`, `skips_planned`).
//! - **spec-workflow / spec-context projects**: [`build_project`] (approvals spec-workflow reads,
//!   legacy nested ones apart), the derived status [`workflow_status`], and the path helpers on
//!   [`WorkflowRoot`] ([`WorkflowRoot::approval_location`]).
//! - **Approvals and snapshots**: [`parse_approval`], [`new_approval`], [`apply_action`],
//!   [`ApprovalComment`] (key order kept), [`feedback_summary`], [`next_snapshot`],
//!   [`parse_snapshot_metadata`], [`parse_snapshot`], [`diff`].
//! - **Implementation logs**: [`parse_log_markdown`], [`parse_legacy_log`], [`search`],
//!   [`task_stats`], [`new_log_entry`] (what the `log-implementation` tool checks and computes).
//!
//! Edits are byte-preserving: an edit changes the bytes of what it touches and nothing else
//! (key order, quoting, comments, line endings and the markdown body stay as they were), and JSON
//! is written the way the owning tool writes it, so the tools keep reading what we write.
//!
//! What this crate does **not** know about:
//! - **files**: no file-system access. Callers read, hand contents in, and write the results
//!   (atomically); paths returned here are project-relative strings.
//! - **clocks**: no clock is read. Every function that stamps a time takes `now: Timestamp`.
//! - **randomness**: ids (approval, snapshot, log) are built from parts the caller supplies.
//! - **hashes and conflicts**: the caller checks content hashes before calling and writes after.
//! - **network**: nothing here talks to the hub.
//!
//! Every error is a [`SpecError`] with a stable [`code`](SpecError::code) (`conflict`,
//! `not_found`, `invalid`, `forbidden`, `open_items`, `skips_planned`), a
//! [`hint`](SpecError::hint) and, where numbers matter, [`details`](SpecError::details).

mod approvals;
mod checklist;
mod comments;
mod diff;
mod error;
mod frontmatter;
mod impl_log;
mod impl_log_add;
mod json;
mod leanspec;
mod paths;
mod snapshots;
mod task_status;
mod tasks;
mod time;
mod workflow;
mod workflow_status;
mod yaml;

pub use approvals::{
    apply_action, approval_id, new_approval, parse_approval, Approval, ApprovalAction, ApprovalCategory,
    ApprovalStatus, DEFAULT_APPROVE_RESPONSE,
};
pub use checklist::{check_status_change, count_checkboxes};
pub use comments::{feedback_summary, js_prefix, ApprovalComment};
pub use diff::{diff, DiffKind, DiffLine, DiffResult};
pub use error::SpecError;
pub use impl_log::{
    parse_legacy_log, parse_log_markdown, search, sort_newest_first, task_stats, ApiEndpoint, ClassInfo, ComponentInfo,
    FunctionInfo, ImplLogEntry, Integration, LogArtifacts, LogStatistics, TaskLogStats,
};
pub use impl_log_add::{new_log_entry, render_entry, LogEntryInput, LogStatisticsInput, NewLogFile};
pub use leanspec::{
    new_spec_readme, next_spec_number, parse_spec, spec_body, update_content, update_frontmatter, FrontmatterChanges,
    LeanSpec, NewSpecFile, Priority, SpecStatus, Transition,
};
pub use paths::{validate_approval_id, validate_name, ApprovalLocation, WorkflowRoot, SPEC_DOCUMENTS};
pub use snapshots::{
    find_snapshot, next_snapshot, parse_snapshot, parse_snapshot_metadata, FileStats, NewSnapshot, Snapshot,
    SnapshotEntry, SnapshotMetadata, SnapshotSource, SnapshotTrigger,
};
pub use task_status::set_task_status;
pub use tasks::{parse_tasks, task_progress, Task, TaskProgress, TaskStatus};
pub use time::Timestamp;
pub use workflow::{
    build_project, display_name, ApprovalFile, FileEntry, FileProblem, ImplLogFile, SpecDocument, SteeringDoc,
    WorkflowProject, WorkflowSpec,
};
pub use workflow_status::{workflow_status, SpecDocuments, WorkflowStatus};
pub use yaml::YamlValue;
