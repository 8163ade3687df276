//! End-to-end for the spec commands: a real hub and a real bridge engine over
//! loopback, on LeanSpec and spec-workflow projects the test writes itself in
//! the real formats, every command driven through the hub's `/api/projects`
//! REST routes.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::eventually;
use support::specs::{audit_lines, read, snapshot_tree, write, World, APPROVAL};
use tempfile::TempDir;

const LEAN_README: &str = "---\nstatus: planned\ncreated: 2025-11-02\npriority: high\ntags:\n- auth\n- api\n\
depends_on: []\ncreated_at: 2025-11-20T05:50:48.128Z\nupdated_at: 2025-11-20T05:50:48.128Z\n---\n\n\
# Auth login\n\n## Plan\n\n- [x] Design the token\n- [ ] Write the handler\n";

const TASKS: &str = "# Tasks Document\n\n- [x] 1. Create the model\n  - File: src/model.rs\n  \
- _Requirements: 1.1_\n\n- [ ] 2. Add the handler\n  - _Requirements: 1.2, 2.1_\n  - _Prompt: Role: dev_\n\n\
- [-] 3. Wire the route\n";

fn lean_fixture(root: &Path) {
    write(root, "specs/001-auth-login/README.md", LEAN_README);
    write(root, "specs/001-auth-login/DESIGN.md", "# Design\n");
    write(root, "specs/002-billing/README.md", &LEAN_README.replace("Auth login", "Billing"));
}

fn workflow_fixture(root: &Path) {
    let w = ".spec-workflow";
    write(root, &format!("{w}/specs/auth/requirements.md"), "# Requirements\n\n1.1 Users log in\n");
    write(root, &format!("{w}/specs/auth/design.md"), "# Design\n\nTokens.\n");
    write(root, &format!("{w}/specs/auth/tasks.md"), TASKS);
    write(root, &format!("{w}/specs/old/requirements.md"), "# Old\n");
    write(root, &format!("{w}/steering/product.md"), "# Product\n");
    write(root, &format!("{w}/approvals/auth/approval_1758791041823_q1uuiwwpp.json"), APPROVAL);
}

