//! LeanSpec checklists: counting `- [ ]` / `- [x]` items in a README body the way the LeanSpec
//! CLI counts them, and the guard `leanspec update --status …` applies before it writes.
//!
//! Observed on `@leanspec/cli-linux-x64@0.3.0` (see `/work/notes/issue14-upstream.md`); the
//! nearest source is `rust/leanspec-core/src/validators/completion.rs` and
//! `rust/leanspec-cli/src/commands/update.rs` at codervisor/lean-spec f1081867.

use crate::error::SpecError;
use crate::leanspec::SpecStatus;
use crate::tasks::{TaskProgress, TaskStatus};

/// Counts a LeanSpec body's checklist items as LeanSpec does: every line (split as Rust's
/// `str::lines`) matching `^(\s*)-\s*\[([ xX])\]\s*(.+)$`, with Unicode `\s`.
///
/// So, unlike a markdown renderer: items inside fenced or indented code count too, `-[ ]`
/// without a space counts, `- [ ] ` with only a trailing space counts, `- [ ]` with nothing after
/// it does not, and `*` / `+` / numbered bullets, `[-]` and `[~]` do not. Pass the body (after
/// the frontmatter): the CLI never finds items in the frontmatter.
pub fn count_checkboxes(body: &str) -> TaskProgress {
    let mut p = TaskProgress::default();
    for line in body.lines() {
        if let Some(checked) = checklist_item(line) {
            p.add(if checked { TaskStatus::Done } else { TaskStatus::Pending });
        }
    }
    p
}

// `Some(checked)` when the line is an item. `\s*(.+)$` after `]` only needs one more character
// of any kind, since `\s*` may match nothing.
fn checklist_item(line: &str) -> Option<bool> {
    let rest = line.trim_start_matches(char::is_whitespace).strip_prefix('-')?;
    let rest = rest.trim_start_matches(char::is_whitespace).strip_prefix('[')?;
    let mut chars = rest.chars();
    let checked = match chars.next()? {
        ' ' => false,
        'x' | 'X' => true,
        _ => return None,
    };
    let after = chars.as_str().strip_prefix(']')?;
    (!after.is_empty()).then_some(checked)
}

/// The guard LeanSpec's `update --status` applies, in its order, unless `force`:
/// 1. from `draft` to `in-progress` or `complete`: [`SpecError::SkipsPlanned`]
///    (`Cannot skip 'planned' stage from draft. Use --force to override.`);
/// 2. to `complete` (also when already complete) with unchecked items in `body`:
///    [`SpecError::OpenItems`] with their count
///    (`spec has N outstanding checklist item(s). Use --force to mark complete anyway.`).
///
/// The CLI refuses with exit code 1 and writes nothing; so must the caller. `current` is the
/// status the file has now (`None` when absent or unknown).
pub fn check_status_change(
    current: Option<SpecStatus>,
    new: SpecStatus,
    body: &str,
    force: bool,
) -> Result<(), SpecError> {
    if force {
        return Ok(());
    }
    if current == Some(SpecStatus::Draft) && matches!(new, SpecStatus::InProgress | SpecStatus::Complete) {
        return Err(SpecError::SkipsPlanned { to: new.as_str() });
    }
    if new == SpecStatus::Complete {
        let open = count_checkboxes(body).pending;
        if open > 0 {
            return Err(SpecError::OpenItems { count: open });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_leanspec() {
        let body = "- [x] a\n- [X] b\n  - [ ] nested\n* [ ] star\n```md\n- [ ] fenced\n```\n- [] no\n-[ ]tight\n- [ ]\n- [ ] \n";
        assert_eq!(count_checkboxes(body), TaskProgress { total: 6, pending: 4, in_progress: 0, done: 2, blocked: 0 });
    }

    #[test]
    fn guard_order_and_force() {
        let open = "- [ ] one\n- [x] two\n";
        let g = |cur, new, force| check_status_change(cur, new, open, force);
        assert_eq!(
            g(Some(SpecStatus::Draft), SpecStatus::Complete, false),
            Err(SpecError::SkipsPlanned { to: "complete" })
        );
        assert_eq!(
            g(Some(SpecStatus::InProgress), SpecStatus::Complete, false),
            Err(SpecError::OpenItems { count: 1 })
        );
        assert_eq!(g(Some(SpecStatus::Complete), SpecStatus::Complete, false), Err(SpecError::OpenItems { count: 1 }));
        assert_eq!(g(None, SpecStatus::Complete, true), Ok(()));
        assert_eq!(g(Some(SpecStatus::Draft), SpecStatus::Planned, false), Ok(()));
        assert_eq!(check_status_change(Some(SpecStatus::Planned), SpecStatus::Complete, "- [x] done\n", false), Ok(()));
    }
}
