//! The "done when" flows, end to end through a real hub and a real
//! bridge, on copies of the real LeanSpec and spec-workflow projects in
//! ../shared/corpus: every file that must not change is compared byte for byte.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use serde_json::{json, Value};
use support::specs::*;
use tempfile::TempDir;

#[tokio::test]
async fn done_when_flows_on_copies_of_the_real_corpus() {
    let Some(corpus) = corpus() else {
        eprintln!("note: ../shared/corpus is absent; the corpus flows were skipped");
        return;
    };
    let dir = TempDir::new().unwrap();
    let (lean, flow) = (dir.path().join("leanspec"), dir.path().join("keyrx"));
    copy_tree(&corpus.join("leanspec"), &lean);
    copy_tree(&corpus.join("spec-workflow-keyrx"), &flow);
    let w = World::new(&[("lean", &lean, false), ("flow", &flow, false)]).await;

    // 1. List specs with status and task progress.
    let specs = w.ok("GET", "/api/projects/lean/specs", None).await;
    let archived = w.ok("GET", "/api/projects/lean/archive/specs", None).await;
    let (active, archived) = (specs.as_array().unwrap(), archived.as_array().unwrap());
    println!("leanspec: {} active specs, {} archived", active.len(), archived.len());
    assert!(active.len() + archived.len() >= 300, "the corpus has 300+ specs");
    assert!(active.iter().all(|s| s["status"].is_string() && s["task_progress"]["total"].is_u64()));
    let flow_specs = w.ok("GET", "/api/projects/flow/specs", None).await;
    let with_tasks = flow_specs.as_array().unwrap().iter().filter(|s| s["task_progress"]["total"] != 0).count();
    println!("keyrx: {} specs, {with_tasks} with tasks", flow_specs.as_array().unwrap().len());
    assert!(with_tasks > 0);

    // 2. Change a spec's status: only that README changes, only in the maintained keys.
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for s in active {
        *by_status.entry(s["status"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    println!("leanspec statuses: {by_status:?}");
    let spec = active.iter().find(|s| s["status"] != "in-progress").unwrap();
    let name = spec["name"].as_str().unwrap();
    let rel = format!("specs/{name}/README.md");
    let before_tree = snapshot_tree(&lean);
    let old = read(&lean, &rel);
    let patch = json!({ "changes": { "status": "in-progress" } });
    w.ok("PATCH", &format!("/api/projects/lean/specs/{name}/frontmatter"), Some(patch)).await;
    let new = read(&lean, &rel);
    assert_eq!(changed_files(&before_tree, &snapshot_tree(&lean), &lean), vec![rel.clone()]);
    assert_eq!(untouched_lines(&old), untouched_lines(&new));
    let body = |t: &str| t[t[4..].find("\n---").unwrap() + 4..].to_owned();
    assert_eq!(body(&old), body(&new), "the body stays byte for byte");
    assert!(new.starts_with("---\nstatus: in-progress\n") && new.contains("- status: in-progress\n"), "{new}");

    // 3. Tick a task: one marker byte.
    let spec = flow_specs.as_array().unwrap().iter().find(|s| s["task_progress"]["pending"] != 0).unwrap();
    let name = spec["name"].as_str().unwrap();
    let progress = w.ok("GET", &format!("/api/projects/flow/specs/{name}/progress"), None).await;
    let task = progress["tasks"].as_array().unwrap().iter().find(|t| t["status"] == "pending").unwrap();
    let task_id = task["id"].as_str().unwrap();
    let rel = format!(".spec-workflow/specs/{name}/tasks.md");
    let old = read(&flow, &rel);
    let before_tree = snapshot_tree(&flow);
    let url = format!("/api/projects/flow/specs/{name}/tasks/{task_id}/status");
    w.ok("PUT", &url, Some(json!({ "status": "completed" }))).await;
    let new = read(&flow, &rel);
    assert_eq!(changed_files(&before_tree, &snapshot_tree(&flow), &flow), vec![rel.clone()]);
    let diffs: Vec<usize> = (0..old.len()).filter(|&i| old.as_bytes()[i] != new.as_bytes()[i]).collect();
    assert_eq!((old.len(), diffs.len(), &new[diffs[0]..=diffs[0]]), (new.len(), 1, "x"), "task {task_id}");

    // 4. Approve an approval with a comment (the response text).
    let pending = w.ok("GET", "/api/projects/flow/approvals?status=pending", None).await;
    let approval = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| flow.join(a["file_path"].as_str().unwrap()).is_file())
        .expect("a pending approval whose document exists");
    let (id, path) = (approval["id"].as_str().unwrap(), approval["path"].as_str().unwrap().to_owned());
    let old: Value = serde_json::from_str(&read(&flow, &path)).unwrap();
    let before_tree = snapshot_tree(&flow);
    let url = format!("/api/projects/flow/approvals/{id}/approve");
    w.ok("POST", &url, Some(json!({ "response": "Looks good, ship it" }))).await;
    let text = read(&flow, &path);
    let new: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(new["status"], "approved");
    assert_eq!(new["response"], "Looks good, ship it");
    assert!(new["respondedAt"].as_str().unwrap().ends_with('Z'));
    for (key, value) in old.as_object().unwrap() {
        if !["status", "response", "respondedAt", "annotations"].contains(&key.as_str()) {
            assert_eq!(&new[key], value, "{key} is kept");
        }
    }
    assert!(text.starts_with("{\n  \"id\": ") && !text.ends_with('\n'), "JSON.stringify(…, null, 2) shape");
    let changed = changed_files(&before_tree, &snapshot_tree(&flow), &flow);
    assert!(changed.contains(&path), "{changed:?}");
    assert!(changed.iter().all(|c| c == &path || c.contains("/.snapshots/")), "{changed:?}");

    // 5. Archive a spec and unarchive it: the tree comes back byte for byte.
    let before_tree = snapshot_tree(&flow);
    w.ok("POST", &format!("/api/projects/flow/specs/{name}/archive"), None).await;
    assert!(flow.join(format!(".spec-workflow/archive/specs/{name}/tasks.md")).is_file());
    w.ok("POST", &format!("/api/projects/flow/specs/{name}/unarchive"), None).await;
    assert!(changed_files(&before_tree, &snapshot_tree(&flow), &flow).is_empty());
    let lean_name = active[1]["name"].as_str().unwrap();
    w.ok("POST", &format!("/api/projects/lean/specs/{lean_name}/archive"), None).await;
    assert!(read(&lean, &format!("specs/{lean_name}/README.md")).contains("status: archived\n"));
    w.ok("POST", &format!("/api/projects/lean/specs/{lean_name}/unarchive"), None).await;
    let restored = read(&lean, &format!("specs/{lean_name}/README.md"));
    assert!(restored.contains(&format!("status: {}\n", active[1]["status"].as_str().unwrap())), "{restored}");

    // 6. Add an implementation log entry: one new file, which the parser reads back.
    let before_tree = snapshot_tree(&flow);
    let entry = json!({ "task_id": task_id, "summary": "Done from the dashboard", "files_modified": ["a.rs"],
        "statistics": { "lines_added": 3, "lines_removed": 1, "files_changed": 1 }, "artifacts": {} });
    let added = w.ok("POST", &format!("/api/projects/flow/specs/{name}/implementation-log"), Some(entry)).await;
    let rel = added["path"].as_str().unwrap();
    assert_eq!(changed_files(&before_tree, &snapshot_tree(&flow), &flow), vec![rel.to_owned()]);
    let logs = w.ok("GET", &format!("/api/projects/flow/specs/{name}/implementation-log"), None).await;
    assert_eq!(logs[0]["summary"], "Done from the dashboard");
}
