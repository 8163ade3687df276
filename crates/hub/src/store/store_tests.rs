//! What every [`Store`] must do, run on each engine: each case is an
//! `async fn(Arc<dyn Store>)`, and [`on_every_store!`] makes a test module
//! of it with `on_sqlite` and `on_postgres` (skipped without Postgres, see
//! `specbridge_engines::require`).

use super::*;
use crate::auth::TokenKind;
use crate::HubError;
use std::future::Future;

/// `mod NAME { on_sqlite, on_postgres }` for each case `NAME`.
macro_rules! on_every_store {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                super::on_sqlite(super::$case).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                super::on_postgres(super::$case).await;
            }
        }
    )+};
}

on_every_store!(
    a_machine_id_belongs_to_the_token_that_registered_it,
    a_machine_name_is_unique_in_its_account,
    concurrent_hellos_and_uploads_never_fail,
    files_list_in_byte_order_and_sequence_numbers_only_rise,
    projects_files_and_presence,
    account_and_user_names_are_unique_without_case,
    tokens_are_listed_revoked_and_reported,
    the_command_queue_keeps_order_and_fate,
    one_command_id_is_inserted_once_however_many_try,
);

async fn on_sqlite<F: Future<Output = ()>>(case: impl FnOnce(Arc<dyn Store>) -> F) {
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    case(store.clone()).await;
    store.close().await;
}

async fn on_postgres<F: Future<Output = ()>>(case: impl FnOnce(Arc<dyn Store>) -> F) {
    let Some(server) = specbridge_engines::Postgres::shared() else { return };
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&server.fresh_database()).await.unwrap());
    case(store.clone()).await;
    store.close().await;
}

fn machine(id: &str) -> MachineInfo {
    MachineInfo { id: id.into(), name: id.into(), os: "linux".into(), arch: "x86_64".into(), app_version: "t".into() }
}

fn project(id: &str) -> ProjectInfo {
    ProjectInfo { id: id.into(), name: id.into(), layout: Layout::Generic, read_only: false }
}

fn upsert(project: &str, path: &str, content: &[u8]) -> FileChange {
    let row = FileRow { path: path.into(), hash: format!("h-{path}"), size: content.len() as i64, mtime_ms: 1 };
    FileChange::Upsert { project: project.into(), row, content: content.to_vec() }
}

/// A machine token, bound to `machine` at its first use.
async fn principal(store: &dyn Store, machine: &str) -> Principal {
    let token = store.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, machine).await.unwrap();
    assert!(store.bind_token(&token.id, machine).await.unwrap());
    store.authenticate(token.secret.expose(), TokenKind::Machine).await.unwrap().unwrap()
}

