//! The app's state and every operation the UI and the tray can ask for, with no
//! GUI in it: it owns the config, the tray settings, the running engine and
//! the in-process hub. The controller actor (`actor.rs`) owns one and runs the
//! requests of the tray menu and the settings window against it, so it is
//! tested with real temp dirs, a real hub and a real engine.
//!
//! Whatever changes the config restarts the engine: the engine reads its
//! config once at start (projects, machine name in `hello`), which keeps it
//! free of reload logic, and a restart costs one reconnect of a few hundred bytes.

use crate::activity::{Activity, Notice};
use crate::error::{AppError, AppResult};
use crate::remote::{normalize_hub_url, HubClient, PairStart, PollAnswer};
use crate::settings::{EmbeddedHub, TraySettings};
use crate::view::{self, Health, HubView, MachineView, PairingState, PairingView, ProjectView, Snapshot};
use specbridge_bridge::vault::{self, Vault};
use specbridge_bridge::{
    detect_layout, Config, Engine, EngineEvent, EngineHandle, EngineOptions, Layout, LinkState, Paths, Timing, Token,
    VaultChoice,
};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long an engine or hub gets to stop.
const STOP_WITHIN: Duration = Duration::from_secs(3);
/// Longest machine name.
const MAX_NAME: usize = 64;

/// A device-code pairing in progress.
#[derive(Debug)]
pub(crate) struct Pairing {
    pub(crate) device_code: Token,
    pub(crate) view: PairingView,
    pub(crate) interval: Duration,
}

/// The app's state. One is owned by the controller actor (`actor.rs`).
pub struct Controller {
    paths: Paths,
    config: Config,
    settings: TraySettings,
    engine: Option<EngineHandle>,
    hub: Option<HubHandle>,
    activity: Activity,
    pairing: Option<Pairing>,
    problem: Option<String>,
    /// The version of a newer release the hub offers (crate::update).
    update: Option<String>,
    suggested_name: String,
    /// Whether the vault holds a token for the hub, read when the engine
    /// (re)starts and kept: a snapshot never calls the keychain (a D-Bus round
    /// trip, or a macOS prompt).
    token_present: bool,
    /// The current engine, for the monitor task that follows its status and events.
    engine_tx: watch::Sender<Option<EngineHandle>>,
    /// Token vault override (tests): `None` opens the vault the config names.
    vault_override: Option<Arc<dyn Vault>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("paths", &self.paths).finish_non_exhaustive()
    }
}

/// Details of a folder before it is added.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FolderInfo {
    /// The folder, canonical.
    pub path: std::path::PathBuf,
    /// Its detected layout.
    pub layout: Layout,
}

impl Controller {
    /// Loads the config and the settings from `paths` (creating the machine id
    /// on first run). Call [`Controller::resume`] to start the hub and engine.
    pub fn load(paths: Paths) -> AppResult<Self> {
        let config = Config::load(&paths)?;
        let settings = TraySettings::load(&paths)?;
        let (engine_tx, _) = watch::channel(None);
        Ok(Self {
            paths,
            config,
            settings,
            engine: None,
            hub: None,
            activity: Activity::default(),
            pairing: None,
            problem: None,
            update: None,
            suggested_name: host_name(),
            token_present: false,
            engine_tx,
            vault_override: None,
        })
    }

