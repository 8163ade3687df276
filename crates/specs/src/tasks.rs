//! spec-workflow / spec-context `tasks.md`: `- [ ] 1.2 Title` checkboxes with indented detail
//! lines. Editing a task's status lives in `task_status.rs`; LeanSpec's checklists, which follow
//! other rules, in `checklist.rs`.
//!
//! Recognition follows spec-workflow's own task parser (`src/core/task-parser.ts`), so progress
//! counts match its dashboard and its `spec-status` tool: a task line is `- [m] <id> <title>`
//! (or `*`), where `m` is ` ` pending, `-` in progress, `x` done or `~` blocked, and `<id>` is
//! `1`, `1.2`, `1.2.` or MDX's escaped `1\.`. A checkbox without an id is not a task there and
//! is not counted, but it still ends the detail lines of the task above it. Whitespace is
//! JavaScript's `\s` (so a BOM or a no-break space counts), fenced code is not special.

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
    pub(crate) fn add(&mut self, status: TaskStatus) {
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

/// JavaScript's `\s`: what spec-workflow's regexes and `trim()` treat as whitespace.
pub(crate) fn js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// JavaScript's `String.prototype.trim`.
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(js_space)
}

fn skip_js_space(s: &str, from: usize) -> usize {
    from + s[from..].find(|c: char| !js_space(c)).unwrap_or(s.len() - from)
}

/// Lines of `text`, split on `\n` as JavaScript's `split('\n')`; a trailing `\r` is left out.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// A checkbox line, located by byte offsets in the original text.
pub(crate) struct Checkbox<'a> {
    pub(crate) line_no: usize,
    /// Byte length of the leading whitespace (`^(\s*)`).
    pub(crate) indent: usize,
    /// Byte offset (in the line) of the text after `] ` and its whitespace.
    pub(crate) text_at: usize,
    pub(crate) marker: u8,
    /// Text after `] ` (spec-workflow's `(.+)`: never empty), trimmed at the end.
    pub(crate) text: &'a str,
}

/// `^\s*[-*]\s+\[([ x\-~])\]`: the line opens a checkbox (with or without text). Returns the
/// marker and the byte offset just past `]`. spec-workflow uses this shorter pattern to find
/// where one task's detail lines end.
pub(crate) fn checkbox_head(line: &str) -> Option<(usize, u8, usize)> {
    let indent = skip_js_space(line, 0);
    let b = line.as_bytes();
    if !matches!(b.get(indent), Some(b'-' | b'*')) {
        return None;
    }
    let open = skip_js_space(line, indent + 1);
    if open == indent + 1 || b.get(open) != Some(&b'[') {
        return None;
    }
    let marker = *b.get(open + 1)?;
    if !TASK_MARKERS.contains(&marker) || b.get(open + 2) != Some(&b']') {
        return None;
    }
    Some((indent, marker, open + 3))
}

// Mirrors `^(\s*)([-*])\s+\[([ x\-~])\]\s+(.+)` from spec-workflow's task parser.
pub(crate) fn checkbox(line_no: usize, line: &str) -> Option<Checkbox<'_>> {
    let (indent, marker, after) = checkbox_head(line)?;
    let text_at = skip_js_space(line, after);
    let text = line[text_at..].trim_end_matches(js_space);
    if text_at == after || text.is_empty() {
        return None;
    }
    Some(Checkbox { line_no, indent, text_at, marker, text })
}

// Mirrors `^(\d+(?:\.\d+)*)\s*\\?\.?\s+(.+)`. Taking the id greedily is exact: a shorter id
// would leave a `.` followed by a digit, which `\s+` rejects.
pub(crate) fn task_id(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i == 0 {
        return None;
    }
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    let id = &text[..i];
    let ws = |from: usize| skip_js_space(text, from) - from;
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
    let title = js_trim(&text[start..]);
    (!title.is_empty()).then_some((id, title))
}

pub(crate) const TASK_MARKERS: &[u8] = b" x-~";

/// Parses every task of a tasks.md, in file order.
pub fn parse_tasks(text: &str) -> Vec<Task> {
    let all: Vec<&str> = lines(text).collect();
    // Every checkbox line ends the detail lines of the task above it, task or not.
    let heads: Vec<usize> = (0..all.len()).filter(|n| checkbox_head(all[*n]).is_some()).collect();
    let mut tasks = Vec::new();
    for (k, &n) in heads.iter().enumerate() {
        let Some(cb) = checkbox(n, all[n]) else { continue };
        let Some((id, title)) = task_id(cb.text) else { continue };
        let Some(status) = TaskStatus::from_marker(cb.marker) else { continue };
        let end = heads.get(k + 1).copied().unwrap_or(all.len());
        let raw: Vec<&str> = all[cb.line_no + 1..end].iter().map(|l| js_trim(l)).collect();
        let mut task = Task {
            id: id.to_string(),
            title: title.to_string(),
            status,
            line: cb.line_no,
            indent: all[n][..cb.indent].chars().count(),
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
    Some(js_trim(&rest[..end]))
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
            // `_Blocked:\s*([^_]+?)_`, trimmed; the last such line wins, an empty one is no reason.
            task.blocked_reason = Some(reason.to_string()).filter(|r| !r.is_empty());
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

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
