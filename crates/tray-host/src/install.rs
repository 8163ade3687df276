//! What the app leaves on a computer beyond its own binary: the Linux
//! start-at-login entry, and `--forget-everything`, which removes the app's
//! data and token on request (the Windows uninstaller runs it when the user
//! ticks "Delete the application data"; elsewhere people run it by hand).
//!
//! Nothing here runs on upgrade: pairing, machine name and folders live in the
//! user's config and state folders, which no package manager touches.

use crate::error::AppError;
use specbridge_bridge::{vault, Config, Paths};
use std::path::{Path, PathBuf};

/// The freedesktop autostart entry, with `@EXEC@` for the command line and
/// `@TRYEXEC@` for the plain path.
/// Kept in installers/linux/ so packagers see every file the app writes.
const AUTOSTART_TEMPLATE: &str = include_str!("../../../installers/linux/autostart.desktop");

/// The autostart file's name. tauri-plugin-autostart (used before, and still
/// used on macOS and Windows) wrote `<product name>.desktop`, so an upgrade
/// finds an entry the user already turned on.
const AUTOSTART_FILE: &str = "specbridge.desktop";

/// Start-at-login on Linux: one desktop entry in `$XDG_CONFIG_HOME/autostart`.
///
/// The Tauri plugin's entry points at `current_exe()`, which for an AppImage is
/// a temporary mount gone after the next boot; this one uses `$APPIMAGE` then.
#[derive(Debug, Clone)]
pub struct LinuxAutostart {
    dir: PathBuf,
}

impl LinuxAutostart {
    /// The user's autostart folder (`$XDG_CONFIG_HOME/autostart`, else `~/.config/autostart`).
    pub fn for_user() -> Result<Self, AppError> {
        let config = directories::BaseDirs::new()
            .map(|d| d.config_dir().to_path_buf())
            .ok_or_else(|| AppError::internal("no home folder to put a login item in"))?;
        Ok(Self::in_dir(config.join("autostart")))
    }

    /// An autostart folder of one's choosing (tests).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The entry's path.
    pub fn file(&self) -> PathBuf {
        self.dir.join(AUTOSTART_FILE)
    }

    /// Whether the entry exists and is not disabled by the desktop's settings.
    pub fn is_enabled(&self) -> bool {
        std::fs::read_to_string(self.file())
            .map(|text| {
                !text.lines().any(|l| l.trim() == "X-GNOME-Autostart-enabled=false" || l.trim() == "Hidden=true")
            })
            .unwrap_or(false)
    }

    /// Writes the entry so `exec` starts at login.
    pub fn enable(&self, exec: &Path) -> Result<(), AppError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| login_item_error(&self.dir, &e))?;
        let file = self.file();
        std::fs::write(&file, autostart_entry(exec)).map_err(|e| login_item_error(&file, &e))
    }

    /// Removes the entry; a missing one is already off.
    pub fn disable(&self) -> Result<(), AppError> {
        let file = self.file();
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(login_item_error(&file, &e)),
        }
    }
}

fn login_item_error(path: &Path, e: &std::io::Error) -> AppError {
    AppError::Desktop { what: "start at login", detail: format!("{}: {e}", path.display()) }
}

/// The command a login item should run: the AppImage file when running from
/// one (its mount point changes every start), else the app's binary ([`crate::app_exe`]).
pub fn login_command() -> Result<PathBuf, AppError> {
    if let Some(appimage) = std::env::var_os("APPIMAGE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(appimage));
    }
    crate::app_exe().map_err(|e| AppError::Desktop { what: "start at login", detail: e.to_string() })
}

/// The autostart entry for `exec`, quoted as the Desktop Entry spec asks.
pub fn autostart_entry(exec: &Path) -> String {
    let path = exec.to_string_lossy();
    // TryExec is a plain string; only Exec has the quoting rules.
    AUTOSTART_TEMPLATE.replace("@EXEC@", &desktop_exec_quote(&path)).replace("@TRYEXEC@", &path)
}

