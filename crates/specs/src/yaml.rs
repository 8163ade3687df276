//! A lenient reader for the YAML subset spec frontmatter uses (scalars, quoted strings, flow and
//! block lists, nested maps), plus the scalar writer the editor needs. Anything it cannot read
//! becomes a plain string rather than an error: real files vary and reading must not fail on them.

use serde::Serialize;

/// A frontmatter value as read, without type guessing: every scalar stays the text it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum YamlValue {
    /// An empty value, `~` or `null`.
    Null,
    /// A scalar, unquoted and unescaped (`'187'` and `187` both read as `"187"`).
    Scalar(String),
    /// A flow (`[a, b]`) or block (`- a`) list.
    List(Vec<YamlValue>),
    /// A mapping, in file order.
    Map(Vec<(String, YamlValue)>),
}

impl YamlValue {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            YamlValue::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&YamlValue> {
        match self {
            YamlValue::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// How a scalar was (or should be) quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Plain,
    Single,
    Double,
}

impl Quote {
    pub(crate) fn of(raw: &str) -> Quote {
        match raw.as_bytes().first() {
            Some(b'\'') => Quote::Single,
            Some(b'"') => Quote::Double,
            _ => Quote::Plain,
        }
    }
}

/// Writes `value` as a YAML scalar in the wanted quoting style. A plain style falls back to single
/// quotes when the text would read back as something else (a number, `null`, a comment, …).
pub(crate) fn format_scalar(value: &str, style: Quote, in_flow: bool) -> String {
    match style {
        Quote::Plain if is_plain_safe(value, in_flow) => value.to_string(),
        Quote::Double => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        _ => format!("'{}'", value.replace('\'', "''")),
    }
}

/// Whether `value` reads back as the same string when written without quotes.
pub(crate) fn is_plain_safe(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else { return false };
    if value.trim() != value || value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !(first == '-' && value.len() > 1 && !value.starts_with("- ")) {
        return false;
    }
    if in_flow && value.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    if value.chars().any(|c| c.is_control()) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let reserved = ["~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", ".nan"];
    !(reserved.contains(&lower.as_str()) || looks_numeric(value))
}

// LeanSpec's serde_yaml reads `187` as a number and then drops it from string lists, so anything
// number-like must be quoted (the corpus has `- '187'` for exactly this reason).
fn looks_numeric(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    if s.is_empty() {
        return false;
    }
    if s.starts_with("0x") || s.starts_with("0o") {
        return true;
    }
    let mut digits = 0;
    let mut ok = true;
    for (i, c) in s.char_indices() {
        match c {
            '0'..='9' => digits += 1,
            '.' | '_' => {}
            'e' | 'E' if i > 0 => {}
            '+' | '-' if i > 0 && matches!(s.as_bytes()[i - 1], b'e' | b'E') => {}
            _ => ok = false,
        }
    }
    ok && digits > 0
}

/// Reads one inline value: a quoted or plain scalar, or a flow list/map.
pub(crate) fn parse_inline(text: &str) -> YamlValue {
    let t = text.trim();
    if t.starts_with('[') || t.starts_with('{') {
        let mut p = Flow { s: t.as_bytes(), i: 0, src: t };
        if let Some(v) = p.value() {
            p.skip_ws();
            if p.i >= p.s.len() || p.s[p.i] == b'#' {
                return v;
            }
        }
        return YamlValue::Scalar(t.to_string());
    }
    scalar(t)
}

fn scalar(t: &str) -> YamlValue {
    match Quote::of(t) {
        Quote::Single if t.len() >= 2 && t.ends_with('\'') => YamlValue::Scalar(t[1..t.len() - 1].replace("''", "'")),
        Quote::Double if t.len() >= 2 && t.ends_with('"') => YamlValue::Scalar(unescape_double(&t[1..t.len() - 1])),
        _ => {
            let plain = strip_comment(t).trim();
            if matches!(plain, "" | "~" | "null" | "Null" | "NULL") {
                YamlValue::Null
            } else {
                YamlValue::Scalar(plain.to_string())
            }
        }
    }
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Cuts a ` # comment` off a plain scalar.
pub(crate) fn strip_comment(t: &str) -> &str {
    match t.find(" #").or_else(|| t.find("\t#")) {
        Some(i) => &t[..i],
        None if t.starts_with('#') => "",
        None => t,
    }
}

struct Flow<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl Flow<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<YamlValue> {
        self.skip_ws();
        match *self.s.get(self.i)? {
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if *self.s.get(self.i)? == b']' {
                        self.i += 1;
                        return Some(YamlValue::List(items));
                    }
                    items.push(self.value()?);
                    self.skip_ws();
                    match *self.s.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {}
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_ws();
                    if *self.s.get(self.i)? == b'}' {
                        self.i += 1;
                        return Some(YamlValue::Map(entries));
                    }
                    let key = self.value()?.as_str()?.to_string();
                    self.skip_ws();
                    let value = if self.s.get(self.i) == Some(&b':') {
                        self.i += 1;
                        self.value()?
                    } else {
                        YamlValue::Null
                    };
                    entries.push((key, value));
                    self.skip_ws();
                    match *self.s.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {}
                        _ => return None,
                    }
                }
            }
            b'\'' | b'"' => {
                let start = self.i;
                self.i = quoted_end(self.s, start)?;
                Some(scalar(&self.src[start..self.i]))
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() {
                    match self.s[self.i] {
                        b',' | b']' | b'}' => break,
                        b':' if matches!(self.s.get(self.i + 1), Some(b' ') | None) => break,
                        _ => self.i += 1,
                    }
                }
                Some(scalar(self.src[start..self.i].trim()))
            }
        }
    }
}

