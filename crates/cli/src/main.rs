//! `specbridge`: the headless bridge for servers and CI.
//!
//! This binary is glue: argument parsing, prompts and printing. Everything it
//! does is a call into `specbridge_bridge`.

mod jobs;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use specbridge_bridge::{Config, Engine, EngineOptions, HubSettings, Paths, Timing, Token, VaultChoice};
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::time::Duration;

/// How long `run` waits for the engine to flush and stop after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(name = "specbridge", version, about = "Keep local spec folders in sync with a specbridge hub")]
struct Cli {
    /// Keep config and state in this folder instead of the platform folders.
    #[arg(long, global = true, env = "SPECBRIDGE_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Save the hub URL and a machine token (read from SPECBRIDGE_TOKEN, stdin, or a prompt).
    Login {
        /// The hub's URL, for example https://hub.example.com or http://127.0.0.1:7700.
        #[arg(long)]
        hub: String,
        /// Where to keep the token.
        #[arg(long, value_enum, default_value_t = VaultArg::Keychain)]
        vault: VaultArg,
        /// Read the token from standard input even when it is a terminal.
        #[arg(long)]
        token_stdin: bool,
    },
    /// Forget the token for the configured hub.
    Logout,
    /// Manage the project folders this machine shares.
    Projects {
        #[command(subcommand)]
        action: ProjectsAction,
    },
    /// Manage the jobs pinned on this machine (the only programs the hub can start here).
    Jobs {
        #[command(subcommand)]
        action: jobs::JobsAction,
    },
    /// Run the bridge in the foreground until Ctrl-C.
    Run,
    /// Show the running bridge's connection state, queue depth and last error.
    Status {
        /// Print the raw status JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ProjectsAction {
    /// Share a folder.
    Add {
        /// The project folder.
        path: PathBuf,
        /// Display name (defaults to the folder name).
        #[arg(long)]
        name: Option<String>,
        /// The hub may read but never write.
        #[arg(long)]
        read_only: bool,
    },
    /// List shared folders with their detected layout.
    List,
    /// Stop sharing a folder (by id or path). Files are not touched.
    Remove {
        /// Project id or folder path.
        project: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum VaultArg {
    /// The OS keychain (macOS Keychain, Windows Credential Manager, Secret Service).
    Keychain,
    /// A file readable only by you (mode 0600) in the config folder.
    File,
    /// The SPECBRIDGE_TOKEN environment variable, read at every start.
    Env,
}

impl From<VaultArg> for VaultChoice {
    fn from(value: VaultArg) -> Self {
        match value {
            VaultArg::Keychain => VaultChoice::Keychain,
            VaultArg::File => VaultChoice::File,
            VaultArg::Env => VaultChoice::Env,
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let paths = match &cli.home {
        Some(home) => Paths::at(home),
        None => Paths::platform().context("cannot find the platform config folder; pass --home DIR")?,
    };
    match cli.command {
        Command::Login { hub, vault, token_stdin } => login(&paths, hub, vault.into(), token_stdin),
        Command::Logout => logout(&paths),
        Command::Projects { action } => projects(&paths, action),
        Command::Jobs { action } => jobs::run(&paths, action),
        Command::Run => run(paths),
        Command::Status { json } => status(&paths, json),
    }
}

fn login(paths: &Paths, hub: String, choice: VaultChoice, token_stdin: bool) -> Result<()> {
    let hub = hub.trim_end_matches('/').to_owned();
    if !(hub.starts_with("http://") || hub.starts_with("https://")) {
        bail!("the hub URL must start with http:// or https:// (got {hub:?})");
    }
    let mut config = Config::load(paths)?;
    let vault = specbridge_bridge::vault::open(choice, paths);
    if !matches!(choice, VaultChoice::Env) {
        let token = read_token(token_stdin)?;
        vault.store(&hub, &token).with_context(|| format!("could not save the token in the {}", vault.describe()))?;
    } else if std::env::var_os("SPECBRIDGE_TOKEN").is_none() {
        eprintln!("note: SPECBRIDGE_TOKEN is not set now; set it wherever `specbridge run` starts");
    }
    config.hub = Some(HubSettings { url: hub.clone() });
    config.vault = choice;
    config.save(paths)?;
    println!("Logged in to {hub} as machine {:?} (token kept in the {}).", config.machine.name, vault.describe());
    println!("Next: `specbridge projects add <folder>` and `specbridge run`.");
    Ok(())
}

fn read_token(from_stdin: bool) -> Result<Token> {
    let raw = if let Ok(token) = std::env::var("SPECBRIDGE_TOKEN") {
        token
    } else if from_stdin || !std::io::stdin().is_terminal() {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).context("reading the token from stdin")?;
        buf
    } else {
        rpassword::prompt_password("Machine token (from `specbridge-hub token create --kind machine`): ")
            .context("reading the token from the terminal")?
    };
    let raw = raw.trim();
    if raw.is_empty() {
        bail!("no token given: pipe it on stdin, set SPECBRIDGE_TOKEN, or type it at the prompt");
    }
    Ok(Token::new(raw.to_owned()))
}

fn logout(paths: &Paths) -> Result<()> {
    let mut config = Config::load(paths)?;
    let Some(hub) = config.hub.take() else {
        println!("Not logged in.");
        return Ok(());
    };
    let vault = specbridge_bridge::vault::open(config.vault, paths);
    vault.delete(&hub.url).with_context(|| format!("could not delete the token from the {}", vault.describe()))?;
    config.save(paths)?;
    println!("Logged out of {}.", hub.url);
    Ok(())
}

fn projects(paths: &Paths, action: ProjectsAction) -> Result<()> {
    let mut config = Config::load(paths)?;
    match action {
        ProjectsAction::Add { path, name, read_only } => {
            let project = config.add_project(&path, name)?;
            project.read_only = read_only;
            let project = project.clone();
            // The engine would refuse to start with it: say so now, and keep the config as it was.
            specbridge_bridge::Project::open(&project)?.check_private(&[&paths.config_dir, &paths.state_dir])?;
            config.save(paths)?;
            let layout = specbridge_bridge::project::detect_layout(&project.path);
            println!("Added {} ({layout}) at {}{}", project.id, project.path.display(), ro(project.read_only));
            println!("A running `specbridge run` picks it up after a restart.");
        }
        ProjectsAction::List => {
            if config.projects.is_empty() {
                println!("No projects. Add one with `specbridge projects add <folder>`.");
            }
            for project in &config.projects {
                let layout = specbridge_bridge::project::detect_layout(&project.path);
                println!(
                    "{:<20} {:<14} {}{}",
                    project.id,
                    layout.to_string(),
                    project.path.display(),
                    ro(project.read_only)
                );
            }
        }
        ProjectsAction::Remove { project } => {
            let removed = config.remove_project(&project)?;
            config.save(paths)?;
            println!("Removed {} ({}); its files were not touched.", removed.id, removed.path.display());
        }
    }
    Ok(())
}

fn ro(read_only: bool) -> &'static str {
    if read_only {
        " [read-only]"
    } else {
        ""
    }
}

fn run(paths: Paths) -> Result<()> {
    // `Targets` takes RUST_LOG's `target=level,…` form without pulling a regex
    // engine into a binary that must stay small.
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
    let config = Config::load(&paths)?;
    let Some(hub) = config.hub.clone() else {
        bail!("no hub configured: run `specbridge login --hub <url>` first");
    };
    if config.projects.is_empty() {
        bail!("no projects to share: run `specbridge projects add <folder>` first");
    }
    let vault = specbridge_bridge::vault::open(config.vault, &paths);
    let token = vault
        .load(&hub.url)
        .with_context(|| format!("could not read the token from the {}", vault.describe()))?
        .with_context(|| format!("no token for {} in the {}: run `specbridge login`", hub.url, vault.describe()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = Engine::start(EngineOptions { paths, config, token, timing: Timing::default() }).await?;
        let mut events = engine.subscribe();
        let outcome = loop {
            tokio::select! {
                _ = shutdown_signal() => break Ok(()),
                event = events.recv() => match event {
                    Ok(specbridge_bridge::EngineEvent::LinkChanged(specbridge_bridge::LinkState::Unauthorized)) => {
                        break Err(anyhow::anyhow!(
                            "the hub refused the token (401); create a new machine token and run `specbridge login`"
                        ));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break Ok(()),
                },
            }
        };
        tracing::info!("stopping");
        engine.shutdown(SHUTDOWN_GRACE).await?;
        outcome
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn status(paths: &Paths, json: bool) -> Result<()> {
    let Some(report) = specbridge_bridge::read_status(paths)? else {
        println!("Not running: no status yet. Start the bridge with `specbridge run`.");
        return Ok(());
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let status = &report.status;
    let state = if report.running { status.link.to_string() } else { format!("not running (last: {})", status.link) };
    println!("Connection:  {state}");
    println!("Hub:         {}", status.hub_url);
    println!("Queue depth: {}", status.queue_depth);
    match &status.state_problem {
        None => println!("State:       ok"),
        Some(problem) => {
            println!("State:       {} ({})", problem.message, problem.code);
            println!("             {}", problem.hint);
        }
    }
    println!("Last error:  {}", status.last_error.as_deref().unwrap_or("none"));
    for project in &status.projects {
        println!(
            "  {:<20} {:<14} {:>6} files  {}{}",
            project.id,
            project.layout,
            project.files,
            project.path.display(),
            ro(project.read_only)
        );
    }
    Ok(())
}
