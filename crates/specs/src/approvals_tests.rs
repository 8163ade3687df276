use super::*;
use crate::comments::{feedback_summary, ApprovalComment};

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// A pending approval exactly as spec-workflow writes it (no trailing newline).
const PENDING: &str = r#"{
  "id": "approval_1765038652611_rm8v4i39q",
  "title": "Design for mapping-screen-refresh",
  "filePath": ".spec-workflow/specs/mapping-screen-refresh/design.md",
  "type": "document",
  "status": "pending",
  "createdAt": "2025-12-06T16:30:52.611Z",
  "category": "spec",
  "categoryName": "mapping-screen-refresh"
}"#;

#[test]
fn new_approval_matches_spec_workflow_bytes() {
    let json = new_approval(
        "approval_1765038652611_rm8v4i39q",
        "Design for mapping-screen-refresh",
        ".spec-workflow/specs/mapping-screen-refresh/design.md",
        ApprovalCategory::Spec,
        "mapping-screen-refresh",
        "document",
        Timestamp::from_unix_millis(1_765_038_652_611),
    )
    .unwrap();
    assert_eq!(json, PENDING);
    assert_eq!(
        approval_id(Timestamp::from_unix_millis(1_765_038_652_611), "rm8v4i39q").unwrap(),
        "approval_1765038652611_rm8v4i39q"
    );
    assert!(
        new_approval("../x", "t", "f", ApprovalCategory::Spec, "c", "document", at("2025-01-01T00:00:00Z")).is_err()
    );
    assert!(new_approval("a", "t", "f", ApprovalCategory::Spec, "c", "memo", at("2025-01-01T00:00:00Z")).is_err());
}

#[test]
fn reads_the_typed_fields() {
    let a = parse_approval(PENDING).unwrap();
    assert_eq!(a.status, ApprovalStatus::Pending);
    assert_eq!(a.category_name, "mapping-screen-refresh");
    assert_eq!(a.kind, "document");
    assert!(a.comments.is_empty() && a.response.is_none());
    assert_eq!(parse_approval("{\"id\": \"x\"}").unwrap_err().code(), "invalid");
    assert_eq!(parse_approval("not json").unwrap_err().code(), "invalid");
}

#[test]
fn approve_appends_response_and_time() {
    let out = apply_action(PENDING, ApprovalAction::Approve, None, &[], at("2025-12-06T16:33:23.761Z")).unwrap();
    let expected = PENDING.replace("\"pending\"", "\"approved\"").replace(
        "\"mapping-screen-refresh\"\n}",
        "\"mapping-screen-refresh\",\n  \"response\": \"Approved via dashboard\",\n  \"respondedAt\": \"2025-12-06T16:33:23.761Z\"\n}",
    );
    assert_eq!(out, expected);
    let again = apply_action(&out, ApprovalAction::Reject, Some("late"), &[], at("2025-12-07T00:00:00Z")).unwrap_err();
    assert_eq!(again, SpecError::ApprovalNotPending { status: "approved".into() });
    assert_eq!(again.code(), "conflict");
}

#[test]
fn needs_revision_writes_what_the_dashboard_writes() {
    let comment = ApprovalComment::general(
        "thanks. add wireflame ( text only ) screen preview.",
        "2025-12-06T16:33:21.844Z",
        Some("comment_1765038801844_srt4msk8p"),
    );
    let out =
        apply_action(PENDING, ApprovalAction::NeedsRevision, None, &[comment], at("2025-12-06T16:33:23.761Z")).unwrap();
    // The corpus file, with the annotation timestamp equal to respondedAt (one clock here).
    let expected = r#"{
  "id": "approval_1765038652611_rm8v4i39q",
  "title": "Design for mapping-screen-refresh",
  "filePath": ".spec-workflow/specs/mapping-screen-refresh/design.md",
  "type": "document",
  "status": "needs-revision",
  "createdAt": "2025-12-06T16:30:52.611Z",
  "category": "spec",
  "categoryName": "mapping-screen-refresh",
  "response": "Feedback Summary (1 comments):\n\nGeneral Comments:\n1. thanks. add wireflame ( text only ) screen preview.\n\n",
  "annotations": "{\n  \"decision\": \"needs-revision\",\n  \"comments\": [\n    {\n      \"type\": \"general\",\n      \"comment\": \"thanks. add wireflame ( text only ) screen preview.\",\n      \"timestamp\": \"2025-12-06T16:33:21.844Z\",\n      \"id\": \"comment_1765038801844_srt4msk8p\"\n    }\n  ],\n  \"summary\": \"Feedback Summary (1 comments):\\n\\nGeneral Comments:\\n1. thanks. add wireflame ( text only ) screen preview.\\n\\n\",\n  \"timestamp\": \"2025-12-06T16:33:23.761Z\"\n}",
  "respondedAt": "2025-12-06T16:33:23.761Z",
  "comments": [
    {
      "type": "general",
      "comment": "thanks. add wireflame ( text only ) screen preview.",
      "timestamp": "2025-12-06T16:33:21.844Z",
      "id": "comment_1765038801844_srt4msk8p"
    }
  ]
}"#;
    assert_eq!(out, expected);
    let a = parse_approval(&out).unwrap();
    assert_eq!(a.status, ApprovalStatus::NeedsRevision);
    assert_eq!(a.comments.len(), 1);
}

