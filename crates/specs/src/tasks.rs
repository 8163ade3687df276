//! spec-workflow / spec-context `tasks.md`: `- [ ] 1.2 Title` checkboxes with indented detail
//! lines, and the plain `- [ ]` checklists in LeanSpec READMEs.
//!
//! Recognition follows spec-workflow's own task parser, so progress counts match its dashboard:
//! a task line is `- [m] <id> <title>` (or `*`), where `m` is ` ` pending, `-` in progress,
//! `x` done or `~` blocked, and `<id>` is `1`, `1.2`, `1.2.` or MDX's escaped `1\.`. A checkbox
//! without an id is not a task there and is not counted.

use serde::Serialize;

use crate::error::SpecError;

/// A task's state, from its checkbox marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// `[ ]`
    Pending,
    /// `[-]`
    InProgress,
    /// `[x]`
    Done,
    /// `[~]` (spec-workflow only)
    Blocked,
}

impl TaskStatus {
    /// The marker byte between the brackets.
    pub fn marker(self) -> u8 {
        match self {
            TaskStatus::Pending => b' ',
            TaskStatus::InProgress => b'-',
            TaskStatus::Done => b'x',
            TaskStatus::Blocked => b'~',
        }
    }

    /// The status a marker byte stands for.
    pub fn from_marker(marker: u8) -> Option<TaskStatus> {
        match marker {
            b' ' => Some(TaskStatus::Pending),
            b'-' => Some(TaskStatus::InProgress),
            b'x' => Some(TaskStatus::Done),
            b'~' => Some(TaskStatus::Blocked),
            _ => None,
        }
    }

    /// Parses the names the dashboards use (`pending`, `in-progress`, `completed`/`done`, `blocked`).
    pub fn from_name(name: &str) -> Result<TaskStatus, SpecError> {
        match name.trim() {
            "pending" | "todo" => Ok(TaskStatus::Pending),
            "in-progress" | "in_progress" => Ok(TaskStatus::InProgress),
            "completed" | "complete" | "done" => Ok(TaskStatus::Done),
            "blocked" => Ok(TaskStatus::Blocked),
            other => Err(SpecError::invalid(
                "task status",
                format!("`{other}` is not pending, in-progress, completed or blocked"),
            )),
        }
    }
}

/// Counts of tasks by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskProgress {
    /// All tasks.
    pub total: usize,
    /// `[ ]`
    pub pending: usize,
    /// `[-]`
    pub in_progress: usize,
    /// `[x]`
    pub done: usize,
    /// `[~]`
    pub blocked: usize,
}

impl TaskProgress {
    fn add(&mut self, status: TaskStatus) {
        self.total += 1;
        match status {
            TaskStatus::Pending => self.pending += 1,
            TaskStatus::InProgress => self.in_progress += 1,
            TaskStatus::Done => self.done += 1,
            TaskStatus::Blocked => self.blocked += 1,
        }
    }
}

/// One task of a tasks.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// `1`, `1.2`, `3.1.4`.
    pub id: String,
    /// The text after the id.
    pub title: String,
    /// From the checkbox marker.
    pub status: TaskStatus,
    /// 0-based line of the checkbox (informational only: tasks are found by id).
    pub line: usize,
    /// Leading whitespace width of the checkbox line.
    pub indent: usize,
    /// Every non-blank line between this task and the next checkbox, trimmed.
    pub details: Vec<String>,
    /// From `_Requirements: 1.1, 2.3_`.
    pub requirements: Vec<String>,
    /// From `_Leverage: …_`.
    pub leverage: Option<String>,
    /// From `_Prompt: …_` (possibly spread over several lines).
    pub prompt: Option<String>,
    /// From `File: a, b` / `Files: …`.
    pub files: Vec<String>,
    /// From `_Blocked: reason_`.
    pub blocked_reason: Option<String>,
}

