//! Jobs: named commands the hub may run in a project folder.
//!
//! Definitions made from the hub (`job-create`, `job-update`, `job-delete`)
//! live in the bridge's own state (`jobs.json`), never in the project. What
//! may actually run is decided locally, in `config.toml` under `[jobs]`: a job
//! runs only if its id is in `enabled`, its argv starts with an `allow`
//! entry, and its id is in `unattended` (runs without a local confirmation,
//! which this engine cannot ask for). So a new job is off until the machine's owner turns it on, and the
//! hub can never widen what runs.
//!
//! `job-run` runs the argv directly (no shell) in the project folder, sends
//! its output to the hub as `progress` messages while it runs, keeps the last
//! 64 KiB for the result and the history, and stops the process at the command's deadline
//! or on `job-cancel`. Every run is kept in the history (the last 50 per job).

use super::{not_found, to_value, Ctx};
use crate::config::JobsConfig;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use specbridge_protocol::{Call, CommandKind, ErrorBody, ErrorCode, JobArgs, Message, Progress};
use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Output kept per run (the tail).
const OUTPUT_TAIL: usize = 64 * 1024;
/// Runs kept per job.
const HISTORY: usize = 50;
/// Time kept back from the deadline to stop the process and answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// A job definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JobDef {
    id: String,
    name: String,
    project: String,
    command: Vec<String>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    run_id: String,
    started_ms: u64,
    duration_ms: u64,
    /// `succeeded`, `failed`, `timed_out`, `cancelled` or `error`.
    outcome: String,
    exit_code: Option<i32>,
    output: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct JobsFile {
    #[serde(default)]
    jobs: Vec<JobDef>,
    #[serde(default)]
    runs: BTreeMap<String, Vec<Run>>,
}

/// The jobs of this bridge: definitions, history, the local gate, and the
/// cancel flags of runs in progress.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    path: Option<PathBuf>,
    gate: JobsConfig,
    file: Mutex<JobsFile>,
    running: Mutex<HashMap<String, Live>>,
}

/// A run in progress: its cancel flag and the output so far.
#[derive(Debug, Clone, Default)]
struct Live {
    cancel: Arc<AtomicBool>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Jobs {
    /// Loads `jobs.json` (a missing or unreadable file starts empty).
    pub(crate) fn load(path: PathBuf, gate: JobsConfig) -> Self {
        let file = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Self { path: Some(path), gate, file: Mutex::new(file), running: Mutex::default() }
    }

    fn file(&self) -> MutexGuard<'_, JobsFile> {
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, file: &JobsFile) -> Result<(), ErrorBody> {
        let Some(path) = &self.path else { return Ok(()) };
        let bytes = serde_json::to_vec_pretty(file).map_err(crate::mutation::internal)?;
        fsutil::atomic_write(path, &bytes, Some(fsutil::PRIVATE_FILE))
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot save jobs.json: {e}")))
    }

    fn allowed(&self, command: &[String]) -> bool {
        self.gate.allow.iter().any(|prefix| !prefix.is_empty() && command.starts_with(prefix))
    }

    fn enabled(&self, id: &str) -> bool {
        self.gate.enabled.iter().any(|e| e == id)
    }

    fn describe(&self, def: &JobDef, runs: Option<&Vec<Run>>) -> Value {
        let live = self.running.lock().unwrap_or_else(PoisonError::into_inner).get(&def.id).cloned();
        // While a run is in progress, its output so far (the tail) is here: a
        // dashboard polls job-get to follow it.
        let live_output = live
            .as_ref()
            .map(|l| String::from_utf8_lossy(&l.output.lock().unwrap_or_else(PoisonError::into_inner)).into_owned());
        json!({
            "id": def.id, "name": def.name, "project": def.project, "command": def.command,
            "enabled": self.enabled(&def.id), "allowed": self.allowed(&def.command),
            "unattended": self.gate.unattended.iter().any(|u| u == &def.id), "running": live.is_some(),
            "live_output": live_output, "last_run": runs.and_then(|r| r.first()),
        })
    }
}

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let result = dispatch(ctx, call);
    if call.name().kind() != CommandKind::Read {
        // Jobs change the bridge's state or run a process: audited like file mutations.
        ctx.fs.audit(&format!("jobs/{}", call.target()), None, None, &result);
    }
    result
}

