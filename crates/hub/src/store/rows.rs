//! What both engines share: reading a row into its struct, the stored form
//! of command outcomes, ids, taken names, and how a machine's name is chosen.
//! The SQL differs per engine; what it means does not, so it lives here once.

use super::commands::{expired_in_queue, CommandRecord, CommandState, Finish, NewCommand};
use super::{AccountInfo, FileRow, MachineRow, ProjectRow, RevokedToken, StoreResult, TokenInfo, UserInfo};
use crate::auth::TokenKind;
use crate::HubError;
use specbridge_protocol::Layout;
use sqlx::Row as _;

/// A result row, read by column name. Each engine reads its own types; only
/// a flag differs (SQLite stores 0/1, Postgres a BOOLEAN).
pub(super) trait Columns {
    /// A TEXT column.
    fn text(&self, column: &str) -> StoreResult<String>;
    /// A nullable TEXT column.
    fn maybe_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// An integer column (BIGINT on Postgres).
    fn int(&self, column: &str) -> StoreResult<i64>;
    /// A nullable integer column.
    fn maybe_int(&self, column: &str) -> StoreResult<Option<i64>>;
    /// A yes/no column.
    fn flag(&self, column: &str) -> StoreResult<bool>;
    /// A BLOB/BYTEA column.
    fn bytes(&self, column: &str) -> StoreResult<Vec<u8>>;
}

/// Implements [`Columns`] for an engine's row type; `$flag` reads a flag.
macro_rules! columns {
    ($row:ty, $flag:expr) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                Ok(self.try_get(column)?)
            }
            fn maybe_text(&self, column: &str) -> StoreResult<Option<String>> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> StoreResult<i64> {
                Ok(self.try_get(column)?)
            }
            fn maybe_int(&self, column: &str) -> StoreResult<Option<i64>> {
                Ok(self.try_get(column)?)
            }
            fn flag(&self, column: &str) -> StoreResult<bool> {
                let read: fn(&Self, &str) -> Result<bool, sqlx::Error> = $flag;
                Ok(read(self, column)?)
            }
            fn bytes(&self, column: &str) -> StoreResult<Vec<u8>> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

columns!(sqlx::sqlite::SqliteRow, |row, column| Ok(row.try_get::<i64, _>(column)? != 0));
columns!(sqlx::postgres::PgRow, |row, column| row.try_get::<bool, _>(column));

/// Reads every row, stopping at the first that does not read.
pub(super) fn all<R: Columns, T>(rows: &[R], read: impl Fn(&R) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(read).collect()
}

/// `id, name, os, arch, version, last_seen_ms, online`.
pub(super) fn machine(row: &impl Columns) -> StoreResult<MachineRow> {
    Ok(MachineRow {
        id: row.text("id")?,
        name: row.text("name")?,
        os: row.text("os")?,
        arch: row.text("arch")?,
        version: row.text("version")?,
        last_seen_ms: row.int("last_seen_ms")?,
        online: row.flag("online")?,
    })
}

/// `id, name, layout, read_only, files` (the file count).
pub(super) fn project(row: &impl Columns) -> StoreResult<ProjectRow> {
    Ok(ProjectRow {
        id: row.text("id")?,
        name: row.text("name")?,
        layout: Layout::from_wire(&row.text("layout")?),
        read_only: row.flag("read_only")?,
        files: row.int("files")?,
    })
}

/// `path, hash, size, mtime_ms`.
pub(super) fn file(row: &impl Columns) -> StoreResult<FileRow> {
    Ok(FileRow {
        path: row.text("path")?,
        hash: row.text("hash")?,
        size: row.int("size")?,
        mtime_ms: row.int("mtime_ms")?,
    })
}

/// A stored kind; only the token code writes it, so anything else is read as the lesser kind.
fn kind(row: &impl Columns) -> StoreResult<TokenKind> {
    Ok(TokenKind::parse(&row.text("kind")?).unwrap_or(TokenKind::User))
}

/// `id, account_id, user_id, name, kind, machine_id, created_ms, last_used_ms, revoked_ms`.
pub(super) fn token(row: &impl Columns) -> StoreResult<TokenInfo> {
    Ok(TokenInfo {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        user_id: row.maybe_text("user_id")?,
        name: row.text("name")?,
        kind: kind(row)?,
        machine_id: row.maybe_text("machine_id")?,
        created_ms: row.int("created_ms")?,
        last_used_ms: row.maybe_int("last_used_ms")?,
        revoked: row.maybe_int("revoked_ms")?.is_some(),
    })
}

/// `id, kind, machine_id, revoked_ms` of a revoked token.
pub(super) fn revoked(row: &impl Columns) -> StoreResult<RevokedToken> {
    Ok(RevokedToken {
        id: row.text("id")?,
        kind: kind(row)?,
        machine_id: row.maybe_text("machine_id")?,
        revoked_ms: row.int("revoked_ms")?,
    })
}

