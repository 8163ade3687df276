//! The hub's storage, behind [`Store`] so that a Postgres implementation can
//! stand beside [`SqliteStore`] (design §8) without touching sessions or the API.
//! The durable command queue is part of it ([`CommandStore`], a supertrait).
//!
//! The store knows rows, not protocols: it never sees a frame or a socket.

mod accounts;
mod commands;
mod migrate;
mod postgres;
mod postgres_accounts;
mod postgres_commands;
mod postgres_tokens;
mod rows;
mod sqlite;
mod sqlite_accounts;
mod sqlite_commands;
mod sqlite_tokens;
#[cfg(test)]
mod store_tests;
mod tokens;

pub use accounts::{AccountInfo, AccountStore, UserInfo, DEFAULT_ACCOUNT};
pub(crate) use commands::expired_in_queue;
pub use commands::{CommandRecord, CommandState, CommandStore, Finish, Inserted, NewCommand, QueueDepth};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use tokens::{RevokedToken, TokenStore};

use crate::auth::TokenKind;
use crate::error::HubError;
use crate::health::StoreHealth;
use futures_util::future::BoxFuture;
use serde::Serialize;
use specbridge_protocol::{Layout, MachineInfo, ProjectInfo};
use std::path::Path;
use std::sync::Arc;

/// Result of a store call.
pub type StoreResult<T> = Result<T, HubError>;

/// A stored file: metadata and bytes.
pub type StoredFile = (FileRow, Vec<u8>);

/// A token as the hub knows it (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// The user a user token belongs to (none for tokens made before users existed).
    pub user_id: Option<String>,
    /// Name given at creation.
    pub name: String,
    /// What it may be used for.
    pub kind: TokenKind,
    /// The machine a machine token is bound to, after its first use.
    pub machine_id: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last successful use.
    pub last_used_ms: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// An authenticated token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Token id.
    pub token_id: String,
    /// Account the token belongs to.
    pub account_id: String,
    /// Machine the token is bound to, if any.
    pub machine_id: Option<String>,
}

/// What the store knows of a machine that just connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Its highest stored event sequence number.
    pub last_seq: u64,
    /// The name it has at the hub (the one it asked for, unless another machine has it).
    pub name: String,
}

/// A machine row.
#[derive(Debug, Clone, Serialize)]
pub struct MachineRow {
    /// Machine id (chosen by the bridge).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Bridge version.
    pub version: String,
    /// Last time the hub heard from it.
    pub last_seen_ms: i64,
    /// Whether a session is open now.
    pub online: bool,
}

/// A project row with its file count.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectRow {
    /// Project id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Layout.
    pub layout: Layout,
    /// Whether the hub may only read.
    pub read_only: bool,
    /// Number of files stored.
    pub files: i64,
}

/// A file's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// Relative path.
    pub path: String,
    /// Content hash.
    pub hash: String,
    /// Size in bytes.
    pub size: i64,
    /// Modification time on the bridge.
    pub mtime_ms: i64,
}

/// One stored file change, applied with its sequence number.
#[derive(Debug, Clone)]
pub enum FileChange {
    /// Insert or replace a file.
    Upsert {
        /// Project id.
        project: String,
        /// Metadata.
        row: FileRow,
        /// The bytes.
        content: Vec<u8>,
    },
    /// Remove a file.
    Delete {
        /// Project id.
        project: String,
        /// Path.
        path: String,
    },
}

/// Everything the hub persists. Methods return boxed futures so the trait is
/// object-safe and the hub can hold an `Arc<dyn Store>`.
pub trait Store: TokenStore + AccountStore + CommandStore + Send + Sync + 'static {
    /// Records a connected machine for the token that speaks for it and
    /// replaces its project list (dropping the files of projects no longer
    /// listed). The machine keeps its account and owner; its name stays
    /// unique in the account. `Err(MachineTaken)` if another token owns it.
    fn machine_connected(
        &self,
        principal: &Principal,
        machine: &MachineInfo,
        projects: &[ProjectInfo],
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Connected>>;
    /// Replaces a machine's project list during a session.
    fn replace_projects(&self, machine_id: &str, projects: &[ProjectInfo]) -> BoxFuture<'_, StoreResult<()>>;
    /// Marks a machine online or offline and stamps `last_seen`.
    fn set_presence(&self, machine_id: &str, online: bool, now_ms: i64) -> BoxFuture<'_, StoreResult<()>>;
    /// Marks every machine offline (at start: a crashed hub left them "online").
    fn mark_all_offline(&self) -> BoxFuture<'_, StoreResult<()>>;
    /// Machines of an account, most recently seen first.
    fn list_machines(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>>;
    /// The account's machines whose id is `id_or_name`, or whose name is
    /// (without case): more than one means the address is ambiguous.
    fn find_machines(&self, account_id: &str, id_or_name: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>>;
    /// A machine's projects.
    fn list_projects(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Vec<ProjectRow>>>;
    /// A project's files, sorted by path (bytewise).
    fn list_files(&self, machine_id: &str, project: &str) -> BoxFuture<'_, StoreResult<Vec<FileRow>>>;
    /// One file with its bytes.
    fn get_file(&self, machine_id: &str, project: &str, path: &str) -> BoxFuture<'_, StoreResult<Option<StoredFile>>>;
    /// Applies changes in one transaction and raises the machine's `last_seq` to `seq`.
    fn apply_changes(&self, machine_id: &str, changes: Vec<FileChange>, seq: u64) -> BoxFuture<'_, StoreResult<()>>;

    /// Writes one tiny row, to learn whether the store accepts writes (the
    /// health probe behind `/healthz`). A store without a cheap probe says yes.
    fn probe_write(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The account that owns a machine (`None` for a machine never seen).
    /// A machine never changes accounts, so callers may cache the answer.
    fn machine_account(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Option<String>>>;

    /// Where failed writes that do not fail their call are reported (`/healthz`).
    fn health(&self) -> Arc<StoreHealth>;

    /// Closes the connections, waiting for borrowed ones to come back, so
    /// another hub can open the same database at once.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Opens the store a hub runs on: Postgres when `database_url` is a
/// `postgres://` (or `postgresql://`) URL, else SQLite's `hub.db` in
/// `data_dir` (the zero-config default). The store is migrated and has the
/// default account.
pub(crate) async fn open(data_dir: &Path, database_url: Option<&str>) -> StoreResult<Arc<dyn Store>> {
    match database_url {
        None => Ok(Arc::new(SqliteStore::open(data_dir).await?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::open(url).await?))
        }
        Some(url) => Err(HubError::DatabaseUrl { scheme: url.split(':').next().unwrap_or_default().to_owned() }),
    }
}
