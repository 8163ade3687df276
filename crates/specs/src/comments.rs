//! Reviewer comments on a spec-workflow approval, and the "Feedback Summary" its dashboard builds
//! from them.
//!
//! spec-workflow stores the comment objects exactly as its dashboard sent them (`comments?: any[]`
//! in `POST /api/projects/:id/approvals/:id/:action`), so a comment here is an ordered JSON object:
//! keys stay in the order they were given, unknown keys and nested values included, and are
//! written back in that order.

use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};

use crate::json::Json;

/// A reviewer's comment, kept as the ordered JSON object it was given.
///
/// spec-workflow's dashboard writes `type`, `comment`, `timestamp`, then for a selection
/// `selectedText`, `highlightColor`, `startOffset`, `endOffset`, and an `id`; none of that is
/// required by the server, and whatever order arrived is the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalComment(Json);

impl ApprovalComment {
    /// A `general` comment as spec-workflow's dashboard creates one: `type`, `comment`,
    /// `timestamp`, and `id` when given (`comment_<ms>_<rand>`).
    pub fn general(comment: &str, timestamp: &str, id: Option<&str>) -> ApprovalComment {
        let mut o = Json::Object(vec![
            ("type".into(), Json::str("general")),
            ("comment".into(), Json::str(comment)),
            ("timestamp".into(), Json::str(timestamp)),
        ]);
        if let Some(id) = id {
            o.set("id", Json::str(id));
        }
        ApprovalComment(o)
    }

    /// Reads a comment from a JSON object, keeping its key order. Anything else is refused: a
    /// comment must be an object with a string `type` and a string `comment`.
    pub fn from_json_text(text: &str) -> Result<ApprovalComment, crate::SpecError> {
        let v = Json::parse(text, "approval comment")?;
        ApprovalComment::checked(v).map_err(|reason| crate::SpecError::invalid("approval comment", reason))
    }

    fn checked(v: Json) -> Result<ApprovalComment, &'static str> {
        if !matches!(v, Json::Object(_)) {
            return Err("must be a JSON object");
        }
        if v.get("type").and_then(Json::as_str).is_none() || v.get("comment").and_then(Json::as_str).is_none() {
            return Err("needs a string `type` and a string `comment`");
        }
        Ok(ApprovalComment(v))
    }

    /// `general` or `selection` (as written; empty when absent).
    pub fn kind(&self) -> &str {
        self.text("type").unwrap_or("")
    }

    /// The comment text (empty when absent).
    pub fn comment(&self) -> &str {
        self.text("comment").unwrap_or("")
    }

    /// The text a `selection` comment is about.
    pub fn selected_text(&self) -> Option<&str> {
        self.text("selectedText")
    }

    /// The comment's id (`comment_<ms>_<rand>`).
    pub fn id(&self) -> Option<&str> {
        self.text("id")
    }

    /// When it was written.
    pub fn timestamp(&self) -> Option<&str> {
        self.text("timestamp")
    }

    /// Any field, as plain JSON (nested objects may lose their key order in serde_json's map).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        self.0.get(key).map(Json::to_value)
    }

    /// The keys in their stored order.
    pub fn keys(&self) -> Vec<&str> {
        match &self.0 {
            Json::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Json::as_str)
    }

    pub(crate) fn to_json(&self) -> Json {
        self.0.clone()
    }

    /// A comment read from a file: kept whatever it holds, so it is written back unchanged.
    pub(crate) fn from_json(v: &Json) -> ApprovalComment {
        ApprovalComment(v.clone())
    }
}

impl Serialize for ApprovalComment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ApprovalComment {
    /// Keeps the key order of the input (serde hands map entries over in document order).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ApprovalComment, D::Error> {
        ApprovalComment::checked(Json::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// The "Feedback Summary" text spec-workflow's dashboard builds from revision comments
/// (`ApprovalsPage.tsx`, `handleRevision`): general comments numbered, then selection comments
/// with the first 50 UTF-16 units of their text (see [`js_prefix`]) and `...` when longer.
pub fn feedback_summary(comments: &[ApprovalComment]) -> String {
    let general: Vec<&ApprovalComment> = comments.iter().filter(|c| c.kind() == "general").collect();
    let selections: Vec<&ApprovalComment> = comments.iter().filter(|c| c.kind() == "selection").collect();
    let mut s = format!("Feedback Summary ({} comments):\n\n", comments.len());
    if !general.is_empty() {
        s.push_str("General Comments:\n");
        for (i, c) in general.iter().enumerate() {
            s.push_str(&format!("{}. {}\n", i + 1, c.comment()));
        }
        s.push('\n');
    }
    if !selections.is_empty() {
        s.push_str("Specific Text Comments:\n");
        for (i, c) in selections.iter().enumerate() {
            let (head, cut) = js_prefix(c.selected_text().unwrap_or(""), 50);
            s.push_str(&format!("{}. \"{head}{}\": {}\n", i + 1, if cut { "..." } else { "" }, c.comment()));
        }
    }
    s
}

/// JavaScript's `text.substring(0, n)` and `text.length > n`, counted in UTF-16 units, without
/// ever splitting a character: where JavaScript would keep the high half of a surrogate pair
/// (an emoji starting at unit `n - 1`), the result ends in U+FFFD instead, which is what a
/// browser shows for that lone half. Returns the prefix and whether the text was longer.
pub fn js_prefix(text: &str, n: usize) -> (std::borrow::Cow<'_, str>, bool) {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        let next = units + c.len_utf16();
        if next > n {
            if units < n {
                // Only a two-unit character can straddle the boundary.
                return (std::borrow::Cow::Owned(format!("{}\u{fffd}", &text[..i])), true);
            }
            return (std::borrow::Cow::Borrowed(&text[..i]), true);
        }
        units = next;
    }
    (std::borrow::Cow::Borrowed(text), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_counts_utf16_units() {
        assert_eq!(js_prefix("abc", 3), ("abc".into(), false));
        assert_eq!(js_prefix("abcd", 3), ("abc".into(), true));
        // 😀 is two units: at units 2-3 it straddles a 3-unit cut, at 3-4 it falls after it.
        assert_eq!(js_prefix("ab😀", 3), ("ab\u{fffd}".into(), true));
        assert_eq!(js_prefix("abc😀", 3), ("abc".into(), true));
        assert_eq!(js_prefix("a😀", 3), ("a😀".into(), false));
        assert_eq!(js_prefix("ダダダダ", 2), ("ダダ".into(), true));
    }

    #[test]
    fn comments_keep_the_given_key_order() {
        let text = r#"{"comment": "x", "id": "c1", "type": "general", "z": {"b": 1, "a": 2}}"#;
        let c = ApprovalComment::from_json_text(text).unwrap();
        assert_eq!(c.keys(), ["comment", "id", "type", "z"]);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"comment":"x","id":"c1","type":"general","z":{"b":1,"a":2}}"#
        );
        let back: ApprovalComment = serde_json::from_str(text).unwrap();
        assert_eq!(back, c);
        assert!(ApprovalComment::from_json_text("[1]").is_err());
        assert!(serde_json::from_str::<ApprovalComment>(r#"{"type": "general"}"#).is_err());
    }
}
