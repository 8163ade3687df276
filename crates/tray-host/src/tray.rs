//! The tray icon and its menu on tao's event loop (the main thread): built
//! from `view::menu_model`, rebuilt only when the model changes, and menu
//! clicks turned into controller requests. No web view is created here.

use crate::actor::{Host, Request, ShellEvent, WindowKind};
use crate::view::{menu_model, MenuEntry, Snapshot, TrayState};
use tao::event::{Event, StartCause};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tao::platform::run_return::EventLoopExtRunReturn as _;
use tray_icon::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

/// The PNG of a state's icon (icons/tray/<state>.png), compiled in.
pub fn icon_bytes(state: TrayState) -> &'static [u8] {
    match state {
        TrayState::Synced => include_bytes!("../../../icons/tray/synced.png"),
        TrayState::Syncing => include_bytes!("../../../icons/tray/syncing.png"),
        TrayState::Offline => include_bytes!("../../../icons/tray/offline.png"),
        TrayState::Attention => include_bytes!("../../../icons/tray/attention.png"),
        TrayState::Paused => include_bytes!("../../../icons/tray/paused.png"),
        TrayState::SignedOut => include_bytes!("../../../icons/tray/signed-out.png"),
    }
}

/// Decodes a state's icon to RGBA.
pub fn icon(state: TrayState) -> anyhow::Result<Icon> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(icon_bytes(state)));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let frame = reader.next_frame(&mut buf)?;
    let pixels = &buf[..frame.buffer_size()];
    let rgba = match frame.color_type {
        png::ColorType::Rgba => pixels.to_vec(),
        png::ColorType::Rgb => pixels.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        png::ColorType::Grayscale | png::ColorType::Indexed => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
    };
    Ok(Icon::from_rgba(rgba, frame.width, frame.height)?)
}

enum UserEvent {
    Snapshot,
    Menu(MenuEvent),
    Shell(ShellEvent),
}

