//! The command envelope the hub sends to a bridge, the response, and the
//! progress of a running command. The commands themselves are in the
//! catalogue (`catalogue.rs`).
//!
//! `args` and `result` stay as JSON values in the envelope so that a bridge can
//! answer a command it does not know with `invalid` and the request id, instead
//! of failing to parse the whole message.

use crate::{Call, ErrorBody, RunPhase};
use serde::{Deserialize, Serialize};

/// hub -> bridge: run a command in one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Request id; the response carries it back.
    pub id: String,
    /// Project id the command targets.
    pub project: String,
    /// Milliseconds the hub waits for the answer from when it sends; the
    /// bridge does not commit past this long after the command arrived.
    pub deadline_ms: u64,
    /// The absolute deadline on the hub's clock (ms since the Unix epoch): the
    /// bridge never starts or commits the command after it, however late the
    /// command arrives (a retry or replay keeps the first deadline). It maps
    /// the hub's clock onto its own with `welcome.hub_time_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Command name, for example `file-write` (see [`crate::CommandName`]).
    pub name: String,
    /// Command arguments; their shape depends on `name`.
    #[serde(default)]
    pub args: serde_json::Value,
}

impl Command {
    /// The envelope for a call.
    pub fn new(id: impl Into<String>, project: impl Into<String>, call: &Call, deadline_ms: u64) -> Self {
        Self {
            id: id.into(),
            project: project.into(),
            deadline_ms,
            expires_at_ms: None,
            name: call.name().as_str().to_owned(),
            args: call.args(),
        }
    }

    /// The typed call, or `invalid` for an unknown name or bad arguments.
    pub fn call(&self) -> Result<Call, ErrorBody> {
        Call::parse(&self.name, &self.args)
    }
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

/// bridge -> hub: a piece of output of a command that is still running, or
/// a change of its phase. Best effort for output: a bridge may drop pieces
/// under back-pressure (a gap in `seq` shows it; phase changes are never
/// dropped); the response is authoritative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The request id of the command.
    pub id: String,
    /// 0, 1, 2 … per command, so a gap shows dropped output.
    pub seq: u64,
    /// The output text (lossy UTF-8).
    pub data: String,
    /// A job run's new phase (waiting for its confirmation, running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// While waiting: when the confirmation times out (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

impl Progress {
    /// A piece of output.
    pub fn output(id: impl Into<String>, seq: u64, data: impl Into<String>) -> Self {
        Self { id: id.into(), seq, data: data.into(), phase: None, until_ms: None }
    }
}
