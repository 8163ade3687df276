//! End-to-end: a real hub and real bridge engines over a real WebSocket on
//! loopback, real temp folders and a real SQLite file.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use std::time::Duration;
use support::*;
use tempfile::TempDir;

const P: &str = "app";

fn files_url(machine: &str, path: &str) -> String {
    format!("/v1/machines/{machine}/projects/{P}/files/{path}")
}

/// A hub, one project folder and one connected bridge.
struct World {
    _dir: TempDir,
    root: std::path::PathBuf,
    hub: TestHub,
    home: BridgeHome,
    engine: specbridge_bridge::EngineHandle,
}

impl World {
    async fn new(specs: usize) -> Self {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("project");
        leanspec_project(&root, specs);
        let hub = TestHub::start(&dir.path().join("hub"), None).await;
        let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
        let engine = home.start(&hub.machine_token).await;
        connected(&engine).await;
        let world = Self { _dir: dir, root, hub, home, engine };
        world.converged().await;
        world
    }

    fn machine(&self) -> String {
        self.home.machine_id()
    }

    /// Waits until the hub's listing equals the folder's files.
    async fn converged(&self) {
        let machine = self.machine();
        let expected = local_listing(&self.root);
        eventually("hub listing matches the folder", || async { self.hub.listing(&machine, P).await == expected })
            .await;
    }
}

fn local_listing(root: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("specs")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, hash(&std::fs::read(&path).unwrap())));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn initial_sync_puts_every_file_on_the_hub() {
    let world = World::new(5).await;
    let machine = world.machine();
    let readme = "specs/003-feature-3/README.md";
    let stored = world.hub.file(&machine, P, readme).await.unwrap();
    assert_eq!(stored, std::fs::read(world.root.join(readme)).unwrap());

    let machines = world.hub.get("/v1/machines").await.json();
    let me = machines.as_array().unwrap().iter().find(|m| m["id"] == machine.as_str()).unwrap();
    assert_eq!(me["online"], true);
    assert_eq!(me["os"], std::env::consts::OS);
    let projects = world.hub.get(&format!("/v1/machines/{machine}/projects")).await.json();
    assert_eq!(projects[0]["id"], P);
    assert_eq!(projects[0]["layout"], "leanspec");
}

#[tokio::test]
async fn local_edit_reaches_the_hub() {
    let world = World::new(3).await;
    let machine = world.machine();
    let rel = "specs/002-feature-2/README.md";
    write(&world.root, rel, "---\nstatus: in-progress\n---\n# Edited locally\n");
    eventually("edit visible at the hub", || async {
        world.hub.file(&machine, P, rel).await.as_deref() == Some(b"---\nstatus: in-progress\n---\n# Edited locally\n")
    })
    .await;

    std::fs::remove_file(world.root.join(rel)).unwrap();
    eventually("delete visible at the hub", || async { world.hub.file(&machine, P, rel).await.is_none() }).await;
}

#[tokio::test]
async fn hub_write_lands_on_disk() {
    let world = World::new(2).await;
    let machine = world.machine();
    let rel = "specs/001-feature-1/README.md";
    let etag = world.hub.get(&files_url(&machine, rel)).await.etag();
    assert_eq!(etag, hash(&std::fs::read(world.root.join(rel)).unwrap()));

    let new = b"---\nstatus: complete\n---\n# Feature 1\n";
    let reply = world.hub.put(&files_url(&machine, rel), &[("If-Match", &format!("\"{etag}\""))], new).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["result"]["hash"], hash(new));
    assert_eq!(std::fs::read(world.root.join(rel)).unwrap(), new);

    // Creating a new file needs no base hash; it lands inside the allowed root.
    let created = "specs/004-new/README.md";
    let reply = world.hub.put(&files_url(&machine, created), &[], b"# New\n").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(std::fs::read(world.root.join(created)).unwrap(), b"# New\n");
    // The hub learns about its own write through the normal sync path.
    world.converged().await;
}

#[tokio::test]
async fn stale_base_hash_is_a_conflict_and_the_file_is_untouched() {
    let world = World::new(2).await;
    let machine = world.machine();
    let rel = "specs/001-feature-1/README.md";
    let seen = world.hub.get(&files_url(&machine, rel)).await.etag();

    // Someone edits the file locally after the remote editor loaded it.
    let local = b"---\nstatus: in-progress\n---\n# Local edit wins\n";
    write(&world.root, rel, local);

    let reply = world.hub.put(&files_url(&machine, rel), &[("If-Match", &seen)], b"remote edit").await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "conflict");
    assert_eq!(error["details"]["current_hash"], hash(local));
    assert_eq!(error["details"]["current_content"]["data"], std::str::from_utf8(local).unwrap());
    assert!(error["hint"].is_string());
    assert_eq!(std::fs::read(world.root.join(rel)).unwrap(), local);

    // Create-only write onto an existing file is a conflict too.
    let reply = world.hub.put(&files_url(&machine, rel), &[], b"clobber").await;
    assert_eq!(reply.status, 409);
    assert_eq!(std::fs::read(world.root.join(rel)).unwrap(), local);
}

