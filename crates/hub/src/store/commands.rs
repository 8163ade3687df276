//! The durable command queue and command outcomes, as the store keeps them.
//!
//! Every recorded command (one that changes something on the machine) is a
//! row from the moment the hub accepts it: `queued` until it is sent, `sent`
//! until the bridge's answer is known, then `applied`, `failed`, `expired` or
//! `cancelled`. Rows of one machine are ordered by `seq`. A `sent` row whose
//! answer never came is in doubt: it is sent again, with the same id, when the
//! machine is next connected, and the bridge answers from its journal.

use super::StoreResult;
use futures_util::future::BoxFuture;
use serde::Serialize;
use specbridge_protocol::ErrorBody;

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Accepted, not sent yet (the machine is offline, or earlier commands go first).
    Queued,
    /// Sent; the answer is not known yet.
    Sent,
    /// The bridge applied it.
    Applied,
    /// The bridge refused it (a conflict, a bad path …); nothing was changed.
    Failed,
    /// Its deadline passed before it was sent, or the bridge refused it as late.
    Expired,
    /// Cancelled while queued.
    Cancelled,
}

impl CommandState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Applied => "applied",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "sent" => Self::Sent,
            "applied" => Self::Applied,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the command's fate is known.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Sent)
    }
}

/// A command the hub accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCommand {
    /// The id the bridge sees (derived from the caller's idempotency key, if any).
    pub id: String,
    /// The caller's account.
    pub account_id: String,
    /// The machine that runs it.
    pub machine_id: String,
    /// The project.
    pub project_id: String,
    /// The command name.
    pub name: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// For people ("001-auth: status -> complete").
    pub summary: String,
    /// What it is about (a path, a spec, an approval).
    pub target: String,
    /// Accepted at, ms since the epoch.
    pub created_ms: i64,
    /// Its absolute deadline: never sent, started or applied after it.
    pub expires_ms: i64,
    /// Whether the caller was told "queued" (the machine was offline): its
    /// result reaches the caller later, through dashboards and `GET /v1/commands/{id}`.
    pub deferred: bool,
}

/// A stored command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// What was accepted.
    pub command: NewCommand,
    /// Order among the machine's commands.
    pub seq: i64,
    /// Where it is now.
    pub state: CommandState,
    /// How many times it was sent.
    pub attempts: i64,
    /// When it was last sent.
    pub sent_ms: Option<i64>,
    /// When its fate became known.
    pub finished_ms: Option<i64>,
    /// The bridge's result, when applied.
    pub result: Option<serde_json::Value>,
    /// The error, when it failed or expired.
    pub error: Option<ErrorBody>,
}

/// How an insert went.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// A new row.
    New(CommandRecord),
    /// A row with this id existed already (a retried request).
    Existing(CommandRecord),
}

/// Unfinished commands over every account ([`CommandStore::queue_depth`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Accepted, not sent yet.
    pub queued: u64,
    /// Sent, answer not known yet.
    pub sent: u64,
}

/// How a command's fate is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// `applied`, `failed`, `expired` or `cancelled`.
    pub state: CommandState,
    /// The result, when applied.
    pub result: Option<serde_json::Value>,
    /// The error otherwise.
    pub error: Option<ErrorBody>,
}

/// The error recorded for a command whose deadline passed while it was queued.
pub(crate) fn expired_in_queue() -> ErrorBody {
    ErrorBody::new(specbridge_protocol::ErrorCode::Timeout, "the command expired in the queue; it was never sent")
        .with_hint("the machine did not come back in time; send the edit again if it is still wanted")
        .with_details(serde_json::json!({ "applied": false }))
}

/// The command queue of the store.
pub trait CommandStore: Send + Sync {
    /// Stores an accepted command as `queued`, or returns the row that has its id.
    fn insert_command(&self, command: &NewCommand) -> BoxFuture<'_, StoreResult<Inserted>>;
    /// A command by id (callers check that it belongs to their account or machine).
    fn get_command(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<CommandRecord>>>;
    /// The machine's pending (`queued` and `sent`) commands, oldest first, at most `limit`.
    fn machine_backlog(&self, machine_id: &str, limit: u32) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>>;
    /// `queued`/`sent` -> `sent`, one more attempt. False if its fate is known already.
    fn mark_sent(&self, id: &str, now_ms: i64) -> BoxFuture<'_, StoreResult<bool>>;
    /// `sent` -> `queued`: it never left the hub after all.
    fn mark_unsent(&self, id: &str) -> BoxFuture<'_, StoreResult<()>>;
    /// Records a command's fate if it is still `queued` or `sent` (one of
    /// `from`); returns the updated row, or `None` if its fate was known already.
    fn finish_command<'a>(
        &'a self,
        id: &'a str,
        from: &'a [CommandState],
        finish: &'a Finish,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<CommandRecord>>>;
    /// The account's pending (`queued` and `sent`) commands, oldest first.
    fn pending_commands(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>>;
    /// How many commands wait (`queued`) and how many are out with a bridge
    /// (`sent`), over every account: the queue depth `/metrics` reports.
    fn queue_depth(&self) -> BoxFuture<'_, StoreResult<QueueDepth>>;
    /// Marks every `queued` command past its deadline `expired` and returns them.
    fn expire_commands(&self, now_ms: i64) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>>;
    /// Forgets finished commands older than `before_ms`; returns how many.
    fn prune_commands(&self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>>;
}
