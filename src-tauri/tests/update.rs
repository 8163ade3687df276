//! App updates against a real hub: the hub serves a release from its updates
//! folder, the app's updater plugin (on Tauri's mock runtime) finds it and
//! checks its minisign signature with the app's public key; what it found
//! reaches the tray process over the real local socket. (Installing waits
//! for a job in flight: crates/tray-host/tests/host.rs.)
//! The signing keys are made here, per test: no private key lives in the repo.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use base64::Engine as _;
use serde_json::json;
use specbridge_bridge::{Paths, VaultChoice};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use specbridge_tray::update;
use specbridge_tray_host::actor::{self, ActorOptions, Host, Request};
use specbridge_tray_host::controller::Controller;
use specbridge_tray_host::ipc::{Client, Endpoint, Listener};
use std::path::Path;
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A release key pair in the form tauri.conf.json and `tauri signer sign` use:
/// the public key and each signature are base64 of minisign's text boxes.
struct ReleaseKey(minisign::KeyPair);

impl ReleaseKey {
    fn new() -> Self {
        Self(minisign::KeyPair::generate_unencrypted_keypair().unwrap())
    }
    fn public(&self) -> String {
        B64.encode(self.0.pk.to_box().unwrap().to_string())
    }
    /// Signs `data` as release `version`: the trusted comment, which the
    /// signature covers, names the version as `tauri build` records it.
    fn sign(&self, data: &[u8], version: &str) -> String {
        let comment = format!("timestamp:1764590400\tfile:specbridge.AppImage\tversion:{version}");
        let sig = minisign::sign(None, &self.0.sk, std::io::Cursor::new(data), Some(&comment), None).unwrap();
        B64.encode(sig.to_string())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tauri::async_runtime::block_on(f)
}

fn hub(dir: &Path) -> HubHandle {
    block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        specbridge_hub::start(HubConfig::new(dir.join("hub")), listener).await.unwrap()
    })
}

/// Publishes a release the way an operator does: files in `<hub data>/updates`.
fn publish(dir: &Path, version: &str, artifact: &str, signature: &str) {
    let updates = dir.join("hub/updates");
    std::fs::create_dir_all(&updates).unwrap();
    let manifest = json!({
        "version": version,
        "notes": "Faster sync",
        "pub_date": "2026-12-01T12:00:00Z",
        "platforms": { format!("linux-{}", std::env::consts::ARCH): { "signature": signature, "url": artifact } },
    });
    std::fs::write(updates.join("latest.json"), manifest.to_string()).unwrap();
}

/// The window app with the updater plugin trusting `pubkey`, connected to a
/// tray process paired with `hub`.
fn app(home: &Path, hub: &HubHandle, pubkey: &str) -> (tauri::App<MockRuntime>, Host) {
    let paths = Paths::at(home);
    let endpoint = Endpoint::for_paths(&paths);
    let ctl = Controller::load(paths).unwrap();
    let machine = block_on(hub.issue_token(TokenKind::Machine, "laptop")).unwrap();
    let (host, client) = block_on(async {
        let tracker = tokio_util::task::TaskTracker::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        let host = actor::spawn(ctl, ActorOptions::default(), &tracker, cancel.clone());
        host.call(Request::SetVault { vault: VaultChoice::File }).await.unwrap();
        let paired = Request::PairWithToken { hub_url: hub.url(), token: machine.secret.expose().to_owned() };
        host.call(paired).await.unwrap();
        tracker.spawn(Listener::bind(&endpoint).unwrap().serve(host.clone(), tracker.clone(), cancel));
        (host.clone(), Client::connect(&endpoint, false).await.unwrap().0)
    });
    let mut context = mock_context(noop_assets());
    // As in tauri.conf.json: the signature must name the version announced.
    let updater = json!({ "pubkey": pubkey, "requireSignedVersion": true });
    context.config_mut().plugins.0.insert("updater".into(), updater);
    let builder = mock_builder().plugin(tauri_plugin_updater::Builder::new().build());
    (specbridge_tray::with_commands(builder, client).build(context).unwrap(), host)
}

#[test]
fn a_signed_release_on_the_hub_is_found_and_a_tampered_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path());
    let key = ReleaseKey::new();
    let artifact = b"specbridge 9.9.9 for linux";
    std::fs::create_dir_all(dir.path().join("hub/updates")).unwrap();
    std::fs::write(dir.path().join("hub/updates/specbridge-9.9.9.AppImage"), artifact).unwrap();
    publish(dir.path(), "9.9.9", "specbridge-9.9.9.AppImage", &key.sign(artifact, "9.9.9"));
    let (app, host) = app(&dir.path().join("home"), &hub, &key.public());
    let offered = || host.snapshot().borrow().update.clone();
    let handle = app.handle().clone();

    // Found, shown in the snapshot (the tray menu offers to install it), downloaded and verified.
    assert_eq!(block_on(update::check(&handle)).unwrap().as_deref(), Some("9.9.9"));
    assert_eq!(offered().as_deref(), Some("9.9.9"));
    // The tray process asks the same endpoint for the version alone.
    assert_eq!(block_on(host.call(Request::CheckUpdate)).unwrap(), json!("9.9.9"));
    let (found, bytes) = block_on(update::download(&handle)).unwrap();
    assert_eq!((found.version.as_str(), bytes.as_slice()), ("9.9.9", &artifact[..]));

    // The hub (or anyone between) swaps the file: the signature no longer matches, nothing to install.
    std::fs::write(dir.path().join("hub/updates/specbridge-9.9.9.AppImage"), b"something else").unwrap();
    let Err(error) = block_on(update::download(&handle)) else { panic!("a swapped file was accepted") };
    assert_eq!(error.code, "update_failed", "{error:?}");

    // Signed by another key: refused too.
    let other = ReleaseKey::new();
    std::fs::write(dir.path().join("hub/updates/specbridge-9.9.9.AppImage"), artifact).unwrap();
    publish(dir.path(), "9.9.9", "specbridge-9.9.9.AppImage", &other.sign(artifact, "9.9.9"));
    block_on(update::check(&handle)).unwrap();
    assert_eq!(block_on(update::download(&handle)).err().map(|e| e.code).as_deref(), Some("update_failed"));

    // A genuine older release announced as a newer version (a downgrade in disguise): the
    // signed version does not match the announced one, so it is refused.
    publish(dir.path(), "10.0.0", "specbridge-9.9.9.AppImage", &key.sign(artifact, "9.9.9"));
    assert_eq!(block_on(update::check(&handle)).unwrap().as_deref(), Some("10.0.0"));
    assert_eq!(block_on(update::download(&handle)).err().map(|e| e.code).as_deref(), Some("update_failed"));

    // Nothing newer than this build: no update, and the menu goes back to "Check for updates".
    let current = app.package_info().version.to_string();
    publish(dir.path(), &current, "specbridge-9.9.9.AppImage", &key.sign(artifact, &current));
    assert_eq!(block_on(update::check(&handle)).unwrap(), None);
    assert_eq!(offered(), None);
    assert_eq!(block_on(update::download(&handle)).err().map(|e| e.code).as_deref(), Some("no_update"));
}
