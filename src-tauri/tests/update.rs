//! App updates against a real hub: the hub serves a release from its updates
//! folder, the app's updater plugin (on Tauri's mock runtime) finds it and
//! checks its minisign signature with the app's public key, and installing
//! waits while a command from the hub is still running.
//! The signing keys are made here, per test: no private key lives in the repo.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use base64::Engine as _;
use serde_json::{json, Value};
use specbridge_bridge::{Config, JobBook, Paths, PinnedJob, VaultChoice};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use specbridge_tray::controller::Controller;
use specbridge_tray::error::AppError;
use specbridge_tray::{update, AppState};
use std::path::Path;
use std::time::Duration;
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime};
use tauri::Manager as _;

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

/// Sleeps on the Tauri runtime (the timer must be made inside it).
fn pause(ms: u64) {
    block_on(async move { tokio::time::sleep(Duration::from_millis(ms)).await });
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

/// The app with the updater plugin trusting `pubkey`, paired with `hub`.
fn app(home: &Path, hub: &HubHandle, pubkey: &str) -> tauri::App<MockRuntime> {
    let paths = Paths::at(home);
    let mut ctl = Controller::load(paths).unwrap();
    let machine = block_on(hub.issue_token(TokenKind::Machine, "laptop")).unwrap();
    block_on(async {
        ctl.set_vault(VaultChoice::File).await.unwrap();
        ctl.pair_with_token(&hub.url(), machine.secret.expose()).await.unwrap();
    });
    let mut context = mock_context(noop_assets());
    // As in tauri.conf.json: the signature must name the version announced.
    let updater = json!({ "pubkey": pubkey, "requireSignedVersion": true });
    context.config_mut().plugins.0.insert("updater".into(), updater);
    let builder = mock_builder().plugin(tauri_plugin_updater::Builder::new().build());
    specbridge_tray::with_commands(builder, ctl).build(context).unwrap()
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
    let app = app(&dir.path().join("home"), &hub, &key.public());
    let handle = app.handle().clone();

    // Found, shown in the snapshot (the tray menu offers to install it), downloaded and verified.
    assert_eq!(block_on(update::check(&handle)).unwrap().as_deref(), Some("9.9.9"));
    let state = app.state::<AppState>();
    assert_eq!(block_on(state.ctl.lock()).snapshot().update.as_deref(), Some("9.9.9"));
    let (found, bytes) = block_on(update::download(&handle)).unwrap();
    assert_eq!((found.version.as_str(), bytes.as_slice()), ("9.9.9", &artifact[..]));

    // The hub (or anyone between) swaps the file: the signature no longer matches, nothing to install.
    std::fs::write(dir.path().join("hub/updates/specbridge-9.9.9.AppImage"), b"something else").unwrap();
    let Err(error) = block_on(update::download(&handle)) else { panic!("a swapped file was accepted") };
    assert!(matches!(error, AppError::Update(_)), "{error:?}");
    assert_eq!(error.code(), "update_failed");

    // Signed by another key: refused too.
    let other = ReleaseKey::new();
    std::fs::write(dir.path().join("hub/updates/specbridge-9.9.9.AppImage"), artifact).unwrap();
    publish(dir.path(), "9.9.9", "specbridge-9.9.9.AppImage", &other.sign(artifact, "9.9.9"));
    block_on(update::check(&handle)).unwrap();
    assert!(matches!(block_on(update::download(&handle)), Err(AppError::Update(_))));

    // A genuine older release announced as a newer version (a downgrade in disguise): the
    // signed version does not match the announced one, so it is refused.
    publish(dir.path(), "10.0.0", "specbridge-9.9.9.AppImage", &key.sign(artifact, "9.9.9"));
    assert_eq!(block_on(update::check(&handle)).unwrap().as_deref(), Some("10.0.0"));
    assert!(matches!(block_on(update::download(&handle)), Err(AppError::Update(_))));

    // Nothing newer than this build: no update, and the menu goes back to "Check for updates".
    let current = app.package_info().version.to_string();
    publish(dir.path(), &current, "specbridge-9.9.9.AppImage", &key.sign(artifact, &current));
    assert_eq!(block_on(update::check(&handle)).unwrap(), None);
    assert_eq!(block_on(state.ctl.lock()).snapshot().update, None);
    assert!(matches!(block_on(update::download(&handle)), Err(AppError::NoUpdate)));
}

#[test]
fn an_update_waits_while_a_command_from_the_hub_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path());
    let user = block_on(hub.issue_token(TokenKind::User, "maya")).unwrap();
    let project = dir.path().join("app");
    std::fs::create_dir_all(project.join("specs/001-login")).unwrap();
    std::fs::write(project.join("specs/001-login/README.md"), "---\nstatus: planned\n---\n# Login\n").unwrap();
    let home = dir.path().join("home");
    let app = app(&home, &hub, &ReleaseKey::new().public());
    let state = app.state::<AppState>();
    let id = block_on(async { state.ctl.lock().await.add_project(&project, false).await }).unwrap();
    let engine = block_on(state.ctl.lock()).engine().cloned().unwrap();
    for _ in 0..200 {
        if block_on(state.ctl.lock()).connected() {
            break;
        }
        pause(50);
    }

    // The owner pins the job (the engine reads jobs.toml on each job command).
    let paths = Paths::at(&home);
    let slow = PinnedJob {
        id: "slow".into(),
        name: "Slow".into(),
        project: id.clone(),
        argv: ["sh", "-c", "sleep 4; echo done"].map(String::from).to_vec(),
        params: Default::default(),
        enabled: true,
        unattended: true,
    };
    JobBook::open(&paths).add(slow, &Config::load(&paths).unwrap()).unwrap();
    let secret = user.secret.expose().to_owned();
    let run = {
        let hub_url = hub.url();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut reply = agent
                .post(format!("{hub_url}/api/projects/{id}/jobs/slow/run"))
                .header("Authorization", format!("Bearer {secret}"))
                .send_empty()
                .unwrap();
            (reply.status().as_u16(), reply.body_mut().read_json::<Value>().unwrap())
        })
    };
    // Generous for a loaded CI machine; the job itself runs 4 s.
    for _ in 0..300 {
        if engine.commands_in_flight() == 1 {
            break;
        }
        pause(10);
    }
    assert_eq!(engine.commands_in_flight(), 1, "the job never reached the bridge");

    // Too short a wait: the update refuses to start, and syncing carries on.
    let busy = block_on(update::quiesce(&state, Duration::from_millis(300))).unwrap_err();
    assert!(matches!(busy, AppError::UpdateBusy { in_flight: 1 }), "{busy:?}");
    assert!(block_on(state.ctl.lock()).engine().is_some());

    // A long enough wait: the job finishes, its answer reaches the hub, then the engine stops.
    block_on(update::quiesce(&state, Duration::from_secs(30))).unwrap();
    let (status, result) = run.join().unwrap();
    assert_eq!((status, result["result"]["outcome"].as_str()), (200, Some("succeeded")), "{result}");
    assert_eq!(result["result"]["output"], "done\n");
    assert!(block_on(state.ctl.lock()).engine().is_none(), "the engine stops before the binary is replaced");
}
