//! The one road every command takes from a client to a machine.
//!
//! ```text
//! REST route (table.rs, routes.rs, api.rs) -> submit ─┬─ read: router -> bridge -> answer
//!                                                      └─ recorded: store row `queued` -> lane -> router -> bridge
//!                                                                   answer -> row `applied`/`failed`/… -> waiter, dashboards
//! ```
//!
//! A read (a command of kind `Read`) goes straight to the machine. Every other
//! command is **recorded**: stored as a row before anything is sent, so a hub
//! restart or a kill -9 loses nothing that was accepted. Each machine has one
//! **lane**, a task that sends its rows in order: file edits one at a time,
//! each waiting for its answer (so edits apply in the order they were
//! accepted, each under the bridge's conflict rule), jobs without waiting.
//! The lane runs while the machine is online and starts again when it
//! reconnects. A row sent without an answer (a timeout, a lost connection) is
//! in doubt and is sent again with the same id; the bridge answers from its
//! journal, so nothing is applied twice, and never starts or commits a
//! command after its absolute deadline (`expires_at_ms`).
//!
//! What it does not know: HTTP shapes (the route modules), sockets (the
//! router and sessions), or SQL (the store).

pub(crate) mod routes;
pub(crate) mod table;

use crate::events::HubEvent;
use crate::metrics::StoreOp;
use crate::router::RouteError;
use crate::store::{expired_in_queue, CommandRecord, CommandState, Finish, Inserted, NewCommand};
use crate::{now_ms, HubState};
use serde::Serialize;
use specbridge_protocol::{Call, Command, CommandKind, CommandName, ErrorBody, ErrorCode, Progress, Response};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

/// How long past a command's deadline the hub still waits for its answer:
/// the bridge commits only before the deadline, and the answer is then on
/// its way.
const ANSWER_GRACE: Duration = Duration::from_secs(1);
/// Rows a lane reads at once.
const LANE_BATCH: u32 = 64;
/// How often queued commands past their deadline are expired.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How long finished commands stay readable (`GET /v1/commands/{id}`).
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a caller asks for.
#[derive(Debug)]
pub(crate) struct Request {
    /// The caller's account.
    pub(crate) account: String,
    /// The machine that runs it.
    pub(crate) machine: String,
    /// The project.
    pub(crate) project: String,
    /// The command.
    pub(crate) call: Call,
    /// Keep it for an offline machine instead of failing with `offline`.
    pub(crate) queue: bool,
    /// How long the caller waits for the answer.
    pub(crate) timeout: Duration,
    /// The caller's idempotency key: a retried request with the same key is the same command.
    pub(crate) key: Option<String>,
    /// Where the command's progress goes (a streamed `job-run`).
    pub(crate) progress: Option<mpsc::Sender<Progress>>,
}

/// How a submitted command ended, as far as the caller waited.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A read's result.
    Read(serde_json::Value),
    /// A recorded command whose fate is known.
    Done(CommandRecord),
    /// Kept for later: the machine is offline (or busy with earlier commands).
    Queued(CommandRecord),
    /// Sent, but no answer came in time: it may or may not have been applied.
    InDoubt(CommandRecord),
}

/// A recorded command as clients see it (REST and `/ws/dashboard`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct CommandView {
    pub(crate) id: String,
    pub(crate) machine: String,
    pub(crate) project: String,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) target: String,
    pub(crate) state: CommandState,
    pub(crate) attempts: i64,
    pub(crate) created_ms: i64,
    pub(crate) expires_ms: i64,
    /// The caller was told "queued": dashboards announce its result when it comes.
    pub(crate) deferred: bool,
    pub(crate) sent_ms: Option<i64>,
    pub(crate) finished_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorBody>,
}

impl From<&CommandRecord> for CommandView {
    fn from(record: &CommandRecord) -> Self {
        let c = &record.command;
        Self {
            id: c.id.clone(),
            machine: c.machine_id.clone(),
            project: c.project_id.clone(),
            name: c.name.clone(),
            summary: c.summary.clone(),
            target: c.target.clone(),
            state: record.state,
            attempts: record.attempts,
            created_ms: c.created_ms,
            expires_ms: c.expires_ms,
            deferred: c.deferred,
            sent_ms: record.sent_ms,
            finished_ms: record.finished_ms,
            result: record.result.clone(),
            error: record.error.clone(),
        }
    }
}

