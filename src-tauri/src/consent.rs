//! The local confirmation of job runs: when the hub asks to run a job that is
//! not unattended, the engine waits for its owner (`EngineEvent::ConsentRequested`).
//! The app holds the engine's [`ConsentPrompter`] (so runs are asked for, not
//! refused as on a headless bridge), shows a notification and a small window
//! (`ui/src/consent.ts`) with the job, its exact argv, its parameters and who
//! asked, and answers with Allow once, Always allow or Deny through
//! [`consent_answer`]. The window closes when nothing is waiting any more
//! (answered, or the request timed out: `EngineEvent::ConsentSettled`).
//!
//! Isolated on purpose: the monitor in `lib.rs` calls [`follow`] per engine and
//! [`on_event`] per event; the two commands are registered with the others.

use crate::activity::Notice;
use crate::error::{AppError, AppResult};
use crate::AppState;
use specbridge_bridge::{ConsentAnswer, ConsentPrompter, ConsentRequest, EngineEvent, EngineHandle};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

/// The consent window's label.
pub const CONSENT_WINDOW: &str = "consent";
/// Sent to the windows when the requests waiting change.
pub const CONSENT_EVENT: &str = "consent";

/// Makes `engine` ask here before a job runs, for as long as the returned
/// prompter is kept (the monitor keeps it while it follows that engine).
pub fn follow(engine: &EngineHandle) -> ConsentPrompter {
    engine.consent_prompter()
}

/// A consent request arrived or ended: notify, open or close the window.
pub fn on_event<R: Runtime>(app: &AppHandle<R>, engine: &EngineHandle, event: &EngineEvent) {
    match event {
        EngineEvent::ConsentRequested(request) => {
            let notice = Notice::ConsentAsked {
                job: request.name.clone(),
                who: request.requested_by.clone().unwrap_or_else(|| "the hub".to_owned()),
                project: request.project.clone(),
                argv: request.argv.join(" "),
            };
            crate::notify(app, &notice);
            if let Err(e) = open_window(app) {
                tracing::warn!(error = %e, "consent window");
            }
        }
        EngineEvent::ConsentSettled { .. } if engine.pending_consents().is_empty() => {
            if let Some(window) = app.get_webview_window(CONSENT_WINDOW) {
                let _ = window.close();
            }
        }
        _ => return,
    }
    let _ = app.emit(CONSENT_EVENT, engine.pending_consents());
}

/// Shows the consent window, creating it if needed.
fn open_window<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
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

async fn engine<R: Runtime>(app: &AppHandle<R>) -> AppResult<EngineHandle> {
    let state = app.state::<AppState>();
    let ctl = state.ctl.lock().await;
    ctl.engine().cloned().ok_or(AppError::NotPaired)
}

/// The requests waiting for an answer, oldest first.
#[tauri::command]
pub async fn consent_pending<R: Runtime>(app: AppHandle<R>) -> AppResult<Vec<ConsentRequest>> {
    Ok(engine(&app).await?.pending_consents())
}

/// Answers one request; returns those still waiting.
#[tauri::command]
pub async fn consent_answer<R: Runtime>(
    app: AppHandle<R>,
    id: String,
    answer: ConsentAnswer,
) -> AppResult<Vec<ConsentRequest>> {
    let engine = engine(&app).await?;
    engine.answer_consent(&id, answer)?;
    Ok(engine.pending_consents())
}
