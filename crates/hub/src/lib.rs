//! The specbridge hub: authenticates bridges, keeps each machine's last-known
//! files, and routes commands from its REST API to the machine that must run
//! them.
//!
//! [`start`] runs a hub on a listener you bind (port 0 in tests) and returns a
//! [`HubHandle`] to stop it. The hub knows nothing about spec formats or the
//! file system of a bridge: it stores what bridges send and forwards commands.

mod api;
mod auth;
mod cluster;
mod commands;
mod dashboard;
mod error;
mod events;
mod health;
mod job_feed;
mod limits;
mod machines;
mod metrics;
mod ops;
mod pairing;
mod router;
mod serve;
mod session;
mod state;
mod store;
mod updates;

pub use auth::{IssuedToken, Secret, TokenKind};
pub use cluster::ClusterError;
pub use error::{status_for, ApiError, HubError};
pub use health::StoreHealth;
pub use limits::AbuseLimits;
pub use router::{CommandRouter, RouteError};
pub use store::{
    AccountInfo, AccountStore, CommandRecord, CommandState, CommandStore, Connected, FileChange, FileRow, Finish,
    Inserted, MachineRow, NewCommand, PgStore, Principal, ProjectRow, QueueDepth, RevokedToken, SqliteStore, Store,
    StoreResult, StoredFile, TokenInfo, TokenStore, UserInfo, DEFAULT_ACCOUNT,
};

pub(crate) use state::HubState;
use state::Stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long [`HubHandle::shutdown`] waits for sessions and requests to finish.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(5);

/// Hub settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Folder for `hub.db`.
    pub data_dir: PathBuf,
    /// Default deadline of a routed command (30 s).
    pub command_timeout: Duration,
    /// The hub pings a bridge it has not heard from for this long (15 s).
    pub bridge_ping_interval: Duration,
    /// A bridge silent this long (pongs included) is dropped and shown offline
    /// (40 s: two unanswered pings, and within the 45 s dead-link target).
    pub bridge_idle_timeout: Duration,
    /// Time a new bridge connection has to send `hello` (10 s).
    pub hello_timeout: Duration,
    /// Folder holding the tray app's `latest.json` and update artifacts;
    /// `None` means `<data_dir>/updates`. A missing folder just means "no update".
    pub updates_dir: Option<PathBuf>,
    /// How long a command queued for an offline machine waits before it
    /// expires unsent (7 days).
    pub queue_ttl: Duration,
    /// Abuse limits (rates, connections, timeouts) per client address.
    pub limits: AbuseLimits,
    /// `postgres://…` to keep the state in Postgres (several hub nodes can
    /// share it); `None` keeps it in SQLite's `hub.db` in `data_dir`.
    pub database_url: Option<String>,
    /// `nats://…` to join other hub nodes on NATS: commands reach a machine
    /// connected to any node, and dashboards see every node's events.
    pub nats_url: Option<String>,
}

impl HubConfig {
    /// Defaults with the given data folder.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            command_timeout: Duration::from_secs(30),
            bridge_ping_interval: Duration::from_secs(15),
            bridge_idle_timeout: Duration::from_secs(40),
            hello_timeout: Duration::from_secs(10),
            updates_dir: None,
            queue_ttl: Duration::from_secs(7 * 24 * 3600),
            limits: AbuseLimits::default(),
            database_url: None,
            nats_url: None,
        }
    }

    /// The updates folder in effect: `updates_dir`, or `<data_dir>/updates`.
    pub fn updates_folder(&self) -> PathBuf {
        self.updates_dir.clone().unwrap_or_else(|| self.data_dir.join("updates"))
    }
}

/// A snapshot of the hub's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Requests to `/v1/bridge`, accepted or not.
    pub bridge_upgrade_attempts: u64,
    /// Of those, refused with 401.
    pub bridge_auth_failures: u64,
    /// Bridge sessions open now.
    pub bridges_connected: u64,
    /// Payload bytes received from bridges.
    pub bridge_bytes_in: u64,
    /// Payload bytes sent to bridges.
    pub bridge_bytes_out: u64,
    /// Data frames received from bridges.
    pub bridge_frames_in: u64,
    /// Data frames sent to bridges.
    pub bridge_frames_out: u64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The URL the caller reached this hub at (`proto://host`), from `Host` and a
/// TLS-terminating proxy's `X-Forwarded-Proto`, so links the hub hands out
/// (pairing pages, update downloads) work from where the caller stands.
pub(crate) fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

/// Opens the store without starting a server (for the admin commands):
/// Postgres for a `postgres://` URL, else SQLite in `data_dir`.
pub async fn open_store(data_dir: &Path, database_url: Option<&str>) -> Result<Arc<dyn Store>, HubError> {
    store::open(data_dir, database_url).await
}

