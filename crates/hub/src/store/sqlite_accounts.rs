//! [`AccountStore`] on SQLite: the `accounts` and `users` tables (migration
//! 0004), user tokens named by `tokens.user_id`.

use super::accounts::{AccountInfo, AccountStore, UserInfo};
use super::rows::{self, new_id, taken};
use super::{SqliteStore, StoreResult};
use crate::auth::{generate_secret, hash_secret, IssuedToken, TokenKind};
use crate::{now_ms, HubError};
use futures_util::future::BoxFuture;

impl AccountStore for SqliteStore {
    fn create_account(&self, name: &str) -> BoxFuture<'_, StoreResult<AccountInfo>> {
        let name = name.to_owned();
        Box::pin(async move {
            let info = AccountInfo { id: new_id("acc"), name, created_ms: now_ms() };
            sqlx::query("INSERT INTO accounts (id, name, created_ms) VALUES (?, ?, ?)")
                .bind(&info.id)
                .bind(&info.name)
                .bind(info.created_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| taken(e, format!("an account named {:?}", info.name)))?;
            Ok(info)
        })
    }

    fn list_accounts(&self) -> BoxFuture<'_, StoreResult<Vec<AccountInfo>>> {
        Box::pin(async move {
            let found = sqlx::query("SELECT id, name, created_ms FROM accounts ORDER BY created_ms, id")
                .fetch_all(&self.pool)
                .await?;
            rows::all(&found, rows::account)
        })
    }

    fn find_account(&self, id_or_name: &str) -> BoxFuture<'_, StoreResult<Option<AccountInfo>>> {
        let key = id_or_name.to_owned();
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id, name, created_ms FROM accounts WHERE id = ?1 OR name = ?1 COLLATE NOCASE
                 ORDER BY id = ?1 DESC LIMIT 1",
            )
            .bind(&key)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(rows::account).transpose()
        })
    }

    fn create_user(&self, account_id: &str, name: &str) -> BoxFuture<'_, StoreResult<(UserInfo, IssuedToken)>> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        Box::pin(async move {
            let info = UserInfo { id: new_id("usr"), account_id, name, created_ms: now_ms() };
            let secret = generate_secret();
            let token_id = new_id("tok");
            let mut tx = super::sqlite::begin_write(&self.pool).await?;
            let known: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = ?")
                .bind(&info.account_id)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(HubError::NoSuchAccount(info.account_id));
            }
            sqlx::query("INSERT INTO users (id, account_id, name, created_ms) VALUES (?, ?, ?, ?)")
                .bind(&info.id)
                .bind(&info.account_id)
                .bind(&info.name)
                .bind(info.created_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| taken(e, format!("a user named {:?} in this account", info.name)))?;
            sqlx::query(
                "INSERT INTO tokens (id, account_id, kind, name, hash, user_id, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&token_id)
            .bind(&info.account_id)
            .bind(TokenKind::User.as_str())
            .bind(&info.name)
            .bind(hash_secret(secret.expose()))
            .bind(&info.id)
            .bind(info.created_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((info, IssuedToken { id: token_id, secret }))
        })
    }

    fn list_users(&self, account_id: Option<&str>) -> BoxFuture<'_, StoreResult<Vec<UserInfo>>> {
        let account_id = account_id.map(str::to_owned);
        Box::pin(async move {
            let found = sqlx::query(
                "SELECT id, account_id, name, created_ms FROM users
                 WHERE removed_ms IS NULL AND (?1 IS NULL OR account_id = ?1) ORDER BY created_ms, id",
            )
            .bind(&account_id)
            .fetch_all(&self.pool)
            .await?;
            rows::all(&found, rows::user)
        })
    }

    fn remove_user(&self, user_id: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let user_id = user_id.to_owned();
        Box::pin(async move {
            let now = now_ms();
            let mut tx = super::sqlite::begin_write(&self.pool).await?;
            let removed = sqlx::query("UPDATE users SET removed_ms = ? WHERE id = ? AND removed_ms IS NULL")
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL")
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(removed == 1)
        })
    }
}
