//! Schema migrations: numbered SQL files in `crates/hub/migrations/<engine>/`,
//! compiled in, applied in order, each in its own transaction. SQLite keeps
//! the count applied in `PRAGMA user_version`, Postgres in a
//! `schema_migrations` table. A hub never runs against a database newer than
//! itself: that is an error with a hint, not a guess.

use super::StoreResult;
use crate::HubError;
use futures_util::future::BoxFuture;
use sqlx::{PgPool, SqlitePool};

/// The SQLite migrations, in order.
const SQLITE: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    ("0002_commands", include_str!("../../migrations/sqlite/0002_commands.sql")),
    ("0003_machine_identity", include_str!("../../migrations/sqlite/0003_machine_identity.sql")),
    ("0004_accounts", include_str!("../../migrations/sqlite/0004_accounts.sql")),
];

/// Brings a SQLite database up to this build's schema.
///
/// Each step takes the write lock first (`BEGIN IMMEDIATE`) and reads the
/// version under it: two processes opening a new data folder at once (a hub
/// starting and `specbridge-hub token create` beside it) used to both read
/// version 0 and run the same migration twice ("duplicate column name").
/// Now the second waits for the first (the busy timeout) and finds the step
/// done.
///
/// Boxed: the future holds a connection used as an executor across awaits,
/// and as a plain `async fn` it made every caller's future fail the `Send`
/// check of a spawn ("implementation of `Executor` is not general enough").
pub(super) fn sqlite(pool: &SqlitePool) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let known = i64::try_from(SQLITE.len()).unwrap_or(i64::MAX);
        loop {
            let mut tx = super::sqlite::begin_write(pool).await?;
            let applied: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await?;
            if applied > known {
                return Err(HubError::SchemaTooNew { found: applied, known });
            }
            let step = usize::try_from(applied).unwrap_or(0);
            let Some((name, sql)) = SQLITE.get(step) else {
                tx.commit().await?;
                return Ok(());
            };
            // The migration and its number commit together or not at all
            // (PRAGMA takes no bound parameters; the value is our own counter).
            // A failed step rolls back when `tx` is dropped.
            let script = format!("{sql}\nPRAGMA user_version = {};", step + 1);
            // SQLite runs every statement of a query string in turn.
            sqlx::Executor::execute(&mut *tx, script.as_str()).await?;
            tx.commit().await?;
            tracing::info!(migration = name, "database migrated");
        }
    })
}

/// The Postgres migrations, in order. There were no Postgres hubs before
/// the first, so it holds the whole schema of SQLite's four.
const POSTGRES: &[(&str, &str)] = &[("0001_initial", include_str!("../../migrations/postgres/0001_initial.sql"))];

/// The advisory lock every migration step takes (any constant will do: it
/// only has to be the same in every hub build). ASCII "specbrdg".
const MIGRATION_LOCK: i64 = 0x7370_6563_6272_6467;

/// Brings a Postgres database up to this build's schema.
///
/// Several hub nodes can start at once against one new database: each step
/// runs in a transaction that first takes a transaction-scoped advisory
/// lock, then reads the version under it. The first node migrates; the
/// others wait for its commit, then find the step done. Postgres DDL is
/// transactional, so a failed step leaves nothing behind.
pub(super) fn postgres(pool: &PgPool) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let known = i64::try_from(POSTGRES.len()).unwrap_or(i64::MAX);
        loop {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
            // Checked rather than `CREATE … IF NOT EXISTS`, whose notice would
            // reach the log at every start.
            let versioned: bool =
                sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL").fetch_one(&mut *tx).await?;
            if !versioned {
                let create = "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
                              applied_ms BIGINT NOT NULL)";
                sqlx::Executor::execute(&mut *tx, create).await?;
            }
            let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await?;
            if applied > known {
                return Err(HubError::SchemaTooNew { found: applied, known });
            }
            let step = usize::try_from(applied).unwrap_or(0);
            let Some((name, sql)) = POSTGRES.get(step) else {
                tx.commit().await?;
                return Ok(());
            };
            // A query without arguments goes by the simple query protocol,
            // which runs every statement of the file in turn.
            sqlx::Executor::execute(&mut *tx, *sql).await?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)")
                .bind(applied + 1)
                .bind(*name)
                .bind(crate::now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(migration = name, "database migrated");
        }
    })
}
