//! The tray app's own settings, `tray.toml` beside the bridge's `config.toml`.
//! Everything the engine needs (hub, machine, projects, vault choice) stays in
//! `config.toml`, so the headless `specbridge` sees the same setup.

use serde::{Deserialize, Serialize};
use specbridge_bridge::{Paths, StateError};
use std::io::Write as _;
use std::path::PathBuf;

/// What only the tray app keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraySettings {
    /// The onboarding wizard was completed.
    #[serde(default)]
    pub onboarded: bool,
    /// "Pause all": the engine is not running on purpose.
    #[serde(default)]
    pub paused_all: bool,
    /// "Use this computer as the hub": the hub runs in-process on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_hub: Option<EmbeddedHub>,
}

/// The in-process hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedHub {
    /// The loopback port it listens on; kept so the hub URL (and so the
    /// keychain entry named after it) stays the same across restarts.
    pub port: u16,
}

impl TraySettings {
    /// `tray.toml` in the config folder.
    pub fn file(paths: &Paths) -> PathBuf {
        paths.config_dir.join("tray.toml")
    }

    /// Loads the settings; a missing file gives the defaults. A corrupt file is
    /// an error rather than a silent reset (it would forget the embedded hub).
    pub fn load(paths: &Paths) -> Result<Self, StateError> {
        let path = Self::file(paths);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| StateError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Saves atomically: a temp file in the same folder, fsync, rename.
    pub fn save(&self, paths: &Paths) -> Result<(), StateError> {
        let path = Self::file(paths);
        let io = |source| StateError::Io { path: path.clone(), source };
        let text = toml::to_string_pretty(self)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())))?;
        std::fs::create_dir_all(&paths.config_dir).map_err(io)?;
        let tmp = path.with_extension("toml.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_default_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path());
        assert_eq!(TraySettings::load(&paths).unwrap(), TraySettings::default());
        let settings =
            TraySettings { onboarded: true, paused_all: true, embedded_hub: Some(EmbeddedHub { port: 7733 }) };
        settings.save(&paths).unwrap();
        assert_eq!(TraySettings::load(&paths).unwrap(), settings);
        std::fs::write(TraySettings::file(&paths), "onboarded = 'yes'").unwrap();
        assert!(TraySettings::load(&paths).is_err());
    }
}
