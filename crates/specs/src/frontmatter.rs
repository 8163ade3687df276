//! Byte-level view of a `---` YAML frontmatter block: where each top-level key and its value sit,
//! so an edit can replace exactly those bytes and leave key order, quoting, comments, other keys
//! and the body untouched.

use std::ops::Range;

use crate::error::SpecError;
use crate::yaml::{self, format_scalar, Quote, YamlValue};

/// The frontmatter/body split of a markdown file, by byte offsets into the original text.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    /// The YAML text, from the line after the opening `---` to the start of the closing `---` line.
    pub(crate) yaml: Range<usize>,
    /// Where the body starts: just after the closing `---` line's newline.
    pub(crate) body_start: usize,
    /// The file's newline (`\n` or `\r\n`), taken from the opening line.
    pub(crate) nl: &'static str,
    /// The top-level keys, in file order.
    pub(crate) entries: Vec<Entry>,
}

/// One top-level `key: value` and the bytes its value spans.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    /// Start of the key's line.
    pub(crate) start: usize,
    /// Just after the `:` that ends the key.
    pub(crate) colon_end: usize,
    /// The value written on the key's own line (quotes and brackets included, comment excluded);
    /// empty (`start == end`) when the value is a block below the key or absent.
    pub(crate) inline: Range<usize>,
    /// End of the key line's text (before its newline).
    pub(crate) line_end: usize,
    /// End of the last line that belongs to the value (before its newline); `line_end` if none.
    pub(crate) content_end: usize,
    /// Just after the newline of the entry's last value line.
    pub(crate) end: usize,
}

impl Doc {
    /// Finds the frontmatter in `text`. Errors when the file does not start with `---`.
    pub(crate) fn parse(text: &str) -> Result<Doc, SpecError> {
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let first_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        if text[start..first_end].trim_end() != "---" {
            return Err(SpecError::NoFrontmatter);
        }
        let nl = if text[start..first_end].ends_with('\r') { "\r\n" } else { "\n" };
        let yaml_start = (first_end + 1).min(text.len());
        let mut pos = yaml_start;
        let mut lines = Vec::new();
        loop {
            if pos >= text.len() {
                return Err(SpecError::UnclosedFrontmatter);
            }
            let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
            let content_end = if text[pos..end].ends_with('\r') { end - 1 } else { end };
            if text[pos..content_end].trim_end() == "---" {
                let body_start = (end + 1).min(text.len());
                let entries = scan_entries(text, &lines);
                return Ok(Doc { yaml: yaml_start..pos, body_start, nl, entries });
            }
            lines.push((pos, content_end, (end + 1).min(text.len())));
            pos = end + 1;
        }
    }

    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value of `entry`, read leniently.
    pub(crate) fn value(&self, text: &str, entry: &Entry) -> YamlValue {
        if !entry.inline.is_empty() {
            return yaml::parse_inline(&text[entry.inline.clone()]);
        }
        let lines = yaml::block_lines(&text[entry.line_end..entry.content_end]);
        if lines.is_empty() {
            return YamlValue::Null;
        }
        yaml::parse_block(&lines, &mut 0)
    }

    /// The indentation the file uses for block-list items (`- a` at column 0 as LeanSpec's Rust
    /// writer does, or `  - a` as its older TypeScript writer did); 0 when it has no block list.
    pub(crate) fn list_indent(&self, text: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.inline.is_empty() && e.content_end > e.line_end)
            .find_map(|e| {
                text[e.line_end..e.content_end].lines().find_map(|l| {
                    let body = l.trim_start_matches(' ');
                    body.starts_with('-').then_some(l.len() - body.len())
                })
            })
            .unwrap_or(0)
    }
}

// Groups the frontmatter lines into top-level entries. A line at column 0 that looks like
// `key:` starts an entry; indented lines and `- item` lines belong to the entry above.
// Blank lines and column-0 comments only belong to it when more value lines follow, so a
// comment sitting between two keys survives when the value above it is rewritten.
fn scan_entries(text: &str, lines: &[(usize, usize, usize)]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for &(start, content_end, next) in lines {
        let line = &text[start..content_end];
        let first = line.as_bytes().first().copied();
        let is_key = !matches!(first, None | Some(b' ' | b'\t' | b'-' | b'#')) && yaml::split_key(line).is_some();
        if is_key {
            if let Some((key, _)) = yaml::split_key(line) {
                let colon_end = start + key_colon_end(line);
                let inline = inline_span(text, colon_end, content_end);
                entries.push(Entry { key, start, colon_end, inline, line_end: content_end, content_end, end: next });
            }
            continue;
        }
        let is_value_line = matches!(first, Some(b' ' | b'\t' | b'-')) && !line.trim().is_empty();
        if let (true, Some(last)) = (is_value_line, entries.last_mut()) {
            if !last.inline.is_empty() && text[last.inline.clone()].starts_with(['[', '{']) {
                // A flow list spread over several lines: the inline span grows with it.
                last.inline.end = content_end;
            }
            last.content_end = content_end;
            last.end = next;
        }
    }
    entries
}

