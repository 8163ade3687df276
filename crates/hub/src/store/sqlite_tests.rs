//! Tests of the SQLite store (kept apart from `sqlite.rs` for its length).

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

fn machine(id: &str) -> MachineInfo {
    MachineInfo { id: id.into(), name: id.into(), os: "linux".into(), arch: "x86_64".into(), app_version: "t".into() }
}

fn project(id: &str) -> ProjectInfo {
    ProjectInfo { id: id.into(), name: id.into(), layout: specbridge_protocol::Layout::Generic, read_only: false }
}

/// A machine token, bound to `machine` at its first use.
async fn principal(store: &SqliteStore, machine: &str) -> Principal {
    let token = store.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, machine).await.unwrap();
    assert!(store.bind_token(&token.id, machine).await.unwrap());
    store.authenticate(token.secret.expose(), TokenKind::Machine).await.unwrap().unwrap()
}

/// Regression: an unbound machine token bound itself to whatever machine
/// id its hello claimed, even one that belonged to another token.
#[tokio::test]
async fn a_machine_id_belongs_to_the_token_that_registered_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let owner = principal(&store, "m1").await;
    assert_eq!(owner.machine_id.as_deref(), Some("m1"));
    store.machine_connected(&owner, &machine("m1"), &[], 1).await.unwrap();
    let thief = store.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, "ci").await.unwrap();
    assert!(!store.bind_token(&thief.id, "m1").await.unwrap(), "a known machine id is not for the taking");
    let thief = store.authenticate(thief.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
    let taken = store.machine_connected(&thief, &machine("m1"), &[], 2).await;
    assert!(matches!(taken, Err(crate::HubError::MachineTaken(_))), "{taken:?}");
    assert!(!store.bind_token("tok_missing", "m9").await.unwrap());
    // Re-pairing is explicit: a new token for the machine, the old one revoked.
    let repaired = store.create_machine_token(DEFAULT_ACCOUNT, "m1 again", "m1").await.unwrap();
    assert!(!store.token_live(&owner.token_id).await.unwrap());
    let new = store.authenticate(repaired.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
    assert_eq!(new.machine_id.as_deref(), Some("m1"));
    store.machine_connected(&new, &machine("m1"), &[], 3).await.unwrap();
    store.close().await;
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

/// Regression: a hello could take a name another machine of the account had.
#[tokio::test]
async fn a_machine_name_is_unique_in_its_account() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let (a, b) = (principal(&store, "a").await, principal(&store, "b").await);
    let named = |id: &str, name: &str| MachineInfo { name: name.into(), ..machine(id) };
    assert_eq!(store.machine_connected(&a, &named("a", "Work MacBook"), &[], 1).await.unwrap().name, "Work MacBook");
    let second = store.machine_connected(&b, &named("b", "work macbook"), &[], 1).await.unwrap();
    assert_eq!(second.name, "work macbook (2)", "a new machine gets a free name");
    store.machine_connected(&b, &named("b", "Build box"), &[], 2).await.unwrap();
    let renamed = store.machine_connected(&b, &named("b", "Work MacBook"), &[], 3).await.unwrap();
    assert_eq!(renamed.name, "Build box", "a known machine keeps its own name");
    let found = store.find_machines(DEFAULT_ACCOUNT, "WORK MACBOOK").await.unwrap();
    assert_eq!(found.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["a"]);
    store.close().await;
}

/// Regression: a transaction that read before it wrote (a hello checks
/// the machine's owner first) failed at once with "database is locked"
/// whenever another connection committed in between.
#[tokio::test]
async fn concurrent_hellos_and_uploads_never_find_the_database_locked() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (store, id) = (store.clone(), format!("m{n}"));
        let owner = principal(&store, &id).await;
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                store.machine_connected(&owner, &machine(&id), &[project("p")], round).await?;
                let row = FileRow { path: format!("{round}.md"), hash: "h".into(), size: 1, mtime_ms: 1 };
                let change = FileChange::Upsert { project: "p".into(), row, content: b"x".to_vec() };
                store.apply_changes(&id, vec![change], u64::try_from(round).unwrap_or(0)).await?;
            }
            StoreResult::Ok(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    store.close().await;
}

#[tokio::test]
async fn files_list_in_byte_order_and_sequence_numbers_only_rise() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let owner = principal(&store, "m").await;
    assert_eq!(store.machine_connected(&owner, &machine("m"), &[project("p")], 1).await.unwrap().last_seq, 0);
    let paths = ["é.md", "a/b.md", "B.md", "a-b.md", "a.md", "_x.md"];
    let changes = paths
        .iter()
        .map(|path| FileChange::Upsert {
            project: "p".into(),
            row: FileRow { path: (*path).into(), hash: "h".into(), size: 1, mtime_ms: 1 },
            content: b"x".to_vec(),
        })
        .collect();
    store.apply_changes("m", changes, 7).await.unwrap();
    store.apply_changes("m", Vec::new(), 3).await.unwrap();
    let listed: Vec<String> = store.list_files("m", "p").await.unwrap().into_iter().map(|f| f.path).collect();
    let mut expected: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    expected.sort(); // Rust's `String` order is bytewise, as `project_digest` wants
    assert_eq!(listed, expected);
    assert_eq!(store.machine_connected(&owner, &machine("m"), &[], 2).await.unwrap().last_seq, 7);
    assert!(store.list_files("m", "p").await.unwrap().is_empty(), "an unlisted project loses its files");
    store.close().await;
}
