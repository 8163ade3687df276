//! Where the machine token is kept: the OS keychain, a 0600 file, or an
//! environment variable. The choice is always explicit (see docs/security.md):
//! when the keychain is unreachable the error names the fallbacks, and nothing
//! ever falls back to a plaintext file on its own.

use crate::config::VaultChoice;
use crate::fsutil;
use crate::paths::Paths;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable read by the env vault.
pub const TOKEN_ENV: &str = "SPECBRIDGE_TOKEN";

/// Service name under which the keychain stores tokens (account = hub URL).
pub const KEYCHAIN_SERVICE: &str = "specbridge";

/// A bearer token. `Debug` and `Display` never show it; only [`Token::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret, for the one place that must send it (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Why the vault could not load, store or delete a token.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No keychain service can be reached (headless Linux, CI, no D-Bus).
    #[error(
        "no OS keychain is reachable ({detail}). Store the token in a 0600 file with `specbridge login --vault file`, \
         or set SPECBRIDGE_TOKEN and use `--vault env`."
    )]
    KeychainUnavailable {
        /// What the platform said.
        detail: String,
    },
    /// The keychain answered with an error.
    #[error("the OS keychain refused the request: {detail}")]
    Keychain {
        /// What the platform said.
        detail: String,
    },
    /// The token file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The token file can be read by other users, so it is not trusted.
    #[error("{} is readable by other users (mode {mode:o}); run `chmod 600 {}` and try again", path.display(), path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The token file is not valid.
    #[error("{} is corrupt ({source}); delete it and run `specbridge login --vault file` again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The env vault cannot store tokens.
    #[error("the env vault is read-only: set {TOKEN_ENV} wherever `specbridge run` starts (for example a systemd EnvironmentFile=)")]
    EnvReadOnly,
}

/// Keeps machine tokens, one per hub URL.
pub trait Vault: Send + Sync {
    /// The token for `hub_url`, if one is stored.
    fn load(&self, hub_url: &str) -> Result<Option<Token>, VaultError>;
    /// Stores (or replaces) the token for `hub_url`.
    fn store(&self, hub_url: &str, token: &Token) -> Result<(), VaultError>;
    /// Forgets the token for `hub_url`; a missing token is not an error.
    fn delete(&self, hub_url: &str) -> Result<(), VaultError>;
    /// Where tokens go, for messages ("OS keychain", "token file …").
    fn describe(&self) -> &'static str;
}

/// Opens the vault the config names.
pub fn open(choice: VaultChoice, paths: &Paths) -> Box<dyn Vault> {
    match choice {
        VaultChoice::Keychain => Box::new(KeychainVault::new()),
        VaultChoice::File => Box::new(FileVault::new(paths.token_file())),
        VaultChoice::Env => Box::new(EnvVault::new()),
    }
}

/// Tokens in `token.json` (a map hub URL -> token), created with mode 0600.
/// On unix a file that group or others can read is refused.
#[derive(Debug, Clone)]
pub struct FileVault {
    path: PathBuf,
}

