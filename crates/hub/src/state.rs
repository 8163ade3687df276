//! The state one hub shares between its routes, sessions and tasks.

use crate::auth::Sessions;
use crate::commands::CommandService;
use crate::events::EventBus;
use crate::job_feed::JobFeed;
use crate::limits::Limiters;
use crate::router::CommandRouter;
use crate::store::Store;
use crate::HubConfig;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Counters for tests and benchmarks. Bytes count WebSocket payloads of data
/// frames on bridge sessions.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) bridge_upgrade_attempts: AtomicU64,
    pub(crate) bridge_auth_failures: AtomicU64,
    pub(crate) bridges_connected: AtomicU64,
    pub(crate) bridge_bytes_in: AtomicU64,
    pub(crate) bridge_bytes_out: AtomicU64,
    pub(crate) bridge_frames_in: AtomicU64,
    pub(crate) bridge_frames_out: AtomicU64,
}

/// State shared by the routes and sessions of one hub.
pub(crate) struct HubState {
    pub(crate) config: HubConfig,
    pub(crate) store: Arc<dyn Store>,
    /// Whether the store accepts writes (`/healthz`).
    pub(crate) health: Arc<crate::health::StoreHealth>,
    pub(crate) router: CommandRouter,
    /// What happened, for dashboards.
    pub(crate) events: EventBus,
    /// Browser sessions.
    pub(crate) sessions: Sessions,
    /// Who waits for which command; the per-machine lanes.
    pub(crate) commands: CommandService,
    /// Per-address abuse limits.
    pub(crate) limits: Limiters,
    /// Live job runs and their output, for dashboards.
    pub(crate) jobs: JobFeed,
    pub(crate) stats: Stats,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
}
