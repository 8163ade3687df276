//! Spec commands run through the executor on real temp folders.

use crate::audit::AuditLog;
use crate::executor::{Executor, Handled};
use crate::outcomes::Outcomes;
use crate::project::{Layout, Project};
use proptest::prelude::*;
use serde_json::{json, Value};
use specbridge_protocol::{Command, ErrorCode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    executor: Executor,
    next_id: std::sync::atomic::AtomicU64,
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

impl Fixture {
    fn new(layout: Layout, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).unwrap();
        for (rel, text) in files {
            write(&root, rel, text);
        }
        let project = Project {
            id: "p".into(),
            name: "p".into(),
            root: std::fs::canonicalize(&root).unwrap(),
            layout,
            roots: crate::project::default_roots(layout).iter().map(|r| (*r).to_owned()).collect(),
            read_only: false,
        };
        let projects = Arc::new(BTreeMap::from([("p".to_owned(), project)]));
        let audit = AuditLog::new(dir.path().join("state/audit.log"));
        let executor = Executor::new(
            projects,
            audit,
            Arc::new(super::Jobs::in_folder(&dir.path().join("state"))),
            Outcomes::default(),
        );
        Self { _dir: dir, root, executor, next_id: Default::default() }
    }

    fn run(&self, name: &str, args: Value) -> Handled {
        // A fresh id per command, as the hub gives them (a repeated id answers from the journal).
        let id = format!("c{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let command =
            Command { id, project: "p".into(), deadline_ms: 30_000, expires_at_ms: None, name: name.into(), args };
        self.executor.execute(&command, Instant::now() + Duration::from_secs(30))
    }

    fn ok(&self, name: &str, args: Value) -> Value {
        let handled = self.run(name, args);
        handled.response.result.unwrap_or_else(|| panic!("{name}: {:?}", handled.response.error))
    }

    fn code(&self, name: &str, args: Value) -> ErrorCode {
        self.run(name, args).response.error.expect("an error").code
    }
}

const README: &str = "---\nstatus: planned\ncreated: 2025-01-02\n---\n\n# A\n\n- [ ] one\n";

#[test]
fn the_model_is_parsed_once_until_a_file_changes() {
    let fx = Fixture::new(Layout::LeanSpec, &[("specs/001-a/README.md", README)]);
    for _ in 0..5 {
        assert_eq!(fx.ok("spec-list", json!({}))[0]["name"], "001-a");
    }
    assert_eq!(fx.executor.models_builds(), 1, "five reads, one parse");
    write(&fx.root, "specs/002-b/README.md", README);
    assert_eq!(fx.ok("spec-list", json!({})).as_array().unwrap().len(), 2);
    assert_eq!(fx.executor.models_builds(), 2);
    // Our own write changes the fingerprint too.
    fx.ok("update-frontmatter", json!({ "name": "001", "changes": { "status": "in-progress" } }));
    assert_eq!(fx.ok("spec-list", json!({}))[0]["status"], "in-progress");
    assert_eq!(fx.executor.models_builds(), 3);
}

#[test]
fn unarchive_of_a_spec_that_is_not_archived_changes_nothing() {
    let fx = Fixture::new(Layout::LeanSpec, &[("specs/001-a/README.md", README)]);
    assert_eq!(fx.code("spec-unarchive", json!({ "name": "001-a" })), ErrorCode::Invalid);
    assert_eq!(std::fs::read_to_string(fx.root.join("specs/001-a/README.md")).unwrap(), README);
    fx.ok("spec-archive", json!({ "name": "001-a" }));
    fx.ok("spec-unarchive", json!({ "name": "001-a" }));
    let text = std::fs::read_to_string(fx.root.join("specs/001-a/README.md")).unwrap();
    assert!(
        text.starts_with("---\nstatus: complete\n"),
        "no earlier status recorded: complete, the documented default: {text}"
    );
}

#[test]
fn names_and_paths_cannot_escape() {
    let fx = Fixture::new(
        Layout::SpecWorkflow,
        &[(".spec-workflow/specs/auth/tasks.md", "- [ ] 1. A\n"), ("outside.md", "secret\n")],
    );
    let args = json!({ "name": "../../x", "document": "tasks", "content": "x" });
    assert_eq!(fx.code("spec-document-write", args), ErrorCode::Invalid);
    let args = json!({ "title": "t", "file_path": "outside.md", "category_name": "auth" });
    assert_eq!(fx.code("approval-create", args), ErrorCode::ForbiddenPath);
    assert_eq!(fx.code("steering-read", json!({ "doc": "../../outside" })), ErrorCode::Invalid);
    assert_eq!(std::fs::read_to_string(fx.root.join("outside.md")).unwrap(), "secret\n");
}

#[test]
fn spec_context_has_principles_steering() {
    let fx = Fixture::new(
        Layout::SpecContext,
        &[(".spec-context/specs/a/tasks.md", "- [x] 1. A\n"), (".spec-context/steering/principles.md", "# P\n")],
    );
    let steering = fx.ok("steering-status", json!({}));
    let names: Vec<&str> = steering.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["product", "tech", "structure", "principles"]);
    assert_eq!(fx.ok("steering-read", json!({ "doc": "principles" }))["content"], "# P\n");
    // Regression: a spec with only tasks.md, all done, was `complete`; spec-workflow's
    // spec-status tool says `requirements-needed` (its first rule: no requirements.md).
    assert_eq!(fx.ok("spec-list", json!({}))[0]["status"], "requirements-needed");
}

