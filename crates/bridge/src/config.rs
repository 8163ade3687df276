//! The bridge's configuration: `config.toml` in the config folder.
//!
//! ```toml
//! vault = "keychain"
//!
//! [machine]
//! id = "6f1c…"
//! name = "Work MacBook"
//!
//! [hub]
//! url = "https://hub.example.com"
//!
//! [[projects]]
//! id = "app"
//! name = "app"
//! path = "/home/maya/code/app"
//! read_only = false
//! # roots = ["specs"]   # overrides the layout's default allowed roots
//! ```
//!
//! Jobs are not here: they are pinned in `jobs.toml` beside this file
//! ([`crate::jobs`]).

use crate::error::ConfigError;
use crate::fsutil;
use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Longest project id we generate.
const MAX_ID_LEN: usize = 48;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Where the machine token is kept.
    #[serde(default)]
    pub vault: VaultChoice,
    /// This machine.
    #[serde(default)]
    pub machine: MachineConfig,
    /// The hub to sync with, once logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubSettings>,
    /// The shared project folders.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
    /// The `[jobs]` table of earlier versions (argv prefixes the hub's job
    /// definitions had to start with). It is no longer used: jobs are pinned
    /// in `jobs.toml` (see [`crate::jobs::JobBook`]). Read so the engine can
    /// say so, and dropped when the config is saved again.
    #[serde(default, rename = "jobs", skip_serializing)]
    pub legacy_jobs: Option<toml::Value>,
}

/// This machine's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    /// Stable id (UUID v4), generated on first load.
    #[serde(default)]
    pub id: String,
    /// Display name; defaults to the host name.
    #[serde(default)]
    pub name: String,
}

/// The hub this bridge syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSettings {
    /// `http://` or `https://` URL of the hub; the link dials `ws(s)://…/v1/bridge`.
    pub url: String,
}

/// Where the machine token lives (see docs/security.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultChoice {
    /// The OS keychain.
    #[default]
    Keychain,
    /// `token.json` in the config folder, mode 0600.
    File,
    /// The `SPECBRIDGE_TOKEN` environment variable.
    Env,
}

impl std::fmt::Display for VaultChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Keychain => "keychain",
            Self::File => "file",
            Self::Env => "env",
        })
    }
}

/// One shared project folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectConfig {
    /// Stable id, unique on this machine (a slug of the name).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Absolute, canonical folder path.
    pub path: PathBuf,
    /// The hub may read but never write.
    #[serde(default)]
    pub read_only: bool,
    /// Syncing is paused: the project stays listed at the hub (its last-known
    /// files stay readable there) but is neither watched nor served.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Allowed roots relative to `path`; `None` means the layout's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vault: VaultChoice::default(),
            machine: MachineConfig { id: new_machine_id(), name: default_machine_name() },
            hub: None,
            projects: Vec::new(),
            legacy_jobs: None,
        }
    }
}

impl Config {
    /// Loads `config.toml`. A missing file gives the defaults with a fresh machine
    /// id, which is saved at once so that the id is stable from the first run.
    pub fn load(paths: &Paths) -> Result<Self, ConfigError> {
        let path = paths.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let config = Self::default();
                config.save(paths)?;
                return Ok(config);
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let mut config: Self =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source: Box::new(source) })?;
        let mut changed = false;
        if config.machine.id.trim().is_empty() {
            config.machine.id = new_machine_id();
            changed = true;
        }
        if config.machine.name.trim().is_empty() {
            config.machine.name = default_machine_name();
        }
        if changed {
            config.save(paths)?;
        }
        Ok(config)
    }

    /// Writes `config.toml` atomically (temp file, fsync, rename).
    pub fn save(&self, paths: &Paths) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self)?;
        let path = paths.config_file();
        fsutil::create_private_dir(&paths.config_dir)
            .map_err(|source| ConfigError::Write { path: path.clone(), source })?;
        fsutil::atomic_write(&path, text.as_bytes(), Some(fsutil::PRIVATE_FILE))
            .map_err(|source| ConfigError::Write { path, source })
    }

    /// Shares a folder: canonicalizes it, checks it is a folder, and derives a
    /// unique id from `name` (or the folder name). Returns the new entry so the
    /// caller can adjust it (for example `read_only`) before saving.
    pub fn add_project(
        &mut self,
        path: impl AsRef<Path>,
        name: Option<String>,
    ) -> Result<&mut ProjectConfig, ConfigError> {
        let given = path.as_ref();
        let path = std::fs::canonicalize(given)
            .map_err(|source| ConfigError::ProjectPath { path: given.to_path_buf(), source })?;
        if !path.is_dir() {
            return Err(ConfigError::NotADirectory { path });
        }
        if let Some(existing) = self.projects.iter().find(|p| p.path == path) {
            return Err(ConfigError::AlreadyShared { path, id: existing.id.clone() });
        }
        let name = name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let id = self.unique_id(&slug(&name));
        let name = if name.trim().is_empty() { id.clone() } else { name };
        self.projects.push(ProjectConfig { id, name, path, read_only: false, paused: false, roots: None });
        let last = self.projects.len() - 1;
        Ok(&mut self.projects[last])
    }

    /// Stops sharing a project, named by id or by folder path. Files are not touched.
    pub fn remove_project(&mut self, id_or_path: &str) -> Result<ProjectConfig, ConfigError> {
        let position = self.projects.iter().position(|p| p.id == id_or_path).or_else(|| {
            let canonical = std::fs::canonicalize(id_or_path).ok();
            self.projects
                .iter()
                .position(|p| p.path == Path::new(id_or_path) || canonical.as_deref() == Some(p.path.as_path()))
        });
        match position {
            Some(i) => Ok(self.projects.remove(i)),
            None => Err(ConfigError::UnknownProject(id_or_path.to_owned())),
        }
    }

    fn unique_id(&self, base: &str) -> String {
        let taken = |id: &str| self.projects.iter().any(|p| p.id == id);
        if !taken(base) {
            return base.to_owned();
        }
        (2..).map(|n| format!("{base}-{n}")).find(|id| !taken(id)).unwrap_or_else(|| base.to_owned())
    }
}

