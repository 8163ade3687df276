//! Conformance fixtures for spec-workflow-mcp 2.2.7 (Pimzino/spec-workflow-mcp at commit
//! b63e6cd). Every expected byte string below is derived from the upstream source named in the
//! comment beside it; none is produced by this crate and pasted back.
#![allow(clippy::unwrap_used)]

use specbridge_specs::{
    apply_action, build_project, feedback_summary, new_approval, new_log_entry, next_snapshot, parse_approval,
    parse_log_markdown, parse_tasks, set_task_status, workflow_status, ApprovalAction, ApprovalCategory,
    ApprovalComment, FileEntry, LogEntryInput, SnapshotSource, SnapshotTrigger, SpecDocuments, SpecError, TaskProgress,
    TaskStatus, Timestamp, WorkflowRoot, WorkflowStatus,
};

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

const ROOT: WorkflowRoot = WorkflowRoot::SpecWorkflow;

// src/dashboard/approval-storage.ts@b63e6cd, createApproval: the object literal is
// { id, title, filePath, type, status: 'pending', createdAt, metadata, category, categoryName }
// and `metadata` is undefined (src/tools/approvals.ts passes none), so JSON.stringify(_, null, 2)
// drops it. fs.writeFile adds no trailing newline.
const CREATED: &str = r#"{
  "id": "approval_1765038652611_rm8v4i39q",
  "title": "Design for auth",
  "filePath": ".spec-workflow/specs/auth/design.md",
  "type": "document",
  "status": "pending",
  "createdAt": "2025-12-06T16:30:52.611Z",
  "category": "spec",
  "categoryName": "auth"
}"#;

#[test]
fn approval_create_key_order() {
    let now = Timestamp::from_unix_millis(1_765_038_652_611);
    let id = "approval_1765038652611_rm8v4i39q";
    let json = new_approval(
        id,
        "Design for auth",
        ".spec-workflow/specs/auth/design.md",
        ApprovalCategory::Spec,
        "auth",
        "document",
        now,
    );
    assert_eq!(json.unwrap(), CREATED);
    // PathUtils.validateSimplePathSegment(categoryName) in createApproval: no `/` any more.
    assert!(ROOT.approval_path("auth/design.md", id).is_err());
}

// src/dashboard/approval-storage.ts@b63e6cd, updateApproval: assigns status, response, annotations,
// respondedAt, then comments (when given) on the parsed object. Existing keys keep their place,
// new ones are appended in that order, and `annotations = undefined` disappears. The dashboard
// (src/dashboard_frontend/src/modules/pages/ApprovalsPage.tsx@b63e6cd, handleApprove) sends
// response "Approved via dashboard" (locales/en.json approvedViaDashboard) and no annotations.
#[test]
fn approval_update_appends_fields_in_upstream_order() {
    let out = apply_action(CREATED, ApprovalAction::Approve, None, &[], at("2025-12-06T16:33:23.761Z")).unwrap();
    let expected = CREATED.replace("\"pending\"", "\"approved\"").replace(
        "  \"categoryName\": \"auth\"\n}",
        "  \"categoryName\": \"auth\",\n  \"response\": \"Approved via dashboard\",\n  \"respondedAt\": \"2025-12-06T16:33:23.761Z\"\n}",
    );
    assert_eq!(out, expected);
    // A later re-decision keeps every key where it already is (here: rejected after a revert).
    let reverted =
        CREATED.replace("\"categoryName\": \"auth\"", "\"categoryName\": \"auth\",\n  \"annotations\": \"old\"");
    let out =
        apply_action(&reverted, ApprovalAction::Reject, Some("Out of scope"), &[], at("2025-12-06T16:40:00.000Z"))
            .unwrap();
    assert!(!out.contains("annotations"), "annotations = undefined is dropped: {out}");
    assert!(out.ends_with("\"response\": \"Out of scope\",\n  \"respondedAt\": \"2025-12-06T16:40:00.000Z\"\n}"));
}

