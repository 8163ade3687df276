//! What the app shows, derived from the engine's status and the settings by
//! pure functions: the tray state, the status line, the menu model, and the
//! snapshot the UI renders. No GUI here, so all of it is unit-tested.

use crate::activity::ActivityEntry;
use serde::Serialize;
use specbridge_bridge::{Layout, LinkState, VaultChoice};
use std::path::PathBuf;

/// The tray icon's state. Each has its own icon in `icons/tray/<name>.png`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrayState {
    /// Connected, nothing waiting.
    Synced,
    /// Connecting, or changes waiting for the hub's ack.
    Syncing,
    /// The hub cannot be reached; retrying.
    Offline,
    /// A conflict or an error wants a look.
    Attention,
    /// Paused on purpose.
    Paused,
    /// No hub, no token, or the hub refused the token.
    SignedOut,
}

impl TrayState {
    /// Every state, for tests and icon loading.
    pub const ALL: [Self; 6] =
        [Self::Synced, Self::Syncing, Self::Offline, Self::Attention, Self::Paused, Self::SignedOut];

    /// The icon's file stem (`icons/tray/<name>.png`) and the wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Syncing => "syncing",
            Self::Offline => "offline",
            Self::Attention => "attention",
            Self::Paused => "paused",
            Self::SignedOut => "signed-out",
        }
    }
}

/// The inputs of the tray state.
#[derive(Debug, Clone, Default)]
pub struct Health<'a> {
    /// A hub is configured and a token was found.
    pub signed_in: bool,
    /// "Pause all" is on.
    pub paused_all: bool,
    /// The link, when an engine runs.
    pub link: Option<&'a LinkState>,
    /// Events waiting for the hub's ack.
    pub queue_depth: usize,
    /// The engine's last error (cleared when a session starts, unless a project was skipped).
    pub last_error: Option<&'a str>,
    /// A problem of the app itself (engine failed to start, keychain unreachable).
    pub problem: Option<&'a str>,
    /// The engine cannot write its state folder (a full disk); it keeps
    /// running, but the user must free space, whatever the link does.
    pub state_problem: Option<&'a str>,
    /// Conflicts not looked at yet.
    pub unseen_conflicts: usize,
}

/// The tray state for these inputs. Order matters: signed out beats paused
/// beats everything; an unreachable hub is "offline", not "attention".
pub fn tray_state(h: &Health<'_>) -> TrayState {
    if !h.signed_in || matches!(h.link, Some(LinkState::Unauthorized)) {
        return TrayState::SignedOut;
    }
    if h.paused_all {
        return TrayState::Paused;
    }
    if h.problem.is_some() || h.state_problem.is_some() {
        return TrayState::Attention;
    }
    match h.link {
        None | Some(LinkState::Stopped) | Some(LinkState::Offline { .. }) => TrayState::Offline,
        // Dialling again after a failure is still offline; the first dial is syncing.
        Some(LinkState::Connecting) if h.last_error.is_some() => TrayState::Offline,
        Some(LinkState::Connecting) => TrayState::Syncing,
        Some(LinkState::Connected) if h.unseen_conflicts > 0 || h.last_error.is_some() => TrayState::Attention,
        Some(LinkState::Connected) if h.queue_depth > 0 => TrayState::Syncing,
        Some(LinkState::Connected) => TrayState::Synced,
        Some(LinkState::Unauthorized) => TrayState::SignedOut,
    }
}