/// Quotes one argument for a desktop entry's `Exec` key: plain when it has no
/// reserved characters, else in double quotes with `"`, `` ` ``, `$` and `\`
/// escaped (and `%` doubled, since field codes start with it).
fn desktop_exec_quote(arg: &str) -> String {
    let arg = arg.replace('%', "%%");
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`".contains(c);
    if !arg.chars().any(reserved) {
        return arg;
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What `--forget-everything` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// The hub whose token was deleted from the vault.
    pub token_for: Option<String>,
    /// Folders removed.
    pub folders: Vec<PathBuf>,
    /// Whether a Linux login item was removed.
    pub login_item: bool,
}

impl std::fmt::Display for Forgotten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Self::default() {
            return writeln!(f, "nothing to remove: specbridge keeps no data for this user");
        }
        if let Some(hub) = &self.token_for {
            writeln!(f, "removed the token for {hub}")?;
        }
        for folder in &self.folders {
            writeln!(f, "removed {}", folder.display())?;
        }
        if self.login_item {
            writeln!(f, "removed the login item")?;
        }
        Ok(())
    }
}

/// Removes this user's specbridge data: the hub token (keychain or file), the
/// config folder (pairing, machine name, folders, settings), the state folder
/// (indexes, outbox, audit log, the built-in hub's database) and the Linux
/// login item. Spec folders are the user's files and are never touched.
pub fn forget_everything(paths: &Paths, autostart: Option<&LinuxAutostart>) -> Result<Forgotten, AppError> {
    let mut forgotten = Forgotten::default();
    if paths.config_file().exists() {
        let config = Config::load(paths)?;
        if let Some(hub) = &config.hub {
            vault::open(config.vault, paths).delete(&hub.url)?;
            forgotten.token_for = Some(hub.url.clone());
        }
    }
    if let Some(autostart) = autostart {
        forgotten.login_item = autostart.file().exists();
        autostart.disable()?;
    }
    let mut folders = vec![paths.config_dir.clone(), paths.state_dir.clone()];
    folders.dedup();
    for folder in folders {
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => forgotten.folders.push(folder),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(AppError::Desktop {
                    what: "removing app data",
                    detail: format!("{}: {e}", folder.display()),
                })
            }
        }
    }
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_is_used_as_is_and_odd_ones_are_quoted() {
        assert_eq!(desktop_exec_quote("/usr/bin/specbridge-tray"), "/usr/bin/specbridge-tray");
        assert_eq!(desktop_exec_quote("/home/a b/specbridge.AppImage"), "\"/home/a b/specbridge.AppImage\"");
        assert_eq!(desktop_exec_quote("/opt/$x/\"q\""), "\"/opt/\\$x/\\\"q\\\"\"");
        assert_eq!(desktop_exec_quote("/opt/100%/app"), "/opt/100%%/app");
    }

    #[test]
    fn the_login_item_is_written_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let autostart = LinuxAutostart::in_dir(dir.path().join("autostart"));
        assert!(!autostart.is_enabled());
        autostart.enable(Path::new("/home/me/Apps/specbridge 0.1.AppImage")).unwrap();
        assert!(autostart.is_enabled());
        let text = std::fs::read_to_string(autostart.file()).unwrap();
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(text.contains("\nExec=\"/home/me/Apps/specbridge 0.1.AppImage\"\n"), "{text}");
        assert!(text.contains("\nTryExec=/home/me/Apps/specbridge 0.1.AppImage\n"), "{text}");
        assert!(!text.contains('@'), "{text}");
        // A desktop that switched it off in its own settings counts as off.
        std::fs::write(autostart.file(), text.replace("enabled=true", "enabled=false")).unwrap();
        assert!(!autostart.is_enabled());
        autostart.disable().unwrap();
        assert!(!autostart.file().exists());
        autostart.disable().unwrap();
    }

    #[test]
    fn forget_everything_removes_token_folders_and_login_item_but_no_spec_folder() {
        let home = tempfile::tempdir().unwrap();
        let paths = Paths { config_dir: home.path().join("config"), state_dir: home.path().join("state") };
        let project = home.path().join("project");
        std::fs::create_dir_all(project.join("specs")).unwrap();
        let mut config = Config {
            vault: specbridge_bridge::VaultChoice::File,
            hub: Some(specbridge_bridge::HubSettings { url: "http://127.0.0.1:7700".into() }),
            ..Config::default()
        };
        config.projects.push(specbridge_bridge::ProjectConfig {
            id: "p".into(),
            name: "p".into(),
            path: project.clone(),
            read_only: false,
            paused: false,
            roots: None,
        });
        config.save(&paths).unwrap();
        let vault = vault::open(config.vault, &paths);
        vault.store("http://127.0.0.1:7700", &specbridge_bridge::Token::new("sbt_secret".into())).unwrap();
        std::fs::create_dir_all(paths.state_dir.join("hub")).unwrap();
        let autostart = LinuxAutostart::in_dir(home.path().join("autostart"));
        autostart.enable(Path::new("/usr/bin/specbridge-tray")).unwrap();

        let forgotten = forget_everything(&paths, Some(&autostart)).unwrap();
        assert_eq!(forgotten.token_for.as_deref(), Some("http://127.0.0.1:7700"));
        assert_eq!(forgotten.folders, vec![paths.config_dir.clone(), paths.state_dir.clone()]);
        assert!(forgotten.login_item);
        assert!(!paths.token_file().exists() && !paths.state_dir.exists() && !autostart.file().exists());
        assert!(project.join("specs").is_dir(), "a spec folder is the user's, never ours to remove");
        assert!(forgotten.to_string().starts_with("removed the token for http://127.0.0.1:7700\nremoved "));
        // Twice is fine: nothing left to forget.
        let again = forget_everything(&paths, Some(&autostart)).unwrap();
        assert_eq!(again.to_string(), "nothing to remove: specbridge keeps no data for this user\n");
    }
}