// src/dashboard/multi-server.ts@b63e6cd, POST /api/projects/:projectId/approvals/:id/:action passes
// `comments?: any[]` straight to updateApproval: the objects are stored as the client sent them,
// key order included. ApprovalsPage.tsx's handleRevision puts the same array in annotations.
#[test]
fn comments_keep_the_key_order_they_were_given() {
    let given = r#"{"id": "comment_1", "comment": "rename it", "type": "general", "timestamp": "2025-12-06T16:33:21.844Z", "extra": {"z": 1, "a": 2}}"#;
    let c = ApprovalComment::from_json_text(given).unwrap();
    let out = apply_action(CREATED, ApprovalAction::NeedsRevision, None, &[c], at("2025-12-06T16:33:23.761Z")).unwrap();
    let comments_block = "  \"comments\": [\n    {\n      \"id\": \"comment_1\",\n      \"comment\": \"rename it\",\n      \"type\": \"general\",\n      \"timestamp\": \"2025-12-06T16:33:21.844Z\",\n      \"extra\": {\n        \"z\": 1,\n        \"a\": 2\n      }\n    }\n  ]\n}";
    assert!(out.ends_with(comments_block), "{out}");
    let annotations = parse_approval(&out).unwrap().annotations.unwrap();
    assert!(
        annotations.contains("\"comments\": [\n    {\n      \"id\": \"comment_1\",\n      \"comment\": \"rename it\"")
    );
    // Read back and written again, the order survives (a snapshot copies approval.comments).
    let again = parse_approval(&out).unwrap();
    assert_eq!(again.comments[0].keys(), ["id", "comment", "type", "timestamp", "extra"]);
}

// src/dashboard_frontend/src/modules/pages/ApprovalsPage.tsx@b63e6cd line 210:
// `${t.substring(0, 50)}${t.length > 50 ? '...' : ''}` in UTF-16 units. With 49 ASCII characters
// and then an emoji, substring keeps the emoji's high surrogate alone, which a browser shows as
// U+FFFD; we write U+FFFD itself (valid UTF-8/UTF-16).
#[test]
fn summary_truncation_with_an_emoji_on_the_boundary() {
    let selection = |text: &str| {
        let json = serde_json::json!({"type": "selection", "comment": "c", "timestamp": "t", "selectedText": text});
        ApprovalComment::from_json_text(&json.to_string()).unwrap()
    };
    let a49 = "a".repeat(49);
    let head = |s: &str| feedback_summary(&[selection(s)]).lines().nth(3).unwrap().to_string();
    assert_eq!(head(&format!("{a49}😀tail")), format!("1. \"{a49}\u{fffd}...\": c"));
    assert_eq!(head(&format!("{a49}b😀")), format!("1. \"{a49}b...\": c"));
    assert_eq!(head(&format!("{a49}😀")), format!("1. \"{a49}\u{fffd}...\": c"), "51 units: cut");
    assert_eq!(head(&format!("{a49}b")), format!("1. \"{a49}b\": c"), "exactly 50 units: not cut");
    // A file spec-workflow wrote for that case holds the lone escape; it reads as U+FFFD.
    let upstream = CREATED.replace(
        "\"categoryName\": \"auth\"",
        "\"categoryName\": \"auth\",\n  \"response\": \"1. \\\"ab\\ud83d...\\\": c\"",
    );
    assert_eq!(parse_approval(&upstream).unwrap().response.as_deref(), Some("1. \"ab\u{fffd}...\": c"));
}

// src/dashboard/approval-storage.ts@b63e6cd, getAllApprovals/findApprovalPath: only `approvals/<category>/*.json`
// with a category passing validateSimplePathSegment; legacy `approvals/<spec>/<doc>/approval_*.json`
// files are never read, so spec-workflow counts them nowhere (getAllPendingApprovals).
#[test]
fn legacy_nested_approvals_are_not_counted() {
    let nested = ".spec-workflow/approvals/auth/requirements.md/approval_1758248748920_ii7m1056m.json";
    let current = ".spec-workflow/approvals/auth/approval_1765038652611_rm8v4i39q.json";
    let files: Vec<FileEntry> =
        [nested, current].iter().map(|p| FileEntry { path: p.to_string(), modified: None }).collect();
    let legacy_text = CREATED.replace("rm8v4i39q", "ii7m1056m").replace("\"auth\"", "\"auth/requirements.md\"");
    let read = |p: &str| Some(if p == nested { legacy_text.clone() } else { CREATED.to_string() });
    let project = build_project(ROOT, &files, &read);
    assert_eq!(project.approvals.len(), 1);
    assert_eq!(project.legacy_approvals.len(), 1);
    assert_eq!(project.approvals[0].path, current);
    let err = ROOT.check_approval_path(nested).unwrap_err();
    assert!(matches!(err, SpecError::LegacyApproval { .. }) && err.code() == "forbidden");
}

