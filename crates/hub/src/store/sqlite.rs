//! SQLite implementation of [`Store`]: one file in the data folder, WAL mode so
//! `specbridge-hub token …` can run beside a serving hub.

use super::{FileChange, FileRow, MachineRow, Principal, ProjectRow, Store, StoreResult, TokenInfo};
use crate::auth::{generate_secret, hash_secret, IssuedToken, TokenKind};
use crate::health::StoreHealth;
use crate::now_ms;
use futures_util::future::BoxFuture;
use specbridge_protocol::{MachineInfo, ProjectInfo};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Row as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The one account a single-user hub has; multi-account comes with the dashboard login.
pub(crate) const DEFAULT_ACCOUNT: &str = "default";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    machine_id TEXT,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS machines (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    version TEXT NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    online INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS projects (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    layout TEXT NOT NULL,
    read_only INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (machine_id, id)
);
CREATE TABLE IF NOT EXISTS files (
    machine_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    content BLOB NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (machine_id, project_id, path)
);
"#;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where failed writes that do not fail the call (`last_used_ms`) are reported.
    health: Arc<StoreHealth>,
}

impl SqliteStore {
    /// Opens (creating if needed) `hub.db` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| crate::HubError::DataDir { path: data_dir.to_path_buf(), source })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("hub.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a power
            // loss can drop the last commits, which the bridge's outbox resends.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
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
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        sqlx::query("INSERT OR IGNORE INTO accounts (id, name, created_ms) VALUES (?, ?, ?)")
            .bind(DEFAULT_ACCOUNT)
            .bind("Default")
            .bind(now_ms())
            .execute(&pool)
            .await?;
        Ok(Self { pool, health: Arc::default() })
    }

    /// The health record `/healthz` reads (shared with the hub).
    pub(crate) fn health(&self) -> Arc<StoreHealth> {
        Arc::clone(&self.health)
    }

    /// Closes the pool so another hub can open the same file at once.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn machine_row(row: &sqlx::sqlite::SqliteRow) -> MachineRow {
    MachineRow {
        id: row.get("id"),
        name: row.get("name"),
        os: row.get("os"),
        arch: row.get("arch"),
        version: row.get("version"),
        last_seen_ms: row.get("last_seen_ms"),
        online: row.get::<i64, _>("online") != 0,
    }
}