#[test]
fn generic_projects_have_file_commands_only() {
    let fx = Fixture::new(Layout::Generic, &[("notes.md", "# n\n")]);
    assert_eq!(fx.code("spec-list", json!({})), ErrorCode::Invalid);
    assert_eq!(fx.code("approval-list", json!({})), ErrorCode::Invalid);
    assert_eq!(fx.ok("project-info", json!({}))["layout"], "generic");
}

#[test]
fn unknown_commands_and_bad_args_are_invalid() {
    let fx = Fixture::new(Layout::LeanSpec, &[("specs/001-a/README.md", README)]);
    assert_eq!(fx.code("spec-explode", json!({})), ErrorCode::Invalid);
    assert_eq!(fx.code("update-frontmatter", json!({ "name": "001" })), ErrorCode::Invalid);
    let bad = json!({ "name": "001", "changes": { "status": "finished" } });
    assert_eq!(fx.code("update-frontmatter", bad), ErrorCode::Invalid);
    let reserved = json!({ "name": "001", "changes": { "updated_at": "x" } });
    assert_eq!(fx.code("update-frontmatter", reserved), ErrorCode::Forbidden);
    assert_eq!(std::fs::read_to_string(fx.root.join("specs/001-a/README.md")).unwrap(), README);
}

fn task_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..20, prop::sample::select(vec![' ', '-', 'x', '~']), "[a-z ]{1,12}")
            .prop_map(|(n, m, t)| format!("- [{m}] {n}. {t}")),
        "[a-zA-Z#_:* ]{0,20}",
        Just("  - _Requirements: 1.1_".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Through the whole command path (executor, model, atomic write), a task
    /// status update changes one marker byte of tasks.md and no other byte.
    #[test]
    fn task_status_update_changes_one_byte(
        lines in prop::collection::vec(task_line(), 1..15),
        pick in any::<prop::sample::Index>(),
        status in prop::sample::select(vec!["pending", "in-progress", "completed", "blocked"]),
    ) {
        let text = lines.join("\n") + "\n";
        let tasks = specbridge_specs::parse_tasks(&text);
        prop_assume!(!tasks.is_empty());
        let id = tasks[pick.index(tasks.len())].id.clone();
        let fx = Fixture::new(Layout::SpecWorkflow, &[(".spec-workflow/specs/s/tasks.md", &text)]);
        fx.ok("task-status-update", json!({ "name": "s", "task_id": id, "status": status }));
        let out = std::fs::read_to_string(fx.root.join(".spec-workflow/specs/s/tasks.md")).unwrap();
        prop_assert_eq!(out.len(), text.len());
        let diffs = text.bytes().zip(out.bytes()).filter(|(a, b)| a != b).count();
        prop_assert!(diffs <= 1);
    }

    /// Through the whole command path, changing `priority` leaves every line
    /// but `priority` and `updated_at` as it was.
    #[test]
    fn priority_update_changes_only_its_line(
        extra in prop::collection::vec("[a-z]{1,6}: [a-z0-9 ]{0,8}", 0..6),
        body in "[a-z#\\- \n]{0,60}",
        priority in prop::sample::select(vec!["low", "medium", "high", "critical"]),
    ) {
        let keys: std::collections::BTreeSet<&str> = extra.iter().map(|l| l.split(':').next().unwrap()).collect();
        prop_assume!(keys.len() == extra.len() && !keys.iter().any(|k| ["status", "priority", "updated_at", "created"].contains(k)));
        let text = format!("---\nstatus: planned\npriority: medium\n{}---\n{body}", extra.iter().map(|l| format!("{l}\n")).collect::<String>());
        let fx = Fixture::new(Layout::LeanSpec, &[("specs/001-a/README.md", &text)]);
        fx.ok("update-frontmatter", json!({ "name": "001-a", "changes": { "priority": priority } }));
        let out = std::fs::read_to_string(fx.root.join("specs/001-a/README.md")).unwrap();
        let keep = |t: &str| t.lines().filter(|l| !l.starts_with("priority:") && !l.starts_with("updated_at:")).map(str::to_owned).collect::<Vec<_>>();
        prop_assert_eq!(keep(&out), keep(&text));
        let expected = format!("\npriority: {priority}\n");
        prop_assert!(out.contains(&expected));
    }
}