#[tokio::test]
async fn every_spec_command_runs_through_a_real_hub_and_bridge() {
    let dir = TempDir::new().unwrap();
    let (lean, flow, ro) = (dir.path().join("lean"), dir.path().join("flow"), dir.path().join("ro"));
    lean_fixture(&lean);
    workflow_fixture(&flow);
    workflow_fixture(&ro);
    let projects = [("lean", lean.as_path(), false), ("flow", flow.as_path(), false), ("ro", ro.as_path(), true)];
    let w = std::sync::Arc::new(World::new(&projects).await);

    // Projects with their layouts.
    let projects = w.ok("GET", "/api/projects", None).await;
    let layout = |id: &str| projects.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["layout"].clone();
    assert_eq!(layout("lean"), "leanspec");
    assert_eq!(layout("flow"), "spec-workflow");
    assert_eq!(projects[0]["online"], true);
    assert_eq!(projects[0]["machine_id"], w.home.machine_id());
    let info = w.ok("GET", "/api/projects/flow", None).await;
    assert_eq!((info["specs"].clone(), info["pending_approvals"].clone()), (json!(2), json!(1)));

    // ---- LeanSpec ----
    let specs = w.ok("GET", "/api/projects/lean/specs", None).await;
    assert_eq!(specs.as_array().unwrap().len(), 2);
    let auth = &specs[0];
    assert_eq!(auth["name"], "001-auth-login");
    assert_eq!(auth["title"], "Auth login");
    assert_eq!(auth["status"], "planned");
    assert_eq!(auth["tags"], json!(["auth", "api"]));
    assert_eq!(auth["documents"], json!(["DESIGN.md", "README.md"]));
    assert_eq!(auth["task_progress"], json!({"total": 2, "done": 1, "in_progress": 0, "pending": 1, "blocked": 0}));
    let readme = w.ok("GET", "/api/projects/lean/specs/001-auth-login", None).await;
    assert_eq!(readme["content"], LEAN_README);
    let doc = w.ok("GET", "/api/projects/lean/specs/001/design", None).await;
    assert_eq!(doc["content"], "# Design\n");

    // update-frontmatter: only the status line changes, plus the automatic keys.
    let patch = json!({ "changes": { "status": "in-progress" }, "base_hash": readme["hash"] });
    w.ok("PATCH", "/api/projects/lean/specs/001-auth-login/frontmatter", Some(patch.clone())).await;
    let after = read(&lean, "specs/001-auth-login/README.md");
    assert!(after.starts_with("---\nstatus: in-progress\ncreated: 2025-11-02\npriority: high\ntags:\n- auth\n"));
    assert!(after.contains("transitions:\n- status: in-progress\n  at: "), "{after}");
    assert!(after.ends_with("---\n\n# Auth login\n\n## Plan\n\n- [x] Design the token\n- [ ] Write the handler\n"));
    // The same patch again carries a stale hash: conflict with the current content.
    let (status, body) = w.call("PATCH", "/api/projects/lean/specs/001-auth-login/frontmatter", Some(patch)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["details"]["current_content"]["data"], after);
    assert_eq!(body["error"]["details"]["current_hash"], blake3::hash(after.as_bytes()).to_hex().to_string());

    // update-content keeps the frontmatter.
    let body_text = "\n# Auth login\n\nRewritten.\n";
    w.ok("PUT", "/api/projects/lean/specs/001-auth-login/content", Some(json!({ "content": body_text }))).await;
    let after_content = read(&lean, "specs/001-auth-login/README.md");
    assert!(after_content.ends_with("---\n\n# Auth login\n\nRewritten.\n"), "{after_content}");
    assert!(after_content.starts_with("---\nstatus: in-progress\n"));

    // Documents: a create, then a write with the right and with a stale hash.
    let put = json!({ "content": "# Test plan\n" });
    let created = w.ok("PUT", "/api/projects/lean/specs/001-auth-login/TEST.md", Some(put)).await;
    assert_eq!(read(&lean, "specs/001-auth-login/TEST.md"), "# Test plan\n");
    let put = json!({ "content": "# Test plan v2\n", "base_hash": created["hash"] });
    w.ok("PUT", "/api/projects/lean/specs/001-auth-login/TEST.md", Some(put.clone())).await;
    let (status, _) = w.call("PUT", "/api/projects/lean/specs/001-auth-login/TEST.md", Some(put)).await;
    assert_eq!(status, 409);

    // Archive and unarchive: status only, the folder stays.
    w.ok("POST", "/api/projects/lean/specs/002-billing/archive", None).await;
    assert!(read(&lean, "specs/002-billing/README.md").starts_with("---\nstatus: archived\n"));
    let archived = w.ok("GET", "/api/projects/lean/archive/specs", None).await;
    assert_eq!(archived[0]["name"], "002-billing");
    assert_eq!(w.ok("GET", "/api/projects/lean/specs", None).await.as_array().unwrap().len(), 1);
    w.ok("GET", "/api/projects/lean/archive/specs/002-billing", None).await;
    w.ok("POST", "/api/projects/lean/specs/002-billing/unarchive", None).await;
    assert!(read(&lean, "specs/002-billing/README.md").starts_with("---\nstatus: complete\n"));

    // create-spec picks the next number.
    let new =
        w.ok("POST", "/api/projects/lean/specs", Some(json!({ "title": "Offline queue", "tags": ["sync"] }))).await;
    assert_eq!(new["name"], "003-offline-queue");
    let text = read(&lean, "specs/003-offline-queue/README.md");
    assert!(text.starts_with("---\nstatus: planned\n"), "{text}");
    let progress = w.ok("GET", "/api/projects/lean/specs/001-auth-login/progress", None).await;
    assert_eq!(progress["progress"]["total"], 0, "the body was rewritten without a checklist");

    // ---- spec-workflow ----
    let specs = w.ok("GET", "/api/projects/flow/specs", None).await;
    let auth = specs.as_array().unwrap().iter().find(|s| s["name"] == "auth").unwrap();
    assert_eq!(auth["task_progress"], json!({"total": 3, "done": 1, "in_progress": 1, "pending": 1, "blocked": 0}));
    assert_eq!(auth["status"], "implementing", "spec-workflow's spec-status word");
    assert_eq!(auth["documents"], json!(["requirements", "design", "tasks"]));
    let spec = w.ok("GET", "/api/projects/flow/specs/auth", None).await;
    assert_eq!(spec["documents"].as_array().unwrap().len(), 3);
    let tasks = w.ok("GET", "/api/projects/flow/specs/auth/tasks", None).await;
    assert_eq!(tasks["content"], TASKS);
    let progress = w.ok("GET", "/api/projects/flow/specs/auth/progress", None).await;
    assert_eq!(progress["tasks"][1]["id"], "2");

    // Tick task 2: one byte changes.
    let ticked =
        w.ok("PUT", "/api/projects/flow/specs/auth/tasks/2/status", Some(json!({ "status": "completed" }))).await;
    assert_eq!(ticked["progress"]["done"], 2);
    assert_eq!(read(&flow, ".spec-workflow/specs/auth/tasks.md"), TASKS.replace("- [ ] 2.", "- [x] 2."));
    let (status, body) =
        w.call("PUT", "/api/projects/flow/specs/auth/tasks/9/status", Some(json!({ "status": "completed" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    w.ok("PUT", "/api/projects/flow/specs/auth/tasks/3/status", Some(json!({ "status": "blocked" }))).await;
    assert!(read(&flow, ".spec-workflow/specs/auth/tasks.md").contains("- [~] 3. Wire the route"));

    // spec-document-write.
    let design = w.ok("GET", "/api/projects/flow/specs/auth/design", None).await;
    let put = json!({ "content": "# Design\n\nTokens, rotated.\n", "base_hash": design["hash"] });
    w.ok("PUT", "/api/projects/flow/specs/auth/design", Some(put)).await;
    assert_eq!(read(&flow, ".spec-workflow/specs/auth/design.md"), "# Design\n\nTokens, rotated.\n");

    // Steering.
    let steering = w.ok("GET", "/api/projects/flow/steering", None).await;
    assert_eq!(steering.as_array().unwrap().len(), 3);
    let product = w.ok("GET", "/api/projects/flow/steering/product", None).await;
    assert_eq!(product["content"], "# Product\n");
    w.ok("PUT", "/api/projects/flow/steering/tech", Some(json!({ "content": "# Tech\n" }))).await;
    assert_eq!(read(&flow, ".spec-workflow/steering/tech.md"), "# Tech\n");
    let (status, _) = w.call("GET", "/api/projects/flow/steering/secrets", None).await;
    assert_eq!(status, 400);

    // Approvals: list, get, content, approve with a response, snapshots, diff.
    let id = "approval_1758791041823_q1uuiwwpp";
    let list = w.ok("GET", "/api/projects/flow/approvals?status=pending", None).await;
    assert_eq!(list[0]["id"], id);
    w.ok("GET", &format!("/api/projects/flow/approvals/{id}"), None).await;
    let content = w.ok("GET", &format!("/api/projects/flow/approvals/{id}/content"), None).await;
    assert_eq!(content["content"], "# Design\n\nTokens, rotated.\n");
    let approved =
        w.ok("POST", &format!("/api/projects/flow/approvals/{id}/approve"), Some(json!({ "response": "LGTM" }))).await;
    assert_eq!((approved["status"].as_str(), approved["snapshot_version"].as_u64()), (Some("approved"), Some(1)));
    let file = read(&flow, &format!(".spec-workflow/approvals/auth/{id}.json"));
    let on_disk: Value = serde_json::from_str(&file).unwrap();
    assert_eq!((on_disk["status"].as_str(), on_disk["response"].as_str()), (Some("approved"), Some("LGTM")));
    assert!(file.starts_with("{\n  \"id\": \"approval_1758791041823_q1uuiwwpp\",\n  \"title\""), "{file}");
    let (status, body) =
        w.call("POST", &format!("/api/projects/flow/approvals/{id}/reject"), Some(json!({ "response": "no" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "answered approvals stay answered");
    let snapshots = w.ok("GET", &format!("/api/projects/flow/approvals/{id}/snapshots"), None).await;
    assert_eq!(snapshots["snapshots"][0]["trigger"], "approved");
    let snap = w.ok("GET", &format!("/api/projects/flow/approvals/{id}/snapshots/1"), None).await;
    assert_eq!(snap["content"], "# Design\n\nTokens, rotated.\n");
    write(&flow, ".spec-workflow/specs/auth/design.md", "# Design\n\nTokens, rotated daily.\n");
    let manual = w.ok("POST", &format!("/api/projects/flow/approvals/{id}/snapshots"), None).await;
    assert_eq!(manual["version"], 2);
    let diff = w.ok("GET", &format!("/api/projects/flow/approvals/{id}/diff?from=1&to=2"), None).await;
    assert_eq!((diff["additions"].as_u64(), diff["deletions"].as_u64()), (Some(1), Some(1)));
    w.ok("GET", &format!("/api/projects/flow/approvals/{id}/diff?from=1"), None).await;

    // Create a new approval, ask for a revision with a comment, delete it.
    let create = json!({ "title": "Approve tasks", "file_path": ".spec-workflow/specs/auth/tasks.md",
        "category": "spec", "category_name": "auth" });
    let created = w.ok("POST", "/api/projects/flow/approvals", Some(create)).await;
    let new_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["snapshot_version"], 1, "an initial snapshot of tasks.md");
    let revise = json!({ "comments": [{ "type": "general", "comment": "split task 3" }] });
    let revised = w.ok("POST", &format!("/api/projects/flow/approvals/{new_id}/needs-revision"), Some(revise)).await;
    assert_eq!(revised["status"], "needs-revision");
    assert!(revised["response"].as_str().unwrap().contains("1. split task 3"));
    w.ok("DELETE", &format!("/api/projects/flow/approvals/{new_id}"), None).await;
    assert!(!flow.join(format!(".spec-workflow/approvals/auth/{new_id}.json")).exists());
    let (status, _) = w.call("GET", &format!("/api/projects/flow/approvals/{new_id}"), None).await;
    assert_eq!(status, 404);

    // Implementation logs.
    let entry = json!({ "task_id": "2", "summary": "Added the handler", "files_modified": ["src/h.rs"],
        "files_created": [], "statistics": { "lines_added": 10, "lines_removed": 2, "files_changed": 1 },
        "artifacts": {} });
    let added = w.ok("POST", "/api/projects/flow/specs/auth/implementation-log", Some(entry)).await;
    let path = added["path"].as_str().unwrap();
    assert!(path.starts_with(".spec-workflow/specs/auth/Implementation Logs/task-2_"), "{path}");
    assert!(read(&flow, path).starts_with("# Implementation Log: Task 2\n\n**Summary:** Added the handler\n"));
    let logs = w.ok("GET", "/api/projects/flow/specs/auth/implementation-log", None).await;
    assert_eq!(logs[0]["summary"], "Added the handler");
    let found = w.ok("GET", "/api/projects/flow/specs/auth/implementation-log?q=handler", None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let found = w.ok("GET", "/api/projects/flow/implementation-log/search?q=nothing-like-this", None).await;
    assert_eq!(found.as_array().unwrap().len(), 0);
    let stats = w.ok("GET", "/api/projects/flow/specs/auth/implementation-log/task/2/stats", None).await;
    assert_eq!((stats["totalImplementations"].as_u64(), stats["totalLinesAdded"].as_u64()), (Some(1), Some(10)));

    // Archive moves the folder, unarchive moves it back.
    w.ok("POST", "/api/projects/flow/specs/old/archive", None).await;
    assert!(flow.join(".spec-workflow/archive/specs/old/requirements.md").is_file());
    assert!(!flow.join(".spec-workflow/specs/old").exists());
    let archived = w.ok("GET", "/api/projects/flow/archive/specs", None).await;
    assert_eq!(archived[0]["name"], "old");
    let old = w.ok("GET", "/api/projects/flow/archive/specs/old", None).await;
    assert_eq!(old["documents"][0]["content"], "# Old\n");
    let machine = w.home.machine_id();
    let synced = |path: &'static str| {
        let (hub, machine) = (&w.hub, machine.clone());
        async move { hub.listing(&machine, "flow").await.iter().any(|(p, _)| p == path) }
    };
    eventually("the hub sees the moved folder", || async {
        synced(".spec-workflow/archive/specs/old/requirements.md").await
            && !synced(".spec-workflow/specs/old/requirements.md").await
    })
    .await;
    w.ok("POST", "/api/projects/flow/specs/old/unarchive", None).await;
    assert!(flow.join(".spec-workflow/specs/old/requirements.md").is_file());
    eventually("the hub sees it moved back", || async {
        synced(".spec-workflow/specs/old/requirements.md").await
            && !synced(".spec-workflow/archive/specs/old/requirements.md").await
    })
    .await;

    // A read-only project refuses every mutation, and nothing changes.
    let before = snapshot_tree(&ro);
    for (method, path, body) in [
        ("PUT", "/api/projects/ro/specs/auth/tasks/2/status", json!({ "status": "completed" })),
        ("POST", &format!("/api/projects/ro/approvals/{id}/approve") as &str, json!({})),
        ("POST", "/api/projects/ro/specs/old/archive", json!({})),
        ("PUT", "/api/projects/ro/steering/tech", json!({ "content": "x" })),
    ] {
        let (status, body) = w.call(method, path, Some(body)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {body}");
    }
    assert_eq!(snapshot_tree(&ro), before);

    // Wrong layout and unknown things have stable codes.
    let (status, body) = w.call("GET", "/api/projects/lean/approvals", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
    let (status, body) = w.call("GET", "/api/projects/nope/specs", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = w.call("GET", "/api/projects/flow/specs?machine=ghost", None).await;
    assert_eq!(status, 404);
    let machine = w.home.machine_id();
    w.ok("GET", &format!("/api/projects/flow/specs?machine={machine}"), None).await;

    // Every mutation left an audit line; refused ones too.
    let audit = audit_lines(&w.home);
    let commands: Vec<&str> = audit.iter().filter_map(|l| l["command"].as_str()).collect();
    for name in ["update-frontmatter", "task-status-update", "approval-update", "impl-log-add", "spec-archive"] {
        assert!(commands.contains(&name), "no audit line for {name}: {commands:?}");
    }
    assert!(audit.iter().any(|l| l["project"] == "ro" && l["outcome"] == "forbidden"));
    assert!(audit.iter().any(|l| l["outcome"] == "conflict"));
}
