//! The tray icon and its menu: built from `view::menu_model`, rebuilt only
//! when the model changes, and menu clicks turned into controller calls.

use crate::view::{menu_model, MenuEntry, Snapshot, TrayState};
use crate::AppState;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

/// The tray icon's id.
const TRAY_ID: &str = "main";

/// The PNG of a state's icon (icons/tray/<state>.png), compiled in.
pub fn icon_bytes(state: TrayState) -> &'static [u8] {
    match state {
        TrayState::Synced => include_bytes!("../../icons/tray/synced.png"),
        TrayState::Syncing => include_bytes!("../../icons/tray/syncing.png"),
        TrayState::Offline => include_bytes!("../../icons/tray/offline.png"),
        TrayState::Attention => include_bytes!("../../icons/tray/attention.png"),
        TrayState::Paused => include_bytes!("../../icons/tray/paused.png"),
        TrayState::SignedOut => include_bytes!("../../icons/tray/signed-out.png"),
    }
}

/// Creates the tray icon.
pub fn create<R: Runtime>(app: &AppHandle<R>, snapshot: &Snapshot, autostart: bool) -> tauri::Result<()> {
    let model = menu_model(snapshot, autostart);
    let menu = build_menu(app, &model)?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icon_bytes(snapshot.state))?)
        .tooltip(&snapshot.status_line)
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    if let Some(state) = app.try_state::<AppState>() {
        *state.lock_menu() = Some((snapshot.state, model));
    }
    Ok(())
}

/// Brings the tray in line with a snapshot.
pub fn update<R: Runtime>(app: &AppHandle<R>, snapshot: &Snapshot, autostart: bool) -> tauri::Result<()> {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return Ok(()) };
    let Some(state) = app.try_state::<AppState>() else { return Ok(()) };
    let model = menu_model(snapshot, autostart);
    let mut last = state.lock_menu();
    let (icon_changed, menu_changed) = match &*last {
        Some((s, m)) => (*s != snapshot.state, *m != model),
        None => (true, true),
    };
    if icon_changed {
        tray.set_icon(Some(Image::from_bytes(icon_bytes(snapshot.state))?))?;
    }
    if menu_changed {
        tray.set_menu(Some(build_menu(app, &model)?))?;
        tray.set_tooltip(Some(&snapshot.status_line))?;
    }
    *last = Some((snapshot.state, model));
    Ok(())
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, model: &[MenuEntry]) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for entry in model {
        let item: Box<dyn IsMenuItem<R>> = match entry {
            MenuEntry::Status(text) => Box::new(MenuItem::with_id(app, "status", text, false, None::<&str>)?),
            MenuEntry::Separator => Box::new(PredefinedMenuItem::separator(app)?),
            MenuEntry::Project { id, label, paused } => {
                let open = MenuItem::with_id(app, format!("open:{id}"), "Open folder", true, None::<&str>)?;
                let pause_label = if *paused { "Resume" } else { "Pause" };
                let pause = MenuItem::with_id(app, format!("pause:{id}"), pause_label, true, None::<&str>)?;
                let items: [&dyn IsMenuItem<R>; 2] = [&open, &pause];
                Box::new(Submenu::with_id_and_items(app, format!("project:{id}"), label, true, &items)?)
            }
            MenuEntry::PauseAll => Box::new(MenuItem::with_id(app, "pause-all", "Pause all", true, None::<&str>)?),
            MenuEntry::ResumeAll => Box::new(MenuItem::with_id(app, "resume-all", "Resume all", true, None::<&str>)?),
            MenuEntry::RetryNow => Box::new(MenuItem::with_id(app, "retry", "Retry now", true, None::<&str>)?),
            MenuEntry::OpenDashboard { enabled } => {
                Box::new(MenuItem::with_id(app, "dashboard", "Open dashboard", *enabled, None::<&str>)?)
            }
            MenuEntry::Settings => Box::new(MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?),
            MenuEntry::CheckForUpdates { enabled } => {
                Box::new(MenuItem::with_id(app, "update-check", "Check for updates", *enabled, None::<&str>)?)
            }
            MenuEntry::InstallUpdate(version) => {
                let label = format!("Install update {version} and restart");
                Box::new(MenuItem::with_id(app, "update-install", label, true, None::<&str>)?)
            }
            MenuEntry::StartAtLogin(on) => {
                Box::new(CheckMenuItem::with_id(app, "autostart", "Start at login", true, *on, None::<&str>)?)
            }
            MenuEntry::Quit => Box::new(MenuItem::with_id(app, "quit", "Quit specbridge", true, None::<&str>)?),
        };
        menu.append(item.as_ref())?;
    }
    Ok(menu)
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    let id = event.id().as_ref().to_owned();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = handle(&app, &id).await {
            tracing::warn!(item = %id, error = %e, "tray action failed");
        }
    });
}

async fn handle<R: Runtime>(app: &AppHandle<R>, id: &str) -> crate::error::AppResult<()> {
    let Some(state) = app.try_state::<AppState>() else { return Ok(()) };
    match id {
        "settings" => crate::open_window(app).map_err(crate::error::AppError::internal)?,
        "quit" => {
            state.ctl.lock().await.stop().await;
            app.exit(0);
        }
        "retry" => state.ctl.lock().await.reconnect_now(),
        "update-check" => {
            crate::update::check(app).await?;
        }
        "update-install" => crate::update::install(app).await?,
        "pause-all" | "resume-all" => state.ctl.lock().await.set_paused_all(id == "pause-all").await?,
        "dashboard" => {
            if let Some(url) = state.ctl.lock().await.dashboard_url() {
                crate::commands::open_url(&url)?;
            }
        }
        "autostart" => {
            let on = crate::commands::autostart_enabled(app);
            crate::commands::set_autostart_inner(app, !on)?;
        }
        other => {
            if let Some(project) = other.strip_prefix("open:") {
                let path = state.ctl.lock().await.project_path(project)?;
                crate::commands::open_path(&path)?;
            } else if let Some(project) = other.strip_prefix("pause:") {
                let mut ctl = state.ctl.lock().await;
                let paused = ctl.snapshot().projects.iter().any(|p| p.id == project && p.paused);
                ctl.set_project_paused(project, !paused).await?;
            }
        }
    }
    crate::refresh(app).await;
    Ok(())
}
