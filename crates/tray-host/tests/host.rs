//! The tray process's controller actor behind its real local socket, with a
//! real hub on 127.0.0.1:0, real SQLite, a real engine and temp folders: the
//! window's requests and typed errors over the socket, pushes to a
//! subscribed window, the key check, and an update's quiesce waiting for a
//! job in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use serde_json::{json, Value};
use specbridge_bridge::{Config, JobBook, Paths, PinnedJob, VaultChoice};
use specbridge_hub::{HubConfig, TokenKind};
use specbridge_tray_host::actor::{self, ActorOptions, Host, Request};
use specbridge_tray_host::controller::Controller;
use specbridge_tray_host::ipc::{Client, Endpoint, Listener, Pushed};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Running {
    host: Host,
    endpoint: Endpoint,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await.unwrap();
    }
}

/// The actor and its socket for the app in `home`, keeping its token in a file.
async fn start(home: &Path) -> Running {
    let paths = Paths::at(home);
    let endpoint = Endpoint::for_paths(&paths);
    let ctl = Controller::load(paths).unwrap();
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    let host = actor::spawn(ctl, ActorOptions::default(), &tracker, cancel.clone());
    let listener = Listener::bind(&endpoint).unwrap();
    tracker.spawn(listener.serve(host.clone(), tracker.clone(), cancel.clone()));
    host.call(Request::SetVault { vault: VaultChoice::File }).await.unwrap();
    Running { host, endpoint, cancel, tracker }
}

