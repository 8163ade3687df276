//! Implementation log commands on a spec-workflow / spec-context project.
//!
//! Reads both formats (`Implementation Logs/*.md` and the legacy
//! `implementation-log.json`); new entries are written as markdown files, as
//! current spec-workflow versions do, after the checks its `log-implementation`
//! tool makes (artifacts given, the task exists in tasks.md) and with the
//! statistics it computes (`filesChanged` when absent).

use super::model::Model;
use super::{spec_error, to_value, wrong_layout, Ctx};
use serde::Deserialize as _;
use serde_json::Value;
use specbridge_protocol::{Call, ErrorBody, ErrorCode, LogAddResult};
use specbridge_specs::{
    new_log_entry, search, sort_newest_first, task_stats, ImplLogEntry, LogEntryInput, WorkflowProject,
};

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
            let input = LogEntryInput::deserialize(Value::Object(args.entry.clone())).map_err(|e| {
                ErrorBody::new(ErrorCode::Invalid, format!("bad log entry: {e}"))
                    .with_hint("needs task_id, summary and artifacts; see impl-log-add in docs/protocol.md")
            })?;
            // The tool checks the task id against tasks.md as it is now.
            let tasks_rel = root.spec_document_path(&args.name, "tasks").map_err(spec_error)?;
            let tasks = ctx.fs.read_text(&tasks_rel)?.map(|(text, _)| text);
            let id = uuid::Uuid::new_v4().to_string();
            let log = new_log_entry(root, &args.name, tasks.as_deref(), &input, &id, ctx.now).map_err(spec_error)?;
            let hash = ctx.fs.write(&log.path, log.markdown.as_bytes(), None)?;
            let Value::Object(entry) = to_value(&log.entry)? else {
                return Err(ErrorBody::new(ErrorCode::Internal, "a log entry did not serialize to an object"));
            };
            to_value(&LogAddResult { entry, path: log.path, hash })
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
