//! The status spec-workflow derives for a spec (its `spec-status` tool's `overallStatus`):
//! spec-workflow keeps no status field, so the words and rules here are the tool's.

use std::fmt;

use serde::Serialize;

use crate::tasks::TaskProgress;

/// A spec's derived status, in spec-workflow's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowStatus {
    /// No `requirements.md`.
    RequirementsNeeded,
    /// `requirements.md` but no `design.md`.
    DesignNeeded,
    /// Both, but no `tasks.md`.
    TasksNeeded,
    /// All three documents, and at least one task still `[ ]`.
    Implementing,
    /// All three, at least one task, and every task `[x]`.
    Completed,
    /// All three and none of the above: no tasks, or none pending while some are `[-]` or `[~]`.
    ReadyForImplementation,
}

impl WorkflowStatus {
    /// The word spec-workflow uses (`requirements-needed`, …, `completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::RequirementsNeeded => "requirements-needed",
            WorkflowStatus::DesignNeeded => "design-needed",
            WorkflowStatus::TasksNeeded => "tasks-needed",
            WorkflowStatus::Implementing => "implementing",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::ReadyForImplementation => "ready-for-implementation",
        }
    }

    /// The tool's `currentPhase` for this status (`requirements`, `design`, `tasks`,
    /// `implementation` or `completed`).
    pub fn phase(self) -> &'static str {
        match self {
            WorkflowStatus::RequirementsNeeded => "requirements",
            WorkflowStatus::DesignNeeded => "design",
            WorkflowStatus::TasksNeeded => "tasks",
            WorkflowStatus::Implementing | WorkflowStatus::ReadyForImplementation => "implementation",
            WorkflowStatus::Completed => "completed",
        }
    }
}

impl fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of a spec folder's documents exist, and its tasks.md progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecDocuments {
    /// `requirements.md` exists.
    pub requirements: bool,
    /// `design.md` exists.
    pub design: bool,
    /// `tasks.md` exists; `Some` with its progress ([`task_progress`](crate::task_progress)),
    /// `None` when absent (or unreadable, which spec-workflow treats as "no progress").
    pub tasks: Option<Option<TaskProgress>>,
}

/// spec-workflow's rules, in its order: the first missing document decides; then any pending
/// task means `implementing`; then all tasks done (and at least one) means `completed`;
/// otherwise `ready-for-implementation`. Only `[ ]` counts as pending: a spec whose other tasks
/// are done and one is `[-]` is ready-for-implementation, not implementing.
pub fn workflow_status(docs: SpecDocuments) -> WorkflowStatus {
    if !docs.requirements {
        return WorkflowStatus::RequirementsNeeded;
    }
    if !docs.design {
        return WorkflowStatus::DesignNeeded;
    }
    let Some(progress) = docs.tasks else { return WorkflowStatus::TasksNeeded };
    match progress {
        Some(p) if p.pending > 0 => WorkflowStatus::Implementing,
        Some(p) if p.total > 0 && p.done == p.total => WorkflowStatus::Completed,
        _ => WorkflowStatus::ReadyForImplementation,
    }
}