/// A project id from a display name: lowercase ASCII letters, digits and single
/// dashes, at most 48 characters, never empty. Safe as a folder name everywhere.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_owned();
    out.truncate(MAX_ID_LEN);
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "project".to_owned()
    } else {
        out
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Whether `id` is a slug as [`slug`] makes them (ids end up in folder names).
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

fn new_machine_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The host name from /etc/hostname, `HOSTNAME` or `COMPUTERNAME`, else "my-machine".
fn default_machine_name() -> String {
    let from_file = std::fs::read_to_string("/etc/hostname").ok();
    let from_env = || std::env::var("HOSTNAME").ok().or_else(|| std::env::var("COMPUTERNAME").ok());
    from_file
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| from_env().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "my-machine".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_nonempty() {
        assert_eq!(slug("My App!"), "my-app");
        assert_eq!(slug("  --  "), "project");
        assert_eq!(slug("Ünïcode spec"), "n-code-spec");
        assert!(slug(&"x".repeat(100)).len() <= MAX_ID_LEN);
        assert!(is_valid_id(&slug("../etc")));
    }

    #[test]
    fn load_creates_and_keeps_the_machine_id() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path());
        let first = Config::load(&paths).unwrap();
        assert!(uuid::Uuid::parse_str(&first.machine.id).is_ok());
        assert!(!first.machine.name.is_empty());
        let again = Config::load(&paths).unwrap();
        assert_eq!(first.machine.id, again.machine.id);
    }

    #[test]
    fn round_trip_with_hub_and_projects() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path().join("home"));
        let project = dir.path().join("My Project");
        std::fs::create_dir_all(&project).unwrap();
        let mut config = Config::load(&paths).unwrap();
        config.hub = Some(HubSettings { url: "http://127.0.0.1:7700".into() });
        config.vault = VaultChoice::File;
        let added = config.add_project(&project, None).unwrap();
        assert_eq!(added.id, "my-project");
        added.roots = Some(vec!["docs".into()]);
        config.save(&paths).unwrap();
        assert_eq!(Config::load(&paths).unwrap(), config);
    }

    #[test]
    fn add_and_remove_projects() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        let a = dir.path().join("a/app");
        let b = dir.path().join("b/app");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert_eq!(config.add_project(&a, None).unwrap().id, "app");
        assert_eq!(config.add_project(&b, None).unwrap().id, "app-2");
        assert!(matches!(config.add_project(&a, None), Err(ConfigError::AlreadyShared { .. })));
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(config.add_project(&file, None), Err(ConfigError::NotADirectory { .. })));
        assert!(matches!(config.add_project(dir.path().join("missing"), None), Err(ConfigError::ProjectPath { .. })));

        assert_eq!(config.remove_project(b.to_str().unwrap()).unwrap().id, "app-2");
        assert_eq!(config.remove_project("app").unwrap().id, "app");
        assert!(matches!(config.remove_project("app"), Err(ConfigError::UnknownProject(_))));
    }
}