fn dispatch(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let jobs = ctx.jobs;
    let project = &ctx.project.id;
    let find = |file: &JobsFile, id: &str| -> Result<JobDef, ErrorBody> {
        file.jobs
            .iter()
            .find(|j| j.id == id && &j.project == project)
            .cloned()
            .ok_or_else(|| not_found(format!("job {id:?}")))
    };
    match call {
        Call::JobList(_) => {
            let file = jobs.file();
            Ok(Value::Array(
                file.jobs
                    .iter()
                    .filter(|j| &j.project == project)
                    .map(|j| jobs.describe(j, file.runs.get(&j.id)))
                    .collect(),
            ))
        }
        Call::JobGet(args) => {
            let file = jobs.file();
            let def = find(&file, &args.id)?;
            Ok(jobs.describe(&def, file.runs.get(&def.id)))
        }
        Call::JobHistory(args) => {
            let file = jobs.file();
            let def = find(&file, &args.id)?;
            to_value(&file.runs.get(&def.id).cloned().unwrap_or_default())
        }
        Call::JobStats(args) => {
            let file = jobs.file();
            let def = find(&file, &args.id)?;
            let runs = file.runs.get(&def.id).cloned().unwrap_or_default();
            let count = |o: &str| runs.iter().filter(|r| r.outcome == o).count();
            let total: u64 = runs.iter().map(|r| r.duration_ms).sum();
            Ok(json!({
                "id": def.id, "runs": runs.len(), "succeeded": count("succeeded"), "failed": count("failed"),
                "timed_out": count("timed_out"), "cancelled": count("cancelled"), "errors": count("error"),
                "average_duration_ms": if runs.is_empty() { 0 } else { total / runs.len() as u64 },
                "last_exit_code": runs.first().and_then(|r| r.exit_code),
            }))
        }
        Call::JobCreate(args) => {
            let id = args.id.clone().unwrap_or_else(|| format!("job_{}", super::random_suffix()));
            check_def(&id, &args.name, &args.command)?;
            let mut file = jobs.file();
            if file.jobs.iter().any(|j| j.id == id) {
                return Err(ErrorBody::new(ErrorCode::Conflict, format!("job {id:?} already exists")));
            }
            let def = JobDef { id, name: args.name.clone(), project: project.clone(), command: args.command.clone() };
            file.jobs.push(def.clone());
            jobs.save(&file)?;
            Ok(jobs.describe(&def, None))
        }
        Call::JobUpdate(args) => {
            if args.enabled.is_some() {
                return Err(local_only("turning a job on or off"));
            }
            let mut file = jobs.file();
            let mut def = find(&file, &args.id)?;
            def.name = args.name.clone().unwrap_or(def.name);
            def.command = args.command.clone().unwrap_or(def.command);
            check_def(&def.id, &def.name, &def.command)?;
            if let Some(slot) = file.jobs.iter_mut().find(|j| j.id == def.id) {
                slot.clone_from(&def);
            }
            jobs.save(&file)?;
            Ok(jobs.describe(&def, file.runs.get(&def.id)))
        }
        Call::JobDelete(args) => {
            let mut file = jobs.file();
            let def = find(&file, &args.id)?;
            file.jobs.retain(|j| j.id != def.id);
            file.runs.remove(&def.id);
            jobs.save(&file)?;
            Ok(json!({ "id": def.id, "deleted": true }))
        }
        Call::JobCancel(args) => {
            let live = jobs.running.lock().unwrap_or_else(PoisonError::into_inner).get(&args.id).cloned();
            match live {
                Some(live) => {
                    live.cancel.store(true, Ordering::SeqCst);
                    Ok(json!({ "id": args.id, "cancelled": true }))
                }
                None => Err(not_found(format!("running job {:?}", args.id))),
            }
        }
        Call::JobRun(args) => job_run(ctx, args),
        other => Err(super::wrong_layout(other, ctx.project.layout)),
    }
}

fn check_def(id: &str, name: &str, command: &[String]) -> Result<(), ErrorBody> {
    let id_ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok || name.trim().is_empty() || command.is_empty() || command[0].is_empty() {
        return Err(ErrorBody::new(
            ErrorCode::Invalid,
            "a job needs an id (letters, digits, - or _), a name and an argv",
        )
        .with_hint("command is an argv list such as [\"cargo\", \"test\"]; no shell is involved"));
    }
    Ok(())
}

fn local_only(what: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, format!("{what} is only possible on the machine"))
        .with_hint("edit [jobs] in the bridge's config.toml: `enabled` lists job ids, `allow` lists argv prefixes")
}

