//! Error types shared across the engine. Each says what went wrong and, where
//! the user can do something about it, how to fix it. Module-specific errors
//! live next to their code: [`crate::vault::VaultError`], [`crate::policy::PolicyError`].

use std::path::PathBuf;
use std::time::Duration;

/// Loading, saving or editing the configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The platform has no home folder to derive config folders from.
    #[error("cannot find a home folder for specbridge; set SPECBRIDGE_HOME or pass --home DIR")]
    NoHome,
    /// The config file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this version.
    #[error("{} is not a valid specbridge config: {source}; fix the file or delete it to start over", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The config file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config cannot be turned into TOML (a bug).
    #[error("cannot serialize the config: {0}")]
    Serialize(#[from] toml::ser::Error),
    /// A project folder does not exist or cannot be resolved.
    #[error("cannot use {} as a project folder: {source}", path.display())]
    ProjectPath {
        /// The folder as given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A project path is a file, not a folder.
    #[error("{} is not a folder; pass the project folder that holds the specs", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The folder is already shared.
    #[error("{} is already shared as project `{id}`", path.display())]
    AlreadyShared {
        /// The folder.
        path: PathBuf,
        /// The existing project id.
        id: String,
    },
    /// No project with that id or path.
    #[error("no project `{0}`; `specbridge projects list` shows the ids")]
    UnknownProject(String),
    /// A project id that is not a safe slug (ids name state folders).
    #[error("invalid project id {0:?}: use letters, digits, '-', '_' and '.' (not first)")]
    InvalidId(String),
    /// A configured allowed root is not a plain relative folder.
    #[error("project `{project}`: invalid root {root:?}: {reason}; use a relative folder such as \"specs\" or \".\"")]
    InvalidRoot {
        /// Project id.
        project: String,
        /// The root as configured.
        root: String,
        /// Why it was refused.
        reason: String,
    },
    /// specbridge's own config or state folder lies inside a folder it shares:
    /// the hub could read its token and rewrite its config.
    #[error(
        "specbridge's own folder {} is inside the shared root `{root}` of project `{project}`; \
         move it out (set SPECBRIDGE_HOME or pass --home with a folder outside the project) \
         or share a narrower root",
        dir.display()
    )]
    HomeInsideProject {
        /// Project id.
        project: String,
        /// The allowed root that contains it.
        root: String,
        /// specbridge's folder.
        dir: PathBuf,
    },
}

/// Reading or writing one of the engine's state files (index, outbox, status) failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// File system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{} is corrupt: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// Starting, querying or stopping the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The config names no hub.
    #[error("no hub configured: run `specbridge login --hub <url>` first")]
    NoHub,
    /// The hub URL cannot be dialled.
    #[error("invalid hub URL {url:?}: {reason}")]
    InvalidHubUrl {
        /// The URL as configured.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A state file cannot be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The configuration is unusable as it is (see the message for the fix).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file watcher cannot start.
    #[error("cannot watch {}: {source}{hint}", path.display(), hint = watch_hint(source))]
    Watch {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: notify::Error,
    },
    /// A background task failed to run.
    #[error("engine task failed: {0}")]
    Task(String),
    /// Shutdown did not finish within the allowed time (state was saved as far as it got).
    #[error("the engine did not stop within {within:?}")]
    ShutdownTimeout {
        /// The bound that was exceeded.
        within: Duration,
    },
}

fn watch_hint(error: &notify::Error) -> &'static str {
    match error.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "; raise the limit (Linux: sysctl fs.inotify.max_user_watches=524288) or share fewer folders"
        }
        _ => "",
    }
}
