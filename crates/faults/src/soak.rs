//! The soak: a hub process, a bridge process and the fault proxy between
//! them; rounds of one fault each, with edits from both sides while it lasts,
//! and the invariants ([`crate::check`]) once it is over.
//!
//! A round: local edits start (files rewritten, created, deleted) and hub
//! edits start (appends to a ledger file through the REST API, each with its
//! base hash), the fault hits, more local edits land while it holds, the
//! fault ends (a killed process is started again, the proxy heals), and the
//! time until the hub matches the disk again is the round's recovery time.
//! The first rounds cycle through every fault; later ones pick at random.

use crate::check::{self, Findings, Subject};
use crate::http::Api;
use crate::procs::{BridgeProcess, HubProcess, Timers};
use crate::proxy::{Fault, FaultProxy};
use crate::{HarnessError, HarnessResult};
use rand::{Rng as _, SeedableRng as _};
use specbridge_bridge::{Config, HubSettings, Paths, VaultChoice};
use specbridge_hub::TokenKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The project id at the hub.
const PROJECT: &str = "app";
/// The ledger file, relative to the project.
const LEDGER: &str = "specs/000-ledger/README.md";
/// Specs in the project at the start.
const SPECS: usize = 12;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL the bridge during a burst of edits, start it again.
    KillBridge,
    /// SIGKILL the hub during a burst, start it again on the same port.
    KillHub,
    /// The proxy holds every byte (writes block), then lets go.
    Stall,
    /// The proxy swallows every byte and answers nothing, then heals.
    BlackHole,
    /// The proxy resets every connection.
    Reset,
    /// The proxy adds 200 ms to every chunk for a while.
    Delay,
}

impl FaultKind {
    /// Every fault, in the order the first rounds try them.
    pub const ALL: [Self; 6] =
        [Self::KillBridge, Self::KillHub, Self::Stall, Self::BlackHole, Self::Reset, Self::Delay];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::KillBridge => "kill -9 bridge",
            Self::KillHub => "kill -9 hub",
            Self::Stall => "stall",
            Self::BlackHole => "black hole",
            Self::Reset => "reset",
            Self::Delay => "delay 200 ms",
        }
    }
}

/// How long the soak runs.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// This many rounds.
    Rounds(usize),
    /// Until this much time has passed (the round under way finishes).
    Time(Duration),
}

/// Soak settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `specbridge-chaos` binary (its `hub` and `bridge` roles).
    pub bin: PathBuf,
    /// How long.
    pub limit: Limit,
    /// Short heartbeats (1 s), so dead links are found in seconds.
    pub fast: bool,
    /// Seed for the fault choice.
    pub seed: Option<u64>,
    /// Print each round as it ends (on stderr).
    pub progress: bool,
}

/// One round's outcome.
#[derive(Debug, Clone)]
pub struct Round {
    /// The fault.
    pub fault: FaultKind,
    /// What did not hold (empty: everything did).
    pub findings: Findings,
    /// From the end of the fault until the hub matched the disk again.
    pub recovery: Option<Duration>,
    /// Hub edits tried and acknowledged (200) during the round.
    pub edits: (usize, usize),
}

/// What a soak tried and what held.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed, to replay the same sequence.
    pub seed: u64,
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Where the processes' logs are kept when something failed.
    pub logs: Option<PathBuf>,
}

