//! Postgres implementation of [`Store`]: the state several hub nodes share
//! (design §8). It behaves as [`super::SqliteStore`] does, call for call;
//! the tests in `store_tests.rs` run on both.
//!
//! SQLite runs one write transaction at a time; Postgres runs them side by
//! side. Where a transaction reads before it writes and another could slip
//! in between (a hello checking a machine's owner, a name being chosen, a
//! re-pair), it first takes a transaction-scoped advisory lock on what it is
//! about, so those transactions run one after another as they do on SQLite.

use super::{rows, Connected, FileChange, FileRow, MachineRow, Principal, ProjectRow, Store, StoreResult};
use crate::health::StoreHealth;
use crate::{now_ms, HubError};
use futures_util::future::BoxFuture;
use specbridge_protocol::{MachineInfo, ProjectInfo};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accounts::DEFAULT_ACCOUNT;

/// Connections per hub node: requests, sessions and sweeps share them.
const POOL_SIZE: u32 = 8;
/// How long a call waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first connection is retried: a hub started together with
/// its database (one `docker compose up`) waits for it to accept connections.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// What an advisory lock is taken on (the first key of the two-key form;
/// the second is the hash of the id). The migration lock uses the one-key
/// form, a separate key space.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(super) enum Lock {
    /// Everything that reads a machine's row before writing it: hellos,
    /// project lists, uploads, re-pairing.
    Machine = 1,
    /// The machine names of an account, while one is chosen. Always taken
    /// after a machine lock, never before, so two transactions cannot wait
    /// for each other.
    AccountNames = 2,
}

/// Takes `lock` on `key` until the transaction ends.
pub(super) async fn lock(tx: &mut Transaction<'static, Postgres>, lock: Lock, key: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(lock as i32)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The Postgres store. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// Where failed writes that do not fail the call (`last_used_ms`) are reported.
    pub(super) health: Arc<StoreHealth>,
}

impl std::fmt::Debug for PgStore {
    /// Never the connect options: they hold the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("connections", &self.pool.size()).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`), migrates
    /// the database and makes sure the default account exists. The first
    /// connection is retried for a while (see [`CONNECT_WAIT`]). The URL is
    /// never logged: only its host, port and database.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.application_name("specbridge-hub");
        let pool = connect(&options).await?;
        super::migrate::postgres(&pool).await?;
        // Concurrent opens both insert: one wins, the other does nothing.
        sqlx::query("INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(DEFAULT_ACCOUNT)
            .bind("Default")
            .bind(now_ms())
            .execute(&pool)
            .await?;
        tracing::info!(
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            "store: Postgres"
        );
        Ok(Self { pool, health: Arc::default() })
    }
}

