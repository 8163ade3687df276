//! The state one hub shares between its routes, sessions and tasks.

use crate::auth::Sessions;
use crate::cluster::Cluster;
use crate::commands::CommandService;
use crate::events::EventBus;
use crate::job_feed::JobFeed;
use crate::limits::Limiters;
use crate::metrics::Metrics;
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
    /// Dashboard WebSockets open now.
    pub(crate) dashboards_connected: AtomicU64,
    pub(crate) bridge_bytes_in: AtomicU64,
    pub(crate) bridge_bytes_out: AtomicU64,
    pub(crate) bridge_frames_in: AtomicU64,
    pub(crate) bridge_frames_out: AtomicU64,
}

/// Counts one open connection in a gauge of [`Stats`] for as long as it lives,
/// whichever way the connection ends.
pub(crate) struct OpenConnection<'a>(&'a AtomicU64);

impl<'a> OpenConnection<'a> {
    pub(crate) fn count(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
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
    /// Commands by outcome and store latency, for `/metrics`.
    pub(crate) metrics: Metrics,
    /// Cancelled when the hub starts draining: `/readyz` answers 503 from
    /// then on, so a balancer stops sending it traffic before it stops.
    pub(crate) drain: CancellationToken,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// The other hub nodes on NATS, when `--nats-url` was given.
    pub(crate) cluster: Option<Arc<Cluster>>,
}

impl HubState {
    /// Whether a machine is connected to this node or to any other.
    pub(crate) fn is_online(&self, machine: &str) -> bool {
        self.router.is_online(machine) || self.cluster.as_ref().is_some_and(|c| c.presence.is_online(machine))
    }
}
