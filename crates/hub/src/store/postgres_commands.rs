//! [`CommandStore`] on Postgres: the `commands` table (as
//! `sqlite_commands.rs`). Every state change is one conditional `UPDATE`,
//! so two tasks racing on a command (on one hub node or two) cannot both
//! win; an insert of an id that exists finds the row instead.

use super::commands::{CommandRecord, CommandState, CommandStore, Finish, Inserted, NewCommand, QueueDepth};
use super::rows::{self, COMMAND_COLUMNS};
use super::{PgStore, StoreResult};
use futures_util::future::BoxFuture;

impl PgStore {
    async fn command_by_id(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
        let found = sqlx::query(&format!("SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        found.as_ref().map(rows::command).transpose()
    }
}

impl CommandStore for PgStore {
    fn insert_command(&self, command: &NewCommand) -> BoxFuture<'_, StoreResult<Inserted>> {
        let command = command.clone();
        Box::pin(async move {
            // Two nodes inserting one id at once: the second insert waits for
            // the first to commit, then does nothing, and its SELECT (a new
            // snapshot) finds the first's row.
            let done = sqlx::query(
                "INSERT INTO commands (id, account_id, machine_id, project_id, name, args, summary, target, state,
                   created_ms, expires_ms, deferred) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $11)
                 ON CONFLICT (id) DO NOTHING",
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
            .bind(command.deferred)
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
                "SELECT {COMMAND_COLUMNS} FROM commands WHERE machine_id = $1 AND state IN ('queued', 'sent')
                 ORDER BY seq LIMIT $2"
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
                "UPDATE commands SET state = 'sent', attempts = attempts + 1, sent_ms = $1
                 WHERE id = $2 AND state IN ('queued', 'sent')",
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
                "UPDATE commands SET state = 'queued', attempts = GREATEST(attempts - 1, 0)
                 WHERE id = $1 AND state = 'sent'",
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
            let from: Vec<&str> = from.iter().map(|state| state.as_str()).collect();
            // RETURNING: the row as this update left it, even if another
            // update follows at once.
            let found = sqlx::query(&format!(
                "UPDATE commands SET state = $1, finished_ms = $2, result = $3, error = $4
                 WHERE id = $5 AND state = ANY($6) RETURNING {COMMAND_COLUMNS}"
            ))
            .bind(finish.state.as_str())
            .bind(now_ms)
            .bind(result)
            .bind(error)
            .bind(id)
            .bind(&from)
            .fetch_optional(&self.pool)
            .await?;
            found.as_ref().map(rows::command).transpose()
        })
    }

    fn pending_commands(&self, account_id: &str) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>> {
        let account_id = account_id.to_owned();
        Box::pin(async move {
            let found = sqlx::query(&format!(
                "SELECT {COMMAND_COLUMNS} FROM commands WHERE account_id = $1 AND state IN ('queued', 'sent')
                 ORDER BY seq"
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
                "SELECT COUNT(*) FILTER (WHERE state = 'queued'), COUNT(*) FILTER (WHERE state = 'sent')
                 FROM commands WHERE state IN ('queued', 'sent')",
            )
            .fetch_one(&self.pool)
            .await?;
            Ok(QueueDepth { queued: u64::try_from(queued).unwrap_or(0), sent: u64::try_from(sent).unwrap_or(0) })
        })
    }

    fn expire_commands(&self, now_ms: i64) -> BoxFuture<'_, StoreResult<Vec<CommandRecord>>> {
        Box::pin(async move {
            let found = sqlx::query(&format!(
                "UPDATE commands SET state = 'expired', finished_ms = $1, error = $2
                 WHERE state = 'queued' AND expires_ms <= $1 RETURNING {COMMAND_COLUMNS}"
            ))
            .bind(now_ms)
            .bind(rows::expired_error())
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::command)
        })
    }

    fn prune_commands(&self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM commands WHERE state NOT IN ('queued', 'sent') AND finished_ms IS NOT NULL
                 AND finished_ms < $1",
            )
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