/// The pool, once its first connection works: refused connections, time-outs
/// and "starting up" are retried until [`CONNECT_WAIT`] has passed; anything
/// else (a wrong password, no such database) fails at once.
async fn connect(options: &PgConnectOptions) -> StoreResult<PgPool> {
    let deadline = Instant::now() + CONNECT_WAIT;
    let mut told = false;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        let error = match attempt {
            Ok(pool) => return Ok(pool),
            Err(error) => error,
        };
        let transient = match &error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(e) => e.code().as_deref() == Some("57P03"),
            _ => false,
        };
        if !transient || Instant::now() >= deadline {
            return Err(error.into());
        }
        if !told {
            tracing::info!(host = options.get_host(), port = options.get_port(), error = %error, "waiting for Postgres");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const MACHINE_COLUMNS: &str = "id, name, os, arch, version, last_seen_ms, online";

impl Store for PgStore {
    fn probe_write(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO health_probe (id, at_ms) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at_ms = EXCLUDED.at_ms",
            )
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn machine_account(&self, machine_id: &str) -> BoxFuture<'_, StoreResult<Option<String>>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT account_id FROM machines WHERE id = $1")
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

    fn machine_connected(
        &self,
        principal: &Principal,
        machine: &MachineInfo,
        projects: &[ProjectInfo],
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Connected>> {
        let (principal, machine, projects) = (principal.clone(), machine.clone(), projects.to_vec());
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            lock(&mut tx, Lock::Machine, &machine.id).await?;
            let owner: Option<(String, Option<String>, String)> =
                sqlx::query_as("SELECT account_id, token_id, name FROM machines WHERE id = $1")
                    .bind(&machine.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((account, token, _)) = &owner {
                // The session checked the binding; this holds even if it did not.
                if account != &principal.account_id || token.as_deref() != Some(principal.token_id.as_str()) {
                    return Err(HubError::MachineTaken(machine.id.clone()));
                }
            }
            let current = owner.map(|o| o.2);
            let name = if current.as_deref() == Some(machine.name.as_str()) {
                // A reconnect under the name it has: the unique index says no
                // other machine has it, so there is nothing to choose, and no
                // reason to queue behind the account's other hellos (after a
                // node dies, thousands arrive at once).
                machine.name.clone()
            } else {
                lock(&mut tx, Lock::AccountNames, &principal.account_id).await?;
                // A range on the unique index's expression (`lower` under "C"
                // folds ASCII only, character by character, so a name starting
                // with the wanted one sorts inside it): a new machine no longer
                // scans every machine of its account.
                let others: Vec<String> = sqlx::query_scalar(
                    r#"SELECT name FROM machines WHERE account_id = $1 AND id <> $2
                       AND lower(name COLLATE "C") >= lower($4 COLLATE "C")
                       AND lower(name COLLATE "C") < lower($4 COLLATE "C") || chr(1114111)
                       AND lower(left(name, $3::int) COLLATE "C") = lower($4 COLLATE "C")"#,
                )
                .bind(&principal.account_id)
                .bind(&machine.id)
                .bind(rows::prefix_len(&machine.name))
                .bind(&machine.name)
                .fetch_all(&mut *tx)
                .await?;
                rows::choose_name(&machine.id, &machine.name, current, &others)
            };
            let last_seq: i64 = sqlx::query_scalar(
                "INSERT INTO machines (id, account_id, token_id, name, os, arch, version, last_seen_ms, online)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, os = EXCLUDED.os, arch = EXCLUDED.arch,
                   version = EXCLUDED.version, last_seen_ms = EXCLUDED.last_seen_ms, online = TRUE
                 RETURNING last_seq",
            )
            .bind(&machine.id)
            .bind(&principal.account_id)
            .bind(&principal.token_id)
            .bind(&name)
            .bind(&machine.os)
            .bind(&machine.arch)
            .bind(&machine.app_version)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
            replace_projects_in(&mut tx, &machine.id, &projects).await?;
            tx.commit().await?;
            Ok(Connected { last_seq: u64::try_from(last_seq).unwrap_or(0), name })
        })
    }

    fn replace_projects(&self, machine_id: &str, projects: &[ProjectInfo]) -> BoxFuture<'_, StoreResult<()>> {
        let (machine_id, projects) = (machine_id.to_owned(), projects.to_vec());
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            lock(&mut tx, Lock::Machine, &machine_id).await?;
            replace_projects_in(&mut tx, &machine_id, &projects).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn set_presence(&self, machine_id: &str, online: bool, now_ms: i64) -> BoxFuture<'_, StoreResult<()>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            sqlx::query("UPDATE machines SET online = $1, last_seen_ms = $2 WHERE id = $3")
                .bind(online)
                .bind(now_ms)
                .bind(&machine_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn mark_all_offline(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE machines SET online = FALSE WHERE online").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn list_machines(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>> {
        let account_id = account_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(&format!(
                "SELECT {MACHINE_COLUMNS} FROM machines WHERE account_id = $1 ORDER BY online DESC, last_seen_ms DESC"
            ))
            .bind(&account_id)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::machine)
        })
    }

    fn find_machines(&self, account_id: &str, id_or_name: &str) -> BoxFuture<'_, StoreResult<Vec<MachineRow>>> {
        let (account_id, key) = (account_id.to_owned(), id_or_name.to_owned());
        Box::pin(async move {
            let found = sqlx::query(&format!(
                r#"SELECT {MACHINE_COLUMNS} FROM machines WHERE account_id = $1
                   AND (id = $2 OR lower(name COLLATE "C") = lower($2 COLLATE "C")) ORDER BY last_seen_ms DESC"#
            ))
            .bind(&account_id)
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
                r#"SELECT p.id, p.name, p.layout, p.read_only,
                     (SELECT COUNT(*) FROM files f WHERE f.machine_id = p.machine_id AND f.project_id = p.id) AS files
                   FROM projects p WHERE p.machine_id = $1 ORDER BY p.id COLLATE "C""#,
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
            // Byte order, as `project_digest` requires, whatever the database's locale.
            let found = sqlx::query(
                r#"SELECT path, hash, size, mtime_ms FROM files WHERE machine_id = $1 AND project_id = $2
                   ORDER BY path COLLATE "C""#,
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
            let found = sqlx::query(
                "SELECT path, hash, size, mtime_ms, content FROM files
                 WHERE machine_id = $1 AND project_id = $2 AND path = $3",
            )
            .bind(&machine_id)
            .bind(&project)
            .bind(&path)
            .fetch_optional(&self.pool)
            .await?;
            use rows::Columns as _;
            found.map(|row| Ok((rows::file(&row)?, row.bytes("content")?))).transpose()
        })
    }

    fn apply_changes(&self, machine_id: &str, changes: Vec<FileChange>, seq: u64) -> BoxFuture<'_, StoreResult<()>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let now = now_ms();
            let mut tx = self.pool.begin().await?;
            // After a hello or a project list change of this machine, not beside it.
            lock(&mut tx, Lock::Machine, &machine_id).await?;
            for change in changes {
                match change {
                    FileChange::Upsert { project, row, content } => {
                        sqlx::query(
                            "INSERT INTO files (machine_id, project_id, path, hash, size, mtime_ms, content, updated_ms)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                             ON CONFLICT (machine_id, project_id, path) DO UPDATE SET hash = EXCLUDED.hash,
                               size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, content = EXCLUDED.content,
                               updated_ms = EXCLUDED.updated_ms",
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
                        sqlx::query("DELETE FROM files WHERE machine_id = $1 AND project_id = $2 AND path = $3")
                            .bind(&machine_id)
                            .bind(&project)
                            .bind(&path)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            sqlx::query("UPDATE machines SET last_seq = GREATEST(last_seq, $1) WHERE id = $2")
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(&machine_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Replaces a machine's project list, dropping the files of projects no
/// longer listed (the caller holds the machine's lock).
async fn replace_projects_in(
    tx: &mut Transaction<'static, Postgres>,
    machine_id: &str,
    projects: &[ProjectInfo],
) -> StoreResult<()> {
    let listed: Vec<String> = projects.iter().map(|p| p.id.clone()).collect();
    // The files of the projects it had and no longer lists (as SQLite does: a project, then its files).
    sqlx::query(
        "DELETE FROM files WHERE machine_id = $1 AND project_id IN
           (SELECT id FROM projects WHERE machine_id = $1 AND NOT (id = ANY($2)))",
    )
    .bind(machine_id)
    .bind(&listed)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM projects WHERE machine_id = $1 AND NOT (id = ANY($2))")
        .bind(machine_id)
        .bind(&listed)
        .execute(&mut **tx)
        .await?;
    for project in projects {
        sqlx::query(
            "INSERT INTO projects (machine_id, id, name, layout, read_only) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (machine_id, id) DO UPDATE SET name = EXCLUDED.name, layout = EXCLUDED.layout,
               read_only = EXCLUDED.read_only",
        )
        .bind(machine_id)
        .bind(&project.id)
        .bind(&project.name)
        .bind(project.layout.as_str())
        .bind(project.read_only)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
