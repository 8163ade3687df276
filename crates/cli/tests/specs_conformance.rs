//! Issue 14's mismatches with the spec tools, end to end: each request goes
//! through a real hub's REST routes to a real bridge engine over loopback, and
//! the files it leaves are checked against what spec-workflow-mcp 2.2.7
//! (Pimzino/spec-workflow-mcp b63e6cd) and the LeanSpec CLI 0.3.0 write and read.
//! The rules themselves are fixtures in crates/specs/tests/conformance_*.rs.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use serde_json::json;
use support::eventually;
use support::specs::{read, snapshot_tree, write, World, APPROVAL, APPROVAL_ID};
use tempfile::TempDir;

const TASKS: &str = "# Tasks\n\n- [ ] 1. Model\n\n- [ ] 2. Handler\n  - _Requirements: 1.2_\n";

/// A legacy nested approval as spec-workflow 0.x left it (the corpus has one in moduprompt).
const LEGACY: &str = r#"{
  "id": "approval_1758248748920_ii7m1056m",
  "title": "Approve auth requirements v1.0.0",
  "filePath": ".spec-workflow/specs/auth/requirements.md",
  "type": "document",
  "status": "pending",
  "createdAt": "2025-09-19T02:25:48.920Z",
  "category": "spec",
  "categoryName": "auth/requirements.md"
}"#;
const LEGACY_ID: &str = "approval_1758248748920_ii7m1056m";
const LEGACY_PATH: &str = ".spec-workflow/approvals/auth/requirements.md/approval_1758248748920_ii7m1056m.json";

fn workflow_fixture(root: &std::path::Path) {
    let w = ".spec-workflow";
    write(root, &format!("{w}/specs/auth/requirements.md"), "# Requirements\n");
    write(root, &format!("{w}/specs/auth/design.md"), "# Design\n");
    write(root, &format!("{w}/specs/auth/tasks.md"), TASKS);
    // Only tasks.md, all done: `complete` before, `requirements-needed` for spec-workflow.
    write(root, &format!("{w}/specs/quick/tasks.md"), "- [x] 1. Done\n");
    write(root, &format!("{w}/approvals/auth/{APPROVAL_ID}.json"), APPROVAL);
    write(root, LEGACY_PATH, LEGACY);
}

async fn world(dir: &TempDir) -> (World, std::path::PathBuf, std::path::PathBuf) {
    let (lean, flow) = (dir.path().join("lean"), dir.path().join("flow"));
    let readme = "---\nstatus: in-progress\ncreated: 2025-11-02\n---\n\n# Auth\n\n- [x] a\n- [ ] b\n\
                  ```md\n- [ ] inside a fence: LeanSpec counts it\n```\n";
    write(&lean, "specs/001-auth/README.md", readme);
    write(&lean, "specs/002-idea/README.md", "---\nstatus: draft\ncreated: 2025-11-02\n---\n\n# Idea\n");
    workflow_fixture(&flow);
    let w = World::new(&[("lean", lean.as_path(), false), ("flow", flow.as_path(), false)]).await;
    (w, lean, flow)
}