fn job_run(ctx: &Ctx<'_>, args: &JobArgs) -> Result<Value, ErrorBody> {
    let jobs = ctx.jobs;
    let def = {
        let file = jobs.file();
        file.jobs.iter().find(|j| j.id == args.id && j.project == ctx.project.id).cloned()
    }
    .ok_or_else(|| not_found(format!("job {:?}", args.id)))?;
    if !jobs.enabled(&def.id) {
        return Err(local_only(&format!("job {:?} is off; turning it on", def.id)));
    }
    if !jobs.allowed(&def.command) {
        return Err(local_only(&format!("{:?} is not allow-listed; allowing it", def.command.join(" "))));
    }
    if !jobs.gate.unattended.iter().any(|u| u == &def.id) {
        // Design §4: a run asks for local confirmation unless the user turned that off
        // for the job. This engine has no one to ask, so only unattended jobs run.
        return Err(ErrorBody::new(ErrorCode::Forbidden, format!("job {:?} needs a local confirmation", def.id))
            .with_hint("to let it run without asking, add its id to `unattended` under [jobs] in config.toml"));
    }
    if ctx.project.read_only {
        return Err(ErrorBody::new(ErrorCode::Forbidden, format!("project `{}` is read-only", ctx.project.id)));
    }
    let live = Live::default();
    {
        let mut running = jobs.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.contains_key(&def.id) {
            return Err(ErrorBody::new(ErrorCode::Conflict, format!("job {:?} is already running", def.id))
                .with_hint("wait for it, or send job-cancel"));
        }
        running.insert(def.id.clone(), live.clone());
    }
    let run = execute(ctx, &def, &live);
    jobs.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&def.id);
    let mut file = jobs.file();
    let history = file.runs.entry(def.id.clone()).or_default();
    history.insert(0, run.clone());
    history.truncate(HISTORY);
    jobs.save(&file)?;
    let mut value = to_value(&run)?;
    value["id"] = json!(def.id);
    Ok(value)
}

fn execute(ctx: &Ctx<'_>, def: &JobDef, live: &Live) -> Run {
    let cancel = &live.cancel;
    let started = Instant::now();
    let started_ms = fsutil::now_ms();
    let run_id = format!("run_{started_ms}_{}", super::random_suffix());
    let finish = |outcome: &str, exit_code: Option<i32>, output: String| Run {
        run_id: run_id.clone(),
        started_ms,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome: outcome.to_owned(),
        exit_code,
        output,
    };
    // jobs.json may have been edited by hand: an empty argv is an error, not a panic.
    let Some((program, rest)) = def.command.split_first() else {
        return finish("error", None, "the job has an empty command".to_owned());
    };
    let spawned = std::process::Command::new(program)
        .args(rest)
        .current_dir(&ctx.project.root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return finish("error", None, format!("cannot start {program}: {e}")),
    };
    let output = Arc::clone(&live.output);
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        let output = Arc::clone(&output);
        let progress = ctx.progress.clone();
        let (request, seq) = (ctx.request_id.to_owned(), Arc::clone(&seq));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Some(tx) = &progress {
                    // Best effort: a full queue drops this piece (the result carries the tail).
                    let data = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let seq = seq.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.try_send(Message::Progress(Progress { id: request.clone(), seq, data }));
                }
                let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
                out.extend_from_slice(&buf[..n]);
                let excess = out.len().saturating_sub(OUTPUT_TAIL);
                out.drain(..excess);
            }
        })
    })
    .collect();
    let deadline = ctx.fs.deadline();
    let stop_at = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
    let (outcome, code) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (if status.success() { "succeeded" } else { "failed" }, status.code()),
            Ok(None) => {}
            Err(_) => break ("error", None),
        }
        let why = if cancel.load(Ordering::SeqCst) {
            Some("cancelled")
        } else if Instant::now() >= stop_at {
            Some("timed_out")
        } else {
            None
        };
        if let Some(why) = why {
            let _ = child.kill();
            let _ = child.wait();
            break (why, None);
        }
        pause(Duration::from_millis(20));
    };
    // A grandchild may keep a pipe open: wait a moment for the readers, no more.
    let until = Instant::now() + Duration::from_millis(200);
    while readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
        pause(Duration::from_millis(5));
    }
    let text = String::from_utf8_lossy(&output.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    finish(outcome, code, text)
}

/// Waits a moment between polls of the child. This runs on the blocking pool
/// (the executor's `spawn_blocking`), never on an async worker, so blocking the
/// thread is what we want; `park_timeout` may wake early, which only costs a poll.
fn pause(duration: Duration) {
    std::thread::park_timeout(duration);
}
