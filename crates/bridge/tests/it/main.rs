//! Integration tests for the bridge engine: real temp folders, real files, a
//! real WebSocket to an in-test hub on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod engine;
mod host;
mod hub;
mod link;
mod vault;

use specbridge_bridge::{Config, Engine, EngineHandle, EngineOptions, HubSettings, LinkState, Paths, Timing, Token};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

pub const PATIENCE: Duration = Duration::from_secs(10);
pub const TOKEN: &str = "sbt_test-token";

/// Fast reconnects, production debounce.
pub fn fast() -> Timing {
    Timing { backoff_base: Duration::from_millis(50), backoff_cap: Duration::from_millis(500), ..Timing::default() }
}

/// A bridge home and one LeanSpec project folder.
pub struct Bridge {
    pub dir: TempDir,
    pub paths: Paths,
    pub config: Config,
    pub root: PathBuf,
}

impl Bridge {
    pub fn new(hub_url: &str, specs: usize) -> Self {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("project");
        for i in 1..=specs {
            write(
                &root,
                &format!("specs/{i:03}-feature/README.md"),
                format!("---\nstatus: planned\n---\n# Spec {i}\n"),
            );
        }
        std::fs::create_dir_all(root.join("specs")).unwrap();
        let paths = Paths::at(dir.path().join("home"));
        let mut config = Config::load(&paths).unwrap();
        config.hub = Some(HubSettings { url: hub_url.to_owned() });
        config.add_project(&root, Some("app".into())).unwrap();
        config.save(&paths).unwrap();
        Self { dir, paths, config, root }
    }

    pub async fn start(&self, timing: Timing) -> EngineHandle {
        Engine::start(EngineOptions {
            paths: self.paths.clone(),
            config: self.config.clone(),
            token: Token::new(TOKEN.into()),
            timing,
        })
        .await
        .unwrap()
    }
}

pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub async fn wait_link(engine: &EngineHandle, want: fn(&LinkState) -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = engine.status().await.unwrap();
        if want(&status.link) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "link stuck at {:?} ({:?})", status.link, status.last_error);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn connected(engine: &EngineHandle) {
    wait_link(engine, |l| matches!(l, LinkState::Connected)).await;
}

/// A command for project `app`, as the test hub sends it.
pub fn link_command(id: &str, name: &str, args: serde_json::Value) -> specbridge_protocol::Message {
    specbridge_protocol::Message::Command(specbridge_protocol::Command {
        id: id.into(),
        project: "app".into(),
        deadline_ms: 5_000,
        expires_at_ms: None,
        name: name.into(),
        args,
    })
}
