//! What a host (the tray app) drives beyond start and stop: paused projects,
//! reconnecting at once after a wake or a network change, and the status watch.

use crate::hub::{eventually, Mode, Push, TestHub};
use crate::{connected, fast, write, Bridge, PATIENCE};
use serde_json::json;
use specbridge_bridge::{LinkState, Timing};
use specbridge_protocol::{Command, ErrorCode, Message};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_paused_project_stays_listed_at_the_hub_but_is_not_synced_or_served() {
    let hub = TestHub::start(Mode::Normal).await;
    let mut bridge = Bridge::new(&hub.url(), 2);
    let notes = bridge.dir.path().join("notes");
    write(&notes, "todo.md", "# Todo\n");
    bridge.config.add_project(&notes, Some("notes".into())).unwrap().paused = true;
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("the served project synced", PATIENCE, || hub.paths("app").len() == 2).await;

    // Listed in hello, so the hub keeps it (and its last-known files)...
    let listed: Vec<String> = hub.with(|s| s.hellos[0].projects.iter().map(|p| p.id.clone()).collect());
    assert_eq!(listed, ["app", "notes"]);
    // ...but nothing of it is sent, digested, watched or written.
    eventually("digest sent", PATIENCE, || hub.count(1, "digest") == 1).await;
    write(&notes, "later.md", "# Later\n");
    hub.push(Push::Message(Message::Command(Command {
        id: "w1".into(),
        project: "notes".into(),
        deadline_ms: 5_000,
        expires_at_ms: None,
        name: "file-write".into(),
        args: json!({"path": "remote.md", "content": {"encoding": "utf8", "data": "x"}}),
    })));
    eventually("the write is answered", PATIENCE, || hub.response("w1").is_some()).await;
    let answer = hub.response("w1").unwrap();
    assert_eq!(answer.error.map(|e| e.code), Some(ErrorCode::NotFound));
    assert!(!notes.join("remote.md").exists());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(hub.paths("notes").is_empty());
    assert_eq!(engine.status().await.unwrap().projects.len(), 1);
    engine.shutdown(PATIENCE).await.unwrap();

    // Resumed: the files made while paused arrive.
    bridge.config.projects[1].paused = false;
    let engine = bridge.start(fast()).await;
    eventually("the resumed project synced", PATIENCE, || hub.paths("notes").len() == 2).await;
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn reconnect_now_redials_a_live_session_at_once() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    // Production timers: a 30 s heartbeat would take up to 40 s to notice a
    // socket that died while the machine slept.
    let engine = bridge.start(Timing::default()).await;
    connected(&engine).await;
    eventually("synced", PATIENCE, || hub.paths("app").len() == 1).await;
    let asked = Instant::now();
    engine.reconnect_now();
    eventually("a second session", Duration::from_secs(2), || hub.with(|s| s.sessions) == 2).await;
    println!("redialled {:?} after reconnect_now", asked.elapsed());
    connected(&engine).await;
    // Nothing changed, so the new session costs a digest, not a re-upload.
    eventually("digest in the new session", PATIENCE, || hub.count(2, "digest") == 1).await;
    assert_eq!(hub.count(2, "file-upsert"), 0);
    // The request leaves nothing behind that would end a later session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hub.with(|s| s.sessions), 2);
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn the_status_watch_wakes_on_link_changes() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    let mut status = engine.status_watch();
    let seen = tokio::time::timeout(PATIENCE, async {
        loop {
            if status.borrow_and_update().link == LinkState::Connected {
                return;
            }
            status.changed().await.unwrap();
        }
    })
    .await;
    assert!(seen.is_ok(), "the watch never showed the session");
    engine.clone().shutdown(PATIENCE).await.unwrap();
    assert_eq!(status.borrow().link, LinkState::Stopped);
}
