//! The controller actor: one task owns the [`Controller`] and runs every
//! request (tray menu, settings window over the local socket, wake timer) in
//! turn; each request carries a oneshot for its answer. It also follows the
//! running engine (status, events, consent prompts), and publishes the
//! [`Snapshot`] on a watch channel after each change, so the tray and the
//! windows read state without asking.
//!
//! ```text
//! tray menu ─┐                       ┌─> watch<Snapshot> ─> tray icon/menu, window "snapshot" events
//! socket ────┼─ mpsc<Msg> ─> actor ──┤
//! wake ──────┘   (oneshot replies)   └─> broadcast<Push> ─> window process (open a window, consent list)
//! ```

use crate::controller::{blocking, Controller};
use crate::desktop::Desktop;
use crate::error::{AppError, AppResult};
use crate::remote::{HubClient, PollAnswer};
use crate::view::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use specbridge_bridge::{
    ConsentAnswer, ConsentPrompter, ConsentRequest, EngineEvent, EngineHandle, Token, VaultChoice,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A request to the tray process: the wire form of the settings window's
/// typed commands (ui/src/api.ts), and what the tray menu asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The current snapshot.
    GetSnapshot,
    /// "Use this computer as the hub".
    UseThisComputer,
    /// Starts a device-code pairing; the actor polls the hub.
    PairStart {
        /// The hub's address as typed.
        hub_url: String,
    },
    /// Stops waiting for a pairing.
    PairCancel,
    /// Paste-a-token fallback.
    PairWithToken {
        /// The hub's address as typed.
        hub_url: String,
        /// The machine token.
        token: String,
    },
    /// Revoke at the hub, delete from the vault; answers `{warning, snapshot}`.
    Unpair,
    /// Moves the token to another vault.
    SetVault {
        /// Where the token goes.
        vault: VaultChoice,
    },
    /// Renames this machine.
    RenameMachine {
        /// The new name.
        name: String,
    },
    /// A folder's canonical path and layout, before adding it.
    InspectFolder {
        /// The folder.
        path: PathBuf,
    },
    /// Shares a folder.
    AddProject {
        /// The folder.
        path: PathBuf,
        /// Whether the hub may write to it.
        read_only: bool,
    },
    /// Stops sharing a folder.
    RemoveProject {
        /// The project id.
        id: String,
    },
    /// The read-only switch.
    SetReadOnly {
        /// The project id.
        id: String,
        /// The new value.
        read_only: bool,
    },
    /// Pauses or resumes one project.
    SetProjectPaused {
        /// The project id.
        id: String,
        /// The new value.
        paused: bool,
    },
    /// Pause all / Resume all.
    SetPausedAll {
        /// The new value.
        paused: bool,
    },
    /// Reconnect now.
    RetryNow,
    /// Onboarding finished.
    FinishOnboarding,
    /// The user looked at recent activity.
    MarkActivitySeen,
    /// Opens the hub's dashboard in the browser.
    OpenDashboard,
    /// Opens a project's folder in the file manager.
    OpenFolder {
        /// The project id.
        id: String,
    },
    /// Whether the app starts at login.
    GetAutostart,
    /// Turns start-at-login on or off; answers the new state.
    SetAutostart {
        /// The new value.
        enabled: bool,
    },
    /// The job runs waiting for the owner's word.
    ConsentPending,
    /// Answers one; answers those still waiting.
    ConsentAnswer {
        /// The request id.
        id: String,
        /// Allow once, always allow or deny.
        answer: ConsentAnswer,
    },
    /// The paired hub's URL (the window's updater asks it for releases).
    HubUrl,
    /// Asks the hub whether it offers a newer release (tray menu, every six
    /// hours); answers its version or null.
    CheckUpdate,
    /// What the window's last update check found.
    SetUpdateAvailable {
        /// The newer version, or none.
        version: Option<String>,
    },
    /// Before an update is installed: wait (at most `within_ms`) until no
    /// command from the hub runs, then stop the engine and the hub.
    Quiesce {
        /// The longest wait.
        within_ms: u64,
    },
    /// Start again what the saved setup says (an update failed to install).
    Resume,
    /// An update was installed: stop and start the new binary.
    Restart,
    /// Shows a window (a second launch, the tray menu).
    OpenWindow {
        /// Which one.
        window: WindowKind,
    },
    /// Quit the app.
    Quit,
}

/// The windows the window process shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Onboarding and settings.
    Main,
    /// The job-run confirmation (issue 15).
    Consent,
}

