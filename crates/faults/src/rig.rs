//! An in-process hub, the fault proxy and one in-process bridge engine on a
//! small LeanSpec project: for the dead-link, disk-full and byte tests,
//! where the parts must be observed closely rather than killed.

use crate::http::Api;
use crate::proxy::FaultProxy;
use crate::soak::{bridge_home, write};
use crate::{wait_until, HarnessError, HarnessResult};
use specbridge_bridge::{Config, Engine, EngineHandle, EngineOptions, LinkState, Paths, Timing, Token};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use std::path::PathBuf;
use std::time::Duration;

/// How to build a [`Rig`].
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// Specs in the project.
    pub specs: usize,
    /// The engine's timers.
    pub timing: Timing,
    /// Hub ping interval and idle timeout (the hub's defaults when `None`).
    pub hub_heartbeat: Option<(Duration, Duration)>,
    /// The hub's data folder (a temp folder when `None`).
    pub hub_data: Option<PathBuf>,
    /// The bridge's state folder (next to its config when `None`).
    pub state_dir: Option<PathBuf>,
}

impl Default for RigOptions {
    fn default() -> Self {
        Self { specs: 3, timing: Timing::default(), hub_heartbeat: None, hub_data: None, state_dir: None }
    }
}

/// The running parts.
#[derive(Debug)]
pub struct Rig {
    /// Keeps the folders.
    _dir: tempfile::TempDir,
    /// The hub.
    pub hub: HubHandle,
    /// Its REST API with a user token.
    pub api: Api,
    /// Between engine and hub.
    pub proxy: FaultProxy,
    /// The engine.
    pub engine: EngineHandle,
    /// Its folders.
    pub paths: Paths,
    /// Its machine id.
    pub machine: String,
    /// The project folder.
    pub root: PathBuf,
    token: String,
    timing: Timing,
}

impl Rig {
    /// Starts it all and waits for the first sync.
    pub async fn start(options: RigOptions) -> HarnessResult<Self> {
        let dir = tempfile::tempdir().map_err(|e| HarnessError::io("creating a temp folder", e))?;
        let root = dir.path().join("project");
        for i in 1..=options.specs {
            write(
                &root,
                &format!("specs/{i:03}-feature/README.md"),
                format!("---\nstatus: planned\n---\n# Spec {i}\n"),
            )?;
        }
        let mut config = HubConfig::new(options.hub_data.clone().unwrap_or_else(|| dir.path().join("hub")));
        if let Some((ping, idle)) = options.hub_heartbeat {
            config.bridge_ping_interval = ping;
            config.bridge_idle_timeout = idle;
        }
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| HarnessError::io("binding the hub", e))?;
        let hub = specbridge_hub::start(config, listener).await?;
        let token = hub.issue_token(TokenKind::Machine, "rig").await?.secret.expose().to_owned();
        let user = hub.issue_token(TokenKind::User, "rig").await?.secret.expose().to_owned();
        let api = Api { addr: hub.addr(), token: user };
        let proxy = FaultProxy::start(hub.addr()).await.map_err(|e| HarnessError::io("starting the proxy", e))?;
        let home = dir.path().join("bridge");
        let machine = bridge_home(&home, &proxy.url(), &root)?;
        let mut paths = Paths::at(&home);
        if let Some(state) = &options.state_dir {
            paths.state_dir = state.clone();
        }
        let engine = start_engine(&paths, &token, options.timing.clone()).await?;
        let rig = Self { _dir: dir, hub, api, proxy, engine, paths, machine, root, token, timing: options.timing };
        if !rig.link_is(Duration::from_secs(20), |l| *l == LinkState::Connected).await {
            return Err(HarnessError::Timeout("the engine to connect".into()));
        }
        if !rig.synced(Duration::from_secs(20)).await {
            return Err(HarnessError::Timeout("the first sync".into()));
        }
        Ok(rig)
    }

    /// Waits until the engine's link satisfies `want`.
    pub async fn link_is(&self, within: Duration, want: impl Fn(&LinkState) -> bool) -> bool {
        let mut status = self.engine.status_watch();
        tokio::time::timeout(within, status.wait_for(|s| want(&s.link))).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until the hub's router says the machine is (or is not) connected.
    pub async fn hub_online(&self, within: Duration, online: bool) -> bool {
        wait_until(within, || async { self.hub.router().is_online(&self.machine) == online }).await
    }

    /// Waits until the hub's copy of the project equals the folder.
    pub async fn synced(&self, within: Duration) -> bool {
        wait_until(within, || async {
            self.api.listing(&self.machine, "app").await == Some(crate::check::local_listing(&self.root, &["specs"]))
        })
        .await
    }

    /// Stops the engine (state saved as far as the disk allows) and starts a
    /// new one on the same folders.
    pub async fn restart_engine(&mut self) -> HarnessResult<()> {
        // Handles are clones of one engine: stopping one stops it.
        self.engine.clone().shutdown(Duration::from_secs(5)).await.ok();
        self.engine = start_engine(&self.paths, &self.token, self.timing.clone()).await?;
        Ok(())
    }

    /// Stops the engine, then the hub.
    pub async fn stop(self) {
        self.engine.shutdown(Duration::from_secs(5)).await.ok();
        self.hub.shutdown().await.ok();
    }
}

async fn start_engine(paths: &Paths, token: &str, timing: Timing) -> HarnessResult<EngineHandle> {
    let config =
        Config::load(paths).map_err(|e| HarnessError::io("loading the bridge config", std::io::Error::other(e)))?;
    Engine::start(EngineOptions { paths: paths.clone(), config, token: Token::new(token.to_owned()), timing })
        .await
        .map_err(|e| HarnessError::io("starting the engine", std::io::Error::other(e)))
}

/// `len` bytes that zstd cannot shrink (xorshift), for uploads that must
/// take a while over a slowed link.
pub fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}