/// A checkbox line, located by byte offsets in the original text.
struct Checkbox<'a> {
    line_no: usize,
    indent: usize,
    /// Byte offset of the marker between the brackets.
    marker_at: usize,
    marker: u8,
    /// Text after `] ` (spec-workflow's `(.+)`: never empty).
    text: &'a str,
}

/// Lines of `text` with their start offsets, split on `\n`; a trailing `\r` is left out of the line.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split('\n').map(move |l| {
        let start = offset;
        offset += l.len() + 1;
        (start, l.strip_suffix('\r').unwrap_or(l))
    })
}

// Mirrors `^(\s*)([-*])\s+\[([ x\-~])\]\s+(.+)` from spec-workflow's task parser.
fn checkbox<'a>(line_no: usize, start: usize, line: &'a str, markers: &[u8]) -> Option<Checkbox<'a>> {
    let b = line.as_bytes();
    let indent = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let mut i = indent;
    if !matches!(b.get(i), Some(b'-' | b'*')) {
        return None;
    }
    i += 1;
    let ws = b[i..].iter().take_while(|c| c.is_ascii_whitespace()).count();
    if ws == 0 || b.get(i + ws) != Some(&b'[') {
        return None;
    }
    i += ws + 1;
    let marker = *b.get(i)?;
    if !markers.contains(&marker) || b.get(i + 1) != Some(&b']') {
        return None;
    }
    let marker_at = start + i;
    i += 2;
    let ws = b[i..].iter().take_while(|c| c.is_ascii_whitespace()).count();
    let text = line[i + ws..].trim_end();
    if ws == 0 || text.is_empty() {
        return None;
    }
    Some(Checkbox { line_no, indent, marker_at, marker, text })
}

// Mirrors `^(\d+(?:\.\d+)*)\s*\\?\.?\s+(.+)`. Taking the id greedily is exact: a shorter id
// would leave a `.` followed by a digit, which `\s+` rejects.
fn task_id(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i == 0 {
        return None;
    }
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    let id = &text[..i];
    let ws = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_whitespace()).count();
    let ws1 = ws(i);
    // `\s*\\?\.?\s+`: first with the optional `\` / `.`, then without them (regex backtracking).
    let mut j = i + ws1;
    if b.get(j) == Some(&b'\\') {
        j += 1;
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
    }
    let start = if j > i + ws1 && ws(j) > 0 {
        j + ws(j)
    } else if ws1 > 0 {
        i + ws1
    } else {
        return None;
    };
    let title = text[start..].trim();
    (!title.is_empty()).then_some((id, title))
}

const TASK_MARKERS: &[u8] = b" x-~";

/// Parses every task of a tasks.md, in file order.
pub fn parse_tasks(text: &str) -> Vec<Task> {
    let all: Vec<(usize, &str)> = lines(text).collect();
    let boxes: Vec<Checkbox<'_>> =
        all.iter().enumerate().filter_map(|(n, (start, l))| checkbox(n, *start, l, TASK_MARKERS)).collect();
    let mut tasks = Vec::new();
    for (k, cb) in boxes.iter().enumerate() {
        let Some((id, title)) = task_id(cb.text) else { continue };
        let Some(status) = TaskStatus::from_marker(cb.marker) else { continue };
        let end = boxes.get(k + 1).map_or(all.len(), |next| next.line_no);
        let raw: Vec<&str> = all[cb.line_no + 1..end].iter().map(|(_, l)| l.trim()).collect();
        let mut task = Task {
            id: id.to_string(),
            title: title.to_string(),
            status,
            line: cb.line_no,
            indent: cb.indent,
            details: raw.iter().filter(|l| !l.is_empty()).map(|l| l.to_string()).collect(),
            requirements: Vec::new(),
            leverage: None,
            prompt: None,
            files: Vec::new(),
            blocked_reason: None,
        };
        read_metadata(&mut task, &raw);
        tasks.push(task);
    }
    tasks
}