// src/dashboard/approval-storage.ts@b63e6cd, captureSnapshot: `approvals/<categoryName || 'default'>/.snapshots/
// <basename(filePath)>/snapshot-NNN.json` (padStart 3) plus metadata.json; snapshot keys id,
// approvalId, approvalTitle, version, timestamp, trigger, status, content, fileStats {size, lines
// (split('\n').length), lastModified}, comments (approval.comments || []), annotations only when
// truthy; metadata entries version, filename, timestamp, trigger, approvalId, approvalTitle.
#[test]
fn snapshot_layout() {
    let given = r#"{"type": "general", "id": "c1", "comment": "x", "timestamp": "t"}"#;
    let mut approval = parse_approval(CREATED).unwrap();
    approval.comments = vec![ApprovalComment::from_json_text(given).unwrap()];
    approval.annotations = Some(String::new());
    let source = SnapshotSource { content: "# Design\n\nA\n", last_modified: at("2025-12-06T16:30:00.000Z") };
    let snap = next_snapshot(
        ROOT,
        None,
        &approval,
        source,
        SnapshotTrigger::Approved,
        "snapshot_1_abc",
        at("2025-12-06T16:33:23.761Z"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(snap.snapshot_path, ".spec-workflow/approvals/auth/.snapshots/design.md/snapshot-001.json");
    assert_eq!(snap.metadata_path, ".spec-workflow/approvals/auth/.snapshots/design.md/metadata.json");
    let expected = r##"{
  "id": "snapshot_1_abc",
  "approvalId": "approval_1765038652611_rm8v4i39q",
  "approvalTitle": "Design for auth",
  "version": 1,
  "timestamp": "2025-12-06T16:33:23.761Z",
  "trigger": "approved",
  "status": "pending",
  "content": "# Design\n\nA\n",
  "fileStats": {
    "size": 12,
    "lines": 4,
    "lastModified": "2025-12-06T16:30:00.000Z"
  },
  "comments": [
    {
      "type": "general",
      "id": "c1",
      "comment": "x",
      "timestamp": "t"
    }
  ]
}"##;
    assert_eq!(snap.snapshot_json, expected);
    let meta = r#"{
  "filePath": ".spec-workflow/specs/auth/design.md",
  "currentVersion": 1,
  "snapshots": [
    {
      "version": 1,
      "filename": "snapshot-001.json",
      "timestamp": "2025-12-06T16:33:23.761Z",
      "trigger": "approved",
      "approvalId": "approval_1765038652611_rm8v4i39q",
      "approvalTitle": "Design for auth"
    }
  ]
}"#;
    assert_eq!(snap.metadata_json, meta);
}

const TASKS: &str = "# Tasks\n\n- [ ] 1. Parse config\n  - File: src/config.rs\n  - _Requirements: 1.1_\n-  [-]   2. Wire the route\n  - _Prompt: Role: dev_\n- [ ] 3. Ship\n";

// src/core/task-parser.ts@b63e6cd, updateTaskStatus: the line becomes prefix + `${listMarker}
// [${marker}] ` + taskText; the first `_Blocked:\s*[^_]+?_` line before the next checkbox is
// removed; for 'blocked' with a reason, `${prefix}  - _Blocked: ${reason}_` is inserted right
// below. src/dashboard/multi-server.ts@b63e6cd PUT .../tasks/:taskId/status answers "already has status"
// (no write) unless blocked with a new reason.
#[test]
fn tasks_marker_and_blocked_lines() {
    let blocked = set_task_status(TASKS, "1", TaskStatus::Blocked, Some("waiting for the API")).unwrap();
    assert_eq!(
        blocked,
        "# Tasks\n\n- [~] 1. Parse config\n  - _Blocked: waiting for the API_\n  - File: src/config.rs\n  - _Requirements: 1.1_\n-  [-]   2. Wire the route\n  - _Prompt: Role: dev_\n- [ ] 3. Ship\n"
    );
    assert_eq!(parse_tasks(&blocked)[0].blocked_reason.as_deref(), Some("waiting for the API"));
    // Same status, same reason: no change. A new reason replaces the line.
    assert_eq!(set_task_status(&blocked, "1", TaskStatus::Blocked, Some("waiting for the API")).unwrap(), blocked);
    let moved = set_task_status(&blocked, "1", TaskStatus::Blocked, Some("needs review")).unwrap();
    assert_eq!(moved, blocked.replace("waiting for the API", "needs review"));
    // Any other status removes the reason line.
    assert_eq!(
        set_task_status(&blocked, "1", TaskStatus::InProgress, None).unwrap(),
        TASKS.replace("- [ ] 1.", "- [-] 1.")
    );
    // The rebuilt line has one space each side of the brackets.
    let done = set_task_status(TASKS, "2", TaskStatus::Done, None).unwrap();
    assert!(done.contains("\n- [x] 2. Wire the route\n"));
    assert_eq!(set_task_status(TASKS, "2", TaskStatus::InProgress, None).unwrap(), TASKS, "already in progress");
    // A reason spec-workflow would read back cut at `_` is refused.
    assert_eq!(set_task_status(TASKS, "3", TaskStatus::Blocked, Some("api_key")).unwrap_err().code(), "invalid");
    assert_eq!(set_task_status(TASKS, "9", TaskStatus::Done, None).unwrap_err().code(), "not_found");
}

