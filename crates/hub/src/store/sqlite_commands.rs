//! [`CommandStore`] on SQLite: the `commands` table (schema in `sqlite.rs`).
//! Every state change is one conditional `UPDATE`, so two tasks racing on a
//! command (a worker sending it, a caller giving up on it) cannot both win.

use super::commands::{CommandRecord, CommandState, CommandStore, Finish, Inserted, NewCommand, QueueDepth};
use super::rows::{self, COMMAND_COLUMNS as COLUMNS};
use super::{SqliteStore, StoreResult};
use futures_util::future::BoxFuture;

fn states(from: &[CommandState]) -> String {
    from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
}

impl SqliteStore {
    async fn command_by_id(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM commands WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::command).transpose()
    }
}

impl CommandStore for SqliteStore {
    fn insert_command(&self, command: &NewCommand) -> BoxFuture<'_, StoreResult<Inserted>> {
        let command = command.clone();
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO commands (id, account_id, machine_id, project_id, name, args, summary, target, state,
                   created_ms, expires_ms, deferred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
                 ON CONFLICT(id) DO NOTHING",
            )
            .bind(&command.id)
            .bind(&command.account_id)
            .bind(&command.machine_id)
            .bind(&command.project_id)
            .bind(&command.name)
            .bind(command.args.to_string())
            .bind(&command.summary)
            .bind(&command.target)
            .bind(command.created_ms)
            .bind(command.expires_ms)
            .bind(i64::from(command.deferred))
            .execute(&self.pool)
            .await?;
            let stored = self.command_by_id(&command.id).await?.ok_or(sqlx::Error::RowNotFound)?;
            Ok(if done.rows_affected() == 1 { Inserted::New(stored) } else { Inserted::Existing(stored) })
        })
    }

    fn get_command(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<CommandRecord>>> {
        let id = id.to_owned();
        Box::pin(async move { self.command_by_id(&id).await })
    }

    fn machine_backlog(&self, machine_id: &str, limit: u32) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>> {
        let machine_id = machine_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM commands WHERE machine_id = ? AND state IN ('queued', 'sent')
                 ORDER BY seq LIMIT ?"
            ))
            .bind(&machine_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::command)
        })
    }

    fn mark_sent(&self, id: &str, now_ms: i64) -> BoxFuture<'_, StoreResult<bool>> {
        let id = id.to_owned();
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE commands SET state = 'sent', attempts = attempts + 1, sent_ms = ?
                 WHERE id = ? AND state IN ('queued', 'sent')",
            )
            .bind(now_ms)
            .bind(&id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn mark_unsent(&self, id: &str) -> BoxFuture<'_, StoreResult<()>> {
        let id = id.to_owned();
        Box::pin(async move {
            sqlx::query(
                "UPDATE commands SET state = 'queued', attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'sent'",
            )
            .bind(&id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn finish_command<'a>(
        &'a self,
        id: &'a str,
        from: &'a [CommandState],
        finish: &'a Finish,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<CommandRecord>>> {
        Box::pin(async move {
            let (result, error) = rows::outcome(finish);
            let done = sqlx::query(&format!(
                "UPDATE commands SET state = ?, finished_ms = ?, result = ?, error = ? WHERE id = ? AND state IN ({})",
                states(from)
            ))
            .bind(finish.state.as_str())
            .bind(now_ms)
            .bind(result)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            self.command_by_id(id).await
        })
    }

    fn pending_commands(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>> {
        let account_id = account_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM commands WHERE account_id = ? AND state IN ('queued', 'sent') ORDER BY seq"
            ))
            .bind(&account_id)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::command)
        })
    }

    fn queue_depth(&self) -> BoxFuture<'_, StoreResult<QueueDepth>> {
        Box::pin(async move {
            let (queued, sent): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(state = 'sent'), 0)
                 FROM commands WHERE state IN ('queued', 'sent')",
            )
            .fetch_one(&self.pool)
            .await?;
            Ok(QueueDepth { queued: queued.max(0) as u64, sent: sent.max(0) as u64 })
        })
    }

    fn expire_commands(&self, now_ms: i64) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>> {
        Box::pin(async move {
            let error = rows::expired_error();
            let found = sqlx::query(&format!(
                "UPDATE commands SET state = 'expired', finished_ms = ?, error = ?
                 WHERE state = 'queued' AND expires_ms <= ? RETURNING {COLUMNS}"
            ))
            .bind(now_ms)
            .bind(error)
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::command)
        })
    }

    fn prune_commands(&self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM commands WHERE state NOT IN ('queued', 'sent') AND finished_ms IS NOT NULL
                 AND finished_ms < ?",
            )
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