fn underscored<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let at = line.find(label)?;
    let rest = &line[at + label.len()..];
    let end = rest.find('_')?;
    Some(rest[..end].trim())
}

fn read_metadata(task: &mut Task, lines: &[&str]) {
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        if let Some(at) = line.find("_Prompt:") {
            let mut prompt = line[at + "_Prompt:".len()..].trim().to_string();
            let closed = prompt.ends_with('_');
            // A prompt without its closing `_` continues up to a blank line, a bullet or a
            // `Files:`/`Purpose:` line, as spec-workflow reads it.
            while !closed && i + 1 < lines.len() && continues_prompt(lines[i + 1]) {
                i += 1;
                prompt.push(' ');
                prompt.push_str(lines[i]);
            }
            task.prompt = Some(prompt.trim_end_matches('_').trim().to_string());
        } else if let Some(reqs) = underscored(line, "_Requirements:") {
            task.requirements
                .extend(reqs.split(',').map(str::trim).filter(|r| !r.is_empty() && *r != "NFR").map(str::to_string));
        } else if let Some(lev) = underscored(line, "_Leverage:") {
            task.leverage = Some(lev.to_string());
        } else if let Some(reason) = underscored(line, "_Blocked:") {
            task.blocked_reason = Some(reason.to_string());
        } else if let Some(at) = line.find("File:").or_else(|| line.find("Files:")) {
            let list = line[at..].split_once(':').map_or("", |(_, v)| v);
            task.files.extend(list.split(',').map(strip_parenthetical).filter(|f| !f.is_empty()));
        }
        i += 1;
    }
}

fn continues_prompt(next: &str) -> bool {
    let bullet = next.starts_with("- ") || next.starts_with("* ");
    let label =
        ["File:", "Files:", "Purpose:"].iter().any(|l| next.get(..l.len()).is_some_and(|p| p.eq_ignore_ascii_case(l)));
    !next.is_empty() && !bullet && !label
}

fn strip_parenthetical(f: &str) -> String {
    let f = f.trim();
    match (f.find('('), f.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &f[..a], &f[b + 1..]).trim().to_string(),
        _ => f.to_string(),
    }
}

/// Progress over the tasks of a tasks.md.
pub fn task_progress(text: &str) -> TaskProgress {
    let mut p = TaskProgress::default();
    for t in parse_tasks(text) {
        p.add(t.status);
    }
    p
}

/// Sets the status of task `task_id` by changing its one marker byte. Every other byte, line
/// endings included, stays as it was. When ids repeat, the first task wins, as in spec-workflow.
pub fn set_task_status(text: &str, task_id_wanted: &str, status: TaskStatus) -> Result<String, SpecError> {
    for (n, (start, line)) in lines(text).enumerate() {
        let Some(cb) = checkbox(n, start, line, TASK_MARKERS) else { continue };
        if task_id(cb.text).is_some_and(|(id, _)| id == task_id_wanted) {
            let mut bytes = text.as_bytes().to_vec();
            bytes[cb.marker_at] = status.marker();
            // Both markers are ASCII, so the text stays valid UTF-8.
            return String::from_utf8(bytes).map_err(|_| SpecError::invalid("tasks.md", "not UTF-8"));
        }
    }
    Err(SpecError::TaskNotFound { id: task_id_wanted.to_string() })
}

/// Counts plain markdown checkboxes (`- [ ]`, `- [x]`, `* [X]`) outside fenced code blocks, as in
/// a LeanSpec README's plan and test sections.
pub fn count_checkboxes(text: &str) -> TaskProgress {
    let mut p = TaskProgress::default();
    let mut fence: Option<&str> = None;
    for (n, (start, line)) in lines(text).enumerate() {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
            continue;
        }
        if let Some(cb) = checkbox(n, start, line, b" xX") {
            p.add(if cb.marker == b' ' { TaskStatus::Pending } else { TaskStatus::Done });
        }
    }
    p
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