    /// Uses this vault instead of the configured one (tests).
    pub fn with_vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault_override = Some(vault);
        self
    }

    /// Follows the running engine (None while stopped).
    pub fn engine_watch(&self) -> watch::Receiver<Option<EngineHandle>> {
        self.engine_tx.subscribe()
    }

    /// The running engine.
    pub fn engine(&self) -> Option<&EngineHandle> {
        self.engine.as_ref()
    }

    /// The in-process hub, when this computer is the hub.
    pub fn embedded_hub(&self) -> Option<&HubHandle> {
        self.hub.as_ref()
    }

    /// The config folder.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    fn vault(&self) -> Arc<dyn Vault> {
        match &self.vault_override {
            Some(vault) => Arc::clone(vault),
            None => Arc::from(vault::open(self.config.vault, &self.paths)),
        }
    }

    /// Starts what the saved setup says should run: the embedded hub, then the engine.
    pub async fn resume(&mut self) -> AppResult<()> {
        if let Some(EmbeddedHub { port }) = self.settings.embedded_hub {
            if let Err(e) = self.start_embedded_hub(port).await {
                self.problem = Some(e.to_string());
                return Err(e);
            }
        }
        self.restart_engine().await
    }

    /// Stops the engine and the in-process hub (Quit).
    pub async fn stop(&mut self) {
        self.stop_engine().await;
        if let Some(hub) = self.hub.take() {
            if let Err(e) = hub.shutdown().await {
                tracing::warn!(error = %e, "hub stop");
            }
        }
    }

    async fn stop_engine(&mut self) {
        if let Some(engine) = self.engine.take() {
            self.engine_tx.send_replace(None);
            if let Err(e) = engine.shutdown(STOP_WITHIN).await {
                tracing::warn!(error = %e, "engine stop");
            }
        }
    }

    /// (Re)starts the engine when there is a hub, a token and no "pause all";
    /// otherwise leaves it stopped. Problems land in `problem` (the tray shows them).
    pub async fn restart_engine(&mut self) -> AppResult<()> {
        self.stop_engine().await;
        self.problem = None;
        self.token_present = false;
        let Some(hub) = self.config.hub.clone() else { return Ok(()) };
        let token = match self.vault().load(&hub.url) {
            Ok(Some(token)) => token,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.problem = Some(e.to_string());
                return Err(e.into());
            }
        };
        self.token_present = true;
        if self.settings.paused_all {
            return Ok(());
        }
        let opts =
            EngineOptions { paths: self.paths.clone(), config: self.config.clone(), token, timing: Timing::default() };
        match Engine::start(opts).await {
            Ok(engine) => {
                self.engine_tx.send_replace(Some(engine.clone()));
                self.engine = Some(engine);
                Ok(())
            }
            Err(e) => {
                self.problem = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    fn signed_in(&self) -> bool {
        self.config.hub.is_some() && self.token_present
    }

    /// Everything the UI and the tray show.
    pub fn snapshot(&self) -> Snapshot {
        let status = self.engine.as_ref().map(|e| e.status_watch().borrow().clone());
        let signed_in = self.signed_in();
        let link = status.as_ref().map(|s| s.link.clone());
        let queue_depth = status.as_ref().map_or(0, |s| s.queue_depth);
        let last_error = status.as_ref().and_then(|s| s.last_error.clone());
        let state_problem = status.as_ref().and_then(|s| s.state_problem.as_ref()).map(|p| p.message.as_str());
        let health = Health {
            signed_in,
            paused_all: self.settings.paused_all,
            link: link.as_ref(),
            queue_depth,
            last_error: last_error.as_deref(),
            problem: self.problem.as_deref(),
            state_problem,
            unseen_conflicts: self.activity.unseen_conflicts(),
        };
        let state = view::tray_state(&health);
        let embedded = self.settings.embedded_hub.is_some();
        let hub = self.config.hub.as_ref().map(|h| HubView {
            url: h.url.clone(),
            embedded,
            label: view::hub_label(&h.url, embedded),
        });
        let projects: Vec<ProjectView> = self
            .config
            .projects
            .iter()
            .map(|p| {
                let live = status.as_ref().and_then(|s| s.projects.iter().find(|s| s.id == p.id));
                ProjectView {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    path: p.path.clone(),
                    layout: live.map_or_else(|| detect_layout(&p.path), |s| s.layout),
                    files: live.map_or(0, |s| s.files),
                    read_only: p.read_only,
                    paused: p.paused || self.settings.paused_all,
                }
            })
            .collect();
        let status_line = view::status_line(state, &health, projects.len(), hub.as_ref().map(|h| h.label.as_str()));
        Snapshot {
            state,
            status_line,
            onboarded: self.settings.onboarded,
            hub,
            signed_in,
            machine: MachineView {
                id: self.config.machine.id.clone(),
                name: self.config.machine.name.clone(),
                suggested_name: self.suggested_name.clone(),
            },
            vault: self.config.vault,
            link,
            queue_depth,
            last_error,
            problem: self.problem.clone(),
            paused_all: self.settings.paused_all,
            projects,
            pairing: self.pairing.as_ref().map(|p| p.view.clone()),
            activity: self.activity.entries(),
            unseen_conflicts: self.activity.unseen_conflicts(),
            update: self.update.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            start_at_login: false,
        }
    }

    /// The paired hub's URL.
    pub fn hub_url(&self) -> Option<String> {
        self.config.hub.as_ref().map(|h| h.url.clone())
    }

    /// Records what the last update check found.
    pub fn set_update_available(&mut self, version: Option<String>) {
        self.update = version;
    }

    /// Records an engine event; returns a notice worth a desktop notification.
    pub fn record(&mut self, event: &EngineEvent) -> Option<Notice> {
        self.activity.record(event, now_ms())
    }

    /// The user looked at recent activity.
    pub fn mark_activity_seen(&mut self) {
        self.activity.mark_seen();
    }

    // ----- hub and pairing ---------------------------------------------------

    async fn start_embedded_hub(&mut self, port: u16) -> AppResult<String> {
        if let Some(hub) = &self.hub {
            return Ok(hub.url());
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| AppError::EmbeddedHub(specbridge_hub::HubError::Io(e)))?;
        let hub = specbridge_hub::start(HubConfig::new(self.paths.state_dir.join("hub")), listener).await?;
        let url = hub.url();
        self.settings.embedded_hub = Some(EmbeddedHub { port: hub.addr().port() });
        self.hub = Some(hub);
        Ok(url)
    }

    /// "Use this computer as the hub": runs the hub in-process (SQLite in the
    /// state folder), issues this machine a token straight from its store,
    /// keeps it in the vault and starts syncing. Returns the hub URL.
    pub async fn use_this_computer(&mut self) -> AppResult<String> {
        let port = self.settings.embedded_hub.map_or(0, |h| h.port);
        let url = self.start_embedded_hub(port).await?;
        let hub = self.hub.as_ref().ok_or_else(|| AppError::internal("embedded hub vanished"))?;
        let issued = hub.issue_token(TokenKind::Machine, &self.config.machine.name).await?;
        self.vault().store(&url, &Token::new(issued.secret.expose().to_owned()))?;
        self.config.hub = Some(specbridge_bridge::HubSettings { url: url.clone() });
        self.config.save(&self.paths)?;
        self.settings.save(&self.paths)?;
        self.pairing = None;
        self.restart_engine().await?;
        Ok(url)
    }

    /// Starts a device-code pairing with a remote hub. The caller polls with
    /// [`Controller::pairing_poll_target`] and [`Controller::finish_pairing`].
    pub async fn pair_start(&mut self, hub_url: &str) -> AppResult<PairingView> {
        let url = normalize_hub_url(hub_url)?;
        let client = HubClient::new(&url);
        let (name, id) = (self.config.machine.name.clone(), self.config.machine.id.clone());
        let start: PairStart = blocking(move || client.pair_start(&name, &id)).await?;
        let view = PairingView {
            hub_url: url,
            user_code: start.user_code,
            verification_url: start.verification_url_complete.unwrap_or(start.verification_url),
            expires_at_ms: now_ms() + start.expires_in * 1000,
            state: PairingState::Waiting,
        };
        self.pairing = Some(Pairing {
            device_code: Token::new(start.device_code),
            view: view.clone(),
            interval: Duration::from_secs(start.interval.clamp(1, 30)),
        });
        Ok(view)
    }

    /// What to poll with while a pairing waits: hub URL, device code, interval.
    pub fn pairing_poll_target(&self) -> Option<(String, Token, Duration)> {
        let p = self.pairing.as_ref().filter(|p| p.view.state == PairingState::Waiting)?;
        Some((p.view.hub_url.clone(), p.device_code.clone(), p.interval))
    }

    /// Applies a poll answer for the pairing with `device_code`. Returns true
    /// when the pairing is over (approved, expired or failed).
    pub async fn finish_pairing(&mut self, device_code: &Token, answer: AppResult<PollAnswer>) -> bool {
        let Some(pairing) = self.pairing.as_mut().filter(|p| &p.device_code == device_code) else { return true };
        let state = match answer {
            Ok(PollAnswer::Pending) => return false,
            Ok(PollAnswer::Expired) => PairingState::Expired,
            Ok(PollAnswer::Denied) => PairingState::Failed { message: "the pairing was refused on the hub".into() },
            Ok(PollAnswer::Approved { machine_token }) => {
                let url = pairing.view.hub_url.clone();
                match self.adopt_token(&url, Token::new(machine_token)).await {
                    Ok(()) => PairingState::Approved,
                    Err(e) => PairingState::Failed { message: e.to_string() },
                }
            }
            // A network blip while polling: keep waiting.
            Err(AppError::HubUnreachable { .. }) => return false,
            Err(e) => PairingState::Failed { message: e.to_string() },
        };
        if let Some(p) = self.pairing.as_mut() {
            p.view.state = state;
        }
        true
    }

    /// Stops waiting for a pairing.
    pub fn cancel_pairing(&mut self) {
        self.pairing = None;
    }

    /// Paste-a-token fallback: checks the token with the hub, then keeps it.
    pub async fn pair_with_token(&mut self, hub_url: &str, token: &str) -> AppResult<()> {
        let url = normalize_hub_url(hub_url)?;
        let token = Token::new(token.trim().to_owned());
        let client = HubClient::new(&url);
        let check = token.clone();
        blocking(move || client.whoami(&check)).await?;
        self.adopt_token(&url, token).await
    }

    async fn adopt_token(&mut self, url: &str, token: Token) -> AppResult<()> {
        self.vault().store(url, &token)?;
        self.config.hub = Some(specbridge_bridge::HubSettings { url: url.to_owned() });
        self.config.save(&self.paths)?;
        if self.hub.is_none() && self.settings.embedded_hub.take().is_some() {
            self.settings.save(&self.paths)?;
        }
        self.restart_engine().await
    }

    /// Unpair: revokes the token at the hub, deletes it from the vault, stops
    /// syncing and forgets the hub. A hub that cannot be reached does not block
    /// unpairing here (the token is still deleted locally), but is reported.
    pub async fn unpair(&mut self) -> AppResult<Option<String>> {
        let Some(hub) = self.config.hub.clone() else { return Err(AppError::NotPaired) };
        self.stop_engine().await;
        let vault = self.vault();
        let mut warning = None;
        if let Some(token) = vault.load(&hub.url)? {
            let client = HubClient::new(&hub.url);
            match blocking(move || client.revoke_self(&token)).await {
                Ok(()) => {}
                Err(AppError::HubRefused(body)) if body.code == specbridge_protocol::ErrorCode::Unauthorized => {}
                Err(e) => warning = Some(format!("the hub was not told: {e}")),
            }
        }
        vault.delete(&hub.url)?;
        self.token_present = false;
        self.config.hub = None;
        self.config.save(&self.paths)?;
        if let Some(embedded) = self.hub.take() {
            let _ = embedded.shutdown().await;
        }
        self.settings.embedded_hub = None;
        self.settings.save(&self.paths)?;
        Ok(warning)
    }

    /// Where the token is kept. Moving to the file vault is the explicit
    /// fallback when no keychain answers; the token moves along.
    pub async fn set_vault(&mut self, choice: VaultChoice) -> AppResult<()> {
        if choice == self.config.vault {
            return Ok(());
        }
        let old = self.vault();
        let token = match &self.config.hub {
            Some(hub) => old.load(&hub.url).ok().flatten().map(|t| (hub.url.clone(), t)),
            None => None,
        };
        self.config.vault = choice;
        let new = self.vault();
        if let Some((url, token)) = token {
            new.store(&url, &token)?;
            let _ = old.delete(&url);
        }
        self.config.save(&self.paths)?;
        self.restart_engine().await
    }

    // ----- machine -----------------------------------------------------------

    /// Renames this machine. With a hub, a name another machine uses is refused
    /// with a suggestion; the engine restarts so the hub gets the name at once.
    pub async fn rename_machine(&mut self, name: &str) -> AppResult<()> {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(AppError::InvalidName("it is empty"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(AppError::InvalidName("it is longer than 64 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(AppError::InvalidName("it contains control characters"));
        }
        if let Some(hub) = self.config.hub.clone() {
            if let Some(token) = self.vault().load(&hub.url)? {
                let client = HubClient::new(&hub.url);
                let (check, id) = (name.clone(), self.config.machine.id.clone());
                let answer = blocking(move || client.name_check(&token, &check, &id)).await?;
                if !answer.available {
                    return Err(AppError::NameTaken { name, suggestion: answer.suggestion });
                }
            }
        }
        self.config.machine.name = name;
        self.config.save(&self.paths)?;
        self.restart_engine().await
    }

    // ----- projects ----------------------------------------------------------

    /// The folder's canonical path and detected layout, before adding it.
    pub fn inspect_folder(path: &Path) -> AppResult<FolderInfo> {
        let path = std::fs::canonicalize(path).map_err(|source| {
            AppError::Config(specbridge_bridge::ConfigError::ProjectPath { path: path.to_path_buf(), source })
        })?;
        if !path.is_dir() {
            return Err(AppError::Config(specbridge_bridge::ConfigError::NotADirectory { path }));
        }
        Ok(FolderInfo { layout: detect_layout(&path), path })
    }

    /// Shares a folder.
    pub async fn add_project(&mut self, path: &Path, read_only: bool) -> AppResult<String> {
        let entry = self.config.add_project(path, None)?;
        entry.read_only = read_only;
        let id = entry.id.clone();
        self.config.save(&self.paths)?;
        self.restart_engine().await?;
        Ok(id)
    }

    /// Stops sharing a folder (its files are not touched).
    pub async fn remove_project(&mut self, id: &str) -> AppResult<()> {
        self.project_mut(id)?;
        self.config.remove_project(id)?;
        self.config.save(&self.paths)?;
        self.restart_engine().await
    }

    fn project_mut(&mut self, id: &str) -> AppResult<&mut specbridge_bridge::ProjectConfig> {
        self.config.projects.iter_mut().find(|p| p.id == id).ok_or_else(|| AppError::UnknownProject(id.to_owned()))
    }

    /// Read-only switch of one project.
    pub async fn set_read_only(&mut self, id: &str, read_only: bool) -> AppResult<()> {
        self.project_mut(id)?.read_only = read_only;
        self.config.save(&self.paths)?;
        self.restart_engine().await
    }

    /// Pauses or resumes one project.
    pub async fn set_project_paused(&mut self, id: &str, paused: bool) -> AppResult<()> {
        self.project_mut(id)?.paused = paused;
        self.config.save(&self.paths)?;
        self.restart_engine().await
    }

    /// The folder of a project.
    pub fn project_path(&self, id: &str) -> AppResult<std::path::PathBuf> {
        self.config
            .projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.path.clone())
            .ok_or_else(|| AppError::UnknownProject(id.to_owned()))
    }

    /// Pause all / Resume all: stops or starts the engine.
    pub async fn set_paused_all(&mut self, paused: bool) -> AppResult<()> {
        self.settings.paused_all = paused;
        self.settings.save(&self.paths)?;
        self.restart_engine().await
    }

    /// Onboarding finished.
    pub fn finish_onboarding(&mut self) -> AppResult<()> {
        self.settings.onboarded = true;
        Ok(self.settings.save(&self.paths)?)
    }

    /// Retry now (offline) or after a wake / network change: reconnect at once.
    pub fn reconnect_now(&self) {
        if let Some(engine) = &self.engine {
            engine.reconnect_now();
        }
    }

    /// The dashboard's URL, when there is a hub.
    pub fn dashboard_url(&self) -> Option<String> {
        self.config.hub.as_ref().map(|h| format!("{}/", h.url))
    }

    /// Whether the link is up (for tests and the e2e check).
    pub fn connected(&self) -> bool {
        self.engine.as_ref().is_some_and(|e| e.status_watch().borrow().link == LinkState::Connected)
    }
}

/// Runs a blocking HTTP call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(AppError::internal)?
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The host name, the default machine name.
pub(crate) fn host_name() -> String {
    sysinfo::System::host_name().filter(|h| !h.trim().is_empty()).unwrap_or_else(|| "This computer".to_owned())
}