impl WindowKind {
    /// Its command-line name: `specbridge-tray --window <name>`.
    pub fn arg(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Consent => "consent",
        }
    }

    /// Parses [`WindowKind::arg`].
    pub fn from_arg(arg: &str) -> Option<Self> {
        match arg {
            "main" => Some(Self::Main),
            "consent" => Some(Self::Consent),
            _ => None,
        }
    }
}

/// What the tray process tells a connected window process unasked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "push", content = "data", rename_all = "snake_case")]
pub enum Push {
    /// Show this window.
    Open(WindowKind),
    /// The job runs waiting now (empty: close the consent window).
    Consent(Vec<ConsentRequest>),
}

/// What the actor asks of the process around it (the tray's event loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellEvent {
    /// Everything is stopped: end the process.
    Quit,
    /// Everything is stopped: start the (updated) binary, then end.
    Restart,
}

/// How the actor reaches the desktop and the window process.
#[derive(Debug, Default)]
pub struct ActorOptions {
    /// The binary to start as `<exe> --window <kind>`; `None` never opens a window (tests).
    pub window_exe: Option<PathBuf>,
    /// Desktop notifications, the opener and the login item.
    pub desktop: Desktop,
    /// Told when the process should end.
    pub shell: Option<mpsc::UnboundedSender<ShellEvent>>,
}

enum Msg {
    Request(Request, oneshot::Sender<AppResult<Value>>),
    PairingTarget(oneshot::Sender<Option<(String, Token, Duration)>>),
    PairAnswer(Token, AppResult<PollAnswer>, oneshot::Sender<bool>),
    /// The quiesce wait is over: stop everything, then answer.
    Stop(oneshot::Sender<AppResult<Value>>),
    WindowExited,
}

