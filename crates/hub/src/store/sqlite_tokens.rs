//! [`TokenStore`] on SQLite: token hashes, the binding of a machine token to
//! the one machine it registered, explicit re-pairing, and revocation.

use super::tokens::{RevokedToken, TokenStore};
use super::{rows, Principal, SqliteStore, StoreResult, TokenInfo};
use crate::auth::{generate_secret, hash_secret, IssuedToken, TokenKind};
use crate::now_ms;
use crate::HubError;
use futures_util::future::BoxFuture;
use sqlx::Row as _;

/// `Err(NoSuchAccount)` unless the account exists (inside the write).
async fn known_account(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, account_id: &str) -> StoreResult<()> {
    let known: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE id = ?").bind(account_id).fetch_optional(&mut **tx).await?;
    match known {
        Some(_) => Ok(()),
        None => Err(HubError::NoSuchAccount(account_id.to_owned())),
    }
}

impl TokenStore for SqliteStore {
    fn create_token<'a>(
        &'a self,
        account_id: &'a str,
        kind: TokenKind,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<IssuedToken>> {
        Box::pin(async move {
            let secret = generate_secret();
            let id = rows::new_id("tok");
            let mut tx = super::sqlite::begin_write(&self.pool).await?;
            known_account(&mut tx, account_id).await?;
            sqlx::query("INSERT INTO tokens (id, account_id, kind, name, hash, created_ms) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(&id)
                .bind(account_id)
                .bind(kind.as_str())
                .bind(name)
                .bind(hash_secret(secret.expose()))
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(IssuedToken { id, secret })
        })
    }

    fn create_machine_token<'a>(
        &'a self,
        account_id: &'a str,
        name: &'a str,
        machine_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<IssuedToken>> {
        Box::pin(async move {
            let secret = generate_secret();
            let id = rows::new_id("tok");
            let now = now_ms();
            let mut tx = super::sqlite::begin_write(&self.pool).await?;
            known_account(&mut tx, account_id).await?;
            let owner: Option<String> = sqlx::query_scalar("SELECT account_id FROM machines WHERE id = ?")
                .bind(machine_id)
                .fetch_optional(&mut *tx)
                .await?;
            if owner.is_some_and(|owner| owner != account_id) {
                return Err(HubError::MachineTaken(machine_id.to_owned()));
            }
            // Re-pairing: the machine's old tokens stop working in the same transaction.
            sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE machine_id = ? AND revoked_ms IS NULL")
                .bind(now)
                .bind(machine_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO tokens (id, account_id, kind, name, hash, machine_id, created_ms)
                 VALUES (?, ?, 'machine', ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(account_id)
            .bind(name)
            .bind(hash_secret(secret.expose()))
            .bind(machine_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE machines SET token_id = ? WHERE id = ?")
                .bind(&id)
                .bind(machine_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(IssuedToken { id, secret })
        })
    }

    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenInfo>>> {
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT id, account_id, user_id, name, kind, machine_id, created_ms, last_used_ms, revoked_ms
                 FROM tokens ORDER BY created_ms",
            )
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::token)
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
                token_id: row.try_get("id")?,
                account_id: row.try_get("account_id")?,
                machine_id: row.try_get("machine_id")?,
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

    fn token_live(&self, id: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let id = id.to_owned();
        Box::pin(async move {
            let live: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tokens WHERE id = ? AND revoked_ms IS NULL")
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(live.is_some())
        })
    }

    fn bind_token(&self, token_id: &str, machine_id: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let (token_id, machine_id) = (token_id.to_owned(), machine_id.to_owned());
        Box::pin(async move {
            // One statement: the token must be unbound and live, and the machine
            // id must be new to the hub. A machine that exists belongs to the
            // token that registered it, and changes hands only by a re-pair.
            let bound = sqlx::query(
                "UPDATE tokens SET machine_id = ? WHERE id = ? AND machine_id IS NULL AND revoked_ms IS NULL
                 AND NOT EXISTS (SELECT 1 FROM machines WHERE id = ?)",
            )
            .bind(&machine_id)
            .bind(&token_id)
            .bind(&machine_id)
            .execute(&self.pool)
            .await;
            match bound {
                Ok(done) => Ok(done.rows_affected() == 1),
                // Another live token bound itself to this id first (the unique index).
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn revoked_since(&self, since_ms: i64) -> BoxFuture<'_, StoreResult<Vec<RevokedToken>>> {
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT id, kind, machine_id, revoked_ms FROM tokens WHERE revoked_ms IS NOT NULL AND revoked_ms >= ?",
            )
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::revoked)
        })
    }
}
