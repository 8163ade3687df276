//! Spec and steering commands on a spec-workflow / spec-context project.
//!
//! Archiving moves `{root}/specs/{name}` to `{root}/archive/specs/{name}` (and
//! back), as spec-workflow's dashboard does. A spec's status is the one
//! spec-workflow's `spec-status` tool derives ([`WorkflowSpec::status`]), and a
//! task status edit writes what its dashboard writes (`_Blocked:` lines included).

use super::model::{progress_json, Model};
use super::{not_found, spec_error, to_value, wrong_layout, Ctx};
use serde_json::{json, Value};
use specbridge_protocol::{
    Call, DocumentWriteResult, ErrorBody, SpecMoveResult, SpecReadArgs, SteeringWriteResult, TaskStatusResult,
};
use specbridge_specs::{parse_tasks, set_task_status, TaskStatus, WorkflowProject, WorkflowSpec};

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let root = ctx.workflow_root(call)?;
    let model = ctx.model()?;
    let Model::Workflow(w) = &*model else { return Err(wrong_layout(call, ctx.project.layout)) };
    match call {
        Call::SpecList(_) => Ok(Value::Array(w.specs.iter().map(summary).collect())),
        Call::SpecArchivedList(_) => Ok(Value::Array(w.archived_specs.iter().map(summary).collect())),
        Call::SpecRead(args) => spec_read(ctx, w, args, false),
        Call::SpecArchivedRead(args) => spec_read(ctx, w, args, true),
        Call::TaskProgress(args) => {
            find(&w.specs, &args.name)?;
            let rel = root.spec_document_path(&args.name, "tasks").map_err(spec_error)?;
            let (text, hash) = ctx.fs.read_existing(&rel)?;
            let progress = specbridge_specs::task_progress(&text);
            Ok(json!({ "name": args.name, "path": rel, "hash": hash, "progress": progress_json(&progress),
                "tasks": to_value(&parse_tasks(&text))? }))
        }
        Call::SpecDocumentWrite(args) => {
            let document = args.document.strip_suffix(".md").unwrap_or(&args.document);
            let rel = root.spec_document_path(&args.name, document).map_err(spec_error)?;
            let hash = ctx.fs.write(&rel, args.content.as_bytes(), args.base_hash.as_deref())?;
            to_value(&DocumentWriteResult { name: args.name.clone(), document: document.to_owned(), path: rel, hash })
        }
        Call::TaskStatusUpdate(args) => {
            let rel = root.spec_document_path(&args.name, "tasks").map_err(spec_error)?;
            let current = ctx.fs.read_existing(&rel)?;
            ctx.fs.check_seen(args.base_hash.as_deref(), &current)?;
            let status = TaskStatus::from_name(&args.status).map_err(spec_error)?;
            let text =
                set_task_status(&current.0, &args.task_id, status, args.reason.as_deref()).map_err(spec_error)?;
            // The status it already has (and no new reason): nothing to write, as in spec-workflow.
            let changed = text != current.0;
            let hash = if changed { ctx.fs.write(&rel, text.as_bytes(), Some(&current.1))? } else { current.1 };
            let reason = parse_tasks(&text).into_iter().find(|t| t.id == args.task_id).and_then(|t| t.blocked_reason);
            // The REST names (`completed`, not the crate's `done`), as the caller sent them.
            let status = match status {
                TaskStatus::Pending => "pending",
                TaskStatus::InProgress => "in-progress",
                TaskStatus::Done => "completed",
                TaskStatus::Blocked => "blocked",
            };
            to_value(&TaskStatusResult {
                name: args.name.clone(),
                task_id: args.task_id.clone(),
                status: status.to_owned(),
                reason,
                path: rel,
                hash,
                changed,
                progress: progress_json(&specbridge_specs::task_progress(&text)),
            })
        }
        Call::SpecArchive(args) => {
            let from = root.spec_dir(&args.name).map_err(spec_error)?;
            let to = root.archived_spec_dir(&args.name).map_err(spec_error)?;
            ctx.fs.move_dir(&from, &to)?;
            to_value(&SpecMoveResult { name: args.name.clone(), from, to })
        }
        Call::SpecUnarchive(args) => {
            let from = root.archived_spec_dir(&args.name).map_err(spec_error)?;
            let to = root.spec_dir(&args.name).map_err(spec_error)?;
            ctx.fs.move_dir(&from, &to)?;
            to_value(&SpecMoveResult { name: args.name.clone(), from, to })
        }
        other => Err(wrong_layout(other, ctx.project.layout)),
    }
}

pub(super) fn find<'w>(specs: &'w [WorkflowSpec], name: &str) -> Result<&'w WorkflowSpec, ErrorBody> {
    specs.iter().find(|s| s.name == name).ok_or_else(|| not_found(format!("spec {name:?}")))
}

/// The REST list shape of a spec. `status` is the word spec-workflow's own
/// `spec-status` tool derives (`requirements-needed` … `completed`), and
/// `phase` its `currentPhase`.
fn summary(spec: &WorkflowSpec) -> Value {
    json!({
        "name": spec.name,
        "title": spec.display_name,
        "status": spec.status.as_str(),
        "phase": spec.status.phase(),
        "priority": null,
        "tags": [],
        "depends_on": [],
        "documents": spec.documents.iter().map(|d| d.name).collect::<Vec<_>>(),
        "task_progress": progress_json(&spec.task_progress.unwrap_or_default()),
        "last_modified": spec.last_modified,
    })
}

fn spec_read(ctx: &Ctx<'_>, w: &WorkflowProject, args: &SpecReadArgs, archived: bool) -> Result<Value, ErrorBody> {
    let spec = find(if archived { &w.archived_specs } else { &w.specs }, &args.name)?;
    let mut value = summary(spec);
    let wanted = args.document.as_deref().map(|d| d.strip_suffix(".md").unwrap_or(d));
    let mut documents = Vec::new();
    for doc in &spec.documents {
        if wanted.is_some_and(|w| w != doc.name) {
            continue;
        }
        let (content, hash) = ctx.fs.read_existing(&doc.path)?;
        documents.push(json!({ "name": doc.name, "path": doc.path, "hash": hash, "content": content }));
    }
    if let Some(wanted) = wanted {
        return documents.pop().ok_or_else(|| not_found(format!("document {wanted:?} of spec {:?}", args.name)));
    }
    value["documents"] = Value::Array(documents);
    value["archived"] = json!(archived);
    Ok(value)
}

/// `steering-status`, `steering-read`, `steering-write`.
pub(super) fn steering(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let root = ctx.workflow_root(call)?;
    match call {
        Call::SteeringStatus(_) => {
            let model = ctx.model()?;
            let Model::Workflow(w) = &*model else { return Err(wrong_layout(call, ctx.project.layout)) };
            to_value(&w.steering)
        }
        Call::SteeringRead(args) => {
            let rel = root.steering_path(&args.doc).map_err(spec_error)?;
            let (content, hash) = ctx.fs.read_existing(&rel)?;
            Ok(json!({ "doc": args.doc.trim_end_matches(".md"), "path": rel, "hash": hash, "content": content }))
        }
        Call::SteeringWrite(args) => {
            let rel = root.steering_path(&args.doc).map_err(spec_error)?;
            let hash = ctx.fs.write(&rel, args.content.as_bytes(), args.base_hash.as_deref())?;
            to_value(&SteeringWriteResult { doc: args.doc.trim_end_matches(".md").to_owned(), path: rel, hash })
        }
        other => Err(wrong_layout(other, ctx.project.layout)),
    }
}
