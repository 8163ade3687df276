//! Project layouts: which spec tool owns a folder, and so which commands apply.

use serde::{Deserialize, Serialize};

/// How a project folder is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// LeanSpec: `specs/NNN-name/README.md` with YAML frontmatter.
    #[serde(rename = "leanspec")]
    LeanSpec,
    /// spec-workflow-mcp: `.spec-workflow/`.
    SpecWorkflow,
    /// spec-context-mcp: `.spec-context/`.
    SpecContext,
    /// Any folder of markdown: file commands only. A layout this build does
    /// not know (sent by a newer bridge) reads as generic, the safe subset.
    #[serde(other)]
    Generic,
}

impl Layout {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeanSpec => "leanspec",
            Self::SpecWorkflow => "spec-workflow",
            Self::SpecContext => "spec-context",
            Self::Generic => "generic",
        }
    }

    /// The layout with this wire name (unknown names are generic).
    pub fn from_wire(name: &str) -> Self {
        match name {
            "leanspec" => Self::LeanSpec,
            "spec-workflow" => Self::SpecWorkflow,
            "spec-context" => Self::SpecContext,
            _ => Self::Generic,
        }
    }

    /// The folder holding the spec tool's files (`specs`, `.spec-workflow`,
    /// `.spec-context`), or `None` for generic projects.
    pub fn spec_root(self) -> Option<&'static str> {
        match self {
            Self::LeanSpec => Some("specs"),
            Self::SpecWorkflow => Some(".spec-workflow"),
            Self::SpecContext => Some(".spec-context"),
            Self::Generic => None,
        }
    }

    /// Whether this is spec-workflow or spec-context (same formats, different root).
    pub fn is_workflow(self) -> bool {
        matches!(self, Self::SpecWorkflow | Self::SpecContext)
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}
