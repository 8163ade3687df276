//! The controller against a real hub on 127.0.0.1:0 with real SQLite, a real
//! engine and real temp folders: device-code pairing, paste-a-token, Unpair,
//! machine naming, "Use this computer as the hub", and the token vaults.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use specbridge_bridge::vault::{FileVault, KeychainVault, Vault};
use specbridge_bridge::{Paths, Token, VaultChoice};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use specbridge_tray_host::controller::Controller;
use specbridge_tray_host::remote::{HubClient, PollAnswer};
use specbridge_tray_host::view::{PairingState, TrayState};
use std::time::Duration;

async fn hub(dir: &std::path::Path) -> HubHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    specbridge_hub::start(HubConfig::new(dir.join("hub")), listener).await.unwrap()
}

/// A controller in its own folder, named `name`, keeping its token in a 0600 file.
async fn controller(dir: &std::path::Path, name: &str) -> Controller {
    let mut ctl = Controller::load(Paths::at(dir)).unwrap();
    ctl.set_vault(VaultChoice::File).await.unwrap();
    ctl.rename_machine(name).await.unwrap();
    ctl
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn spec_folder(dir: &std::path::Path) -> std::path::PathBuf {
    let project = dir.join("app");
    std::fs::create_dir_all(project.join("specs/001-login")).unwrap();
    std::fs::write(project.join("specs/001-login/README.md"), "---\nstatus: planned\n---\n# Login\n").unwrap();
    project
}

fn approve(hub_url: &str, bearer: &str, code: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent
        .post(format!("{hub_url}/v1/pair/approve"))
        .header("Authorization", format!("Bearer {bearer}"))
        .send_json(serde_json::json!({ "user_code": code }))
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_pairing_keeps_the_token_and_unpair_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let user = hub.issue_token(TokenKind::User, "maya").await.unwrap();
    let home = dir.path().join("home");
    let mut ctl = controller(&home, "Work laptop").await;

    let view = ctl.pair_start(&hub.url()).await.unwrap();
    assert_eq!(view.user_code.len(), 9);
    assert!(view.verification_url.starts_with(&format!("{}/pair?code=", hub.url())));
    let (url, device_code, _) = ctl.pairing_poll_target().unwrap();
    let poll = |code: Token| {
        let client = HubClient::new(&url);
        tokio::task::spawn_blocking(move || client.pair_poll(code.expose()))
    };
    assert!(matches!(poll(device_code.clone()).await.unwrap().unwrap(), PollAnswer::Pending));

    // The page the verification URL points at.
    let page = ureq::get(&view.verification_url).call().unwrap().into_body().read_to_string().unwrap();
    assert!(page.contains("Pair a computer") && page.contains("/pair.js"));
    let script = ureq::get(format!("{}/pair.js", hub.url())).call().unwrap().into_body().read_to_string().unwrap();
    assert!(script.contains("/v1/pair/request") && script.contains("/v1/pair/approve"));

    // Only a signed-in user approves, and only a live code.
    assert_eq!(approve(&hub.url(), "sbt_wrong", &view.user_code), 401);
    assert_eq!(approve(&hub.url(), user.secret.expose(), "ZZZZ-ZZZZ"), 404);
    let lowercase = view.user_code.to_lowercase().replace('-', " ");
    assert_eq!(approve(&hub.url(), user.secret.expose(), &lowercase), 200);
    assert_eq!(approve(&hub.url(), user.secret.expose(), &view.user_code), 404, "a code approves once");

    let answer = poll(device_code.clone()).await.unwrap();
    assert!(ctl.finish_pairing(&device_code, answer).await);
    let snap = ctl.snapshot();
    assert_eq!(snap.pairing.unwrap().state, PairingState::Approved);
    assert!(snap.signed_in);
    // The token is handed out by exactly one poll.
    assert!(matches!(poll(device_code).await.unwrap().unwrap(), PollAnswer::Expired));

    let vault = FileVault::new(home.join("token.json"));
    let token = vault.load(&hub.url()).unwrap().expect("token stored in the vault");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(home.join("token.json")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    until("the engine to connect", || ctl.connected()).await;
    assert_eq!(ctl.snapshot().state, TrayState::Synced);

    assert_eq!(ctl.unpair().await.unwrap(), None);
    assert_eq!(vault.load(&hub.url()).unwrap(), None);
    let client = HubClient::new(&hub.url());
    let refused = tokio::task::spawn_blocking(move || client.whoami(&token)).await.unwrap().unwrap_err();
    assert_eq!(refused.code(), "hub_refused", "the hub revoked the token");
    let snap = ctl.snapshot();
    assert_eq!((snap.state, snap.signed_in, snap.hub.is_none()), (TrayState::SignedOut, false, true));
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_is_checked_and_duplicate_names_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let mut first = controller(&dir.path().join("a"), "laptop").await;
    let mut second = controller(&dir.path().join("b"), "desk").await;

    let bad = second.pair_with_token(&hub.url(), "sbt_not-a-token").await.unwrap_err();
    assert_eq!(bad.code(), "hub_refused");
    assert!(!second.snapshot().signed_in);

    for ctl in [&mut first, &mut second] {
        let issued = hub.issue_token(TokenKind::Machine, "paste").await.unwrap();
        ctl.pair_with_token(&hub.url(), issued.secret.expose()).await.unwrap();
        until("the engine to connect", || ctl.connected()).await;
    }
    let taken = second.rename_machine("Laptop").await.unwrap_err();
    assert_eq!(taken.code(), "name_taken");
    assert_eq!(serde_json::to_value(&taken).unwrap()["details"]["suggestion"], "Laptop (2)");
    assert_eq!(second.snapshot().machine.name, "desk", "a refused rename changes nothing");

    // A rename reaches the hub: the engine restarts and says hello with the new name.
    second.rename_machine("Study desk").await.unwrap();
    let store = hub.store();
    let id = second.snapshot().machine.id;
    for _ in 0..200 {
        let machines = store.list_machines("default").await.unwrap();
        if machines.iter().any(|m| m.id == id && m.name == "Study desk") {
            first.stop().await;
            second.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub never saw the new name: {:?}", store.list_machines("default").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_computer_as_the_hub_syncs_a_folder_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut ctl = controller(&home, "Solo").await;
    let url = ctl.use_this_computer().await.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"));
    let project = spec_folder(dir.path());
    let id = ctl.add_project(&project, false).await.unwrap();
    until("the folder to sync", || {
        ctl.connected() && ctl.snapshot().projects.iter().any(|p| p.id == id && p.files == 1)
    })
    .await;
    let store = ctl.embedded_hub().unwrap().store();
    let machine = ctl.snapshot().machine.id;
    let mut synced = false;
    for _ in 0..200 {
        if store.list_files(&machine, &id).await.unwrap().iter().any(|f| f.path == "specs/001-login/README.md") {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(synced, "the hub stored the spec");
    assert!(home.join("hub/hub.db").exists(), "SQLite in the app's data folder");
    ctl.stop().await;

    // Next launch: same port, same token, connected again.
    let mut again = Controller::load(Paths::at(&home)).unwrap();
    again.resume().await.unwrap();
    assert_eq!(again.snapshot().hub.unwrap().url, url);
    until("the engine to reconnect", || again.connected()).await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_unknown_projects_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctl = controller(dir.path(), "ok").await;
    for (name, code) in [("  ", "invalid_name"), ("a\u{7}b", "invalid_name")] {
        assert_eq!(ctl.rename_machine(name).await.unwrap_err().code(), code);
    }
    assert_eq!(ctl.rename_machine(&"x".repeat(65)).await.unwrap_err().code(), "invalid_name");
    assert_eq!(ctl.set_read_only("nope", true).await.unwrap_err().code(), "unknown_project");
    assert_eq!(ctl.add_project(&dir.path().join("missing"), false).await.unwrap_err().code(), "config");
    assert_eq!(ctl.unpair().await.unwrap_err().code(), "not_paired");
    assert_eq!(ctl.pair_start("ftp://x").await.unwrap_err().code(), "invalid_hub_url");
}

/// Run by scripts/test-tray.sh inside `dbus-run-session` with an unlocked
/// gnome-keyring (SPECBRIDGE_TEST_KEYCHAIN=1), and with no D-Bus at all
/// (SPECBRIDGE_TEST_KEYCHAIN=absent). A plain `cargo test` has neither, so it
/// says so and checks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_sits_in_the_keychain_or_the_fallback_is_explicit() {
    let mode = std::env::var("SPECBRIDGE_TEST_KEYCHAIN").unwrap_or_default();
    if mode.is_empty() {
        eprintln!("skipped: run scripts/test-tray.sh for the keychain tests");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut ctl = Controller::load(Paths::at(&home)).unwrap();
    assert_eq!(ctl.snapshot().vault, VaultChoice::Keychain, "the keychain is the default");
    if mode == "absent" {
        let error = ctl.use_this_computer().await.unwrap_err();
        assert_eq!(error.code(), "keychain_unavailable");
        assert!(serde_json::to_value(&error).unwrap()["hint"].as_str().unwrap().contains("file"));
        assert!(!home.join("token.json").exists(), "no silent fallback to a file");
        // The explicit fallback: a 0600 file.
        ctl.set_vault(VaultChoice::File).await.unwrap();
        let url = ctl.use_this_computer().await.unwrap();
        assert!(FileVault::new(home.join("token.json")).load(&url).unwrap().is_some());
        ctl.stop().await;
        return;
    }
    let url = ctl.use_this_computer().await.unwrap();
    let stored = KeychainVault::new().load(&url).unwrap();
    assert!(stored.is_some_and(|t| t.expose().starts_with("sbt_")), "the token is in the keychain");
    assert!(!home.join("token.json").exists(), "and not in a file");
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    assert!(!config.contains("sbt_"), "nor in the config");
    until("the engine to connect", || ctl.connected()).await;
    ctl.unpair().await.unwrap();
    assert_eq!(KeychainVault::new().load(&url).unwrap(), None, "Unpair deletes it from the keychain");
    ctl.stop().await;
}
