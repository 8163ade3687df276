//! Spec commands on a LeanSpec project (`specs/NNN-name/README.md`).
//!
//! Archiving follows LeanSpec: the folder stays where it is and `status`
//! becomes `archived` (with `transitions` and `updated_at` maintained).
//! Unarchiving restores the last status before `archived`.
//!
//! A status set by `update-frontmatter` passes LeanSpec's own guard first
//! (`leanspec update --status`, CLI 0.3.0): `skips_planned` from draft,
//! `open_items` when completing with unchecked items, unless `force`.

use super::model::{progress_json, LeanEntry, LeanModel, Model};
use super::{not_found, spec_error, to_value, wrong_layout, Ctx};
use crate::project::Layout;
use serde_json::{json, Map, Value};
use specbridge_protocol::{
    Call, CreateSpecArgs, CreateSpecResult, DocumentWriteArgs, DocumentWriteResult, ErrorBody, ErrorCode,
    SpecEditResult, SpecReadArgs,
};
use specbridge_specs::{
    check_status_change, new_spec_readme, next_spec_number, parse_spec, spec_body, update_content, update_frontmatter,
    validate_name, FrontmatterChanges, Priority, SpecStatus,
};

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let model = ctx.model()?;
    let Model::Lean(m) = &*model else { return Err(wrong_layout(call, ctx.project.layout)) };
    match call {
        Call::SpecList(_) => Ok(Value::Array(m.specs.iter().filter(|e| !archived(e)).map(summary).collect())),
        Call::SpecArchivedList(_) => Ok(Value::Array(m.specs.iter().filter(|e| archived(e)).map(summary).collect())),
        Call::SpecRead(args) | Call::SpecArchivedRead(args) => spec_read(ctx, m, args),
        Call::TaskProgress(args) => {
            let entry = find(m, &args.name)?;
            Ok(json!({ "name": entry.dir, "progress": progress_json(&entry.spec.checklist), "tasks": [] }))
        }
        Call::SpecDocumentWrite(args) => document_write(ctx, m, args),
        Call::UpdateFrontmatter(args) => {
            let changes = changes_from_json(&args.changes)?;
            edit_readme(ctx, m, &args.name, args.base_hash.as_deref(), &changes, Some(args.force))
        }
        Call::SpecArchive(args) => {
            let changes = FrontmatterChanges { status: Some(SpecStatus::Archived), ..Default::default() };
            edit_readme(ctx, m, &args.name, args.base_hash.as_deref(), &changes, None)
        }
        Call::SpecUnarchive(args) => {
            let entry = find(m, &args.name)?;
            if !archived(entry) {
                return Err(ErrorBody::new(ErrorCode::Invalid, format!("spec {:?} is not archived", entry.dir))
                    .with_hint("spec-unarchive restores an archived spec; use update-frontmatter to change a status"));
            }
            let previous = entry
                .spec
                .transitions
                .iter()
                .rev()
                .map(|t| t.status)
                .find(|s| *s != SpecStatus::Archived)
                .unwrap_or(SpecStatus::Complete);
            // LeanSpec guards only `update`: restoring a status is never refused.
            let changes = FrontmatterChanges { status: Some(previous), ..Default::default() };
            edit_readme(ctx, m, &args.name, args.base_hash.as_deref(), &changes, None)
        }
        Call::UpdateContent(args) => {
            let entry = find(m, &args.name)?;
            let rel = readme(entry);
            let current = ctx.fs.read_existing(&rel)?;
            ctx.fs.check_seen(args.base_hash.as_deref(), &current)?;
            let text = update_content(&current.0, &args.content, ctx.now).map_err(spec_error)?;
            let hash = ctx.fs.write(&rel, text.as_bytes(), Some(&current.1))?;
            let changed = text != current.0;
            to_value(&SpecEditResult { name: entry.dir.clone(), path: rel, hash, changed, status: None })
        }
        Call::CreateSpec(args) => create_spec(ctx, m, args),
        Call::TaskStatusUpdate(_) => Err(ErrorBody::new(
            ErrorCode::Invalid,
            "LeanSpec checklists have no task ids; edit the README with update-content",
        )
        .with_hint("task-status-update applies to spec-workflow and spec-context tasks.md")),
        other => Err(wrong_layout(other, Layout::LeanSpec)),
    }
}

