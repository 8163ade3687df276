//! The link against the in-test hub: hello, initial and live sync, commands,
//! 401 handling, hostile frames, going-away and dead connections.

use crate::hub::{eventually, going_away, now_ms, Mode, Push, TestHub};
use crate::{connected, fast, link_command as command, wait_link, write, Bridge, PATIENCE, TOKEN};
use serde_json::json;
use specbridge_bridge::{EngineEvent, LinkState, Timing};
use specbridge_protocol::{content_hash, ErrorCode, Message};
use std::time::{Duration, Instant};

#[tokio::test]
async fn hello_describes_the_machine_and_the_initial_sync_delivers_every_file() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 3);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;

    let (hello, auth) = hub.with(|s| (s.hellos[0].clone(), s.auth_headers[0].clone()));
    assert_eq!(auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(hello.machine.id, bridge.config.machine.id);
    assert_eq!(hello.machine.name, bridge.config.machine.name);
    assert_eq!(hello.machine.os, std::env::consts::OS);
    assert_eq!(hello.machine.arch, std::env::consts::ARCH);
    assert_eq!(hello.machine.app_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.protocol, specbridge_protocol::PROTOCOL_VERSION);
    assert!(hello.capabilities.iter().any(|c| c == "digest-sync"));
    assert_eq!(hello.projects.len(), 1);
    assert_eq!((hello.projects[0].id.as_str(), hello.projects[0].layout.as_str()), ("app", "leanspec"));
    assert!(!hello.projects[0].read_only);

    eventually("all files at the hub", PATIENCE, || hub.paths("app").len() == 3).await;
    assert_eq!(
        hub.file("app", "specs/002-feature/README.md").unwrap(),
        std::fs::read(bridge.root.join("specs/002-feature/README.md")).unwrap()
    );
    // After the flush comes one digest, which now matches.
    eventually("digest sent", PATIENCE, || hub.count(1, "digest") == 1).await;
    let status = engine.status().await.unwrap();
    eventually("outbox drained", PATIENCE, || hub.with(|s| s.last_seq) >= 3).await;
    assert_eq!(status.projects[0].files, 3);
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn live_edits_and_deletes_reach_the_hub_debounced() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    let mut events = engine.subscribe();
    connected(&engine).await;
    eventually("initial sync", PATIENCE, || hub.paths("app").len() == 1).await;

    let rel = "specs/002-new/README.md";
    let started = Instant::now();
    write(&bridge.root, rel, "# New\n");
    eventually("upsert at the hub", PATIENCE, || hub.file("app", rel).as_deref() == Some(b"# New\n")).await;
    println!("local save -> hub stored in {:?}", started.elapsed());

    std::fs::remove_dir_all(bridge.root.join("specs/002-new")).unwrap();
    eventually("delete at the hub", PATIENCE, || hub.file("app", rel).is_none()).await;
    // Acks turn into Synced events and an empty queue.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline.into(), events.recv()).await.unwrap().unwrap();
        if matches!(event, EngineEvent::Synced { ref project, .. } if project == "app") {
            break;
        }
    }
    let depth = || async { engine.status().await.unwrap().queue_depth };
    let deadline = Instant::now() + PATIENCE;
    while depth().await != 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn commands_write_atomically_detect_conflicts_and_are_audited() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    let rel = "specs/001-feature/README.md";
    let original = std::fs::read(bridge.root.join(rel)).unwrap();

    hub.push(Push::Message(command("w1", "file-write", json!({
        "path": rel, "base_hash": content_hash(&original), "content": {"encoding": "utf8", "data": "# Edited remotely\n"}
    }))));
    eventually("w1 answered", PATIENCE, || hub.response("w1").is_some()).await;
    let result = hub.response("w1").unwrap().into_result().unwrap();
    assert_eq!(result["hash"], content_hash(b"# Edited remotely\n"));
    assert_eq!(std::fs::read(bridge.root.join(rel)).unwrap(), b"# Edited remotely\n");
    // The hub learns about its own write through the normal sync path.
    eventually("write synced back", PATIENCE, || hub.file("app", rel).as_deref() == Some(b"# Edited remotely\n")).await;

    // The same stale base again: conflict, file untouched.
    hub.push(Push::Message(command(
        "w2",
        "file-write",
        json!({
            "path": rel, "base_hash": content_hash(&original), "content": {"encoding": "utf8", "data": "clobber"}
        }),
    )));
    hub.push(Push::Message(command("x1", "format-disk", json!({}))));
    hub.push(Push::Message(command("r1", "file-read", json!({"path": "../../etc/passwd"}))));
    eventually("all answered", PATIENCE, || ["w2", "x1", "r1"].iter().all(|id| hub.response(id).is_some())).await;
    let conflict = hub.response("w2").unwrap().into_result().unwrap_err();
    assert_eq!(conflict.code, ErrorCode::Conflict);
    assert_eq!(conflict.details.unwrap()["current_hash"], content_hash(b"# Edited remotely\n"));
    assert_eq!(std::fs::read(bridge.root.join(rel)).unwrap(), b"# Edited remotely\n");
    assert_eq!(hub.response("x1").unwrap().into_result().unwrap_err().code, ErrorCode::Invalid);
    assert_eq!(hub.response("r1").unwrap().into_result().unwrap_err().code, ErrorCode::ForbiddenPath);

    let audit = std::fs::read_to_string(bridge.paths.audit_log()).unwrap();
    let outcomes: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, vec!["ok", "conflict"]);
    let names: Vec<String> = std::fs::read_dir(bridge.root.join("specs/001-feature"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["README.md"], "no temp files left");
    engine.shutdown(PATIENCE).await.unwrap();
}