impl Report {
    /// Whether every invariant held in every round.
    pub fn all_held(&self) -> bool {
        self.rounds.iter().all(|r| r.findings.held())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "soak: {} rounds (seed {})", self.rounds.len(), self.seed)?;
        writeln!(f, "| fault | tried | held | recovery p50 | recovery max | hub edits acked/tried |")?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        for kind in FaultKind::ALL {
            let rounds: Vec<&Round> = self.rounds.iter().filter(|r| r.fault == kind).collect();
            if rounds.is_empty() {
                continue;
            }
            let held = rounds.iter().filter(|r| r.findings.held()).count();
            let mut times: Vec<Duration> = rounds.iter().filter_map(|r| r.recovery).collect();
            times.sort();
            let p50 = times.get(times.len().saturating_sub(1) / 2).map_or("-".into(), |d| ms(*d));
            let max = times.last().map_or("-".into(), |d| ms(*d));
            let (tried, acked) = rounds.iter().fold((0, 0), |(t, a), r| (t + r.edits.0, a + r.edits.1));
            writeln!(f, "| {} | {} | {held} | {p50} | {max} | {acked}/{tried} |", kind.name(), rounds.len())?;
        }
        for (n, round) in self.rounds.iter().enumerate().filter(|(_, r)| !r.findings.held()) {
            for finding in &round.findings.0 {
                writeln!(f, "round {} ({}): {finding}", n + 1, round.fault.name())?;
            }
        }
        if let Some(logs) = &self.logs {
            writeln!(f, "logs kept in {}", logs.display())?;
        }
        if self.all_held() {
            writeln!(f, "every invariant held: hub matched disk, no temp files, nothing applied twice, nothing acknowledged lost")?;
        }
        Ok(())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A hub process, the proxy, a bridge process and its project.
#[derive(Debug)]
pub struct World {
    /// Kept on failure (see [`Report::logs`]).
    dir: tempfile::TempDir,
    /// The hub's REST API (direct, not through the proxy).
    pub api: Api,
    /// The hub process.
    pub hub: HubProcess,
    /// Between the bridge and the hub.
    pub proxy: FaultProxy,
    /// The bridge process.
    pub bridge: BridgeProcess,
    /// The bridge's machine id.
    pub machine: String,
    /// The project folder.
    pub root: PathBuf,
    /// The bridge's state folder.
    pub state_dir: PathBuf,
    acknowledged: BTreeSet<String>,
    next_marker: u64,
    round: u64,
}

/// A free port on loopback (bound, then released for the hub to take).
pub fn free_addr() -> HarnessResult<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::io("finding a port", e))?;
    listener.local_addr().map_err(|e| HarnessError::io("finding a port", e))
}

/// Writes a file, creating its folder.
pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) -> HarnessResult<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::write(&path, bytes).map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

/// Issues a user and a machine token in a hub data folder (before the hub runs).
pub async fn issue_tokens(data: &Path) -> HarnessResult<(String, String)> {
    let store = specbridge_hub::open_store(data, None).await?;
    let user =
        store.create_token(specbridge_hub::DEFAULT_ACCOUNT, TokenKind::User, "chaos").await?.secret.expose().to_owned();
    let machine = store
        .create_token(specbridge_hub::DEFAULT_ACCOUNT, TokenKind::Machine, "chaos-bridge")
        .await?
        .secret
        .expose()
        .to_owned();
    store.close().await;
    Ok((user, machine))
}

/// A bridge home whose config points at `hub_url`, sharing `project` as
/// [`PROJECT`], token from the environment. Returns the machine id.
pub fn bridge_home(home: &Path, hub_url: &str, project: &Path) -> HarnessResult<String> {
    let paths = Paths::at(home);
    let setup =
        |e: specbridge_bridge::ConfigError| HarnessError::io("writing the bridge config", std::io::Error::other(e));
    let mut config = Config::load(&paths).map_err(setup)?;
    config.hub = Some(HubSettings { url: hub_url.to_owned() });
    config.vault = VaultChoice::Env;
    config.add_project(project, Some(PROJECT.to_owned())).map_err(setup)?;
    config.save(&paths).map_err(setup)?;
    Ok(config.machine.id)
}

