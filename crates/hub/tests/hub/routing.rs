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
            assert_eq!((command.name.as_str(), command.project.as_str()), ("file-write", P));
            // The caller's 30 s, counted from acceptance, and the same deadline on the hub's clock.
            assert!(command.deadline_ms <= 30_000 && command.deadline_ms > 29_000, "{}", command.deadline_ms);
            assert!(command.expires_at_ms.is_some());
            let args: FileWriteArgs = serde_json::from_value(command.args.clone()).unwrap();
            let base = content_hash(b"old");
            assert_eq!((args.path.as_str(), args.base_hash.as_deref()), ("notes/a.md", Some(base.as_str())));
            assert_eq!(args.content.to_bytes().unwrap(), b"hello");
        },
        |command| {
            let result = serde_json::json!({"path": "notes/a.md", "hash": content_hash(b"hello"), "size": 5});
            Response::ok(command.id.clone(), result)
        },
    );
    let put = "/v1/machines/m1-name/projects/p/files/notes/a.md";
    let if_match = format!("\"{}\"", content_hash(b"old"));
    let reply = http(&hub, "PUT", put, Some(&user), &[("If-Match", &if_match)], b"hello").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["state"], "applied");
    assert_eq!(reply.json()["result"]["hash"], content_hash(b"hello"));
    // A malformed If-Match is refused at the hub: nothing reaches the bridge.
    let reply = http(&hub, "PUT", put, Some(&user), &[("If-Match", "\"abc\"")], b"hello").await;
    assert_eq!((reply.status, reply.code()), (400, "invalid".to_owned()));
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

    // No answer within the deadline: 504 timeout, and the command's id to ask later.
    let start = Instant::now();
    let h1 = content_hash(b"h1");
    let put = format!("/v1/machines/m1/projects/p/files/a.md?timeout_ms=300&base_hash={h1}");
    let reply = http(&hub, "PUT", &put, Some(&user), &[], b"x").await;
    assert_eq!((reply.status, reply.code()), (504, "timeout".to_owned()));
    assert!(start.elapsed() < Duration::from_secs(5));
    let id = reply.json()["command"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["error"]["details"]["command_id"], id);
    let Some(Message::Command(unanswered)) = recv(&mut ws).await else { panic!("expected the command") };
    assert!(unanswered.deadline_ms <= 300);
    assert_eq!((unanswered.id.as_str(), unanswered.args["base_hash"].as_str()), (id.as_str(), Some(h1.as_str())));
    let outcome = http(&hub, "GET", &format!("/v1/commands/{id}"), Some(&user), &[], b"").await.json();
    assert_eq!(outcome["state"], "sent", "in doubt until the answer is known");
    // A late answer still settles it: the caller who timed out can learn the outcome.
    let late = serde_json::json!({"path": "a.md", "hash": content_hash(b"x"), "size": 1});
    send(&mut ws, &Message::Response(Response::ok(unanswered.id, late.clone()))).await;
    let mut outcome = serde_json::Value::Null;
    for _ in 0..100 {
        outcome = http(&hub, "GET", &format!("/v1/commands/{id}"), Some(&user), &[], b"").await.json();
        if outcome["state"] == "applied" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((outcome["state"].clone(), outcome["result"].clone()), ("applied".into(), late));

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
    assert_eq!(reply.json(), serde_json::json!({"path": "a.md", "size": 1}), "a read answers its result");
    let mut ws = bridge.await.unwrap();

    // An unknown command, or bad arguments, are refused at the hub: 400, nothing sent.
    for body in [serde_json::json!({"name": "frobnicate"}), serde_json::json!({"name": "file-read", "args": {}})] {
        let reply = http(
            &hub,
            "POST",
            commands,
            Some(&user),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await;
        assert_eq!((reply.status, reply.code()), (400, "invalid".to_owned()), "{body}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), recv(&mut ws)).await.is_err(),
        "nothing reached the bridge"
    );

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