/// Index just past the closing quote of the quoted scalar starting at `start`.
pub(crate) fn quoted_end(s: &[u8], start: usize) -> Option<usize> {
    let q = s[start];
    let mut i = start + 1;
    while i < s.len() {
        if s[i] == b'\\' && q == b'"' {
            i += 2;
            continue;
        }
        if s[i] == q {
            if q == b'\'' && s.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// One meaningful line of a block value: its indentation and its text (comment lines dropped).
pub(crate) struct BlockLine<'a> {
    pub(crate) indent: usize,
    pub(crate) text: &'a str,
}

pub(crate) fn block_lines(text: &str) -> Vec<BlockLine<'_>> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_end_matches('\r');
            let body = l.trim_start_matches([' ', '\t']);
            (!body.trim().is_empty() && !body.starts_with('#'))
                .then(|| BlockLine { indent: l.len() - body.len(), text: body.trim_end() })
        })
        .collect()
}

/// Splits `key: rest` (the key plain or quoted); `None` when the text is not a mapping entry.
pub(crate) fn split_key(text: &str) -> Option<(String, &str)> {
    let b = text.as_bytes();
    let (key, after) = if matches!(b.first(), Some(b'\'' | b'"')) {
        let end = quoted_end(b, 0)?;
        (scalar(&text[..end]).as_str()?.to_string(), end)
    } else {
        let colon = text.match_indices(':').find(|(i, _)| matches!(b.get(i + 1), None | Some(b' ' | b'\t')))?.0;
        let key = text[..colon].trim();
        if key.is_empty() || key.starts_with(['-', '#', '[', '{']) {
            return None;
        }
        (key.to_string(), colon)
    };
    let rest = text[after..].strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, rest.trim()))
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ") || text.starts_with("-\t")
}

