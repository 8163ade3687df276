//! Approval commands on a spec-workflow / spec-context project, in
//! spec-workflow's own files: `approvals/{categoryName}/approval_*.json` and
//! `approvals/{categoryName}/.snapshots/{doc}/snapshot-NNN.json` plus
//! `metadata.json`, so spec-workflow-mcp reads what we write.
//!
//! As in spec-workflow, a new approval takes an `initial` snapshot of the
//! document, and a decision takes an `approved` or `revision_requested`
//! snapshot before the status changes.
//!
//! Legacy nested approvals (`approvals/{spec}/{document}/approval_*.json`,
//! spec-workflow 0.x) are never read by spec-workflow 2.x: they are listed
//! apart (`legacy: true`), readable, and any change to one is `forbidden`, so
//! a decision can never land where the agent would not see it.

use super::model::Model;
use super::{not_found, random_suffix, spec_error, to_value, wrong_layout, Ctx};
use serde_json::{json, Value};
use specbridge_protocol::{
    ApprovalCreateArgs, ApprovalEditResult, Call, DeleteResult, ErrorBody, ErrorCode, SnapshotResult,
};
use specbridge_specs::{
    apply_action, approval_id, diff, find_snapshot, new_approval, next_snapshot, parse_approval, parse_snapshot,
    parse_snapshot_metadata, Approval, ApprovalAction, ApprovalCategory, ApprovalComment, ApprovalLocation,
    SnapshotSource, SnapshotTrigger, Timestamp, WorkflowRoot,
};

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let root = ctx.workflow_root(call)?;
    let model = ctx.model()?;
    let Model::Workflow(w) = &*model else { return Err(wrong_layout(call, ctx.project.layout)) };
    // Legacy ones are found too, so that reads work and changes get a clear refusal.
    let find = |id: &str| -> Result<(String, Approval), ErrorBody> {
        w.approvals
            .iter()
            .chain(&w.legacy_approvals)
            .find(|a| a.approval.id == id)
            .map(|a| (a.path.clone(), a.approval.clone()))
            .ok_or_else(|| not_found(format!("approval {id:?}")))
    };
    // Every change checks that spec-workflow reads the file it changes.
    let find_writable = |id: &str| -> Result<(String, Approval), ErrorBody> {
        let (path, approval) = find(id)?;
        root.check_approval_path(&path).map_err(spec_error)?;
        Ok((path, approval))
    };
    let approval_json = |path: &str, a: &Approval| approval_json(root, path, a);
    match call {
        Call::ApprovalList(args) => Ok(Value::Array(
            if args.legacy { &w.legacy_approvals } else { &w.approvals }
                .iter()
                .filter(|a| args.status.as_deref().is_none_or(|s| a.approval.status.as_str() == s))
                .filter(|a| args.category_name.as_deref().is_none_or(|c| a.approval.category_name == c))
                .map(|a| approval_json(&a.path, &a.approval))
                .collect(),
        )),
        Call::ApprovalGet(args) => {
            let (path, approval) = find(&args.id)?;
            Ok(approval_json(&path, &approval))
        }
        Call::ApprovalContent(args) => {
            let (_, approval) = find(&args.id)?;
            let (content, hash) = ctx.fs.read_existing(&approval.file_path)?;
            Ok(json!({ "id": approval.id, "path": approval.file_path, "hash": hash, "content": content }))
        }
        Call::ApprovalSnapshots(args) => {
            let (_, approval) = find(&args.id)?;
            let dir = root.snapshot_dir(&approval.category_name, &approval.file_path).map_err(spec_error)?;
            match ctx.fs.read_text(&format!("{dir}/metadata.json"))? {
                Some((text, _)) => to_value(&parse_snapshot_metadata(&text).map_err(spec_error)?),
                None => Ok(json!({ "filePath": approval.file_path, "currentVersion": 0, "snapshots": [] })),
            }
        }
        Call::ApprovalSnapshotGet(args) => {
            let (_, approval) = find(&args.id)?;
            to_value(&read_snapshot(ctx, root, &approval, args.version)?)
        }
        Call::ApprovalDiff(args) => {
            let (_, approval) = find(&args.id)?;
            let old = read_snapshot(ctx, root, &approval, args.from)?.content;
            let new = match args.to {
                Some(version) => read_snapshot(ctx, root, &approval, version)?.content,
                None => ctx.fs.read_existing(&approval.file_path)?.0,
            };
            let mut value = to_value(&diff(&old, &new))?;
            value["from"] = json!(args.from);
            value["to"] = args.to.map_or_else(|| json!("current"), |v| json!(v));
            Ok(value)
        }
        Call::ApprovalCreate(args) => create(ctx, root, args),
        Call::ApprovalUpdate(args) => {
            let (path, approval) = find_writable(&args.id)?;
            let action = ApprovalAction::parse(&args.action).map_err(spec_error)?;
            let comments: Vec<ApprovalComment> =
                serde_json::from_value(Value::Array(args.comments.clone())).map_err(|e| {
                    ErrorBody::new(ErrorCode::Invalid, format!("bad comments: {e}"))
                        .with_hint("each comment is an object with `type` and `comment`, as spec-workflow stores it")
                })?;
            let current = ctx.fs.read_existing(&path)?;
            ctx.fs.check_seen(args.base_hash.as_deref(), &current)?;
            let (text, hash) = current;
            // Checked before the snapshot so a refused decision leaves no snapshot behind.
            apply_action(&text, action, args.response.as_deref(), &comments, ctx.now).map_err(spec_error)?;
            let trigger = match action {
                ApprovalAction::Approve => Some(SnapshotTrigger::Approved),
                ApprovalAction::NeedsRevision => Some(SnapshotTrigger::RevisionRequested),
                ApprovalAction::Reject => None,
            };
            let snapshot = match trigger {
                Some(trigger) => take_snapshot(ctx, root, &approval, trigger)?,
                None => None,
            };
            let updated =
                apply_action(&text, action, args.response.as_deref(), &comments, ctx.now).map_err(spec_error)?;
            let new_hash = ctx.fs.write(&path, updated.as_bytes(), Some(&hash))?;
            let approval = parse_approval(&updated).map_err(spec_error)?;
            edit_result(root, &path, &approval, new_hash, snapshot)
        }
        Call::ApprovalSnapshot(args) => {
            let (_, approval) = find_writable(&args.id)?;
            let version = take_snapshot(ctx, root, &approval, SnapshotTrigger::Manual)?;
            to_value(&SnapshotResult { id: approval.id, version })
        }
        Call::ApprovalDelete(args) => {
            let (path, _) = find_writable(&args.id)?;
            let (_, hash) = ctx.fs.read_existing(&path)?;
            ctx.fs.remove(&path, &hash)?;
            to_value(&DeleteResult { id: args.id.clone(), path, deleted: true })
        }
        other => Err(wrong_layout(other, ctx.project.layout)),
    }
}

