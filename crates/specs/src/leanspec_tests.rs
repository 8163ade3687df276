use super::*;
use proptest::prelude::*;

const NOW: &str = "2026-02-24T07:16:13.654610Z";

fn now() -> Timestamp {
    Timestamp::parse(NOW).unwrap()
}

/// The shape LeanSpec's Rust writer produces (block lists at column 0, bare timestamps).
const RUST_STYLE: &str = "---
status: planned
created: 2026-01-14
priority: high
tags:
- architecture
- cloud
depends_on:
- 082-web-realtime-sync-architecture
created_at: 2026-01-14T07:59:32.248498Z
updated_at: 2026-01-14T07:59:38.874533Z
---

# Cloud LeanSpec Local Sync Bridge

## Plan

- [x] one
- [ ] two
";

/// The shape its older TypeScript writer produced (indented lists, quoted values).
const TS_STYLE: &str = "---
status: in-progress
created: '2025-11-02'
tags:
  - quality
  - validation
priority: critical
created_at: '2025-11-02T00:00:00Z'
updated_at: '2025-12-04T06:45:54.057Z'
transitions:
  - status: in-progress
    at: '2025-11-05T13:35:26.669Z'
completed: '2025-11-06'
depends_on:
  - 012-sub-spec-files
---

# Comprehensive Spec Validation
";

fn status(s: SpecStatus) -> FrontmatterChanges {
    FrontmatterChanges { status: Some(s), ..Default::default() }
}

#[test]
fn parses_every_field() {
    let spec = parse_spec("213-cloud-sync", RUST_STYLE).unwrap();
    assert_eq!(spec.number, Some(213));
    assert_eq!(spec.title.as_deref(), Some("Cloud LeanSpec Local Sync Bridge"));
    assert_eq!(spec.status, Some(SpecStatus::Planned));
    assert_eq!(spec.priority, Some(Priority::High));
    assert_eq!(spec.tags, ["architecture", "cloud"]);
    assert_eq!(spec.depends_on, ["082-web-realtime-sync-architecture"]);
    assert_eq!(spec.created.as_deref(), Some("2026-01-14"));
    assert_eq!(spec.updated_at.unwrap().to_rfc3339_micros(), "2026-01-14T07:59:38.874533Z");
    assert_eq!((spec.checklist.total, spec.checklist.done), (2, 1));
    assert!(spec.warnings.is_empty());

    let ts = parse_spec("018-spec-validation", TS_STYLE).unwrap();
    assert_eq!(ts.tags, ["quality", "validation"]);
    assert_eq!(
        ts.transitions,
        [Transition { status: SpecStatus::InProgress, at: Timestamp::parse("2025-11-05T13:35:26.669Z").unwrap() }]
    );
    assert_eq!(ts.extra, [("completed".to_string(), YamlValue::Scalar("2025-11-06".into()))]);
}

#[test]
fn lenient_reading() {
    let text = "---\nstatus: blocked\ntags: [a, 'b c', \"187\"]\npriority:\nparent: 001-x\nassignee: marvin\nowner:\n  team: core\n---\n## No title\n";
    let spec = parse_spec("7-x", text).unwrap();
    assert_eq!(spec.status, None);
    assert_eq!(spec.warnings.len(), 1, "{:?}", spec.warnings);
    assert_eq!(spec.tags, ["a", "b c", "187"]);
    assert_eq!(spec.priority, None);
    assert_eq!(spec.parent.as_deref(), Some("001-x"));
    assert_eq!(spec.assignee.as_deref(), Some("marvin"));
    assert_eq!(spec.title, None);
    assert_eq!(spec.extra[0].1.get("team").and_then(YamlValue::as_str), Some("core"));
    assert_eq!(parse_spec("x", "# no frontmatter\n").unwrap_err().code(), "invalid");
}

