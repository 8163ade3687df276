//! The desktop around the tray process: notifications, the browser and file
//! manager, and the login item, through the crates Tauri's plugins wrap
//! (notify-rust, open, auto-launch), so no Tauri runs here. Tests leave them
//! off and get typed errors instead of windows popping up.

use crate::activity::Notice;
use crate::error::{AppError, AppResult};
use std::path::Path;

/// Which desktop integrations are live.
#[derive(Debug, Default)]
pub struct Desktop {
    /// Show desktop notifications.
    pub notifications: bool,
    /// Open URLs and folders (off in tests: `desktop` errors instead).
    pub opener: bool,
    /// Start at login.
    pub autostart: Autostart,
}

impl Desktop {
    /// Everything on, the login item where this platform keeps it.
    pub fn live() -> AppResult<Self> {
        Ok(Self { notifications: true, opener: true, autostart: Autostart::for_user()? })
    }

    /// Shows a notification, off the caller's thread (D-Bus on Linux).
    pub fn notify(&self, notice: &Notice) {
        if !self.notifications {
            return;
        }
        let (title, body) = notice.title_and_body();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = notify_rust::Notification::new().summary(&title).body(&body).show() {
                tracing::warn!(error = %e, "notification");
            }
        });
    }

    /// Opens a URL in the browser.
    pub fn open_url(&self, url: &str) -> AppResult<()> {
        self.open(url.as_ref(), "opening the browser")
    }

    /// Opens a folder in the file manager.
    pub fn open_path(&self, path: &Path) -> AppResult<()> {
        self.open(path.as_os_str(), "opening the folder")
    }

    fn open(&self, what: &std::ffi::OsStr, doing: &'static str) -> AppResult<()> {
        if !self.opener {
            return Err(AppError::Desktop { what: doing, detail: "the opener is off".into() });
        }
        // `that_detached`: the browser outlives us and leaves no zombie.
        open::that_detached(what).map_err(|e| AppError::Desktop { what: doing, detail: e.to_string() })
    }
}

/// Start at login: on Linux our own desktop entry ([`crate::install::LinuxAutostart`]),
/// elsewhere a launch agent / Run key through auto-launch.
#[derive(Debug, Default)]
pub enum Autostart {
    /// No login item can be set (tests): reads as off, setting it fails.
    #[default]
    Unavailable,
    /// The freedesktop autostart entry.
    #[cfg(target_os = "linux")]
    Linux(crate::install::LinuxAutostart),
    /// macOS launch agent or Windows Run key.
    #[cfg(not(target_os = "linux"))]
    Launcher(auto_launch::AutoLaunch),
}

impl Autostart {
    /// This user's login item.
    pub fn for_user() -> AppResult<Self> {
        #[cfg(target_os = "linux")]
        {
            Ok(Self::Linux(crate::install::LinuxAutostart::for_user()?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let exe = std::env::current_exe().map_err(AppError::internal)?;
            let launcher = auto_launch::AutoLaunchBuilder::new()
                .set_app_name("specbridge")
                .set_app_path(&exe.to_string_lossy())
                .set_use_launch_agent(true)
                .build()
                .map_err(|e| AppError::Desktop { what: "start at login", detail: e.to_string() })?;
            Ok(Self::Launcher(launcher))
        }
    }

    /// Whether it is on.
    pub fn is_enabled(&self) -> bool {
        match self {
            Self::Unavailable => false,
            #[cfg(target_os = "linux")]
            Self::Linux(a) => a.is_enabled(),
            #[cfg(not(target_os = "linux"))]
            Self::Launcher(a) => a.is_enabled().unwrap_or(false),
        }
    }

    /// Turns it on or off.
    pub fn set(&self, enabled: bool) -> AppResult<()> {
        match self {
            Self::Unavailable => {
                Err(AppError::Desktop { what: "start at login", detail: "no login item folder is set up".into() })
            }
            #[cfg(target_os = "linux")]
            Self::Linux(a) if enabled => a.enable(&crate::install::login_command()?),
            #[cfg(target_os = "linux")]
            Self::Linux(a) => a.disable(),
            #[cfg(not(target_os = "linux"))]
            Self::Launcher(a) => {
                let result = if enabled { a.enable() } else { a.disable() };
                result.map_err(|e| AppError::Desktop { what: "start at login", detail: e.to_string() })
            }
        }
    }
}
