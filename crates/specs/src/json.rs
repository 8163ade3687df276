//! JSON that keeps key order, written exactly like JavaScript's `JSON.stringify(value, null, 2)`.
//!
//! spec-workflow rewrites its JSON files with `JSON.stringify(obj, null, 2)`: keys in insertion
//! order, existing keys staying where they were when reassigned, new keys appended, keys set to
//! `undefined` dropped. Mirroring that lets spec-workflow (and a person diffing the file) see the
//! same bytes it would have written itself. serde_json's own map sorts keys unless a
//! workspace-wide feature is switched on, so this crate keeps its own small ordered value.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::SpecError;

/// An ordered JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses JSON text. A lone UTF-16 surrogate escape (`"\\ud83d"` with no partner), which
    /// `JSON.stringify` writes when JavaScript cut a string inside an emoji, is read as U+FFFD:
    /// that is what a browser shows for it, and Rust strings cannot hold a lone surrogate.
    pub(crate) fn parse(text: &str, what: &'static str) -> Result<Json, SpecError> {
        let text = replace_lone_surrogates(text);
        serde_json::from_str(&text).map_err(|e| SpecError::Json { what, reason: e.to_string() })
    }

    pub(crate) fn str(s: impl Into<String>) -> Json {
        Json::String(s.into())
    }

    pub(crate) fn num(n: u64) -> Json {
        Json::Number(n.into())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(crate) fn str_field(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Json::as_str).map(str::to_string)
    }

    /// JavaScript's `obj[key] = value`: replaces in place, or appends a new key.
    pub(crate) fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }

    /// JavaScript's `obj[key] = undefined` followed by a stringify: the key disappears.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Json::Object(entries) = self {
            entries.retain(|(k, _)| k != key);
        }
    }

    /// `JSON.stringify(self, null, 2)`.
    pub(crate) fn stringify(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&js_number(n)),
            Json::String(s) => out.push_str(&quote(s)),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(entries) if entries.is_empty() => out.push_str("{}"),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Json::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    out.push_str(&quote(key));
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }

    /// Converts to serde_json's value (for callers that want plain JSON; key order may be lost).
    pub(crate) fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::Value::Number(n.clone()),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(items) => serde_json::Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}

/// The value of a `\\uXXXX` escape starting at `at` (the backslash), if there is one.
fn escape_at(b: &[u8], at: usize) -> Option<u16> {
    let hex = b.get(at + 2..at + 6)?;
    (b.get(at..at + 2)? == b"\\u").then_some(())?;
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

// Copies `text`, turning every `\uD800`-`\uDFFF` escape that is not half of a high+low pair into
// `\ufffd`. Escapes are only looked for inside strings, and `\\` pairs are skipped whole, so a
// literal backslash followed by `ud83d` stays as it is.
fn replace_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.contains("\\ud") || text.contains("\\uD");
    if !lower {
        return std::borrow::Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                let Some(unit) = escape_at(b, i) else {
                    i += 2;
                    continue;
                };
                let high = (0xD800..0xDC00).contains(&unit);
                let paired = high && escape_at(b, i + 6).is_some_and(|u| (0xDC00..0xE000).contains(&u));
                if paired {
                    i += 12;
                    continue;
                }
                if (0xD800..0xE000).contains(&unit) {
                    out.push_str(&text[copied..i]);
                    out.push_str("\\ufffd");
                    copied = i + 6;
                }
                i += 6;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

// JSON.stringify and serde_json escape strings the same way: `"`, `\`, and control characters
// (`\b \f \n \r \t`, others as lowercase `\u00XX`); everything else, non-ASCII included, is raw.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

// Integers print alike; a float that holds an integer prints without `.0`, as in JavaScript.
fn js_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

impl Serialize for Json {
    /// Serialises in the stored key order (serde_json's own map would sort the keys).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        // A repeated key keeps its first position and its last value, as JSON.parse does.
        let mut obj = Json::Object(Vec::new());
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            obj.set(&key, value);
        }
        Ok(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_js_formatting_byte_for_byte() {
        let text = "{\n  \"id\": \"approval_1\",\n  \"z\": [],\n  \"a\": {},\n  \"n\": 8605,\n  \"nested\": [\n    {\n      \"type\": \"general\",\n      \"ok\": true,\n      \"none\": null\n    }\n  ],\n  \"s\": \"line\\nnext \\\"q\\\" ダ \\u0001\"\n}";
        let v = Json::parse(text, "test").unwrap();
        assert_eq!(v.stringify(), text);
    }

    #[test]
    fn assignment_semantics() {
        let mut v = Json::parse("{\"b\": 1, \"a\": 2}", "t").unwrap();
        v.set("b", Json::str("x"));
        v.set("c", Json::Null);
        v.remove("a");
        assert_eq!(v.stringify(), "{\n  \"b\": \"x\",\n  \"c\": null\n}");
        assert!(Json::parse("{", "approval").is_err());
    }

    #[test]
    fn lone_surrogates_read_as_replacement_characters() {
        // What JSON.stringify writes for `"ab😀".substring(0, 3)`, a pair, and an escaped backslash.
        let text = r#"{"cut": "ab\ud83d...", "pair": "\ud83d\ude00", "low": "\ude00x", "lit": "\\ud83d"}"#;
        let v = Json::parse(text, "t").unwrap();
        assert_eq!(v.str_field("cut").as_deref(), Some("ab\u{fffd}..."));
        assert_eq!(v.str_field("pair").as_deref(), Some("😀"));
        assert_eq!(v.str_field("low").as_deref(), Some("\u{fffd}x"));
        assert_eq!(v.str_field("lit").as_deref(), Some("\\ud83d"));
    }
}