#[test]
fn status_to_complete_in_rust_style() {
    let out = update_frontmatter(RUST_STYLE, &status(SpecStatus::Complete), now()).unwrap();
    let expected = RUST_STYLE.replace("status: planned", "status: complete").replace(
        "updated_at: 2026-01-14T07:59:38.874533Z\n",
        &format!("updated_at: {NOW}\ncompleted_at: {NOW}\ntransitions:\n- status: complete\n  at: {NOW}\n"),
    );
    assert_eq!(out, expected);
    let spec = parse_spec("213-x", &out).unwrap();
    assert_eq!(spec.completed_at, Some(now()));
    assert_eq!(spec.transitions.len(), 1);
}

#[test]
fn status_to_complete_in_ts_style() {
    let out = update_frontmatter(TS_STYLE, &status(SpecStatus::Complete), now()).unwrap();
    let expected = TS_STYLE
        .replace("status: in-progress\ncreated", "status: complete\ncreated")
        .replace("updated_at: '2025-12-04T06:45:54.057Z'\n", &format!("updated_at: '{NOW}'\ncompleted_at: '{NOW}'\n"))
        .replace(
            "    at: '2025-11-05T13:35:26.669Z'\n",
            &format!("    at: '2025-11-05T13:35:26.669Z'\n  - status: complete\n    at: '{NOW}'\n"),
        );
    assert_eq!(out, expected);
}

#[test]
fn leaving_complete_keeps_completed_at() {
    let done = update_frontmatter(RUST_STYLE, &status(SpecStatus::Complete), now()).unwrap();
    let later = Timestamp::from_unix_micros(now().unix_micros() + 60_000_000);
    let reopened = update_frontmatter(&done, &status(SpecStatus::InProgress), later).unwrap();
    let spec = parse_spec("213-x", &reopened).unwrap();
    assert_eq!(spec.completed_at, Some(now()), "LeanSpec keeps the first completion time");
    assert_eq!(spec.updated_at, Some(later));
    let statuses: Vec<SpecStatus> = spec.transitions.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [SpecStatus::Complete, SpecStatus::InProgress]);
    assert!(reopened.contains(&format!("- status: in-progress\n  at: {later}\n---")));
}

#[test]
fn unchanged_values_leave_the_file_alone() {
    let same = FrontmatterChanges {
        status: Some(SpecStatus::Planned),
        priority: Some(Priority::High),
        tags: Some(vec!["architecture".into(), "cloud".into()]),
        ..Default::default()
    };
    assert_eq!(update_frontmatter(RUST_STYLE, &same, now()).unwrap(), RUST_STYLE);
}

#[test]
fn lists_keep_their_style() {
    let tags =
        |t: &[&str]| FrontmatterChanges { tags: Some(t.iter().map(|s| s.to_string()).collect()), ..Default::default() };
    let out = update_frontmatter(RUST_STYLE, &tags(&["cloud", "187", "a b"]), now()).unwrap();
    assert!(out.contains("tags:\n- cloud\n- '187'\n- a b\ndepends_on:"), "{out}");
    let out = update_frontmatter(TS_STYLE, &tags(&["x"]), now()).unwrap();
    assert!(out.contains("tags:\n  - x\npriority: critical"), "{out}");
    let flow = "---\nstatus: planned\ntags: [a, b]\n---\nbody\n";
    let out = update_frontmatter(flow, &tags(&["a", "c,d"]), now()).unwrap();
    assert_eq!(out, format!("---\nstatus: planned\ntags: [a, 'c,d']\nupdated_at: {NOW}\n---\nbody\n"));
    let out = update_frontmatter(flow, &tags(&[]), now()).unwrap();
    assert!(out.contains("tags: []\n"));
    let empty = "---\nstatus: planned\ntags: []\npriority: low\n---\n";
    let out = update_frontmatter(empty, &tags(&["ui"]), now()).unwrap();
    assert_eq!(out, format!("---\nstatus: planned\ntags:\n- ui\npriority: low\nupdated_at: {NOW}\n---\n"));
}

