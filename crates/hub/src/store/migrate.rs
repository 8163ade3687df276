//! Schema migrations: numbered SQL files in `crates/hub/migrations/<engine>/`,
//! compiled in, applied in order, each in its own transaction. SQLite keeps
//! the count applied in `PRAGMA user_version`. A hub never runs against a
//! database newer than itself: that is an error with a hint, not a guess.

use super::StoreResult;
use crate::HubError;
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
pub(super) async fn sqlite(pool: &SqlitePool) -> StoreResult<()> {
    let known = i64::try_from(SQLITE.len()).unwrap_or(i64::MAX);
    let mut conn = pool.acquire().await?;
    loop {
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let applied: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await?;
        if applied >= known {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            if applied > known {
                return Err(HubError::SchemaTooNew { found: applied, known });
            }
            return Ok(());
        }
        let step = usize::try_from(applied).unwrap_or(0);
        let Some((name, sql)) = SQLITE.get(step) else { return Err(HubError::SchemaTooNew { found: applied, known }) };
        // The migration and its number commit together or not at all (PRAGMA
        // takes no bound parameters; the value is our own counter). On an
        // error the open fails and the pool is dropped with this connection,
        // which rolls the transaction back.
        let script = format!("{sql}\nPRAGMA user_version = {};\nCOMMIT;", step + 1);
        sqlx::raw_sql(&script).execute(&mut *conn).await?;
        tracing::info!(migration = name, "database migrated");
    }
}
