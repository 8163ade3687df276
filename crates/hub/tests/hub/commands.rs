//! The durable command queue and exactly-once delivery, against a raw client
//! playing the bridge: queued edits survive a restart and a kill -9 and
//! replay in order with their ids; a retried request is one command; queued
//! commands can be listed, cancelled and expire unsent; a command in doubt
//! is asked about again with the same id.

use crate::support::*;
use specbridge_hub::{HubHandle, TokenKind};
use specbridge_protocol::*;
use std::time::Duration;
use tempfile::TempDir;

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn put_document(hub: &HubHandle, user: &str, path: &str, body: serde_json::Value, key: Option<&str>) -> Reply {
    let url = format!("/v1/machines/m1/projects/p/documents/{path}");
    let mut headers = vec![JSON];
    if let Some(key) = key {
        headers.push(("Idempotency-Key", key));
    }
    http(hub, "PUT", &url, Some(user), &headers, body.to_string().as_bytes()).await
}

/// A machine known to the hub (it connected once), now offline.
async fn offline_machine(hub: &HubHandle) -> String {
    let token = hub.issue_token(TokenKind::Machine, "m1").await.unwrap();
    let (bridge, _) = connect_with(hub, token.secret.expose(), "m1").await;
    drop(bridge);
    eventually("m1 offline", || !hub.router().is_online("m1")).await;
    token.secret.expose().to_owned()
}

/// Receives the next command and answers it as applied.
async fn apply_next(bridge: &mut Client) -> Command {
    let Some(Message::Command(command)) = recv(bridge).await else { panic!("expected a command") };
    let path = command.args["path"].as_str().unwrap_or_default().to_owned();
    let result = serde_json::json!({"path": path, "hash": content_hash(b"x"), "size": 1});
    send(bridge, &Message::Response(Response::ok(command.id.clone(), result))).await;
    command
}

async fn queue_ids(hub: &HubHandle, user: &str) -> Vec<String> {
    let queue = http(hub, "GET", "/v1/queue", Some(user), &[], b"").await.json();
    queue.as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn queued_edits_survive_a_clean_restart_and_replay_in_order() {
    let dir = TempDir::new().unwrap();
    let hub1 = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub1).await;
    let token = offline_machine(&hub1).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let reply =
            put_document(&hub1, &user, &format!("n{n}.md"), serde_json::json!({"content": "x", "queue": true}), None)
                .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(reply.json()["state"], "queued");
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    hub1.shutdown().await.unwrap();

    let hub2 = hub(dir.path(), |_| {}).await;
    assert_eq!(queue_ids(&hub2, &user).await, ids, "the queue survived the restart, in order");
    let (mut bridge, _) = connect_with(&hub2, &token, "m1").await;
    for (n, id) in ids.iter().enumerate() {
        let command = apply_next(&mut bridge).await;
        assert_eq!((&command.id, command.args["path"].as_str()), (id, Some(format!("n{n}.md").as_str())));
    }
    for _ in 0..100 {
        if queue_ids(&hub2, &user).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(queue_ids(&hub2, &user).await.is_empty());
    let outcome = http(&hub2, "GET", &format!("/v1/commands/{}", ids[0]), Some(&user), &[], b"").await.json();
    assert_eq!(outcome["state"], "applied");
}

#[tokio::test]
async fn queued_edits_survive_a_kill_of_the_hub_process() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().to_path_buf();
    let (user, token) = {
        // Tokens made with the binary, as an operator would.
        let user = hub_cli(&data, &["token", "create", "--kind", "user", "--name", "me"]);
        let machine = hub_cli(&data, &["token", "create", "--kind", "machine", "--name", "m1"]);
        (user, machine)
    };
    let mut process = HubProcess::start(&data).await;
    {
        let (bridge, _) = process.connect(&token, "m1").await;
        drop(bridge);
    }
    process.wait_offline(&user, "m1").await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let body = serde_json::json!({"content": "x", "queue": true}).to_string();
        let url = format!("/v1/machines/m1/projects/p/documents/k{n}.md");
        let reply = process.http("PUT", &url, &user, body.as_bytes()).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    process.kill();

    let mut process = HubProcess::start(&data).await;
    let queue = process.http("GET", "/v1/queue", &user, b"").await.json();
    let listed: Vec<&str> = queue.as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>(), "20 of 20 accepted edits kept");
    let (mut bridge, _) = process.connect(&token, "m1").await;
    for id in &ids {
        assert_eq!(&apply_next(&mut bridge).await.id, id);
    }
    process.kill();
}