/// The result of a create or a decision: the approval, its new hash, the snapshot.
fn edit_result(
    root: WorkflowRoot,
    path: &str,
    approval: &Approval,
    hash: String,
    snapshot: Option<u32>,
) -> Result<Value, ErrorBody> {
    let Value::Object(approval) = approval_json(root, path, approval) else {
        return Err(ErrorBody::new(ErrorCode::Internal, "an approval did not serialize to an object"));
    };
    to_value(&ApprovalEditResult { approval, hash, snapshot_version: snapshot })
}

/// The wire shape of an approval (snake_case, plus the file it lives in, and
/// whether it is a legacy one spec-workflow no longer reads).
fn approval_json(root: WorkflowRoot, path: &str, a: &Approval) -> Value {
    let legacy = root.approval_location(path) == ApprovalLocation::Legacy;
    let mut value = json!({
        "id": a.id,
        "title": a.title,
        "file_path": a.file_path,
        "type": a.kind,
        "status": a.status.as_str(),
        "created_at": a.created_at,
        "responded_at": a.responded_at,
        "response": a.response,
        "annotations": a.annotations,
        "comments": a.comments,
        "category": a.category,
        "category_name": a.category_name,
        "path": path,
        "legacy": legacy,
    });
    for (key, extra) in &a.extra {
        value["extra"][key] = extra.clone();
    }
    value
}

