//! `specbridge-hub`: serve the hub, or manage its tokens.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use specbridge_hub::HubConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod admin;

#[derive(Parser)]
#[command(
    name = "specbridge-hub",
    version,
    about = "The specbridge hub: bridges connect here, clients read and edit here"
)]
struct Cli {
    /// Data folder (hub.db). Defaults to the platform data folder.
    #[arg(long, global = true, env = "SPECBRIDGE_HUB_DATA")]
    data_dir: Option<PathBuf>,
    /// Keep the hub's state in Postgres (`postgres://USER:PASSWORD@HOST/DB`),
    /// so several hub nodes can share it. Without it, SQLite in the data
    /// folder. Every subcommand uses it, `token create` included.
    #[arg(long, global = true, env = "SPECBRIDGE_HUB_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log lines as text (for people) or JSON objects, one per line (for
    /// journald, Loki and the like). Logs go to stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "SPECBRIDGE_HUB_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve bridges and the API until Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7700", env = "SPECBRIDGE_HUB_LISTEN")]
        listen: SocketAddr,
        /// Folder with the tray app's `latest.json` and update artifacts
        /// (re-read per request). Defaults to `<data dir>/updates`.
        #[arg(long, env = "SPECBRIDGE_HUB_UPDATES")]
        updates_dir: Option<PathBuf>,
        /// The hub sits behind a proxy that sets X-Forwarded-For: per-address
        /// limits use the address it names. Without a proxy, leave this off, or
        /// every client could pick the address it is limited as.
        #[arg(long, env = "SPECBRIDGE_HUB_BEHIND_PROXY")]
        behind_proxy: bool,
        /// On SIGTERM, answer /readyz with 503 for this long before stopping,
        /// so a load balancer takes the node out of rotation first; then
        /// bridges and dashboards get close 1001 and reconnect (through the
        /// balancer, to another node). 0 stops at once.
        #[arg(long, default_value_t = 0, env = "SPECBRIDGE_HUB_DRAIN_MS")]
        drain_ms: u64,
        /// Join the other hub nodes on this NATS server (`nats://HOST:4222`):
        /// commands reach a machine on any node, dashboards see every node's
        /// events, and presence is shared. Needs --database-url (one Postgres
        /// for every node).
        #[arg(long, env = "SPECBRIDGE_HUB_NATS_URL", requires = "database_url")]
        nats_url: Option<String>,
    },
    /// Create, list and revoke tokens.
    Token {
        #[command(subcommand)]
        action: admin::TokenAction,
    },
    /// Create and list accounts (a person or a team owns machines).
    Account {
        #[command(subcommand)]
        action: admin::AccountAction,
    },
    /// Create, list and remove the users of an account.
    User {
        #[command(subcommand)]
        action: admin::UserAction,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("", "", "specbridge-hub")
            .context("cannot find the platform data folder; pass --data-dir")?
            .data_dir()
            .to_path_buf(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let database = admin::Database { data_dir: &data_dir, url: cli.database_url.as_deref() };
    runtime.block_on(async {
        match cli.command {
            Command::Serve { listen, updates_dir, behind_proxy, drain_ms, nats_url } => {
                init_logs(cli.log_format);
                let options = ServeOptions {
                    listen,
                    updates_dir,
                    behind_proxy,
                    drain: Duration::from_millis(drain_ms),
                    database_url: cli.database_url.clone(),
                    nats_url,
                };
                serve(data_dir.clone(), options).await
            }
            Command::Token { action } => admin::token(&database, action).await,
            Command::Account { action } => admin::account(&database, action).await,
            Command::User { action } => admin::user(&database, action).await,
        }
    })
}

/// Logs to stderr, `info` unless `RUST_LOG` says otherwise. Field values are
/// escaped by either format, so a request field cannot forge a line.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// How `serve` runs.
struct ServeOptions {
    listen: SocketAddr,
    updates_dir: Option<PathBuf>,
    behind_proxy: bool,
    drain: Duration,
    database_url: Option<String>,
    nats_url: Option<String>,
}

async fn serve(data_dir: PathBuf, options: ServeOptions) -> Result<()> {
    let ServeOptions { listen, updates_dir, behind_proxy, drain, database_url, nats_url } = options;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let mut config = HubConfig::new(&data_dir);
    config.updates_dir = updates_dir;
    config.limits.behind_proxy = behind_proxy;
    config.database_url = database_url;
    config.nats_url = nats_url;
    let updates = config.updates_folder();
    let config_uses_postgres = config.database_url.is_some();
    let hub = specbridge_hub::start(config, listener).await?;
    // The database is named by engine only: its URL may carry a password.
    let database = if config_uses_postgres { "postgres" } else { "sqlite" };
    tracing::info!(url = %hub.url(), data = %data_dir.display(), updates = %updates.display(), database, "serving");
    let signal = shutdown_signal().await;
    if signal == Signal::Terminate && !drain.is_zero() {
        // A second signal during the drain stops at once.
        hub.drain();
        tracing::info!(drain_ms = drain.as_millis() as u64, "SIGTERM: draining before the stop");
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            _ = shutdown_signal() => tracing::info!("second signal: stopping now"),
        }
    }
    tracing::info!("shutting down");
    hub.shutdown().await?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Signal {
    /// Ctrl-C at a terminal: stop at once.
    Interrupt,
    /// SIGTERM from a service manager: drain first.
    Terminate,
}

async fn shutdown_signal() -> Signal {
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    Signal::Interrupt
}
