//! `specbridge jobs`: the machine owner's side of pinned jobs (list, add,
//! remove, enable, disable, approve and reject proposals from the hub).
//! Glue over [`specbridge_bridge::JobBook`]: parsing, printing, confirming.

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use specbridge_bridge::jobs::warnings;
use specbridge_bridge::{Config, JobBook, Paths, PinnedJob, Project};
use specbridge_protocol::{JobParam, Proposal, ProposalKind};
use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

#[derive(Subcommand)]
pub(crate) enum JobsAction {
    /// List the pinned jobs and the proposals from the hub waiting for you.
    List,
    /// Pin a job: an exact argv the hub may then ask to run (nothing else).
    Add {
        /// The project it runs in (its folder is the working directory).
        project: String,
        /// The job's id.
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// A typed parameter, used in the argv as a whole element `{NAME}`:
        /// NAME=spec, NAME=choice:a,b,c or NAME=integer:MIN..MAX.
        #[arg(long = "param", value_name = "NAME=KIND")]
        params: Vec<String>,
        /// Turn it on now.
        #[arg(long)]
        enable: bool,
        /// Let it run without asking on this machine.
        #[arg(long)]
        unattended: bool,
        /// Do not ask for confirmation of the warnings.
        #[arg(long)]
        yes: bool,
        /// The argv, after `--` (no shell): `-- make test`.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Unpin a job.
    Remove {
        /// The job's id.
        id: String,
    },
    /// Turn a job on.
    Enable {
        /// The job's id.
        id: String,
        /// Let it run without asking on this machine.
        #[arg(long, conflicts_with = "ask")]
        unattended: bool,
        /// Ask on this machine before each run (the tray app asks; the headless bridge then refuses).
        #[arg(long)]
        ask: bool,
        /// Do not ask for confirmation of the warnings.
        #[arg(long)]
        yes: bool,
    },
    /// Turn a job off.
    Disable {
        /// The job's id.
        id: String,
    },
    /// Pin a job proposed from the hub, exactly as shown.
    Approve {
        /// The proposal's id (or the job's).
        proposal: String,
        /// Let it run without asking on this machine.
        #[arg(long)]
        unattended: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Drop a proposal from the hub.
    Reject {
        /// The proposal's id (or the job's).
        proposal: String,
    },
}

pub(crate) fn run(paths: &Paths, action: JobsAction) -> Result<()> {
    let config = Config::load(paths)?;
    let book = JobBook::open(paths);
    match action {
        JobsAction::List => list(&book, &config),
        JobsAction::Add { project, id, name, params, enable, unattended, yes, argv } => {
            let job = PinnedJob {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                project,
                argv,
                params: parse_params(&params)?,
                enabled: false,
                unattended,
            };
            book.add(job.clone(), &config)?;
            println!("Pinned {}: {}", job.id, shown(&job.argv));
            if enable {
                confirm_risks(&config, &job, yes)?;
                book.set_enabled(&job.id, true)?;
                println!("It is on{}.", if unattended { " and runs without asking" } else { "" });
            } else {
                println!("It is off: turn it on with `specbridge jobs enable {}`.", job.id);
            }
            Ok(())
        }
        JobsAction::Remove { id } => {
            let job = book.remove(&id)?;
            println!("Unpinned {} ({}).", job.id, shown(&job.argv));
            Ok(())
        }
        JobsAction::Enable { id, unattended, ask, yes } => {
            let job = book.job(&id)?;
            confirm_risks(&config, &job, yes)?;
            book.set_enabled(&id, true)?;
            if unattended || ask {
                book.set_unattended(&id, unattended, None)?;
            }
            let job = book.job(&id)?;
            let how = if job.unattended { "runs without asking" } else { "asks on this machine before each run" };
            println!("{} is on and {how}.", job.id);
            Ok(())
        }
        JobsAction::Disable { id } => {
            book.set_enabled(&id, false)?;
            println!("{id} is off.");
            Ok(())
        }
        JobsAction::Approve { proposal, unattended, yes } => {
            let shown_proposal = book.proposal(&proposal)?;
            describe(&config, &shown_proposal);
            if !yes {
                ask("Pin this job exactly as shown and turn it on?")?;
            }
            let job = book.approve(&shown_proposal, unattended, &config)?;
            println!("Pinned {}: {}", job.id, shown(&job.argv));
            Ok(())
        }
        JobsAction::Reject { proposal } => {
            let dropped = book.reject(&proposal)?;
            println!("Dropped proposal {} for job {}.", dropped.id, dropped.job);
            Ok(())
        }
    }
}

fn list(book: &JobBook, config: &Config) -> Result<()> {
    let pinned = book.pinned()?;
    if pinned.is_empty() {
        println!("No jobs pinned. Pin one with `specbridge jobs add <project> <id> -- <argv>`.");
    }
    for job in &pinned {
        let state = match (job.enabled, job.unattended) {
            (false, _) => "off",
            (true, true) => "on, unattended",
            (true, false) => "on, asks",
        };
        println!("{:<20} {:<16} {:<14} {}", job.id, job.project, state, shown(&job.argv));
        for (name, param) in &job.params {
            println!("{:<20} {{{name}}}: {}", "", kind(param));
        }
    }
    let proposals = book.proposals()?;
    if !proposals.is_empty() {
        println!("\nProposals from the hub (they run nothing until you approve them):");
    }
    for proposal in &proposals {
        describe(config, proposal);
    }
    Ok(())
}

/// A proposal as the owner sees it before approving: everything it would pin.
fn describe(config: &Config, proposal: &Proposal) {
    let what = match proposal.kind {
        ProposalKind::Create => "new job",
        ProposalKind::Update => "change to job",
    };
    println!("  {} ({what} {}, project {})", proposal.id, proposal.job, proposal.project);
    println!("    name:  {}", proposal.name);
    println!("    argv:  {}", shown(&proposal.argv));
    for (name, param) in &proposal.params {
        println!("    {{{name}}}: {}", kind(param));
    }
    println!("    asked by {}", proposal.requested_by.as_deref().unwrap_or("(unknown)"));
    let job = PinnedJob {
        id: proposal.job.clone(),
        name: proposal.name.clone(),
        project: proposal.project.clone(),
        argv: proposal.argv.clone(),
        params: proposal.params.clone(),
        enabled: false,
        unattended: false,
    };
    for warning in risks(config, &job) {
        println!("    WARNING: {warning}");
    }
    println!("    approve: specbridge jobs approve {}", proposal.id);
}

fn risks(config: &Config, job: &PinnedJob) -> Vec<String> {
    config
        .projects
        .iter()
        .find(|p| p.id == job.project)
        .and_then(|p| Project::open(p).ok())
        .map(|project| warnings(&job.argv, &project))
        .unwrap_or_default()
}

/// Prints why the job may give the hub code execution and asks to go on.
fn confirm_risks(config: &Config, job: &PinnedJob, yes: bool) -> Result<()> {
    let found = risks(config, job);
    if found.is_empty() {
        return Ok(());
    }
    eprintln!("WARNING: enabling {} gives the hub a way to run code on this machine:", job.id);
    for warning in &found {
        eprintln!("  - {warning}");
    }
    if yes {
        return Ok(());
    }
    ask("Turn it on anyway?")
}

fn ask(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("not confirmed: pass --yes to confirm without a terminal");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("reading the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not confirmed; nothing changed")
    }
}

fn parse_params(specs: &[String]) -> Result<BTreeMap<String, JobParam>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let Some((name, kind)) = spec.split_once('=') else {
            bail!("--param {spec:?}: write NAME=spec, NAME=choice:a,b or NAME=integer:MIN..MAX");
        };
        let param = match kind.split_once(':') {
            None if kind == "spec" => JobParam::Spec,
            Some(("choice", list)) => JobParam::Choice { choices: list.split(',').map(str::to_owned).collect() },
            Some(("integer", range)) => {
                let (min, max) = range.split_once("..").context("an integer range is MIN..MAX")?;
                JobParam::Integer {
                    min: min.trim().parse().context("MIN is not a whole number")?,
                    max: max.trim().parse().context("MAX is not a whole number")?,
                }
            }
            _ => bail!("--param {spec:?}: the kind is spec, choice:a,b or integer:MIN..MAX"),
        };
        out.insert(name.to_owned(), param);
    }
    Ok(out)
}

fn kind(param: &JobParam) -> String {
    match param {
        JobParam::Spec => "a spec of the project".to_owned(),
        JobParam::Choice { choices } => format!("one of {}", choices.join(", ")),
        JobParam::Integer { min, max } => format!("a whole number {min}..{max}"),
    }
}

/// An argv as the owner reads it: each element quoted when it needs it.
fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./={}:,@+".contains(c)) {
                a.clone()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
