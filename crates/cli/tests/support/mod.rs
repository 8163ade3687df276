#![allow(dead_code, unreachable_pub)] // shared by several test binaries; each uses a subset
//! Shared harness for the end-to-end tests: a real hub on 127.0.0.1:0 with a
//! real SQLite file, real bridge engines on real temp folders.

pub mod http;
pub mod specs;

use specbridge_bridge::{Config, Engine, EngineHandle, EngineOptions, HubSettings, LinkState, Paths, Timing, Token};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long any "eventually" condition may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running hub plus a user token for its REST API.
pub struct TestHub {
    pub handle: HubHandle,
    pub user_token: String,
    pub machine_token: String,
}

impl TestHub {
    /// Starts a hub on `addr` (or a free port) with its data in `data_dir`, and
    /// issues one user and one machine token.
    pub async fn start(data_dir: &Path, addr: Option<SocketAddr>) -> Self {
        let handle = start_hub(data_dir, addr).await;
        let user_token = handle.issue_token(TokenKind::User, "tests").await.unwrap().secret.expose().to_owned();
        let machine_token = handle.issue_token(TokenKind::Machine, "bridge").await.unwrap().secret.expose().to_owned();
        Self { handle, user_token, machine_token }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    pub async fn get(&self, path: &str) -> http::Reply {
        http::request(self.addr(), "GET", path, Some(&self.user_token), &[], b"").await
    }

    pub async fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> http::Reply {
        http::request(self.addr(), "PUT", path, Some(&self.user_token), headers, body).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> http::Reply {
        let body = serde_json::to_vec(body).unwrap();
        http::request(self.addr(), "POST", path, Some(&self.user_token), &[("Content-Type", "application/json")], &body)
            .await
    }

    /// The hub's stored copy of a file, if it has one.
    pub async fn file(&self, machine: &str, project: &str, path: &str) -> Option<Vec<u8>> {
        let reply = self.get(&format!("/v1/machines/{machine}/projects/{project}/files/{path}")).await;
        (reply.status == 200).then_some(reply.body)
    }

    /// Paths and hashes the hub holds for a project.
    pub async fn listing(&self, machine: &str, project: &str) -> Vec<(String, String)> {
        let reply = self.get(&format!("/v1/machines/{machine}/projects/{project}/files")).await;
        if reply.status != 200 {
            return Vec::new();
        }
        let mut files: Vec<(String, String)> = reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_owned(), f["hash"].as_str().unwrap().to_owned()))
            .collect();
        files.sort();
        files
    }
}

/// Starts a hub, binding `addr` if given (to come back on the same port after a restart).
pub async fn start_hub(data_dir: &Path, addr: Option<SocketAddr>) -> HubHandle {
    let addr = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    let listener = bind_retrying(addr).await;
    specbridge_hub::start(HubConfig::new(data_dir), listener).await.unwrap()
}

async fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                eprintln!("bind {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

/// Timing for tests: production debounce, fast reconnects.
pub fn test_timing() -> Timing {
    Timing {
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        consent_timeout: Duration::from_millis(1500),
        ..Timing::default()
    }
}

/// A bridge's home folder with its config: machine id, hub and projects.
pub struct BridgeHome {
    pub paths: Paths,
    pub config: Config,
}

impl BridgeHome {
    pub fn new(home: &Path, hub_url: &str, projects: &[(&str, &Path)]) -> Self {
        let paths = Paths::at(home);
        let mut config = Config::load(&paths).unwrap();
        config.hub = Some(HubSettings { url: hub_url.to_owned() });
        for (name, path) in projects {
            config.add_project(path, Some((*name).to_owned())).unwrap();
        }
        config.save(&paths).unwrap();
        Self { paths, config }
    }

    pub fn machine_id(&self) -> String {
        self.config.machine.id.clone()
    }

    pub async fn start(&self, token: &str) -> EngineHandle {
        Engine::start(EngineOptions {
            paths: self.paths.clone(),
            config: self.config.clone(),
            token: Token::new(token.to_owned()),
            timing: test_timing(),
        })
        .await
        .unwrap()
    }
}

/// Polls `check` until it returns true, or fails the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the engine reports a connected link.
pub async fn connected(engine: &EngineHandle) {
    eventually("bridge connected", || async { matches!(engine.status().await.unwrap().link, LinkState::Connected) })
        .await;
}

/// Writes a file, creating parent folders.
pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A LeanSpec project with `n` specs.
pub fn leanspec_project(root: &Path, n: usize) {
    for i in 1..=n {
        write(
            root,
            &format!("specs/{i:03}-feature-{i}/README.md"),
            format!("---\nstatus: planned\ncreated: 2026-11-0{}\npriority: medium\n---\n\n# Feature {i}\n\nBody of spec {i}.\n", i % 9 + 1),
        );
    }
}

/// The content hash the protocol uses.
pub fn hash(bytes: &[u8]) -> String {
    specbridge_protocol::content_hash(bytes)
}
