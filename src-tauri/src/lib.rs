//! The settings window process of the specbridge tray app: Tauri 2 and its
//! web view, started by the tray process (crates/tray-host) as
//! `specbridge-tray --window main|consent` and ended when its last window
//! closes, so WebKit's memory goes with it.
//!
//! ```text
//! ui (typed commands, ui/src/api.ts) -> commands.rs -> local socket -> tray process (controller actor)
//! tray process pushes -> follow(): "snapshot"/"consent" events to the ui, open or close a window
//! ```
//!
//! The dialog (folder picker) and the updater run here, where Tauri is; the
//! engine, the hub, notifications, the opener and the login item stay in the
//! tray process.

pub mod commands;
pub mod consent;
pub mod update;

use specbridge_tray_host::actor::WindowKind;
use specbridge_tray_host::ipc::{Client, Pushed};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

/// The settings window's label.
pub const WINDOW: &str = "main";
/// The event carrying a fresh snapshot to the UI.
pub const SNAPSHOT_EVENT: &str = "snapshot";

/// What the window process manages: its connection to the tray process.
#[derive(Debug)]
pub struct Tray {
    /// Calls go through here.
    pub client: Client,
}

/// Shows a window, creating it if it is not open.
pub fn open_window<R: Runtime>(app: &AppHandle<R>, kind: WindowKind) -> tauri::Result<()> {
    match kind {
        WindowKind::Main => open_main(app),
        WindowKind::Consent => consent::open_window(app),
    }
}

fn open_main<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
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

/// Registers the connection and the typed commands (shared by the app and the mock-runtime tests).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>, client: Client) -> tauri::Builder<R> {
    builder.manage(Tray { client }).manage(update::PendingUpdate::default()).invoke_handler(tauri::generate_handler![
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
    ])
}

/// Follows what the tray process pushes until it goes away, then ends this process.
pub async fn follow<R: Runtime>(app: AppHandle<R>, mut pushes: tokio::sync::mpsc::Receiver<Pushed>) {
    while let Some(Pushed { name, data }) = pushes.recv().await {
        match name.as_str() {
            "snapshot" => {
                if let Err(e) = app.emit(SNAPSHOT_EVENT, &data) {
                    tracing::warn!(error = %e, "snapshot event");
                }
            }
            "consent" => consent::on_pending(&app, &data),
            "open" => {
                let kind = data.as_str().and_then(WindowKind::from_arg);
                if let Some(Err(e)) = kind.map(|k| open_window(&app, k)) {
                    tracing::warn!(error = %e, "window");
                }
            }
            _ => {}
        }
    }
    tracing::info!("the tray process is gone: closing the window");
    app.exit(0);
}

/// Runs the window process: connects to the tray, opens `kind`, and ends
/// when its last window closes (or the tray goes away).
pub fn run_window(kind: WindowKind) -> anyhow::Result<()> {
    specbridge_tray_host::init_tracing();
    let endpoint = specbridge_tray_host::endpoint()?;
    let (client, pushes) = tauri::async_runtime::block_on(Client::connect(&endpoint, true))?;
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_updater::Builder::new().build());
    let app = with_commands(builder, client)
        .setup(move |app| {
            let handle = app.handle().clone();
            open_window(&handle, kind)?;
            tauri::async_runtime::spawn(follow(handle, pushes));
            Ok(())
        })
        .build(tauri::generate_context!())?;
    // Closing the last window ends this process (Tauri's default); the tray lives on.
    app.run(|_, _| {});
    Ok(())
}