#[test]
fn new_keys_go_where_leanspec_puts_them() {
    let changes = FrontmatterChanges {
        parent: Some(Some("200-umbrella".into())),
        depends_on: Some(vec![]),
        assignee: Some(Some("maya".into())),
        other: vec![("reviewer".into(), Some("tom".into())), ("sprint".into(), Some("42".into()))],
        ..Default::default()
    };
    let minimal =
        "---\nstatus: planned\ncreated: 2026-01-01\npriority: low\ntags: []\ncreated_at: 2026-01-01T00:00:00Z\n---\n";
    let out = update_frontmatter(minimal, &changes, now()).unwrap();
    let keys: Vec<&str> = out.lines().filter_map(|l| l.split_once(':').map(|(k, _)| k)).collect();
    assert_eq!(
        keys,
        [
            "status",
            "created",
            "priority",
            "tags",
            "depends_on",
            "parent",
            "assignee",
            "reviewer",
            "sprint",
            "created_at",
            "updated_at"
        ]
    );
    assert!(out.contains("sprint: '42'\n"));
    let removed =
        update_frontmatter(&out, &FrontmatterChanges { parent: Some(None), ..Default::default() }, now()).unwrap();
    assert!(!removed.contains("parent"));
}

#[test]
fn comments_and_crlf_survive() {
    let text = "---\r\n# owner: core team\r\nstatus: planned # not yet\r\npriority: low\r\n---\r\n\r\n# T\r\n";
    let out = update_frontmatter(text, &status(SpecStatus::InProgress), now()).unwrap();
    assert_eq!(
        out,
        format!("---\r\n# owner: core team\r\nstatus: in-progress # not yet\r\npriority: low\r\nupdated_at: {NOW}\r\ntransitions:\r\n- status: in-progress\r\n  at: {NOW}\r\n---\r\n\r\n# T\r\n")
    );
}

#[test]
fn refuses_bad_edits() {
    let auto = FrontmatterChanges { other: vec![("updated_at".into(), Some("x".into()))], ..Default::default() };
    assert_eq!(update_frontmatter(RUST_STYLE, &auto, now()).unwrap_err().code(), "forbidden");
    let typed = FrontmatterChanges { other: vec![("status".into(), Some("x".into()))], ..Default::default() };
    assert_eq!(update_frontmatter(RUST_STYLE, &typed, now()).unwrap_err().code(), "invalid");
    let newline = FrontmatterChanges { tags: Some(vec!["a\nb: c".into()]), ..Default::default() };
    assert_eq!(update_frontmatter(RUST_STYLE, &newline, now()).unwrap_err().code(), "invalid");
    assert_eq!("done".parse::<SpecStatus>().unwrap_err().code(), "invalid");
}

#[test]
fn content_edit_keeps_frontmatter() {
    let out = update_content(RUST_STYLE, "\n# New title\n", now()).unwrap();
    let (fm_old, _) = RUST_STYLE.split_once("\n---\n").unwrap();
    let (fm_new, body) = out.split_once("\n---\n").unwrap();
    assert_eq!(fm_new, fm_old.replace("2026-01-14T07:59:38.874533Z", NOW));
    assert_eq!(body, "\n# New title\n");
    assert_eq!(spec_body(&out).unwrap(), "\n# New title\n");
    assert_eq!(update_content(RUST_STYLE, spec_body(RUST_STYLE).unwrap(), now()).unwrap(), RUST_STYLE);
}

#[test]
fn creates_specs() {
    assert_eq!(next_spec_number(["001-a", "213-b", "archived", "99-c"]), 214);
    assert_eq!(next_spec_number(Vec::<&str>::new()), 1);
    let tags = vec!["sync".to_string(), "2026".to_string()];
    let new = new_spec_readme(214, "Offline queue: replay & retry!", SpecStatus::Planned, Priority::High, &tags, now())
        .unwrap();
    assert_eq!(new.dir_name, "214-offline-queue-replay-retry");
    assert!(new.contents.starts_with(&format!(
        "---\nstatus: planned\ncreated: 2026-02-24\npriority: high\ntags:\n- sync\n- '2026'\ncreated_at: {NOW}\nupdated_at: {NOW}\n---\n\n# Offline queue: replay & retry!\n"
    )));
    let spec = parse_spec(&new.dir_name, &new.contents).unwrap();
    assert_eq!((spec.number, spec.tags.clone(), spec.checklist.total), (Some(214), tags, 0));
    assert!(new_spec_readme(1, " ", SpecStatus::Draft, Priority::Low, &[], now()).is_err());
}

