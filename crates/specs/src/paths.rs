//! Where spec-workflow and spec-context keep things, relative to the project root, and the name
//! checks that keep a dashboard-supplied name from escaping its folder.

use serde::Serialize;

use crate::error::SpecError;

/// Which tool's layout a project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowRoot {
    /// spec-workflow-mcp: `.spec-workflow/`
    SpecWorkflow,
    /// spec-context-mcp: `.spec-context/` (adds `steering/principles.md`)
    SpecContext,
}

/// The spec documents of a spec folder, in workflow order.
pub const SPEC_DOCUMENTS: [&str; 3] = ["requirements", "design", "tasks"];

impl WorkflowRoot {
    /// `.spec-workflow` or `.spec-context`.
    pub fn dir(self) -> &'static str {
        match self {
            WorkflowRoot::SpecWorkflow => ".spec-workflow",
            WorkflowRoot::SpecContext => ".spec-context",
        }
    }

    /// The steering documents this layout knows, without `.md`.
    pub fn steering_docs(self) -> &'static [&'static str] {
        match self {
            WorkflowRoot::SpecWorkflow => &["product", "tech", "structure"],
            WorkflowRoot::SpecContext => &["product", "tech", "structure", "principles"],
        }
    }

    /// `{root}/specs/{name}`
    pub fn spec_dir(self, name: &str) -> Result<String, SpecError> {
        validate_name("spec name", name)?;
        Ok(format!("{}/specs/{name}", self.dir()))
    }

    /// `{root}/archive/specs/{name}`: where `spec-archive` moves a spec folder.
    pub fn archived_spec_dir(self, name: &str) -> Result<String, SpecError> {
        validate_name("spec name", name)?;
        Ok(format!("{}/archive/specs/{name}", self.dir()))
    }

    /// `{root}/specs/{name}/{document}.md`, `document` being requirements, design or tasks.
    pub fn spec_document_path(self, name: &str, document: &str) -> Result<String, SpecError> {
        if !SPEC_DOCUMENTS.contains(&document) {
            return Err(SpecError::invalid("document", format!("`{document}` is not requirements, design or tasks")));
        }
        Ok(format!("{}/{document}.md", self.spec_dir(name)?))
    }

    /// `{root}/steering/{name}.md` for a steering document this layout knows.
    pub fn steering_path(self, name: &str) -> Result<String, SpecError> {
        let name = name.strip_suffix(".md").unwrap_or(name);
        if !self.steering_docs().contains(&name) {
            let known = self.steering_docs().join(", ");
            return Err(SpecError::invalid("steering document", format!("`{name}` is not one of {known}")));
        }
        Ok(format!("{}/steering/{name}.md", self.dir()))
    }

    /// `{root}/specs/{name}/Implementation Logs`
    pub fn impl_log_dir(self, spec: &str) -> Result<String, SpecError> {
        Ok(format!("{}/Implementation Logs", self.spec_dir(spec)?))
    }

    /// `{root}/specs/{name}/implementation-log.json`: the legacy single-file log.
    pub fn legacy_impl_log_path(self, spec: &str) -> Result<String, SpecError> {
        Ok(format!("{}/implementation-log.json", self.spec_dir(spec)?))
    }

    /// `{root}/approvals/{category_name}/{id}.json`. The category name is one plain path
    /// segment: spec-workflow 2.x refuses anything else (`validateSimplePathSegment`) and reads
    /// approvals one folder deep only.
    pub fn approval_path(self, category_name: &str, id: &str) -> Result<String, SpecError> {
        validate_name("category name", category_name)?;
        validate_approval_id(id)?;
        Ok(format!("{}/approvals/{category_name}/{id}.json", self.dir()))
    }

    /// `{root}/approvals/{category_name}/.snapshots/{basename(file_path)}`; an empty category
    /// name is `default`, as in spec-workflow's `captureSnapshot`.
    pub fn snapshot_dir(self, category_name: &str, file_path: &str) -> Result<String, SpecError> {
        let category_name = if category_name.is_empty() { "default" } else { category_name };
        validate_name("category name", category_name)?;
        let base = file_path.rsplit(['/', '\\']).next().unwrap_or(file_path);
        validate_name("document file name", base)?;
        Ok(format!("{}/approvals/{category_name}/.snapshots/{base}", self.dir()))
    }

    /// Where a project-relative file lies among approvals, as spec-workflow's `ApprovalStorage`
    /// (`getAllApprovals`, `findApprovalPath`) sees it.
    pub fn approval_location(self, path: &str) -> ApprovalLocation {
        let prefix = format!("{}/approvals/", self.dir());
        let Some(rel) = path.trim_start_matches("./").strip_prefix(&prefix) else {
            return ApprovalLocation::NotApproval;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let Some((file, dirs)) = parts.split_last() else { return ApprovalLocation::NotApproval };
        if !file.ends_with(".json") || dirs.is_empty() || dirs.contains(&".snapshots") {
            return ApprovalLocation::NotApproval;
        }
        match dirs {
            [category] if is_simple_segment(category) => {
                ApprovalLocation::Current { category_name: category.to_string() }
            }
            [_] => ApprovalLocation::NotApproval,
            _ if file.starts_with("approval_") => ApprovalLocation::Legacy,
            _ => ApprovalLocation::NotApproval,
        }
    }

    /// Refuses to decide an approval spec-workflow would never read back: a legacy nested file
    /// is `forbidden` ([`SpecError::LegacyApproval`]), anything that is not an approval `invalid`.
    pub fn check_approval_path(self, path: &str) -> Result<(), SpecError> {
        match self.approval_location(path) {
            ApprovalLocation::Current { .. } => Ok(()),
            ApprovalLocation::Legacy => Err(SpecError::LegacyApproval { path: path.to_string() }),
            ApprovalLocation::NotApproval => {
                Err(SpecError::invalid("approval path", format!("`{path}` is not an approval")))
            }
        }
    }
}

