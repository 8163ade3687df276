//! Project folders as the engine serves them: layout detection and allowed roots.
//!
//! Detection only looks at folder names; parsing the spec formats belongs to the
//! `specbridge-specs` crate.

use crate::config::{is_valid_id, ProjectConfig};
use crate::error::ConfigError;
use crate::policy;
use specbridge_protocol::ProjectInfo;
use std::path::{Path, PathBuf};

pub use specbridge_protocol::Layout;

/// The folders the hub may see and edit when the config sets no `roots`.
pub fn default_roots(layout: Layout) -> &'static [&'static str] {
    match layout {
        Layout::LeanSpec => &["specs"],
        Layout::SpecWorkflow => &[".spec-workflow"],
        Layout::SpecContext => &[".spec-context"],
        Layout::Generic => &["."],
    }
}

/// Detects a folder's layout. LeanSpec wins when `specs/` holds a folder named
/// `NNN-…` (three or more digits) with a README.md; then `.spec-workflow/`, then
/// `.spec-context/`; anything else is generic.
pub fn detect_layout(path: &Path) -> Layout {
    if has_leanspec_specs(&path.join("specs")) {
        Layout::LeanSpec
    } else if path.join(".spec-workflow").is_dir() {
        Layout::SpecWorkflow
    } else if path.join(".spec-context").is_dir() {
        Layout::SpecContext
    } else {
        Layout::Generic
    }
}

fn has_leanspec_specs(specs: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(specs) else { return false };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let digits = name.bytes().take_while(u8::is_ascii_digit).count();
        digits >= 3 && name.as_bytes().get(digits) == Some(&b'-') && entry.path().join("README.md").is_file()
    })
}

/// A project ready to serve: canonical root, detected layout, normalized roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Canonical folder path.
    pub root: PathBuf,
    /// Detected layout.
    pub layout: Layout,
    /// Allowed roots, relative, normalized (`.` is the whole folder).
    pub roots: Vec<String>,
    /// The hub may only read.
    pub read_only: bool,
}

impl Project {
    /// Resolves a configured project: the folder must exist; roots come from the
    /// config or the detected layout.
    pub fn open(config: &ProjectConfig) -> Result<Self, ConfigError> {
        if !is_valid_id(&config.id) {
            return Err(ConfigError::InvalidId(config.id.clone()));
        }
        let root = std::fs::canonicalize(&config.path)
            .map_err(|source| ConfigError::ProjectPath { path: config.path.clone(), source })?;
        if !root.is_dir() {
            return Err(ConfigError::NotADirectory { path: root });
        }
        let layout = detect_layout(&root);
        let configured: Vec<String> = match &config.roots {
            Some(roots) if !roots.is_empty() => roots.clone(),
            _ => default_roots(layout).iter().map(|r| (*r).to_owned()).collect(),
        };
        let mut roots = Vec::with_capacity(configured.len());
        for root in configured {
            let normalized = policy::normalize_root(&root).map_err(|e| ConfigError::InvalidRoot {
                project: config.id.clone(),
                root: root.clone(),
                reason: e.to_string(),
            })?;
            if !roots.contains(&normalized) {
                roots.push(normalized);
            }
        }
        Ok(Self { id: config.id.clone(), name: config.name.clone(), root, layout, roots, read_only: config.read_only })
    }

    /// The project as announced in `hello`.
    pub fn info(&self) -> ProjectInfo {
        ProjectInfo { id: self.id.clone(), name: self.name.clone(), layout: self.layout, read_only: self.read_only }
    }

    /// Refuses a project whose allowed roots contain one of specbridge's own
    /// folders (config, state): serving them would hand the hub the token.
    pub fn check_private(&self, own: &[&Path]) -> Result<(), ConfigError> {
        for dir in own {
            // The folder may not exist yet; its nearest existing ancestor decides.
            let real = dir.ancestors().find_map(|a| std::fs::canonicalize(a).ok().map(|c| (a, c)));
            let Some((ancestor, canonical)) = real else { continue };
            let full = canonical.join(dir.strip_prefix(ancestor).unwrap_or(Path::new("")));
            for root in &self.roots {
                let shared = if root == "." { self.root.clone() } else { self.root.join(root) };
                if full.starts_with(&shared) {
                    return Err(ConfigError::HomeInsideProject {
                        project: self.id.clone(),
                        root: root.clone(),
                        dir: dir.to_path_buf(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves a path from the hub through the path policy.
    pub fn resolve(&self, rel_path: &str) -> Result<PathBuf, policy::PolicyError> {
        policy::resolve(&self.root, &self.roots, rel_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }

    /// Regression: with the bridge's home inside a shared project (a common
    /// container layout), the hub could read its token file and rewrite its config.
    #[test]
    fn a_project_that_shares_the_bridges_own_folders_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let project_dir = dir.path().join("app");
        std::fs::create_dir_all(project_dir.join(".specbridge")).unwrap();
        let config = ProjectConfig {
            id: "app".into(),
            name: "app".into(),
            path: project_dir.clone(),
            read_only: false,
            paused: false,
            roots: Some(vec![".".into()]),
        };
        let project = Project::open(&config).unwrap();
        let home = project_dir.join(".specbridge/state");
        let error = project.check_private(&[&home]).unwrap_err();
        assert!(matches!(error, ConfigError::HomeInsideProject { .. }));
        assert!(error.to_string().contains("SPECBRIDGE_HOME"), "the error names the fix: {error}");
        // Narrower roots that leave the home out are fine.
        let narrow = Project::open(&ProjectConfig { roots: Some(vec!["specs".into()]), ..config }).unwrap();
        assert!(narrow.check_private(&[&home]).is_ok());
        assert!(project.check_private(&[&dir.path().join("elsewhere")]).is_ok());
    }

    #[test]
    fn detects_each_layout() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(detect_layout(d), Layout::Generic);
        touch(d, "specs/notes.md");
        touch(d, "specs/12-short/README.md");
        assert_eq!(detect_layout(d), Layout::Generic, "needs NNN- with three digits");
        std::fs::create_dir_all(d.join(".spec-context")).unwrap();
        assert_eq!(detect_layout(d), Layout::SpecContext);
        std::fs::create_dir_all(d.join(".spec-workflow")).unwrap();
        assert_eq!(detect_layout(d), Layout::SpecWorkflow);
        touch(d, "specs/001-auth/README.md");
        assert_eq!(detect_layout(d), Layout::LeanSpec);
        assert_eq!(serde_json::to_string(&Layout::SpecWorkflow).unwrap(), "\"spec-workflow\"");
        assert_eq!(serde_json::to_string(&Layout::LeanSpec).unwrap(), "\"leanspec\"");
        assert_eq!(format!("{:<10}|", Layout::Generic), "generic   |");
    }

    #[test]
    fn roots_come_from_layout_or_config() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "specs/001-a/README.md");
        let mut config = ProjectConfig {
            id: "app".into(),
            name: "app".into(),
            path: dir.path().into(),
            read_only: false,
            paused: false,
            roots: None,
        };
        assert_eq!(Project::open(&config).unwrap().roots, vec!["specs"]);
        config.roots = Some(vec!["docs/".into(), "./docs".into(), ".".into()]);
        assert_eq!(Project::open(&config).unwrap().roots, vec!["docs", "."]);
        config.roots = Some(vec!["../up".into()]);
        assert!(matches!(Project::open(&config), Err(ConfigError::InvalidRoot { .. })));
        config.roots = None;
        config.id = "../evil".into();
        assert!(Project::open(&config).is_err());
    }
}
