//! The hub against a raw WebSocket client: real sockets on 127.0.0.1:0, real
//! SQLite in a temp folder. The client speaks the protocol by hand, so these
//! tests pin the hub's side of it independently of the bridge engine.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

use futures_util::{SinkExt as _, StreamExt as _};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use specbridge_protocol::*;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn hub(dir: &std::path::Path, config: impl FnOnce(&mut HubConfig)) -> HubHandle {
    let mut cfg = HubConfig::new(dir);
    config(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    specbridge_hub::start(cfg, listener).await.unwrap()
}

async fn dial(hub: &HubHandle, token: Option<&str>) -> Result<Client, u16> {
    let mut request = format!("ws://{}/v1/bridge", hub.addr()).into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

async fn send(ws: &mut Client, message: &Message) {
    let frame = match Codec::default().encode(message).unwrap() {
        Frame::Text(t) => Ws::Text(t.into()),
        Frame::Binary(b) => Ws::Binary(b.into()),
    };
    ws.send(frame).await.unwrap();
}

/// The next protocol message, or `None` when the hub closed.
async fn recv(ws: &mut Client) -> Option<Message> {
    let codec = Codec::default();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("hub answered")?;
        match frame.ok()? {
            Ws::Text(t) => return Some(codec.decode_text(t.as_str()).unwrap()),
            Ws::Binary(b) => return Some(codec.decode_binary(&b).unwrap()),
            Ws::Close(_) => return None,
            _ => {}
        }
    }
}

fn hello(machine: &str) -> Message {
    Message::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        min_protocol: MIN_PROTOCOL_VERSION,
        capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        machine: MachineInfo {
            id: machine.into(),
            name: format!("{machine}-name"),
            os: "linux".into(),
            arch: "x86_64".into(),
            app_version: "test".into(),
        },
        projects: vec![ProjectInfo { id: "p".into(), name: "p".into(), layout: "generic".into(), read_only: false }],
    })
}

async fn connect(hub: &HubHandle, machine: &str) -> (Client, Welcome) {
    let token = hub.issue_token(TokenKind::Machine, machine).await.unwrap();
    let mut ws = dial(hub, Some(token.secret.expose())).await.unwrap();
    send(&mut ws, &hello(machine)).await;
    let Some(Message::Welcome(welcome)) = recv(&mut ws).await else { panic!("expected welcome") };
    (ws, welcome)
}

fn upsert(seq: u64, path: &str, body: &[u8]) -> FileUpsert {
    FileUpsert {
        seq,
        project: "p".into(),
        path: path.into(),
        hash: content_hash(body),
        size: body.len() as u64,
        mtime_ms: 1,
        offset: 0,
        last: true,
        content: Content::from_bytes(body),
    }
}

async fn http(hub: &HubHandle, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn bad_tokens_get_401_before_the_upgrade() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = hub.issue_token(TokenKind::User, "me").await.unwrap();
    let revoked = hub.issue_token(TokenKind::Machine, "old").await.unwrap();
    assert!(hub.store().revoke_token(&revoked.id).await.unwrap());

    assert_eq!(dial(&hub, None).await.err(), Some(401));
    assert_eq!(dial(&hub, Some("sbt_wrong")).await.err(), Some(401));
    assert_eq!(dial(&hub, Some(revoked.secret.expose())).await.err(), Some(401));
    assert_eq!(dial(&hub, Some(user.secret.expose())).await.err(), Some(401), "user tokens are not machine tokens");
    let stats = hub.stats();
    assert_eq!((stats.bridge_upgrade_attempts, stats.bridge_auth_failures), (4, 4));

    let (status, body) = http(&hub, "GET", "/v1/machines", Some("sbt_wrong"), b"").await;
    assert_eq!(status, 401);
    assert!(body.contains("\"unauthorized\"") && body.contains("token create"), "{body}");
    let (status, _) = http(&hub, "GET", "/healthz", None, b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_machine_token_is_bound_to_its_first_machine() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let token = hub.issue_token(TokenKind::Machine, "laptop").await.unwrap();
    let mut first = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut first, &hello("laptop")).await;
    assert!(matches!(recv(&mut first).await, Some(Message::Welcome(_))));
    let mut thief = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut thief, &hello("other-machine")).await;
    let Some(Message::Error(error)) = recv(&mut thief).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Unauthorized);
    assert!(recv(&mut thief).await.is_none(), "hub closes after refusing");
}

