//! Session lifecycle: planned shutdown and restart on the same data folder,
//! replacement by a newer connection, idle and hello timeouts, counters.

use crate::support::*;
use futures_util::SinkExt as _;
use specbridge_protocol::*;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message as Ws;

#[tokio::test]
async fn shutdown_sends_going_away_and_state_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let hub1 = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub1).await;
    let m1 = hub1.issue_token(specbridge_hub::TokenKind::Machine, "m1").await.unwrap();
    let (mut ws, _) = connect_with(&hub1, m1.secret.expose(), "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(1, "a.md", b"kept"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })));
    // A connection still waiting to say hello is closed too, within the bound.
    let machine = hub1.issue_token(specbridge_hub::TokenKind::Machine, "slow").await.unwrap();
    let mut silent = dial(&hub1, Some(machine.secret.expose())).await.unwrap();

    let start = Instant::now();
    hub1.shutdown().await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(close_code(&mut ws).await, 1001);
    assert_eq!(close_code(&mut silent).await, 1001);

    let hub2 = hub(dir.path(), |_| {}).await;
    let machines = http(&hub2, "GET", "/v1/machines", Some(&user), &[], b"").await.json();
    assert_eq!(machines[0]["id"], "m1");
    assert_eq!(machines[0]["online"], false);
    assert!(machines[0]["last_seen_ms"].as_i64().unwrap() > 0);
    let reply = http(&hub2, "GET", "/v1/machines/m1/projects/p/files/a.md", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "kept"));
    let listing = http(&hub2, "GET", "/v1/machines/m1/projects/p/files", Some(&user), &[], b"").await.json();
    assert_eq!(listing[0]["hash"], content_hash(b"kept"));

    // The bridge comes back and resumes from the stored sequence number.
    let (_ws, welcome) = connect_with(&hub2, m1.secret.expose(), "m1").await;
    assert_eq!(welcome.last_seq, 1);
    eventually("online again", || hub2.router().is_online("m1")).await;
    hub2.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_newer_connection_replaces_the_older() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let token = hub.issue_token(specbridge_hub::TokenKind::Machine, "m1").await.unwrap();
    let (mut old, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    let (mut new, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    assert_eq!(close_code(&mut old).await, 4000);
    eventually("one session", || hub.stats().bridges_connected == 1).await;
    // The old session's end must not mark the machine offline.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let machines = http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await.json();
    assert_eq!(machines[0]["online"], true);
    // Commands go to the new session.
    let put = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
        let head = format!(
            "PUT /v1/machines/m1/projects/p/files/a.md HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {user}\r\nContent-Length: 1\r\n\r\nx"
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut raw).await.unwrap();
        (raw, hub)
    });
    let Some(Message::Command(command)) = recv(&mut new).await else { panic!("expected a command") };
    send(&mut new, &Message::Response(Response::ok(command.id, serde_json::json!({"ok": true})))).await;
    let (raw, _hub) = put.await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200") && raw.contains(r#""result":{"ok":true}"#), "{raw}");
}

#[tokio::test]
async fn silent_bridges_are_dropped_and_pings_keep_them() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| {
        c.bridge_idle_timeout = Duration::from_millis(400);
        c.hello_timeout = Duration::from_millis(300);
    })
    .await;
    let user = user_token(&hub).await;

    // No hello in time: refused with an error.
    let token = hub.issue_token(specbridge_hub::TokenKind::Machine, "mute").await.unwrap();
    let mut mute = dial(&hub, Some(token.secret.expose())).await.unwrap();
    let Some(Message::Error(error)) = recv(&mut mute).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);

    let (mut pinging, _) = connect(&hub, "pinging").await;
    let (mut silent, _) = connect(&hub, "silent").await;
    let start = Instant::now();
    let pinger = tokio::spawn(async move {
        for _ in 0..10 {
            pinging.send(Ws::Ping(Vec::new().into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pinging
    });
    assert_eq!(close_code(&mut silent).await, 1000);
    assert!(start.elapsed() >= Duration::from_millis(350));
    let mut pinging = pinger.await.unwrap();
    eventually("silent one offline", || !hub.router().is_online("silent")).await;
    assert!(hub.router().is_online("pinging"), "pings count as traffic");
    send(&mut pinging, &Message::FileUpsert(upsert(1, "a.md", b"a"))).await;
    assert_eq!(recv(&mut pinging).await, Some(Message::Ack(Ack { seq: 1 })));
    let machines = http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await.json();
    let silent = machines.as_array().unwrap().iter().find(|m| m["id"] == "silent").unwrap();
    assert_eq!(silent["online"], false);
}

#[tokio::test]
async fn counters_measure_the_wire() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let before = hub.stats();
    let (mut ws, _) = connect(&hub, "m1").await;
    let stats = hub.stats();
    assert_eq!(stats.bridges_connected, 1);
    assert_eq!((stats.bridge_frames_in, stats.bridge_frames_out), (1, 1), "hello and welcome");
    let hello_len = match Codec::default().encode(&hello("m1")).unwrap() {
        Frame::Text(t) => t.len() as u64,
        Frame::Binary(b) => b.len() as u64,
    };
    assert_eq!(stats.bridge_bytes_in - before.bridge_bytes_in, hello_len);
    assert!(stats.bridge_bytes_out > 50);

    send(&mut ws, &Message::FileUpsert(upsert(1, "a.md", b"a"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })));
    let after = hub.stats();
    assert_eq!((after.bridge_frames_in, after.bridge_frames_out), (2, 2));
    assert_eq!(after.bridge_bytes_out - stats.bridge_bytes_out, r#"{"type":"ack","seq":1}"#.len() as u64);
    drop(ws);
    eventually("disconnect counted", || hub.stats().bridges_connected == 0).await;
}
