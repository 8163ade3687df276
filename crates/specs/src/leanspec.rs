//! LeanSpec: `specs/NNN-name/README.md` with YAML frontmatter. Reading is lenient; editing
//! touches only the bytes of the keys it changes, plus the automatic fields LeanSpec maintains.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::checklist::count_checkboxes;
use crate::error::SpecError;
use crate::frontmatter::{self, Doc, InsertAt, NewValue, Splice};
use crate::tasks::TaskProgress;
use crate::time::Timestamp;
use crate::yaml::{Quote, YamlValue};

/// A LeanSpec status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecStatus {
    /// `draft`
    Draft,
    /// `planned`
    Planned,
    /// `in-progress`
    InProgress,
    /// `complete`
    Complete,
    /// `archived`
    Archived,
}

/// A LeanSpec priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

macro_rules! str_enum {
    ($ty:ident, $field:literal, $($variant:ident => $text:literal),+) => {
        impl $ty {
            /// The value as written in frontmatter.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = SpecError;
            fn from_str(s: &str) -> Result<Self, SpecError> {
                match s.trim() {
                    $($text => Ok($ty::$variant),)+
                    other => Err(SpecError::invalid($field, format!("`{other}` is not one of {}", [$($text),+].join(", ")))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
str_enum!(SpecStatus, "status", Draft => "draft", Planned => "planned", InProgress => "in-progress", Complete => "complete", Archived => "archived");
str_enum!(Priority, "priority", Low => "low", Medium => "medium", High => "high", Critical => "critical");

/// One entry of `transitions`: the status a spec moved to and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The status moved to.
    pub status: SpecStatus,
    /// When.
    pub at: Timestamp,
}

/// A LeanSpec spec as read from its README.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeanSpec {
    /// The number in the folder name (`213` for `213-cloud-sync`), if it has one.
    pub number: Option<u32>,
    /// The folder name, e.g. `213-cloud-sync`.
    pub name: String,
    /// The first `# ` heading of the body.
    pub title: Option<String>,
    /// `status`; `None` when absent or not a known status (see `warnings`).
    pub status: Option<SpecStatus>,
    /// `priority`; `None` when absent or unknown.
    pub priority: Option<Priority>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `depends_on`.
    pub depends_on: Vec<String>,
    /// `parent`.
    pub parent: Option<String>,
    /// `assignee`.
    pub assignee: Option<String>,
    /// `created`, the date as written (`2026-01-28`).
    pub created: Option<String>,
    /// `created_at`.
    pub created_at: Option<Timestamp>,
    /// `updated_at`.
    pub updated_at: Option<Timestamp>,
    /// `completed_at`.
    pub completed_at: Option<Timestamp>,
    /// `transitions`, oldest first.
    pub transitions: Vec<Transition>,
    /// Every other key, in file order, with its value as read.
    pub extra: Vec<(String, YamlValue)>,
    /// The body's `- [ ]` / `- [x]` checkboxes.
    pub checklist: TaskProgress,
    /// Values that were present but could not be understood (the file itself is kept as is).
    pub warnings: Vec<String>,
}

const KNOWN: [&str; 11] = [
    "status",
    "created",
    "priority",
    "tags",
    "depends_on",
    "parent",
    "assignee",
    "created_at",
    "updated_at",
    "completed_at",
    "transitions",
];

/// The order LeanSpec's writer puts keys in; a key this crate adds goes after the nearest key that
/// precedes it here, so a new `completed_at` lands after `updated_at` and before `transitions`.
const CANONICAL_ORDER: [&str; 19] = [
    "status",
    "created",
    "priority",
    "tags",
    "depends_on",
    "parent",
    "assignee",
    "reviewer",
    "issue",
    "pr",
    "epic",
    "breaking",
    "due",
    "updated",
    "completed",
    "created_at",
    "updated_at",
    "completed_at",
    "transitions",
];

/// Keys that follow `status` and may not be set by hand.
const AUTOMATIC: [&str; 4] = ["created_at", "updated_at", "completed_at", "transitions"];

/// Reads a LeanSpec README. `dir_name` is the spec folder's name (`NNN-name`).
pub fn parse_spec(dir_name: &str, readme: &str) -> Result<LeanSpec, SpecError> {
    let doc = Doc::parse(readme)?;
    let mut spec = LeanSpec {
        number: spec_number(dir_name),
        name: dir_name.to_string(),
        title: None,
        status: None,
        priority: None,
        tags: Vec::new(),
        depends_on: Vec::new(),
        parent: None,
        assignee: None,
        created: None,
        created_at: None,
        updated_at: None,
        completed_at: None,
        transitions: Vec::new(),
        extra: Vec::new(),
        checklist: TaskProgress::default(),
        warnings: Vec::new(),
    };
    for entry in &doc.entries {
        let value = doc.value(readme, entry);
        let key = entry.key.as_str();
        match key {
            "status" => spec.status = typed(&value, key, &mut spec.warnings),
            "priority" => spec.priority = typed(&value, key, &mut spec.warnings),
            "tags" => spec.tags = string_list(&value, key, &mut spec.warnings),
            "depends_on" => spec.depends_on = string_list(&value, key, &mut spec.warnings),
            "parent" => spec.parent = value.as_str().map(str::to_string),
            "assignee" => spec.assignee = value.as_str().map(str::to_string),
            "created" => spec.created = value.as_str().map(str::to_string),
            "created_at" => spec.created_at = timestamp(&value, key, &mut spec.warnings),
            "updated_at" => spec.updated_at = timestamp(&value, key, &mut spec.warnings),
            "completed_at" => spec.completed_at = timestamp(&value, key, &mut spec.warnings),
            "transitions" => spec.transitions = transitions(&value, &mut spec.warnings),
            _ => spec.extra.push((entry.key.clone(), value)),
        }
    }
    let body = &readme[doc.body_start..];
    spec.title = first_heading(body);
    spec.checklist = count_checkboxes(body);
    Ok(spec)
}

fn typed<T: FromStr<Err = SpecError>>(value: &YamlValue, key: &str, warnings: &mut Vec<String>) -> Option<T> {
    match value {
        YamlValue::Null => None,
        YamlValue::Scalar(s) => s.parse().map_err(|e: SpecError| warnings.push(e.to_string())).ok(),
        _ => {
            warnings.push(format!("{key} is not a single value"));
            None
        }
    }
}

fn string_list(value: &YamlValue, key: &str, warnings: &mut Vec<String>) -> Vec<String> {
    match value {
        YamlValue::Null => Vec::new(),
        YamlValue::List(items) => items
            .iter()
            .filter_map(|i| {
                let s = i.as_str().map(str::to_string);
                if s.is_none() {
                    warnings.push(format!("{key} has an item that is not a string"));
                }
                s
            })
            .collect(),
        // LeanSpec accepts a comma-separated string too.
        YamlValue::Scalar(s) => s.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
        YamlValue::Map(_) => {
            warnings.push(format!("{key} is a map, not a list"));
            Vec::new()
        }
    }
}

fn timestamp(value: &YamlValue, key: &str, warnings: &mut Vec<String>) -> Option<Timestamp> {
    let s = value.as_str()?;
    let t = Timestamp::parse(s).or_else(|| Timestamp::parse_date(s));
    if t.is_none() {
        warnings.push(format!("{key} `{s}` is not a timestamp"));
    }
    t
}

fn transitions(value: &YamlValue, warnings: &mut Vec<String>) -> Vec<Transition> {
    let YamlValue::List(items) = value else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let status = item.get("status").and_then(YamlValue::as_str).and_then(|s| s.parse().ok());
            let at = item.get("at").and_then(YamlValue::as_str).and_then(Timestamp::parse);
            match (status, at) {
                (Some(status), Some(at)) => Some(Transition { status, at }),
                _ => {
                    warnings.push("a transition lacks a valid status or at".to_string());
                    None
                }
            }
        })
        .collect()
}

fn spec_number(dir_name: &str) -> Option<u32> {
    let digits: String = dir_name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn first_heading(body: &str) -> Option<String> {
    let mut fence: Option<&str> = None;
    for line in body.lines() {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
        } else if let Some(title) = line.strip_prefix("# ") {
            return Some(title.trim().to_string());
        }
    }
    None
}

/// The frontmatter edits of one `update-frontmatter` command. `None` leaves a key alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontmatterChanges {
    /// New status; a change also maintains `updated_at`, `completed_at` and `transitions`.
    pub status: Option<SpecStatus>,
    /// New priority.
    pub priority: Option<Priority>,
    /// The full new tag list.
    pub tags: Option<Vec<String>>,
    /// The full new dependency list.
    pub depends_on: Option<Vec<String>>,
    /// `Some(None)` removes `parent`.
    pub parent: Option<Option<String>>,
    /// `Some(None)` removes `assignee`.
    pub assignee: Option<Option<String>>,
    /// Other scalar keys to set (`Some`) or remove (`None`).
    pub other: Vec<(String, Option<String>)>,
}

/// Applies `changes` to a README, editing only the keys whose value actually changes. Key order,
/// quoting, comments, every other key and the body stay byte for byte.
///
/// When anything changed, `updated_at` is set to `now`. A status change appends
/// `{status, at: now}` to `transitions` and, on moving to `complete`, sets `completed_at` unless it
/// is already set. Leaving `complete` keeps `completed_at`, as LeanSpec does. Nothing changed
/// returns the text unchanged.
pub fn update_frontmatter(text: &str, changes: &FrontmatterChanges, now: Timestamp) -> Result<String, SpecError> {
    let doc = Doc::parse(text)?;
    let current = |key: &str| doc.entry(key).map(|e| doc.value(text, e));
    let mut ops: Vec<(String, Option<NewValue>)> = Vec::new();
    let old_status = current("status").and_then(|v| v.as_str().and_then(|s| s.parse::<SpecStatus>().ok()));
    let status_changed = changes.status.is_some_and(|s| Some(s) != old_status);
    if let Some(s) = changes.status.filter(|_| status_changed) {
        ops.push(("status".into(), Some(NewValue::Scalar(s.as_str().into(), Quote::Plain))));
    }
    if let Some(p) = changes.priority {
        if current("priority").as_ref().and_then(YamlValue::as_str) != Some(p.as_str()) {
            ops.push(("priority".into(), Some(NewValue::Scalar(p.as_str().into(), Quote::Plain))));
        }
    }
    for (key, list) in [("tags", &changes.tags), ("depends_on", &changes.depends_on)] {
        if let Some(items) = list {
            validate_items(key, items)?;
            let old = current(key).map(|v| string_list(&v, key, &mut Vec::new()));
            if old.as_ref() != Some(items) {
                ops.push((key.into(), Some(NewValue::List(items.clone()))));
            }
        }
    }
    for (key, value) in [("parent", &changes.parent), ("assignee", &changes.assignee)] {
        if let Some(v) = value {
            scalar_op(&mut ops, key, v.as_deref(), current(key))?;
        }
    }
    for (key, value) in &changes.other {
        validate_other_key(key)?;
        scalar_op(&mut ops, key, value.as_deref(), current(key))?;
    }
    if ops.is_empty() {
        return Ok(text.to_string());
    }

    let stamp = now.to_rfc3339_micros();
    let ts_style = timestamp_style(&doc, text);
    let mut out = text.to_string();
    for (key, value) in ops {
        out = set_key(&out, &key, value.as_ref())?;
    }
    if let Some(new_status) = changes.status.filter(|_| status_changed) {
        let d = Doc::parse(&out)?;
        if new_status == SpecStatus::Complete && d.entry("completed_at").is_none() {
            out = set_key(&out, "completed_at", Some(&NewValue::Scalar(stamp.clone(), ts_style)))?;
        }
        out = append_transition(&out, new_status, &stamp, ts_style)?;
    }
    set_key(&out, "updated_at", Some(&NewValue::Scalar(stamp, ts_style)))
}

fn scalar_op(
    ops: &mut Vec<(String, Option<NewValue>)>,
    key: &str,
    value: Option<&str>,
    current: Option<YamlValue>,
) -> Result<(), SpecError> {
    match value {
        Some(v) => {
            validate_items(key, std::slice::from_ref(&v.to_string()))?;
            if current.as_ref().and_then(YamlValue::as_str) != Some(v) {
                ops.push((key.into(), Some(NewValue::Scalar(v.into(), Quote::Plain))));
            }
        }
        None if current.is_some() => ops.push((key.into(), None)),
        None => {}
    }
    Ok(())
}

fn validate_items(field: &str, items: &[String]) -> Result<(), SpecError> {
    for item in items {
        if item.trim().is_empty() {
            return Err(SpecError::invalid(field, "values must not be empty"));
        }
        if item.chars().any(|c| c.is_control()) {
            return Err(SpecError::invalid(field, "values must be a single line without control characters"));
        }
    }
    Ok(())
}

fn validate_other_key(key: &str) -> Result<(), SpecError> {
    if AUTOMATIC.contains(&key) {
        return Err(SpecError::ReservedKey { key: key.to_string() });
    }
    if KNOWN.contains(&key) {
        return Err(SpecError::invalid("key", format!("`{key}` has its own field in the change set")));
    }
    let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(SpecError::invalid("key", format!("`{key}` must use letters, digits, `_` or `-`")));
    }
    Ok(())
}

