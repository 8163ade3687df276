use super::*;
use crate::approvals::parse_approval;

const APPROVAL: &str = r#"{
  "id": "approval_1766288947428_afjwxl7r9",
  "title": "Technology architecture and decisions for keyrx",
  "filePath": ".spec-workflow/steering/tech.md",
  "type": "document",
  "status": "pending",
  "createdAt": "2025-12-21T03:49:07.428Z",
  "category": "steering",
  "categoryName": "steering"
}"#;

const META_V1: &str = r#"{
  "filePath": ".spec-workflow/steering/tech.md",
  "currentVersion": 1,
  "snapshots": [
    {
      "version": 1,
      "filename": "snapshot-001.json",
      "timestamp": "2025-12-21T03:49:07.430Z",
      "trigger": "initial",
      "approvalId": "approval_1766288947428_afjwxl7r9",
      "approvalTitle": "Technology architecture and decisions for keyrx"
    }
  ]
}"#;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn first_snapshot_creates_metadata() {
    let approval = parse_approval(APPROVAL).unwrap();
    let source = SnapshotSource { content: "# Tech\n\nRust.\n", last_modified: at("2025-12-21T03:48:55.761Z") };
    let snap = next_snapshot(
        WorkflowRoot::SpecWorkflow,
        None,
        &approval,
        source,
        SnapshotTrigger::Initial,
        "snapshot_1766288947430_rzv4e1eai",
        at("2025-12-21T03:49:07.430Z"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(snap.version, 1);
    assert_eq!(snap.snapshot_path, ".spec-workflow/approvals/steering/.snapshots/tech.md/snapshot-001.json");
    assert_eq!(snap.metadata_path, ".spec-workflow/approvals/steering/.snapshots/tech.md/metadata.json");
    assert_eq!(snap.metadata_json, META_V1);
    let expected = r##"{
  "id": "snapshot_1766288947430_rzv4e1eai",
  "approvalId": "approval_1766288947428_afjwxl7r9",
  "approvalTitle": "Technology architecture and decisions for keyrx",
  "version": 1,
  "timestamp": "2025-12-21T03:49:07.430Z",
  "trigger": "initial",
  "status": "pending",
  "content": "# Tech\n\nRust.\n",
  "fileStats": {
    "size": 14,
    "lines": 4,
    "lastModified": "2025-12-21T03:48:55.761Z"
  },
  "comments": []
}"##;
    assert_eq!(snap.snapshot_json, expected);
    let parsed = parse_snapshot(&snap.snapshot_json).unwrap();
    assert_eq!((parsed.version, parsed.file_stats.lines, parsed.content.as_str()), (1, 4, "# Tech\n\nRust.\n"));
}

#[test]
fn later_snapshots_append_and_initial_is_not_repeated() {
    let approval = parse_approval(APPROVAL).unwrap();
    let source = SnapshotSource { content: "v2\n", last_modified: at("2025-12-21T03:59:00Z") };
    let root = WorkflowRoot::SpecWorkflow;
    let skip = next_snapshot(
        root,
        Some(META_V1),
        &approval,
        source,
        SnapshotTrigger::Initial,
        "s",
        at("2025-12-21T04:00:00Z"),
    );
    assert_eq!(skip.unwrap(), None);
    let snap = next_snapshot(
        root,
        Some(META_V1),
        &approval,
        source,
        SnapshotTrigger::RevisionRequested,
        "snapshot_2",
        at("2025-12-21T03:59:44.589Z"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(snap.version, 2);
    assert!(snap.snapshot_path.ends_with("/snapshot-002.json"));
    let meta = parse_snapshot_metadata(&snap.metadata_json).unwrap();
    assert_eq!(meta.current_version, 2);
    assert_eq!(meta.snapshots[1].trigger, "revision_requested");
    // `currentVersion` moves on; the first entry's text is carried over as it was.
    let old_entry = &META_V1[META_V1.find("    {").unwrap()..META_V1.len() - 6];
    assert!(snap.metadata_json.contains(old_entry), "the old entry stays byte for byte");
    assert_eq!(find_snapshot(&meta, 2).unwrap().filename, "snapshot-002.json");
    assert_eq!(find_snapshot(&meta, 9).unwrap_err().code(), "not_found");
}

#[test]
fn snapshot_keeps_review_state() {
    let with_review = APPROVAL.replace(
        "\"categoryName\": \"steering\"\n}",
        "\"categoryName\": \"steering\",\n  \"annotations\": \"{}\",\n  \"comments\": [\n    {\n      \"type\": \"general\",\n      \"comment\": \"hm\"\n    }\n  ]\n}",
    );
    let approval = parse_approval(&with_review).unwrap();
    let source = SnapshotSource { content: "x", last_modified: at("2025-01-01T00:00:00Z") };
    let snap = next_snapshot(
        WorkflowRoot::SpecContext,
        None,
        &approval,
        source,
        SnapshotTrigger::Manual,
        "s1",
        at("2025-01-02T00:00:00Z"),
    )
    .unwrap()
    .unwrap();
    assert!(snap.snapshot_path.starts_with(".spec-context/approvals/steering/.snapshots/tech.md/"));
    assert!(snap.snapshot_json.ends_with("\"comments\": [\n    {\n      \"type\": \"general\",\n      \"comment\": \"hm\"\n    }\n  ],\n  \"annotations\": \"{}\"\n}"));
    assert!(parse_snapshot_metadata("{\"snapshots\": []}").is_err());
}
