//! Setting a task's status in a spec-workflow `tasks.md`, as spec-workflow's dashboard does
//! (`PUT /api/projects/:id/specs/:name/tasks/:taskId/status` and `updateTaskStatus` in
//! `src/core/task-parser.ts`): the marker changes, a `_Blocked: <reason>_` line follows the
//! status, every other line stays as it was.

use crate::error::SpecError;
use crate::tasks::{checkbox, checkbox_head, js_trim, parse_tasks, task_id, TaskStatus};

/// Sets the status of task `task_id` and returns the new text.
///
/// As spec-workflow does it:
/// - The task is the first checkbox line whose id is `task_id`; none is `not_found`.
/// - Nothing changes (the text comes back as it was) when the task already has `status`, unless
///   it is `blocked` and a new, different `reason` is given.
/// - The task line becomes `<indent><bullet> [<marker>] <text>`: one space each side of the
///   brackets, whatever was there before.
/// - The first line below the task (up to the next checkbox) holding `_Blocked: …_` is removed,
///   whatever the new status.
/// - For `blocked` with a reason, `<indent>  - _Blocked: <reason>_` is inserted right below the
///   task line.
///
/// `reason` is trimmed and ignored unless the status is `blocked`; an empty one is no reason.
/// A reason must be one line without `_`: spec-workflow reads a reason up to its first `_`, so
/// `api_key` would read back as `api`. Deliberately unlike spec-workflow, a CRLF task line keeps
/// its `\r` and the inserted line gets one too (spec-workflow drops it from the edited line).
pub fn set_task_status(
    text: &str,
    task_id_wanted: &str,
    status: TaskStatus,
    reason: Option<&str>,
) -> Result<String, SpecError> {
    let reason = reason.map(js_trim).filter(|r| !r.is_empty() && status == TaskStatus::Blocked);
    if let Some(r) = reason {
        validate_reason(r)?;
    }
    let task = parse_tasks(text)
        .into_iter()
        .find(|t| t.id == task_id_wanted)
        .ok_or_else(|| SpecError::TaskNotFound { id: task_id_wanted.to_string() })?;
    let new_reason = reason.is_some_and(|r| task.blocked_reason.as_deref() != Some(r));
    if task.status == status && !new_reason {
        return Ok(text.to_string());
    }
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let i = task.line;
    let line = &lines[i];
    let cb = checkbox(i, line.strip_suffix('\r').unwrap_or(line))
        .filter(|cb| task_id(cb.text).is_some_and(|(id, _)| id == task_id_wanted))
        .ok_or_else(|| SpecError::TaskNotFound { id: task_id_wanted.to_string() })?;
    let (indent, bullet) = (&line[..cb.indent], &line[cb.indent..=cb.indent]);
    let cr = if line.ends_with('\r') { "\r" } else { "" };
    let rebuilt = format!("{indent}{bullet} [{}] {}", char::from(status.marker()), &line[cb.text_at..]);
    let inserted = reason.map(|r| format!("{indent}  - _Blocked: {r}_{cr}"));
    lines[i] = rebuilt;
    let blocked_line = (i + 1..lines.len())
        .take_while(|j| checkbox_head(js_trim(&lines[*j])).is_none())
        .find(|j| holds_blocked(&lines[*j]));
    if let Some(j) = blocked_line {
        lines.remove(j);
    }
    if let Some(l) = inserted {
        lines.insert(i + 1, l);
    }
    Ok(lines.join("\n"))
}

// `_Blocked:\s*[^_]+?_` anywhere in the line: the label, then at least one character before the
// next `_`.
fn holds_blocked(line: &str) -> bool {
    line.find("_Blocked:").is_some_and(|at| line[at + "_Blocked:".len()..].find('_').is_some_and(|end| end > 0))
}

fn validate_reason(reason: &str) -> Result<(), SpecError> {
    if reason.contains(['\n', '\r']) || reason.chars().any(char::is_control) {
        return Err(SpecError::invalid("blocked reason", "must be a single line"));
    }
    if reason.contains('_') {
        return Err(SpecError::invalid(
            "blocked reason",
            "must not contain `_`: spec-workflow reads the reason only up to the first `_`",
        ));
    }
    Ok(())
}