/// The service's in-memory part: who waits for which command, which machines
/// have a lane running, which job commands are out. The truth is in the store.
#[derive(Debug, Default)]
pub(crate) struct CommandService {
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<CommandRecord>>>>,
    /// Machines with a running lane; `true`: kicked again while running.
    lanes: Mutex<HashMap<String, bool>>,
    /// Job commands sent and not answered yet (their lane does not wait for them).
    out: Mutex<HashSet<String>>,
    progress: Mutex<HashMap<String, mpsc::Sender<Progress>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The id the bridge sees: fresh, or derived from the caller's key so a
/// retried request names the same command (scoped to the account).
pub(crate) fn command_id(account: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => {
            let digest = blake3::hash(format!("{account}\0{key}").as_bytes()).to_hex();
            format!("k_{}", &digest[..32])
        }
        None => format!("c_{}", uuid::Uuid::new_v4().simple()),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Sends a command and waits for its outcome, up to the caller's timeout.
pub(crate) async fn submit(hub: &Arc<HubState>, request: Request) -> Result<Outcome, ErrorBody> {
    let Request { account, machine, project, mut call, queue, timeout, key, progress } = request;
    // Who asked, as this hub authenticated them, on every road (a client's own value is replaced).
    call.set_requester(&format!("account {account}"));
    if !call.name().is_recorded() {
        let mut command = Command::new(command_id(&account, None), project, &call, ms_u64(timeout));
        command.expires_at_ms = u64::try_from(now_ms() + millis(timeout)).ok();
        return read(hub, &machine, command, timeout, progress).await.map(Outcome::Read).map_err(|e| e.into_body());
    }
    if !queue && !hub.is_online(&machine) {
        return Err(RouteError::NotConnected.into_body());
    }
    // Decided once: a caller told "queued" learns the result later, not from this call.
    let deferred = queue && !hub.is_online(&machine);
    let now = now_ms();
    let ttl = if queue { hub.config.queue_ttl } else { timeout };
    let new = NewCommand {
        id: command_id(&account, key.as_deref()),
        account_id: account,
        machine_id: machine.clone(),
        project_id: project,
        name: call.name().as_str().to_owned(),
        args: call.args(),
        summary: call.summary(),
        target: call.target(),
        created_ms: now,
        expires_ms: now + millis(ttl),
        deferred,
    };
    let id = new.id.clone();
    // Registered before the row exists, so an answer cannot slip past us.
    let (tx, answer) = oneshot::channel();
    lock(&hub.commands.waiters).entry(id.clone()).or_default().push(tx);
    let record = match hub.metrics.time(StoreOp::insert_command, hub.store.insert_command(&new)).await {
        Ok(Inserted::New(record)) => record,
        Ok(Inserted::Existing(record)) => {
            if record.command.name != new.name || record.command.args != new.args {
                drop(answer);
                forget_waiters(hub, &id);
                return Err(ErrorBody::new(ErrorCode::Invalid, "this Idempotency-Key was used for another command")
                    .with_hint("use a new key for each distinct edit; reuse it only to retry the same request"));
            }
            if record.state.is_final() {
                drop(answer);
                forget_waiters(hub, &id);
                return Ok(Outcome::Done(record));
            }
            record
        }
        Err(error) => {
            drop(answer);
            forget_waiters(hub, &id);
            return Err(crate::error::ApiError::from(error).0);
        }
    };
    if let Some(progress) = progress {
        lock(&hub.commands.progress).insert(id.clone(), progress);
    }
    hub.events.publish(HubEvent::QueueChanged { machine: machine.clone() });
    kick(hub, &machine);
    if deferred {
        drop(answer);
        forget_waiters(hub, &id);
        return Ok(Outcome::Queued(record));
    }
    // The answer, or word that the lane gave up on it for now (the machine left).
    let waited = tokio::time::timeout(timeout + ANSWER_GRACE, answer).await;
    lock(&hub.commands.progress).remove(&id);
    if let Ok(Ok(record)) = waited {
        if record.state.is_final() {
            return Ok(Outcome::Done(record));
        }
    }
    forget_waiters(hub, &id);
    if !queue {
        // Not sent in time (a backlog, or the machine left): it must never go out late.
        let finish = Finish { state: CommandState::Expired, result: None, error: Some(expired_in_queue()) };
        let finished = hub.store.finish_command(&id, &[CommandState::Queued], &finish, now_ms());
        if let Ok(Some(record)) = hub.metrics.time(StoreOp::finish_command, finished).await {
            announce(hub, &record);
            if !hub.is_online(&machine) {
                return Err(RouteError::NotConnected.into_body());
            }
            return Ok(Outcome::Done(record));
        }
    }
    match hub.store.get_command(&id).await {
        Ok(Some(record)) if record.state.is_final() => Ok(Outcome::Done(record)),
        Ok(Some(record)) if record.state == CommandState::Queued => Ok(Outcome::Queued(record)),
        Ok(Some(record)) => Ok(Outcome::InDoubt(record)),
        Ok(None) => Err(ErrorBody::new(ErrorCode::Internal, "the command vanished from the store")),
        Err(error) => Err(crate::error::ApiError::from(error).0),
    }
}

/// A read goes to the machine's session on this node, or through NATS to
/// the node that has it.
async fn read(
    hub: &HubState,
    machine: &str,
    command: Command,
    wait: Duration,
    progress: Option<mpsc::Sender<Progress>>,
) -> Result<serde_json::Value, RouteError> {
    match (&hub.cluster, hub.router.is_online(machine)) {
        (Some(cluster), false) => cluster.read(machine, command, wait).await,
        _ => hub.router.send(machine, command, wait, progress).await,
    }
}

/// Another node finished a command (its `command_result` event came over
/// NATS): callers here waiting for it get the stored outcome.
pub(crate) fn finished_elsewhere(hub: &Arc<HubState>, id: &str) {
    if !lock(&hub.commands.waiters).contains_key(id) {
        return;
    }
    let (hub, id) = (Arc::clone(hub), id.to_owned());
    hub.tracker.clone().spawn(async move {
        match hub.store.get_command(&id).await {
            Ok(Some(record)) if record.state.is_final() => wake_waiters(&hub, &record),
            Ok(_) => {}
            Err(error) => tracing::warn!(%id, %error, "cannot read a command finished on another node"),
        }
    });
}

fn ms_u64(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Drops the waiters of `id` that stopped waiting (another caller retrying
/// the same key may still wait).
fn forget_waiters(hub: &HubState, id: &str) {
    let mut waiters = lock(&hub.commands.waiters);
    if let Some(list) = waiters.get_mut(id) {
        list.retain(|w| !w.is_closed());
        if list.is_empty() {
            waiters.remove(id);
        }
    }
}

/// A machine connected: send what waits for it.
pub(crate) fn machine_online(hub: &Arc<HubState>, machine: &str) {
    kick(hub, machine);
}

/// Starts the machine's lane, or tells the running one to look again. A
/// machine connected to another node has its lane there: that node is told.
fn kick(hub: &Arc<HubState>, machine: &str) {
    if let Some(cluster) = hub.cluster.as_ref().filter(|_| !hub.router.is_online(machine)) {
        let (cluster, machine) = (Arc::clone(cluster), machine.to_owned());
        hub.tracker.spawn(async move {
            if !cluster.kick(&machine).await {
                tracing::debug!(%machine, "no node has the machine; its command waits in the queue");
            }
        });
        return;
    }
    {
        let mut lanes = lock(&hub.commands.lanes);
        if let Some(again) = lanes.get_mut(machine) {
            *again = true;
            return;
        }
        lanes.insert(machine.to_owned(), false);
    }
    let (hub, machine) = (Arc::clone(hub), machine.to_owned());
    hub.tracker.clone().spawn(lane(hub, machine));
}

/// Sends a machine's pending commands in order while it is online.
async fn lane(hub: Arc<HubState>, machine: String) {
    loop {
        while !hub.cancel.is_cancelled() && hub.router.is_online(&machine) {
            match next_row(&hub, &machine).await {
                Some(record) => {
                    if !send_row(&hub, record).await {
                        break;
                    }
                }
                None => break,
            }
        }
        let mut lanes = lock(&hub.commands.lanes);
        match lanes.get_mut(&machine) {
            // Kicked while busy: look again rather than miss the new work.
            Some(again) if *again && !hub.cancel.is_cancelled() => *again = false,
            _ => {
                lanes.remove(&machine);
                return;
            }
        }
    }
}

/// The machine's oldest pending row that is not a job already out.
async fn next_row(hub: &HubState, machine: &str) -> Option<CommandRecord> {
    let backlog = match hub.store.machine_backlog(machine, LANE_BATCH).await {
        Ok(backlog) => backlog,
        Err(error) => {
            tracing::error!(%machine, %error, "cannot read the command queue");
            return None;
        }
    };
    let out = lock(&hub.commands.out);
    backlog.into_iter().find(|r| !out.contains(&r.command.id))
}

/// Sends one row and settles its answer. Returns whether the lane goes on.
async fn send_row(hub: &Arc<HubState>, record: CommandRecord) -> bool {
    let id = record.command.id.clone();
    let now = now_ms();
    if record.state == CommandState::Queued && record.command.expires_ms <= now {
        let finish = Finish { state: CommandState::Expired, result: None, error: Some(expired_in_queue()) };
        settle(hub, &id, &[CommandState::Queued], finish).await;
        return true;
    }
    match hub.store.mark_sent(&id, now).await {
        Ok(true) => {}
        Ok(false) => return true, // its fate became known meanwhile (cancelled)
        Err(error) => {
            tracing::error!(%id, %error, "cannot mark a command sent");
            return false;
        }
    }
    hub.events.publish(HubEvent::QueueChanged { machine: record.command.machine_id.clone() });
    let is_job =
        Call::parse(&record.command.name, &record.command.args).is_ok_and(|c| c.name().kind() == CommandKind::Local);
    if is_job {
        // A job may run for minutes: the lane does not wait for it.
        lock(&hub.commands.out).insert(id.clone());
        let hub = Arc::clone(hub);
        hub.tracker.clone().spawn(async move {
            let machine = record.command.machine_id.clone();
            deliver(&hub, &record).await;
            lock(&hub.commands.out).remove(&record.command.id);
            kick(&hub, &machine);
        });
        return true;
    }
    deliver(hub, &record).await
}

/// One attempt at a sent row: the bridge's answer settles it; no answer
/// leaves it in doubt for the next attempt. Returns whether the lane goes on.
async fn deliver(hub: &Arc<HubState>, record: &CommandRecord) -> bool {
    let c = &record.command;
    let left = Duration::from_millis(u64::try_from(c.expires_ms - now_ms()).unwrap_or(0));
    let job_run = CommandName::from_wire(&c.name) == Some(CommandName::JobRun);
    // Past its deadline a re-send only asks the bridge how it went: its
    // journal answers at once, or it refuses the command as late. A job run
    // may take its caller's whole timeout (the bridge stops it there).
    let budget = match (left.is_zero(), job_run) {
        (true, _) => hub.config.command_timeout,
        (false, true) => left,
        (false, false) => left.min(hub.config.command_timeout),
    };
    let command = Command {
        id: c.id.clone(),
        project: c.project_id.clone(),
        deadline_ms: ms_u64(budget),
        expires_at_ms: u64::try_from(c.expires_ms).ok(),
        name: c.name.clone(),
        args: c.args.clone(),
    };
    let progress = lock(&hub.commands.progress).get(&c.id).cloned();
    // A job run's output fans out to the dashboards watching the machine.
    let (progress, fed) = if job_run {
        let (tx, fed) = crate::job_feed::follow(hub, record, progress);
        (Some(tx), Some(fed))
    } else {
        (progress, None)
    };
    let answer = hub.router.send(&c.machine_id, command, budget + ANSWER_GRACE, progress).await;
    if let Some(fed) = fed {
        crate::job_feed::finished(hub, record, fed, &answer).await;
    }
    let sent = [CommandState::Sent];
    match answer {
        Ok(result) => {
            settle(hub, &c.id, &sent, Finish { state: CommandState::Applied, result: Some(result), error: None }).await;
            true
        }
        Err(RouteError::Refused(error) | RouteError::Unsendable(error)) => {
            settle(hub, &c.id, &sent, refused(error)).await;
            true
        }
        Err(RouteError::NotConnected) => {
            if let Err(error) = hub.store.mark_unsent(&c.id).await {
                tracing::error!(id = %c.id, %error, "cannot put a command back in the queue");
            }
            release(hub, &c.id).await;
            false
        }
        // In doubt: the next attempt (when the machine is back) asks again.
        Err(RouteError::Lost) => {
            release(hub, &c.id).await;
            false
        }
        Err(RouteError::Timeout(_)) => {
            tracing::warn!(id = %c.id, machine = %c.machine_id, "no answer in time; the command is in doubt");
            true
        }
    }
}

/// A refusal's final state: the bridge's "too late, nothing changed" is
/// `expired`, anything else `failed`.
fn refused(error: ErrorBody) -> Finish {
    let late = error.code == ErrorCode::Timeout
        && error.details.as_ref().and_then(|d| d.get("applied")) == Some(&serde_json::Value::Bool(false));
    let state = if late { CommandState::Expired } else { CommandState::Failed };
    Finish { state, result: None, error: Some(error) }
}

/// Records a command's fate and tells whoever waits.
async fn settle(hub: &HubState, id: &str, from: &[CommandState], finish: Finish) {
    match hub.metrics.time(StoreOp::finish_command, hub.store.finish_command(id, from, &finish, now_ms())).await {
        Ok(Some(record)) => announce(hub, &record),
        Ok(None) => {}
        Err(error) => tracing::error!(%id, %error, "cannot record a command's outcome"),
    }
}

/// Hands `record` to every caller waiting for its command, and forgets them.
fn wake_waiters(hub: &HubState, record: &CommandRecord) {
    for waiter in lock(&hub.commands.waiters).remove(&record.command.id).unwrap_or_default() {
        let _ = waiter.send(record.clone());
    }
}

/// Tells the waiters of a command that is not finished that its lane
/// stopped (the machine left): they answer with what is known now.
async fn release(hub: &HubState, id: &str) {
    let Ok(Some(record)) = hub.store.get_command(id).await else { return };
    wake_waiters(hub, &record);
    hub.events.publish(HubEvent::QueueChanged { machine: record.command.machine_id.clone() });
}

/// Hands a finished command to its waiters and dashboards.
fn announce(hub: &HubState, record: &CommandRecord) {
    let c = &record.command;
    tracing::info!(id = %c.id, machine = %c.machine_id, command = %c.name, state = record.state.as_str(), "command finished");
    hub.metrics.command_finished(record.state);
    wake_waiters(hub, record);
    hub.events.publish(HubEvent::CommandResult(Box::new(CommandView::from(record))));
    hub.events.publish(HubEvent::QueueChanged { machine: c.machine_id.clone() });
}

/// An answer that arrived after its waiter gave up: the command's fate is
/// still recorded, if the answer comes from the machine it was sent to.
pub(crate) async fn late_answer(hub: &HubState, machine: &str, response: Response) {
    let record = match hub.store.get_command(&response.id).await {
        Ok(Some(record)) if record.command.machine_id == machine => record,
        _ => {
            tracing::debug!(id = ?response.id, %machine, "an answer nobody waits for");
            return;
        }
    };
    if record.state != CommandState::Sent {
        return;
    }
    let finish = match response.into_result() {
        Ok(result) => Finish { state: CommandState::Applied, result: Some(result), error: None },
        Err(error) => refused(error),
    };
    settle(hub, &record.command.id, &[CommandState::Sent], finish).await;
}

/// Cancels a queued command of the account. `Ok(None)`: no such command;
/// `Err`: it was sent already.
pub(crate) async fn cancel(hub: &HubState, account: &str, id: &str) -> Result<Option<CommandRecord>, ErrorBody> {
    let record = match hub.store.get_command(id).await {
        Ok(Some(record)) if record.command.account_id == account => record,
        Ok(_) => return Ok(None),
        Err(error) => return Err(crate::error::ApiError::from(error).0),
    };
    let finish = Finish {
        state: CommandState::Cancelled,
        result: None,
        error: Some(ErrorBody::new(ErrorCode::Invalid, "cancelled before it was sent")),
    };
    let finished = hub.store.finish_command(id, &[CommandState::Queued], &finish, now_ms());
    match hub.metrics.time(StoreOp::finish_command, finished).await {
        Ok(Some(record)) => {
            announce(hub, &record);
            Ok(Some(record))
        }
        Ok(None) => Err(ErrorBody::new(
            ErrorCode::Conflict,
            format!("the command is {} and can no longer be cancelled", record.state.as_str()),
        )
        .with_hint(format!("GET /v1/commands/{id} shows its outcome"))),
        Err(error) => Err(crate::error::ApiError::from(error).0),
    }
}

/// Expires queued commands past their deadline, forgets old outcomes and
/// idle rate-limit state, every [`SWEEP_EVERY`], until the hub stops.
pub(crate) async fn sweep_task(hub: Arc<HubState>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = hub.cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = now_ms();
        match hub.store.expire_commands(now).await {
            Ok(expired) => expired.iter().for_each(|record| announce(&hub, record)),
            Err(error) => tracing::warn!(%error, "cannot expire queued commands"),
        }
        if let Err(error) = hub.store.prune_commands(now - millis(KEEP_FINISHED)).await {
            tracing::warn!(%error, "cannot prune old command outcomes");
        }
        // The same housekeeping beat keeps the rate limiters' memory bounded.
        hub.limits.forget_idle();
    }
}
