//! Tests of what only the Postgres store has (its migration lock, its
//! connection handling, its error codes); what every store does is tested on
//! each engine in `store_tests.rs`.

use super::*;
use crate::auth::TokenKind;
use crate::store::TokenStore as _;

fn server() -> Option<&'static specbridge_engines::Postgres> {
    specbridge_engines::Postgres::shared()
}

/// Regression guard: two hub nodes started at once against one new
/// database must both come up, with the schema applied once.
#[tokio::test]
async fn two_nodes_opening_a_new_database_at_once_migrate_it_once() {
    let Some(server) = server() else { return };
    for _ in 0..3 {
        let url = server.fresh_database();
        let (a, b, c) = tokio::join!(PgStore::open(&url), PgStore::open(&url), PgStore::open(&url));
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        let applied: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
                .fetch_all(&a.pool)
                .await
                .unwrap();
        assert_eq!(applied, [(1, "0001_initial".to_owned())]);
        let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&a.pool).await.unwrap();
        assert_eq!(accounts, 1, "one default account");
        b.create_token(DEFAULT_ACCOUNT, TokenKind::User, "works").await.unwrap();
        for store in [a, b, c] {
            store.close().await;
        }
    }
}

#[tokio::test]
async fn a_database_from_a_newer_hub_is_refused() {
    let Some(server) = server() else { return };
    let url = server.fresh_database();
    let store = PgStore::open(&url).await.unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (99, 'future', 0)")
        .execute(&store.pool)
        .await
        .unwrap();
    store.close().await;
    let refused = PgStore::open(&url).await;
    assert!(matches!(refused, Err(HubError::SchemaTooNew { found: 99, known: 1 })), "{refused:?}");
}

/// `/healthz` degrades on a full Postgres disk as on a full SQLite one.
#[tokio::test]
async fn disk_full_is_no_space_and_other_errors_are_not() {
    let Some(server) = server() else { return };
    let store = PgStore::open(&server.fresh_database()).await.unwrap();
    let raise =
        |code: &str| format!("DO $$ BEGIN RAISE EXCEPTION 'raised for a test' USING ERRCODE = '{code}'; END $$");
    let full = sqlx::Executor::execute(&store.pool, raise("53100").as_str()).await.unwrap_err();
    assert!(HubError::from(full).is_no_space());
    // 08461 would read as SQLite's SQLITE_FULL (13) in its low byte.
    for code in ["23505", "08461", "XX000"] {
        let other = sqlx::Executor::execute(&store.pool, raise(code).as_str()).await.unwrap_err();
        assert!(!HubError::from(other).is_no_space(), "{code}");
    }
    store.close().await;
}

#[tokio::test]
async fn the_password_never_shows_and_a_wrong_database_fails_at_once() {
    let Some(server) = server() else { return };
    let url = server.url("no_such_database").replace("postgres@", "postgres:hunter2@");
    let started = std::time::Instant::now();
    let error = PgStore::open(&url).await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "not retried: {error}");
    assert!(!format!("{error} {error:?}").contains("hunter2"), "{error:?}");
    let store = PgStore::open(&server.fresh_database()).await.unwrap();
    assert!(!format!("{store:?}").contains("postgres@"), "{store:?}");
    store.close().await;
}
