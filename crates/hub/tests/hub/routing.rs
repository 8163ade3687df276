//! Commands from the REST API to the machine: file writes, generic commands,
//! error mapping, deadlines, and failing fast when the machine is offline.

use crate::support::*;
use specbridge_protocol::*;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Plays the bridge for one command: checks it with `check`, answers with `answer`.
fn answer_one(
    mut ws: Client,
    check: impl FnOnce(&Command) + Send + 'static,
    answer: impl FnOnce(&Command) -> Response + Send + 'static,
) -> tokio::task::JoinHandle<Client> {
    tokio::spawn(async move {
        let Some(Message::Command(command)) = recv(&mut ws).await else { panic!("expected a command") };
        check(&command);
        send(&mut ws, &Message::Response(answer(&command))).await;
        ws
    })
}

#[tokio::test]
async fn writes_route_to_the_bridge_or_fail_fast() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (ws, _) = connect(&hub, "m1").await;

    // The raw client plays the bridge: it answers the file-write command.
    let bridge = answer_one(
        ws,
        |command| {
            assert_eq!(
                (command.name.as_str(), command.project.as_str(), command.deadline_ms),
                ("file-write", P, 30_000)
            );
            let args: FileWriteArgs = serde_json::from_value(command.args.clone()).unwrap();
            assert_eq!((args.path.as_str(), args.base_hash.as_deref()), ("notes/a.md", Some("abc")));
            assert_eq!(args.content.to_bytes().unwrap(), b"hello");
        },
        |command| {
            let result = serde_json::json!({"path": "notes/a.md", "hash": content_hash(b"hello"), "size": 5});
            Response::ok(command.id.clone(), result)
        },
    );
    let put = "/v1/machines/m1-name/projects/p/files/notes/a.md";
    let reply = http(&hub, "PUT", put, Some(&user), &[("If-Match", "\"abc\"")], b"hello").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["hash"], content_hash(b"hello"));
    let ws = bridge.await.unwrap();

    // No If-Match: base_hash from the query, else create-only (none). A
    // conflict from the bridge maps to 409 with its details.
    let bridge = answer_one(
        ws,
        |command| {
            let args: FileWriteArgs = serde_json::from_value(command.args.clone()).unwrap();
            assert_eq!(args.base_hash, None, "no base hash means create-only");
        },
        |command| {
            let error = ErrorBody::new(ErrorCode::Conflict, "file exists")
                .with_details(serde_json::json!({"current_hash": "91bc"}));
            Response::err(command.id.clone(), error)
        },
    );
    let reply = http(&hub, "PUT", "/v1/machines/m1/projects/p/files/a.md", Some(&user), &[], b"x").await;
    assert_eq!((reply.status, reply.code()), (409, "conflict".to_owned()));
    assert_eq!(reply.json()["error"]["details"]["current_hash"], "91bc");
    let mut ws = bridge.await.unwrap();

    // No answer within the deadline: 504 timeout.
    let start = Instant::now();
    let reply =
        http(&hub, "PUT", "/v1/machines/m1/projects/p/files/a.md?timeout_ms=300&base_hash=h1", Some(&user), &[], b"x")
            .await;
    assert_eq!((reply.status, reply.code()), (504, "timeout".to_owned()));
    assert!(start.elapsed() < Duration::from_secs(5));
    let Some(Message::Command(unanswered)) = recv(&mut ws).await else { panic!("expected the command") };
    assert_eq!(unanswered.deadline_ms, 300);
    assert_eq!(unanswered.args["base_hash"], "h1");
    // A late answer is dropped without harm.
    send(&mut ws, &Message::Response(Response::ok(unanswered.id, serde_json::json!({})))).await;

    // Machine gone: 503 offline, at once; its state stays readable.
    ws.close(None).await.unwrap();
    drop(ws);
    eventually("machine offline", || !hub.router().is_online("m1")).await;
    let start = Instant::now();
    let reply = http(&hub, "PUT", "/v1/machines/m1/projects/p/files/a.md", Some(&user), &[], b"x").await;
    assert_eq!((reply.status, reply.code()), (503, "offline".to_owned()));
    assert!(reply.json()["error"]["hint"].is_string());
    assert!(start.elapsed() < Duration::from_secs(1));
    let machines = http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await.json();
    assert_eq!((machines[0]["id"].clone(), machines[0]["online"].clone()), ("m1".into(), false.into()));
    let reply = http(&hub, "GET", "/v1/machines/nope/projects", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".to_owned()));
}

#[tokio::test]
async fn generic_commands_route_with_their_deadline() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (ws, _) = connect(&hub, "m1").await;
    let bridge = answer_one(
        ws,
        |command| {
            assert_eq!((command.name.as_str(), command.deadline_ms), ("file-read", 5_000));
            assert_eq!(command.args, serde_json::json!({"path": "a.md"}));
        },
        |command| Response::ok(command.id.clone(), serde_json::json!({"path": "a.md", "size": 1})),
    );
    let body = serde_json::json!({"name": "file-read", "args": {"path": "a.md"}, "deadline_ms": 5000});
    let commands = "/v1/machines/m1/projects/p/commands";
    let reply =
        http(&hub, "POST", commands, Some(&user), &[("Content-Type", "application/json")], body.to_string().as_bytes())
            .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"result": {"path": "a.md", "size": 1}}));
    let ws = bridge.await.unwrap();

    // An unknown command comes back as the bridge's `invalid`: 400.
    let bridge = answer_one(
        ws,
        |_| {},
        |command| Response::err(command.id.clone(), ErrorBody::new(ErrorCode::Invalid, "unknown command")),
    );
    let body = serde_json::json!({"name": "frobnicate"});
    let reply =
        http(&hub, "POST", commands, Some(&user), &[("Content-Type", "application/json")], body.to_string().as_bytes())
            .await;
    assert_eq!((reply.status, reply.code()), (400, "invalid".to_owned()));
    let _ws = bridge.await.unwrap();

    // Malformed requests get the same JSON error shape.
    let reply = http(&hub, "POST", commands, Some(&user), &[("Content-Type", "application/json")], b"{nope").await;
    assert_eq!((reply.status, reply.code()), (400, "invalid".to_owned()));
    let reply = http(&hub, "GET", "/v1/nothing-here", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".to_owned()));
    let reply = http(&hub, "DELETE", "/v1/machines", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (405, "invalid".to_owned()));
    let big = vec![b'x'; 800 * 1024];
    let reply = http(&hub, "PUT", "/v1/machines/m1/projects/p/files/big.md", Some(&user), &[], &big).await;
    assert_eq!((reply.status, reply.code()), (413, "too_large".to_owned()));
    // Under the body limit but over the message limit once JSON-escaped.
    let quotes = vec![b'"'; 600 * 1024];
    let reply = http(&hub, "PUT", "/v1/machines/m1/projects/p/files/q.md", Some(&user), &[], &quotes).await;
    assert_eq!((reply.status, reply.code()), (413, "too_large".to_owned()));
}