#[tokio::test]
async fn completing_with_open_items_needs_force_as_in_leanspec() {
    let dir = TempDir::new().unwrap();
    let (w, lean, _) = world(&dir).await;
    let url = "/api/projects/lean/specs/001-auth/frontmatter";
    let before = read(&lean, "specs/001-auth/README.md");

    let (status, body) = w.call("PATCH", url, Some(json!({ "changes": { "status": "complete" } }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("open_items")), "{body}");
    assert_eq!(body["error"]["details"], json!({ "open_items": 2 }), "the fenced item counts, as in LeanSpec");
    assert!(body["error"]["hint"].as_str().unwrap().contains("force"));
    assert_eq!(read(&lean, "specs/001-auth/README.md"), before, "nothing written");

    // Other keys are never guarded.
    w.ok("PATCH", url, Some(json!({ "changes": { "priority": "high" } }))).await;
    let forced = w.ok("PATCH", url, Some(json!({ "changes": { "status": "complete" }, "force": true }))).await;
    assert_eq!(forced["status"], "complete");
    assert!(read(&lean, "specs/001-auth/README.md").starts_with("---\nstatus: complete\n"));
    // LeanSpec checks whenever completion is asked, even of a complete spec.
    let (status, _) = w.call("PATCH", url, Some(json!({ "changes": { "status": "complete" } }))).await;
    assert_eq!(status, 409);

    // Draft straight to in-progress: `skips_planned`, then forced.
    let url = "/api/projects/lean/specs/002-idea/frontmatter";
    let (status, body) = w.call("PATCH", url, Some(json!({ "changes": { "status": "in-progress" } }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("skips_planned")), "{body}");
    assert_eq!(body["error"]["details"], json!({ "from": "draft", "to": "in-progress" }));
    w.ok("PATCH", url, Some(json!({ "changes": { "status": "planned" } }))).await;
    w.ok("PATCH", url, Some(json!({ "changes": { "status": "in-progress" } }))).await;

    // Archive and unarchive are not guarded (LeanSpec has no guard there).
    w.ok("POST", "/api/projects/lean/specs/001-auth/archive", None).await;
    w.ok("POST", "/api/projects/lean/specs/001-auth/unarchive", None).await;
    assert!(read(&lean, "specs/001-auth/README.md").starts_with("---\nstatus: complete\n"));
}

// Regression (issue 14, 1): statistics without `filesChanged` were a 400 `missing field filesChanged`.
#[tokio::test]
async fn impl_log_without_files_changed_computes_it_as_spec_workflow_does() {
    let dir = TempDir::new().unwrap();
    let (w, _, flow) = world(&dir).await;
    let url = "/api/projects/flow/specs/auth/implementation-log";
    let entry = json!({ "taskId": "2", "summary": "Handler", "filesModified": ["a.rs", "b.rs"],
        "filesCreated": ["c.rs"], "statistics": { "linesAdded": 7 }, "artifacts": {} });
    let added = w.ok("POST", url, Some(entry)).await;
    assert_eq!(added["statistics"], json!({ "linesAdded": 7, "linesRemoved": 0, "filesChanged": 3 }));
    let text = read(&flow, added["path"].as_str().unwrap());
    assert!(text.contains("- **Files Changed:** 3\n- **Net Change:** 7\n"), "{text}");

    // Artifacts are required by the tool (an empty object passes).
    let (status, body) = w.call("POST", url, Some(json!({ "taskId": "2", "summary": "x" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")), "{body}");
}

// Regression (issue 14, 2): a log entry for a task tasks.md does not have was accepted.
#[tokio::test]
async fn impl_log_for_an_unknown_task_is_refused_with_spec_workflows_message() {
    let dir = TempDir::new().unwrap();
    let (w, _, flow) = world(&dir).await;
    let before = snapshot_tree(&flow);
    let entry = json!({ "task_id": "9", "summary": "Ghost", "artifacts": {} });
    let (status, body) = w.call("POST", "/api/projects/flow/specs/auth/implementation-log", Some(entry)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    assert_eq!(body["error"]["message"], "Task '9' not found in specification 'auth'");
    assert_eq!(body["error"]["details"], json!({ "task_id": "9", "spec": "auth" }));
    let entry = json!({ "task_id": "1", "summary": "No tasks.md", "artifacts": {} });
    let (status, _) = w.call("POST", "/api/projects/flow/specs/nothing/implementation-log", Some(entry)).await;
    assert_eq!(status, 404);
    assert_eq!(snapshot_tree(&flow), before, "nothing written");
}

// Regression (issue 14, 3): legacy nested approvals were listed, counted as pending and decided.
#[tokio::test]
async fn legacy_nested_approvals_are_read_only_and_never_pending() {
    let dir = TempDir::new().unwrap();
    let (w, _, flow) = world(&dir).await;
    let info = w.ok("GET", "/api/projects/flow", None).await;
    assert_eq!((info["pending_approvals"].as_u64(), info["legacy_approvals"].as_u64()), (Some(1), Some(1)));
    let pending = w.ok("GET", "/api/projects/flow/approvals?status=pending", None).await;
    let ids: Vec<&str> = pending.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [APPROVAL_ID], "spec-workflow's own list");
    let legacy = w.ok("GET", "/api/projects/flow/approvals?legacy=true", None).await;
    assert_eq!((legacy[0]["id"].as_str(), legacy[0]["legacy"].as_bool()), (Some(LEGACY_ID), Some(true)));
    let got = w.ok("GET", &format!("/api/projects/flow/approvals/{LEGACY_ID}"), None).await;
    assert_eq!(got["legacy"], true, "readable");

    let before = snapshot_tree(&flow);
    for (method, suffix) in [("POST", "approve"), ("POST", "snapshots"), ("DELETE", "")] {
        let url = format!("/api/projects/flow/approvals/{LEGACY_ID}/{suffix}");
        let (status, body) = w.call(method, url.trim_end_matches('/'), Some(json!({}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {url}: {body}");
        assert!(body["error"]["hint"].as_str().unwrap().contains("request the approval again"), "{body}");
    }
    assert_eq!(snapshot_tree(&flow), before, "nothing written");

    // The dashboard's read model: counted apart, with spec-workflow's status words.
    let machine = w.home.machine_id();
    let model_url = format!("/v1/machines/{machine}/projects/flow/model");
    eventually("the hub's model holds the synced approvals", || async {
        let (_, model) = w.call("GET", &model_url, None).await;
        model["workflow"]["legacyApprovals"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let model = w.ok("GET", &model_url, None).await;
    let workflow = &model["workflow"];
    assert_eq!(workflow["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(workflow["legacyApprovals"][0]["approval"]["id"], LEGACY_ID);
    let status = |name: &str| {
        workflow["specs"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["status"].clone()
    };
    assert_eq!((status("auth"), status("quick")), (json!("implementing"), json!("requirements-needed")));
    let list = w.ok("GET", "/api/projects/flow/specs", None).await;
    let quick = list.as_array().unwrap().iter().find(|s| s["name"] == "quick").unwrap();
    assert_eq!(
        (quick["status"].as_str(), quick["phase"].as_str()),
        (Some("requirements-needed"), Some("requirements"))
    );
}

// Regression (issue 14, 4): comment objects were re-serialised in a fixed (sorted) key order.
#[tokio::test]
async fn comment_keys_keep_the_order_the_client_sent_end_to_end() {
    let dir = TempDir::new().unwrap();
    let (w, _, flow) = world(&dir).await;
    // spec-workflow's annotator order (ApprovalsAnnotator.tsx), sent as raw bytes.
    let comment = r##"{"type":"selection","comment":"Split this","timestamp":"2025-09-25T09:10:00.000Z","selectedText":"Tokens","highlightColor":{"bg":"#ff0","name":"yellow"},"id":"c1","startOffset":10,"endOffset":16}"##;
    let body = format!(r#"{{"comments":[{comment}]}}"#);
    let url = format!("/api/projects/flow/approvals/{APPROVAL_ID}/needs-revision");
    let reply = support::http::request(
        w.hub.addr(),
        "POST",
        &url,
        Some(&w.hub.user_token),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = read(&flow, &format!(".spec-workflow/approvals/auth/{APPROVAL_ID}.json"));
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing: {text}"));
    let keys = [
        "\"type\": \"selection\"",
        "\"comment\": \"Split this\"",
        "\"timestamp\"",
        "\"selectedText\"",
        "\"highlightColor\"",
        "\"bg\"",
        "\"name\": \"yellow\"",
        "\"id\": \"c1\"",
        "\"startOffset\"",
        "\"endOffset\"",
    ];
    let offsets: Vec<usize> = keys.iter().map(|k| at(k)).collect();
    assert!(offsets.windows(2).all(|p| p[0] < p[1]), "keys out of order: {text}");
}

// Regression (issue 14, 5): blocked with a reason wrote only `[~]`, no `_Blocked:` line.
#[tokio::test]
async fn blocked_reason_is_written_and_removed_as_spec_workflow_does() {
    let dir = TempDir::new().unwrap();
    let (w, _, flow) = world(&dir).await;
    let url = "/api/projects/flow/specs/auth/tasks/1/status";
    let tasks = ".spec-workflow/specs/auth/tasks.md";
    let blocked = w.ok("PUT", url, Some(json!({ "status": "blocked", "reason": "waiting for the API key" }))).await;
    assert_eq!(
        (blocked["reason"].as_str(), blocked["changed"].as_bool()),
        (Some("waiting for the API key"), Some(true))
    );
    assert_eq!(
        read(&flow, tasks),
        TASKS.replace("- [ ] 1. Model\n", "- [~] 1. Model\n  - _Blocked: waiting for the API key_\n")
    );
    let progress = w.ok("GET", "/api/projects/flow/specs/auth/progress", None).await;
    assert_eq!(progress["tasks"][0]["blockedReason"], "waiting for the API key");

    // The same status again: nothing written (spec-workflow: "already has status").
    let hash = blocked["hash"].clone();
    let again = w.ok("PUT", url, Some(json!({ "status": "blocked" }))).await;
    assert_eq!((again["changed"].as_bool(), &again["hash"]), (Some(false), &hash));

    // Any other status removes the line.
    w.ok("PUT", url, Some(json!({ "status": "in-progress" }))).await;
    assert_eq!(read(&flow, tasks), TASKS.replace("- [ ] 1. Model\n", "- [-] 1. Model\n"));
    let (status, body) = w.call("PUT", url, Some(json!({ "status": "blocked", "reason": "needs api_key" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")), "a `_` would cut the reason: {body}");
}