/// Regression: an unbound machine token bound itself to whatever machine
/// id its hello claimed, even one that belonged to another token.
async fn a_machine_id_belongs_to_the_token_that_registered_it(store: Arc<dyn Store>) {
    let owner = principal(&*store, "m1").await;
    assert_eq!(owner.machine_id.as_deref(), Some("m1"));
    store.machine_connected(&owner, &machine("m1"), &[], 1).await.unwrap();
    assert_eq!(store.machine_account("m1").await.unwrap().as_deref(), Some(DEFAULT_ACCOUNT));
    assert_eq!(store.machine_account("m9").await.unwrap(), None);
    let thief = store.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, "ci").await.unwrap();
    assert!(!store.bind_token(&thief.id, "m1").await.unwrap(), "a known machine id is not for the taking");
    let thief = store.authenticate(thief.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
    let taken = store.machine_connected(&thief, &machine("m1"), &[], 2).await;
    assert!(matches!(taken, Err(HubError::MachineTaken(_))), "{taken:?}");
    assert!(!store.bind_token("tok_missing", "m9").await.unwrap());
    // Re-pairing is explicit: a new token for the machine, the old one revoked.
    let repaired = store.create_machine_token(DEFAULT_ACCOUNT, "m1 again", "m1").await.unwrap();
    assert!(!store.token_live(&owner.token_id).await.unwrap());
    let new = store.authenticate(repaired.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
    assert_eq!(new.machine_id.as_deref(), Some("m1"));
    store.machine_connected(&new, &machine("m1"), &[], 3).await.unwrap();
    // Never into another account.
    let other = store.create_account("other").await.unwrap();
    let moved = store.create_machine_token(&other.id, "mine now", "m1").await;
    assert!(matches!(moved, Err(HubError::MachineTaken(_))), "{moved:?}");
    let unknown = store.create_machine_token("acc_nope", "x", "m2").await;
    assert!(matches!(unknown, Err(HubError::NoSuchAccount(_))), "{unknown:?}");
}

/// Regression: a hello could take a name another machine of the account had.
async fn a_machine_name_is_unique_in_its_account(store: Arc<dyn Store>) {
    let (a, b) = (principal(&*store, "a").await, principal(&*store, "b").await);
    let named = |id: &str, name: &str| MachineInfo { name: name.into(), ..machine(id) };
    assert_eq!(store.machine_connected(&a, &named("a", "Work MacBook"), &[], 1).await.unwrap().name, "Work MacBook");
    let second = store.machine_connected(&b, &named("b", "work macbook"), &[], 1).await.unwrap();
    assert_eq!(second.name, "work macbook (2)", "a new machine gets a free name");
    store.machine_connected(&b, &named("b", "Build box"), &[], 2).await.unwrap();
    let renamed = store.machine_connected(&b, &named("b", "Work MacBook"), &[], 3).await.unwrap();
    assert_eq!(renamed.name, "Build box", "a known machine keeps its own name");
    let found = store.find_machines(DEFAULT_ACCOUNT, "WORK MACBOOK").await.unwrap();
    assert_eq!(found.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(store.find_machines(DEFAULT_ACCOUNT, "b").await.unwrap().len(), 1, "by id");
    // Case is ASCII case, as SQLite's NOCASE has it, on every engine.
    let (c, d) = (principal(&*store, "c").await, principal(&*store, "d").await);
    assert_eq!(store.machine_connected(&c, &named("c", "Été"), &[], 4).await.unwrap().name, "Été");
    assert_eq!(store.machine_connected(&d, &named("d", "été"), &[], 4).await.unwrap().name, "été");
    assert_eq!(store.find_machines(DEFAULT_ACCOUNT, "éTÉ").await.unwrap().len(), 0);
    // Another account may use any name.
    let other = store.create_account("other").await.unwrap();
    let token = store.create_token(&other.id, TokenKind::Machine, "x").await.unwrap();
    assert!(store.bind_token(&token.id, "x").await.unwrap());
    let x = store.authenticate(token.secret.expose(), TokenKind::Machine).await.unwrap().unwrap();
    assert_eq!(store.machine_connected(&x, &named("x", "Work MacBook"), &[], 5).await.unwrap().name, "Work MacBook");
    assert!(store.find_machines(DEFAULT_ACCOUNT, "x").await.unwrap().is_empty(), "not across accounts");
}

/// Regression (SQLite): a transaction that read before it wrote (a hello
/// checks the machine's owner first) failed at once with "database is
/// locked" whenever another connection committed in between. On Postgres,
/// the same load must neither deadlock nor trip over a unique index.
async fn concurrent_hellos_and_uploads_never_fail(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (store, id) = (store.clone(), format!("m{n}"));
        let owner = principal(&*store, &id).await;
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                // All ask for one name: each gets its own, one at a time.
                let info = MachineInfo { name: "laptop".into(), ..machine(&id) };
                store.machine_connected(&owner, &info, &[project("p")], round).await?;
                let change = upsert("p", &format!("{round}.md"), b"x");
                store.apply_changes(&id, vec![change], u64::try_from(round).unwrap_or(0)).await?;
            }
            StoreResult::Ok(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut names: Vec<String> =
        store.list_machines(DEFAULT_ACCOUNT).await.unwrap().into_iter().map(|m| m.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8, "{names:?}");
}

async fn files_list_in_byte_order_and_sequence_numbers_only_rise(store: Arc<dyn Store>) {
    let owner = principal(&*store, "m").await;
    assert_eq!(store.machine_connected(&owner, &machine("m"), &[project("p")], 1).await.unwrap().last_seq, 0);
    let paths = ["é.md", "a/b.md", "B.md", "a-b.md", "a.md", "_x.md", "Z.md", "a b.md"];
    let changes = paths.iter().map(|path| upsert("p", path, b"x")).collect();
    store.apply_changes("m", changes, 7).await.unwrap();
    store.apply_changes("m", Vec::new(), 3).await.unwrap();
    let listed: Vec<String> = store.list_files("m", "p").await.unwrap().into_iter().map(|f| f.path).collect();
    let mut expected: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    expected.sort(); // Rust's `String` order is bytewise, as `project_digest` wants
    assert_eq!(listed, expected);
    assert_eq!(store.machine_connected(&owner, &machine("m"), &[], 2).await.unwrap().last_seq, 7);
    assert!(store.list_files("m", "p").await.unwrap().is_empty(), "an unlisted project loses its files");
}

async fn projects_files_and_presence(store: Arc<dyn Store>) {
    let (a, b) = (principal(&*store, "a").await, principal(&*store, "b").await);
    let read_only = ProjectInfo { read_only: true, layout: Layout::LeanSpec, ..project("Q") };
    store.machine_connected(&a, &machine("a"), &[project("p"), read_only.clone()], 10).await.unwrap();
    store.machine_connected(&b, &machine("b"), &[], 20).await.unwrap();
    store.apply_changes("a", vec![upsert("p", "one.md", b"1"), upsert("p", "two.md", b"22")], 2).await.unwrap();
    store.apply_changes("a", vec![FileChange::Delete { project: "p".into(), path: "one.md".into() }], 3).await.unwrap();
    let projects = store.list_projects("a").await.unwrap();
    let summary: Vec<_> = projects.iter().map(|p| (p.id.as_str(), p.read_only, p.files, p.layout)).collect();
    assert_eq!(summary, [("Q", true, 0, Layout::LeanSpec), ("p", false, 1, Layout::Generic)], "by id, bytewise");
    let (row, content) = store.get_file("a", "p", "two.md").await.unwrap().unwrap();
    assert_eq!((row.size, row.hash.as_str(), content.as_slice()), (2, "h-two.md", &b"22"[..]));
    assert!(store.get_file("a", "p", "one.md").await.unwrap().is_none());
    assert!(store.get_file("b", "p", "two.md").await.unwrap().is_none(), "files are per machine");
    store.replace_projects("a", &[read_only]).await.unwrap();
    assert!(store.get_file("a", "p", "two.md").await.unwrap().is_none(), "a dropped project loses its files");

    let order = |list: Vec<MachineRow>| list.into_iter().map(|m| (m.id, m.online)).collect::<Vec<_>>();
    let listed = order(store.list_machines(DEFAULT_ACCOUNT).await.unwrap());
    assert_eq!(listed, [("b".to_owned(), true), ("a".to_owned(), true)], "most recently seen first");
    store.set_presence("b", false, 30).await.unwrap();
    let listed = order(store.list_machines(DEFAULT_ACCOUNT).await.unwrap());
    assert_eq!(listed, [("a".to_owned(), true), ("b".to_owned(), false)], "online first");
    store.mark_all_offline().await.unwrap();
    assert!(store.list_machines(DEFAULT_ACCOUNT).await.unwrap().iter().all(|m| !m.online));
    store.probe_write().await.unwrap();
    assert!(store.health().current().is_none());
}

async fn account_and_user_names_are_unique_without_case(store: Arc<dyn Store>) {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let acme = store.create_account("Acme").await.unwrap();
    assert!(acme.id.starts_with("acc_"), "{acme:?}");
    let again = store.create_account("ACME").await;
    assert!(matches!(again, Err(HubError::NameTaken(_))), "{again:?}");
    // Apart by a few ms: "oldest first" is by creation time.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let beta = store.create_account("beta").await.unwrap();
    let names: Vec<String> = store.list_accounts().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["Default", "Acme", "beta"], "oldest first, the default account included");
    assert_eq!(store.find_account("acme").await.unwrap().unwrap().id, acme.id);
    assert_eq!(store.find_account(&beta.id).await.unwrap().unwrap().name, "beta");
    assert!(store.find_account("nobody").await.unwrap().is_none());
    // An id wins over an account that has it as a name.
    let named_like_id = store.create_account(&beta.id.to_uppercase()).await.unwrap();
    assert_eq!(store.find_account(&beta.id).await.unwrap().unwrap().id, beta.id);
    assert_ne!(named_like_id.id, beta.id);

    let (alice, token) = store.create_user(&acme.id, "alice").await.unwrap();
    let taken = store.create_user(&acme.id, "Alice").await;
    assert!(matches!(taken, Err(HubError::NameTaken(_))), "{taken:?}");
    store.create_user(&beta.id, "ALICE").await.unwrap();
    let unknown = store.create_user("acc_nope", "x").await;
    assert!(matches!(unknown, Err(HubError::NoSuchAccount(_))), "{unknown:?}");
    let unknown = store.create_token("acc_nope", TokenKind::User, "x").await;
    assert!(matches!(unknown, Err(HubError::NoSuchAccount(_))), "{unknown:?}");
    let principal = store.authenticate(token.secret.expose(), TokenKind::User).await.unwrap().unwrap();
    assert_eq!(principal.account_id, acme.id);
    assert_eq!(store.list_users(Some(&acme.id)).await.unwrap(), std::slice::from_ref(&alice));
    assert_eq!(store.list_users(None).await.unwrap().len(), 2);
    let user_token = store.list_tokens().await.unwrap().into_iter().find(|t| t.id == token.id).unwrap();
    assert_eq!(user_token.user_id.as_deref(), Some(alice.id.as_str()));

    assert!(store.remove_user(&alice.id).await.unwrap());
    assert!(!store.remove_user(&alice.id).await.unwrap(), "removing twice finds nobody");
    assert!(store.authenticate(token.secret.expose(), TokenKind::User).await.unwrap().is_none(), "signed out");
    assert!(store.list_users(Some(&acme.id)).await.unwrap().is_empty());
    store.create_user(&acme.id, "ALICE").await.unwrap();
}

async fn tokens_are_listed_revoked_and_reported(store: Arc<dyn Store>) {
    let user = store.create_token(DEFAULT_ACCOUNT, TokenKind::User, "me").await.unwrap();
    let bridge = principal(&*store, "m").await;
    assert!(store.authenticate(user.secret.expose(), TokenKind::Machine).await.unwrap().is_none(), "kind matters");
    assert!(store.authenticate("sbt_wrong", TokenKind::User).await.unwrap().is_none());
    let listed = store.list_tokens().await.unwrap();
    let mine = listed.iter().find(|t| t.id == user.id).unwrap();
    assert_eq!((mine.kind, mine.revoked, mine.account_id.as_str()), (TokenKind::User, false, DEFAULT_ACCOUNT));
    let theirs = listed.iter().find(|t| t.id == bridge.token_id).unwrap();
    assert_eq!((theirs.kind, theirs.machine_id.as_deref()), (TokenKind::Machine, Some("m")));
    assert!(theirs.last_used_ms.is_some(), "authenticate stamps the last use");

    let before = crate::now_ms();
    assert!(store.token_live(&user.id).await.unwrap());
    assert!(store.revoke_token(&user.id).await.unwrap());
    assert!(!store.revoke_token(&user.id).await.unwrap(), "revoked once");
    assert!(!store.token_live(&user.id).await.unwrap());
    assert!(!store.token_live("tok_missing").await.unwrap());
    assert!(store.authenticate(user.secret.expose(), TokenKind::User).await.unwrap().is_none());
    let revoked = store.revoked_since(before).await.unwrap();
    assert_eq!(
        revoked.iter().map(|r| (r.id.as_str(), r.kind)).collect::<Vec<_>>(),
        [(user.id.as_str(), TokenKind::User)]
    );
    assert!(store.revoked_since(crate::now_ms() + 60_000).await.unwrap().is_empty());
    assert!(store.list_tokens().await.unwrap().iter().find(|t| t.id == user.id).unwrap().revoked);
}

fn command(id: &str, machine: &str, created_ms: i64, expires_ms: i64) -> NewCommand {
    NewCommand {
        id: id.into(),
        account_id: DEFAULT_ACCOUNT.into(),
        machine_id: machine.into(),
        project_id: "p".into(),
        name: "set_status".into(),
        // Key order survives the store (no re-sorting JSON column).
        args: serde_json::json!({"z": 1, "a": {"y": true, "b": null}}),
        summary: "001: status -> done".into(),
        target: "specs/001".into(),
        created_ms,
        expires_ms,
        deferred: true,
    }
}

async fn the_command_queue_keeps_order_and_fate(store: Arc<dyn Store>) {
    let new = |id: &str| command(id, "m", 1, 1_000);
    let Inserted::New(first) = store.insert_command(&new("c1")).await.unwrap() else { panic!("a new row") };
    assert_eq!((first.state, first.attempts, first.command.clone()), (CommandState::Queued, 0, new("c1")));
    assert_eq!(first.command.args.to_string(), r#"{"z":1,"a":{"y":true,"b":null}}"#);
    let Inserted::Existing(same) = store.insert_command(&new("c1")).await.unwrap() else { panic!("the same row") };
    assert_eq!(same, first);
    for id in ["c2", "c3"] {
        store.insert_command(&new(id)).await.unwrap();
    }
    store.insert_command(&command("other", "m2", 1, 1_000)).await.unwrap();
    let backlog = |limit| {
        let store = store.clone();
        async move { store.machine_backlog("m", limit).await.unwrap().into_iter().map(|c| c.command.id).collect::<Vec<_>>() }
    };
    assert_eq!(backlog(2).await, ["c1", "c2"], "oldest first, at most the limit");

    assert!(store.mark_sent("c1", 50).await.unwrap());
    assert!(store.mark_sent("c1", 60).await.unwrap(), "sent again (in doubt)");
    let sent = store.get_command("c1").await.unwrap().unwrap();
    assert_eq!((sent.state, sent.attempts, sent.sent_ms), (CommandState::Sent, 2, Some(60)));
    store.mark_unsent("c1").await.unwrap();
    let back = store.get_command("c1").await.unwrap().unwrap();
    assert_eq!((back.state, back.attempts), (CommandState::Queued, 1));
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth { queued: 4, sent: 0 });
    store.mark_sent("c2", 70).await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth { queued: 3, sent: 1 });

    let applied = Finish { state: CommandState::Applied, result: Some(serde_json::json!({"ok": 1})), error: None };
    let sent_only = [CommandState::Sent];
    assert_eq!(store.finish_command("c1", &sent_only, &applied, 80).await.unwrap(), None, "c1 is queued, not sent");
    let done = store.finish_command("c2", &sent_only, &applied, 80).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.finished_ms, done.result.clone()),
        (CommandState::Applied, Some(80), applied.result.clone())
    );
    assert_eq!(done.error, None);
    assert_eq!(
        store.finish_command("c2", &[CommandState::Queued, CommandState::Sent], &applied, 90).await.unwrap(),
        None
    );
    let failed = Finish {
        state: CommandState::Cancelled,
        result: None,
        error: Some(specbridge_protocol::ErrorBody::new(specbridge_protocol::ErrorCode::Conflict, "no")),
    };
    let cancelled = store.finish_command("c3", &[CommandState::Queued], &failed, 95).await.unwrap().unwrap();
    assert_eq!((cancelled.state, cancelled.error.clone()), (CommandState::Cancelled, failed.error));
    let pending: Vec<String> =
        store.pending_commands(DEFAULT_ACCOUNT).await.unwrap().into_iter().map(|c| c.command.id).collect();
    assert_eq!(pending, ["c1", "other"]);
    assert!(store.pending_commands("acc_nope").await.unwrap().is_empty());

    assert!(store.expire_commands(999).await.unwrap().is_empty(), "not yet");
    let mut expired = store.expire_commands(1_000).await.unwrap();
    expired.sort_by(|a, b| a.command.id.cmp(&b.command.id));
    assert_eq!(expired.iter().map(|c| c.command.id.as_str()).collect::<Vec<_>>(), ["c1", "other"]);
    assert!(expired.iter().all(|c| c.state == CommandState::Expired && c.error == Some(expired_in_queue())));
    assert_eq!(store.queue_depth().await.unwrap(), QueueDepth::default());
    assert!(!store.mark_sent("c1", 2_000).await.unwrap(), "its fate is known");

    assert_eq!(store.prune_commands(96).await.unwrap(), 2, "c2 and c3 finished before 96");
    assert!(store.get_command("c2").await.unwrap().is_none());
    assert_eq!(store.prune_commands(i64::MAX).await.unwrap(), 2);
}

/// Regression guard for two hub nodes: a retried request reaching both at
/// once must not make two commands, nor fail either caller.
async fn one_command_id_is_inserted_once_however_many_try(store: Arc<dyn Store>) {
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_command(&command("same", "m", 1, 1_000)).await })
        })
        .collect();
    let mut new = 0;
    for attempt in tries {
        match attempt.await.unwrap().unwrap() {
            Inserted::New(_) => new += 1,
            Inserted::Existing(row) => assert_eq!(row.command.id, "same"),
        }
    }
    assert_eq!(new, 1);
    assert_eq!(store.machine_backlog("m", 10).await.unwrap().len(), 1);
}