fn read_snapshot(
    ctx: &Ctx<'_>,
    root: WorkflowRoot,
    approval: &Approval,
    version: u32,
) -> Result<specbridge_specs::Snapshot, ErrorBody> {
    let dir = root.snapshot_dir(&approval.category_name, &approval.file_path).map_err(spec_error)?;
    let (meta, _) = ctx.fs.read_text(&format!("{dir}/metadata.json"))?.ok_or_else(|| not_found("snapshot metadata"))?;
    let meta = parse_snapshot_metadata(&meta).map_err(spec_error)?;
    let entry = find_snapshot(&meta, version).map_err(spec_error)?;
    let (text, _) = ctx.fs.read_existing(&format!("{dir}/{}", entry.filename))?;
    parse_snapshot(&text).map_err(spec_error)
}

/// Writes the next snapshot of the approval's document and the folder's
/// metadata. Returns the new version, or `None` for a skipped `initial`.
fn take_snapshot(
    ctx: &Ctx<'_>,
    root: WorkflowRoot,
    approval: &Approval,
    trigger: SnapshotTrigger,
) -> Result<Option<u32>, ErrorBody> {
    let dir = root.snapshot_dir(&approval.category_name, &approval.file_path).map_err(spec_error)?;
    let meta_rel = format!("{dir}/metadata.json");
    let meta = ctx.fs.read_text(&meta_rel)?;
    let Some((content, _)) = ctx.fs.read_text(&approval.file_path)? else {
        // spec-workflow skips the snapshot when the document is gone.
        return Ok(None);
    };
    let last_modified =
        ctx.project.resolve(&approval.file_path).ok().and_then(|p| std::fs::metadata(p).ok()).map_or(ctx.now, |m| {
            Timestamp::from_unix_millis(i64::try_from(crate::fsutil::mtime_ms(&m)).unwrap_or(i64::MAX))
        });
    let id = format!("snapshot_{}_{}", ctx.now.unix_millis(), random_suffix());
    let source = SnapshotSource { content: &content, last_modified };
    let Some(snapshot) =
        next_snapshot(root, meta.as_ref().map(|m| m.0.as_str()), approval, source, trigger, &id, ctx.now)
            .map_err(spec_error)?
    else {
        return Ok(None);
    };
    let existing = ctx.fs.read_text(&snapshot.snapshot_path)?;
    if existing.is_some() {
        return Err(ErrorBody::new(ErrorCode::Conflict, format!("{} already exists", snapshot.snapshot_path))
            .with_hint("the snapshot metadata is behind its folder; fix it locally"));
    }
    ctx.fs.write(&snapshot.snapshot_path, snapshot.snapshot_json.as_bytes(), None)?;
    ctx.fs.write(&snapshot.metadata_path, snapshot.metadata_json.as_bytes(), meta.as_ref().map(|m| m.1.as_str()))?;
    Ok(Some(snapshot.version))
}

fn create(ctx: &Ctx<'_>, root: WorkflowRoot, args: &ApprovalCreateArgs) -> Result<Value, ErrorBody> {
    let category = match args.category.as_deref() {
        None | Some("spec") => ApprovalCategory::Spec,
        Some("steering") => ApprovalCategory::Steering,
        Some(other) => {
            return Err(ErrorBody::new(ErrorCode::Invalid, format!("unknown approval category {other:?}"))
                .with_hint("category is `spec` or `steering`"))
        }
    };
    let kind = args.kind.as_deref().unwrap_or("document");
    let id = approval_id(ctx.now, &random_suffix()).map_err(spec_error)?;
    let path = root.approval_path(&args.category_name, &id).map_err(spec_error)?;
    // The document under review must be inside the project's roots.
    ctx.project.resolve(&args.file_path).map_err(|e| e.to_error_body())?;
    let text = new_approval(&id, &args.title, &args.file_path, category, &args.category_name, kind, ctx.now)
        .map_err(spec_error)?;
    let approval = parse_approval(&text).map_err(spec_error)?;
    let snapshot = take_snapshot(ctx, root, &approval, SnapshotTrigger::Initial)?;
    let hash = ctx.fs.write(&path, text.as_bytes(), None)?;
    edit_result(root, &path, &approval, hash, snapshot)
}
