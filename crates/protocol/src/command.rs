//! The command envelope the hub sends to a bridge, the response, and the typed
//! arguments and results of the file commands.
//!
//! `args` and `result` stay as JSON values in the envelope so that a bridge can
//! answer a command it does not know with `invalid` and the request id, instead
//! of failing to parse the whole message.

use crate::{Content, ErrorBody};
use serde::{Deserialize, Serialize};

/// Command names.
pub mod commands {
    /// Read one file inside the project's allowed roots.
    pub const FILE_READ: &str = "file-read";
    /// Write one file, under the base-hash conflict rule.
    pub const FILE_WRITE: &str = "file-write";
}

/// hub -> bridge: run a command in one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Request id; the response carries it back.
    pub id: String,
    /// Project id the command targets.
    pub project: String,
    /// Milliseconds the hub waits for the answer; the bridge gives up at this deadline too.
    pub deadline_ms: u64,
    /// Command name, for example `file-write`.
    pub name: String,
    /// Command arguments; their shape depends on `name`.
    #[serde(default)]
    pub args: serde_json::Value,
}

/// bridge -> hub: the outcome of a command. Exactly one of `result` and `error` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request id of the command.
    pub id: String,
    /// The result on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    /// A successful response.
    pub fn ok(id: impl Into<String>, result: serde_json::Value) -> Self {
        Self { id: id.into(), result: Some(result), error: None }
    }

    /// A failed response.
    pub fn err(id: impl Into<String>, error: ErrorBody) -> Self {
        Self { id: id.into(), result: None, error: Some(error) }
    }

    /// The outcome as a `Result`. A response with neither field reads as `null`.
    pub fn into_result(self) -> Result<serde_json::Value, ErrorBody> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(error),
            (result, None) => Ok(result.unwrap_or(serde_json::Value::Null)),
        }
    }
}

/// Arguments of `file-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReadArgs {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
}

/// Result of `file-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReadResult {
    /// The path read.
    pub path: String,
    /// Content hash of the bytes read.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    pub content: Content,
}

/// Arguments of `file-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWriteArgs {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
    /// The new content.
    pub content: Content,
    /// The hash of the version the author edited. `None` means "create": the
    /// write is refused with `conflict` if the file already exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// Result of `file-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWriteResult {
    /// The path written.
    pub path: String,
    /// Content hash of the new bytes.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// bridge -> hub: a piece of output of a command that is still running. Best
/// effort: a bridge may drop progress under back-pressure; the response is
/// authoritative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The request id of the command.
    pub id: String,
    /// 0, 1, 2 … per command, so a gap shows dropped output.
    pub seq: u64,
    /// The output text (lossy UTF-8).
    pub data: String,
}
