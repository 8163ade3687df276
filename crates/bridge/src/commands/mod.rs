//! What each command of the catalogue does (design §4): `file-read` and
//! `file-write` (`files`), the spec commands by layout (`leanspec`,
//! `workflow` with steering, `approvals`, `impl_log`) and `jobs`.
//!
//! Each command gets a typed [`Call`] and a [`Ctx`]; it reads what it needs,
//! asks the pure `specbridge-specs` crate for the edit, and changes files only
//! through `ctx.fs` ([`ProjectFiles`]), which applies the mutation rules.
//! Reads of the spec model go through the [`ModelCache`].
//!
//! What it does not know: where commands come from, their ids, deadlines or
//! retries (the executor), or the link.

mod approvals;
mod files;
mod impl_log;
mod jobs;
mod leanspec;
mod model;
mod workflow;

pub(crate) use jobs::Jobs;
pub(crate) use model::ModelCache;

use crate::mutation::{internal, ProjectFiles};
use crate::project::{Layout, Project};
use model::Model;
use serde_json::Value;
use specbridge_protocol::{Call, CommandKind, ErrorBody, ErrorCode, Message};
use specbridge_specs::{SpecError, Timestamp, WorkflowRoot};
use std::sync::{Arc, Mutex, PoisonError};

/// Where a running command sends its progress messages (the link's progress queue).
pub(crate) type ProgressTx = tokio::sync::mpsc::Sender<Message>;

/// What a command runs against.
pub(crate) struct Ctx<'a> {
    pub(crate) project: &'a Project,
    /// The project's files, under the mutation rules.
    pub(crate) fs: ProjectFiles<'a>,
    /// The request id (progress messages carry it).
    pub(crate) request_id: &'a str,
    pub(crate) models: &'a ModelCache,
    pub(crate) jobs: &'a Arc<Jobs>,
    /// Progress messages for the hub, when the command came over the link.
    pub(crate) progress: Option<ProgressTx>,
    /// The clock, read once so that every stamp of one command agrees.
    pub(crate) now: Timestamp,
}

impl Ctx<'_> {
    /// The spec-workflow / spec-context root, or `invalid` for other layouts.
    pub(crate) fn workflow_root(&self, call: &Call) -> Result<WorkflowRoot, ErrorBody> {
        match self.project.layout {
            Layout::SpecWorkflow => Ok(WorkflowRoot::SpecWorkflow),
            Layout::SpecContext => Ok(WorkflowRoot::SpecContext),
            other => Err(wrong_layout(call, other)),
        }
    }

    /// The project's spec model, from the cache when no file changed.
    pub(crate) fn model(&self) -> Result<Arc<Model>, ErrorBody> {
        self.models.get(self.project)
    }
}

/// Runs one command. Project writes hold `write_lock` for their whole
/// read-edit-write, so two edits of one file cannot interleave between their
/// conflict checks and their renames.
pub(crate) fn run(ctx: &Ctx<'_>, call: &Call, write_lock: &Mutex<()>) -> Result<Value, ErrorBody> {
    if call.name().kind() != CommandKind::Write {
        return dispatch(ctx, call);
    }
    let _guard = write_lock.lock().unwrap_or_else(PoisonError::into_inner);
    let result = ctx.fs.writable().and_then(|()| dispatch(ctx, call));
    if result.is_err() && !ctx.fs.audited() {
        // Refused before any file was touched (read-only, conflict, bad input):
        // still one line, naming what the command was about.
        ctx.fs.audit(&call.target(), call.base_hash(), None, &result);
    }
    result
}

fn dispatch(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    use Call::*;
    match call {
        FileRead(args) => files::read(ctx, args),
        FileWrite(args) => files::write(ctx, args),
        ProjectInfo(_) => model::project_info(ctx),
        JobList(_) | JobGet(_) | JobHistory(_) | JobStats(_) | JobAudit(_) | JobCreate(_) | JobUpdate(_)
        | JobDelete(_) | JobRun(_) | JobCancel(_) => jobs::run(ctx, call),
        ApprovalList(_)
        | ApprovalGet(_)
        | ApprovalContent(_)
        | ApprovalSnapshots(_)
        | ApprovalSnapshotGet(_)
        | ApprovalDiff(_)
        | ApprovalCreate(_)
        | ApprovalUpdate(_)
        | ApprovalSnapshot(_)
        | ApprovalDelete(_) => approvals::run(ctx, call),
        ImplLogRead(_) | ImplLogSearch(_) | ImplLogTaskStats(_) | ImplLogAdd(_) => impl_log::run(ctx, call),
        SteeringRead(_) | SteeringStatus(_) | SteeringWrite(_) => workflow::steering(ctx, call),
        SpecList(_) | SpecRead(_) | SpecArchivedList(_) | SpecArchivedRead(_) | TaskProgress(_)
        | SpecDocumentWrite(_) | SpecArchive(_) | SpecUnarchive(_) | TaskStatusUpdate(_) | UpdateFrontmatter(_)
        | UpdateContent(_) | CreateSpec(_) => match ctx.project.layout {
            Layout::LeanSpec => leanspec::run(ctx, call),
            Layout::SpecWorkflow | Layout::SpecContext => workflow::run(ctx, call),
            Layout::Generic => Err(wrong_layout(call, Layout::Generic)),
        },
    }
}

/// `invalid`: the command does not apply to this project's layout.
pub(crate) fn wrong_layout(call: &Call, layout: Layout) -> ErrorBody {
    ErrorBody::new(ErrorCode::Invalid, format!("`{}` does not apply to a {layout} project", call.name()))
        .with_hint("see the per-layout command table in docs/protocol.md")
}

/// A spec-crate error as a wire error, keeping its stable code, hint and
/// details (`{"open_items": 5}`, `{"from": "draft", "to": …}`, `{"task_id", "spec"}`).
pub(crate) fn spec_error(error: SpecError) -> ErrorBody {
    let code = match error.code() {
        "not_found" => ErrorCode::NotFound,
        "conflict" => ErrorCode::Conflict,
        "forbidden" => ErrorCode::Forbidden,
        "open_items" => ErrorCode::OpenItems,
        "skips_planned" => ErrorCode::SkipsPlanned,
        _ => ErrorCode::Invalid,
    };
    let body = ErrorBody::new(code, error.to_string()).with_hint(error.hint());
    match error.details() {
        Some(details) => body.with_details(details),
        None => body,
    }
}

/// `not_found` for a named thing.
pub(crate) fn not_found(what: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("{what} not found")).with_hint("list again to see what exists")
}

/// Serializes a result.
pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ErrorBody> {
    serde_json::to_value(value).map_err(internal)
}

/// A random lowercase alphanumeric suffix like spec-workflow's
/// `Math.random().toString(36).substring(2, 11)`.
pub(crate) fn random_suffix() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..9).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
