//! Vaults: the file vault's permissions and round trip, the env vault, and the
//! OS keychain where one is reachable.

use specbridge_bridge::vault::{self, EnvVault, FileVault, Vault, VaultError};
use specbridge_bridge::{Paths, Token, VaultChoice};

#[test]
fn token_never_shows_in_debug_or_display() {
    let token = Token::new("sbt_super-secret".into());
    assert!(!format!("{token:?}").contains("secret"));
    assert!(!format!("{token}").contains("secret"));
    assert_eq!(token.expose(), "sbt_super-secret");
}

#[test]
fn file_vault_round_trips_with_0600() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::at(dir.path());
    let vault = vault::open(VaultChoice::File, &paths);
    assert!(vault.load("http://hub").unwrap().is_none());
    vault.store("http://hub", &Token::new("one".into())).unwrap();
    vault.store("http://other", &Token::new("two".into())).unwrap();
    assert_eq!(vault.load("http://hub").unwrap().unwrap().expose(), "one");
    assert_eq!(vault.load("http://other").unwrap().unwrap().expose(), "two");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(paths.token_file()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    vault.delete("http://hub").unwrap();
    vault.delete("http://hub").unwrap();
    assert!(vault.load("http://hub").unwrap().is_none());
    vault.delete("http://other").unwrap();
    assert!(!paths.token_file().exists(), "an empty vault leaves no file");
}

#[cfg(unix)]
#[test]
fn file_vault_refuses_a_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let vault = FileVault::new(dir.path().join("token.json"));
    vault.store("http://hub", &Token::new("t".into())).unwrap();
    std::fs::set_permissions(vault.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = vault.load("http://hub").unwrap_err();
    assert!(matches!(error, VaultError::InsecurePermissions { mode: 0o644, .. }), "{error:?}");
    assert!(error.to_string().contains("chmod 600"), "{error}");
    // Storing does not quietly repair (or use) an exposed file either.
    assert!(vault.store("http://hub", &Token::new("t2".into())).is_err());
}

#[test]
fn env_vault_reads_and_refuses_to_store() {
    // Cargo sets CARGO_PKG_NAME for test processes; no env mutation needed.
    let vault = EnvVault::with_var("CARGO_PKG_NAME");
    assert_eq!(vault.load("http://any").unwrap().unwrap().expose(), "specbridge-bridge");
    assert!(EnvVault::with_var("SPECBRIDGE_TEST_SURELY_UNSET").load("http://any").unwrap().is_none());
    let error = vault.store("http://any", &Token::new("x".into())).unwrap_err();
    assert!(matches!(error, VaultError::EnvReadOnly));
    assert!(error.to_string().contains("SPECBRIDGE_TOKEN"));
    vault.delete("http://any").unwrap();
}

#[test]
fn keychain_round_trip_or_a_clear_fallback_message() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = vault::open(VaultChoice::Keychain, &Paths::at(dir.path()));
    let account = format!("http://specbridge-test.invalid/{}", uuid_like());
    match keychain.store(&account, &Token::new("kc-secret".into())) {
        Ok(()) => {
            assert_eq!(keychain.load(&account).unwrap().unwrap().expose(), "kc-secret");
            keychain.delete(&account).unwrap();
            assert!(keychain.load(&account).unwrap().is_none());
        }
        Err(error @ VaultError::KeychainUnavailable { .. }) => {
            let message = error.to_string();
            println!("skipping the keychain round trip: {message}");
            assert!(message.contains("--vault file") && message.contains("SPECBRIDGE_TOKEN"), "{message}");
        }
        Err(other) => panic!("unexpected keychain error: {other}"),
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    )
}
