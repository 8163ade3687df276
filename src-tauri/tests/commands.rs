//! The window's typed Tauri commands over IPC on Tauri's mock runtime (the IPC
//! URL is `tauri://localhost` on Linux), forwarded over the real local socket
//! to a real tray-process actor in a temp folder and, for "Use this computer
//! as the hub", a real in-process hub and engine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use serde_json::{json, Value};
use specbridge_bridge::{Paths, VaultChoice};
use specbridge_tray_host::actor::{self, ActorOptions, Request};
use specbridge_tray_host::controller::Controller;
use specbridge_tray_host::desktop::{Autostart, Desktop};
use specbridge_tray_host::ipc::{Client, Endpoint, Listener};
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::{InvokeRequest, WebviewWindow, WebviewWindowBuilder};

fn app(dir: &std::path::Path) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    app_with(dir, Desktop::default())
}

/// The tray actor and its socket for `dir` (on Tauri's runtime, so the blocking
/// mock IPC does not starve it), and the window app connected to it.
fn app_with(dir: &std::path::Path, desktop: Desktop) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let paths = Paths::at(dir);
    let endpoint = Endpoint::for_paths(&paths);
    let ctl = Controller::load(paths).unwrap();
    let client = tauri::async_runtime::block_on(async {
        let tracker = tokio_util::task::TaskTracker::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        let host = actor::spawn(ctl, ActorOptions { desktop, ..ActorOptions::default() }, &tracker, cancel.clone());
        // The headless fallback: no keychain in a plain test run.
        host.call(Request::SetVault { vault: VaultChoice::File }).await.unwrap();
        let listener = Listener::bind(&endpoint).unwrap();
        tracker.spawn(listener.serve(host, tracker.clone(), cancel));
        Client::connect(&endpoint, false).await.unwrap().0
    });
    let app = specbridge_tray::with_commands(mock_builder(), client).build(mock_context(noop_assets())).unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    (app, window)
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request).map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn a_fresh_app_is_signed_out_and_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, window) = app(dir.path());
    let snap = invoke(&window, "get_snapshot", json!({})).unwrap();
    assert_eq!(snap["state"], "signed-out");
    assert_eq!(snap["onboarded"], false);
    assert_eq!(snap["vault"], "file");
    assert_eq!((snap["version"].as_str(), &snap["update"]), (Some(env!("CARGO_PKG_VERSION")), &Value::Null));
    assert!(!snap["machine"]["suggested_name"].as_str().unwrap().is_empty());

    let error = invoke(&window, "rename_machine", json!({ "name": "   " })).unwrap_err();
    assert_eq!(error["code"], "invalid_name");
    assert!(error["message"].as_str().unwrap().contains("empty"));
    let error = invoke(&window, "remove_project", json!({ "id": "ghost" })).unwrap_err();
    assert_eq!(error, json!({ "code": "unknown_project", "message": "no project \"ghost\"" }));
    let error = invoke(&window, "pair_start", json!({ "hubUrl": "" })).unwrap_err();
    assert_eq!(error["code"], "invalid_hub_url");
    assert!(error["hint"].is_string());
    let error = invoke(&window, "open_dashboard", json!({})).unwrap_err();
    assert_eq!(error["code"], "not_paired");
    assert_eq!(invoke(&window, "check_update", json!({})).unwrap_err()["code"], "not_paired");
    assert_eq!(invoke(&window, "install_update", json!({})).unwrap_err()["code"], "no_update");
    // No login item folder here: a typed error, not a panic.
    assert_eq!(invoke(&window, "set_autostart", json!({ "enabled": true })).unwrap_err()["code"], "desktop");
    assert_eq!(invoke(&window, "get_autostart", json!({})).unwrap(), json!(false));
}