/// The host (and port) of a hub URL, for the status line; "this computer" for the embedded hub.
pub fn hub_label(url: &str, embedded: bool) -> String {
    if embedded {
        return "this computer".to_owned();
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The first line of the tray menu, e.g. "Synced · 3 projects · hub.example.com".
pub fn status_line(state: TrayState, h: &Health<'_>, projects: usize, hub: Option<&str>) -> String {
    let projects = plural(projects, "project", "projects");
    let with_hub = |head: String| match hub {
        Some(hub) => format!("{head} · {projects} · {hub}"),
        None => format!("{head} · {projects}"),
    };
    match state {
        TrayState::Synced => with_hub("Synced".into()),
        TrayState::Syncing if h.queue_depth > 0 => {
            with_hub(format!("Syncing {}", plural(h.queue_depth, "change", "changes")))
        }
        TrayState::Syncing => with_hub("Connecting".into()),
        TrayState::Offline => match h.link {
            Some(LinkState::Offline { retry_in_ms }) if *retry_in_ms >= 1000 => {
                with_hub(format!("Offline, retrying in {} s", retry_in_ms.div_ceil(1000)))
            }
            _ => with_hub("Offline".into()),
        },
        TrayState::Attention => {
            if h.unseen_conflicts > 0 {
                format!("Needs attention: {}", plural(h.unseen_conflicts, "conflict", "conflicts"))
            } else {
                let why = h.problem.or(h.state_problem).or(h.last_error).unwrap_or("see Settings");
                format!("Needs attention: {}", ellipsize(why, 60))
            }
        }
        TrayState::Paused => format!("Paused · {projects}"),
        TrayState::SignedOut if matches!(h.link, Some(LinkState::Unauthorized)) => {
            "Signed out: the hub refused this computer's token".into()
        }
        TrayState::SignedOut => "Signed out · pair with a hub in Settings".into(),
    }
}

fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// A project as the UI and the menu show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectView {
    /// Project id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Folder.
    pub path: PathBuf,
    /// Detected layout.
    pub layout: Layout,
    /// Files in the index (0 while paused).
    pub files: usize,
    /// The hub may only read.
    pub read_only: bool,
    /// Syncing paused for this project.
    pub paused: bool,
}

/// The hub this computer is paired with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubView {
    /// Its URL.
    pub url: String,
    /// It runs inside this app.
    pub embedded: bool,
    /// For the status line.
    pub label: String,
}

/// A device-code pairing in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairingView {
    /// The hub being paired with.
    pub hub_url: String,
    /// The short code the user confirms on the hub.
    pub user_code: String,
    /// The hub page where the code is confirmed.
    pub verification_url: String,
    /// When the code stops working (ms since the epoch).
    pub expires_at_ms: u64,
    /// Where it stands.
    pub state: PairingState,
}

/// Where a pairing stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PairingState {
    /// Waiting for someone to confirm the code on the hub.
    Waiting,
    /// Confirmed; the token is in the vault.
    Approved,
    /// The code expired before anyone confirmed it.
    Expired,
    /// The hub refused, or storing the token failed.
    Failed {
        /// Why.
        message: String,
    },
}

/// This machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The host name, the default name.
    pub suggested_name: String,
}

/// Everything the UI renders, pushed as the `snapshot` event on every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The tray state.
    pub state: TrayState,
    /// The tray's status line.
    pub status_line: String,
    /// The onboarding wizard was completed.
    pub onboarded: bool,
    /// The hub, once one is configured.
    pub hub: Option<HubView>,
    /// A token for the hub is stored and the engine runs (or would, if not paused).
    pub signed_in: bool,
    /// This machine.
    pub machine: MachineView,
    /// Where the token is kept.
    pub vault: VaultChoice,
    /// The link, while an engine runs.
    pub link: Option<LinkState>,
    /// Events waiting for the hub's ack.
    pub queue_depth: usize,
    /// The engine's last error.
    pub last_error: Option<String>,
    /// A problem of the app itself.
    pub problem: Option<String>,
    /// "Pause all" is on.
    pub paused_all: bool,
    /// Shared folders, in config order.
    pub projects: Vec<ProjectView>,
    /// A pairing in progress.
    pub pairing: Option<PairingView>,
    /// Recent activity, newest first.
    pub activity: Vec<ActivityEntry>,
    /// Conflicts not looked at yet.
    pub unseen_conflicts: usize,
    /// A newer signed release the hub offers (its version), found by the last check.
    pub update: Option<String>,
    /// This app's version.
    pub version: String,
    /// Whether the app starts at login (the tray menu's check mark; the
    /// window asks with `get_autostart`).
    #[serde(skip)]
    pub start_at_login: bool,
}