fn archived(entry: &LeanEntry) -> bool {
    entry.spec.status == Some(SpecStatus::Archived)
}

fn readme(entry: &LeanEntry) -> String {
    format!("specs/{}/README.md", entry.dir)
}

/// A spec by folder name (`012-auth`), number (`012` or `12`) or slug (`auth`).
pub(super) fn find<'m>(m: &'m LeanModel, name: &str) -> Result<&'m LeanEntry, ErrorBody> {
    let number: Option<u32> = name.parse().ok();
    m.specs
        .iter()
        .find(|e| e.dir == name)
        .or_else(|| number.and_then(|n| m.specs.iter().find(|e| e.spec.number == Some(n))))
        .or_else(|| m.specs.iter().find(|e| e.dir.split_once('-').is_some_and(|(_, slug)| slug == name)))
        .ok_or_else(|| not_found(format!("spec {name:?}")))
}

/// The REST list shape of a spec.
fn summary(entry: &LeanEntry) -> Value {
    let s = &entry.spec;
    json!({
        "name": entry.dir,
        "title": s.title.clone().unwrap_or_else(|| entry.dir.clone()),
        "status": s.status.map(|v| v.as_str()),
        "priority": s.priority.map(|v| v.as_str()),
        "tags": s.tags,
        "depends_on": s.depends_on,
        "documents": entry.documents,
        "task_progress": progress_json(&s.checklist),
    })
}

fn spec_read(ctx: &Ctx<'_>, m: &LeanModel, args: &SpecReadArgs) -> Result<Value, ErrorBody> {
    let entry = find(m, &args.name)?;
    if let Some(document) = &args.document {
        let file = document_file(entry, document)?;
        let rel = format!("specs/{}/{file}", entry.dir);
        let (content, hash) = ctx.fs.read_existing(&rel)?;
        return Ok(json!({ "name": entry.dir, "document": file, "path": rel, "hash": hash, "content": content }));
    }
    let rel = readme(entry);
    let (content, hash) = ctx.fs.read_existing(&rel)?;
    let body = spec_body(&content).map_err(spec_error)?.to_owned();
    let mut value = summary(entry);
    let s = &entry.spec;
    value["number"] = json!(s.number);
    value["parent"] = json!(s.parent);
    value["assignee"] = json!(s.assignee);
    value["created"] = json!(s.created);
    value["created_at"] = to_value(&s.created_at)?;
    value["updated_at"] = to_value(&s.updated_at)?;
    value["completed_at"] = to_value(&s.completed_at)?;
    value["transitions"] = to_value(&s.transitions)?;
    value["warnings"] = json!(s.warnings);
    value["path"] = json!(rel);
    value["hash"] = json!(hash);
    value["content"] = json!(content);
    value["body"] = json!(body);
    Ok(value)
}

/// A document of the folder: `README.md`, `DESIGN.md`, or the same without
/// `.md` in any case (`design`). New documents must be a plain `NAME.md`.
fn document_file(entry: &LeanEntry, document: &str) -> Result<String, ErrorBody> {
    let wanted =
        if document.to_ascii_lowercase().ends_with(".md") { document.to_owned() } else { format!("{document}.md") };
    if let Some(found) = entry.documents.iter().find(|d| d.eq_ignore_ascii_case(&wanted)) {
        return Ok(found.clone());
    }
    validate_name("document", &wanted).map_err(spec_error)?;
    Ok(wanted.to_ascii_uppercase().replace(".MD", ".md"))
}

fn document_write(ctx: &Ctx<'_>, m: &LeanModel, args: &DocumentWriteArgs) -> Result<Value, ErrorBody> {
    let entry = find(m, &args.name)?;
    let file = document_file(entry, &args.document)?;
    let rel = format!("specs/{}/{file}", entry.dir);
    // A whole-document write needs the hash its author saw; none means "create".
    let hash = ctx.fs.write(&rel, args.content.as_bytes(), args.base_hash.as_deref())?;
    to_value(&DocumentWriteResult { name: entry.dir.clone(), document: file, path: rel, hash })
}