/// Where a file lies among a project's approvals (see [`WorkflowRoot::approval_location`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ApprovalLocation {
    /// `approvals/{category}/*.json`: listed, counted and decided by spec-workflow.
    Current {
        /// The folder name.
        category_name: String,
    },
    /// `approvals/{spec}/{document}/approval_*.json`, written by spec-workflow 0.x: skipped by
    /// spec-workflow 2.x, so shown read-only and never counted as pending.
    Legacy,
    /// Not an approval (snapshots, metadata, other files).
    NotApproval,
}

// spec-workflow's `validateSimplePathSegment`, which decides which category folders it reads.
fn is_simple_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && !name.contains("..") && !name.contains(['/', '\\', '\0'])
}

/// Checks a single path segment supplied from outside: no separators, no `..`, no leading dot,
/// no control characters, at most 255 bytes.
pub fn validate_name(field: &str, name: &str) -> Result<(), SpecError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.contains(['/', '\\', ':'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(SpecError::invalid(field, format!("`{name}` must be a plain folder or file name")));
    }
    Ok(())
}

/// Checks an approval id the way spec-workflow's batch endpoints do: `[A-Za-z0-9_-]+`.
pub fn validate_approval_id(id: &str) -> Result<(), SpecError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(SpecError::invalid("approval id", format!("`{id}` must use letters, digits, `_` or `-`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let r = WorkflowRoot::SpecWorkflow;
        assert_eq!(r.spec_document_path("auth", "tasks").unwrap(), ".spec-workflow/specs/auth/tasks.md");
        assert_eq!(r.archived_spec_dir("auth").unwrap(), ".spec-workflow/archive/specs/auth");
        assert_eq!(
            r.approval_path("auth", "approval_1_ab").unwrap(),
            ".spec-workflow/approvals/auth/approval_1_ab.json"
        );
        assert_eq!(
            r.snapshot_dir("steering", ".spec-workflow/steering/tech.md").unwrap(),
            ".spec-workflow/approvals/steering/.snapshots/tech.md"
        );
        assert_eq!(
            WorkflowRoot::SpecContext.steering_path("principles").unwrap(),
            ".spec-context/steering/principles.md"
        );
        assert!(r.steering_path("principles").is_err());
        assert_eq!(r.snapshot_dir("", "x/tasks.md").unwrap(), ".spec-workflow/approvals/default/.snapshots/tasks.md");
    }

    #[test]
    fn approval_locations() {
        let r = WorkflowRoot::SpecWorkflow;
        let current = |c: &str| ApprovalLocation::Current { category_name: c.into() };
        assert_eq!(r.approval_location(".spec-workflow/approvals/auth/approval_1_a.json"), current("auth"));
        assert_eq!(r.approval_location(".spec-workflow/approvals/auth/notes.json"), current("auth"));
        assert_eq!(
            r.approval_location(".spec-workflow/approvals/x/requirements.md/approval_1_a.json"),
            ApprovalLocation::Legacy
        );
        for other in [
            ".spec-workflow/approvals/x/.snapshots/tasks.md/snapshot-001.json",
            ".spec-workflow/approvals/x/.snapshots/tasks.md/metadata.json",
            ".spec-workflow/approvals/approval_1.json",
            ".spec-workflow/approvals/a..b/approval_1.json",
            ".spec-workflow/approvals/x/approval_1.md",
            ".spec-workflow/specs/x/tasks.md",
        ] {
            assert_eq!(r.approval_location(other), ApprovalLocation::NotApproval, "{other}");
        }
        let legacy = r.check_approval_path(".spec-workflow/approvals/x/requirements.md/approval_1_a.json").unwrap_err();
        assert_eq!(legacy.code(), "forbidden");
        assert!(r.check_approval_path(".spec-workflow/approvals/x/approval_1_a.json").is_ok());
    }

    #[test]
    fn refuses_escapes() {
        let r = WorkflowRoot::SpecContext;
        for bad in ["..", "../x", "a/b", ".hidden", "", "a\\b", "c:", "a\0b"] {
            assert!(r.spec_dir(bad).is_err(), "{bad:?}");
        }
        assert!(r.approval_path("a/b", "approval_1").is_err());
        assert!(r.approval_path("x", "../y").is_err());
        assert!(r.spec_document_path("x", "notes").is_err());
    }
}