fn scalar_line() -> impl Strategy<Value = String> {
    let key = "[a-z][a-z_]{0,8}".prop_filter("not an edited key", |k| !KNOWN.contains(&k.as_str()) && k != "owner");
    let value = prop_oneof![
        "[a-z0-9-]{1,12}",
        "[a-z ]{1,10}".prop_map(|v| format!("'{v}'")),
        "[a-z]{1,6}".prop_map(|v| format!("\"{v}\"")),
        Just("[x, 'y']".to_string()),
        "[a-z]{1,6}".prop_map(|v| format!("{v} # note")),
    ];
    (key, value).prop_map(|(k, v)| format!("{k}: {v}\n"))
}

fn other_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => scalar_line(),
        1 => Just("# a comment line\n".to_string()),
        1 => Just("tags:\n- one\n- two\n".to_string()),
        1 => Just("depends_on:\n  - 001-a\n".to_string()),
        1 => Just("transitions:\n- status: planned\n  at: 2026-01-01T00:00:00Z\n".to_string()),
        1 => Just("created_at: '2026-01-01T00:00:00Z'\n".to_string()),
    ]
}

fn drop_lines(text: &str, prefixes: &[&str]) -> String {
    text.lines().filter(|l| !prefixes.iter().any(|p| l.starts_with(p))).map(|l| format!("{l}\n")).collect()
}

proptest! {
    /// Changing `priority` rewrites that value (and `updated_at`) and no other byte.
    #[test]
    fn priority_edit_leaves_every_other_byte(
        others in prop::collection::vec(other_entry(), 0..8),
        at in 0usize..8,
        with_updated in any::<bool>(),
        body in "[a-z#\\- \n]{0,80}",
    ) {
        let mut entries = others;
        entries.insert(at.min(entries.len()), "priority: low\n".to_string());
        if with_updated {
            entries.push("updated_at: 2020-01-01T00:00:00Z\n".to_string());
        }
        let text = format!("---\nstatus: planned\n{}---\n{body}", entries.concat());
        let changes = FrontmatterChanges { priority: Some(Priority::Critical), ..Default::default() };
        let out = update_frontmatter(&text, &changes, now()).unwrap();
        prop_assert_eq!(drop_lines(&out, &["priority:", "updated_at:"]), drop_lines(&text, &["priority:", "updated_at:"]));
        prop_assert!(out.contains("\npriority: critical\n"));
        let tail = format!("---\n{body}");
        prop_assert!(out.ends_with(&tail));
        let spec = parse_spec("001-x", &out).unwrap();
        prop_assert_eq!(spec.priority, Some(Priority::Critical));
        prop_assert_eq!(spec.updated_at, Some(now()));
    }

    /// Setting a custom key touches that key's line (and `updated_at`) only.
    #[test]
    fn custom_key_edit_leaves_every_other_byte(
        others in prop::collection::vec(other_entry(), 0..8),
        value in "[a-zA-Z0-9 ._-]{0,18}[a-z]",
    ) {
        let text = format!("---\nstatus: planned\n{}owner: someone\n---\n\n# T\n", others.concat());
        let changes = FrontmatterChanges { other: vec![("owner".into(), Some(value.clone()))], ..Default::default() };
        let out = update_frontmatter(&text, &changes, now()).unwrap();
        prop_assert_eq!(drop_lines(&out, &["owner:", "updated_at:"]), drop_lines(&text, &["owner:", "updated_at:"]));
        let spec = parse_spec("001-x", &out).unwrap();
        let owner = spec.extra.iter().find(|(k, _)| k == "owner").map(|(_, v)| v.clone());
        prop_assert_eq!(owner, Some(YamlValue::Scalar(value)));
    }
}
