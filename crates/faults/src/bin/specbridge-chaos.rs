//! `specbridge-chaos`: the fault harness's processes and drivers.
//!
//! - `hub` / `bridge`: a hub or a bridge engine, as `specbridge-hub serve` and
//!   `specbridge run` start them, with optional short heartbeats; the harness
//!   kills these with SIGKILL.
//! - `soak --minutes N`: rounds of faults with the invariant checks after
//!   each; prints what it tried and what held (`scripts/chaos.sh`).
//! - `bench`: the recovery numbers of docs/benchmarks.md (`scripts/bench.sh recovery`).

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use specbridge_bridge::{Config, Engine, EngineOptions, Paths, Timing, Token};
use specbridge_hub::HubConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "specbridge-chaos", about = "Fault injection for specbridge")]
struct Cli {
    #[command(subcommand)]
    command: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Serve a hub until SIGTERM (or SIGKILL).
    Hub {
        /// Data folder.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// Ping a quiet bridge after this many ms, drop it after three times that.
        #[arg(long)]
        heartbeat_ms: Option<u64>,
        /// Keep the state in this Postgres database (as `serve --database-url`).
        #[arg(long)]
        database_url: Option<String>,
        /// Join the other nodes on this NATS server (as `serve --nats-url`).
        #[arg(long)]
        nats_url: Option<String>,
        /// Behind a balancer that sets X-Forwarded-For (as `serve --behind-proxy`).
        #[arg(long)]
        behind_proxy: bool,
    },
    /// Run a bridge engine from a home folder; the token is in SPECBRIDGE_TOKEN.
    Bridge {
        /// The bridge's home (config and state).
        #[arg(long)]
        home: PathBuf,
        /// Ping interval and pong timeout in ms (write timeout: twice that).
        #[arg(long)]
        heartbeat_ms: Option<u64>,
    },
    /// Two hub nodes on Postgres + NATS behind haproxy: memory per idle
    /// bridge, failover after a node dies, commands and events across nodes.
    BenchCluster {
        /// Idle bridges (each needs three file descriptors here: raise `ulimit -n`).
        #[arg(long, default_value_t = 2000)]
        bridges: usize,
    },
    /// Rounds of faults against a hub and a bridge process, checking the invariants after each.
    Soak {
        /// How long to run.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Short heartbeats (1 s) so stalls and black holes are found in seconds, not 40 s.
        #[arg(long)]
        fast: bool,
        /// Seed for the choice of faults (random when absent).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Measure recovery: hub crashes with many bridges, dead-link detection, reconnect bytes.
    Bench {
        /// Only the sections whose name contains this (crash, deadlink, bytes).
        section: Option<String>,
        /// Bridges for the crash section.
        #[arg(long, default_value_t = 50)]
        bridges: usize,
        /// Successive hub crashes.
        #[arg(long, default_value_t = 5)]
        crashes: usize,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Role::Hub { data, listen, heartbeat_ms, database_url, nats_url, behind_proxy } => {
                let mut config = HubConfig::new(&data);
                config.limits.behind_proxy = behind_proxy;
                config.database_url = database_url;
                config.nats_url = nats_url;
                hub(config, listen, heartbeat_ms).await
            }
            Role::Bridge { home, heartbeat_ms } => bridge(home, heartbeat_ms).await,
            Role::Soak { minutes, fast, seed } => {
                let bin = std::env::current_exe().context("finding this binary")?;
                let report = specbridge_faults::soak::run(specbridge_faults::soak::Options {
                    bin,
                    limit: specbridge_faults::soak::Limit::Time(Duration::from_secs_f64(minutes * 60.0)),
                    fast,
                    seed,
                    progress: true,
                })
                .await?;
                println!("{report}");
                if !report.all_held() {
                    bail!("some invariants did not hold (see above)");
                }
                Ok(())
            }
            Role::BenchCluster { bridges } => {
                let bin = std::env::current_exe().context("finding this binary")?;
                specbridge_faults::bench_cluster::run(&bin, bridges).await?;
                Ok(())
            }
            Role::Bench { section, bridges, crashes } => {
                let bin = std::env::current_exe().context("finding this binary")?;
                specbridge_faults::bench::run(&bin, section.as_deref(), bridges, crashes).await?;
                Ok(())
            }
        }
    })
}

async fn hub(mut config: HubConfig, listen: SocketAddr, heartbeat_ms: Option<u64>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    if let Some(ms) = heartbeat_ms {
        config.bridge_ping_interval = Duration::from_millis(ms);
        config.bridge_idle_timeout = Duration::from_millis(ms * 3);
    }
    let hub = specbridge_hub::start(config, listener).await?;
    tracing::info!(url = %hub.url(), "serving");
    terminated().await;
    hub.shutdown().await?;
    Ok(())
}

async fn bridge(home: PathBuf, heartbeat_ms: Option<u64>) -> Result<()> {
    let paths = Paths::at(&home);
    let config = Config::load(&paths)?;
    let token = std::env::var("SPECBRIDGE_TOKEN").context("SPECBRIDGE_TOKEN is not set")?;
    let mut timing = Timing::default();
    if let Some(ms) = heartbeat_ms {
        timing.ping_interval = Duration::from_millis(ms);
        timing.pong_timeout = Duration::from_millis(ms);
        timing.write_timeout = Duration::from_millis(ms * 2);
    }
    let engine = Engine::start(EngineOptions { paths, config, token: Token::new(token), timing }).await?;
    terminated().await;
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