fn key_colon_end(line: &str) -> usize {
    let b = line.as_bytes();
    let from = if matches!(b.first(), Some(b'\'' | b'"')) { yaml::quoted_end(b, 0).unwrap_or(0) } else { 0 };
    line[from..].find(':').map_or(line.len(), |i| from + i + 1)
}

fn inline_span(text: &str, colon_end: usize, line_end: usize) -> Range<usize> {
    let rest = &text[colon_end..line_end];
    let lead = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let start = colon_end + lead;
    let v = &text[start..line_end];
    let len = match v.as_bytes().first() {
        None | Some(b'#') => 0,
        Some(b'\'' | b'"') => yaml::quoted_end(v.as_bytes(), 0).unwrap_or(v.trim_end().len()),
        _ => yaml::strip_comment(v).trim_end().len(),
    };
    start..start + len
}

/// How a value should be written back.
#[derive(Debug, Clone)]
pub(crate) enum NewValue {
    /// A scalar, quoted in this style when safe.
    Scalar(String, Quote),
    /// A list of scalars.
    List(Vec<String>),
}

/// One byte splice: replace `range` of the text with `with`.
pub(crate) struct Splice {
    range: Range<usize>,
    with: String,
}

impl Splice {
    pub(crate) fn apply(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + self.with.len());
        out.push_str(&text[..self.range.start]);
        out.push_str(&self.with);
        out.push_str(&text[self.range.end..]);
        out
    }
}

/// The splice that rewrites the value of an existing entry, keeping the key, the bytes around the
/// value (a trailing comment, the newline) and the style the value was written in.
pub(crate) fn set_value(doc: &Doc, text: &str, entry: &Entry, value: &NewValue) -> Splice {
    let old_inline = &text[entry.inline.clone()];
    match value {
        NewValue::Scalar(v, default_style) => {
            let style = if old_inline.is_empty() { *default_style } else { Quote::of(old_inline) };
            let scalar = format_scalar(v, style, false);
            if !old_inline.is_empty() && entry.content_end == entry.line_end {
                Splice { range: entry.inline.clone(), with: scalar }
            } else {
                Splice { range: entry.colon_end..entry.content_end, with: format!(" {scalar}") }
            }
        }
        // A flow list stays a flow list; an empty `[]` grows into the file's block style.
        NewValue::List(items) if old_inline.starts_with('[') && !is_empty_flow(old_inline) => {
            let style = list_item_style(old_inline);
            let quoted: Vec<String> = items.iter().map(|i| format_scalar(i, style, true)).collect();
            Splice { range: entry.inline.clone(), with: format!("[{}]", quoted.join(", ")) }
        }
        NewValue::List(items) if items.is_empty() => {
            Splice { range: entry.colon_end..entry.content_end, with: " []".to_string() }
        }
        NewValue::List(items) => {
            let existing = doc.value(text, entry);
            let style = list_item_style(&text[entry.colon_end..entry.content_end]);
            let indent = match (&existing, entry.inline.is_empty()) {
                (YamlValue::List(l), true) if !l.is_empty() => own_indent(text, entry),
                _ => doc.list_indent(text),
            };
            let block = block_list(items, style, indent, doc.nl);
            if old_inline.is_empty() {
                Splice { range: entry.line_end..entry.content_end, with: block }
            } else {
                Splice { range: entry.colon_end..entry.content_end, with: block }
            }
        }
    }
}

fn is_empty_flow(raw: &str) -> bool {
    raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')).is_some_and(|inner| inner.trim().is_empty())
}

fn own_indent(text: &str, entry: &Entry) -> usize {
    text[entry.line_end..entry.content_end]
        .lines()
        .find_map(|l| {
            let body = l.trim_start_matches(' ');
            body.starts_with('-').then_some(l.len() - body.len())
        })
        .unwrap_or(0)
}

// Items keep the quoting they had when every one of them was quoted the same way; otherwise
// they are written plain and quoted only where YAML needs it (what both LeanSpec writers do).
fn list_item_style(raw: &str) -> Quote {
    let raw = raw.trim();
    let items: Vec<&str> = if let Some(flow) = raw.strip_prefix('[') {
        flow.trim_end_matches(']').split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
    } else {
        raw.lines().filter_map(|l| l.trim_start().strip_prefix('-')).map(str::trim).collect()
    };
    let styles: Vec<Quote> = items.iter().map(|i| Quote::of(i)).collect();
    match styles.first() {
        Some(&first) if styles.iter().all(|&s| s == first) => first,
        _ => Quote::Plain,
    }
}

fn block_list(items: &[String], style: Quote, indent: usize, nl: &str) -> String {
    let pad = " ".repeat(indent);
    items.iter().map(|i| format!("{nl}{pad}- {}", format_scalar(i, style, false))).collect()
}

