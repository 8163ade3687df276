//! App updates through tauri-plugin-updater, served by the paired hub.
//!
//! The hub answers `GET /v1/updates/{target}/{arch}/{current_version}?bundle=…`
//! from the release files its operator dropped in its updates folder (see
//! docs/protocol.md). The plugin checks the artifact's minisign signature
//! against the public key compiled into the app (tauri.conf.json
//! `plugins.updater.pubkey`), so a hub can withhold updates but cannot push a
//! build the release key did not sign.
//!
//! Installing waits until no command from the hub is in flight, then stops the
//! engine (which saves its index and outbox) before the binary is replaced:
//! a write or a job is never cut off halfway, and nothing queued is lost.

use crate::error::{AppError, AppResult};
use crate::AppState;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt as _};

/// How long an install waits for running commands (a job may take minutes).
pub const QUIET_WAIT: Duration = Duration::from_secs(300);
/// First automatic check after start, then the interval between checks.
const FIRST_CHECK: Duration = Duration::from_secs(60);
const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// The update found by the last check, kept for "Install update".
#[derive(Default)]
pub struct PendingUpdate(tokio::sync::Mutex<Option<Update>>);

/// The hub's update endpoint, with the plugin's placeholders left in.
pub fn endpoint(hub_url: &str) -> AppResult<tauri::Url> {
    let url = format!(
        "{}/v1/updates/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}?bundle={{{{bundle_type}}}}",
        hub_url.trim_end_matches('/')
    );
    url.parse().map_err(|_| AppError::InvalidHubUrl { url: hub_url.to_owned(), reason: "not a URL" })
}

fn failed(e: tauri_plugin_updater::Error) -> AppError {
    AppError::Update(e.to_string())
}

/// Asks the paired hub whether a newer signed release exists. Returns its
/// version (and remembers the update for [`install`]), or `None`.
pub async fn check<R: Runtime>(app: &AppHandle<R>) -> AppResult<Option<String>> {
    let state = app.state::<AppState>();
    let hub = state.ctl.lock().await.hub_url().ok_or(AppError::NotPaired)?;
    let updater = app
        .updater_builder()
        .endpoints(vec![endpoint(&hub)?])
        .map_err(failed)?
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(failed)?;
    let found = updater.check().await.map_err(failed)?;
    let version = found.as_ref().map(|u| u.version.clone());
    *app.state::<PendingUpdate>().0.lock().await = found;
    state.ctl.lock().await.set_update_available(version.clone());
    crate::refresh(app).await;
    Ok(version)
}

/// Downloads the pending update and verifies its signature (the plugin
/// refuses bytes the release key did not sign), leaving it pending. Nothing
/// is installed.
pub async fn download<R: Runtime>(app: &AppHandle<R>) -> AppResult<(Update, Vec<u8>)> {
    let pending = app.state::<PendingUpdate>().0.lock().await.clone();
    let update = pending.ok_or(AppError::NoUpdate)?;
    let bytes = update.download(|_, _| {}, || {}).await.map_err(failed)?;
    Ok((update, bytes))
}

/// Waits (at most `within`) until no command from the hub is in flight, then
/// stops the engine and the in-process hub. Commands arriving in between are
/// covered by the engine's own bounded shutdown, which waits for them.
pub async fn quiesce(state: &AppState, within: Duration) -> AppResult<()> {
    let engine = state.ctl.lock().await.engine().cloned();
    if let Some(engine) = engine {
        if !engine.wait_until_idle(within).await {
            return Err(AppError::UpdateBusy { in_flight: engine.commands_in_flight() });
        }
    }
    state.ctl.lock().await.stop().await;
    Ok(())
}

/// Installs the pending update and restarts into it: download and verify,
/// wait for in-flight commands, stop syncing, replace the app. If the install
/// fails the engine starts again and the error says why.
pub async fn install<R: Runtime>(app: &AppHandle<R>) -> AppResult<()> {
    // Taken, not peeked: a second click while this one runs finds nothing to install.
    let pending = app.state::<PendingUpdate>().0.lock().await.take();
    let update = pending.ok_or(AppError::NoUpdate)?;
    let state = app.state::<AppState>();
    let bytes = match update.download(|_, _| {}, || {}).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // A release that fails verification is forgotten: the menu goes back to "Check for updates".
            state.ctl.lock().await.set_update_available(None);
            crate::refresh(app).await;
            return Err(failed(e));
        }
    };
    if let Err(busy) = quiesce(&state, QUIET_WAIT).await {
        // Still wanted: "Install update" stays offered for when the work is done.
        *app.state::<PendingUpdate>().0.lock().await = Some(update);
        return Err(busy);
    }
    if let Err(e) = update.install(bytes) {
        if let Err(resume) = state.ctl.lock().await.resume().await {
            tracing::warn!(error = %resume, "restart after a failed update");
        }
        crate::refresh(app).await;
        return Err(failed(e));
    }
    app.restart()
}

/// Checks shortly after start and then every six hours while paired; a hub
/// without updates answers 204 and nothing shows.
pub async fn watch<R: Runtime>(app: AppHandle<R>) {
    tokio::time::sleep(FIRST_CHECK).await;
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        match check(&app).await {
            Ok(Some(version)) => tracing::info!(%version, "an update is available"),
            Ok(None) | Err(AppError::NotPaired) => {}
            Err(e) => tracing::debug!(error = %e, "update check"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_keeps_the_plugin_placeholders() {
        let url = endpoint("https://hub.example.com/").unwrap();
        assert_eq!(
            url.as_str(),
            "https://hub.example.com/v1/updates/%7B%7Btarget%7D%7D/%7B%7Barch%7D%7D/%7B%7Bcurrent_version%7D%7D?bundle={{bundle_type}}"
        );
        assert!(matches!(endpoint("not a url"), Err(AppError::InvalidHubUrl { .. })));
    }
}
