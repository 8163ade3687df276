//! The local confirmation of job runs, window side. When the hub asks to run
//! a job that is not unattended, the engine in the tray process waits for
//! its owner; the tray notifies and starts this process (or tells it) to
//! show the consent window (`ui/src/consent.ts`): the job, its exact argv,
//! its parameters and who asked, answered with Allow once, Always allow or
//! Deny through [`consent_answer`]. The tray pushes the waiting list after
//! every change; the window closes when nothing waits any more (answered, or
//! the request timed out).

use crate::commands::CommandResult;
use crate::Tray;
use serde_json::Value;
use specbridge_bridge::ConsentAnswer;
use specbridge_tray_host::actor::Request;
use tauri::{AppHandle, Emitter, Manager, Runtime, State, WebviewUrl, WebviewWindowBuilder};

/// The consent window's label.
pub const CONSENT_WINDOW: &str = "consent";
/// Sent to the windows when the requests waiting change.
pub const CONSENT_EVENT: &str = "consent";

/// The tray pushed the requests waiting now: show them, or close the window.
pub fn on_pending<R: Runtime>(app: &AppHandle<R>, pending: &Value) {
    let waiting = pending.as_array().is_some_and(|list| !list.is_empty());
    if waiting {
        if let Err(e) = open_window(app) {
            tracing::warn!(error = %e, "consent window");
        }
    } else if let Some(window) = app.get_webview_window(CONSENT_WINDOW) {
        let _ = window.close();
    }
    let _ = app.emit(CONSENT_EVENT, pending);
}

/// Shows the consent window, creating it if needed.
pub(crate) fn open_window<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(CONSENT_WINDOW) {
        window.show()?;
        return window.set_focus();
    }
    let window = WebviewWindowBuilder::new(app, CONSENT_WINDOW, WebviewUrl::App("index.html#consent".into()))
        .title("specbridge: run a job?")
        .inner_size(560.0, 460.0)
        .always_on_top(true)
        .build()?;
    window.set_focus()
}

/// The requests waiting for an answer, oldest first.
#[tauri::command]
pub async fn consent_pending(tray: State<'_, Tray>) -> CommandResult {
    tray.client.call(Request::ConsentPending).await
}

/// Answers one request; returns those still waiting.
#[tauri::command]
pub async fn consent_answer(tray: State<'_, Tray>, id: String, answer: ConsentAnswer) -> CommandResult {
    tray.client.call(Request::ConsentAnswer { id, answer }).await
}
