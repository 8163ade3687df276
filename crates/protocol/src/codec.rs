//! Frame codec: messages to WebSocket frames and back, with hard size limits.
//!
//! Small messages go as JSON text frames. Messages whose JSON reaches the
//! compression threshold go as binary frames: one tag byte ([`BINARY_ZSTD_TAG`])
//! followed by a zstd frame of the JSON. Decoding never allocates past
//! [`Codec::max_message`]: the zstd window is capped and output is read through
//! a bounded reader, so a decompression bomb is an error, not an OOM.

use crate::{ErrorBody, ErrorCode, Message, COMPRESS_THRESHOLD, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use std::io::Read;

/// Tag byte that opens every binary frame: the rest is zstd-compressed JSON.
pub const BINARY_ZSTD_TAG: u8 = 0x01;

/// zstd compression level: level 3 is zstd's default and the knee of its
/// speed/ratio curve for markdown.
const ZSTD_LEVEL: i32 = 3;

/// Largest zstd window we accept, as a power of two. A message is at most
/// 1 MiB, so a larger window only ever serves an attacker.
const ZSTD_WINDOW_LOG_MAX: u32 = 20;

/// A WebSocket frame payload, independent of any WebSocket library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame (JSON).
    Text(String),
    /// A binary frame (tag byte + zstd).
    Binary(Vec<u8>),
}

impl Frame {
    /// Bytes this frame carries on the wire (payload only).
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The frame on the wire is larger than the limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// Frame size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The message (after decompression, or before encoding) is larger than the limit.
    #[error("message exceeds the {limit}-byte limit after decoding")]
    MessageTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A binary frame starts with an unknown tag.
    #[error("binary frame has unknown tag 0x{0:02x}")]
    UnknownTag(u8),
    /// A binary frame is empty.
    #[error("binary frame is empty")]
    EmptyFrame,
    /// zstd failed (corrupt data, or a window larger than allowed).
    #[error("zstd: {0}")]
    Zstd(#[source] std::io::Error),
    /// The JSON is not a valid message.
    #[error("invalid message: {0}")]
    Json(#[from] serde_json::Error),
    /// A batch inside a batch.
    #[error("batches must not nest")]
    NestedBatch,
}

impl CodecError {
    /// The error as sent to the peer before closing.
    pub fn to_error_body(&self) -> ErrorBody {
        match self {
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => {
                ErrorBody::new(ErrorCode::TooLarge, self.to_string())
                    .with_hint("split large files into chunks of at most 256 KiB and keep frames under 1 MiB")
            }
            Self::Zstd(_) => ErrorBody::new(ErrorCode::Invalid, self.to_string())
                .with_hint("binary frames must be one tag byte 0x01 then a zstd frame with a window of at most 1 MiB"),
            _ => ErrorBody::new(ErrorCode::Invalid, self.to_string())
                .with_hint("see docs/protocol.md for the message catalogue"),
        }
    }
}

/// Encodes and decodes frames under fixed limits. Cheap to copy; holds no
/// compression context, so an idle connection costs nothing here.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    /// JSON at least this long is compressed.
    pub compress_threshold: usize,
    /// Largest frame on the wire.
    pub max_frame: usize,
    /// Largest decoded message.
    pub max_message: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self { compress_threshold: COMPRESS_THRESHOLD, max_frame: MAX_FRAME_BYTES, max_message: MAX_MESSAGE_BYTES }
    }
}

impl Codec {
    /// Encodes one message into one frame.
    pub fn encode(&self, message: &Message) -> Result<Frame, CodecError> {
        let json = serde_json::to_vec(message)?;
        if json.len() > self.max_message {
            return Err(CodecError::MessageTooLarge { limit: self.max_message });
        }
        if json.len() >= self.compress_threshold {
            let compressed = zstd::bulk::compress(&json, ZSTD_LEVEL).map_err(CodecError::Zstd)?;
            // Incompressible payloads (already-compressed files in base64) go as text.
            if compressed.len() + 1 < json.len() {
                let mut frame = Vec::with_capacity(compressed.len() + 1);
                frame.push(BINARY_ZSTD_TAG);
                frame.extend_from_slice(&compressed);
                return Ok(Frame::Binary(frame));
            }
        }
        if json.len() > self.max_frame {
            return Err(CodecError::FrameTooLarge { size: json.len(), limit: self.max_frame });
        }
        // serde_json only ever writes UTF-8.
        String::from_utf8(json).map(Frame::Text).map_err(|e| CodecError::Json(serde::de::Error::custom(e)))
    }

    /// Decodes a text frame.
    pub fn decode_text(&self, text: &str) -> Result<Message, CodecError> {
        if text.len() > self.max_frame {
            return Err(CodecError::FrameTooLarge { size: text.len(), limit: self.max_frame });
        }
        check_nesting(serde_json::from_str(text)?)
    }

    /// Decodes a binary frame.
    pub fn decode_binary(&self, bytes: &[u8]) -> Result<Message, CodecError> {
        if bytes.len() > self.max_frame {
            return Err(CodecError::FrameTooLarge { size: bytes.len(), limit: self.max_frame });
        }
        let (&tag, body) = bytes.split_first().ok_or(CodecError::EmptyFrame)?;
        if tag != BINARY_ZSTD_TAG {
            return Err(CodecError::UnknownTag(tag));
        }
        let json = self.decompress(body)?;
        check_nesting(serde_json::from_slice(&json)?)
    }

    /// Decodes either kind of frame.
    pub fn decode(&self, frame: &Frame) -> Result<Message, CodecError> {
        match frame {
            Frame::Text(t) => self.decode_text(t),
            Frame::Binary(b) => self.decode_binary(b),
        }
    }

    /// Decompresses at most `max_message` bytes. The output buffer grows only as
    /// real output arrives (never from the size a frame header claims), and
    /// reading stops one byte past the limit.
    fn decompress(&self, body: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(CodecError::Zstd)?;
        decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(CodecError::Zstd)?;
        let limit = self.max_message as u64 + 1;
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(self.max_message));
        decoder.take(limit).read_to_end(&mut out).map_err(CodecError::Zstd)?;
        if out.len() > self.max_message {
            return Err(CodecError::MessageTooLarge { limit: self.max_message });
        }
        Ok(out)
    }
}

fn check_nesting(message: Message) -> Result<Message, CodecError> {
    if let Message::Batch(batch) = &message {
        if batch.messages.iter().any(|m| matches!(m, Message::Batch(_))) {
            return Err(CodecError::NestedBatch);
        }
    }
    Ok(message)
}