impl World {
    /// Sets everything up and waits until the first sync is complete.
    pub async fn new(bin: &Path, timers: Timers) -> HarnessResult<Self> {
        let dir = tempfile::tempdir().map_err(|e| HarnessError::io("creating a temp folder", e))?;
        let root = dir.path().join("project");
        for i in 1..=SPECS {
            write(&root, &format!("specs/{i:03}-feature/README.md"), spec_text(i, 0))?;
        }
        write(&root, LEDGER, "# Ledger\n")?;
        let data = dir.path().join("hub");
        let (user, machine_token) = issue_tokens(&data).await?;
        let hub = HubProcess::start(bin, &data, free_addr()?, timers).await?;
        let proxy = FaultProxy::start(hub.addr()).await.map_err(|e| HarnessError::io("starting the fault proxy", e))?;
        let home = dir.path().join("bridge");
        let machine = bridge_home(&home, &proxy.url(), &root)?;
        let bridge = BridgeProcess::start(bin, &home, &machine_token, timers)?;
        let api = Api { addr: hub.addr(), token: user };
        let world = Self {
            api,
            hub,
            proxy,
            bridge,
            machine,
            state_dir: Paths::at(&home).state_dir,
            root,
            dir,
            acknowledged: BTreeSet::new(),
            next_marker: 0,
            round: 0,
        };
        if !world.converged(Duration::from_secs(30)).await {
            return Err(HarnessError::Timeout(format!("the first sync (logs in {})", world.dir.path().display())));
        }
        Ok(world)
    }

    /// Waits until the hub's copy equals the project folder.
    pub async fn converged(&self, within: Duration) -> bool {
        crate::wait_until(within, || async {
            self.api.listing(&self.machine, PROJECT).await == Some(check::local_listing(&self.root, &["specs"]))
        })
        .await
    }

    /// Checks every invariant (waiting up to `within` for convergence).
    pub async fn check(&mut self, within: Duration) -> Findings {
        let ledger = self.root.join(LEDGER);
        let subject = Subject {
            api: &self.api,
            machine: &self.machine,
            project: PROJECT,
            root: &self.root,
            roots: &["specs"],
            state_dir: &self.state_dir,
            ledger: &ledger,
            acknowledged: &self.acknowledged,
        };
        let mut findings = check::check(&subject, within).await;
        if !self.bridge.running() {
            findings
                .0
                .push(format!("the bridge process exited (log: {})", self.bridge.home().join("bridge.log").display()));
        }
        findings
    }

    /// Rewrites three specs, adds one and removes the one added two rounds ago.
    fn local_edits(&mut self, rng: &mut impl rand::Rng) -> HarnessResult<()> {
        self.round += 1;
        for _ in 0..3 {
            let i = rng.random_range(1..=SPECS);
            write(&self.root, &format!("specs/{i:03}-feature/README.md"), spec_text(i, rng.random()))?;
        }
        write(&self.root, &format!("specs/{:03}-extra/README.md", 500 + self.round), spec_text(500, self.round))?;
        if self.round > 2 {
            let old = self.root.join(format!("specs/{:03}-extra", 500 + self.round - 2));
            let _ = std::fs::remove_dir_all(old);
        }
        Ok(())
    }