impl FileVault {
    /// A vault backed by `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_map(&self) -> Result<BTreeMap<String, String>, VaultError> {
        let io = |source| VaultError::Io { path: self.path.clone(), source };
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file.metadata().map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(VaultError::InsecurePermissions { path: self.path.clone(), mode });
            }
        }
        let file: TokenFile = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|source| VaultError::Corrupt { path: self.path.clone(), source })?;
        Ok(file.tokens)
    }

    fn write_map(&self, tokens: BTreeMap<String, String>) -> Result<(), VaultError> {
        let io = |source| VaultError::Io { path: self.path.clone(), source };
        if tokens.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec_pretty(&TokenFile { tokens })
            .map_err(|source| VaultError::Corrupt { path: self.path.clone(), source })?;
        // The temp file is created 0600, so the rename never exposes the token.
        fsutil::atomic_write(&self.path, &bytes, Some(fsutil::PRIVATE_FILE)).map_err(io)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TokenFile {
    tokens: BTreeMap<String, String>,
}

impl Vault for FileVault {
    fn load(&self, hub_url: &str) -> Result<Option<Token>, VaultError> {
        Ok(self.read_map()?.remove(hub_url).map(Token::new))
    }

    fn store(&self, hub_url: &str, token: &Token) -> Result<(), VaultError> {
        let mut tokens = self.read_map()?;
        tokens.insert(hub_url.to_owned(), token.expose().to_owned());
        self.write_map(tokens)
    }

    fn delete(&self, hub_url: &str) -> Result<(), VaultError> {
        let mut tokens = self.read_map()?;
        if tokens.remove(hub_url).is_some() {
            self.write_map(tokens)?;
        }
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "token file (mode 0600)"
    }
}

/// The token from an environment variable (`SPECBRIDGE_TOKEN`), read at every
/// load; the same token serves any hub URL. Storing is an error.
#[derive(Debug, Clone)]
pub struct EnvVault {
    var: &'static str,
}

impl EnvVault {
    /// Reads `SPECBRIDGE_TOKEN`.
    pub fn new() -> Self {
        Self { var: TOKEN_ENV }
    }

    /// Reads another variable (tests, or several bridges in one environment).
    pub fn with_var(var: &'static str) -> Self {
        Self { var }
    }
}

impl Default for EnvVault {
    fn default() -> Self {
        Self::new()
    }
}

impl Vault for EnvVault {
    fn load(&self, _hub_url: &str) -> Result<Option<Token>, VaultError> {
        Ok(std::env::var(self.var).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(Token::new))
    }

    fn store(&self, _hub_url: &str, _token: &Token) -> Result<(), VaultError> {
        Err(VaultError::EnvReadOnly)
    }

    fn delete(&self, _hub_url: &str) -> Result<(), VaultError> {
        // Nothing is stored; the variable belongs to whoever starts the bridge.
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "SPECBRIDGE_TOKEN environment variable"
    }
}

/// The OS keychain through the `keyring` crate: service `specbridge`, account =
/// hub URL. Without the `keychain` feature every call reports it unavailable.
#[derive(Debug, Clone, Default)]
pub struct KeychainVault {
    _private: (),
}

impl KeychainVault {
    /// The keychain vault.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

#[cfg(feature = "keychain")]
impl KeychainVault {
    fn entry(hub_url: &str) -> Result<keyring::Entry, VaultError> {
        keyring::Entry::new(KEYCHAIN_SERVICE, hub_url).map_err(keychain_error)
    }
}

#[cfg(feature = "keychain")]
fn keychain_error(error: keyring::Error) -> VaultError {
    match error {
        // Both mean "there is no usable store here": no D-Bus session, no Secret
        // Service, a locked collection that cannot prompt.
        keyring::Error::PlatformFailure(e) | keyring::Error::NoStorageAccess(e) => {
            VaultError::KeychainUnavailable { detail: e.to_string() }
        }
        other => VaultError::Keychain { detail: other.to_string() },
    }
}

#[cfg(feature = "keychain")]
impl Vault for KeychainVault {
    fn load(&self, hub_url: &str) -> Result<Option<Token>, VaultError> {
        match Self::entry(hub_url)?.get_password() {
            Ok(secret) => Ok(Some(Token::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn store(&self, hub_url: &str, token: &Token) -> Result<(), VaultError> {
        Self::entry(hub_url)?.set_password(token.expose()).map_err(keychain_error)
    }

    fn delete(&self, hub_url: &str) -> Result<(), VaultError> {
        match Self::entry(hub_url)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn describe(&self) -> &'static str {
        "OS keychain"
    }
}

#[cfg(not(feature = "keychain"))]
impl Vault for KeychainVault {
    fn load(&self, _hub_url: &str) -> Result<Option<Token>, VaultError> {
        Err(no_keychain_support())
    }

    fn store(&self, _hub_url: &str, _token: &Token) -> Result<(), VaultError> {
        Err(no_keychain_support())
    }

    fn delete(&self, _hub_url: &str) -> Result<(), VaultError> {
        Err(no_keychain_support())
    }

    fn describe(&self) -> &'static str {
        "OS keychain (not built in)"
    }
}

#[cfg(not(feature = "keychain"))]
fn no_keychain_support() -> VaultError {
    VaultError::KeychainUnavailable { detail: "this build has no keychain support".into() }
}
