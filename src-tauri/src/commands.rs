//! The typed commands the UI calls (ui/src/api.ts mirrors them). Each is a
//! [`Request`] forwarded to the tray process over the local socket; the
//! answer is the new snapshot (or the command's value) or the tray's typed
//! error `{code, message, hint?, details?}`, carried through unchanged.
//! Only the folder picker and the updater run here, where Tauri is.

use crate::Tray;
use serde_json::Value;
use specbridge_bridge::VaultChoice;
use specbridge_tray_host::actor::Request;
use specbridge_tray_host::error::AppError;
use specbridge_tray_host::ipc::WireError;
use std::path::PathBuf;
use tauri::{AppHandle, Manager, Runtime, State};

/// What a command returns.
pub type CommandResult<T = Value> = Result<T, WireError>;

async fn call(tray: &State<'_, Tray>, request: Request) -> CommandResult {
    tray.client.call(request).await
}

/// The current snapshot.
#[tauri::command]
pub async fn get_snapshot(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::GetSnapshot).await
}

/// "Use this computer as the hub".
#[tauri::command]
pub async fn use_this_computer(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::UseThisComputer).await
}

/// Starts a device-code pairing; the tray polls the hub.
#[tauri::command]
pub async fn pair_start(tray: State<'_, Tray>, hub_url: String) -> CommandResult {
    call(&tray, Request::PairStart { hub_url }).await
}

/// Stops waiting for a pairing.
#[tauri::command]
pub async fn pair_cancel(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::PairCancel).await
}

/// Paste-a-token fallback.
#[tauri::command]
pub async fn pair_with_token(tray: State<'_, Tray>, hub_url: String, token: String) -> CommandResult {
    call(&tray, Request::PairWithToken { hub_url, token }).await
}

/// Unpair: revoke at the hub, delete from the vault; `{warning, snapshot}`.
#[tauri::command]
pub async fn unpair(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::Unpair).await
}

/// Moves the token to another vault (the explicit headless fallback).
#[tauri::command]
pub async fn set_vault(tray: State<'_, Tray>, vault: VaultChoice) -> CommandResult {
    call(&tray, Request::SetVault { vault }).await
}

/// Renames this machine.
#[tauri::command]
pub async fn rename_machine(tray: State<'_, Tray>, name: String) -> CommandResult {
    call(&tray, Request::RenameMachine { name }).await
}

/// The native folder picker; null when cancelled, else the folder's info.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>, tray: State<'_, Tray>) -> CommandResult {
    use tauri_plugin_dialog::DialogExt as _;
    let desktop = |detail: String| WireError::from(AppError::Desktop { what: "folder picker", detail });
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        return Err(desktop("the dialog plugin is not loaded".into()));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_title("Choose a project folder").pick_folder(move |picked| {
        let _ = tx.send(picked);
    });
    let picked = rx.await.map_err(|e| WireError::from(AppError::internal(e)))?;
    match picked.map(|p| p.into_path()) {
        None => Ok(Value::Null),
        Some(Ok(path)) => call(&tray, Request::InspectFolder { path }).await,
        Some(Err(e)) => Err(desktop(e.to_string())),
    }
}

/// A folder's detected layout, before adding it.
#[tauri::command]
pub async fn inspect_folder(tray: State<'_, Tray>, path: PathBuf) -> CommandResult {
    call(&tray, Request::InspectFolder { path }).await
}

/// Shares a folder.
#[tauri::command]
pub async fn add_project(tray: State<'_, Tray>, path: PathBuf, read_only: bool) -> CommandResult {
    call(&tray, Request::AddProject { path, read_only }).await
}

/// Stops sharing a folder.
#[tauri::command]
pub async fn remove_project(tray: State<'_, Tray>, id: String) -> CommandResult {
    call(&tray, Request::RemoveProject { id }).await
}

/// The read-only switch.
#[tauri::command]
pub async fn set_read_only(tray: State<'_, Tray>, id: String, read_only: bool) -> CommandResult {
    call(&tray, Request::SetReadOnly { id, read_only }).await
}

/// Pauses or resumes one project.
#[tauri::command]
pub async fn set_project_paused(tray: State<'_, Tray>, id: String, paused: bool) -> CommandResult {
    call(&tray, Request::SetProjectPaused { id, paused }).await
}

/// Pause all / Resume all.
#[tauri::command]
pub async fn set_paused_all(tray: State<'_, Tray>, paused: bool) -> CommandResult {
    call(&tray, Request::SetPausedAll { paused }).await
}

/// Retry now.
#[tauri::command]
pub async fn retry_now(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::RetryNow).await
}

/// Onboarding done.
#[tauri::command]
pub async fn finish_onboarding(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::FinishOnboarding).await
}

/// The user looked at recent activity.
#[tauri::command]
pub async fn mark_activity_seen(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::MarkActivitySeen).await
}

/// Opens the hub's dashboard in the browser (the tray process opens it).
#[tauri::command]
pub async fn open_dashboard(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::OpenDashboard).await
}

/// Opens a project's folder in the file manager.
#[tauri::command]
pub async fn open_folder(tray: State<'_, Tray>, id: String) -> CommandResult {
    call(&tray, Request::OpenFolder { id }).await
}

/// Whether the app starts at login.
#[tauri::command]
pub async fn get_autostart(tray: State<'_, Tray>) -> CommandResult {
    call(&tray, Request::GetAutostart).await
}

/// Turns start-at-login on or off; the new state.
#[tauri::command]
pub async fn set_autostart(tray: State<'_, Tray>, enabled: bool) -> CommandResult {
    call(&tray, Request::SetAutostart { enabled }).await
}

/// Asks the hub for a newer signed release; its version, or null.
#[tauri::command]
pub async fn check_update<R: Runtime>(app: AppHandle<R>) -> CommandResult<Option<String>> {
    crate::update::check(&app).await
}

/// Installs the release the last check found; the tray restarts into it
/// once no command from the hub is running.
#[tauri::command]
pub async fn install_update<R: Runtime>(app: AppHandle<R>) -> CommandResult<()> {
    crate::update::install(&app).await
}