/// Applies `changes` to a spec's README. `force` is `Some` for a status set
/// by `update-frontmatter`, which passes `leanspec update`'s guard unless
/// `Some(true)`; archive and unarchive pass `None` (LeanSpec guards neither).
fn edit_readme(
    ctx: &Ctx<'_>,
    m: &LeanModel,
    name: &str,
    base: Option<&str>,
    changes: &FrontmatterChanges,
    force: Option<bool>,
) -> Result<Value, ErrorBody> {
    let entry = find(m, name)?;
    let rel = readme(entry);
    let current = ctx.fs.read_existing(&rel)?;
    ctx.fs.check_seen(base, &current)?;
    if let (Some(force), Some(status)) = (force, changes.status) {
        // The file as read now, not the cached model: the guard judges what is replaced.
        let spec = parse_spec(&entry.dir, &current.0).map_err(spec_error)?;
        let body = spec_body(&current.0).map_err(spec_error)?;
        check_status_change(spec.status, status, body, force).map_err(spec_error)?;
    }
    let text = update_frontmatter(&current.0, changes, ctx.now).map_err(spec_error)?;
    let hash = ctx.fs.write(&rel, text.as_bytes(), Some(&current.1))?;
    let status = changes.status.map(|s| s.as_str().to_owned());
    to_value(&SpecEditResult { name: entry.dir.clone(), path: rel, hash, changed: text != current.0, status })
}

/// The JSON `changes` object as typed edits: `status`, `priority`, `tags`,
/// `depends_on`, `parent`, `assignee`; any other key is a scalar (string,
/// number or boolean) to set, or `null` to remove.
fn changes_from_json(changes: &Map<String, Value>) -> Result<FrontmatterChanges, ErrorBody> {
    let bad = |key: &str, what: &str| {
        ErrorBody::new(ErrorCode::Invalid, format!("`{key}` must be {what}"))
            .with_hint("see update-frontmatter in docs/protocol.md")
    };
    let list = |key: &str, v: &Value| -> Result<Vec<String>, ErrorBody> {
        v.as_array()
            .and_then(|items| items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
            .ok_or_else(|| bad(key, "a list of strings"))
    };
    let optional = |key: &str, v: &Value| -> Result<Option<String>, ErrorBody> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(bad(key, "a string or null")),
        }
    };
    let mut out = FrontmatterChanges::default();
    for (key, value) in changes {
        match key.as_str() {
            "status" => {
                let s = value.as_str().ok_or_else(|| bad(key, "a status string"))?;
                out.status = Some(s.parse().map_err(spec_error)?);
            }
            "priority" => {
                let s = value.as_str().ok_or_else(|| bad(key, "a priority string"))?;
                out.priority = Some(s.parse::<Priority>().map_err(spec_error)?);
            }
            "tags" => out.tags = Some(list(key, value)?),
            "depends_on" | "dependencies" => out.depends_on = Some(list(key, value)?),
            "parent" => out.parent = Some(optional(key, value)?),
            "assignee" => out.assignee = Some(optional(key, value)?),
            other => {
                let scalar = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => return Err(bad(other, "a string, number, boolean or null")),
                };
                out.other.push((other.to_owned(), scalar));
            }
        }
    }
    Ok(out)
}

fn create_spec(ctx: &Ctx<'_>, m: &LeanModel, args: &CreateSpecArgs) -> Result<Value, ErrorBody> {
    let status = args.status.as_deref().unwrap_or("planned").parse::<SpecStatus>().map_err(spec_error)?;
    let priority = args.priority.as_deref().unwrap_or("medium").parse::<Priority>().map_err(spec_error)?;
    // Every numbered folder counts, parsed or not, so a number is never reused.
    let mut existing: Vec<String> = m.specs.iter().map(|e| e.dir.clone()).collect();
    if let Ok(entries) = std::fs::read_dir(ctx.project.root.join("specs")) {
        existing.extend(entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_owned)));
    }
    let number = next_spec_number(existing.iter().map(String::as_str));
    let file = new_spec_readme(number, &args.title, status, priority, &args.tags, ctx.now).map_err(spec_error)?;
    let rel = format!("specs/{}/README.md", file.dir_name);
    let hash = ctx.fs.write(&rel, file.contents.as_bytes(), None)?;
    to_value(&CreateSpecResult { name: file.dir_name, number, path: rel, hash })
}
