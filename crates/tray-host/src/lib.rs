//! The tray process of the specbridge tray app: the tray icon, one bridge
//! engine (and, with "Use this computer as the hub", one in-process hub), and
//! the local socket the settings window talks to. It never creates a web
//! view: the window runs in a child process of the same binary
//! (`specbridge-tray --window main|consent`, src-tauri/), started when
//! Settings opens or a job run asks for consent, and gone when its last
//! window closes, so WebKit's memory goes with it.
//!
//! ```text
//! tray menu (tray.rs) ─┐                         ┌─> watch<Snapshot> ─> tray icon/menu; window "snapshot" events
//! local socket (ipc.rs)┼─ Request + oneshot ─> actor.rs (Controller, engine events, consent)
//! wake.rs, update timer┘                         └─> broadcast<Push> ─> window process: open a window, consent list
//! ```

pub mod activity;
pub mod actor;
pub mod controller;
pub mod desktop;
pub mod error;
pub mod install;
pub mod ipc;
pub mod remote;
pub mod settings;
pub mod tray;
pub mod view;
mod wake;

use crate::actor::{ActorOptions, Host, Request, ShellEvent, WindowKind};
use crate::controller::Controller;
use crate::error::AppError;
use crate::ipc::{Client, Endpoint, Listener};
use specbridge_bridge::Paths;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Set by the app's binary when it hands over to this one: its own path, the
/// one to start windows with, to restart into and to put in the login item.
pub const APP_EXE_ENV: &str = "SPECBRIDGE_TRAY_EXE";
/// The tray process's binary, installed next to the app's.
pub const HOST_BINARY: &str = "specbridge-tray-host";
/// The app's binary (Tauri, the window process).
const APP_BINARY: &str = "specbridge-tray";

/// The app's binary: what the app's binary said when it handed over, else
/// `specbridge-tray` beside this binary, else this binary itself (the app
/// running the tray in-process).
pub fn app_exe() -> std::io::Result<std::path::PathBuf> {
    if let Some(exe) = std::env::var_os(APP_EXE_ENV).filter(|v| !v.is_empty()) {
        return Ok(exe.into());
    }
    let me = std::env::current_exe()?;
    let sibling = me.with_file_name(format!("{APP_BINARY}{}", std::env::consts::EXE_SUFFIX));
    Ok(if sibling.is_file() { sibling } else { me })
}

/// How long background tasks get to finish on quit.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(5);
/// First automatic update check after start, then the interval between checks.
const FIRST_UPDATE_CHECK: Duration = Duration::from_secs(60);
const UPDATE_CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// `specbridge-tray --forget-everything`: removes this user's token, config,
/// state and login item without opening a window, and says what went. The
/// Windows uninstaller runs it when asked to delete the app's data.
pub fn forget_everything() -> error::AppResult<install::Forgotten> {
    let paths = Paths::platform()?;
    #[cfg(target_os = "linux")]
    let autostart = Some(install::LinuxAutostart::for_user()?);
    #[cfg(not(target_os = "linux"))]
    let autostart = None;
    install::forget_everything(&paths, autostart.as_ref())
}

/// Logs to stderr, `RUST_LOG` or info.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,specbridge=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The endpoint of this user's tray.
pub fn endpoint() -> Result<Endpoint, AppError> {
    Ok(Endpoint::for_paths(&Paths::platform()?))
}

/// Tells a running tray to show the settings window. True when one answered
/// (this launch is a second instance and should end).
async fn hand_over(endpoint: &Endpoint) -> bool {
    let Ok((client, _)) = Client::connect(endpoint, false).await else { return false };
    let open = client.call(Request::OpenWindow { window: WindowKind::Main }).await;
    if let Err(e) = &open {
        tracing::warn!(error = %e, "the running tray did not open its window");
    }
    true
}

/// Runs the tray app: single instance, tray, engine; the window opens on
/// first run (onboarding), with `SPECBRIDGE_OPEN_WINDOW`, or from the tray.
pub fn run() -> anyhow::Result<()> {
    init_tracing();
    let paths = Paths::platform()?;
    let endpoint = Endpoint::for_paths(&paths);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if runtime.block_on(hand_over(&endpoint)) {
        tracing::info!("specbridge is already running: asked it to show its window");
        return Ok(());
    }
    let listener = runtime.block_on(async { Listener::bind(&endpoint) })?;
    let ctl = Controller::load(paths)?;
    let (shell_tx, shell_rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ActorOptions { window_exe: Some(app_exe()?), desktop: desktop::Desktop::live()?, shell: Some(shell_tx) };
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    let host = runtime.block_on(async { actor::spawn(ctl, opts, &tracker, cancel.clone()) });
    runtime.block_on(async {
        if let Err(e) = host.call(Request::Resume).await {
            tracing::warn!(error = %e, "resume");
        }
        tracker.spawn(listener.serve(host.clone(), tracker.clone(), cancel.clone()));
        tracker.spawn(cancel.clone().run_until_cancelled_owned(wake::watch(host.clone())));
        tracker.spawn(cancel.clone().run_until_cancelled_owned(update_watch(host.clone())));
        let onboarded = host.snapshot().borrow().onboarded;
        if !onboarded || std::env::var_os("SPECBRIDGE_OPEN_WINDOW").is_some() {
            let _ = host.call(Request::OpenWindow { window: WindowKind::Main }).await;
        }
    });
    let outcome = tray::run(host, runtime.handle(), shell_rx);
    // Gone before anything else, so a new instance (a restart) binds afresh.
    endpoint.remove();
    cancel.cancel();
    tracker.close();
    runtime.block_on(async {
        if tokio::time::timeout(SHUTDOWN_WITHIN, tracker.wait()).await.is_err() {
            tracing::warn!("some tasks did not stop in time");
        }
    });
    if outcome? == ShellEvent::Restart {
        let exe = install::login_command()?;
        std::process::Command::new(&exe).spawn()?;
    }
    Ok(())
}

/// Set with `GDK_GL=disable` by the app's binary when it execs the tray
/// process: GTK opens OpenGL when it opens the display (to pick visuals), and
/// with Mesa's llvmpipe that maps libLLVM, 44 MiB RSS measured under Xvfb,
/// for a tray icon that draws no GL. The tray takes both out again for the
/// window process (WebKit may want GL).
pub const GL_SKIPPED_ENV: &str = "SPECBRIDGE_GDK_GL_SKIPPED";

/// Asks the hub for a newer release shortly after start and then every six
/// hours while paired; a hub without updates answers 204 and nothing shows.
async fn update_watch(host: Host) {
    tokio::time::sleep(FIRST_UPDATE_CHECK).await;
    let mut every = tokio::time::interval(UPDATE_CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        match host.call(Request::CheckUpdate).await {
            Ok(serde_json::Value::String(version)) => tracing::info!(%version, "an update is available"),
            Ok(_) | Err(AppError::NotPaired) => {}
            Err(e) => tracing::debug!(error = %e, "update check"),
        }
    }
}