#[test]
fn onboarding_with_this_computer_as_the_hub_syncs_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("work/app");
    std::fs::create_dir_all(project.join("specs/001-login")).unwrap();
    std::fs::write(project.join("specs/001-login/README.md"), "---\nstatus: planned\n---\n# Login\n").unwrap();
    let (_app, window) = app(&dir.path().join("home"));

    let snap = invoke(&window, "use_this_computer", json!({})).unwrap();
    assert_eq!(snap["hub"]["embedded"], true);
    assert_eq!(snap["signed_in"], true);
    let snap = invoke(&window, "rename_machine", json!({ "name": "Maya's MacBook" })).unwrap();
    assert_eq!(snap["machine"]["name"], "Maya's MacBook");

    let info = invoke(&window, "inspect_folder", json!({ "path": project })).unwrap();
    assert_eq!(info["layout"], "leanspec");
    let snap = invoke(&window, "add_project", json!({ "path": info["path"], "readOnly": false })).unwrap();
    assert_eq!(snap["projects"][0]["id"], "app");
    let again = invoke(&window, "add_project", json!({ "path": info["path"], "readOnly": false })).unwrap_err();
    assert_eq!(again["code"], "config", "the same folder twice is refused");

    let deadline = Instant::now() + Duration::from_secs(10);
    let snap = loop {
        let snap = invoke(&window, "get_snapshot", json!({})).unwrap();
        if snap["state"] == "synced" && snap["projects"][0]["files"] == 1 {
            break snap;
        }
        assert!(Instant::now() < deadline, "never synced: {snap:#}");
        // This test is synchronous (IPC on the mock runtime blocks), so wait on the app's runtime.
        tauri::async_runtime::block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    };
    assert_eq!(snap["link"], json!({ "state": "connected" }));
    assert!(snap["status_line"].as_str().unwrap().starts_with("Synced · 1 project · this computer"));

    let snap = invoke(&window, "set_read_only", json!({ "id": "app", "readOnly": true })).unwrap();
    assert_eq!(snap["projects"][0]["read_only"], true);
    let snap = invoke(&window, "set_paused_all", json!({ "paused": true })).unwrap();
    assert_eq!(snap["state"], "paused");
    assert_eq!(snap["projects"][0]["paused"], true);
    let snap = invoke(&window, "set_paused_all", json!({ "paused": false })).unwrap();
    assert_ne!(snap["state"], "paused");
    let snap = invoke(&window, "finish_onboarding", json!({})).unwrap();
    assert_eq!(snap["onboarded"], true);
    let snap = invoke(&window, "remove_project", json!({ "id": "app" })).unwrap();
    assert_eq!(snap["projects"], json!([]));
    assert!(project.join("specs/001-login/README.md").exists(), "removing a folder never touches its files");

    // The settings file remembers the hub and the onboarding.
    let settings = std::fs::read_to_string(dir.path().join("home/tray.toml")).unwrap();
    assert!(settings.contains("onboarded = true") && settings.contains("[embedded_hub]"), "{settings}");
}

/// On Linux "Start at login" is our own desktop entry (installers/linux/autostart.desktop)
/// in the managed autostart folder, written and removed over IPC.
#[cfg(target_os = "linux")]
#[test]
fn start_at_login_writes_and_removes_the_autostart_entry() {
    let dir = tempfile::tempdir().unwrap();
    let autostart_dir = dir.path().join("xdg/autostart");
    let autostart = Autostart::Linux(specbridge_tray_host::install::LinuxAutostart::in_dir(&autostart_dir));
    let (_app, window) = app_with(&dir.path().join("home"), Desktop { autostart, ..Desktop::default() });
    let entry = autostart_dir.join("specbridge.desktop");

    assert_eq!(invoke(&window, "set_autostart", json!({ "enabled": true })).unwrap(), json!(true));
    let text = std::fs::read_to_string(&entry).unwrap();
    let exe = std::env::current_exe().unwrap();
    assert!(text.contains(&format!("\nExec={}\n", exe.display())), "{text}");
    assert_eq!(invoke(&window, "get_autostart", json!({})).unwrap(), json!(true));

    assert_eq!(invoke(&window, "set_autostart", json!({ "enabled": false })).unwrap(), json!(false));
    assert!(!entry.exists());
}