#[tokio::test]
async fn path_traversal_and_symlink_escape_are_refused() {
    let world = World::new(1).await;
    let machine = world.machine();
    let outside = world.root.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.md"), "do not touch").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, world.root.join("specs/escape")).unwrap();

    let commands = format!("/v1/machines/{machine}/projects/{P}/commands");
    let mut bad = vec![
        "../outside/secret.md",
        "specs/../../outside/secret.md",
        "/etc/passwd",
        "specs/CON.md",
        "specs/a\u{0}b.md",
        "README.md", // outside the LeanSpec allowed root `specs/`
    ];
    if cfg!(unix) {
        bad.push("specs/escape/secret.md");
    }
    for path in bad {
        for (name, args) in [
            ("file-read", json!({"path": path})),
            ("file-write", json!({"path": path, "content": {"encoding":"utf8","data":"pwned"}})),
        ] {
            let reply = world.hub.post_json(&commands, &json!({"name": name, "args": args})).await;
            assert_eq!(reply.status, 403, "{name} {path:?}: {}", reply.text());
            assert_eq!(reply.json()["error"]["code"], "forbidden_path", "{name} {path:?}");
        }
    }
    assert_eq!(std::fs::read_to_string(outside.join("secret.md")).unwrap(), "do not touch");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "nothing new written outside");
}

#[tokio::test]
async fn after_a_hub_restart_the_bridge_reconnects_and_resends_only_what_changed() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    // Big unchanged files: if they were re-sent, the byte count would show it.
    for i in 1..=4 {
        let body: String = (0..4000).map(|n| format!("line {n} of spec {i} with some words\n")).collect();
        write(&root, &format!("specs/00{i}-big/README.md"), body);
    }
    let hub_data = dir.path().join("hub");
    let hub = TestHub::start(&hub_data, None).await;
    let addr = hub.addr();
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
    let engine = home.start(&hub.machine_token).await;
    connected(&engine).await;
    let machine = home.machine_id();
    eventually("initial sync", || async { hub.listing(&machine, P).await.len() == 4 }).await;

    let TestHub { handle, user_token, .. } = hub;
    handle.shutdown().await.unwrap();
    eventually("bridge notices the hub is gone", || async {
        !matches!(engine.status().await.unwrap().link, specbridge_bridge::LinkState::Connected)
    })
    .await;
    let changed = "specs/002-big/README.md";
    write(&root, changed, "# Rewritten while the hub was down\n");

    let handle = start_hub(&hub_data, Some(addr)).await;
    let hub = TestHub { handle, user_token, machine_token: String::new() };
    eventually("change delivered after restart", || async {
        hub.file(&machine, P, changed).await.as_deref() == Some(b"# Rewritten while the hub was down\n")
    })
    .await;
    connected(&engine).await;
    let stats = hub.handle.stats();
    // One unchanged file is ~160 KB raw; the whole reconnect must cost far less.
    assert!(stats.bridge_bytes_in < 4_000, "reconnect sent {} bytes", stats.bridge_bytes_in);
    assert_eq!(hub.listing(&machine, P).await, local_listing(&root));
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn edits_made_while_the_bridge_was_stopped_are_all_delivered() {
    let world = World::new(4).await;
    let World { _dir, root, hub, home, engine } = world;
    engine.shutdown(Duration::from_secs(5)).await.unwrap();

    write(&root, "specs/001-feature-1/README.md", "# changed offline\n");
    write(&root, "specs/005-added-offline/README.md", "# added offline\n");
    write(&root, "specs/005-added-offline/DESIGN.md", "# design\n");
    std::fs::remove_file(root.join("specs/003-feature-3/README.md")).unwrap();

    let engine = home.start(&hub.machine_token).await;
    let machine = home.machine_id();
    let expected = local_listing(&root);
    eventually("all offline edits delivered", || async { hub.listing(&machine, P).await == expected }).await;
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_bad_token_gives_a_clear_error_and_no_retry_storm() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    leanspec_project(&root, 1);
    let hub = TestHub::start(&dir.path().join("hub"), None).await;
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
    let engine = home.start("sbt_not-a-real-token").await;
    eventually("bridge reports unauthorized", || async {
        matches!(engine.status().await.unwrap().link, specbridge_bridge::LinkState::Unauthorized)
    })
    .await;
    let status = engine.status().await.unwrap();
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains("401") && error.contains("login"), "unclear error: {error}");
    // With a 50 ms backoff base, a retrying bridge would have knocked dozens of times by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hub.handle.stats().bridge_upgrade_attempts, 1);
    assert_eq!(hub.handle.stats().bridge_auth_failures, 1);
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_zstd_bomb_and_an_oversized_frame_do_not_disturb_a_healthy_bridge() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};
    let world = World::new(1).await;
    let machine = world.machine();
    let attacker_token = world.hub.handle.issue_token(specbridge_hub::TokenKind::Machine, "attacker").await.unwrap();
    let url = format!("ws://{}/v1/bridge", world.hub.addr());

    // zstd of 64 MiB of zeros: a few KB on the wire.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &vec![0u8; 1024 * 1024]).unwrap();
    }
    let mut bomb = vec![specbridge_protocol::BINARY_ZSTD_TAG];
    bomb.extend_from_slice(&encoder.finish().unwrap());
    let oversized = "x".repeat(1024 * 1024 + 100);

    for payload in [Ws::Binary(bomb.into()), Ws::Text(oversized.into())] {
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {}", attacker_token.secret.expose()).parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let _ = ws.send(payload).await;
        // The hub answers with an error and/or closes; it must not hang or crash.
        let outcome = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Ws::Close(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "hub did not close the hostile connection");
    }

    assert_eq!(support::http::request(world.hub.addr(), "GET", "/healthz", None, &[], b"").await.status, 200);
    let rel = "specs/001-feature-1/README.md";
    write(&world.root, rel, "# still syncing\n");
    eventually("healthy bridge still syncs", || async {
        world.hub.file(&machine, P, rel).await.as_deref() == Some(b"# still syncing\n")
    })
    .await;
}