// Timestamps are written the way the file already writes them: LeanSpec's Rust writer leaves
// them bare, its older TypeScript writer quoted them.
fn timestamp_style(doc: &Doc, text: &str) -> Quote {
    ["updated_at", "created_at", "completed_at"]
        .iter()
        .filter_map(|k| doc.entry(k))
        .map(|e| Quote::of(&text[e.inline.clone()]))
        .next()
        .unwrap_or(Quote::Plain)
}

/// Sets (or with `None` removes) one top-level key, inserting a new key in LeanSpec's order.
fn set_key(text: &str, key: &str, value: Option<&NewValue>) -> Result<String, SpecError> {
    let doc = Doc::parse(text)?;
    let splice: Splice = match (doc.entry(key), value) {
        (Some(e), Some(v)) => frontmatter::set_value(&doc, text, e, v),
        (Some(e), None) => frontmatter::remove_entry(e),
        (None, None) => return Ok(text.to_string()),
        (None, Some(v)) => frontmatter::insert_entry(&doc, text, key, v, insert_position(&doc, key)),
    };
    Ok(splice.apply(text))
}

fn insert_position<'a>(doc: &'a Doc, key: &str) -> InsertAt<'a> {
    let Some(rank) = CANONICAL_ORDER.iter().position(|k| *k == key) else {
        // Unknown keys go before the automatic block, like LeanSpec's custom fields.
        return match doc.entries.iter().find(|e| AUTOMATIC.contains(&e.key.as_str())) {
            Some(first_auto) => InsertAt::Before(first_auto),
            None => doc.entries.last().map_or(InsertAt::End, InsertAt::After),
        };
    };
    let rank_of = |e: &frontmatter::Entry| CANONICAL_ORDER.iter().position(|k| *k == e.key);
    let below = |i: &usize| rank_of(&doc.entries[*i]).is_some_and(|r| r < rank);
    // After the highest-ranked key that precedes it, then past any directly following keys that
    // also precede it (files written by hand or by older tools are not always in order).
    if let Some(mut i) = (0..doc.entries.len()).filter(below).max_by_key(|i| rank_of(&doc.entries[*i])) {
        while i + 1 < doc.entries.len() && below(&(i + 1)) {
            i += 1;
        }
        return InsertAt::After(&doc.entries[i]);
    }
    match doc.entries.iter().find(|e| rank_of(e).is_some_and(|r| r > rank)) {
        Some(next) => InsertAt::Before(next),
        None => doc.entries.last().map_or(InsertAt::End, InsertAt::After),
    }
}

