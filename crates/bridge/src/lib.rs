//! The specbridge bridge engine.
//!
//! It watches project folders, keeps a per-project index of file hashes, queues
//! changes in a persisted outbox, and syncs them to a hub over one WebSocket
//! (`link`). It also runs the commands the hub sends (`file-read`,
//! `file-write`, and the spec commands of design §4 through the
//! `specbridge-specs` formats) under a strict path policy, with conflict
//! detection, atomic writes and an audit log.
//!
//! It is a library: the headless CLI (`specbridge`) and the tray app host it
//! through [`Engine::start`] and the [`EngineHandle`]. It has no UI and no
//! runtime of its own; it never calls `#[tokio::main]`.
//!
//! What it does not know: how the spec formats are parsed and edited (that is
//! `specbridge-specs`; the engine reads, hands text in and writes), the hub's
//! storage, or how the host presents state to a person.
//!
//! # Tasks
//!
//! ```text
//! OS events -> watcher (completed writes at once; else debounce 40 ms / max 250 ms) --Changed--> sync core
//!                                                         (indexes + outbox)
//! link session <--pending/ack/digest/manifest/want--------------^
//!      |  command -> executor (blocking pool) -> response (sent first)
//!      '--------------------- Changed (own writes) -------------^
//! status writer <- watch channel <- core + link
//! ```
//!
//! One task owns each piece of state: the sync core owns the indexes and the
//! outbox, the link owns the socket, the watcher owns the OS watcher. They talk
//! through channels with oneshot replies. Every task is tracked;
//! [`EngineHandle::shutdown`] cancels them and waits a bounded time.
//!
//! # Files
//!
//! Config folder: `config.toml`, `jobs.toml` (pinned jobs), `token.json`
//! (file vault, 0600).
//! State folder: `outbox.json`, `projects/<id>/index.json`, `audit.log`
//! (JSON lines), `status.json` (read by `specbridge status`), `jobs.json`
//! (run history), `job-proposals/` (proposals from the hub). A full state
//! folder does not stop the engine: see `disk`.

mod allocator;
mod audit;
mod commands;
pub mod config;
mod core;
mod debounce;
mod disk;
pub mod engine;
pub mod error;
mod executor;
mod fsutil;
pub mod index;
pub mod jobs;
mod link;
mod mutation;
pub mod outbox;
mod outcomes;
pub mod paths;
pub mod policy;
pub mod project;
pub mod status;
mod sweep;
mod timing;
pub mod vault;
mod watcher;

pub use config::{Config, HubSettings, MachineConfig, ProjectConfig, VaultChoice};
pub use engine::{Engine, EngineHandle, EngineOptions};
pub use error::{ConfigError, EngineError, StateError};
pub use jobs::{ConsentAnswer, ConsentError, ConsentPrompter, ConsentRequest, JobBook, JobsError, PinnedJob};
pub use paths::Paths;
pub use policy::PolicyError;
pub use project::{detect_layout, Layout, Project};
pub use status::{read_status, EngineEvent, EngineStatus, LinkState, ProjectStatus, StateProblem, StatusReport};
pub use timing::Timing;
pub use vault::{Token, Vault, VaultError};