/// Runs the tray on this (the main) thread until the actor says Quit or
/// Restart; returns which.
pub fn run(
    host: Host,
    runtime: &tokio::runtime::Handle,
    mut shell: tokio::sync::mpsc::UnboundedReceiver<ShellEvent>,
) -> anyhow::Result<ShellEvent> {
    let mut event_loop = EventLoopBuilder::<UserEvent>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let menu_proxy = proxy.clone();
    MenuEvent::set_event_handler(Some(move |event| {
        let _ = menu_proxy.send_event(UserEvent::Menu(event));
    }));
    let mut snapshots = host.snapshot();
    let snapshot_proxy = proxy.clone();
    runtime.spawn(async move {
        while snapshots.changed().await.is_ok() {
            if snapshot_proxy.send_event(UserEvent::Snapshot).is_err() {
                return;
            }
        }
    });
    runtime.spawn(async move {
        if let Some(event) = shell.recv().await {
            let _ = proxy.send_event(UserEvent::Shell(event));
        }
    });

    let mut tray: Option<(TrayIcon, TrayState, Vec<MenuEntry>)> = None;
    let mut outcome = ShellEvent::Quit;
    let mut failure = None;
    event_loop.run_return(|event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        let result = match event {
            // macOS wants the icon made once the loop runs; the others don't mind.
            Event::NewEvents(StartCause::Init) => create(&host.snapshot().borrow()).map(|t| tray = Some(t)),
            Event::UserEvent(UserEvent::Snapshot) => match &mut tray {
                Some(t) => update(t, &host.snapshot().borrow()),
                None => Ok(()),
            },
            Event::UserEvent(UserEvent::Menu(event)) => {
                on_menu(&host, runtime, event.id().as_ref());
                Ok(())
            }
            Event::UserEvent(UserEvent::Shell(event)) => {
                outcome = event;
                *control_flow = ControlFlow::Exit;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            if tray.is_none() {
                // No icon, no way to use the app: give up instead of running invisibly.
                failure = Some(e);
                *control_flow = ControlFlow::Exit;
            } else {
                tracing::warn!(error = %e, "tray update");
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

fn create(snapshot: &Snapshot) -> anyhow::Result<(TrayIcon, TrayState, Vec<MenuEntry>)> {
    let model = menu_model(snapshot, snapshot.start_at_login);
    let tray = TrayIconBuilder::new()
        .with_icon(icon(snapshot.state)?)
        .with_tooltip(&snapshot.status_line)
        .with_menu(Box::new(build_menu(&model)?))
        .with_menu_on_left_click(true)
        .build()?;
    Ok((tray, snapshot.state, model))
}

fn update((tray, state, last): &mut (TrayIcon, TrayState, Vec<MenuEntry>), snapshot: &Snapshot) -> anyhow::Result<()> {
    let model = menu_model(snapshot, snapshot.start_at_login);
    if *state != snapshot.state {
        tray.set_icon(Some(icon(snapshot.state)?))?;
        *state = snapshot.state;
    }
    if *last != model {
        tray.set_menu(Some(Box::new(build_menu(&model)?)));
        tray.set_tooltip(Some(&snapshot.status_line))?;
        *last = model;
    }
    Ok(())
}

fn build_menu(model: &[MenuEntry]) -> anyhow::Result<Menu> {
    let menu = Menu::new();
    for entry in model {
        let item: Box<dyn IsMenuItem> = match entry {
            MenuEntry::Status(text) => Box::new(MenuItem::with_id("status", text, false, None)),
            MenuEntry::Separator => Box::new(PredefinedMenuItem::separator()),
            MenuEntry::Project { id, label, paused } => {
                let open = MenuItem::with_id(format!("open:{id}"), "Open folder", true, None);
                let pause_label = if *paused { "Resume" } else { "Pause" };
                let pause = MenuItem::with_id(format!("pause:{id}"), pause_label, true, None);
                let items: [&dyn IsMenuItem; 2] = [&open, &pause];
                Box::new(Submenu::with_id_and_items(format!("project:{id}"), label, true, &items)?)
            }
            MenuEntry::PauseAll => Box::new(MenuItem::with_id("pause-all", "Pause all", true, None)),
            MenuEntry::ResumeAll => Box::new(MenuItem::with_id("resume-all", "Resume all", true, None)),
            MenuEntry::RetryNow => Box::new(MenuItem::with_id("retry", "Retry now", true, None)),
            MenuEntry::OpenDashboard { enabled } => {
                Box::new(MenuItem::with_id("dashboard", "Open dashboard", *enabled, None))
            }
            MenuEntry::Settings => Box::new(MenuItem::with_id("settings", "Settings…", true, None)),
            MenuEntry::CheckForUpdates { enabled } => {
                Box::new(MenuItem::with_id("update-check", "Check for updates", *enabled, None))
            }
            MenuEntry::InstallUpdate(version) => {
                let label = format!("Install update {version} and restart");
                Box::new(MenuItem::with_id("update-install", label, true, None))
            }
            MenuEntry::StartAtLogin(on) => {
                Box::new(CheckMenuItem::with_id("autostart", "Start at login", true, *on, None))
            }
            MenuEntry::Quit => Box::new(MenuItem::with_id("quit", "Quit specbridge", true, None)),
        };
        menu.append(item.as_ref())?;
    }
    Ok(menu)
}

/// The request a menu item stands for.
fn request_for(id: &str, snapshot: &Snapshot) -> Option<Request> {
    Some(match id {
        "settings" => Request::OpenWindow { window: WindowKind::Main },
        // Installing needs the updater, which lives in the window process:
        // the Version card there offers it.
        "update-install" => Request::OpenWindow { window: WindowKind::Main },
        "update-check" => Request::CheckUpdate,
        "quit" => Request::Quit,
        "retry" => Request::RetryNow,
        "pause-all" | "resume-all" => Request::SetPausedAll { paused: id == "pause-all" },
        "dashboard" => Request::OpenDashboard,
        "autostart" => Request::SetAutostart { enabled: !snapshot.start_at_login },
        other => {
            if let Some(project) = other.strip_prefix("open:") {
                Request::OpenFolder { id: project.to_owned() }
            } else if let Some(project) = other.strip_prefix("pause:") {
                let paused = snapshot.projects.iter().any(|p| p.id == project && p.paused);
                Request::SetProjectPaused { id: project.to_owned(), paused: !paused }
            } else {
                return None;
            }
        }
    })
}

fn on_menu(host: &Host, runtime: &tokio::runtime::Handle, id: &str) {
    let Some(request) = request_for(id, &host.snapshot().borrow()) else { return };
    let (host, id) = (host.clone(), id.to_owned());
    runtime.spawn(async move {
        if let Err(e) = host.call(request).await {
            tracing::warn!(item = %id, error = %e, "tray action failed");
        }
    });
}