#[tokio::test]
async fn digest_manifest_want_and_chunked_upserts() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, welcome) = connect(&hub, "m1").await;
    assert_eq!(welcome.last_seq, 0);

    // Empty project: the digest of nothing matches.
    send(&mut ws, &Message::Digest(Digest { project: "p".into(), digest: project_digest([]), files: 0 })).await;
    assert_eq!(recv(&mut ws).await, Some(Message::InSync(ProjectRef { project: "p".into() })));

    // Two files in one batch, one of them chunked (600 KiB), acked cumulatively.
    let big: Vec<u8> = (0..600 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut first = upsert(2, "big.md", &big);
    first.content = Content::from_bytes(&big[..300 * 1024]);
    first.last = false;
    let mut second = upsert(2, "big.md", &big);
    second.content = Content::from_bytes(&big[300 * 1024..]);
    second.offset = 300 * 1024;
    send(&mut ws, &Message::FileUpsert(first)).await;
    send(
        &mut ws,
        &Message::Batch(Batch {
            messages: vec![Message::FileUpsert(upsert(1, "a.md", b"# A\n")), Message::FileUpsert(second)],
        }),
    )
    .await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 2 })));

    // Manifest: a.md unchanged, big.md changed, c.md new; the hub wants the last two.
    let entries = vec![
        ManifestEntry { path: "a.md".into(), hash: content_hash(b"# A\n"), size: 4 },
        ManifestEntry { path: "big.md".into(), hash: content_hash(b"new"), size: 3 },
        ManifestEntry { path: "c.md".into(), hash: content_hash(b"c"), size: 1 },
    ];
    send(&mut ws, &Message::Manifest(Manifest { project: "p".into(), part: 0, last: true, entries })).await;
    let Some(Message::Want(want)) = recv(&mut ws).await else { panic!("expected want") };
    assert_eq!(want.paths, vec!["big.md".to_owned(), "c.md".to_owned()]);
    assert!(want.last);

    // A manifest without a.md deletes the hub's copy.
    send(&mut ws, &Message::Manifest(Manifest { project: "p".into(), part: 0, last: true, entries: vec![] })).await;
    let Some(Message::Want(want)) = recv(&mut ws).await else { panic!("expected want") };
    assert!(want.paths.is_empty());
    assert!(hub.store().list_files("m1", "p").await.unwrap().is_empty());

    // A bad hash is refused and the session closed.
    let mut bad = upsert(3, "x.md", b"x");
    bad.hash = content_hash(b"y");
    send(&mut ws, &Message::FileUpsert(bad)).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);
}

#[tokio::test]
async fn replayed_events_are_acked_and_ignored() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, _) = connect(&hub, "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(5, "a.md", b"new"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 5 })));
    drop(ws);
    let (mut ws, welcome) = connect(&hub, "m1").await;
    assert_eq!(welcome.last_seq, 5, "welcome carries the stored sequence number");
    // An old event (seq 4) must not overwrite the newer content.
    send(&mut ws, &Message::FileUpsert(upsert(4, "a.md", b"old"))).await;
    send(&mut ws, &Message::Digest(Digest { project: "p".into(), digest: String::new(), files: 1 })).await;
    assert!(matches!(recv(&mut ws).await, Some(Message::WantManifest(_))));
    let (_, bytes) = hub.store().get_file("m1", "p", "a.md").await.unwrap().unwrap();
    assert_eq!(bytes, b"new");
}