    /// Appends `count` markers to the ledger through the hub, one at a time,
    /// each with the hub's hash of the ledger as base. Returns the markers
    /// the hub acknowledged with 200.
    fn hub_edits(&mut self, count: usize) -> tokio::task::JoinHandle<Vec<String>> {
        let api = self.api.clone();
        let url = format!("/v1/machines/{}/projects/{PROJECT}/files/{LEDGER}", self.machine);
        let markers: Vec<String> = (0..count).map(|n| format!("marker-{}", self.next_marker + n as u64)).collect();
        self.next_marker += count as u64;
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for marker in markers {
                // Spread out, so the fault lands among them: some before, some during.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Ok(current) = api.get(&url).await else { continue };
                let Some(etag) = current.header("etag").map(|e| e.trim_matches('"').to_owned()) else { continue };
                let mut body = current.body.clone();
                body.extend_from_slice(format!("{marker}\n").as_bytes());
                let put = api.put(&format!("{url}?timeout_ms=5000"), &[("If-Match", &etag)], &body).await;
                match put {
                    Ok(r) if r.status == 200 => acked.push(marker),
                    Ok(r) => {
                        tracing::debug!(status = r.status, body = %String::from_utf8_lossy(&r.body), "hub edit refused")
                    }
                    Err(e) => tracing::debug!(error = %e, "hub edit failed"),
                }
            }
            acked
        })
    }

    /// Runs one round of `fault`, held for `hold`.
    pub async fn round(
        &mut self,
        fault: FaultKind,
        hold: Duration,
        within: Duration,
        rng: &mut impl rand::Rng,
    ) -> HarnessResult<Round> {
        const EDITS: usize = 5;
        let edits = self.hub_edits(EDITS);
        self.local_edits(rng)?;
        tokio::time::sleep(Duration::from_millis(250)).await;
        match fault {
            FaultKind::KillBridge => self.bridge.kill9(),
            FaultKind::KillHub => self.hub.kill9(),
            FaultKind::Stall => self.proxy.set(Fault::Stall),
            FaultKind::BlackHole => self.proxy.set(Fault::BlackHole),
            FaultKind::Reset => self.proxy.reset_all(),
            FaultKind::Delay => self.proxy.set(Fault::Delay(Duration::from_millis(200))),
        }
        tokio::time::sleep(hold / 2).await;
        self.local_edits(rng)?;
        tokio::time::sleep(hold / 2).await;
        match fault {
            FaultKind::KillBridge => self.bridge.restart()?,
            FaultKind::KillHub => drop(self.hub.restart().await?),
            FaultKind::Stall | FaultKind::BlackHole | FaultKind::Delay => self.proxy.set(Fault::None),
            FaultKind::Reset => {}
        }
        let healed = Instant::now();
        let recovery = self.converged(within).await.then(|| healed.elapsed());
        let acked = edits.await.unwrap_or_default();
        let edits = (EDITS, acked.len());
        self.acknowledged.extend(acked);
        let findings = self.check(within).await;
        Ok(Round { fault, findings, recovery, edits })
    }

    /// Keeps the temp folder (logs, files) for a look after a failure.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

/// A LeanSpec README whose body depends on `version`.
fn spec_text(i: usize, version: u64) -> String {
    format!("---\nstatus: planned\npriority: medium\n---\n\n# Feature {i}\n\nRevision {version}.\n")
}

/// Runs the soak.
pub async fn run(options: Options) -> HarnessResult<Report> {
    let seed = options.seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let timers = Timers { heartbeat_ms: options.fast.then_some(1000) };
    // Detection takes up to ping + pong (40 s, or 2 s fast): hold the link
    // faults past it, so every round also proves the dead link was noticed.
    let (link_hold, within) = if options.fast {
        (Duration::from_secs(3), Duration::from_secs(20))
    } else {
        (Duration::from_secs(45), Duration::from_secs(60))
    };
    let mut world = World::new(&options.bin, timers).await?;
    let started = Instant::now();
    let mut rounds = Vec::new();
    loop {
        let done = match options.limit {
            Limit::Rounds(n) => rounds.len() >= n,
            Limit::Time(t) => started.elapsed() >= t,
        };
        if done {
            break;
        }
        let fault = FaultKind::ALL
            .get(rounds.len())
            .copied()
            .unwrap_or_else(|| FaultKind::ALL[rng.random_range(0..FaultKind::ALL.len())]);
        let hold = match fault {
            FaultKind::Stall | FaultKind::BlackHole => link_hold,
            FaultKind::Delay => Duration::from_secs(3),
            FaultKind::KillBridge | FaultKind::KillHub | FaultKind::Reset => Duration::from_millis(300),
        };
        let round = world.round(fault, hold, within, &mut rng).await?;
        if options.progress {
            let verdict =
                if round.findings.held() { "held".to_owned() } else { format!("FAILED {:?}", round.findings.0) };
            eprintln!(
                "round {:>3}: {:<14} recovered in {:>9}  hub edits {}/{}  {verdict}",
                rounds.len() + 1,
                fault.name(),
                round.recovery.map_or("-".into(), ms),
                round.edits.1,
                round.edits.0,
            );
        }
        rounds.push(round);
    }
    let mut report = Report { seed, rounds, logs: None };
    if !report.all_held() {
        report.logs = Some(world.keep());
    }
    Ok(report)
}

/// Counts per fault kind, for the test's assertions.
pub fn tried(report: &Report) -> BTreeMap<FaultKind, usize> {
    let mut counts = BTreeMap::new();
    for round in &report.rounds {
        *counts.entry(round.fault).or_default() += 1;
    }
    counts
}