/// Reads a block value (the lines under a `key:` with nothing after the colon).
pub(crate) fn parse_block(lines: &[BlockLine<'_>], pos: &mut usize) -> YamlValue {
    let Some(first) = lines.get(*pos) else { return YamlValue::Null };
    let indent = first.indent;
    if is_seq_item(first.text) {
        return parse_seq(lines, pos, indent);
    }
    if split_key(first.text).is_some() {
        return parse_map(lines, pos, indent, None);
    }
    // A multi-line plain scalar: fold its lines with spaces, as YAML does.
    let mut parts = Vec::new();
    while let Some(l) = lines.get(*pos).filter(|l| l.indent >= indent) {
        parts.push(l.text);
        *pos += 1;
    }
    scalar(&parts.join(" "))
}

fn parse_seq(lines: &[BlockLine<'_>], pos: &mut usize, indent: usize) -> YamlValue {
    let mut items = Vec::new();
    while let Some(line) = lines.get(*pos).filter(|l| l.indent == indent && is_seq_item(l.text)) {
        let rest = &line.text[1..];
        let content = rest.trim_start();
        let item_col = indent + 1 + (rest.len() - content.len());
        *pos += 1;
        if content.is_empty() {
            let nested = lines.get(*pos).is_some_and(|l| l.indent > indent);
            items.push(if nested { parse_block(lines, pos) } else { YamlValue::Null });
        } else if let Some((key, value)) = split_key(content).filter(|_| !content.starts_with(['[', '{'])) {
            items.push(parse_map(lines, pos, item_col, Some((key, value))));
        } else {
            items.push(parse_inline(content));
        }
    }
    YamlValue::List(items)
}

fn parse_map(lines: &[BlockLine<'_>], pos: &mut usize, indent: usize, first: Option<(String, &str)>) -> YamlValue {
    let mut entries = Vec::new();
    let mut pending = first;
    loop {
        let (key, inline) = match pending.take() {
            Some(kv) => kv,
            None => match lines.get(*pos).filter(|l| l.indent == indent && !is_seq_item(l.text)) {
                Some(l) => match split_key(l.text) {
                    Some(kv) => {
                        *pos += 1;
                        kv
                    }
                    None => break,
                },
                None => break,
            },
        };
        let value = if !inline.is_empty() {
            parse_inline(inline)
        } else if lines.get(*pos).is_some_and(|l| l.indent > indent || (l.indent == indent && is_seq_item(l.text))) {
            parse_block(lines, pos)
        } else {
            YamlValue::Null
        };
        entries.push((key, value));
    }
    YamlValue::Map(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> YamlValue {
        let lines = block_lines(text);
        parse_block(&lines, &mut 0)
    }

    #[test]
    fn reads_the_list_styles_found_in_real_files() {
        let expected = YamlValue::List(vec![YamlValue::Scalar("a".into()), YamlValue::Scalar("187".into())]);
        assert_eq!(parse_inline("[a, '187']"), expected);
        assert_eq!(block("- a\n- '187'\n"), expected);
        assert_eq!(block("  - a\n  - \"187\"\n"), expected);
        assert_eq!(parse_inline("[]"), YamlValue::List(vec![]));
    }

    #[test]
    fn reads_transitions_as_maps() {
        let v = block("- status: in-progress\n  at: 2026-01-15T04:54:21.638303781Z\n- status: complete\n  at: '2026-01-15T05:46:53Z'\n");
        let YamlValue::List(items) = v else { panic!("not a list") };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].get("status").and_then(YamlValue::as_str), Some("complete"));
        assert_eq!(items[1].get("at").and_then(YamlValue::as_str), Some("2026-01-15T05:46:53Z"));
    }

    #[test]
    fn scalars_and_comments() {
        assert_eq!(parse_inline("planned # soon"), YamlValue::Scalar("planned".into()));
        assert_eq!(parse_inline("'it''s'"), YamlValue::Scalar("it's".into()));
        assert_eq!(parse_inline("\"a\\\"b\""), YamlValue::Scalar("a\"b".into()));
        assert_eq!(parse_inline("~"), YamlValue::Null);
        assert_eq!(split_key("at: 2026-01-01T00:00:00Z"), Some(("at".into(), "2026-01-01T00:00:00Z")));
        assert_eq!(split_key("http://example.com"), None);
    }

    #[test]
    fn plain_safety() {
        assert!(is_plain_safe("v0.2.0", false));
        assert!(is_plain_safe("2026-01-28", false));
        assert!(is_plain_safe("ai-agents", true));
        assert!(!is_plain_safe("187", false));
        assert!(!is_plain_safe("1e5", false));
        assert!(!is_plain_safe("yes", false));
        assert!(!is_plain_safe("a: b", false));
        assert!(!is_plain_safe("a,b", true));
        assert!(!is_plain_safe("", false));
        assert_eq!(format_scalar("187", Quote::Plain, false), "'187'");
        assert_eq!(format_scalar("it's", Quote::Single, false), "'it''s'");
    }
}