fn append_transition(text: &str, status: SpecStatus, stamp: &str, ts_style: Quote) -> Result<String, SpecError> {
    let doc = Doc::parse(text)?;
    let existing = doc.entry("transitions").filter(|e| e.inline.is_empty() && e.content_end > e.line_end);
    match existing {
        Some(e) => {
            let block = &text[e.line_end..e.content_end];
            let item_line = block.lines().find(|l| l.trim_start().starts_with("- ")).unwrap_or("- ");
            let indent = item_line.len() - item_line.trim_start().len();
            // `at` keeps the quoting of the transitions already there.
            let at_style = block
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("at:").map(|v| Quote::of(v.trim())))
                .unwrap_or(ts_style);
            let pad = " ".repeat(indent);
            let lines = [
                format!("{pad}- status: {}", status.as_str()),
                format!("{pad}  at: {}", crate::yaml::format_scalar(stamp, at_style, false)),
            ];
            Ok(frontmatter::append_lines(&doc, text, e, &lines).apply(text))
        }
        None => {
            let pad = " ".repeat(doc.list_indent(text));
            let nl = doc.nl;
            let at = crate::yaml::format_scalar(stamp, ts_style, false);
            let rendered = format!("transitions:{nl}{pad}- status: {}{nl}{pad}  at: {at}{nl}", status.as_str());
            let mut out = text.to_string();
            if let Some(e) = doc.entry("transitions") {
                // `transitions: []` (or an empty key): replace it whole.
                out = frontmatter::remove_entry(e).apply(text);
            }
            let doc = Doc::parse(&out)?;
            let at_pos = insert_position(&doc, "transitions");
            Ok(frontmatter::insert_raw(&doc, &out, rendered, at_pos).apply(&out))
        }
    }
}

