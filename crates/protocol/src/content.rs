//! File content as carried in JSON: UTF-8 text as is, anything else as base64.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How [`Content::data`] is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `data` is the text itself.
    Utf8,
    /// `data` is standard base64 (with padding) of the bytes.
    Base64,
}

/// A piece of file content inside a JSON message. It always serializes as
/// `{"encoding", "data"}`; a plain JSON string also reads as UTF-8 text, so a
/// REST body can say `"content": "# Title"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ContentForm")]
pub struct Content {
    /// Encoding of `data`.
    pub encoding: Encoding,
    /// The encoded bytes.
    pub data: String,
}

/// The forms [`Content`] is read from.
#[derive(Deserialize)]
#[serde(untagged)]
enum ContentForm {
    Encoded { encoding: Encoding, data: String },
    Text(String),
}

impl From<ContentForm> for Content {
    fn from(form: ContentForm) -> Self {
        match form {
            ContentForm::Encoded { encoding, data } => Self { encoding, data },
            ContentForm::Text(data) => Self { encoding: Encoding::Utf8, data },
        }
    }
}

/// Content that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("content is not valid base64: {0}")]
pub struct ContentError(#[from] base64::DecodeError);

impl Content {
    /// Encodes bytes, choosing UTF-8 when the bytes are text. Text with control
    /// characters other than tab, CR and LF goes as base64 because JSON would
    /// escape each such byte into six, which would break the size budget of a chunk.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => {
                Self { encoding: Encoding::Utf8, data: text.to_owned() }
            }
            _ => Self { encoding: Encoding::Base64, data: base64::engine::general_purpose::STANDARD.encode(bytes) },
        }
    }

    /// UTF-8 text content.
    pub fn text(text: impl Into<String>) -> Self {
        Self { encoding: Encoding::Utf8, data: text.into() }
    }

    /// Decodes into bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ContentError> {
        match self.encoding {
            Encoding::Utf8 => Ok(self.data.as_bytes().to_vec()),
            Encoding::Base64 => Ok(base64::engine::general_purpose::STANDARD.decode(&self.data)?),
        }
    }

    /// Upper bound of the decoded length, for checking limits before decoding.
    pub fn decoded_len_hint(&self) -> usize {
        match self.encoding {
            Encoding::Utf8 => self.data.len(),
            Encoding::Base64 => self.data.len() / 4 * 3 + 3,
        }
    }
}

/// Splits `bytes` into ranges of at most `max` bytes. A cut never lands inside a
/// UTF-8 sequence, so each chunk of a text file is itself valid text.
/// An empty input yields one empty range, so an empty file is still one message.
pub fn chunk_boundaries(bytes: &[u8], max: usize) -> Vec<Range<usize>> {
    let max = max.max(4);
    let mut ranges = Vec::with_capacity(bytes.len() / max + 1);
    let mut start = 0;
    while start < bytes.len() || ranges.is_empty() {
        let mut end = (start + max).min(bytes.len());
        if end < bytes.len() {
            // Back off over continuation bytes (0b10xx_xxxx) to a character start.
            let mut cut = end;
            while cut > start && (bytes[cut] & 0xC0) == 0x80 && end - cut < 3 {
                cut -= 1;
            }
            if cut > start && (bytes[cut] & 0xC0) != 0x80 {
                end = cut;
            }
        }
        ranges.push(start..end);
        start = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_stays_text_and_binary_goes_base64() {
        assert_eq!(Content::from_bytes(b"# Title\n\tok\r\n").encoding, Encoding::Utf8);
        assert_eq!(Content::from_bytes(&[0, 159, 146, 150]).encoding, Encoding::Base64);
        assert_eq!(Content::from_bytes(b"bell\x07").encoding, Encoding::Base64);
    }

    #[test]
    fn a_plain_string_reads_as_text() {
        let content: Content = serde_json::from_str("\"# Title\"").unwrap();
        assert_eq!(content, Content::text("# Title"));
        let encoded: Content = serde_json::from_str(r#"{"encoding":"base64","data":"AAE="}"#).unwrap();
        assert_eq!(encoded.to_bytes().unwrap(), vec![0, 1]);
        assert!(serde_json::from_str::<Content>(r#"{"encoding":"rot13","data":"x"}"#).is_err());
    }

    #[test]
    fn empty_input_is_one_chunk() {
        assert_eq!(chunk_boundaries(b"", 10), vec![0..0]);
    }

    proptest! {
        #[test]
        fn content_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assert_eq!(Content::from_bytes(&bytes).to_bytes().unwrap(), bytes);
        }

        #[test]
        fn chunks_cover_input_and_keep_text_valid(text in "\\PC{0,300}", max in 4usize..40) {
            let bytes = text.as_bytes();
            let ranges = chunk_boundaries(bytes, max);
            let mut joined = Vec::new();
            for r in &ranges {
                prop_assert!(r.len() <= max);
                prop_assert!(std::str::from_utf8(&bytes[r.clone()]).is_ok());
                joined.extend_from_slice(&bytes[r.clone()]);
            }
            prop_assert_eq!(joined, bytes.to_vec());
        }
    }
}