#[test]
fn requirements_per_action() {
    let now = at("2025-12-06T16:33:23.761Z");
    let c = ApprovalComment::general("x", "2025-12-06T16:33:21.844Z", None);
    let err = apply_action(PENDING, ApprovalAction::Reject, Some("  "), &[], now).unwrap_err();
    assert_eq!(err.code(), "invalid");
    assert!(apply_action(PENDING, ApprovalAction::Approve, None, std::slice::from_ref(&c), now).is_err());
    assert!(apply_action(PENDING, ApprovalAction::NeedsRevision, Some("fix it"), &[], now).is_err());
    let rejected = apply_action(PENDING, ApprovalAction::Reject, Some("Out of scope"), &[], now).unwrap();
    let a = parse_approval(&rejected).unwrap();
    assert_eq!((a.status, a.response.as_deref()), (ApprovalStatus::Rejected, Some("Out of scope")));
    assert_eq!(ApprovalAction::parse("approve").unwrap(), ApprovalAction::Approve);
    assert!(ApprovalAction::parse("maybe").is_err());
}

#[test]
fn unknown_fields_keep_their_place() {
    let with_meta = PENDING.replace(
        "  \"category\": \"spec\",",
        "  \"metadata\": {\n    \"z\": 1,\n    \"a\": [\n      \"x\"\n    ]\n  },\n  \"category\": \"spec\",",
    );
    let a = parse_approval(&with_meta).unwrap();
    assert_eq!(a.extra[0].0, "metadata");
    let out = apply_action(&with_meta, ApprovalAction::Approve, Some("ok"), &[], at("2026-01-01T00:00:00Z")).unwrap();
    assert!(out.contains("  \"metadata\": {\n    \"z\": 1,\n    \"a\": [\n      \"x\"\n    ]\n  },\n  \"category\""));
}

#[test]
fn selection_summary_cuts_at_fifty_utf16_units() {
    let long = "└── scripts/\n    ├── setup_linux.sh      # udev rules setup and more";
    // The corpus comment, in the key order the dashboard wrote it.
    let c = ApprovalComment::from_json_text(
        r##"{"type": "selection", "comment": "enhance scripting", "timestamp": "2025-12-06T16:40:00.000Z",
            "selectedText": "\u2514\u2500\u2500 scripts/\n    \u251c\u2500\u2500 setup_linux.sh      # udev rules setup and more",
            "highlightColor": {"bg": "rgba(255, 235, 59, 0.3)", "border": "#FFEB3B", "name": "#ffeb3b"},
            "id": "comment_1", "startOffset": 8605, "endOffset": 8781}"##,
    )
    .unwrap();
    assert_eq!(c.selected_text(), Some(long));
    let s = feedback_summary(std::slice::from_ref(&c));
    assert_eq!(
        s,
        "Feedback Summary (1 comments):\n\nSpecific Text Comments:\n1. \"└── scripts/\n    ├── setup_linux.sh      # udev ru...\": enhance scripting\n"
    );
    let json = c.to_json().stringify();
    assert!(json.contains("\"highlightColor\": {\n    \"bg\": \"rgba(255, 235, 59, 0.3)\",\n    \"border\": \"#FFEB3B\",\n    \"name\": \"#ffeb3b\"\n  },\n  \"id\": \"comment_1\",\n  \"startOffset\": 8605"));
}
