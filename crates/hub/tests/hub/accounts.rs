//! Accounts: a user of one account neither sees nor reaches another
//! account's machines, on REST, `/ws/dashboard`, the queue, commands by id
//! and pairing; removing a user ends their access; the admin commands.
//! Every case runs on SQLite and on Postgres.

use crate::stores::{on_both_stores, Backend};
use crate::support::*;
use specbridge_hub::{HubHandle, TokenKind};
use specbridge_protocol::*;
use std::time::Duration;
use tempfile::TempDir;

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Two accounts, a user and a connected machine in each.
struct TwoAccounts {
    hub: HubHandle,
    alice: String,
    bob: String,
    /// Bob's machine (account beta), connected, with one file stored.
    bobs_bridge: Client,
}

async fn two_accounts(dir: &std::path::Path, backend: &Backend) -> TwoAccounts {
    let hub = backend.hub(dir, |_| {}).await;
    let store = hub.store();
    let acme = store.create_account("acme").await.unwrap();
    let beta = store.create_account("beta").await.unwrap();
    let (_, alice) = store.create_user(&acme.id, "alice").await.unwrap();
    let (_, bob) = store.create_user(&beta.id, "bob").await.unwrap();
    let a = store.create_token(&acme.id, TokenKind::Machine, "acme box").await.unwrap();
    let b = store.create_token(&beta.id, TokenKind::Machine, "beta box").await.unwrap();
    let (alices_bridge, _) = connect_with(&hub, a.secret.expose(), "ma").await;
    drop(alices_bridge);
    let (mut bobs_bridge, _) = connect_with(&hub, b.secret.expose(), "mb").await;
    send(&mut bobs_bridge, &Message::FileUpsert(upsert(1, "secret.md", b"beta only"))).await;
    assert_eq!(recv(&mut bobs_bridge).await, Some(Message::Ack(Ack { seq: 1 })));
    TwoAccounts { hub, alice: alice.secret.expose().to_owned(), bob: bob.secret.expose().to_owned(), bobs_bridge }
}

on_both_stores!(
    a_user_of_one_account_cannot_see_or_address_another_accounts_machines,
    the_queue_commands_and_dashboard_feed_are_per_account,
    pairing_approved_by_a_user_puts_the_machine_in_their_account,
    re_pairing_never_moves_a_machine_to_another_account,
    a_removed_user_is_signed_out_everywhere,
    the_admin_commands_create_accounts_users_and_scoped_tokens,
);

fn machine_ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

async fn a_user_of_one_account_cannot_see_or_address_another_accounts_machines(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let TwoAccounts { hub, alice, bob, mut bobs_bridge } = two_accounts(dir.path(), &backend).await;
    let get = |token: &str, path: &str| {
        let (hub, token, path) = (&hub, token.to_owned(), path.to_owned());
        async move { http(hub, "GET", &path, Some(&token), &[], b"").await }
    };

    assert_eq!(machine_ids(&get(&alice, "/v1/machines").await.json()), ["ma"]);
    assert_eq!(machine_ids(&get(&bob, "/v1/machines").await.json()), ["mb"]);
    assert_eq!(get(&bob, "/v1/machines/mb/projects/p/files/secret.md").await.status, 200);
    // By id and by name, every route that names Bob's machine is a 404 for Alice.
    for path in [
        "/v1/machines/mb/projects",
        "/v1/machines/mb/projects/p/files",
        "/v1/machines/mb/projects/p/files/secret.md",
        "/v1/machines/mb-name/projects",
    ] {
        let reply = get(&alice, path).await;
        assert_eq!((reply.status, reply.code()), (404, "not_found".to_owned()), "{path}: {}", reply.text());
    }
    let all = get(&alice, "/api/projects").await.text();
    assert!(!all.contains("mb"), "Alice's project list names nothing of Bob's: {all}");

    // A write addressed to Bob's machine never reaches it.
    let body = serde_json::json!({"content": "pwned"}).to_string();
    let url = "/v1/machines/mb/projects/p/documents/secret.md";
    let write = http(&hub, "PUT", url, Some(&alice), &[JSON], body.as_bytes()).await;
    assert_eq!(write.status, 404, "{}", write.text());
    let raw = http(&hub, "PUT", "/v1/machines/mb/projects/p/files/secret.md", Some(&alice), &[], b"pwned").await;
    assert_eq!(raw.status, 404, "{}", raw.text());
    let nothing = tokio::time::timeout(Duration::from_millis(300), recv(&mut bobs_bridge)).await;
    assert!(nothing.is_err(), "Bob's bridge got nothing: {nothing:?}");
}

