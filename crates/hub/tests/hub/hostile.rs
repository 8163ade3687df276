//! Hostile or broken frames close only the session that sent them, with an
//! `error` and the right close code; the hub keeps serving everyone else.

use crate::support::*;
use futures_util::SinkExt as _;
use specbridge_protocol::*;
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message as Ws;

/// 64 MiB of zeros compress to a few KB. With `window_log` 20 the frame fits
/// the codec's 1 MiB window and fails on output size (`too_large`); with the
/// level's own larger window it fails on the window (`invalid`).
fn zstd_bomb(window_log: Option<u32>) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    if let Some(log) = window_log {
        encoder.window_log(log).unwrap();
    }
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &[0u8; 1024 * 1024]).unwrap();
    }
    let mut bomb = vec![BINARY_ZSTD_TAG];
    bomb.extend_from_slice(&encoder.finish().unwrap());
    bomb
}

#[tokio::test]
async fn bad_frames_close_only_that_session() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut healthy, _) = connect(&hub, "healthy").await;

    let bomb = zstd_bomb(Some(20));
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire: {} bytes", bomb.len());
    let cases: Vec<(Ws, ErrorCode, u16)> = vec![
        (Ws::Binary(bomb.into()), ErrorCode::TooLarge, 1009),
        (Ws::Binary(zstd_bomb(None).into()), ErrorCode::Invalid, 1007),
        (Ws::Text("x".repeat(1024 * 1024 + 10).into()), ErrorCode::TooLarge, 1009),
        (Ws::Text("x".repeat(1536 * 1024).into()), ErrorCode::TooLarge, 1009),
        (Ws::Text("{not json".into()), ErrorCode::Invalid, 1007),
        (Ws::Binary(vec![0x7f, 1, 2, 3].into()), ErrorCode::Invalid, 1007),
        (Ws::Binary(vec![BINARY_ZSTD_TAG, 1, 2, 3].into()), ErrorCode::Invalid, 1007),
    ];
    for (i, (frame, code, close)) in cases.into_iter().enumerate() {
        let (mut ws, _) = connect(&hub, &format!("attacker{i}")).await;
        ws.send(frame).await.unwrap();
        let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("case {i}: expected an error") };
        assert_eq!(error.code, code, "case {i}: {error:?}");
        assert_eq!(close_code(&mut ws).await, close, "case {i}");
    }

    // Everyone else is unaffected.
    let reply = http(&hub, "GET", "/healthz", None, &[], b"").await;
    assert_eq!(reply.status, 200);
    send(&mut healthy, &Message::FileUpsert(upsert(1, "a.md", b"fine"))).await;
    assert_eq!(recv(&mut healthy).await, Some(Message::Ack(Ack { seq: 1 })));
    let (mut late, _) = connect(&hub, "late").await;
    send(&mut late, &Message::Digest(Digest { project: P.into(), digest: project_digest([]), files: 0 })).await;
    assert!(matches!(recv(&mut late).await, Some(Message::InSync(_))));
    eventually("attackers gone", || hub.stats().bridges_connected == 2).await;
}

#[tokio::test]
async fn protocol_violations_are_refused() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;

    // Something other than hello first.
    let token = hub.issue_token(specbridge_hub::TokenKind::Machine, "m").await.unwrap();
    let mut ws = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut ws, &Message::Ack(Ack { seq: 1 })).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);

    // No common protocol version.
    let mut ws = dial(&hub, Some(token.secret.expose())).await.unwrap();
    let Message::Hello(mut future) = hello("m") else { unreachable!() };
    future.min_protocol = PROTOCOL_VERSION + 1;
    future.protocol = PROTOCOL_VERSION + 2;
    send(&mut ws, &Message::Hello(future)).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::UnsupportedVersion);

    // Paths that escape the project, chunks out of order.
    let (mut ws, _) = connect(&hub, "m2").await;
    send(&mut ws, &Message::FileUpsert(upsert(1, "../etc/passwd", b"x"))).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);
    let (mut ws, _) = connect(&hub, "m3").await;
    let mut chunk = upsert(1, "a.md", b"abcdef");
    chunk.offset = 3;
    chunk.content = Content::from_bytes(b"def");
    send(&mut ws, &Message::FileUpsert(chunk)).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);
    eventually("all refused sessions gone", || hub.stats().bridges_connected == 0).await;
}