// src/tools/log-implementation.ts@b63e6cd: refuses missing artifacts; refuses a task id that
// parseTasksFromMarkdown does not find ("Task '<id>' not found in specification '<spec>'");
// statistics { linesAdded || 0, linesRemoved || 0, filesChanged: modified + created }.
// src/dashboard/implementation-log-manager.ts@b63e6cd: generateFileName is
// `task-${taskId.replace(/[/.]/g, '-')}_${iso.replace(/[:.Z]/g, '').slice(0, 15)}_${id.substring(0, 8)}.md`
// and entryToMarkdown the body below.
#[test]
fn implementation_log_file_name_and_body() {
    let input: LogEntryInput = serde_json::from_value(serde_json::json!({
        "taskId": "1",
        "summary": "Parsed the config",
        "filesModified": ["src/config.rs"],
        "filesCreated": ["src/config_tests.rs"],
        "statistics": { "linesAdded": 40, "linesRemoved": 2 },
        "artifacts": { "functions": [{ "name": "parse", "purpose": "Parse it", "location": "src/config.rs:10", "isExported": true }] }
    }))
    .unwrap();
    let id = "fc66fe4f-ed28-4159-aa23-8a51dabb3d5a";
    let now = at("2025-12-21T11:41:01.739Z");
    let log = new_log_entry(ROOT, "auth", Some(TASKS), &input, id, now).unwrap();
    assert_eq!(log.path, ".spec-workflow/specs/auth/Implementation Logs/task-1_2025-12-21T1141_fc66fe4f.md");
    let expected = "# Implementation Log: Task 1\n\n**Summary:** Parsed the config\n\n**Timestamp:** 2025-12-21T11:41:01.739Z\n**Log ID:** fc66fe4f-ed28-4159-aa23-8a51dabb3d5a\n\n---\n\n## Statistics\n\n- **Lines Added:** +40\n- **Lines Removed:** -2\n- **Files Changed:** 2\n- **Net Change:** 38\n\n## Files Modified\n- src/config.rs\n\n## Files Created\n- src/config_tests.rs\n\n---\n\n## Artifacts\n\n### Functions\n\n#### parse\n- **Purpose:** Parse it\n- **Location:** src/config.rs:10\n- **Exported:** Yes\n\n";
    assert_eq!(log.markdown, expected);
    assert_eq!(parse_log_markdown(&log.markdown).unwrap(), log.entry);
    // Unknown task: the tool's message, word for word.
    let unknown = LogEntryInput { task_id: "7.1".into(), ..input.clone() };
    let err = new_log_entry(ROOT, "auth", Some(TASKS), &unknown, id, now).unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        ("not_found", "Task '7.1' not found in specification 'auth'".to_string())
    );
    let no_artifacts = LogEntryInput { artifacts: None, ..input };
    assert_eq!(new_log_entry(ROOT, "auth", Some(TASKS), &no_artifacts, id, now).unwrap_err().code(), "invalid");
}

// src/tools/spec-status.ts@b63e6cd lines 63-85: the first missing document decides
// (requirements-needed, design-needed, tasks-needed), then pending > 0 is implementing, then
// total > 0 && completed == total is completed, else ready-for-implementation.
// src/core/parser.ts@b63e6cd: taskProgress comes from parseTaskProgress (pending counts `[ ]` only).
#[test]
fn derived_status_rules_and_words() {
    let p = |total, pending, done| {
        Some(Some(TaskProgress { total, pending, done, in_progress: total - pending - done, blocked: 0 }))
    };
    let all = |tasks| SpecDocuments { requirements: true, design: true, tasks };
    let cases = [
        (SpecDocuments { tasks: p(3, 0, 3), ..Default::default() }, "requirements-needed"),
        (SpecDocuments { requirements: true, tasks: p(1, 1, 0), ..Default::default() }, "design-needed"),
        (all(None), "tasks-needed"),
        (all(p(3, 1, 1)), "implementing"),
        (all(p(3, 0, 3)), "completed"),
        (all(p(3, 0, 2)), "ready-for-implementation"),
        (all(p(0, 0, 0)), "ready-for-implementation"),
        (all(Some(None)), "ready-for-implementation"),
    ];
    for (docs, word) in cases {
        assert_eq!(workflow_status(docs).as_str(), word, "{docs:?}");
    }
    assert_eq!(WorkflowStatus::Completed.phase(), "completed");
    assert_eq!(serde_json::to_value(WorkflowStatus::ReadyForImplementation).unwrap(), "ready-for-implementation");
}
