//! Implementation log commands on a spec-workflow / spec-context project.
//!
//! Reads both formats (`Implementation Logs/*.md` and the legacy
//! `implementation-log.json`); new entries are written as markdown files, as
//! current spec-workflow versions do.

use super::model::Model;
use super::{spec_error, to_value, wrong_layout, Ctx};
use serde_json::{json, Map, Value};
use specbridge_protocol::{Call, ErrorBody, ErrorCode, LogAddResult};
use specbridge_specs::{render_entry, search, sort_newest_first, task_stats, ImplLogEntry, WorkflowProject};

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let root = ctx.workflow_root(call)?;
    let model = ctx.model()?;
    let Model::Workflow(w) = &*model else { return Err(wrong_layout(call, ctx.project.layout)) };
    match call {
        Call::ImplLogRead(args) => to_value(&entries(w, args.name.as_deref())),
        Call::ImplLogSearch(args) => {
            let all = entries(w, args.name.as_deref());
            to_value(&search(&all, &args.query))
        }
        Call::ImplLogTaskStats(args) => to_value(&task_stats(&entries(w, Some(&args.name)), &args.task_id)),
        Call::ImplLogAdd(args) => {
            if !w.specs.iter().any(|s| s.name == args.name) {
                return Err(super::not_found(format!("spec {:?}", args.name)));
            }
            let mut entry = entry_from_args(&args.entry)?;
            entry.id = uuid::Uuid::new_v4().to_string();
            entry.timestamp = ctx.now.to_iso_millis();
            let (file, markdown) = render_entry(&entry, ctx.now).map_err(spec_error)?;
            let rel = format!("{}/{file}", root.impl_log_dir(&args.name).map_err(spec_error)?);
            let hash = ctx.fs.write(&rel, markdown.as_bytes(), None)?;
            let Value::Object(entry) = to_value(&entry)? else {
                return Err(ErrorBody::new(ErrorCode::Internal, "a log entry did not serialize to an object"));
            };
            to_value(&LogAddResult { entry, path: rel, hash })
        }
        other => Err(wrong_layout(other, ctx.project.layout)),
    }
}

/// The entries of one spec (or of all), newest first.
fn entries(w: &WorkflowProject, spec: Option<&str>) -> Vec<ImplLogEntry> {
    let mut all: Vec<ImplLogEntry> = w
        .impl_logs
        .iter()
        .filter(|f| spec.is_none_or(|s| f.spec == s))
        .flat_map(|f| f.entries.iter().cloned())
        .collect();
    sort_newest_first(&mut all);
    all
}

/// The entry fields of `impl-log-add`, in snake_case or spec-workflow's camelCase.
fn entry_from_args(args: &Map<String, Value>) -> Result<ImplLogEntry, ErrorBody> {
    let mut fields = Map::new();
    for (key, value) in args {
        let key = match key.as_str() {
            "name" | "id" | "timestamp" => continue,
            "task_id" => "taskId",
            "files_modified" => "filesModified",
            "files_created" => "filesCreated",
            other => other,
        };
        let value = match (key, value) {
            ("statistics", Value::Object(stats)) => Value::Object(
                stats
                    .iter()
                    .map(|(k, v)| {
                        let k = match k.as_str() {
                            "lines_added" => "linesAdded",
                            "lines_removed" => "linesRemoved",
                            "files_changed" => "filesChanged",
                            other => other,
                        };
                        (k.to_owned(), v.clone())
                    })
                    .collect(),
            ),
            _ => value.clone(),
        };
        fields.insert(key.to_owned(), value);
    }
    fields.insert("id".into(), json!(""));
    fields.insert("timestamp".into(), json!(""));
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        ErrorBody::new(ErrorCode::Invalid, format!("bad log entry: {e}"))
            .with_hint("needs task_id and summary; see impl-log-add in docs/protocol.md")
    })
}