#[tokio::test]
async fn a_retried_request_with_the_same_key_is_one_command() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (mut bridge, _) = connect(&hub, "m1").await;
    let body = serde_json::json!({"content": "x"});
    let (first, command) =
        tokio::join!(put_document(&hub, &user, "a.md", body.clone(), Some("retry-1")), apply_next(&mut bridge));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["id"], command.id);
    // The retry answers the recorded outcome; nothing more reaches the bridge.
    let retry = put_document(&hub, &user, "a.md", body, Some("retry-1")).await;
    assert_eq!((retry.status, retry.json()["id"].clone()), (200, first.json()["id"].clone()));
    assert!(tokio::time::timeout(Duration::from_millis(300), recv(&mut bridge)).await.is_err(), "sent once");
    // The same key for another edit is refused, not silently merged.
    let other = put_document(&hub, &user, "a.md", serde_json::json!({"content": "y"}), Some("retry-1")).await;
    assert_eq!((other.status, other.code()), (400, "invalid".to_owned()));
}

#[tokio::test]
async fn queued_commands_can_be_cancelled_and_expire_unsent() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| c.queue_ttl = Duration::from_millis(300)).await;
    let user = user_token(&hub).await;
    let token = offline_machine(&hub).await;
    let queued = |path: &'static str| {
        let (hub, user) = (&hub, user.clone());
        async move { put_document(hub, &user, path, serde_json::json!({"content": "x", "queue": true}), None).await.json() }
    };
    let cancelled = queued("c.md").await["id"].as_str().unwrap().to_owned();
    let reply = http(&hub, "DELETE", &format!("/v1/commands/{cancelled}"), Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.json()["state"].clone()), (200, "cancelled".into()));
    let again = http(&hub, "DELETE", &format!("/v1/commands/{cancelled}"), Some(&user), &[], b"").await;
    assert_eq!((again.status, again.code()), (409, "conflict".to_owned()), "only a queued command can be cancelled");
    let expired = queued("e.md").await["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The machine returns after the deadline: nothing is sent, the command reads as expired.
    let (mut bridge, _) = connect_with(&hub, &token, "m1").await;
    assert!(tokio::time::timeout(Duration::from_millis(400), recv(&mut bridge)).await.is_err(), "nothing sent late");
    let outcome = http(&hub, "GET", &format!("/v1/commands/{expired}"), Some(&user), &[], b"").await.json();
    assert_eq!(
        (outcome["state"].as_str(), outcome["error"]["details"]["applied"].as_bool()),
        (Some("expired"), Some(false))
    );
    let missing = http(&hub, "GET", "/v1/commands/c_nope", Some(&user), &[], b"").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_command_in_doubt_is_asked_about_again_with_the_same_id() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let token = hub.issue_token(TokenKind::Machine, "m1").await.unwrap();
    let (mut bridge, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    let body = serde_json::json!({"content": "x", "queue": true});
    let (reply, first) = tokio::join!(put_document(&hub, &user, "a.md", body, None), async {
        let Some(Message::Command(command)) = recv(&mut bridge).await else { panic!("expected a command") };
        // The connection dies before the answer: the hub cannot know whether it was applied.
        let _ = futures_util::SinkExt::close(&mut bridge).await;
        command
    });
    drop(bridge);
    assert_eq!((reply.status, reply.code()), (504, "timeout".to_owned()), "{}", reply.text());
    assert_eq!(reply.json()["command"]["state"], "sent");
    let (mut bridge, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    let again = apply_next(&mut bridge).await;
    assert_eq!((again.id.as_str(), again.expires_at_ms), (first.id.as_str(), first.expires_at_ms));
    for _ in 0..100 {
        let outcome = http(&hub, "GET", &format!("/v1/commands/{}", first.id), Some(&user), &[], b"").await.json();
        if outcome["state"] == "applied" {
            assert_eq!(outcome["attempts"], 2);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the re-sent command never settled");
}

/// Regression: a job run was sent with the hub's per-attempt cap (30 s) as its
/// deadline, so the bridge stopped any job at 30 s whatever `timeout_ms` the
/// caller gave, and the caller got `504` while the job still ran.
#[tokio::test]
async fn a_job_run_gets_its_callers_whole_timeout_not_the_per_attempt_cap() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| c.command_timeout = Duration::from_millis(500)).await;
    let user = user_token(&hub).await;
    let (mut bridge, _) = connect(&hub, "m1").await;
    let url = "/v1/machines/m1/projects/p/jobs/build/run?timeout_ms=4000";
    let (reply, command) = tokio::join!(http(&hub, "POST", url, Some(&user), &[JSON], b"{}"), async {
        let Some(Message::Command(command)) = recv(&mut bridge).await else { panic!("expected a command") };
        // The job takes longer than the per-attempt cap, well inside the caller's timeout.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let result = serde_json::json!({"id": "build", "outcome": "succeeded"});
        send(&mut bridge, &Message::Response(Response::ok(command.id.clone(), result))).await;
        command
    });
    assert!(
        command.deadline_ms > 3000,
        "the bridge may run the job until the caller's deadline: {}",
        command.deadline_ms
    );
    assert_eq!(command.args["requested_by"], "account default", "who asked is the hub's to say");
    assert_eq!((reply.status, reply.json()["state"].as_str()), (200, Some("applied")), "{}", reply.text());
}