#[tokio::test]
async fn writes_route_to_the_bridge_or_fail_fast() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = hub.issue_token(TokenKind::User, "me").await.unwrap();
    let user = user.secret.expose();
    let (mut ws, _) = connect(&hub, "m1").await;

    // The raw client plays the bridge: it answers the file-write command.
    let answer = tokio::spawn(async move {
        let Some(Message::Command(command)) = recv(&mut ws).await else { panic!("expected a command") };
        assert_eq!(command.name, "file-write");
        let args: FileWriteArgs = serde_json::from_value(command.args).unwrap();
        assert_eq!((args.path.as_str(), args.base_hash.as_deref()), ("notes/a.md", Some("abc")));
        assert_eq!(args.content.to_bytes().unwrap(), b"hello");
        let result = serde_json::json!({"path": args.path, "hash": content_hash(b"hello"), "size": 5});
        send(&mut ws, &Message::Response(Response::ok(command.id, result))).await;
        ws
    });
    let mut stream = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    let head = format!("PUT /v1/machines/m1-name/projects/p/files/notes/a.md HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {user}\r\nIf-Match: \"abc\"\r\nContent-Length: 5\r\n\r\nhello");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains(&content_hash(b"hello")));
    let mut ws = answer.await.unwrap();

    // No answer within the deadline: 504 timeout.
    let start = Instant::now();
    let (status, body) =
        http(&hub, "PUT", "/v1/machines/m1/projects/p/files/a.md?timeout_ms=300", Some(user), b"x").await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("\"timeout\""));
    assert!(start.elapsed() < Duration::from_secs(5));
    let _ = recv(&mut ws).await; // the unanswered command

    // Machine gone: 503 offline, at once.
    ws.close(None).await.unwrap();
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.router().is_online("m1") {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let start = Instant::now();
    let (status, body) = http(&hub, "PUT", "/v1/machines/m1/projects/p/files/a.md", Some(user), b"x").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"offline\"") && body.contains("hint"));
    assert!(start.elapsed() < Duration::from_secs(1));
    let (status, _) = http(&hub, "GET", "/v1/machines/nope/projects", Some(user), b"").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn shutdown_sends_going_away_and_state_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let hub1 = hub(dir.path(), |_| {}).await;
    let user = hub1.issue_token(TokenKind::User, "me").await.unwrap();
    let (mut ws, _) = connect(&hub1, "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(1, "a.md", b"kept"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })));

    hub1.shutdown().await.unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Ws::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 1001);

    let hub2 = hub(dir.path(), |_| {}).await;
    let (status, body) = http(&hub2, "GET", "/v1/machines", Some(user.secret.expose()), b"").await;
    assert_eq!(status, 200);
    let machines: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(machines[0]["online"], false);
    let (status, body) =
        http(&hub2, "GET", "/v1/machines/m1/projects/p/files/a.md", Some(user.secret.expose()), b"").await;
    assert_eq!((status, body.as_str()), (200, "kept"));
}

#[tokio::test]
async fn oversized_frames_and_zstd_bombs_close_only_that_session() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut healthy, _) = connect(&hub, "healthy").await;

    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &[0u8; 1024 * 1024]).unwrap();
    }
    let mut bomb = vec![BINARY_ZSTD_TAG];
    bomb.extend_from_slice(&encoder.finish().unwrap());
    for (i, frame) in [Ws::Binary(bomb.into()), Ws::Text("x".repeat(1024 * 1024 + 10).into())].into_iter().enumerate() {
        let (mut ws, _) = connect(&hub, &format!("attacker{i}")).await;
        ws.send(frame).await.unwrap();
        let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
        assert!(matches!(error.code, ErrorCode::TooLarge | ErrorCode::Invalid), "{error:?}");
        assert!(recv(&mut ws).await.is_none(), "session closed");
    }
    send(&mut healthy, &Message::FileUpsert(upsert(1, "a.md", b"fine"))).await;
    assert_eq!(recv(&mut healthy).await, Some(Message::Ack(Ack { seq: 1 })));
}