async fn next_push(pushes: &mut Receiver<Pushed>, name: &str) -> Value {
    loop {
        let push = tokio::time::timeout(Duration::from_secs(20), pushes.recv()).await.unwrap().unwrap();
        if push.name == name {
            return push.data;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_typed_errors_cross_the_socket_and_a_subscriber_gets_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir.path().join("home")).await;
    let (client, mut pushes) = Client::connect(&running.endpoint, true).await.unwrap();

    // A subscriber gets the state at once.
    let first = next_push(&mut pushes, "snapshot").await;
    assert_eq!((first["state"].as_str(), first["vault"].as_str()), (Some("signed-out"), Some("file")));
    assert_eq!(next_push(&mut pushes, "consent").await, json!([]));
    let snap = client.call(Request::GetSnapshot).await.unwrap();
    assert_eq!(snap["onboarded"], false);
    assert_eq!(snap["version"], env!("CARGO_PKG_VERSION"));
    assert!(snap.get("start_at_login").is_none(), "the tray's own field stays out of the UI's snapshot");

    // Errors keep their code, message, hint and details.
    let error = client.call(Request::RenameMachine { name: "   ".into() }).await.unwrap_err();
    assert_eq!(error.code, "invalid_name");
    assert!(error.message.contains("empty"));
    let error = client.call(Request::RemoveProject { id: "ghost".into() }).await.unwrap_err();
    assert_eq!(
        serde_json::to_value(&error).unwrap(),
        json!({ "code": "unknown_project", "message": "no project \"ghost\"" })
    );
    let error = client.call(Request::PairStart { hub_url: String::new() }).await.unwrap_err();
    assert_eq!(error.code, "invalid_hub_url");
    assert!(error.hint.is_some());
    for request in [Request::OpenDashboard, Request::CheckUpdate, Request::HubUrl, Request::ConsentPending] {
        let answer = client.call(request.clone()).await;
        if request == Request::HubUrl {
            assert_eq!(answer.unwrap(), Value::Null);
        } else {
            assert_eq!(answer.unwrap_err().code, "not_paired", "{request:?}");
        }
    }
    // No login item folder in a test: off, and setting it is a typed error.
    assert_eq!(client.call(Request::GetAutostart).await.unwrap(), json!(false));
    assert_eq!(client.call(Request::SetAutostart { enabled: true }).await.unwrap_err().code, "desktop");

    // A change made by anyone reaches the subscriber.
    running.host.call(Request::RenameMachine { name: "Maya's laptop".into() }).await.unwrap();
    loop {
        let snap = next_push(&mut pushes, "snapshot").await;
        if snap["machine"]["name"] == "Maya's laptop" {
            break;
        }
    }

    // Use this computer as the hub, over the socket: the engine connects.
    let snap = client.call(Request::UseThisComputer).await.unwrap();
    assert_eq!((snap["hub"]["embedded"].as_bool(), snap["signed_in"].as_bool()), (Some(true), Some(true)));
    loop {
        if next_push(&mut pushes, "snapshot").await["link"] == json!({ "state": "connected" }) {
            break;
        }
    }
    assert!(client.call(Request::HubUrl).await.unwrap().as_str().unwrap().starts_with("http://127.0.0.1:"));
    running.stop().await;
    // The tray went away: the window's connection says so instead of hanging.
    let gone = client.call(Request::GetSnapshot).await.unwrap_err();
    assert_eq!(gone.code, "internal");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_private_and_a_client_without_the_key_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir.path().join("home")).await;
    let socket = running.endpoint.socket_path();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&socket.parent().unwrap().join("tray.key")), 0o600);

    let mut stranger = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stranger
        .write_all(b"{\"key\":\"guess\",\"subscribe\":true}\n{\"id\":1,\"request\":{\"cmd\":\"quit\"}}\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stranger.read_to_end(&mut answer).await.unwrap();
    assert!(answer.is_empty(), "no answer without the key: {}", String::from_utf8_lossy(&answer));
    // Still serving, and nothing was quit.
    let (client, _) = Client::connect(&running.endpoint, false).await.unwrap();
    assert_eq!(client.call(Request::GetSnapshot).await.unwrap()["state"], "signed-out");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_waits_while_a_command_from_the_hub_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = specbridge_hub::start(HubConfig::new(dir.path().join("hub")), listener).await.unwrap();
    let user = hub.issue_token(TokenKind::User, "maya").await.unwrap();
    let machine = hub.issue_token(TokenKind::Machine, "laptop").await.unwrap();
    let project = dir.path().join("app");
    std::fs::create_dir_all(project.join("specs/001-login")).unwrap();
    std::fs::write(project.join("specs/001-login/README.md"), "---\nstatus: planned\n---\n# Login\n").unwrap();
    let home = dir.path().join("home");
    let running = start(&home).await;
    let host = &running.host;
    let paired = Request::PairWithToken { hub_url: hub.url(), token: machine.secret.expose().to_owned() };
    host.call(paired).await.unwrap();
    let snap = host.call(Request::AddProject { path: project.clone(), read_only: false }).await.unwrap();
    let id = snap["projects"][0]["id"].as_str().unwrap().to_owned();
    let mut snapshots = host.snapshot();
    tokio::time::timeout(
        Duration::from_secs(20),
        snapshots.wait_for(|s| s.link == Some(specbridge_bridge::LinkState::Connected)),
    )
    .await
    .unwrap()
    .unwrap();

    // The owner pins the job (the engine reads jobs.toml on each job command).
    let paths = Paths::at(&home);
    let marker = dir.path().join("running");
    let slow = PinnedJob {
        id: "slow".into(),
        name: "Slow".into(),
        project: id.clone(),
        // The marker says the job runs: a command is in flight.
        argv: ["sh", "-c", "touch \"$0\"; sleep 4; echo done", marker.to_str().unwrap()].map(String::from).to_vec(),
        params: Default::default(),
        enabled: true,
        unattended: true,
    };
    JobBook::open(&paths).add(slow, &Config::load(&paths).unwrap()).unwrap();
    let (hub_url, secret) = (hub.url(), user.secret.expose().to_owned());
    let run = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut reply = agent
            .post(format!("{hub_url}/api/projects/{id}/jobs/slow/run"))
            .header("Authorization", format!("Bearer {secret}"))
            .send_empty()
            .unwrap();
        (reply.status().as_u16(), reply.body_mut().read_json::<Value>().unwrap())
    });
    // Generous for a loaded CI machine; the job itself runs 4 s.
    for _ in 0..300 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(marker.exists(), "the job never started");
    let busy = host.call(Request::Quiesce { within_ms: 300 }).await.unwrap_err();
    assert_eq!(busy.code(), "update_busy");
    // Too short a wait: the update refuses to start, and syncing carries on.
    assert!(busy.to_string().starts_with("1 command"), "{busy}");
    assert_eq!(host.call(Request::GetSnapshot).await.unwrap()["link"], json!({ "state": "connected" }));

    // A long enough wait: the job finishes, its answer reaches the hub, then the engine stops.
    host.call(Request::Quiesce { within_ms: 30_000 }).await.unwrap();
    let (status, result) = run.await.unwrap();
    assert_eq!((status, result["result"]["outcome"].as_str()), (200, Some("succeeded")), "{result}");
    assert_eq!(result["result"]["output"], "done\n");
    assert_eq!(
        host.call(Request::GetSnapshot).await.unwrap()["link"],
        Value::Null,
        "stopped before the binary is replaced"
    );
    running.stop().await;
}