async fn the_queue_commands_and_dashboard_feed_are_per_account(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let TwoAccounts { hub, alice, bob, bobs_bridge } = two_accounts(dir.path(), &backend).await;
    drop(bobs_bridge);
    eventually("mb offline", || !hub.router().is_online("mb")).await;
    let body = serde_json::json!({"content": "later", "queue": true}).to_string();
    let url = "/v1/machines/mb/projects/p/documents/later.md";
    let queued = http(&hub, "PUT", url, Some(&bob), &[JSON], body.as_bytes()).await.json();
    assert_eq!(queued["state"], "queued", "{queued}");
    let id = queued["id"].as_str().unwrap();

    let alices_queue = http(&hub, "GET", "/v1/queue", Some(&alice), &[], b"").await.json();
    assert_eq!(alices_queue, serde_json::json!([]), "Alice's queue holds nothing of Bob's");
    let bobs_queue = http(&hub, "GET", "/v1/queue", Some(&bob), &[], b"").await.json();
    assert_eq!(bobs_queue.as_array().unwrap().len(), 1);
    let path = format!("/v1/commands/{id}");
    assert_eq!(http(&hub, "GET", &path, Some(&alice), &[], b"").await.status, 404);
    assert_eq!(http(&hub, "DELETE", &path, Some(&alice), &[], b"").await.status, 404);
    assert_eq!(http(&hub, "GET", &path, Some(&bob), &[], b"").await.json()["state"], "queued", "still queued");

    let mut feed = feed(&hub, &alice, None).await.unwrap();
    let state = next_of(&mut feed, "state").await.to_string();
    assert!(state.contains("\"ma\""), "{state}");
    assert!(!state.contains("\"mb\"") && !state.contains("later.md"), "Alice's feed shows nothing of Bob's: {state}");
    // Bob's queue changing is not news to Alice.
    let body = serde_json::json!({"content": "more", "queue": true}).to_string();
    let url = "/v1/machines/mb/projects/p/documents/more.md";
    assert_eq!(http(&hub, "PUT", url, Some(&bob), &[JSON], body.as_bytes()).await.status, 202);
    let quiet = next(&mut feed, Duration::from_millis(300)).await;
    assert!(quiet.as_ref().is_none_or(|m| !m.to_string().contains("\"mb\"")), "{quiet:?}");
}

async fn pairing_approved_by_a_user_puts_the_machine_in_their_account(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let TwoAccounts { hub, alice, bob, .. } = two_accounts(dir.path(), &backend).await;
    let start = br#"{"machine_name":"New laptop","machine_id":"m-new","os":"linux"}"#;
    let started = http(&hub, "POST", "/v1/pair/start", None, &[JSON], start).await.json();
    let approve = serde_json::json!({ "user_code": started["user_code"] }).to_string();
    let approved = http(&hub, "POST", "/v1/pair/approve", Some(&bob), &[JSON], approve.as_bytes()).await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    let poll = serde_json::json!({ "device_code": started["device_code"] }).to_string();
    let polled = http(&hub, "POST", "/v1/pair/poll", None, &[JSON], poll.as_bytes()).await.json();
    let token = polled["machine_token"].as_str().unwrap();
    let (_bridge, _) = connect_with(&hub, token, "m-new").await;

    let bobs = machine_ids(&http(&hub, "GET", "/v1/machines", Some(&bob), &[], b"").await.json());
    assert!(bobs.contains(&"m-new".to_owned()), "{bobs:?}");
    let alices = machine_ids(&http(&hub, "GET", "/v1/machines", Some(&alice), &[], b"").await.json());
    assert_eq!(alices, ["ma"], "the approver's account got it, nobody else's");
}

async fn re_pairing_never_moves_a_machine_to_another_account(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let TwoAccounts { hub, .. } = two_accounts(dir.path(), &backend).await;
    let store = hub.store();
    let acme = store.find_account("ACME").await.unwrap().expect("found by name, case-insensitive");
    let stolen = store.create_machine_token(&acme.id, "mine now", "mb").await;
    assert!(matches!(stolen, Err(specbridge_hub::HubError::MachineTaken(_))), "{stolen:?}");
}

async fn a_removed_user_is_signed_out_everywhere(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let TwoAccounts { hub, alice, .. } = two_accounts(dir.path(), &backend).await;
    let store = hub.store();
    let mut feed = feed(&hub, &alice, None).await.unwrap();
    let _ = next_of(&mut feed, "state").await;
    let users = store.list_users(None).await.unwrap();
    let who = users.iter().find(|u| u.name == "alice").unwrap();
    assert!(store.remove_user(&who.id).await.unwrap());
    assert!(!store.remove_user(&who.id).await.unwrap(), "removing twice finds nobody");
    assert_eq!(http(&hub, "GET", "/v1/machines", Some(&alice), &[], b"").await.status, 401);
    assert_eq!(close_code(&mut feed).await, 4001, "the dashboard socket is closed (docs/protocol.md)");
    let (again, _) = store.create_user(&who.account_id, "alice").await.unwrap();
    assert_ne!(again.id, who.id, "the name is free again, for a new user");
}

async fn the_admin_commands_create_accounts_users_and_scoped_tokens(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let account = backend.cli_ok(&data, &["account", "create", "Team Rocket"]);
    assert!(account.starts_with("acc_"), "{account}");
    assert!(backend.cli_ok(&data, &["account", "list"]).contains("Team Rocket"));
    let store = backend.store(&data).await;
    assert_eq!(store.find_account("TEAM ROCKET").await.unwrap().unwrap().id, account, "in the store the hub uses");
    store.close().await;
    let user = backend.cli_ok(&data, &["user", "create", "--account", "team rocket", "--name", "jessie"]);
    assert!(user.starts_with("sbt_"), "a user token: {user}");
    let listed = backend.cli_ok(&data, &["user", "list", "--account", &account]);
    assert!(listed.contains("jessie") && listed.contains(&account), "{listed}");
    let machine =
        backend.cli_ok(&data, &["token", "create", "--kind", "machine", "--name", "box", "--account", &account]);
    assert!(machine.starts_with("sbt_"));
    let tokens = backend.cli_ok(&data, &["token", "list", "--account", &account]);
    assert_eq!(tokens.lines().count(), 2, "the user's token and the machine's: {tokens}");
    assert!(tokens.lines().all(|l| l.contains(&format!("account={account}"))), "{tokens}");
    // An unknown account is an error that says where to look; nothing is created.
    let out = backend.cli(&data).args(["user", "create", "--account", "nope", "--name", "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("account list"), "{}", String::from_utf8_lossy(&out.stderr));
    let taken = backend.cli(&data).args(["account", "create", "team ROCKET"]).output().unwrap();
    assert!(!taken.status.success(), "account names are unique, whatever the case");
}