/// Replaces the body (everything after the closing `---` line), keeping the frontmatter bytes
/// except `updated_at`, which is set to `now`. An unchanged body returns the text unchanged.
pub fn update_content(text: &str, new_body: &str, now: Timestamp) -> Result<String, SpecError> {
    let doc = Doc::parse(text)?;
    if &text[doc.body_start..] == new_body {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(doc.body_start + new_body.len());
    out.push_str(&text[..doc.body_start]);
    if !out.ends_with('\n') {
        out.push_str(doc.nl);
    }
    out.push_str(new_body);
    let stamp = now.to_rfc3339_micros();
    let style = timestamp_style(&doc, text);
    set_key(&out, "updated_at", Some(&NewValue::Scalar(stamp, style)))
}

/// The body of a README: everything after the closing `---` line.
pub fn spec_body(text: &str) -> Result<&str, SpecError> {
    let doc = Doc::parse(text)?;
    Ok(&text[doc.body_start..])
}

/// The number the next spec gets: one more than the highest leading number among `existing`
/// folder names (`001-a`, `213-b` → 214), or 1 when there is none.
pub fn next_spec_number<'a>(existing: impl IntoIterator<Item = &'a str>) -> u32 {
    existing.into_iter().filter_map(spec_number).max().map_or(1, |n| n.saturating_add(1))
}

