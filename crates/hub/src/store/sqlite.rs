//! SQLite implementation of [`Store`]: one file in the data folder, WAL mode so
//! `specbridge-hub token …` can run beside a serving hub.

use super::{rows, Connected, FileChange, FileRow, MachineRow, Principal, ProjectRow, Store, StoreResult};
use crate::health::StoreHealth;
use crate::{now_ms, HubError};
use futures_util::future::BoxFuture;
use specbridge_protocol::{MachineInfo, ProjectInfo};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The one account a single-user hub has; multi-account comes with the dashboard login.
pub(crate) use super::accounts::DEFAULT_ACCOUNT;

/// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock at
/// once, waiting up to the busy timeout. A deferred `BEGIN` that reads first
/// and writes later fails at once with "database is locked" when another
/// connection committed in between (WAL cannot move a reader's snapshot
/// forward into a writer), and no busy timeout helps it.
pub(super) async fn begin_write(pool: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Where failed writes that do not fail the call (`last_used_ms`) are reported.
    pub(super) health: Arc<StoreHealth>,
}

impl SqliteStore {
    /// Opens (creating if needed) `hub.db` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        private_files(data_dir).map_err(|source| crate::HubError::DataDir { path: data_dir.to_path_buf(), source })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("hub.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a power
            // loss can drop the last commits, which the bridge's outbox resends.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        // Two processes creating the same new database at once (a hub
        // starting and `token create` beside it) can meet SQLITE_BUSY where
        // no busy handler runs (switching a new file to WAL): try again for a
        // while, since the other open will be done in a moment.
        let mut attempts = 0;
        loop {
            match Self::connect(options.clone()).await {
                Err(HubError::Database(sqlx::Error::Database(e)))
                    if e.code().as_deref() == Some("5") && attempts < 50 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// Connects, migrates and makes sure the default account exists.
    fn connect(options: SqliteConnectOptions) -> BoxFuture<'static, StoreResult<Self>> {
        Box::pin(async move {
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                // A commit that fails for want of space is rolled back by SQLite
                // itself; sqlx's own rollback then fails, and it goes on counting a
                // transaction that is gone. Its next "transaction" on that
                // connection is a SAVEPOINT that never ends and holds the write
                // lock, so every other writer waited 5 s and failed, even after
                // space came back. Such a connection is closed when it is released.
                .after_release(|conn, _meta| {
                    Box::pin(async move {
                        if conn.is_in_transaction() {
                            // A rollback queued by a dropped transaction runs first.
                            conn.ping().await?;
                        }
                        Ok(!conn.is_in_transaction())
                    })
                })
                .connect_with(options)
                .await?;
            super::migrate::sqlite(&pool).await?;
            sqlx::query("INSERT OR IGNORE INTO accounts (id, name, created_ms) VALUES (?, ?, ?)")
                .bind(DEFAULT_ACCOUNT)
                .bind("Default")
                .bind(now_ms())
                .execute(&pool)
                .await?;
            Ok(Self { pool, health: Arc::default() })
        })
    }
}

/// Makes the data folder (0700) and `hub.db` (0600) private to the hub's
/// user before SQLite opens it: SQLite gives its `-wal` and `-shm` files the
/// database file's mode, so they follow. Files a hub made before this rule
/// are tightened too.
fn private_files(data_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        let db = data_dir.join("hub.db");
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&db)?;
        for name in ["hub.db", "hub.db-wal", "hub.db-shm"] {
            match std::fs::set_permissions(data_dir.join(name), std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn machine_account(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Option<String>>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT account_id FROM machines WHERE id = ?")
                .bind(machine_id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn health(&self) -> Arc<StoreHealth> {
        Arc::clone(&self.health)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.close())
    }

    fn probe_write(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            // Its own table, created on first use: the probe touches no data.
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);")
                .execute(&self.pool)
                .await?;
            sqlx::query("INSERT OR REPLACE INTO health_probe (id, at_ms) VALUES (1, ?)")
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn machine_connected(
        &self,
        principal: &Principal,
        machine: &MachineInfo,
        projects: &[ProjectInfo],
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Connected>> {
        let (principal, machine, projects) = (principal.clone(), machine.clone(), projects.to_vec());
        Box::pin(async move {
            let mut tx = begin_write(&self.pool).await?;
            let owner: Option<(String, Option<String>, String)> =
                sqlx::query_as("SELECT account_id, token_id, name FROM machines WHERE id = ?")
                    .bind(&machine.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((account, token, _)) = &owner {
                // The session checked the binding; this holds even if it did not.
                if account != &principal.account_id || token.as_deref() != Some(principal.token_id.as_str()) {
                    return Err(crate::HubError::MachineTaken(machine.id.clone()));
                }
            }
            let name =
                unique_name(&mut tx, &principal.account_id, &machine.id, &machine.name, owner.map(|o| o.2)).await?;
            sqlx::query(
                "INSERT INTO machines (id, account_id, token_id, name, os, arch, version, last_seen_ms, online)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, os = excluded.os, arch = excluded.arch,
                   version = excluded.version, last_seen_ms = excluded.last_seen_ms, online = 1",
            )
            .bind(&machine.id)
            .bind(&principal.account_id)
            .bind(&principal.token_id)
            .bind(&name)
            .bind(&machine.os)
            .bind(&machine.arch)
            .bind(&machine.app_version)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            replace_projects_in(&mut tx, &machine.id, &projects).await?;
            let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM machines WHERE id = ?")
                .bind(&machine.id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Connected { last_seq: u64::try_from(last_seq).unwrap_or(0), name })
        })
    }

    fn replace_projects(&self, machine_id: &str, projects: &[ProjectInfo]) -> BoxFuture<'_, StoreResult<()>> {
        let (machine_id, projects) = (machine_id.to_owned(), projects.to_vec());
        Box::pin(async move {
            let mut tx = begin_write(&self.pool).await?;
            replace_projects_in(&mut tx, &machine_id, &projects).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn set_presence(&self, machine_id: &str, online: bool, now_ms: i64) -> BoxFuture<'_, StoreResult<()>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            sqlx::query("UPDATE machines SET online = ?, last_seen_ms = ? WHERE id = ?")
                .bind(i64::from(online))
                .bind(now_ms)
                .bind(&machine_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn mark_all_offline(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE machines SET online = 0 WHERE online != 0").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn list_machines(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>> {
        let account_id = account_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT id, name, os, arch, version, last_seen_ms, online FROM machines
                 WHERE account_id = ? ORDER BY online DESC, last_seen_ms DESC",
            )
            .bind(&account_id)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::machine)
        })
    }

    fn find_machines(&self, account_id: &str, id_or_name: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>> {
        let (account_id, key) = (account_id.to_owned(), id_or_name.to_owned());
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT id, name, os, arch, version, last_seen_ms, online FROM machines
                 WHERE account_id = ? AND (id = ? OR name = ? COLLATE NOCASE) ORDER BY last_seen_ms DESC",
            )
            .bind(&account_id)
            .bind(&key)
            .bind(&key)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::machine)
        })
    }

    fn list_projects(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Vec<ProjectRow>>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT p.id, p.name, p.layout, p.read_only,
                   (SELECT COUNT(*) FROM files f WHERE f.machine_id = p.machine_id AND f.project_id = p.id) AS files
                 FROM projects p WHERE p.machine_id = ? ORDER BY p.id",
            )
            .bind(&machine_id)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::project)
        })
    }

    fn list_files(&self, machine_id: &str, project: &str) -> BoxFuture<'_, StoreResult<Vec<FileRow>>> {
        let (machine_id, project) = (machine_id.to_owned(), project.to_owned());
        Box::pin(async move {
            // BINARY collation orders by bytes, as `project_digest` requires.
            let found = sqlx::query(
                "SELECT path, hash, size, mtime_ms FROM files WHERE machine_id = ? AND project_id = ?
                 ORDER BY path COLLATE BINARY",
            )
            .bind(&machine_id)
            .bind(&project)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::file)
        })
    }

    fn get_file(
        &self,
        machine_id: &str,
        project: &str,
        path: &str,
    ) -> BoxFuture<'_, StoreResult<Option<super::StoredFile>>> {
        let (machine_id, project, path) = (machine_id.to_owned(), project.to_owned(), path.to_owned());
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT path, hash, size, mtime_ms, content FROM files WHERE machine_id = ? AND project_id = ? AND path = ?",
            )
            .bind(&machine_id)
            .bind(&project)
            .bind(&path)
            .fetch_optional(&self.pool)
            .await?;
            use rows::Columns as _;
            row.map(|row| Ok((rows::file(&row)?, row.bytes("content")?))).transpose()
        })
    }

    fn apply_changes(&self, machine_id: &str, changes: Vec<FileChange>, seq: u64) -> BoxFuture<'_, StoreResult<()>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let now = now_ms();
            let mut tx = begin_write(&self.pool).await?;
            for change in changes {
                match change {
                    FileChange::Upsert { project, row, content } => {
                        sqlx::query(
                            "INSERT INTO files (machine_id, project_id, path, hash, size, mtime_ms, content, updated_ms)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                             ON CONFLICT(machine_id, project_id, path) DO UPDATE SET hash = excluded.hash,
                               size = excluded.size, mtime_ms = excluded.mtime_ms, content = excluded.content,
                               updated_ms = excluded.updated_ms",
                        )
                        .bind(&machine_id)
                        .bind(&project)
                        .bind(&row.path)
                        .bind(&row.hash)
                        .bind(row.size)
                        .bind(row.mtime_ms)
                        .bind(content)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    FileChange::Delete { project, path } => {
                        sqlx::query("DELETE FROM files WHERE machine_id = ? AND project_id = ? AND path = ?")
                            .bind(&machine_id)
                            .bind(&project)
                            .bind(&path)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            sqlx::query("UPDATE machines SET last_seq = MAX(last_seq, ?) WHERE id = ?")
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(&machine_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// The name a machine may have in its account ([`rows::choose_name`]),
/// from the names of its other machines that begin with the one it asks for.
async fn unique_name(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: &str,
    machine_id: &str,
    wanted: &str,
    current: Option<String>,
) -> StoreResult<String> {
    let others: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM machines WHERE account_id = ? AND id != ? AND substr(name, 1, ?) = ? COLLATE NOCASE",
    )
    .bind(account_id)
    .bind(machine_id)
    .bind(rows::prefix_len(wanted))
    .bind(wanted)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows::choose_name(machine_id, wanted, current, &others))
}

async fn replace_projects_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    machine_id: &str,
    projects: &[ProjectInfo],
) -> StoreResult<()> {
    let existing: Vec<String> = sqlx::query_scalar("SELECT id FROM projects WHERE machine_id = ?")
        .bind(machine_id)
        .fetch_all(&mut **tx)
        .await?;
    for gone in existing.iter().filter(|id| !projects.iter().any(|p| &p.id == *id)) {
        sqlx::query("DELETE FROM files WHERE machine_id = ? AND project_id = ?")
            .bind(machine_id)
            .bind(gone)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM projects WHERE machine_id = ? AND id = ?")
            .bind(machine_id)
            .bind(gone)
            .execute(&mut **tx)
            .await?;
    }
    for project in projects {
        sqlx::query(
            "INSERT INTO projects (machine_id, id, name, layout, read_only) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(machine_id, id) DO UPDATE SET name = excluded.name, layout = excluded.layout,
               read_only = excluded.read_only",
        )
        .bind(machine_id)
        .bind(&project.id)
        .bind(&project.name)
        .bind(project.layout.as_str())
        .bind(i64::from(project.read_only))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