/// `id, name, created_ms`.
pub(super) fn account(row: &impl Columns) -> StoreResult<AccountInfo> {
    Ok(AccountInfo { id: row.text("id")?, name: row.text("name")?, created_ms: row.int("created_ms")? })
}

/// `id, account_id, name, created_ms`.
pub(super) fn user(row: &impl Columns) -> StoreResult<UserInfo> {
    Ok(UserInfo {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        created_ms: row.int("created_ms")?,
    })
}

/// The columns [`command`] reads, in a `SELECT` or `RETURNING` list.
pub(super) const COMMAND_COLUMNS: &str = "seq, id, account_id, machine_id, project_id, name, args, summary, target,
    state, attempts, created_ms, expires_ms, deferred, sent_ms, finished_ms, result, error";

/// A command row ([`COMMAND_COLUMNS`]). JSON is stored as text, so that
/// objects keep their key order (the `preserve_order` rule); text that does
/// not parse reads as absent.
pub(super) fn command(row: &impl Columns) -> StoreResult<CommandRecord> {
    let json = |column: &str| -> StoreResult<Option<serde_json::Value>> {
        Ok(row.maybe_text(column)?.and_then(|text| serde_json::from_str(&text).ok()))
    };
    Ok(CommandRecord {
        command: NewCommand {
            id: row.text("id")?,
            account_id: row.text("account_id")?,
            machine_id: row.text("machine_id")?,
            project_id: row.text("project_id")?,
            name: row.text("name")?,
            args: json("args")?.unwrap_or_default(),
            summary: row.text("summary")?,
            target: row.text("target")?,
            created_ms: row.int("created_ms")?,
            expires_ms: row.int("expires_ms")?,
            deferred: row.flag("deferred")?,
        },
        seq: row.int("seq")?,
        // Only the store writes the column; an unknown value would be a bug, read as in doubt.
        state: CommandState::parse(&row.text("state")?).unwrap_or(CommandState::Sent),
        attempts: row.int("attempts")?,
        sent_ms: row.maybe_int("sent_ms")?,
        finished_ms: row.maybe_int("finished_ms")?,
        result: json("result")?,
        error: json("error")?.and_then(|value| serde_json::from_value(value).ok()),
    })
}

/// The stored `result` and `error` of a finished command (JSON `null` is no value).
pub(super) fn outcome(finish: &Finish) -> (Option<String>, Option<String>) {
    let json = |value: Option<String>| value.filter(|v| v != "null");
    (
        json(finish.result.as_ref().map(serde_json::Value::to_string)),
        json(finish.error.as_ref().and_then(|e| serde_json::to_string(e).ok())),
    )
}

/// The stored `error` of a command that expired in the queue.
pub(super) fn expired_error() -> Option<String> {
    serde_json::to_string(&expired_in_queue()).ok()
}

/// A new id: `prefix_` and 12 random hex digits.
pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A unique index refused the row: `what` is taken.
pub(super) fn taken(error: sqlx::Error, what: String) -> HubError {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => HubError::NameTaken(what),
        other => other.into(),
    }
}

/// The name a machine may have in its account, given the names of the
/// account's other machines that begin with `wanted` (without case): the
/// one it asks for if no other machine holds it; else the one it has, or,
/// for a new machine, the first free "name (2)", "name (3)" …
///
/// Names compare without ASCII case only, as SQLite's NOCASE does (and
/// Postgres's `lower(… COLLATE "C")`): "Été" and "été" are two names.
pub(super) fn choose_name(machine_id: &str, wanted: &str, current: Option<String>, others: &[String]) -> String {
    let taken = |name: &str| others.iter().any(|other| other.eq_ignore_ascii_case(name));
    if !taken(wanted) {
        return wanted.to_owned();
    }
    if let Some(current) = current {
        tracing::warn!(machine = ?machine_id, wanted = ?wanted, "a machine asked for a name another machine has; it keeps its own");
        return current;
    }
    let mut n = 2u64;
    loop {
        let candidate = format!("{wanted} ({n})");
        if !taken(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

/// How many characters the name prefix query compares (both engines count characters).
pub(super) fn prefix_len(wanted: &str) -> i64 {
    i64::try_from(wanted.chars().count()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_kept_taken_from_the_current_or_numbered() {
        let others = ["Work MacBook".to_owned(), "work macbook (2)".to_owned()];
        assert_eq!(choose_name("m", "Build box", None, &others), "Build box");
        assert_eq!(choose_name("m", "WORK MACBOOK", Some("Mine".into()), &others), "Mine");
        assert_eq!(choose_name("m", "work MacBook", None, &others), "work MacBook (3)");
        assert_eq!(choose_name("m", "été", None, &["Été".to_owned()]), "été", "ASCII case only");
    }
}
