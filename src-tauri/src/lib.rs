//! The specbridge tray app: a thin Tauri 2 shell around one bridge engine
//! (and, with "Use this computer as the hub", one in-process hub).
//!
//! ```text
//! tray menu / ui (typed commands) -> AppState.ctl (Controller) -> Engine / HubHandle
//! monitor task: engine status_watch + events -> activity, notifications -> refresh()
//!               (it holds the engine's consent prompter: job runs are asked for, consent.rs)
//! refresh(): snapshot -> tray icon/menu + "snapshot" event to the window
//! wake task: wall-clock jump or route-table change -> reconnect_now()
//! ```
//!
//! The window is created on demand and destroyed when closed (a hidden
//! WebKit window costs ~300 MB); the app lives on in the tray.

pub mod activity;
pub mod commands;
pub mod consent;
pub mod controller;
pub mod error;
pub mod install;
pub mod remote;
pub mod settings;
pub mod tray;
pub mod update;
pub mod view;
mod wake;

use crate::activity::Notice;
use crate::controller::Controller;
use crate::view::Snapshot;
use specbridge_bridge::Paths;
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tokio::sync::broadcast::error::RecvError;

/// The window's label.
pub const WINDOW: &str = "main";
/// The event carrying a fresh [`Snapshot`] to the UI.
pub const SNAPSHOT_EVENT: &str = "snapshot";

type MenuMemo = Option<(view::TrayState, Vec<view::MenuEntry>)>;

/// What the app manages: the controller behind one async mutex (commands,
/// tray clicks and the monitor take turns; none holds it across a network
/// wait longer than one hub call), and the last tray menu built.
pub struct AppState {
    /// The app's state and operations.
    pub ctl: tokio::sync::Mutex<Controller>,
    menu: std::sync::Mutex<MenuMemo>,
}

impl AppState {
    /// Wraps a controller.
    pub fn new(ctl: Controller) -> Self {
        Self { ctl: tokio::sync::Mutex::new(ctl), menu: std::sync::Mutex::new(None) }
    }

    fn lock_menu(&self) -> std::sync::MutexGuard<'_, MenuMemo> {
        // Only a cache of what the tray shows: a poisoned one is still usable.
        self.menu.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Pushes the current snapshot to the tray and the window; returns it
/// (`None` only before the state is managed).
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) -> Option<Snapshot> {
    let state = app.try_state::<AppState>()?;
    let snapshot = state.ctl.lock().await.snapshot();
    let autostart = commands::autostart_enabled(app);
    if let Err(e) = tray::update(app, &snapshot, autostart) {
        tracing::warn!(error = %e, "tray update");
    }
    if let Err(e) = app.emit(SNAPSHOT_EVENT, &snapshot) {
        tracing::warn!(error = %e, "snapshot event");
    }
    Some(snapshot)
}

/// Follows whichever engine runs: its status changes and events become
/// activity entries, notifications and refreshes.
async fn monitor<R: Runtime>(app: AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else { return };
    let mut engines = state.ctl.lock().await.engine_watch();
    loop {
        let engine = engines.borrow_and_update().clone();
        let Some(engine) = engine else {
            if engines.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut status = engine.status_watch();
        let mut events = engine.subscribe();
        // While this engine is followed, its job runs ask here (consent.rs).
        let _prompter = consent::follow(&engine);
        loop {
            tokio::select! {
                changed = engines.changed() => {
                    if changed.is_err() { return; }
                    break;
                }
                changed = status.changed() => {
                    if changed.is_err() { break; }
                    refresh(&app).await;
                }
                event = events.recv() => match event {
                    Ok(event) => {
                        consent::on_event(&app, &engine, &event);
                        let notice = state.ctl.lock().await.record(&event);
                        if let Some(notice) = notice { notify(&app, &notice); }
                        refresh(&app).await;
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
            }
        }
    }
}

fn notify<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    use tauri_plugin_notification::NotificationExt as _;
    if app.try_state::<tauri_plugin_notification::Notification<R>>().is_none() {
        return;
    }
    let (title, body) = notice.title_and_body();
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!(error = %e, "notification");
    }
}

/// Shows the window, creating it if it was closed.
pub fn open_window<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(WINDOW) {
        window.show()?;
        return window.set_focus();
    }
    let window = WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::App("index.html".into()))
        .title("specbridge")
        .inner_size(760.0, 640.0)
        .min_inner_size(520.0, 480.0)
        .build()?;
    window.set_focus()
}

/// Registers the state and the typed commands (shared by the app and the mock-runtime tests).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>, ctl: Controller) -> tauri::Builder<R> {
    builder.manage(AppState::new(ctl)).manage(update::PendingUpdate::default()).invoke_handler(
        tauri::generate_handler![
            commands::get_snapshot,
            commands::use_this_computer,
            commands::pair_start,
            commands::pair_cancel,
            commands::pair_with_token,
            commands::unpair,
            commands::set_vault,
            commands::rename_machine,
            commands::pick_folder,
            commands::inspect_folder,
            commands::add_project,
            commands::remove_project,
            commands::set_read_only,
            commands::set_project_paused,
            commands::set_paused_all,
            commands::retry_now,
            commands::finish_onboarding,
            commands::mark_activity_seen,
            commands::open_dashboard,
            commands::open_folder,
            commands::get_autostart,
            commands::set_autostart,
            commands::check_update,
            commands::install_update,
            consent::consent_pending,
            consent::consent_answer,
        ],
    )
}

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

/// Runs the app: single instance, tray, engine; the window opens on first run
/// (onboarding) or from the tray.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,specbridge=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let paths = Paths::platform()?;
    let ctl = Controller::load(paths)?;
    let builder = tauri::Builder::default()
        // First, so a second launch exits before doing anything else.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Err(e) = open_window(app) {
                tracing::warn!(error = %e, "window from second instance");
            }
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_notification::init());
    // Linux keeps its own login item (crate::install); the plugin serves macOS and Windows.
    #[cfg(target_os = "linux")]
    let builder = builder.manage(install::LinuxAutostart::for_user()?);
    #[cfg(not(target_os = "linux"))]
    let builder =
        builder.plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, None));
    let app = with_commands(builder, ctl)
        .setup(|app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            let handle = app.handle().clone();
            let snapshot = tauri::async_runtime::block_on(async {
                let state = handle.state::<AppState>();
                let mut ctl = state.ctl.lock().await;
                if let Err(e) = ctl.resume().await {
                    tracing::warn!(error = %e, "resume");
                }
                ctl.snapshot()
            });
            tray::create(&handle, &snapshot, commands::autostart_enabled(&handle))?;
            tauri::async_runtime::spawn(monitor(handle.clone()));
            tauri::async_runtime::spawn(wake::watch(handle.clone()));
            tauri::async_runtime::spawn(update::watch(handle.clone()));
            if !snapshot.onboarded || std::env::var_os("SPECBRIDGE_OPEN_WINDOW").is_some() {
                open_window(&handle)?;
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|app, event| match event {
        // Closing the last window keeps the app in the tray; only Quit (an
        // explicit exit code) ends it.
        tauri::RunEvent::ExitRequested { code: None, api, .. } => api.prevent_exit(),
        tauri::RunEvent::Exit => {
            let state = app.state::<AppState>();
            tauri::async_runtime::block_on(async { state.ctl.lock().await.stop().await });
        }
        _ => {}
    });
    Ok(())
}
