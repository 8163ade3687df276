//! App updates through tauri-plugin-updater, served by the paired hub.
//!
//! The hub answers `GET /v1/updates/{target}/{arch}/{current_version}?bundle=…`
//! from the release files its operator dropped in its updates folder (see
//! docs/protocol.md). The plugin checks the artifact's minisign signature
//! against the public key compiled into the app (tauri.conf.json
//! `plugins.updater.pubkey`), so a hub can withhold updates but cannot push a
//! build the release key did not sign.
//!
//! The plugin needs Tauri, so checks and installs from the window run here,
//! in the window process; the tray process asks the same endpoint for the
//! version alone (every six hours and from the tray menu) and verifies
//! nothing, since it installs nothing.
//!
//! Installing waits until no command from the hub is in flight, then stops the
//! engine (which saves its index and outbox) before the binary is replaced:
//! a write or a job is never cut off halfway, and nothing queued is lost.
//! Then the tray process starts the new binary and ends.

use crate::commands::CommandResult;
use crate::Tray;
use specbridge_tray_host::actor::Request;
use specbridge_tray_host::error::AppError;
use specbridge_tray_host::ipc::WireError;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt as _};

/// How long an install waits for running commands (a job may take minutes).
pub const QUIET_WAIT: Duration = Duration::from_secs(300);

/// The update found by the last check, kept for "Install update".
#[derive(Default)]
pub struct PendingUpdate(tokio::sync::Mutex<Option<Update>>);

/// The hub's update endpoint, with the plugin's placeholders left in.
pub fn endpoint(hub_url: &str) -> Result<tauri::Url, AppError> {
    let url = format!(
        "{}/v1/updates/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}?bundle={{{{bundle_type}}}}",
        hub_url.trim_end_matches('/')
    );
    url.parse().map_err(|_| AppError::InvalidHubUrl { url: hub_url.to_owned(), reason: "not a URL" })
}

fn failed(e: tauri_plugin_updater::Error) -> WireError {
    AppError::Update(e.to_string()).into()
}

async fn tell<R: Runtime>(app: &AppHandle<R>, request: Request) -> CommandResult {
    app.state::<Tray>().client.call(request).await
}

/// Asks the paired hub whether a newer signed release exists. Returns its
/// version (and remembers the update for [`install`]), or `None`; the tray
/// shows it in its menu.
pub async fn check<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Option<String>> {
    let hub = tell(app, Request::HubUrl).await?;
    let hub = hub.as_str().ok_or(AppError::NotPaired)?;
    let updater = app
        .updater_builder()
        .endpoints(vec![endpoint(hub)?])
        .map_err(failed)?
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(failed)?;
    let found = updater.check().await.map_err(failed)?;
    let version = found.as_ref().map(|u| u.version.clone());
    *app.state::<PendingUpdate>().0.lock().await = found;
    tell(app, Request::SetUpdateAvailable { version: version.clone() }).await?;
    Ok(version)
}

/// Downloads the pending update and verifies its signature (the plugin
/// refuses bytes the release key did not sign), leaving it pending. Nothing
/// is installed.
pub async fn download<R: Runtime>(app: &AppHandle<R>) -> CommandResult<(Update, Vec<u8>)> {
    let pending = app.state::<PendingUpdate>().0.lock().await.clone();
    let update = pending.ok_or(AppError::NoUpdate)?;
    let bytes = update.download(|_, _| {}, || {}).await.map_err(failed)?;
    Ok((update, bytes))
}

/// Installs the pending update: download and verify, have the tray wait for
/// in-flight commands and stop syncing, replace the app, and have the tray
/// start the new one. If the install fails the engine starts again and the
/// error says why.
pub async fn install<R: Runtime>(app: &AppHandle<R>) -> CommandResult<()> {
    // Taken, not peeked: a second click while this one runs finds nothing to install.
    let pending = app.state::<PendingUpdate>().0.lock().await.take();
    let update = pending.ok_or(AppError::NoUpdate)?;
    let bytes = match update.download(|_, _| {}, || {}).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // A release that fails verification is forgotten: the menu goes back to "Check for updates".
            tell(app, Request::SetUpdateAvailable { version: None }).await?;
            return Err(failed(e));
        }
    };
    let within_ms = QUIET_WAIT.as_millis() as u64;
    if let Err(busy) = tell(app, Request::Quiesce { within_ms }).await {
        // Still wanted: "Install update" stays offered for when the work is done.
        *app.state::<PendingUpdate>().0.lock().await = Some(update);
        return Err(busy);
    }
    if let Err(e) = update.install(bytes) {
        if let Err(resume) = tell(app, Request::Resume).await {
            tracing::warn!(error = %resume, "restart after a failed update");
        }
        return Err(failed(e));
    }
    tell(app, Request::Restart).await?;
    app.exit(0);
    Ok(())
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
