//! Typed error codes shared by commands and protocol-level errors.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. New codes may be added; a peer that
/// does not know a code reads it as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The file changed since the caller's base hash; nothing was written.
    Conflict,
    /// The path, project, spec or command target does not exist.
    NotFound,
    /// The path is outside the project's allowed roots or is not a valid relative path.
    ForbiddenPath,
    /// The operation is not allowed here (for example a read-only project).
    Forbidden,
    /// The request is malformed: bad arguments, unknown command, bad frame.
    Invalid,
    /// The deadline passed before the bridge answered.
    Timeout,
    /// The machine is not connected to the hub.
    Offline,
    /// Something failed on the other side that the caller cannot fix.
    Internal,
    /// The token is missing, wrong or revoked.
    Unauthorized,
    /// A frame, message or file is larger than the limits allow.
    TooLarge,
    /// The peers share no protocol version.
    UnsupportedVersion,
    /// The disk is full; nothing was written.
    NoSpace,
    /// Too many requests from this address; retry after the time given.
    RateLimited,
    /// Completing a LeanSpec spec whose body still has unchecked `- [ ]`
    /// items (`details.open_items` says how many). Repeat with `force` to
    /// complete anyway, as `leanspec update --status complete --force` does.
    OpenItems,
    /// Moving a LeanSpec spec from `draft` straight to `in-progress` or
    /// `complete` (`details.from`, `details.to`). Repeat with `force`.
    SkipsPlanned,
    /// A code this build does not know (sent by a newer peer).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::NotFound => "not_found",
            Self::ForbiddenPath => "forbidden_path",
            Self::Forbidden => "forbidden",
            Self::Invalid => "invalid",
            Self::Timeout => "timeout",
            Self::Offline => "offline",
            Self::Internal => "internal",
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::NoSpace => "no_space",
            Self::RateLimited => "rate_limited",
            Self::OpenItems => "open_items",
            Self::SkipsPlanned => "skips_planned",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels on the wire: a stable code, a human message, an
/// optional hint on how to fix it, and optional structured details (for a
/// conflict: the current hash and content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// How to fix it, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Structured details for programs. Boxed: few errors carry details, and
    /// a `Value` (an ordered map with serde_json's `preserve_order`) would
    /// make every `Result<_, ErrorBody>` twice as large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<serde_json::Value>>,
}

impl ErrorBody {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), hint: None, details: None }
    }

    /// Adds a hint on how to fix the error.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds structured details.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorBody {}
