use super::*;
use crate::task_status::set_task_status;
use proptest::prelude::*;

const TASKS: &str = "# Tasks Document

## Phase 1

- [x] 1. Create workspace
  - File: Cargo.toml (root), src/lib.rs
  - Purpose: foundation
  - _Leverage: Cargo workspace documentation_
  - _Requirements: 1.1, 1.2, NFR_
  - _Prompt: Role: Rust Developer | Task: Create root Cargo.toml | Success: it builds_

- [-] 1.1 Initialize core crate
  - _Requirements: 1.3_
  - _Prompt: Role: Systems Programmer |
    Task: no_std crate
    continued here_

  - [ ] 1.1.1. Nested subtask
- [~] 2\\. Blocked one
  - _Blocked: waiting for the API_
* [ ] 3 Star bullet
- [ ] Run the tests (no id: not a task)
- [x] **4.** bold id (not a task for spec-workflow)
```
- [ ] 9. inside a fence still counts, as in spec-workflow
```
";

#[test]
fn parses_tasks_and_details() {
    let tasks = parse_tasks(TASKS);
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["1", "1.1", "1.1.1", "2", "3", "9"]);
    let t1 = &tasks[0];
    assert_eq!((t1.title.as_str(), t1.status, t1.line), ("Create workspace", TaskStatus::Done, 4));
    assert_eq!(t1.files, ["Cargo.toml", "src/lib.rs"]);
    assert_eq!(t1.requirements, ["1.1", "1.2"]);
    assert_eq!(t1.leverage.as_deref(), Some("Cargo workspace documentation"));
    assert_eq!(t1.prompt.as_deref(), Some("Role: Rust Developer | Task: Create root Cargo.toml | Success: it builds"));
    assert_eq!(t1.details.len(), 5);
    let t11 = &tasks[1];
    assert_eq!(t11.status, TaskStatus::InProgress);
    assert_eq!(t11.prompt.as_deref(), Some("Role: Systems Programmer | Task: no_std crate continued here"));
    assert_eq!(tasks[2].indent, 2);
    assert_eq!((tasks[3].title.as_str(), tasks[3].status), ("Blocked one", TaskStatus::Blocked));
    assert_eq!(tasks[3].blocked_reason.as_deref(), Some("waiting for the API"));
    assert_eq!(task_progress(TASKS), TaskProgress { total: 6, pending: 3, in_progress: 1, done: 1, blocked: 1 });
}

#[test]
fn sets_status_by_id_only() {
    let out = set_task_status(TASKS, "1.1.1", TaskStatus::Done, None).unwrap();
    assert_eq!(out, TASKS.replace("- [ ] 1.1.1.", "- [x] 1.1.1."));
    // Leaving blocked removes the reason line, as spec-workflow does.
    let out = set_task_status(TASKS, "2", TaskStatus::Pending, None).unwrap();
    assert_eq!(
        out,
        TASKS.replace("- [~] 2\\. Blocked one\n  - _Blocked: waiting for the API_\n", "- [ ] 2\\. Blocked one\n")
    );
    let out = set_task_status(TASKS, "3", TaskStatus::InProgress, None).unwrap();
    assert_eq!(out, TASKS.replace("* [ ] 3 Star", "* [-] 3 Star"));
    let err = set_task_status(TASKS, "1.2", TaskStatus::Done, None).unwrap_err();
    assert_eq!(err, SpecError::TaskNotFound { id: "1.2".into() });
    assert_eq!(err.code(), "not_found");
    // `1` must not match `1.1`, and an id-less checkbox is never a target.
    let out = set_task_status(TASKS, "1", TaskStatus::Pending, None).unwrap();
    assert_eq!(out, TASKS.replacen("- [x] 1. Create", "- [ ] 1. Create", 1));
}

#[test]
fn crlf_files_stay_crlf() {
    let text = "- [ ] 1. First\r\n  - _Requirements: 2_\r\n- [ ] 2. Second\r\n";
    let out = set_task_status(text, "2", TaskStatus::Done, None).unwrap();
    assert_eq!(out, "- [ ] 1. First\r\n  - _Requirements: 2_\r\n- [x] 2. Second\r\n");
    assert_eq!(parse_tasks(text)[0].requirements, ["2"]);
    assert_eq!(parse_tasks(text)[1].title, "Second");
}

#[test]
fn status_names() {
    assert_eq!(TaskStatus::from_name("completed").unwrap(), TaskStatus::Done);
    assert_eq!(TaskStatus::from_name("in-progress").unwrap(), TaskStatus::InProgress);
    assert_eq!(TaskStatus::from_name("nope").unwrap_err().code(), "invalid");
}

fn task_line() -> impl Strategy<Value = String> {
    let marker = prop::sample::select(vec![' ', 'x', '-', '~']);
    let id =
        prop::collection::vec(1u32..20, 1..4).prop_map(|p| p.iter().map(u32::to_string).collect::<Vec<_>>().join("."));
    let indent = prop::sample::select(vec!["", "  ", "    "]);
    let bullet = prop::sample::select(vec!["-", "*"]);
    let dot = prop::sample::select(vec!["", "."]);
    (indent, bullet, marker, id, dot, "[A-Za-z ]{1,20}")
        .prop_map(|(i, b, m, id, d, t)| format!("{i}{b} [{m}] {id}{d} x{t}"))
}

fn any_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => task_line(),
        2 => "  - _Requirements: [0-9., ]{1,10}_",
        1 => Just(String::new()),
        1 => "## [a-zA-Z ]{1,12}",
        1 => "- \\[ \\] [a-z ]{1,10}",
        1 => "[^\n\r]{0,30}",
    ]
}

proptest! {
    /// Setting a task's status changes exactly one byte, its marker, whatever the file holds.
    #[test]
    fn one_marker_changes_and_nothing_else(
        lines in prop::collection::vec(any_line(), 1..30),
        crlf in any::<bool>(),
        pick in any::<prop::sample::Index>(),
        status in prop::sample::select(vec![TaskStatus::Pending, TaskStatus::InProgress, TaskStatus::Done, TaskStatus::Blocked]),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = lines.join(nl) + nl;
        let tasks = parse_tasks(&text);
        prop_assume!(!tasks.is_empty());
        let target = &tasks[pick.index(tasks.len())];
        // The first task with that id is the one that changes.
        let first = tasks.iter().find(|t| t.id == target.id).unwrap();
        let out = set_task_status(&text, &target.id, status, None).unwrap();
        let diffs: Vec<usize> = text.bytes().zip(out.bytes()).enumerate().filter(|(_, (a, b))| a != b).map(|(i, _)| i).collect();
        prop_assert_eq!(out.len(), text.len());
        prop_assert!(diffs.len() <= 1);
        let after = parse_tasks(&out);
        prop_assert_eq!(after.len(), tasks.len());
        for (before, now) in tasks.iter().zip(&after) {
            let expected = if before.line == first.line { status } else { before.status };
            prop_assert_eq!(now.status, expected);
            prop_assert_eq!(&now.title, &before.title);
        }
    }
}
