//! The hub and the bridge as child processes, to kill with SIGKILL and start
//! again. Both run the `specbridge-chaos` binary's `hub` and `bridge` roles,
//! which call the same library entry points as `specbridge-hub serve` and
//! `specbridge run` (`specbridge_hub::start`, `Engine::start`), with the
//! timers given on the command line.

use crate::{wait_until, HarnessError, HarnessResult};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Heartbeat and reconnect timers for the child processes (production when `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timers {
    /// Bridge ping interval and pong timeout, hub ping interval and idle
    /// timeout: one value for all four (ms).
    pub heartbeat_ms: Option<u64>,
}

impl Timers {
    fn args(&self) -> Vec<String> {
        self.heartbeat_ms.map(|ms| vec!["--heartbeat-ms".to_owned(), ms.to_string()]).unwrap_or_default()
    }
}

fn spawn(bin: &Path, args: &[String], log: &Path, env: &[(&str, &str)]) -> HarnessResult<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| HarnessError::io(format!("opening {}", log.display()), e))?;
    let err = out.try_clone().map_err(|e| HarnessError::io("cloning the log handle", e))?;
    let mut command = Command::new(bin);
    command.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().map_err(|e| HarnessError::io(format!("starting {}", bin.display()), e))
}

/// SIGKILL and reap.
fn kill9(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A hub process on a fixed address, with its data folder.
#[derive(Debug)]
pub struct HubProcess {
    bin: PathBuf,
    data: PathBuf,
    addr: SocketAddr,
    timers: Timers,
    /// `--database-url` and `--nats-url`, for a node of a cluster.
    engines: Option<(String, String)>,
    child: Option<Child>,
}

impl HubProcess {
    /// Starts a hub on `addr` and waits until it answers `/healthz`.
    pub async fn start(bin: &Path, data: &Path, addr: SocketAddr, timers: Timers) -> HarnessResult<Self> {
        Self::start_node(bin, data, addr, timers, None).await
    }

    /// Starts a hub that keeps its state in Postgres and meets the other
    /// nodes on NATS (`engines`: the database URL and the NATS URL).
    pub async fn start_node(
        bin: &Path,
        data: &Path,
        addr: SocketAddr,
        timers: Timers,
        engines: Option<(String, String)>,
    ) -> HarnessResult<Self> {
        let mut hub = Self { bin: bin.into(), data: data.into(), addr, timers, engines, child: None };
        hub.restart().await?;
        Ok(hub)
    }

    /// The address bridges and the API reach it at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id while it runs (for its memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it with SIGKILL: no close frames, no flush, no goodbye.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// Starts it again (after [`HubProcess::kill9`]); returns when it answered
    /// `/healthz`, with that moment.
    pub async fn restart(&mut self) -> HarnessResult<Instant> {
        self.kill9();
        let mut args: Vec<String> = vec![
            "hub".into(),
            "--data".into(),
            self.data.display().to_string(),
            "--listen".into(),
            self.addr.to_string(),
        ];
        args.extend(self.timers.args());
        if let Some((database, nats)) = &self.engines {
            // Nodes of a cluster sit behind the balancer, as deployed.
            args.extend(["--database-url".into(), database.clone(), "--nats-url".into(), nats.clone()]);
            args.push("--behind-proxy".into());
        }
        // A node on Postgres may never have made its data folder: its log goes there.
        std::fs::create_dir_all(&self.data)
            .map_err(|e| HarnessError::io(format!("creating {}", self.data.display()), e))?;
        self.child = Some(spawn(&self.bin, &args, &self.data.join("hub.log"), &[])?);
        let addr = self.addr;
        let up = wait_until(Duration::from_secs(20), || async move {
            crate::http::request(addr, "GET", "/healthz", None, &[], b"").await.is_ok_and(|r| r.status == 200)
        })
        .await;
        if !up {
            return Err(HarnessError::Timeout(format!(
                "the hub on {addr} (log: {})",
                self.data.join("hub.log").display()
            )));
        }
        Ok(Instant::now())
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A bridge process with its home folder (config with the hub URL and
/// projects; the token comes in `SPECBRIDGE_TOKEN`).
#[derive(Debug)]
pub struct BridgeProcess {
    bin: PathBuf,
    home: PathBuf,
    token: String,
    timers: Timers,
    child: Option<Child>,
}

impl BridgeProcess {
    /// Starts a bridge (it connects in the background).
    pub fn start(bin: &Path, home: &Path, token: &str, timers: Timers) -> HarnessResult<Self> {
        let mut bridge = Self { bin: bin.into(), home: home.into(), token: token.into(), timers, child: None };
        bridge.restart()?;
        Ok(bridge)
    }

    /// Kills it with SIGKILL.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// Starts it again.
    pub fn restart(&mut self) -> HarnessResult<()> {
        self.kill9();
        let mut args: Vec<String> = vec!["bridge".into(), "--home".into(), self.home.display().to_string()];
        args.extend(self.timers.args());
        let log = self.home.join("bridge.log");
        self.child = Some(spawn(&self.bin, &args, &log, &[("SPECBRIDGE_TOKEN", &self.token)])?);
        Ok(())
    }

    /// Whether the process is still running (it never exits on its own).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The home folder (config, state, `bridge.log`).
    pub fn home(&self) -> &Path {
        &self.home
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