/// One entry of the tray menu, before it becomes a native menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    /// The status line (disabled text).
    Status(String),
    /// A separator.
    Separator,
    /// A project submenu: open its folder, pause or resume it.
    Project {
        /// Project id.
        id: String,
        /// Label, e.g. "app (paused)".
        label: String,
        /// Whether it is paused.
        paused: bool,
    },
    /// Pause every project.
    PauseAll,
    /// Resume after "Pause all".
    ResumeAll,
    /// Reconnect now (shown when offline).
    RetryNow,
    /// Open the hub's dashboard.
    OpenDashboard {
        /// Only with a hub.
        enabled: bool,
    },
    /// Open the settings window.
    Settings,
    /// Ask the hub for a newer release.
    CheckForUpdates {
        /// Only with a hub.
        enabled: bool,
    },
    /// Install the release a check found (its version) and restart.
    InstallUpdate(String),
    /// The start-at-login checkbox.
    StartAtLogin(bool),
    /// Quit the app.
    Quit,
}

/// The tray menu for a snapshot.
pub fn menu_model(s: &Snapshot, start_at_login: bool) -> Vec<MenuEntry> {
    let mut menu = vec![MenuEntry::Status(s.status_line.clone()), MenuEntry::Separator];
    for p in &s.projects {
        let label = if p.paused && !s.paused_all { format!("{} (paused)", p.name) } else { p.name.clone() };
        menu.push(MenuEntry::Project { id: p.id.clone(), label, paused: p.paused });
    }
    if !s.projects.is_empty() {
        menu.push(MenuEntry::Separator);
    }
    if s.signed_in {
        menu.push(if s.paused_all { MenuEntry::ResumeAll } else { MenuEntry::PauseAll });
    }
    if matches!(s.state, TrayState::Offline | TrayState::SignedOut) && s.signed_in && !s.paused_all
        || matches!(s.link, Some(LinkState::Unauthorized))
    {
        menu.push(MenuEntry::RetryNow);
    }
    menu.push(MenuEntry::OpenDashboard { enabled: s.hub.is_some() });
    menu.push(MenuEntry::Settings);
    menu.push(match &s.update {
        Some(version) => MenuEntry::InstallUpdate(version.clone()),
        None => MenuEntry::CheckForUpdates { enabled: s.hub.is_some() },
    });
    menu.push(MenuEntry::Separator);
    menu.push(MenuEntry::StartAtLogin(start_at_login));
    menu.push(MenuEntry::Separator);
    menu.push(MenuEntry::Quit);
    menu
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(link: &LinkState) -> Health<'_> {
        Health { signed_in: true, link: Some(link), ..Health::default() }
    }

    #[test]
    fn each_state_comes_from_its_inputs() {
        let connected = LinkState::Connected;
        let offline = LinkState::Offline { retry_in_ms: 4_200 };
        assert_eq!(tray_state(&healthy(&connected)), TrayState::Synced);
        assert_eq!(tray_state(&Health { queue_depth: 3, ..healthy(&connected) }), TrayState::Syncing);
        assert_eq!(tray_state(&healthy(&LinkState::Connecting)), TrayState::Syncing);
        assert_eq!(
            tray_state(&Health { last_error: Some("refused"), ..healthy(&LinkState::Connecting) }),
            TrayState::Offline
        );
        assert_eq!(tray_state(&healthy(&offline)), TrayState::Offline);
        assert_eq!(tray_state(&Health { unseen_conflicts: 1, ..healthy(&connected) }), TrayState::Attention);
        assert_eq!(tray_state(&Health { problem: Some("keychain"), ..healthy(&offline) }), TrayState::Attention);
        let full = Health { state_problem: Some("the state folder is full"), ..healthy(&offline) };
        assert_eq!(tray_state(&full), TrayState::Attention, "a full disk needs the user even while offline");
        assert_eq!(status_line(TrayState::Attention, &full, 1, None), "Needs attention: the state folder is full");
        assert_eq!(tray_state(&Health { paused_all: true, ..healthy(&offline) }), TrayState::Paused);
        assert_eq!(tray_state(&healthy(&LinkState::Unauthorized)), TrayState::SignedOut);
        assert_eq!(tray_state(&Health::default()), TrayState::SignedOut);
    }

    #[test]
    fn status_lines_read_plainly() {
        let connected = LinkState::Connected;
        let h = healthy(&connected);
        let hub = hub_label("https://hub.example.com/", false);
        assert_eq!(status_line(TrayState::Synced, &h, 3, Some(&hub)), "Synced · 3 projects · hub.example.com");
        assert_eq!(hub_label("http://127.0.0.1:7733", true), "this computer");
        let busy = Health { queue_depth: 1, ..healthy(&connected) };
        assert_eq!(status_line(TrayState::Syncing, &busy, 1, None), "Syncing 1 change · 1 project");
        let offline = LinkState::Offline { retry_in_ms: 4_200 };
        assert_eq!(
            status_line(TrayState::Offline, &healthy(&offline), 2, Some("h:1")),
            "Offline, retrying in 5 s · 2 projects · h:1"
        );
        let long = "x".repeat(100);
        let attention = Health { problem: Some(&long), ..healthy(&connected) };
        assert!(status_line(TrayState::Attention, &attention, 1, None).chars().count() < 80);
        assert_eq!(status_line(TrayState::Paused, &h, 0, None), "Paused · 0 projects");
    }

    fn snapshot(state: TrayState, link: Option<LinkState>) -> Snapshot {
        Snapshot {
            state,
            status_line: "s".into(),
            onboarded: true,
            hub: Some(HubView { url: "http://h".into(), embedded: false, label: "h".into() }),
            signed_in: true,
            machine: MachineView { id: "m".into(), name: "n".into(), suggested_name: "n".into() },
            vault: VaultChoice::Keychain,
            link,
            queue_depth: 0,
            last_error: None,
            problem: None,
            paused_all: false,
            projects: vec![ProjectView {
                id: "app".into(),
                name: "app".into(),
                path: "/p".into(),
                layout: Layout::LeanSpec,
                files: 3,
                read_only: false,
                paused: true,
            }],
            pairing: None,
            activity: vec![],
            unseen_conflicts: 0,
            update: None,
            version: "0.1.0".into(),
            start_at_login: false,
        }
    }

    #[test]
    fn the_menu_offers_retry_only_when_offline() {
        let online = menu_model(&snapshot(TrayState::Synced, Some(LinkState::Connected)), true);
        assert_eq!(online[0], MenuEntry::Status("s".into()));
        assert!(online.contains(&MenuEntry::Project { id: "app".into(), label: "app (paused)".into(), paused: true }));
        assert!(online.contains(&MenuEntry::PauseAll));
        assert!(!online.contains(&MenuEntry::RetryNow));
        assert!(online.contains(&MenuEntry::StartAtLogin(true)));
        assert_eq!(online.last(), Some(&MenuEntry::Quit));
        assert!(online.contains(&MenuEntry::CheckForUpdates { enabled: true }));
        let update = Snapshot { update: Some("0.2.0".into()), ..snapshot(TrayState::Synced, None) };
        let menu = menu_model(&update, false);
        assert!(menu.contains(&MenuEntry::InstallUpdate("0.2.0".into())));
        assert!(!menu.iter().any(|e| matches!(e, MenuEntry::CheckForUpdates { .. })));
        let offline = menu_model(&snapshot(TrayState::Offline, Some(LinkState::Offline { retry_in_ms: 1 })), false);
        assert!(offline.contains(&MenuEntry::RetryNow));
        let mut paused = snapshot(TrayState::Paused, None);
        paused.paused_all = true;
        let menu = menu_model(&paused, false);
        assert!(menu.contains(&MenuEntry::ResumeAll) && !menu.contains(&MenuEntry::RetryNow));
    }
}
