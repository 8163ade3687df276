//! Full disks, for real: a small tmpfs under the bridge's state folder or the
//! hub's data folder, filled until writes fail with ENOSPC, then freed.

use crate::{quick, small_disk};
use specbridge_bridge::LinkState;
use specbridge_faults::rig::{Rig, RigOptions};
use specbridge_faults::soak::write;
use specbridge_faults::wait_until;
use std::time::Duration;

const DISK: u64 = 2 * 1024 * 1024;

fn audit_ids(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["request_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_state_folder_does_not_stop_the_bridge() {
    let Some(disk) = small_disk(DISK) else { return };
    let state = disk.path().join("state");
    let mut rig = Rig::start(RigOptions { timing: quick(), state_dir: Some(state.clone()), ..RigOptions::default() })
        .await
        .unwrap();
    disk.fill().unwrap();

    // Before the fix the engine exited 1 here (status.json could not be
    // written) and systemd restarted it every 5 s, forever.
    rig.restart_engine().await.unwrap();
    assert!(
        rig.link_is(Duration::from_secs(10), |l| *l == LinkState::Connected).await,
        "the bridge runs on a full disk"
    );
    let problem = wait_until(Duration::from_secs(10), || async {
        rig.engine.status().await.unwrap().state_problem.is_some_and(|p| p.code == "no_space")
    })
    .await;
    assert!(problem, "the status says the state folder is full");

    // It keeps syncing from memory, and a hub write is applied and audited.
    write(&rig.root, "specs/004-new/README.md", "# New while full\n").unwrap();
    assert!(rig.synced(Duration::from_secs(10)).await, "a local edit still reaches the hub");
    let url = format!("/v1/machines/{}/projects/app/files/specs/005-remote/README.md", rig.machine);
    let reply = rig.api.put(&url, &[], b"# From the hub\n").await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert!(audit_ids(&state.join("audit.log")).is_empty(), "the audit line cannot be on disk yet");

    // `specbridge status` (another process) reads status.json: the problem is
    // there too, written in place since no new file fits.
    let report = specbridge_bridge::read_status(&rig.paths).unwrap().unwrap();
    let shown = report.status.state_problem.expect("status.json shows the full state folder");
    assert!(shown.message.contains("is full") && !shown.hint.is_empty(), "{shown:?}");
    assert!(report.running);

    // Space comes back: everything held is written, by itself.
    disk.free().unwrap();
    let recovered =
        wait_until(Duration::from_secs(10), || async { rig.engine.status().await.unwrap().state_problem.is_none() })
            .await;
    assert!(recovered, "the problem clears once space returns");
    assert_eq!(audit_ids(&state.join("audit.log")).len(), 1, "the held audit line was written, once");
    let on_disk = wait_until(Duration::from_secs(5), || async {
        specbridge_bridge::read_status(&rig.paths).unwrap().is_some_and(|r| r.status.state_problem.is_none())
    })
    .await;
    assert!(on_disk, "status.json is current again");
    assert!(state.join("outbox.json").exists() && state.join("projects/app/index.json").exists());
    rig.stop().await;
}

#[tokio::test]
async fn edits_made_while_the_state_folder_is_full_survive_a_restart() {
    let Some(disk) = small_disk(DISK) else { return };
    let state = disk.path().join("state");
    let mut rig =
        Rig::start(RigOptions { timing: quick(), state_dir: Some(state), ..RigOptions::default() }).await.unwrap();
    disk.fill().unwrap();
    // The hub is out of reach: the edit waits in the outbox, which cannot be saved.
    rig.proxy.set(specbridge_faults::proxy::Fault::BlackHole);
    write(&rig.root, "specs/001-feature/README.md", "# Changed while full and offline\n").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.engine.clone().shutdown(Duration::from_secs(5)).await.ok();
    disk.free().unwrap();
    rig.proxy.set(specbridge_faults::proxy::Fault::None);
    // The old outbox and index on disk are whole (atomic writes), so the
    // startup scan finds the edit again.
    rig.restart_engine().await.unwrap();
    assert!(rig.synced(Duration::from_secs(15)).await, "the edit made while full reaches the hub after a restart");
    rig.stop().await;
}

#[tokio::test]
async fn a_full_hub_disk_keeps_reads_working_and_answers_no_space() {
    let Some(disk) = small_disk(8 * 1024 * 1024) else { return };
    let rig =
        Rig::start(RigOptions { timing: quick(), hub_data: Some(disk.path().join("hub")), ..RigOptions::default() })
            .await
            .unwrap();
    let health = rig.api.get("/healthz").await.unwrap();
    assert_eq!(health.json()["status"], "ok");
    disk.fill().unwrap();

    // Reads: the token check's `last_used_ms` write fails and does not matter.
    let started = std::time::Instant::now();
    let machines = rig.api.get("/v1/machines").await.unwrap();
    assert_eq!(machines.status, 200, "{:?}", machines.json());
    assert!(started.elapsed() < Duration::from_secs(3), "reads do not wait for a failing write");
    let url = format!("/v1/machines/{}/projects/app/files/specs/001-feature/README.md", rig.machine);
    assert_eq!(rig.api.get(&url).await.unwrap().status, 200);

    // /healthz reports the degraded store.
    let degraded = wait_until(Duration::from_secs(15), || async {
        rig.api.get("/healthz").await.is_ok_and(|r| r.json()["status"] == "degraded")
    })
    .await;
    assert!(degraded, "healthz must report the full disk");
    let health = rig.api.get("/healthz").await.unwrap().json();
    assert_eq!(health["store"]["status"], "no_space", "{health}");

    // A write to the hub's own store: approving a pairing creates a token.
    let start = specbridge_faults::http::request(
        rig.api.addr,
        "POST",
        "/v1/pair/start",
        None,
        &[("Content-Type", "application/json")],
        br#"{"machine_name":"new laptop","machine_id":"m-new","os":"linux"}"#,
    )
    .await
    .unwrap();
    assert_eq!(start.status, 200, "{:?}", start.json());
    let code = start.json()["user_code"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "user_code": code }).to_string();
    let approve = specbridge_faults::http::request(
        rig.api.addr,
        "POST",
        "/v1/pair/approve",
        Some(&rig.api.token),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(approve.status, 507, "{:?}", approve.json());
    let error = &approve.json()["error"];
    assert_eq!(error["code"], "no_space");
    assert!(error["hint"].as_str().unwrap().contains("free space"), "{error}");

    // A change on the machine cannot be stored: the bridge keeps it.
    write(&rig.root, "specs/002-feature/README.md", "# Changed while the hub is full\n").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Space comes back: healthy again and the change arrives, with no restart.
    disk.free().unwrap();
    let healthy = wait_until(Duration::from_secs(15), || async {
        rig.api.get("/healthz").await.is_ok_and(|r| r.json()["status"] == "ok")
    })
    .await;
    assert!(healthy, "healthz recovers by itself");
    assert!(rig.synced(Duration::from_secs(40)).await, "the change made while the hub was full arrives");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_failed_on_a_full_disk_leave_no_lock_behind() {
    use specbridge_hub::{FileChange, FileRow, TokenKind};
    use specbridge_protocol::{MachineInfo, ProjectInfo};
    let Some(disk) = small_disk(DISK) else { return };
    let store = specbridge_hub::open_store(&disk.path().join("hub"), None).await.unwrap();
    let issued = store.create_token(specbridge_hub::DEFAULT_ACCOUNT, TokenKind::Machine, "m").await.unwrap();
    assert!(store.bind_token(&issued.id, "m1").await.unwrap());
    let token = issued.secret.expose().to_owned();
    let principal = store.authenticate(&token, TokenKind::Machine).await.unwrap().unwrap();
    let machine = MachineInfo {
        id: "m1".into(),
        name: "n".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        app_version: "t".into(),
    };
    let projects = vec![ProjectInfo {
        id: "app".into(),
        name: "app".into(),
        layout: specbridge_protocol::Layout::Generic,
        read_only: false,
    }];
    store.machine_connected(&principal, &machine, &projects, 1).await.unwrap();
    let change = || FileChange::Upsert {
        project: "app".into(),
        row: FileRow { path: "a.md".into(), hash: "h".into(), size: 100_000, mtime_ms: 1 },
        content: vec![b'x'; 100_000],
    };
    disk.fill().unwrap();
    // Sessions, token checks and uploads at once, all failing for want of
    // space. Before the fix a failed commit left a connection in a
    // transaction that never ended: every write after it waited 5 s for the
    // lock and failed, space or no space.
    // A small write may still succeed in pages SQLite already holds (its WAL
    // is reused from the start after a checkpoint), so a write may pass or
    // fail with `no_space`, never anything else; enough of them must fail for
    // the test to mean something.
    let mut tasks = Vec::new();
    for n in 0..3 {
        let (store, machine, projects, token) = (store.clone(), machine.clone(), projects.clone(), token.clone());
        let principal = principal.clone();
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for _ in 0..5 {
                let written = match n {
                    0 => store.machine_connected(&principal, &machine, &projects, 2).await.map(|_| ()),
                    1 => {
                        assert!(store.authenticate(&token, TokenKind::Machine).await.unwrap().is_some(), "reads work");
                        continue;
                    }
                    _ => store.apply_changes("m1", vec![change()], 5).await.map(|_| ()),
                };
                if let Err(error) = written {
                    assert!(error.is_no_space(), "{error}");
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for task in tasks {
        refused += task.await.unwrap();
    }
    assert!(refused >= 5, "only {refused} writes failed on a full disk");
    disk.free().unwrap();
    for _ in 0..4 {
        store.probe_write().await.expect("a write after space came back");
    }
    store.apply_changes("m1", vec![change()], 5).await.expect("the upload that failed goes through now");
    assert_eq!(store.list_files("m1", "app").await.unwrap().len(), 1);
    store.close().await;
}
