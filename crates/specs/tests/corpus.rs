//! Parses every spec file of the real corpus in ../shared/corpus (next to the
//! repository) and prints the counts: specs, tasks by marker, approvals by
//! status. Any parse error fails the test. Without the folder the test prints
//! a note and passes, since a bare clone may not have it.
#![allow(clippy::unwrap_used)]

use specbridge_specs::{
    count_checkboxes, parse_approval, parse_legacy_log, parse_log_markdown, parse_snapshot, parse_snapshot_metadata,
    parse_spec, parse_tasks, TaskStatus,
};
use std::collections::BTreeMap;
mod support;

use support::files;

#[derive(Default, Debug)]
struct Counts {
    lean_specs: usize,
    workflow_specs: usize,
    checklist_items: usize,
    tasks: BTreeMap<&'static str, usize>,
    approvals: BTreeMap<String, usize>,
    snapshots: usize,
    log_entries: usize,
}

#[test]
fn every_corpus_file_parses() {
    let corpus = support::corpus();
    if !corpus.is_dir() {
        println!("note: {} is absent; the corpus test was skipped", corpus.display());
        return;
    }
    let mut all = Vec::new();
    files(&corpus, &mut all);
    all.sort();
    let mut counts = Counts::default();
    let mut errors = Vec::new();
    for path in &all {
        let rel = path.strip_prefix(&corpus).unwrap().to_string_lossy().replace('\\', "/");
        let parts: Vec<&str> = rel.split('/').collect();
        let name = *parts.last().unwrap();
        let text = || std::fs::read_to_string(path).unwrap();
        let in_workflow = rel.contains("/.spec-workflow/") || rel.contains("/.spec-context/");
        let mut check = |what: &str, result: Result<(), specbridge_specs::SpecError>| {
            if let Err(e) = result {
                errors.push(format!("{rel} ({what}): {e}"));
            }
        };
        // LeanSpec: <project>/specs/NNN-name/README.md
        if !in_workflow && parts.len() == 4 && parts[1] == "specs" && name == "README.md" {
            let dir = parts[2];
            if dir.bytes().take_while(u8::is_ascii_digit).count() >= 3 {
                check(
                    "LeanSpec README",
                    parse_spec(dir, &text()).map(|spec| {
                        counts.lean_specs += 1;
                        counts.checklist_items += count_checkboxes(&text()).total;
                        let _ = spec;
                    }),
                );
            }
            continue;
        }
        if !in_workflow {
            continue;
        }
        let spec_doc = rel.contains("/specs/") && !rel.contains("/approvals/");
        if spec_doc && name == "requirements.md" && !rel.contains("/archive/") {
            counts.workflow_specs += 1;
        }
        if spec_doc && name == "tasks.md" {
            for task in parse_tasks(&text()) {
                let marker = match task.status {
                    TaskStatus::Pending => "[ ]",
                    TaskStatus::InProgress => "[-]",
                    TaskStatus::Done => "[x]",
                    TaskStatus::Blocked => "[~]",
                };
                *counts.tasks.entry(marker).or_default() += 1;
            }
        } else if rel.contains("/approvals/") && rel.contains("/.snapshots/") {
            if name == "metadata.json" {
                check("snapshot metadata", parse_snapshot_metadata(&text()).map(drop));
            } else if name.starts_with("snapshot-") && name.ends_with(".json") {
                check("snapshot", parse_snapshot(&text()).map(|_| counts.snapshots += 1));
            }
        } else if rel.contains("/approvals/") && name.ends_with(".json") {
            check(
                "approval",
                parse_approval(&text())
                    .map(|a| *counts.approvals.entry(a.status.as_str().to_owned()).or_default() += 1),
            );
        } else if rel.contains("/Implementation Logs/") && name.ends_with(".md") {
            check("implementation log", parse_log_markdown(&text()).map(|_| counts.log_entries += 1));
        } else if name == "implementation-log.json" {
            check("legacy implementation log", parse_legacy_log(&text()).map(|e| counts.log_entries += e.len()));
        }
    }
    println!("corpus: {} files", all.len());
    println!("specs: {} LeanSpec, {} spec-workflow", counts.lean_specs, counts.workflow_specs);
    println!("LeanSpec checklist items: {}", counts.checklist_items);
    println!("tasks by marker: {:?}", counts.tasks);
    println!("approvals by status: {:?}", counts.approvals);
    println!("snapshots: {}, implementation log entries: {}", counts.snapshots, counts.log_entries);
    assert!(errors.is_empty(), "{} files did not parse:\n{}", errors.len(), errors.join("\n"));
    assert!(counts.lean_specs > 0 && !counts.approvals.is_empty(), "the corpus layout changed: {counts:?}");
}