/// A running hub.
pub struct HubHandle {
    addr: SocketAddr,
    state: Arc<HubState>,
    server: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl std::fmt::Debug for HubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Opens the store, marks every machine offline, and serves on `listener`.
/// Returns once the hub accepts connections.
pub async fn start(config: HubConfig, listener: tokio::net::TcpListener) -> Result<HubHandle, HubError> {
    let store = store::open(&config.data_dir, config.database_url.as_deref()).await?;
    match store.mark_all_offline().await {
        // A hub on a full disk still starts and serves reads; presence is
        // taken from live sessions anyway (the router), not this flag.
        Err(err) if err.is_no_space() => store.health().observe(&err),
        other => other?,
    }
    let addr = listener.local_addr()?;
    let limits = limits::Limiters::new(config.limits.clone());
    let (cluster, outbox) = match config.nats_url.as_deref() {
        Some(url) => {
            let (cluster, outbox) = cluster::Cluster::connect(url).await?;
            (Some(cluster), Some(outbox))
        }
        None => (None, None),
    };
    let state = Arc::new(HubState {
        config,
        health: store.health(),
        store,
        router: CommandRouter::default(),
        events: events::EventBus::new(cluster.clone()),
        sessions: auth::Sessions::default(),
        commands: commands::CommandService::default(),
        limits,
        jobs: job_feed::JobFeed::default(),
        stats: Stats::default(),
        metrics: metrics::Metrics::default(),
        drain: CancellationToken::new(),
        cancel: CancellationToken::new(),
        tracker: TaskTracker::new(),
        cluster,
    });
    if let (Some(cluster), Some(outbox)) = (&state.cluster, outbox) {
        cluster::spawn(&state, cluster, outbox).await?;
    }
    let app = axum::Router::new()
        .route("/v1/bridge", axum::routing::get(session::upgrade))
        .merge(commands::table::routes())
        .merge(commands::routes::routes())
        .merge(auth::routes())
        .merge(dashboard::routes())
        .merge(ops::routes())
        .merge(api::routes())
        // The tray app's update feed: public, artifacts are signature-checked by the app.
        .merge(updates::routes())
        .with_state(state.clone())
        // Device-code pairing and the machine's own token routes (their own state).
        .merge(pairing::routes(state.clone()));
    state.tracker.spawn(commands::sweep_task(state.clone()));
    state.tracker.spawn(auth::revocations::watch(state.clone()));
    let server = tokio::spawn(serve::serve(state.clone(), listener, app));
    tracing::info!(%addr, dashboard_embedded = dashboard::embedded(), "hub listening");
    Ok(HubHandle { addr, state, server })
}

impl HubHandle {
    /// The address the hub listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a token in the default account (the zero-config hub's).
    pub async fn issue_token(&self, kind: TokenKind, name: &str) -> Result<IssuedToken, HubError> {
        self.state.store.create_token(DEFAULT_ACCOUNT, kind, name).await
    }

    /// The store, for embedding callers (the tray app, tests).
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// The command router.
    pub fn router(&self) -> &CommandRouter {
        &self.state.router
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> HubStats {
        let s = &self.state.stats;
        HubStats {
            bridge_upgrade_attempts: s.bridge_upgrade_attempts.load(Relaxed),
            bridge_auth_failures: s.bridge_auth_failures.load(Relaxed),
            bridges_connected: s.bridges_connected.load(Relaxed),
            bridge_bytes_in: s.bridge_bytes_in.load(Relaxed),
            bridge_bytes_out: s.bridge_bytes_out.load(Relaxed),
            bridge_frames_in: s.bridge_frames_in.load(Relaxed),
            bridge_frames_out: s.bridge_frames_out.load(Relaxed),
        }
    }

    /// Starts draining: `/readyz` answers 503 from now on, so a load balancer
    /// takes this node out of rotation, while everything else keeps being
    /// served. [`HubHandle::shutdown`] ends it. Idempotent.
    pub fn drain(&self) {
        if !self.state.drain.is_cancelled() {
            tracing::info!("draining: /readyz answers 503 until the hub stops");
        }
        self.state.drain.cancel();
    }

    /// A planned stop: bridges get close 1001 (going away), the listener
    /// stops, sessions get a bounded time to finish, and the database is
    /// closed so a new hub can open the same folder right away.
    pub async fn shutdown(mut self) -> Result<(), HubError> {
        let (state, server) = (self.state.clone(), &mut self.server);
        state.cancel.cancel();
        state.tracker.close();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WITHIN;
        let waited = tokio::time::timeout_at(deadline, async {
            state.tracker.wait().await;
            (&mut *server).await
        })
        .await;
        if let Some(cluster) = &state.cluster {
            // After the sessions ended (their offline events are out), so
            // the other nodes drop this one's machines now, not at a timeout.
            if tokio::time::timeout(Duration::from_secs(1), cluster.leave()).await.is_err() {
                tracing::warn!("cluster: goodbye not sent in time");
            }
        }
        if waited.is_err() {
            // Past the bound, stop serving HTTP regardless; sessions still
            // running hold pool connections, which the close below stops lending.
            server.abort();
        }
        // `close` waits for borrowed connections to come back: bound it by
        // the same deadline (plus a moment to close idle ones after a timeout).
        let close_by = deadline.max(tokio::time::Instant::now() + Duration::from_millis(200));
        if tokio::time::timeout_at(close_by, state.store.close()).await.is_err() {
            tracing::warn!("database connections still busy after shutdown");
        }
        tracing::info!("hub stopped");
        match waited {
            Ok(Ok(result)) => result.map_err(HubError::Io),
            Ok(Err(join)) => Err(HubError::Io(std::io::Error::other(join))),
            Err(_) => Err(HubError::ShutdownTimeout(SHUTDOWN_WITHIN)),
        }
    }
}

impl Drop for HubHandle {
    /// A dropped handle stops the hub (without waiting): a test that fails
    /// half-way must not leave a server running on its port.
    fn drop(&mut self) {
        self.state.cancel.cancel();
    }
}
