//! Every edit takes one road: a typed bridge command, recorded by the hub,
//! applied by the bridge once. These run a real hub and a real bridge engine
//! over loopback on folders the tests write in the tools' formats.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::specs::{read, write, World, APPROVAL, APPROVAL_ID};
use support::{connected, eventually, http, BridgeHome, TestHub, PATIENCE};
use tempfile::TempDir;

fn workflow_fixture(root: &Path) {
    write(root, ".spec-workflow/specs/auth/design.md", "# Design\n\nTokens.\n");
    write(root, &format!(".spec-workflow/approvals/auth/{APPROVAL_ID}.json"), APPROVAL);
}

/// The files under a project's approvals folder, relative, with their JSON
/// keys (values like ids and times differ run to run; the shape must not).
fn approval_files(root: &Path) -> Vec<(String, Vec<String>)> {
    let base = root.join(".spec-workflow/approvals");
    let mut out = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let keys = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            out.push((path.strip_prefix(&base).unwrap().to_string_lossy().into_owned(), keys));
        }
    }
    out.sort();
    out
}

/// Regression: the dashboard's approval answer was computed at the hub and
/// sent as a plain file write, so it never took spec-workflow's snapshot.
#[tokio::test]
async fn the_dashboard_approval_answer_snapshots_exactly_as_approval_update_does() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    workflow_fixture(&a);
    workflow_fixture(&b);
    let w = World::new(&[("a", a.as_path(), false), ("b", b.as_path(), false)]).await;
    let machine = w.home.machine_id();
    // The dashboard's form of the route, and the spec API's.
    let dashboard = format!("/v1/machines/{machine}/projects/a/approvals/{APPROVAL_ID}/approve");
    let from_dashboard = w.ok("POST", &dashboard, Some(json!({ "response": "ship it" }))).await;
    let api = format!("/api/projects/b/approvals/{APPROVAL_ID}/approve");
    let from_api = w.ok("POST", &api, Some(json!({ "response": "ship it" }))).await;
    assert_eq!(from_dashboard["snapshot_version"], 1);
    assert_eq!(from_dashboard["snapshot_version"], from_api["snapshot_version"]);
    assert_eq!(approval_files(&a), approval_files(&b), "the same files, the same shapes");
    let snapshot = read(&a, ".spec-workflow/approvals/auth/.snapshots/design.md/snapshot-001.json");
    assert!(snapshot.contains("\"trigger\": \"approved\""), "{snapshot}");
    let approval: Value =
        serde_json::from_str(&read(&a, &format!(".spec-workflow/approvals/auth/{APPROVAL_ID}.json"))).unwrap();
    assert_eq!((approval["status"].as_str(), approval["response"].as_str()), (Some("approved"), Some("ship it")));
}

/// Regression: the queue lived in memory, and a hub restart dropped every
/// queued edit (20 of 20 lost) without a log line or a result.
#[tokio::test]
async fn an_edit_queued_for_an_offline_machine_survives_a_hub_restart_and_reaches_the_disk() {
    let dir = TempDir::new().unwrap();
    let project = dir.path().join("lean");
    write(&project, "specs/001-auth/README.md", "---\nstatus: planned\n---\n\n# Auth\n");
    let hub = TestHub::start(&dir.path().join("hub"), None).await;
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[("lean", &project)]);
    let engine = home.start(&hub.machine_token).await;
    connected(&engine).await;
    let machine = home.machine_id();
    let readme = format!("/v1/machines/{machine}/projects/lean/content/specs/001-auth/README.md");
    let base = hub.get(&readme).await.json()["hash"].as_str().unwrap().to_owned();
    engine.shutdown(PATIENCE).await.unwrap();
    eventually("machine offline", || async { !hub.handle.router().is_online(&machine) }).await;

    let body = json!({ "changes": { "status": "in-progress" }, "base_hash": base, "queue": true });
    let url = format!("/v1/machines/{machine}/projects/lean/specs/001-auth/frontmatter");
    let reply = http::request(
        hub.addr(),
        "PATCH",
        &url,
        Some(&hub.user_token),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();

    // The hub restarts on the same port and data; then the machine comes back.
    let (addr, data, user) = (hub.addr(), dir.path().join("hub"), hub.user_token.clone());
    hub.handle.shutdown().await.unwrap();
    let handle = support::start_hub(&data, Some(addr)).await;
    let engine = home.start(&hub.machine_token).await;
    eventually("the queued edit is on disk", || async {
        read(&project, "specs/001-auth/README.md").contains("status: in-progress")
    })
    .await;
    // The file is renamed into place before the answer travels back: wait for it.
    let outcome =
        || async { http::request(addr, "GET", &format!("/v1/commands/{id}"), Some(&user), &[], b"").await.json() };
    eventually("the outcome is recorded", || async { outcome().await["state"] == "applied" }).await;
    assert_eq!(outcome().await["attempts"], 1, "sent once");
    engine.shutdown(PATIENCE).await.unwrap();
    handle.shutdown().await.unwrap();
}
