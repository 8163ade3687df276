//! The typed commands the UI calls (ui/src/api.ts mirrors them). Each returns
//! the new [`Snapshot`] or a typed [`AppError`]; none holds logic of its own
//! beyond calling the controller and refreshing the tray.

use crate::controller::{Controller, FolderInfo};
use crate::error::{AppError, AppResult};
use crate::remote::HubClient;
use crate::view::Snapshot;
use crate::AppState;
use specbridge_bridge::VaultChoice;
use std::path::{Path, PathBuf};
use tauri::{AppHandle, Manager, Runtime, State};

/// Refreshes the tray and the UI, and returns the snapshot.
async fn done<R: Runtime>(app: &AppHandle<R>) -> AppResult<Snapshot> {
    crate::refresh(app).await.ok_or_else(|| AppError::internal("the app state is not loaded"))
}

/// The current snapshot.
#[tauri::command]
pub async fn get_snapshot(state: State<'_, AppState>) -> AppResult<Snapshot> {
    Ok(state.ctl.lock().await.snapshot())
}

/// "Use this computer as the hub".
#[tauri::command]
pub async fn use_this_computer<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Snapshot> {
    state.ctl.lock().await.use_this_computer().await?;
    done(&app).await
}

/// Starts a device-code pairing and polls the hub in the background.
#[tauri::command]
pub async fn pair_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    hub_url: String,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.pair_start(&hub_url).await?;
    let poller = app.clone();
    tauri::async_runtime::spawn(async move { poll_pairing(poller).await });
    done(&app).await
}

/// Polls until the pairing is approved, expires or is cancelled.
async fn poll_pairing<R: Runtime>(app: AppHandle<R>) {
    loop {
        let Some(state) = app.try_state::<AppState>() else { return };
        let Some((url, code, interval)) = state.ctl.lock().await.pairing_poll_target() else { return };
        tokio::time::sleep(interval).await;
        let client = HubClient::new(&url);
        let device_code = code.clone();
        let answer = crate::controller::blocking(move || client.pair_poll(device_code.expose())).await;
        let over = state.ctl.lock().await.finish_pairing(&code, answer).await;
        if over {
            crate::refresh(&app).await;
            return;
        }
    }
}

/// Stops waiting for a pairing.
#[tauri::command]
pub async fn pair_cancel<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Snapshot> {
    state.ctl.lock().await.cancel_pairing();
    done(&app).await
}

/// Paste-a-token fallback.
#[tauri::command]
pub async fn pair_with_token<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    hub_url: String,
    token: String,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.pair_with_token(&hub_url, &token).await?;
    done(&app).await
}

/// What Unpair did.
#[derive(Debug, serde::Serialize)]
pub struct Unpaired {
    /// Set when the hub could not be told (the token is deleted locally anyway).
    pub warning: Option<String>,
    /// The state afterwards.
    pub snapshot: Snapshot,
}

/// Unpair: revoke at the hub, delete from the vault.
#[tauri::command]
pub async fn unpair<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Unpaired> {
    let warning = state.ctl.lock().await.unpair().await?;
    Ok(Unpaired { warning, snapshot: done(&app).await? })
}

/// Moves the token to another vault (the explicit headless fallback).
#[tauri::command]
pub async fn set_vault<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    vault: VaultChoice,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.set_vault(vault).await?;
    done(&app).await
}

/// Renames this machine.
#[tauri::command]
pub async fn rename_machine<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.rename_machine(&name).await?;
    done(&app).await
}

/// The native folder picker; `None` when cancelled.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>) -> AppResult<Option<FolderInfo>> {
    use tauri_plugin_dialog::DialogExt as _;
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        return Err(AppError::Desktop { what: "folder picker", detail: "the dialog plugin is not loaded".into() });
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_title("Choose a project folder").pick_folder(move |picked| {
        let _ = tx.send(picked);
    });
    let picked = rx.await.map_err(AppError::internal)?;
    match picked.map(|p| p.into_path()) {
        None => Ok(None),
        Some(Ok(path)) => Controller::inspect_folder(&path).map(Some),
        Some(Err(e)) => Err(AppError::Desktop { what: "folder picker", detail: e.to_string() }),
    }
}

/// A folder's detected layout, before adding it.
#[tauri::command]
pub async fn inspect_folder(path: PathBuf) -> AppResult<FolderInfo> {
    Controller::inspect_folder(&path)
}

/// Shares a folder.
#[tauri::command]
pub async fn add_project<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    path: PathBuf,
    read_only: bool,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.add_project(&path, read_only).await?;
    done(&app).await
}

