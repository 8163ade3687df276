//! Where specbridge keeps its config and its state.

use crate::error::ConfigError;
use std::path::{Path, PathBuf};

/// Environment variable naming one folder for both config and state. It makes a
/// bridge self-contained (tests, containers, several bridges on one machine).
pub const HOME_ENV: &str = "SPECBRIDGE_HOME";

/// The config folder (config.toml, token.json) and the state folder (indexes,
/// outbox, audit log, status). Both are the same folder under [`Paths::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Holds `config.toml` and, with the file vault, `token.json`.
    pub config_dir: PathBuf,
    /// Holds `outbox.json`, `audit.log`, `status.json` and `projects/<id>/index.json`.
    pub state_dir: PathBuf,
}

impl Paths {
    /// The platform folders for the app "specbridge" (for example
    /// `~/.config/specbridge` and `~/.local/state/specbridge` on Linux), or the one
    /// folder named by `SPECBRIDGE_HOME` when it is set.
    pub fn platform() -> Result<Self, ConfigError> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
            return Ok(Self::at(PathBuf::from(home)));
        }
        let dirs = directories::ProjectDirs::from("", "", "specbridge").ok_or(ConfigError::NoHome)?;
        // Only Linux has a separate state folder; elsewhere the local data folder plays that role.
        let state_dir = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir()).to_path_buf();
        Ok(Self { config_dir: dirs.config_dir().to_path_buf(), state_dir })
    }

    /// One folder for both config and state.
    pub fn at(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref().to_path_buf();
        Self { config_dir: dir.clone(), state_dir: dir }
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// `token.json`, used by the file vault.
    pub fn token_file(&self) -> PathBuf {
        self.config_dir.join("token.json")
    }

    /// `outbox.json`: events not yet acknowledged by the hub.
    pub fn outbox_file(&self) -> PathBuf {
        self.state_dir.join("outbox.json")
    }

    /// `audit.log`: one JSON line per mutation the hub asked for.
    pub fn audit_log(&self) -> PathBuf {
        self.state_dir.join("audit.log")
    }

    /// `jobs.json`: the run history of the pinned jobs.
    pub fn jobs_file(&self) -> PathBuf {
        self.state_dir.join("jobs.json")
    }

    /// `jobs.toml` in the config folder: the jobs pinned by the machine's owner.
    pub fn pinned_jobs_file(&self) -> PathBuf {
        self.config_dir.join("jobs.toml")
    }

    /// `job-proposals/`: job definitions proposed from the hub, one file each,
    /// waiting for the owner's approval.
    pub fn proposals_dir(&self) -> PathBuf {
        self.state_dir.join("job-proposals")
    }

    /// `commands.jsonl`: the outcomes of recorded commands, by id (applied at most once).
    pub fn commands_file(&self) -> PathBuf {
        self.state_dir.join("commands.jsonl")
    }

    /// `status.json`: the running engine's status, for `specbridge status`.
    pub fn status_file(&self) -> PathBuf {
        self.state_dir.join("status.json")
    }

    /// `projects/<id>/index.json`: a project's file index.
    pub fn index_file(&self, project: &str) -> PathBuf {
        self.state_dir.join("projects").join(project).join("index.json")
    }
}
