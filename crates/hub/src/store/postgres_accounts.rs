//! [`AccountStore`] on Postgres: the `accounts` and `users` tables, user
//! tokens named by `tokens.user_id` (as `sqlite_accounts.rs`). Names are
//! unique without ASCII case through the `lower(name COLLATE "C")` indexes;
//! a refused insert is [`crate::HubError::NameTaken`].

use super::accounts::{AccountInfo, AccountStore, UserInfo};
use super::postgres_tokens::known_account;
use super::{rows, PgStore, StoreResult};
use crate::auth::{generate_secret, hash_secret, IssuedToken, TokenKind};
use crate::now_ms;
use futures_util::future::BoxFuture;

impl AccountStore for PgStore {
    fn create_account(&self, name: &str) -> BoxFuture<'_, StoreResult<AccountInfo>> {
        let name = name.to_owned();
        Box::pin(async move {
            let info = AccountInfo { id: rows::new_id("acc"), name, created_ms: now_ms() };
            sqlx::query("INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3)")
                .bind(&info.id)
                .bind(&info.name)
                .bind(info.created_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| rows::taken(e, format!("an account named {:?}", info.name)))?;
            Ok(info)
        })
    }

    fn list_accounts(&self) -> BoxFuture<'_, StoreResult<Vec<AccountInfo>>> {
        Box::pin(async move {
            let found = sqlx::query(r#"SELECT id, name, created_ms FROM accounts ORDER BY created_ms, id COLLATE "C""#)
                .fetch_all(&self.pool)
                .await?;
            rows::all(&found, rows::account)
        })
    }

    fn find_account(&self, id_or_name: &str) -> BoxFuture<'_, StoreResult<Option<AccountInfo>>> {
        let key = id_or_name.to_owned();
        Box::pin(async move {
            // An id wins over another account's name.
            let found = sqlx::query(
                r#"SELECT id, name, created_ms FROM accounts
                   WHERE id = $1 OR lower(name COLLATE "C") = lower($1 COLLATE "C")
                   ORDER BY id = $1 DESC LIMIT 1"#,
            )
            .bind(&key)
            .fetch_optional(&self.pool)
            .await?;
            found.as_ref().map(rows::account).transpose()
        })
    }

    fn create_user(&self, account_id: &str, name: &str) -> BoxFuture<'_, StoreResult<(UserInfo, IssuedToken)>> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        Box::pin(async move {
            let info = UserInfo { id: rows::new_id("usr"), account_id, name, created_ms: now_ms() };
            let secret = generate_secret();
            let token_id = rows::new_id("tok");
            let mut tx = self.pool.begin().await?;
            known_account(&mut tx, &info.account_id).await?;
            sqlx::query("INSERT INTO users (id, account_id, name, created_ms) VALUES ($1, $2, $3, $4)")
                .bind(&info.id)
                .bind(&info.account_id)
                .bind(&info.name)
                .bind(info.created_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| rows::taken(e, format!("a user named {:?} in this account", info.name)))?;
            sqlx::query(
                "INSERT INTO tokens (id, account_id, kind, name, hash, user_id, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                r#"SELECT id, account_id, name, created_ms FROM users
                   WHERE removed_ms IS NULL AND ($1::text IS NULL OR account_id = $1) ORDER BY created_ms, id COLLATE "C""#,
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
            let mut tx = self.pool.begin().await?;
            let removed = sqlx::query("UPDATE users SET removed_ms = $1 WHERE id = $2 AND removed_ms IS NULL")
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE tokens SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms IS NULL")
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(removed == 1)
        })
    }
}