/// A handle to the actor: cheap to clone.
#[derive(Clone)]
pub struct Host {
    tx: mpsc::Sender<Msg>,
    snapshot: watch::Receiver<Snapshot>,
    push: broadcast::Sender<Push>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

fn gone() -> AppError {
    AppError::internal("the controller has stopped")
}

impl Host {
    /// Runs one request; its answer as JSON (what the window's command returns).
    pub async fn call(&self, request: Request) -> AppResult<Value> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Request(request, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// The latest snapshot, updated after every change.
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// What to tell a window process that connects from now on.
    pub fn pushes(&self) -> broadcast::Receiver<Push> {
        self.push.subscribe()
    }
}

/// The engine being followed, and its consent prompter (kept so job runs
/// are asked for here, not refused as on a headless bridge).
struct Followed {
    engine: EngineHandle,
    _prompter: ConsentPrompter,
}

struct Actor {
    ctl: Controller,
    opts: ActorOptions,
    tx: mpsc::WeakSender<Msg>,
    snapshot: watch::Sender<Snapshot>,
    push: broadcast::Sender<Push>,
    followed: Option<Followed>,
    window_running: bool,
    tracker: TaskTracker,
}

/// Starts the actor around `ctl` (already loaded; [`Request::Resume`] starts
/// the engine). It runs until `cancel`, then stops the engine and the hub.
pub fn spawn(ctl: Controller, opts: ActorOptions, tracker: &TaskTracker, cancel: CancellationToken) -> Host {
    let (tx, rx) = mpsc::channel(64);
    let mut first = ctl.snapshot();
    first.start_at_login = opts.desktop.autostart.is_enabled();
    let (snapshot, snapshot_rx) = watch::channel(first);
    let (push, _) = broadcast::channel(16);
    let actor = Actor {
        ctl,
        opts,
        tx: tx.downgrade(),
        snapshot,
        push: push.clone(),
        followed: None,
        window_running: false,
        tracker: tracker.clone(),
    };
    tracker.spawn(actor.run(rx, cancel));
    Host { tx, snapshot: snapshot_rx, push }
}

async fn status_changed(status: &mut Option<watch::Receiver<specbridge_bridge::EngineStatus>>) -> Option<()> {
    match status {
        Some(status) => status.changed().await.ok(),
        None => std::future::pending().await,
    }
}

async fn next_event(events: &mut Option<broadcast::Receiver<EngineEvent>>) -> Option<Result<EngineEvent, RecvError>> {
    match events {
        Some(events) => Some(events.recv().await),
        None => std::future::pending().await,
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, cancel: CancellationToken) {
        let mut engines = self.ctl.engine_watch();
        // The followed engine's channels, apart from `self` so the select can poll them.
        let (mut status, mut events) = (None, None);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => break,
                },
                changed = engines.changed() => {
                    if changed.is_err() { break; }
                    let engine = engines.borrow_and_update().clone();
                    status = engine.as_ref().map(EngineHandle::status_watch);
                    events = engine.as_ref().map(EngineHandle::subscribe);
                    self.followed = engine.map(|engine| Followed { _prompter: engine.consent_prompter(), engine });
                }
                Some(()) = status_changed(&mut status) => {}
                Some(event) = next_event(&mut events) => match event {
                    Ok(event) => self.on_event(&event),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => (status, events) = (None, None),
                },
            }
            self.publish();
        }
        self.ctl.stop().await;
    }

    fn publish(&self) {
        let mut snapshot = self.ctl.snapshot();
        snapshot.start_at_login = self.opts.desktop.autostart.is_enabled();
        self.snapshot.send_replace(snapshot);
    }

    fn on_event(&mut self, event: &EngineEvent) {
        if let Some(notice) = self.ctl.record(event) {
            self.opts.desktop.notify(&notice);
        }
        let Some(followed) = &self.followed else { return };
        match event {
            EngineEvent::ConsentRequested(request) => {
                let notice = crate::activity::Notice::ConsentAsked {
                    job: request.name.clone(),
                    who: request.requested_by.clone().unwrap_or_else(|| "the hub".to_owned()),
                    project: request.project.clone(),
                    argv: request.argv.join(" "),
                };
                self.opts.desktop.notify(&notice);
                let pending = followed.engine.pending_consents();
                let _ = self.push.send(Push::Consent(pending));
                self.open_window(WindowKind::Consent);
            }
            EngineEvent::ConsentSettled { .. } => {
                let _ = self.push.send(Push::Consent(followed.engine.pending_consents()));
            }
            _ => {}
        }
    }

    /// Shows a window: through the connected window process, or by starting one.
    fn open_window(&mut self, window: WindowKind) {
        if self.push.receiver_count() > 0 {
            let _ = self.push.send(Push::Open(window));
            return;
        }
        if self.window_running {
            // Started and not connected yet: it shows what it was started
            // for, and on connecting any waiting consent request.
            return;
        }
        let Some(exe) = &self.opts.window_exe else { return };
        let mut command = tokio::process::Command::new(exe);
        command.arg("--window").arg(window.arg());
        if std::env::var_os(crate::GL_SKIPPED_ENV).is_some() {
            command.env_remove("GDK_GL").env_remove(crate::GL_SKIPPED_ENV);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(error = %e, "starting the window process");
                return;
            }
        };
        self.window_running = true;
        let tx = self.tx.clone();
        self.tracker.spawn(async move {
            // Reaped here, so a closed window leaves no zombie behind.
            let _ = child.wait().await;
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(Msg::WindowExited).await;
            }
        });
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Request(Request::Quiesce { within_ms }, reply) => {
                self.quiesce(Duration::from_millis(within_ms), reply);
            }
            Msg::Request(request, reply) => {
                let answer = self.request(request).await;
                let _ = reply.send(answer);
            }
            Msg::PairingTarget(reply) => {
                let _ = reply.send(self.ctl.pairing_poll_target());
            }
            Msg::PairAnswer(code, answer, reply) => {
                let _ = reply.send(self.ctl.finish_pairing(&code, answer).await);
            }
            Msg::Stop(reply) => {
                self.ctl.stop().await;
                let _ = reply.send(Ok(Value::Null));
            }
            Msg::WindowExited => self.window_running = false,
        }
    }

    fn snapshot_value(&self) -> AppResult<Value> {
        let mut snapshot = self.ctl.snapshot();
        snapshot.start_at_login = self.opts.desktop.autostart.is_enabled();
        json(&snapshot)
    }

    fn engine(&self) -> AppResult<EngineHandle> {
        self.ctl.engine().cloned().ok_or(AppError::NotPaired)
    }

    async fn request(&mut self, request: Request) -> AppResult<Value> {
        use Request as R;
        match request {
            R::GetSnapshot => {}
            R::UseThisComputer => {
                self.ctl.use_this_computer().await?;
            }
            R::PairStart { hub_url } => {
                self.ctl.pair_start(&hub_url).await?;
                self.spawn_pairing_poll();
            }
            R::PairCancel => self.ctl.cancel_pairing(),
            R::PairWithToken { hub_url, token } => self.ctl.pair_with_token(&hub_url, &token).await?,
            R::Unpair => {
                let warning = self.ctl.unpair().await?;
                return Ok(serde_json::json!({ "warning": warning, "snapshot": self.snapshot_value()? }));
            }
            R::SetVault { vault } => self.ctl.set_vault(vault).await?,
            R::RenameMachine { name } => self.ctl.rename_machine(&name).await?,
            R::InspectFolder { path } => return json(&Controller::inspect_folder(&path)?),
            R::AddProject { path, read_only } => {
                self.ctl.add_project(&path, read_only).await?;
            }
            R::RemoveProject { id } => self.ctl.remove_project(&id).await?,
            R::SetReadOnly { id, read_only } => self.ctl.set_read_only(&id, read_only).await?,
            R::SetProjectPaused { id, paused } => self.ctl.set_project_paused(&id, paused).await?,
            R::SetPausedAll { paused } => self.ctl.set_paused_all(paused).await?,
            R::RetryNow => self.ctl.reconnect_now(),
            R::FinishOnboarding => self.ctl.finish_onboarding()?,
            R::MarkActivitySeen => self.ctl.mark_activity_seen(),
            R::OpenDashboard => {
                let url = self.ctl.dashboard_url().ok_or(AppError::NotPaired)?;
                self.opts.desktop.open_url(&url)?;
                return Ok(Value::Null);
            }
            R::OpenFolder { id } => {
                let path = self.ctl.project_path(&id)?;
                self.opts.desktop.open_path(&path)?;
                return Ok(Value::Null);
            }
            R::GetAutostart => return Ok(Value::Bool(self.opts.desktop.autostart.is_enabled())),
            R::SetAutostart { enabled } => {
                self.opts.desktop.autostart.set(enabled)?;
                return Ok(Value::Bool(self.opts.desktop.autostart.is_enabled()));
            }
            R::ConsentPending => return json(&self.engine()?.pending_consents()),
            R::ConsentAnswer { id, answer } => {
                let engine = self.engine()?;
                engine.answer_consent(&id, answer)?;
                return json(&engine.pending_consents());
            }
            R::HubUrl => return json(&self.ctl.hub_url()),
            R::CheckUpdate => {
                let url = self.ctl.hub_url().ok_or(AppError::NotPaired)?;
                let offered = blocking(move || HubClient::new(&url).update_offered()).await?;
                self.ctl.set_update_available(offered.clone());
                return json(&offered);
            }
            R::SetUpdateAvailable { version } => self.ctl.set_update_available(version),
            // Answered out of band by `quiesce` (see `handle`).
            R::Quiesce { .. } => return Err(AppError::internal("quiesce is answered by its own task")),
            R::Resume => self.ctl.resume().await?,
            R::Restart | R::Quit => {
                self.ctl.stop().await;
                let event = if request == R::Quit { ShellEvent::Quit } else { ShellEvent::Restart };
                if let Some(shell) = &self.opts.shell {
                    let _ = shell.send(event);
                }
                return Ok(Value::Null);
            }
            R::OpenWindow { window } => {
                self.open_window(window);
                return Ok(Value::Null);
            }
        }
        self.snapshot_value()
    }

    /// Waits for in-flight commands off the actor (a job may run for minutes
    /// while the tray keeps answering), then stops everything through it.
    fn quiesce(&mut self, within: Duration, reply_tx: oneshot::Sender<AppResult<Value>>) {
        let engine = self.ctl.engine().cloned();
        let tx = self.tx.clone();
        self.tracker.spawn(async move {
            let Some(engine) = engine else {
                if let Some(tx) = tx.upgrade() {
                    let _ = tx.send(Msg::Stop(reply_tx)).await;
                }
                return;
            };
            if !engine.wait_until_idle(within).await {
                let _ = reply_tx.send(Err(AppError::UpdateBusy { in_flight: engine.commands_in_flight() }));
                return;
            }
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(Msg::Stop(reply_tx)).await;
            }
        });
    }

    fn spawn_pairing_poll(&self) {
        let tx = self.tx.clone();
        self.tracker.spawn(async move {
            loop {
                let Some(sender) = tx.upgrade() else { return };
                let (target_tx, target_rx) = oneshot::channel();
                if sender.send(Msg::PairingTarget(target_tx)).await.is_err() {
                    return;
                }
                drop(sender);
                let Ok(Some((url, code, interval))) = target_rx.await else { return };
                tokio::time::sleep(interval).await;
                let client = HubClient::new(&url);
                let device_code = code.clone();
                let answer = blocking(move || client.pair_poll(device_code.expose())).await;
                let Some(sender) = tx.upgrade() else { return };
                let (over_tx, over_rx) = oneshot::channel();
                if sender.send(Msg::PairAnswer(code, answer, over_tx)).await.is_err() {
                    return;
                }
                if over_rx.await.unwrap_or(true) {
                    return;
                }
            }
        });
    }
}

fn json<T: Serialize>(value: &T) -> AppResult<Value> {
    serde_json::to_value(value).map_err(AppError::internal)
}