/// Regression: after a 35 s network stall a PUT answered 504 was applied ~3 s
/// later, because the bridge counted the deadline from the late arrival.
#[tokio::test]
async fn a_command_that_arrives_after_its_deadline_is_never_applied() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    let mut late = command("late1", "file-write", json!({"path": "specs/late.md", "content": "x"}));
    if let Message::Command(c) = &mut late {
        // Sent with a 5 s budget, but on the hub's clock it expired a second ago.
        c.expires_at_ms = Some(now_ms() - 1_000);
    }
    hub.push(Push::Message(late));
    eventually("late1 answered", PATIENCE, || hub.response("late1").is_some()).await;
    let error = hub.response("late1").unwrap().into_result().unwrap_err();
    assert_eq!(error.code, ErrorCode::Timeout);
    assert_eq!(error.details.unwrap()["applied"], false);
    assert!(!bridge.root.join("specs/late.md").exists());
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_replayed_command_id_is_applied_once_even_across_a_bridge_restart() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    let create = || command("once1", "file-write", json!({"path": "specs/once.md", "content": "first"}));
    hub.push(Push::Message(create()));
    eventually("once1 answered", PATIENCE, || hub.response("once1").is_some()).await;
    let first = hub.response("once1").unwrap();
    assert!(first.error.is_none(), "{first:?}");
    engine.shutdown(PATIENCE).await.unwrap();

    // The owner edits the file; then the hub, unsure whether its command ran,
    // sends the same id again to a restarted bridge.
    std::fs::write(bridge.root.join("specs/once.md"), "edited locally").unwrap();
    hub.forget_responses();
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    hub.push(Push::Message(create()));
    eventually("once1 answered again", PATIENCE, || hub.response("once1").is_some()).await;
    assert_eq!(hub.response("once1").unwrap(), first, "the recorded answer, not a second run");
    assert_eq!(std::fs::read_to_string(bridge.root.join("specs/once.md")).unwrap(), "edited locally");
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_401_stops_retrying_until_retry_now() {
    let hub = TestHub::start(Mode::Reject401).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    wait_link(&engine, |l| matches!(l, LinkState::Unauthorized)).await;
    let error = engine.status().await.unwrap().last_error.unwrap_or_default();
    assert!(error.contains("401") && error.contains("specbridge login"), "unclear error: {error}");
    // With a 50 ms backoff base a retrying bridge would knock dozens of times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hub.with(|s| s.upgrade_attempts), 1);

    engine.retry_now();
    eventually("one more attempt", PATIENCE, || hub.with(|s| s.upgrade_attempts) == 2).await;
    wait_link(&engine, |l| matches!(l, LinkState::Unauthorized)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hub.with(|s| s.upgrade_attempts), 2);
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_zstd_bomb_from_the_hub_is_refused_and_the_bridge_reconnects() {
    let hub = TestHub::start(Mode::BombFirstSession).await;
    let bridge = Bridge::new(&hub.url(), 2);
    let engine = bridge.start(fast()).await;
    eventually("second session", PATIENCE, || hub.with(|s| s.sessions) >= 2).await;
    connected(&engine).await;
    let errors = hub.with(|s| s.bridge_errors.clone());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, ErrorCode::TooLarge);
    assert!(errors[0].hint.is_some());
    eventually("sync completes after the reconnect", PATIENCE, || hub.paths("app").len() == 2).await;
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn going_away_reconnects_within_a_second() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    // Production backoff: the first retry after a good session is within 0.5 s.
    let engine = bridge.start(Timing::default()).await;
    connected(&engine).await;
    let kicked = Instant::now();
    hub.push(Push::Raw(going_away()));
    eventually("back", Duration::from_secs(1), || hub.with(|s| s.sessions) == 2).await;
    println!("reconnected {:?} after going-away", kicked.elapsed());
    connected(&engine).await;
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn backoff_reset_after_a_hub_crash_without_close_frame() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    // Production backoff (0.5 s base, 30 s cap). Before the fix a crash (no
    // close frame) counted as a protocol error and skipped the reset, so the
    // eighth crash in a row waited up to 30 s.
    let engine = bridge.start(Timing::default()).await;
    connected(&engine).await;
    let mut delays = Vec::new();
    for crash in 1..=8 {
        let kicked = Instant::now();
        hub.push(Push::Crash);
        eventually("back after the crash", Duration::from_secs(3), || hub.with(|s| s.sessions) == crash + 1).await;
        connected(&engine).await;
        delays.push(kicked.elapsed());
    }
    println!("reconnect delays after eight crashes in a row: {delays:?}");
    assert!(delays.iter().all(|d| *d < Duration::from_secs(3)), "{delays:?}");
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_silent_hub_is_detected_by_the_heartbeat() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let timing =
        Timing { ping_interval: Duration::from_millis(200), pong_timeout: Duration::from_millis(300), ..fast() };
    let engine = bridge.start(timing).await;
    connected(&engine).await;
    eventually("synced", PATIENCE, || hub.paths("app").len() == 1).await;
    hub.push(Push::Freeze);
    eventually("reconnected after a missed pong", PATIENCE, || hub.with(|s| s.sessions) >= 2).await;
    connected(&engine).await;
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_hub_that_lost_its_copy_gets_it_back_through_digest_sync() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 4);
    // A file larger than one chunk, to exercise chunking on the way.
    let big: String = (0..30_000).map(|n| format!("line {n}\n")).collect();
    write(&bridge.root, "specs/005-big/README.md", &big);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("initial sync", PATIENCE, || hub.paths("app").len() == 5).await;
    assert!(
        hub.with(|s| s.received.iter().filter(|(_, m)| matches!(m, Message::FileUpsert(u) if !u.last)).count()) >= 1
    );
    assert_eq!(hub.file("app", "specs/005-big/README.md").unwrap(), big.as_bytes());

    // The hub loses files (and holds one the bridge never had), keeps its seq.
    hub.with(|s| {
        s.files.retain(|(_, path), _| path.starts_with("specs/001"));
        s.files.insert(("app".into(), "specs/999-ghost/README.md".into()), b"ghost".to_vec());
    });
    hub.push(Push::Raw(going_away()));
    eventually("restored", PATIENCE, || {
        hub.paths("app").len() == 5 && hub.file("app", "specs/999-ghost/README.md").is_none()
    })
    .await;
    // The bridge only resent what the hub lacked.
    let last = hub.with(|s| s.sessions);
    assert_eq!(hub.count(last, "manifest"), 1);
    eventually("wanted files sent", PATIENCE, || hub.count(last, "file-upsert") >= 4).await;
    assert!(hub.count(last, "file-upsert") < 20, "only wanted files (and chunks) are sent");
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_file_larger_than_the_in_flight_window_still_syncs() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    // 6 MiB: more chunks than the 4 MiB window, and the hub acks only whole files.
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    write(&bridge.root, "specs/002-blob/data.bin", &big);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("big file stored", PATIENCE, || hub.file("app", "specs/002-blob/data.bin").is_some_and(|b| b == big))
        .await;
    eventually("everything acked", PATIENCE, || hub.paths("app").len() == 2).await;
    engine.shutdown(PATIENCE).await.unwrap();
}
