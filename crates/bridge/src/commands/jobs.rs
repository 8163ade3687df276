//! The `job-*` commands: the hub's view of the pinned jobs (`crate::jobs`),
//! its proposals, and runs.
//!
//! `job-run` runs only a job pinned on this machine, turned on, in this
//! project, with its exact argv: the request carries the job id and values
//! for its typed parameters, nothing else. A job that is not unattended
//! waits for a confirmation on the machine ([`ConsentDesk`]); the run shows
//! as waiting (a `progress` message with phase `waiting`) until then, and a
//! headless bridge refuses it. The process runs without a shell in the
//! project folder; its output goes to the hub as `progress` messages, the
//! last 64 KiB come back with the result, and it is stopped at the command's
//! deadline or on `job-cancel`.
//!
//! `job-create` and `job-update` store proposals that run nothing until the
//! owner approves them (`specbridge jobs approve`); `job-delete` withdraws a
//! proposal. Every action, allowed or refused, is one audit line with who
//! asked, the argv, the parameters, the consent, the exit code and duration.

use super::model::Model;
use super::{leanspec, not_found, to_value, workflow, Ctx};
use crate::audit::AuditLog;
use crate::fsutil;
use crate::jobs::consent::{self, ConsentDesk, ConsentRequest};
use crate::jobs::history::{tail, History, LegacyDefinition};
use crate::jobs::params::{check_definition, fill, is_job_id};
use crate::jobs::process::{self, OutputSink};
use crate::jobs::{warnings, JobBook, JobsError, PinnedJob};
use crate::paths::Paths;
use serde_json::{json, Value};
use specbridge_protocol::{
    Call, Consent, ErrorBody, ErrorCode, JobAudit, JobList, JobProposeArgs, JobRunArgs, JobState, JobUpdateArgs,
    JobView, LiveRun, Message, Origin, Progress, Proposal, ProposalKind, RunOutcome, RunPhase, RunRecord,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Time kept back from the deadline to stop the process and answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// Output of the last run shown in a job's view.
const VIEW_OUTPUT: usize = 4 * 1024;
/// Audit lines `job-audit` answers at most.
const AUDIT_LIMIT: usize = 200;

/// The jobs of this bridge: the book, the history, the consent desk, and
/// the runs in progress.
#[derive(Debug)]
pub(crate) struct Jobs {
    book: JobBook,
    history: History,
    consent: Arc<ConsentDesk>,
    consent_timeout: Duration,
    running: Mutex<HashMap<String, Live>>,
}

/// A run in progress.
#[derive(Debug, Clone)]
struct Live {
    cancel: Arc<AtomicBool>,
    waiting: Arc<AtomicBool>,
    output: Arc<Mutex<Vec<u8>>>,
    command_id: String,
    started_ms: u64,
    argv: Vec<String>,
    requested_by: Option<String>,
}

impl Jobs {
    /// The jobs in these folders. Job definitions that the hub made before
    /// jobs were pinned become proposals (they run nothing until approved).
    /// Job lines go to `audit`, the engine's audit log.
    pub(crate) fn new(paths: &Paths, consent: Arc<ConsentDesk>, consent_timeout: Duration, audit: AuditLog) -> Self {
        let (history, legacy) = History::load(paths.jobs_file());
        let book = JobBook::open(paths).with_audit(audit);
        let jobs = Self { book, history, consent, consent_timeout, running: Mutex::default() };
        if !legacy.is_empty() {
            jobs.migrate(legacy);
        }
        jobs
    }

    /// Jobs in one folder (config and state), with nobody to ask: for tests.
    #[cfg(test)]
    pub(crate) fn in_folder(dir: &std::path::Path) -> Self {
        let desk = Arc::new(ConsentDesk::new(tokio::sync::broadcast::channel(4).0));
        Self::new(&Paths::at(dir), desk, Duration::from_secs(1), AuditLog::new(dir.join("audit.log")))
    }

    fn migrate(&self, legacy: Vec<LegacyDefinition>) {
        let pinned = self.book.pinned().unwrap_or_default();
        for def in legacy {
            let taken = pinned.iter().any(|j| j.id == def.id) || self.book.proposal(&def.id).is_ok();
            if taken || check_definition(&def.id, &def.name, &def.command, &BTreeMap::new()).is_err() {
                continue;
            }
            let proposal = Proposal {
                id: proposal_id(),
                job: def.id,
                kind: ProposalKind::Create,
                project: def.project,
                name: def.name,
                argv: def.command,
                params: BTreeMap::new(),
                requested_by: Some("the hub, before jobs were pinned".to_owned()),
                created_ms: fsutil::now_ms(),
            };
            if self.book.propose(&proposal).is_ok() {
                let mut audit = crate::jobs::book::proposal_audit(&proposal, Origin::Hub);
                audit.note = Some("kept as a proposal when jobs became pinned; approve it on the machine".into());
                self.book.record("migration", &proposal.project, "job-create", "ok", &audit);
            }
        }
        if let Err(error) = self.history.save() {
            tracing::warn!(%error, "cannot rewrite jobs.json after moving its job definitions to proposals");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn view(&self, job: &PinnedJob, ctx: &Ctx<'_>) -> JobView {
        let live = self.lock().get(&job.id).cloned();
        let state = match &live {
            Some(l) if l.waiting.load(Ordering::SeqCst) => JobState::Waiting,
            Some(_) => JobState::Running,
            None => JobState::Idle,
        };
        let mut last_run = self.history.last(&job.id);
        if let Some(run) = &mut last_run {
            run.output = tail(&run.output, VIEW_OUTPUT);
        }
        JobView {
            id: job.id.clone(),
            name: job.name.clone(),
            project: job.project.clone(),
            argv: job.argv.clone(),
            params: job.params.clone(),
            enabled: job.enabled,
            unattended: job.unattended,
            state,
            live: live.map(|l| LiveRun {
                command_id: l.command_id,
                started_ms: l.started_ms,
                argv: l.argv,
                requested_by: l.requested_by,
                output: String::from_utf8_lossy(&l.output.lock().unwrap_or_else(PoisonError::into_inner)).into_owned(),
            }),
            last_run,
            warnings: warnings(&job.argv, ctx.project),
        }
    }
}

pub(super) fn run(ctx: &Ctx<'_>, call: &Call) -> Result<Value, ErrorBody> {
    let jobs = ctx.jobs;
    let project = &ctx.project.id;
    let pinned = |id: &str| -> Result<PinnedJob, ErrorBody> {
        let all = jobs.book.pinned().map_err(|e| e.to_error_body())?;
        all.into_iter().find(|j| j.id == id && &j.project == project).ok_or_else(|| not_found(format!("job {id:?}")))
    };
    match call {
        Call::JobList(_) => {
            let all = jobs.book.pinned().map_err(|e| e.to_error_body())?;
            let proposals = jobs.book.proposals().map_err(|e| e.to_error_body())?;
            to_value(&JobList {
                jobs: all.iter().filter(|j| &j.project == project).map(|j| jobs.view(j, ctx)).collect(),
                proposals: proposals.into_iter().filter(|p| &p.project == project).collect(),
            })
        }
        Call::JobGet(args) => to_value(&jobs.view(&pinned(&args.id)?, ctx)),
        Call::JobHistory(args) => to_value(&jobs.history.runs(&pinned(&args.id)?.id)),
        Call::JobStats(args) => to_value(&jobs.history.stats(&pinned(&args.id)?.id)),
        Call::JobAudit(args) => to_value(&jobs.book.audit_entries(project, args.id.as_deref(), AUDIT_LIMIT)),
        Call::JobCreate(args) => audited(ctx, call, hub_audit(call), propose(ctx, args)),
        Call::JobUpdate(args) => audited(ctx, call, hub_audit(call), propose_change(ctx, args)),
        Call::JobDelete(args) => {
            let result = match jobs.book.proposal(&args.id) {
                Ok(p) if &p.project == project => jobs
                    .book
                    .withdraw(&args.id)
                    .map_err(|e| e.to_error_body())
                    .and_then(|p| to_value(&json!({ "id": p.id, "job": p.job, "deleted": true }))),
                _ if pinned(&args.id).is_ok() => Err(local_only("unpinning a job", &args.id)),
                _ => Err(not_found(format!("proposal {:?}", args.id))),
            };
            audited(ctx, call, hub_audit(call), result)
        }
        Call::JobCancel(args) => {
            let live = jobs.lock().get(&args.id).cloned();
            let result = match live {
                Some(live) => {
                    live.cancel.store(true, Ordering::SeqCst);
                    Ok(json!({ "id": args.id, "cancelled": true }))
                }
                None => Err(not_found(format!("running job {:?}", args.id))),
            };
            audited(ctx, call, hub_audit(call), result)
        }
        Call::JobRun(args) => job_run(ctx, args),
        other => Err(super::wrong_layout(other, ctx.project.layout)),
    }
}

/// Audits a hub action on jobs and passes its result through.
fn audited(
    ctx: &Ctx<'_>,
    call: &Call,
    mut audit: JobAudit,
    result: Result<Value, ErrorBody>,
) -> Result<Value, ErrorBody> {
    match &result {
        Ok(value) if audit.argv.is_empty() => {
            audit.argv = value.get("argv").and_then(|a| serde_json::from_value(a.clone()).ok()).unwrap_or_default();
        }
        Err(error) => audit.note = Some(error.message.clone()),
        Ok(_) => {}
    }
    let outcome = result.as_ref().err().map_or("ok", |e| e.code.as_str());
    ctx.jobs.book.record(ctx.request_id, &ctx.project.id, call.name().as_str(), outcome, &audit);
    result
}

/// The audit details of a command from the hub, before it runs.
fn hub_audit(call: &Call) -> JobAudit {
    let (requested_by, argv) = match call {
        Call::JobCreate(a) => (a.requested_by.clone(), a.argv.clone()),
        Call::JobUpdate(a) => (a.requested_by.clone(), a.argv.clone().unwrap_or_default()),
        Call::JobRun(a) => (a.requested_by.clone(), Vec::new()),
        _ => (None, Vec::new()),
    };
    JobAudit {
        id: call.target(),
        origin: Origin::Hub,
        requested_by,
        argv,
        params: BTreeMap::new(),
        consent: None,
        outcome: None,
        exit_code: None,
        duration_ms: None,
        note: None,
    }
}

fn proposal_id() -> String {
    format!("p_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A job id from a display name: `Run tests!` -> `run-tests`.
fn id_from(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id: String = id.trim_end_matches('-').chars().take(48).collect();
    if id.is_empty() {
        "job".to_owned()
    } else {
        id
    }
}

fn store(ctx: &Ctx<'_>, proposal: Proposal) -> Result<Value, ErrorBody> {
    check_definition(&proposal.job, &proposal.name, &proposal.argv, &proposal.params)
        .map_err(|e| JobsError::Invalid(e).to_error_body())?;
    ctx.jobs.book.propose(&proposal).map_err(|e| e.to_error_body())?;
    let mut value = to_value(&proposal)?;
    value["approve"] = json!(format!("on the machine: specbridge jobs approve {}", proposal.id));
    Ok(value)
}

/// `job-create`: a proposal for a new job.
fn propose(ctx: &Ctx<'_>, args: &JobProposeArgs) -> Result<Value, ErrorBody> {
    let job = args.id.clone().unwrap_or_else(|| id_from(&args.name));
    if !is_job_id(&job) {
        return Err(JobsError::Invalid(format!("the id {job:?} must be letters, digits, '-' or '_'")).to_error_body());
    }
    if ctx.jobs.book.job(&job).is_ok() {
        return Err(ErrorBody::new(ErrorCode::Conflict, format!("a job {job:?} is pinned already"))
            .with_hint("propose a change with job-update (PUT …/jobs/{id})"));
    }
    store(
        ctx,
        Proposal {
            id: proposal_id(),
            job,
            kind: ProposalKind::Create,
            project: ctx.project.id.clone(),
            name: args.name.clone(),
            argv: args.argv.clone(),
            params: args.params.clone(),
            requested_by: args.requested_by.clone(),
            created_ms: fsutil::now_ms(),
        },
    )
}

/// `job-update`: a proposal to change a pinned job, or a pending proposal.
fn propose_change(ctx: &Ctx<'_>, args: &JobUpdateArgs) -> Result<Value, ErrorBody> {
    if args.enabled.is_some() {
        return Err(local_only("turning a job on or off", &args.id));
    }
    if args.unattended.is_some() {
        return Err(local_only("letting a job run without asking", &args.id));
    }
    let project = &ctx.project.id;
    let (job, kind, name, argv, params) = match ctx.jobs.book.job(&args.id) {
        Ok(j) if &j.project == project => (j.id, ProposalKind::Update, j.name, j.argv, j.params),
        _ => match ctx.jobs.book.proposal(&args.id) {
            Ok(p) if &p.project == project => (p.job, p.kind, p.name, p.argv, p.params),
            _ => return Err(not_found(format!("job {:?}", args.id))),
        },
    };
    store(
        ctx,
        Proposal {
            id: proposal_id(),
            job,
            kind,
            project: project.clone(),
            name: args.name.clone().unwrap_or(name),
            argv: args.argv.clone().unwrap_or(argv),
            params: args.params.clone().unwrap_or(params),
            requested_by: args.requested_by.clone(),
            created_ms: fsutil::now_ms(),
        },
    )
}

fn local_only(what: &str, id: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, format!("{what} is only possible on the machine"))
        .with_hint(format!("on the machine: `specbridge jobs enable|disable|remove {id}` (or the tray app)"))
}

/// The spec folder a `{spec}` value names in this project.
fn spec_folder(ctx: &Ctx<'_>, name: &str) -> Result<String, ErrorBody> {
    match &*ctx.model()? {
        Model::Lean(m) => leanspec::find(m, name).map(|e| e.dir.clone()),
        Model::Workflow(w) => workflow::find(&w.specs, name).map(|s| s.name.clone()),
        Model::Generic => Err(ErrorBody::new(ErrorCode::Invalid, "this project has no specs")),
    }
}

/// What a run's audit line and record share.
struct RunContext<'a> {
    ctx: &'a Ctx<'a>,
    args: &'a JobRunArgs,
    started: Instant,
    started_ms: u64,
}

impl RunContext<'_> {
    /// Records a run (history and audit) and answers it: a run that started
    /// (or was cancelled while waiting) is a result, a refused one `forbidden`.
    fn finish(&self, argv: Vec<String>, consent: Consent, done: process::Finished) -> Result<Value, ErrorBody> {
        let run = RunRecord {
            id: self.args.id.clone(),
            run_id: format!("run_{}_{}", self.started_ms, &uuid::Uuid::new_v4().simple().to_string()[..8]),
            command_id: self.ctx.request_id.to_owned(),
            started_ms: self.started_ms,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: done.outcome,
            exit_code: done.exit_code,
            argv,
            params: self.args.params.clone(),
            requested_by: self.args.requested_by.clone(),
            consent,
            output: done.output,
        };
        if let Err(error) = self.ctx.jobs.history.record(&run) {
            tracing::warn!(%error, job = %run.id, "cannot keep the run in the history");
        }
        let refused = match consent {
            Consent::Denied => Some("the owner denied this run on the machine".to_owned()),
            Consent::TimedOut => Some(format!(
                "nobody confirmed this run on the machine within {} s",
                self.ctx.jobs.consent_timeout.as_secs()
            )),
            Consent::NoOneToAsk => {
                Some(format!("job {:?} needs a confirmation on the machine, and this bridge has no one to ask", run.id))
            }
            _ => None,
        };
        let audit = JobAudit {
            id: run.id.clone(),
            origin: Origin::Hub,
            requested_by: run.requested_by.clone(),
            argv: run.argv.clone(),
            params: run.params.clone(),
            consent: Some(consent),
            outcome: Some(run.outcome),
            exit_code: run.exit_code,
            duration_ms: Some(run.duration_ms),
            note: refused.clone(),
        };
        let outcome = if refused.is_some() { "forbidden" } else { "ok" };
        self.ctx.jobs.book.record(self.ctx.request_id, &self.ctx.project.id, "job-run", outcome, &audit);
        match refused {
            None => to_value(&run),
            Some(message) => {
                let hint = format!(
                    "the owner can answer in the tray app, or let it run without asking: \
                     `specbridge jobs enable {} --unattended` on the machine",
                    run.id
                );
                Err(ErrorBody::new(ErrorCode::Forbidden, message).with_hint(hint).with_details(to_value(&run)?))
            }
        }
    }

    /// Audits a run refused before it could be asked for.
    fn refuse(&self, error: ErrorBody) -> Result<Value, ErrorBody> {
        let mut audit = hub_audit(&Call::JobRun(self.args.clone()));
        audit.params.clone_from(&self.args.params);
        audited(self.ctx, &Call::JobRun(self.args.clone()), audit, Err(error))
    }
}

fn job_run(ctx: &Ctx<'_>, args: &JobRunArgs) -> Result<Value, ErrorBody> {
    let jobs = ctx.jobs;
    let run = RunContext { ctx, args, started: Instant::now(), started_ms: fsutil::now_ms() };
    let job = match jobs.book.pinned().map_err(|e| e.to_error_body()) {
        Ok(all) => match all.into_iter().find(|j| j.id == args.id && j.project == ctx.project.id) {
            Some(job) => job,
            None => return run.refuse(not_found(format!("job {:?}", args.id))),
        },
        Err(error) => return run.refuse(error),
    };
    if !job.enabled {
        return run.refuse(local_only(&format!("job {:?} is off; turning it on", job.id), &job.id));
    }
    if ctx.project.read_only {
        return run.refuse(ErrorBody::new(ErrorCode::Forbidden, format!("project `{}` is read-only", ctx.project.id)));
    }
    let argv = match fill(&job.argv, &job.params, &args.params, |name| spec_folder(ctx, name)) {
        Ok(argv) => argv,
        Err(error) => return run.refuse(error),
    };
    let live = Live {
        cancel: Arc::default(),
        waiting: Arc::new(AtomicBool::new(!job.unattended)),
        output: Arc::default(),
        command_id: ctx.request_id.to_owned(),
        started_ms: run.started_ms,
        argv: argv.clone(),
        requested_by: args.requested_by.clone(),
    };
    {
        let mut running = jobs.lock();
        if running.contains_key(&job.id) {
            drop(running);
            return run.refuse(
                ErrorBody::new(ErrorCode::Conflict, format!("job {:?} is already running", job.id))
                    .with_hint("wait for it, or send job-cancel"),
            );
        }
        running.insert(job.id.clone(), live.clone());
    }
    let result = consent_then_run(ctx, &run, &job, argv, &live);
    jobs.lock().remove(&job.id);
    result
}

fn consent_then_run(
    ctx: &Ctx<'_>,
    run: &RunContext<'_>,
    job: &PinnedJob,
    argv: Vec<String>,
    live: &Live,
) -> Result<Value, ErrorBody> {
    let jobs = ctx.jobs;
    let deadline = ctx.fs.deadline();
    let stop_at = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
    let seq = Arc::new(AtomicU64::new(0));
    let phase = |phase: RunPhase, until_ms: Option<u64>| {
        if let Some(tx) = &ctx.progress {
            let mut message = Progress::output(ctx.request_id, seq.fetch_add(1, Ordering::SeqCst), "");
            message.phase = Some(phase);
            message.until_ms = until_ms;
            // A phase is never dropped: the hub shows it. This runs on the blocking pool.
            let _ = tx.blocking_send(Message::Progress(message));
        }
    };
    let consent = if job.unattended {
        Consent::Unattended
    } else if !jobs.consent.can_ask() {
        Consent::NoOneToAsk
    } else {
        let until = (Instant::now() + jobs.consent_timeout).min(stop_at);
        let expires_ms =
            fsutil::now_ms() + u64::try_from(until.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(0);
        phase(RunPhase::Waiting, Some(expires_ms));
        let request = ConsentRequest {
            id: consent::request_id(),
            job: job.id.clone(),
            name: job.name.clone(),
            project: job.project.clone(),
            argv: argv.clone(),
            params: run.args.params.clone(),
            requested_by: run.args.requested_by.clone(),
            asked_ms: fsutil::now_ms(),
            expires_ms,
        };
        jobs.consent.ask(request, until, &live.cancel)
    };
    live.waiting.store(false, Ordering::SeqCst);
    if consent == Consent::AlwaysAllowed {
        if let Err(error) =
            jobs.book.set_unattended(&job.id, true, Some("Always allow, answering a run's confirmation"))
        {
            tracing::warn!(%error, job = %job.id, "cannot mark the job unattended");
        }
    }
    if !consent.allows() {
        let outcome = match consent {
            Consent::Cancelled => RunOutcome::Cancelled,
            Consent::Denied => RunOutcome::Denied,
            _ => RunOutcome::Unconfirmed,
        };
        return run.finish(argv, consent, process::Finished { outcome, exit_code: None, output: String::new() });
    }
    phase(RunPhase::Running, None);
    let progress = ctx.progress.clone().map(|tx| {
        Arc::new(ProgressSink { tx, request: ctx.request_id.to_owned(), seq: Arc::clone(&seq), held: Mutex::default() })
    });
    let sink = progress.clone().map(|p| Arc::new(move |data: &str| p.push(data)) as OutputSink);
    let done = process::run(&ctx.project.root, &argv, stop_at, &live.cancel, &live.output, sink);
    if let Some(progress) = progress {
        progress.flush();
    }
    run.finish(argv, consent, done)
}

/// Output on its way to the hub. A piece that finds the link's queue full
/// is held and goes with the next one, so a fast job costs fewer, larger
/// messages rather than lost output; only past [`HELD_OUTPUT`] is the oldest
/// held output dropped (a skipped `seq` tells the hub). The end is flushed
/// with a blocking send, so the last lines always arrive.
struct ProgressSink {
    tx: super::ProgressTx,
    request: String,
    seq: Arc<AtomicU64>,
    /// Output not sent yet, and whether some was dropped.
    held: Mutex<(String, bool)>,
}

/// Output held back at most while the link is busy.
const HELD_OUTPUT: usize = 64 * 1024;

impl ProgressSink {
    fn piece(&self, data: String, dropped: bool) -> Message {
        if dropped {
            self.seq.fetch_add(1, Ordering::SeqCst);
        }
        Message::Progress(Progress::output(self.request.clone(), self.seq.fetch_add(1, Ordering::SeqCst), data))
    }

    fn push(&self, data: &str) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.0.push_str(data);
        if held.0.len() > HELD_OUTPUT {
            held.0 = tail(&held.0, HELD_OUTPUT);
            held.1 = true;
        }
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(_) => return, // busy (or gone): keep it for the next piece
        };
        let (data, dropped) = std::mem::take(&mut *held);
        permit.send(self.piece(data, dropped));
    }

    fn flush(&self) {
        let (data, dropped) = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        if !data.is_empty() {
            // On the blocking pool, after the process ended.
            let _ = self.tx.blocking_send(self.piece(data, dropped));
        }
    }
}
