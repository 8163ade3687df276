//! Schema migrations: numbered SQL files in `crates/hub/migrations/<engine>/`,
//! compiled in, applied in order, each in its own transaction. SQLite keeps
//! the count applied in `PRAGMA user_version`. A hub never runs against a
//! database newer than itself: that is an error with a hint, not a guess.

use super::StoreResult;
use crate::HubError;
use futures_util::future::BoxFuture;
use sqlx::SqlitePool;

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