/// A new spec's folder name and README contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSpecFile {
    /// `NNN-slug`, e.g. `214-offline-queue`.
    pub dir_name: String,
    /// The README.md contents.
    pub contents: String,
}

/// Builds a new spec README in the shape LeanSpec's `create` writes (frontmatter as its Rust
/// writer serialises it, then a titled body with the usual sections).
pub fn new_spec_readme(
    number: u32,
    title: &str,
    status: SpecStatus,
    priority: Priority,
    tags: &[String],
    now: Timestamp,
) -> Result<NewSpecFile, SpecError> {
    let title = title.trim();
    if title.is_empty() || title.contains(['\n', '\r']) {
        return Err(SpecError::invalid("title", "must be a non-empty single line"));
    }
    validate_items("tags", tags)?;
    let slug = slugify(title);
    let dir_name = format!("{number:03}-{slug}");
    let stamp = now.to_rfc3339_micros();
    let mut fm = format!("---\nstatus: {status}\ncreated: {}\npriority: {priority}\n", now.date());
    if tags.is_empty() {
        fm.push_str("tags: []\n");
    } else {
        fm.push_str("tags:\n");
        for t in tags {
            fm.push_str(&format!("- {}\n", crate::yaml::format_scalar(t, Quote::Plain, false)));
        }
    }
    fm.push_str(&format!("created_at: {stamp}\nupdated_at: {stamp}\n"));
    if status == SpecStatus::Complete {
        fm.push_str(&format!("completed_at: {stamp}\n"));
    }
    fm.push_str("---\n\n");
    let body = format!(
        "# {title}\n\n## Overview\n\n<!-- What problem does this solve, and why now? -->\n\n## Design\n\n\
         <!-- How it works: key decisions and trade-offs. -->\n\n## Plan\n\n<!-- Steps as a checklist: - [ ] … -->\n\n\
         ## Test\n\n<!-- How we know it works. -->\n\n## Notes\n"
    );
    Ok(NewSpecFile { dir_name, contents: fm + &body })
}

fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "spec".to_string()
    } else {
        slug.to_string()
    }
}

#[cfg(test)]
#[path = "leanspec_tests.rs"]
mod tests;