impl Store for SqliteStore {
    fn create_token(&self, kind: TokenKind, name: &str) -> BoxFuture<'_, StoreResult<IssuedToken>> {
        let name = name.to_owned();
        Box::pin(async move {
            let secret = generate_secret();
            let id = format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            sqlx::query("INSERT INTO tokens (id, account_id, kind, name, hash, created_ms) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(&id)
                .bind(DEFAULT_ACCOUNT)
                .bind(kind.as_str())
                .bind(&name)
                .bind(hash_secret(secret.expose()))
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            Ok(IssuedToken { id, secret })
        })
    }

    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenInfo>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, name, kind, machine_id, created_ms, last_used_ms, revoked_ms FROM tokens ORDER BY created_ms",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .iter()
                .map(|r| TokenInfo {
                    id: r.get("id"),
                    name: r.get("name"),
                    kind: TokenKind::parse(r.get("kind")).unwrap_or(TokenKind::User),
                    machine_id: r.get("machine_id"),
                    created_ms: r.get("created_ms"),
                    last_used_ms: r.get("last_used_ms"),
                    revoked: r.get::<Option<i64>, _>("revoked_ms").is_some(),
                })
                .collect())
        })
    }

    fn revoke_token(&self, id: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let id = id.to_owned();
        Box::pin(async move {
            let done = sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
                .bind(now_ms())
                .bind(&id)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn authenticate(&self, secret: &str, kind: TokenKind) -> BoxFuture<'_, StoreResult<Option<Principal>>> {
        let hash = hash_secret(secret);
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, account_id, machine_id FROM tokens WHERE hash = ? AND kind = ? AND revoked_ms IS NULL",
            )
            .bind(&hash)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let principal = Principal {
                token_id: row.get("id"),
                account_id: row.get("account_id"),
                machine_id: row.get("machine_id"),
            };
            // Bookkeeping, not a condition of access: on a full disk the read
            // the caller came for must still work.
            let stamped = sqlx::query("UPDATE tokens SET last_used_ms = ? WHERE id = ?")
                .bind(now_ms())
                .bind(&principal.token_id)
                .execute(&self.pool)
                .await;
            if let Err(e) = stamped {
                let error = crate::HubError::from(e);
                tracing::debug!(error = %error, "could not record the token's last use");
                self.health.observe(&error);
            }
            Ok(Some(principal))
        })
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

    fn bind_token(&self, token_id: &str, machine_id: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let (token_id, machine_id) = (token_id.to_owned(), machine_id.to_owned());
        Box::pin(async move {
            // One statement, so two first connections cannot both bind the token.
            let bound: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE tokens SET machine_id = COALESCE(machine_id, ?) WHERE id = ? RETURNING machine_id",
            )
            .bind(&machine_id)
            .bind(&token_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(bound.flatten().as_deref() == Some(machine_id.as_str()))
        })
    }

    fn machine_connected(
        &self,
        account_id: &str,
        machine: &MachineInfo,
        projects: &[ProjectInfo],
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<u64>> {
        let (account_id, machine, projects) = (account_id.to_owned(), machine.clone(), projects.to_vec());
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO machines (id, account_id, name, os, arch, version, last_seen_ms, online)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 1)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, os = excluded.os, arch = excluded.arch,
                   version = excluded.version, last_seen_ms = excluded.last_seen_ms, online = 1",
            )
            .bind(&machine.id)
            .bind(&account_id)
            .bind(&machine.name)
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
            Ok(last_seq.max(0) as u64)
        })
    }

    fn replace_projects(&self, machine_id: &str, projects: &[ProjectInfo]) -> BoxFuture<'_, StoreResult<()>> {
        let (machine_id, projects) = (machine_id.to_owned(), projects.to_vec());
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
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
            let rows = sqlx::query(
                "SELECT id, name, os, arch, version, last_seen_ms, online FROM machines
                 WHERE account_id = ? ORDER BY online DESC, last_seen_ms DESC",
            )
            .bind(&account_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(machine_row).collect())
        })
    }

    fn find_machine(&self, account_id: &str, id_or_name: &str) -> BoxFuture<'_, StoreResult<Option<MachineRow>>> {
        let (account_id, key) = (account_id.to_owned(), id_or_name.to_owned());
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, name, os, arch, version, last_seen_ms, online FROM machines
                 WHERE account_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC, last_seen_ms DESC LIMIT 1",
            )
            .bind(&account_id)
            .bind(&key)
            .bind(&key)
            .bind(&key)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.as_ref().map(machine_row))
        })
    }

    fn list_projects(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Vec<ProjectRow>>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT p.id, p.name, p.layout, p.read_only,
                   (SELECT COUNT(*) FROM files f WHERE f.machine_id = p.machine_id AND f.project_id = p.id) AS files
                 FROM projects p WHERE p.machine_id = ? ORDER BY p.id",
            )
            .bind(&machine_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .iter()
                .map(|r| ProjectRow {
                    id: r.get("id"),
                    name: r.get("name"),
                    layout: r.get("layout"),
                    read_only: r.get::<i64, _>("read_only") != 0,
                    files: r.get("files"),
                })
                .collect())
        })
    }

    fn list_files(&self, machine_id: &str, project: &str) -> BoxFuture<'_, StoreResult<Vec<FileRow>>> {
        let (machine_id, project) = (machine_id.to_owned(), project.to_owned());
        Box::pin(async move {
            // BINARY collation orders by bytes, as `project_digest` requires.
            let rows = sqlx::query(
                "SELECT path, hash, size, mtime_ms FROM files WHERE machine_id = ? AND project_id = ?
                 ORDER BY path COLLATE BINARY",
            )
            .bind(&machine_id)
            .bind(&project)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .iter()
                .map(|r| FileRow {
                    path: r.get("path"),
                    hash: r.get("hash"),
                    size: r.get("size"),
                    mtime_ms: r.get("mtime_ms"),
                })
                .collect())
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
            Ok(row.map(|r| {
                (
                    FileRow {
                        path: r.get("path"),
                        hash: r.get("hash"),
                        size: r.get("size"),
                        mtime_ms: r.get("mtime_ms"),
                    },
                    r.get("content"),
                )
            }))
        })
    }

    fn apply_changes(&self, machine_id: &str, changes: Vec<FileChange>, seq: u64) -> BoxFuture<'_, StoreResult<()>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let now = now_ms();
            let mut tx = self.pool.begin().await?;
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
        .bind(&project.layout)
        .bind(i64::from(project.read_only))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(id: &str) -> MachineInfo {
        MachineInfo {
            id: id.into(),
            name: id.into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            app_version: "t".into(),
        }
    }

    fn project(id: &str) -> ProjectInfo {
        ProjectInfo { id: id.into(), name: id.into(), layout: "generic".into(), read_only: false }
    }

    #[tokio::test]
    async fn a_token_binds_to_one_machine_only() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let token = store.create_token(TokenKind::Machine, "t").await.unwrap();
        assert!(store.bind_token(&token.id, "m1").await.unwrap());
        assert!(store.bind_token(&token.id, "m1").await.unwrap(), "binding again to the same machine is fine");
        assert!(!store.bind_token(&token.id, "m2").await.unwrap());
        assert!(!store.bind_token("tok_missing", "m1").await.unwrap());
        let principal = store.authenticate(token.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
        assert_eq!(principal.machine_id.as_deref(), Some("m1"));
        assert!(store.authenticate(token.secret.expose(), TokenKind::User).await.unwrap().is_none());
        store.close().await;
    }

    #[tokio::test]
    async fn files_list_in_byte_order_and_sequence_numbers_only_rise() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        assert_eq!(store.machine_connected(DEFAULT_ACCOUNT, &machine("m"), &[project("p")], 1).await.unwrap(), 0);
        let paths = ["é.md", "a/b.md", "B.md", "a-b.md", "a.md", "_x.md"];
        let changes = paths
            .iter()
            .map(|path| FileChange::Upsert {
                project: "p".into(),
                row: FileRow { path: (*path).into(), hash: "h".into(), size: 1, mtime_ms: 1 },
                content: b"x".to_vec(),
            })
            .collect();
        store.apply_changes("m", changes, 7).await.unwrap();
        store.apply_changes("m", Vec::new(), 3).await.unwrap();
        let listed: Vec<String> = store.list_files("m", "p").await.unwrap().into_iter().map(|f| f.path).collect();
        let mut expected: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        expected.sort(); // Rust's `String` order is bytewise, as `project_digest` wants
        assert_eq!(listed, expected);
        assert_eq!(store.machine_connected(DEFAULT_ACCOUNT, &machine("m"), &[], 2).await.unwrap(), 7);
        assert!(store.list_files("m", "p").await.unwrap().is_empty(), "an unlisted project loses its files");
        store.close().await;
    }
}