/// Stops sharing a folder.
#[tauri::command]
pub async fn remove_project<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.remove_project(&id).await?;
    done(&app).await
}

/// The read-only switch.
#[tauri::command]
pub async fn set_read_only<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    read_only: bool,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.set_read_only(&id, read_only).await?;
    done(&app).await
}

/// Pauses or resumes one project.
#[tauri::command]
pub async fn set_project_paused<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    paused: bool,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.set_project_paused(&id, paused).await?;
    done(&app).await
}

/// Pause all / Resume all.
#[tauri::command]
pub async fn set_paused_all<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    paused: bool,
) -> AppResult<Snapshot> {
    state.ctl.lock().await.set_paused_all(paused).await?;
    done(&app).await
}

/// Retry now.
#[tauri::command]
pub async fn retry_now<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Snapshot> {
    state.ctl.lock().await.reconnect_now();
    done(&app).await
}

/// Onboarding done.
#[tauri::command]
pub async fn finish_onboarding<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Snapshot> {
    state.ctl.lock().await.finish_onboarding()?;
    done(&app).await
}

/// The user looked at recent activity.
#[tauri::command]
pub async fn mark_activity_seen<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<Snapshot> {
    state.ctl.lock().await.mark_activity_seen();
    done(&app).await
}

/// Opens the hub's dashboard in the browser.
#[tauri::command]
pub async fn open_dashboard(state: State<'_, AppState>) -> AppResult<()> {
    let url = state.ctl.lock().await.dashboard_url().ok_or(AppError::NotPaired)?;
    open_url(&url)
}

/// Opens a project's folder in the file manager.
#[tauri::command]
pub async fn open_folder(state: State<'_, AppState>, id: String) -> AppResult<()> {
    let path = state.ctl.lock().await.project_path(&id)?;
    open_path(&path)
}

/// Asks the hub for a newer signed release; its version, or null.
#[tauri::command]
pub async fn check_update<R: Runtime>(app: AppHandle<R>) -> AppResult<Option<String>> {
    crate::update::check(&app).await
}

/// Installs the release the last check found and restarts into it, once no
/// command from the hub is running.
#[tauri::command]
pub async fn install_update<R: Runtime>(app: AppHandle<R>) -> AppResult<()> {
    crate::update::install(&app).await
}

/// Whether the app starts at login.
#[tauri::command]
pub async fn get_autostart<R: Runtime>(app: AppHandle<R>) -> AppResult<bool> {
    Ok(autostart_enabled(&app))
}

/// Turns start-at-login on or off.
#[tauri::command]
pub async fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> AppResult<bool> {
    set_autostart_inner(&app, enabled)?;
    crate::refresh(&app).await;
    Ok(autostart_enabled(&app))
}

/// Whether start-at-login is on: on Linux our own desktop entry in the managed
/// [`crate::install::LinuxAutostart`] folder, elsewhere the autostart plugin.
pub(crate) fn autostart_enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    #[cfg(target_os = "linux")]
    {
        app.try_state::<crate::install::LinuxAutostart>().is_some_and(|a| a.is_enabled())
    }
    #[cfg(not(target_os = "linux"))]
    {
        app.try_state::<tauri_plugin_autostart::AutoLaunchManager>().and_then(|m| m.is_enabled().ok()).unwrap_or(false)
    }
}

pub(crate) fn set_autostart_inner<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> AppResult<()> {
    #[cfg(target_os = "linux")]
    {
        let autostart = app.try_state::<crate::install::LinuxAutostart>().ok_or_else(|| AppError::Desktop {
            what: "start at login",
            detail: "no login item folder is set up".into(),
        })?;
        if enabled {
            autostart.enable(&crate::install::login_command()?)
        } else {
            autostart.disable()
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let desktop = |detail: String| AppError::Desktop { what: "start at login", detail };
        let manager = app
            .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
            .ok_or_else(|| desktop("the autostart plugin is not loaded".into()))?;
        let result = if enabled { manager.enable() } else { manager.disable() };
        result.map_err(|e| desktop(e.to_string()))
    }
}

pub(crate) fn open_url(url: &str) -> AppResult<()> {
    tauri_plugin_opener::open_url(url, None::<&str>)
        .map_err(|e| AppError::Desktop { what: "opening the browser", detail: e.to_string() })
}

pub(crate) fn open_path(path: &Path) -> AppResult<()> {
    tauri_plugin_opener::open_path(path, None::<&str>)
        .map_err(|e| AppError::Desktop { what: "opening the folder", detail: e.to_string() })
}
