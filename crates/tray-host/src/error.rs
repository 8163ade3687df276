//! The one error type the app's commands return. It crosses the IPC boundary
//! as `{"code": …, "message": …, "hint"?: …, "details"?: …}`: a stable code the
//! UI can branch on (ui/src/api.ts mirrors the list), and a sentence for people.

use serde::ser::SerializeStruct as _;
use specbridge_bridge::{ConfigError, ConsentError, EngineError, StateError, VaultError};
use specbridge_protocol::ErrorBody;

/// Why an app operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The config or a project folder is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token vault failed (keychain unreachable, file unreadable…).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The engine could not start or stop.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// One of the app's own files could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The in-process hub failed.
    #[error("the hub on this computer failed: {0}")]
    EmbeddedHub(#[from] specbridge_hub::HubError),
    /// The hub could not be reached over the network.
    #[error("cannot reach the hub at {url}: {detail}")]
    HubUnreachable {
        /// The hub URL.
        url: String,
        /// What the network said.
        detail: String,
    },
    /// The hub answered with an error.
    #[error("the hub said: {}", .0.message)]
    HubRefused(ErrorBody),
    /// The hub URL is not an http(s) URL.
    #[error("{url:?} is not a hub URL: {reason}")]
    InvalidHubUrl {
        /// The URL as typed.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The operation needs a hub and a token first.
    #[error("this computer is not paired with a hub yet")]
    NotPaired,
    /// A machine name that cannot be used.
    #[error("invalid machine name: {0}")]
    InvalidName(&'static str),
    /// Another machine on the hub already has this name.
    #[error("another machine on the hub is already called {name:?}")]
    NameTaken {
        /// The name asked for.
        name: String,
        /// A free name the hub suggests.
        suggestion: String,
    },
    /// No device-code pairing is running.
    #[error("no pairing is in progress")]
    NoPairing,
    /// No project with that id.
    #[error("no project {0:?}")]
    UnknownProject(String),
    /// A desktop integration (autostart, opener, dialog) failed.
    #[error("{what} failed: {detail}")]
    Desktop {
        /// What was attempted.
        what: &'static str,
        /// What the platform said.
        detail: String,
    },
    /// Checking, downloading, verifying or installing an update failed.
    #[error("update failed: {0}")]
    Update(String),
    /// "Install update" with no update found by a check.
    #[error("no update is waiting to be installed")]
    NoUpdate,
    /// Commands from the hub were still running when the update had to start.
    #[error("{in_flight} command(s) from the hub are still running")]
    UpdateBusy {
        /// Commands in flight when the wait ended.
        in_flight: usize,
    },
    /// A job run's confirmation request is no longer waiting.
    #[error(transparent)]
    Consent(#[from] ConsentError),
    /// A background task died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The stable code the UI branches on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Vault(VaultError::KeychainUnavailable { .. }) => "keychain_unavailable",
            Self::Vault(_) => "vault",
            Self::Engine(_) => "engine",
            Self::State(_) => "state",
            Self::EmbeddedHub(_) => "embedded_hub",
            Self::HubUnreachable { .. } => "hub_unreachable",
            Self::HubRefused(_) => "hub_refused",
            Self::InvalidHubUrl { .. } => "invalid_hub_url",
            Self::NotPaired => "not_paired",
            Self::InvalidName(_) => "invalid_name",
            Self::NameTaken { .. } => "name_taken",
            Self::NoPairing => "no_pairing",
            Self::UnknownProject(_) => "unknown_project",
            Self::Desktop { .. } => "desktop",
            Self::Update(_) => "update_failed",
            Self::NoUpdate => "no_update",
            Self::UpdateBusy { .. } => "update_busy",
            Self::Consent(_) => "consent_gone",
            Self::Internal(_) => "internal",
        }
    }

    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Vault(VaultError::KeychainUnavailable { .. }) => Some(
                "no keychain answers on this computer: choose \"Keep the token in a file only you can read\" to continue"
                    .into(),
            ),
            Self::HubUnreachable { .. } => Some("check the URL and that the hub is running, then try again".into()),
            Self::HubRefused(body) => body.hint.clone(),
            Self::InvalidHubUrl { .. } => Some("use the address of the hub, for example https://hub.example.com".into()),
            Self::NotPaired => Some("pair this computer in Settings, or use this computer as the hub".into()),
            Self::NameTaken { suggestion, .. } => Some(format!("pick another name, for example {suggestion:?}")),
            Self::Update(_) => Some("nothing was installed; the current version keeps running".into()),
            Self::NoUpdate => Some("check for updates first".into()),
            Self::Consent(_) => Some("it timed out or was answered already; the hub shows how the run ended".into()),
            Self::UpdateBusy { .. } => {
                Some("the update waits so no edit or job is cut off: install again once they finish".into())
            }
            _ => None,
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::NameTaken { suggestion, .. } => Some(serde_json::json!({ "suggestion": suggestion })),
            Self::HubRefused(body) => Some(serde_json::json!({ "hub_code": body.code })),
            _ => None,
        }
    }

    /// A bug, or a task that died.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hint = self.hint();
        let details = self.details();
        let fields = 2 + usize::from(hint.is_some()) + usize::from(details.is_some());
        let mut s = serializer.serialize_struct("AppError", fields)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        if let Some(hint) = hint {
            s.serialize_field("hint", &hint)?;
        }
        if let Some(details) = details {
            s.serialize_field("details", &details)?;
        }
        s.end()
    }
}

/// Result of an app operation.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_with_a_code_a_message_and_a_hint() {
        let error = AppError::Vault(VaultError::KeychainUnavailable { detail: "no D-Bus".into() });
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], "keychain_unavailable");
        assert!(json["message"].as_str().unwrap().contains("no D-Bus"));
        assert!(json["hint"].as_str().unwrap().contains("file"));

        let taken = AppError::NameTaken { name: "laptop".into(), suggestion: "laptop (2)".into() };
        let json = serde_json::to_value(&taken).unwrap();
        assert_eq!(json["code"], "name_taken");
        assert_eq!(json["details"]["suggestion"], "laptop (2)");

        let plain = serde_json::to_value(AppError::NoPairing).unwrap();
        assert_eq!(plain, serde_json::json!({"code": "no_pairing", "message": "no pairing is in progress"}));
    }
}
