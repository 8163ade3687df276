//! The engine across restarts: offline edits, the persisted outbox, a cheap
//! reconnect when nothing changed, and the status file.

use crate::hub::{eventually, Mode, TestHub};
use crate::{connected, fast, write, Bridge, PATIENCE};
use specbridge_bridge::outbox::Outbox;
use specbridge_bridge::{read_status, Config, Engine, EngineError, EngineOptions, LinkState, Token};

#[tokio::test]
async fn edits_while_stopped_and_while_offline_are_delivered() {
    // A hub address that refuses connections: the bridge is offline.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut bridge = Bridge::new(&dead_url, 2);
    let engine = bridge.start(fast()).await;
    write(&bridge.root, "specs/003-offline/README.md", "# while offline\n");
    let deadline = std::time::Instant::now() + PATIENCE;
    while engine.status().await.unwrap().queue_depth < 3 {
        assert!(std::time::Instant::now() < deadline, "the live edit was not queued");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(matches!(engine.status().await.unwrap().link, LinkState::Offline { .. } | LinkState::Connecting));
    engine.shutdown(PATIENCE).await.unwrap();

    // The outbox is on disk; more edits happen while stopped.
    let outbox = Outbox::load(&bridge.paths.outbox_file()).unwrap();
    assert_eq!(outbox.len(), 3);
    write(&bridge.root, "specs/001-feature/README.md", "# changed while stopped\n");
    std::fs::remove_file(bridge.root.join("specs/002-feature/README.md")).unwrap();

    let hub = TestHub::start(Mode::Normal).await;
    bridge.config.hub = Some(specbridge_bridge::HubSettings { url: hub.url() });
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("everything delivered", PATIENCE, || {
        hub.paths("app") == vec!["specs/001-feature/README.md".to_owned(), "specs/003-offline/README.md".to_owned()]
    })
    .await;
    assert_eq!(hub.file("app", "specs/001-feature/README.md").unwrap(), b"# changed while stopped\n");
    // Coalescing: one event per path, so the deleted file never travelled.
    assert_eq!(hub.count(1, "file-upsert"), 2);
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn a_restart_with_nothing_changed_costs_a_digest() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 20);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("initial sync", PATIENCE, || hub.paths("app").len() == 20).await;
    eventually("acked", PATIENCE, || hub.count(1, "digest") == 1).await;
    // The acks of the initial upload may still be in flight under load: a stop
    // before they land leaves events in the outbox, which the restart would
    // (rightly) resend. Wait for the outbox to drain, then stop.
    let status = engine.status_watch();
    eventually("outbox drained", PATIENCE, || status.borrow().queue_depth == 0).await;
    engine.shutdown(PATIENCE).await.unwrap();

    let before = hub.with(|s| s.wire_bytes);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    eventually("digest", PATIENCE, || hub.count(2, "digest") == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(hub.count(2, "file-upsert"), 0);
    assert_eq!(hub.count(2, "manifest"), 0);
    let cost = hub.with(|s| s.wire_bytes) - before;
    assert!(cost < 1024, "a reconnect with nothing changed sent {cost} bytes");
    engine.shutdown(PATIENCE).await.unwrap();
}

#[tokio::test]
async fn status_file_follows_the_engine() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    let mut report = None;
    eventually("status.json says connected", PATIENCE, || {
        report = read_status(&bridge.paths).unwrap();
        report.as_ref().is_some_and(|r| r.running && r.status.link == LinkState::Connected)
    })
    .await;
    let report = report.unwrap();
    assert_eq!(report.pid, std::process::id());
    assert_eq!(report.status.hub_url, hub.url());
    assert_eq!(report.status.projects[0].id, "app");
    assert_eq!(report.status.projects[0].layout.to_string(), "leanspec");

    let clone = engine.clone();
    engine.shutdown(PATIENCE).await.unwrap();
    let report = read_status(&bridge.paths).unwrap().unwrap();
    assert!(!report.running);
    assert_eq!(report.status.link, LinkState::Stopped);
    assert_eq!(clone.status().await.unwrap().link, LinkState::Stopped);
}

#[tokio::test]
async fn bad_options_are_clear_errors() {
    let bridge = Bridge::new("http://127.0.0.1:9", 1);
    let mut config: Config = bridge.config.clone();
    config.hub = None;
    let start = |config: Config| {
        Engine::start(EngineOptions {
            paths: bridge.paths.clone(),
            config,
            token: Token::new("t".into()),
            timing: fast(),
        })
    };
    let error = start(config.clone()).await.unwrap_err();
    assert!(matches!(error, EngineError::NoHub) && error.to_string().contains("specbridge login"));
    config.hub = Some(specbridge_bridge::HubSettings { url: "ftp://hub".into() });
    assert!(matches!(start(config).await.unwrap_err(), EngineError::InvalidHubUrl { .. }));
}

