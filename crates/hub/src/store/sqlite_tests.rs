//! Tests of what only the SQLite store has (its file, its migration lock);
//! what every store does is tested on each engine in `store_tests.rs`.

use super::*;
use crate::auth::TokenKind;
use crate::store::TokenStore as _;

/// Regression: a hub starting and `token create` beside it on a new data
/// folder both ran migration 0003 ("duplicate column name: token_id").
#[tokio::test]
async fn two_stores_opening_a_new_data_folder_at_once_migrate_it_once() {
    for _ in 0..5 {
        let dir = tempfile::TempDir::new().unwrap();
        let (a, b, c) =
            tokio::join!(SqliteStore::open(dir.path()), SqliteStore::open(dir.path()), SqliteStore::open(dir.path()));
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&a.pool).await.unwrap();
        assert_eq!(version, 4);
        a.create_token(DEFAULT_ACCOUNT, TokenKind::User, "works").await.unwrap();
        for store in [a, b, c] {
            store.close().await;
        }
    }
}

/// A machine token, bound to `machine` at its first use.
async fn principal(store: &SqliteStore, machine: &str) -> Principal {
    let token = store.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, machine).await.unwrap();
    assert!(store.bind_token(&token.id, machine).await.unwrap());
    store.authenticate(token.secret.expose(), TokenKind::Machine).await.unwrap().unwrap()
}

/// Regression: `hub.db` was 0644.
#[cfg(unix)]
#[tokio::test]
async fn the_database_is_private_to_the_hubs_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("hub");
    let store = SqliteStore::open(&data).await.unwrap();
    principal(&store, "m").await;
    let mode = |name: &str| std::fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("hub.db"), 0o600);
    assert_eq!(mode("hub.db-wal"), 0o600, "SQLite gives the WAL the database's mode");
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    store.close().await;
}
