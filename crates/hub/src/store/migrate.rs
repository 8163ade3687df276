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
];

/// Brings a SQLite database up to this build's schema.
pub(super) async fn sqlite(pool: &SqlitePool) -> StoreResult<()> {
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(pool).await?;
    let known = i64::try_from(SQLITE.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(HubError::SchemaTooNew { found: applied, known });
    }
    for (number, (name, sql)) in SQLITE.iter().enumerate().skip(usize::try_from(applied).unwrap_or(0)) {
        // One script: the migration and its number commit together or not at all
        // (PRAGMA takes no bound parameters; the value is our own counter).
        let script = format!("BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {};\nCOMMIT;", number + 1);
        // raw_sql runs the whole script on one connection. On an error the
        // open fails and the pool is dropped, so the unfinished transaction
        // rolls back with its connection.
        sqlx::raw_sql(&script).execute(pool).await?;
        tracing::info!(migration = name, "database migrated");
    }
    Ok(())
}