/// The splice that inserts a new entry (`key: value` or a block list) right after `after`'s
/// last value line, or at `before`'s start, or at the end of the YAML when neither exists.
pub(crate) fn insert_entry(doc: &Doc, text: &str, key: &str, value: &NewValue, at: InsertAt<'_>) -> Splice {
    let nl = doc.nl;
    let rendered = match value {
        NewValue::Scalar(v, style) => format!("{key}: {}{nl}", format_scalar(v, *style, false)),
        NewValue::List(items) if items.is_empty() => format!("{key}: []{nl}"),
        NewValue::List(items) => format!("{key}:{}{nl}", block_list(items, Quote::Plain, doc.list_indent(text), nl)),
    };
    insert_raw(doc, text, rendered, at)
}

/// Inserts already-rendered entry text (ending with the file's newline).
pub(crate) fn insert_raw(doc: &Doc, text: &str, mut rendered: String, at: InsertAt<'_>) -> Splice {
    let pos = match at {
        InsertAt::After(e) => e.end,
        InsertAt::Before(e) => e.start,
        InsertAt::End => doc.yaml.end,
    };
    // The line before the insertion point may lack a newline only at the very end of the YAML
    // when the closing `---` follows without one; guard anyway so keys never fuse.
    if pos > 0 && !text[..pos].ends_with('\n') && pos == doc.yaml.end {
        rendered.insert_str(0, doc.nl);
    }
    Splice { range: pos..pos, with: rendered }
}

/// Where a new key goes.
pub(crate) enum InsertAt<'a> {
    After(&'a Entry),
    Before(&'a Entry),
    End,
}

/// The splice that removes an entry (its key line and value lines).
pub(crate) fn remove_entry(entry: &Entry) -> Splice {
    Splice { range: entry.start..entry.end, with: String::new() }
}

/// Appends `lines` (already indented, without newlines) after the last value line of `entry`.
pub(crate) fn append_lines(doc: &Doc, text: &str, entry: &Entry, lines: &[String]) -> Splice {
    let nl = doc.nl;
    let mut with: String = lines.iter().map(|l| format!("{l}{nl}")).collect();
    let pos = entry.end;
    if !text[..pos].ends_with('\n') {
        with.insert_str(0, nl);
    }
    Splice { range: pos..pos, with }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FM: &str = "---\nstatus: planned # why not\ncreated: '2025-11-02'\ntags:\n  - a\n  - b\n# kept\npriority: high\ndeps: [x, 'y']\n---\n\n# Title\n";

    #[test]
    fn finds_entries_and_spans() {
        let doc = Doc::parse(FM).unwrap();
        let keys: Vec<&str> = doc.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["status", "created", "tags", "priority", "deps"]);
        let status = doc.entry("status").unwrap();
        assert_eq!(&FM[status.inline.clone()], "planned");
        let tags = doc.entry("tags").unwrap();
        assert!(tags.inline.is_empty());
        assert_eq!(&FM[tags.start..tags.end], "tags:\n  - a\n  - b\n");
        assert_eq!(doc.list_indent(FM), 2);
        assert_eq!(&FM[doc.body_start..], "\n# Title\n");
    }

    #[test]
    fn rewrites_only_the_value() {
        let doc = Doc::parse(FM).unwrap();
        let e = doc.entry("status").unwrap();
        let out = set_value(&doc, FM, e, &NewValue::Scalar("complete".into(), Quote::Plain)).apply(FM);
        assert_eq!(out, FM.replace("status: planned #", "status: complete #"));
        let e = doc.entry("created").unwrap();
        let out = set_value(&doc, FM, e, &NewValue::Scalar("2026-01-01".into(), Quote::Plain)).apply(FM);
        assert!(out.contains("created: '2026-01-01'\n"));
        let e = doc.entry("tags").unwrap();
        let out = set_value(&doc, FM, e, &NewValue::List(vec!["c".into(), "187".into()])).apply(FM);
        assert!(out.contains("tags:\n  - c\n  - '187'\n# kept\npriority"), "{out}");
        let e = doc.entry("deps").unwrap();
        let out = set_value(&doc, FM, e, &NewValue::List(vec!["z".into()])).apply(FM);
        assert!(out.contains("deps: [z]\n"));
    }

    #[test]
    fn crlf_and_missing_frontmatter() {
        let crlf = "---\r\nstatus: planned\r\n---\r\nbody\r\n";
        let doc = Doc::parse(crlf).unwrap();
        assert_eq!(doc.nl, "\r\n");
        assert_eq!(&crlf[doc.entry("status").unwrap().inline.clone()], "planned");
        assert_eq!(&crlf[doc.body_start..], "body\r\n");
        assert_eq!(Doc::parse("# no frontmatter").unwrap_err(), SpecError::NoFrontmatter);
        assert_eq!(Doc::parse("---\nstatus: x\n").unwrap_err(), SpecError::UnclosedFrontmatter);
    }
}