/// Regression: the audit log, the outbox and the index files were 0644.
#[cfg(unix)]
#[tokio::test]
async fn the_bridges_data_files_are_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 2);
    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    let write = crate::link_command("p1", "file-write", serde_json::json!({"path": "specs/new.md", "content": "x"}));
    hub.push(crate::hub::Push::Message(write));
    eventually("the write is answered", PATIENCE, || hub.response("p1").is_some()).await;
    engine.shutdown(PATIENCE).await.unwrap();
    let mut stack = vec![bridge.paths.state_dir.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                assert_eq!(mode, 0o600, "{}", entry.path().display());
            }
        }
    }
    assert!(files >= 5, "audit, outbox, index, status, command journal: {files}");
    let state = std::fs::metadata(&bridge.paths.state_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(state, 0o700);
}

/// Regression: the engine served a project whose shared root held its own home.
#[tokio::test]
async fn the_engine_refuses_to_share_its_own_home() {
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    let mut config = bridge.config.clone();
    // Share the folder that holds the bridge's home, whole.
    config.add_project(bridge.dir.path(), Some("everything".into())).unwrap();
    config.projects.last_mut().unwrap().roots = Some(vec![".".into()]);
    let started = Engine::start(EngineOptions {
        paths: bridge.paths.clone(),
        config,
        token: Token::new(crate::TOKEN.into()),
        timing: fast(),
    })
    .await;
    let Err(EngineError::Config(error)) = started else { panic!("the engine must refuse to start") };
    assert!(error.to_string().contains("SPECBRIDGE_HOME"), "{error}");
    assert_eq!(hub.with(|s| s.hellos.len()), 0, "nothing was served");
}

#[tokio::test]
async fn temp_files_left_by_a_killed_bridge_are_swept_at_start() {
    use std::time::{Duration, SystemTime};
    let hub = TestHub::start(Mode::Normal).await;
    let bridge = Bridge::new(&hub.url(), 1);
    // What `kill -9` between a temp file's creation and its rename leaves:
    // names exactly as the bridge makes them, from a minute ago.
    let old = SystemTime::now() - Duration::from_secs(60);
    let age = |path: &std::path::Path| {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    };
    let ours = [
        bridge.root.join("specs/001-feature/.README.md.0123456789abcdef.specbridge-tmp"),
        bridge.root.join("specs/.new.md.fedcba9876543210.specbridge-tmp"),
        bridge.paths.state_dir.join(".outbox.json.00000000deadbeef.specbridge-tmp"),
    ];
    // Not ours, or not where we write: left alone.
    let others = [
        bridge.root.join("specs/001-feature/.notes.md.specbridge-tmp"),
        bridge.root.join("specs/001-feature/notes.specbridge-tmp"),
        bridge.root.join("docs/.README.md.0123456789abcdef.specbridge-tmp"),
    ];
    std::fs::create_dir_all(&bridge.paths.state_dir).unwrap();
    for path in ours.iter().chain(&others) {
        write(path.parent().unwrap(), path.file_name().unwrap().to_str().unwrap(), "half a file");
        age(path);
    }
    // A symlink with our name, pointing at a file of the user's outside the roots.
    let precious = bridge.root.join("precious.md");
    std::fs::write(&precious, "keep").unwrap();
    let link = bridge.root.join("specs/.x.md.0123456789abcdef.specbridge-tmp");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    // A fresh one may belong to a writer at work right now: it goes once old enough.
    let young = bridge.root.join("specs/.y.md.aaaaaaaaaaaaaaaa.specbridge-tmp");
    write(&bridge.root, "specs/.y.md.aaaaaaaaaaaaaaaa.specbridge-tmp", "in progress");

    let engine = bridge.start(fast()).await;
    connected(&engine).await;
    for path in &ours {
        assert!(!path.exists(), "{} was not swept", path.display());
    }
    for path in &others {
        assert!(path.exists(), "{} must stay", path.display());
    }
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
    #[cfg(unix)]
    assert!(link.symlink_metadata().is_ok(), "a symlink is never removed or followed");
    assert!(young.exists(), "a temp file younger than 5 s is left for now");
    eventually("the young temp file swept once old enough", Duration::from_secs(10), || !young.exists()).await;
    // No temp file ever reached the hub (a plain file that merely ends like one is the user's).
    assert_eq!(
        hub.paths("app"),
        vec!["specs/001-feature/README.md".to_owned(), "specs/001-feature/notes.specbridge-tmp".to_owned()]
    );
    engine.shutdown(PATIENCE).await.unwrap();
}
