//! Runs the commands the hub sends, each at most once and never past its deadline.
//!
//! For every command: parse it into a typed [`Call`] (unknown names and bad
//! arguments answer `invalid`), look its id up in the [`Outcomes`] journal when
//! it changes something (a repeat answers the recorded response, a duplicate
//! that arrives while the first still runs waits for it), refuse it with
//! `timeout` if its deadline has passed, then run it on the blocking pool
//! through `commands` and record the answer before it is sent.
//!
//! What it does not know: what a command does to files (`commands`, through
//! the mutation rules in `mutation`), or the link it came over.

use crate::audit::{AuditLog, AuditRecord};
use crate::commands::{self, Ctx, Jobs, ModelCache, ProgressTx};
use crate::fsutil;
use crate::mutation::{timeout_error, ProjectFiles};
use crate::outcomes::{Begin, Outcomes};
use crate::project::Project;
use serde_json::Value;
use specbridge_protocol::{
    Call, Command, CommandName, ErrorBody, ErrorCode, JobAudit, Origin, Response, MAX_MESSAGE_BYTES,
};
use specbridge_specs::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Room left in a response message for the envelope around the result.
const RESPONSE_HEADROOM: usize = 16 * 1024;

/// What happened to one command, for the response and for engine events.
#[derive(Debug, Clone)]
pub(crate) struct Handled {
    pub(crate) response: Response,
    pub(crate) name: String,
    pub(crate) project: String,
    pub(crate) path: Option<String>,
    /// `ok` or the error code.
    pub(crate) outcome: String,
    /// Every path the command created, replaced, moved or removed (the sync
    /// core re-reads them; folders are rescanned). Empty for a repeat.
    pub(crate) changed: Vec<String>,
}

impl Handled {
    fn new(command: &Command, response: Response, path: Option<String>, changed: Vec<String>) -> Self {
        let outcome = response.error.as_ref().map_or_else(|| "ok".to_owned(), |e| e.code.as_str().to_owned());
        Self { response, name: command.name.clone(), project: command.project.clone(), path, outcome, changed }
    }

    fn failed(command: &Command, error: ErrorBody) -> Self {
        Self::new(command, Response::err(command.id.clone(), error), None, Vec::new())
    }
}

/// Runs commands against the served projects.
#[derive(Debug)]
pub(crate) struct Executor {
    projects: Arc<BTreeMap<String, Project>>,
    audit: AuditLog,
    /// Serializes project writes so two edits of one file cannot interleave
    /// between their conflict checks and their renames.
    write_lock: Mutex<()>,
    /// Spec models per project, rebuilt only when a file under the roots changed.
    models: ModelCache,
    /// The jobs of the bridge's own config, their runs and history.
    jobs: Arc<Jobs>,
    /// Outcomes of recorded commands, by id.
    outcomes: Outcomes,
}

impl Executor {
    pub(crate) fn new(
        projects: Arc<BTreeMap<String, Project>>,
        audit: AuditLog,
        jobs: Arc<Jobs>,
        outcomes: Outcomes,
    ) -> Self {
        Self { projects, audit, write_lock: Mutex::new(()), models: ModelCache::default(), jobs, outcomes }
    }

    /// Runs a command on the blocking pool; it must be done by `deadline`.
    /// `progress` receives output of long commands (`job-run`) while they run.
    pub(crate) async fn run(
        self: Arc<Self>,
        command: Command,
        deadline: Instant,
        progress: Option<ProgressTx>,
    ) -> Handled {
        let call = match command.call() {
            Ok(call) => call,
            Err(error) => return self.refuse(&command, error),
        };
        let recorded = call.name().is_recorded();
        if recorded {
            match self.outcomes.begin(&command.id) {
                Begin::Run => {}
                Begin::Done(response) => return self.repeat(&command, &call, response),
                Begin::Wait(first) => {
                    let response = first.await.unwrap_or_else(|_| {
                        Response::err(command.id.clone(), ErrorBody::new(ErrorCode::Internal, "the first run vanished"))
                    });
                    return self.repeat(&command, &call, response);
                }
            }
        }
        let handled = if Instant::now() >= deadline {
            Handled::failed(&command, expired())
        } else {
            let this = Arc::clone(&self);
            let (job, call_for_job) = (command.clone(), call.clone());
            let work = tokio::task::spawn_blocking(move || this.execute_call(&job, &call_for_job, deadline, progress));
            // The blocking work checks the deadline itself before committing; this
            // outer bound only covers a disk that hangs inside a system call.
            match tokio::time::timeout_at((deadline + Duration::from_millis(250)).into(), work).await {
                Ok(Ok(handled)) => handled,
                Ok(Err(join)) => Handled::failed(
                    &command,
                    ErrorBody::new(ErrorCode::Internal, format!("command task failed: {join}")),
                ),
                Err(_) => Handled::failed(&command, timeout_error()),
            }
        };
        if recorded {
            self.outcomes.finish(&handled.response);
        }
        handled
    }

    /// Runs a command on the calling thread (blocking), through the journal
    /// like [`Executor::run`].
    #[cfg(test)]
    pub(crate) fn execute(&self, command: &Command, deadline: Instant) -> Handled {
        let call = match command.call() {
            Ok(call) => call,
            Err(error) => return self.refuse(command, error),
        };
        let recorded = call.name().is_recorded();
        if recorded {
            match self.outcomes.begin(&command.id) {
                Begin::Run => {}
                Begin::Done(response) => return self.repeat(command, &call, response),
                Begin::Wait(first) => {
                    let response =
                        first.blocking_recv().unwrap_or_else(|_| Response::err(command.id.clone(), expired()));
                    return self.repeat(command, &call, response);
                }
            }
        }
        let handled = if Instant::now() >= deadline {
            Handled::failed(command, expired())
        } else {
            self.execute_call(command, &call, deadline, None)
        };
        if recorded {
            self.outcomes.finish(&handled.response);
        }
        handled
    }

    /// Refuses a command before it reaches a project. A refused change is
    /// audited too (naming what it was about), as every change the hub asks for is.
    fn refuse(&self, command: &Command, error: ErrorBody) -> Handled {
        let name = CommandName::from_wire(&command.name);
        if name.is_some_and(CommandName::is_recorded) {
            let target = ["path", "name", "id", "title"].iter().find_map(|k| command.args.get(*k)?.as_str());
            // A job request refused for its arguments (an `argv` slipped into a
            // run, say) shows in the job audit with who asked and why.
            let job = name.filter(|n| n.is_job()).map(|_| JobAudit {
                id: target.unwrap_or_default().to_owned(),
                origin: Origin::Hub,
                requested_by: command.args.get("requested_by").and_then(Value::as_str).map(str::to_owned),
                argv: Vec::new(),
                params: BTreeMap::new(),
                consent: None,
                outcome: None,
                exit_code: None,
                duration_ms: None,
                note: Some(error.message.clone()),
            });
            self.audit.append(&AuditRecord {
                ts_ms: fsutil::now_ms(),
                request_id: &command.id,
                project: &command.project,
                command: &command.name,
                path: target,
                base_hash: command.args.get("base_hash").and_then(Value::as_str),
                new_hash: None,
                outcome: error.code.as_str(),
                job: job.as_ref(),
            });
        }
        Handled::failed(command, error)
    }

    /// The answer to a command seen before: the recorded response, nothing run.
    fn repeat(&self, command: &Command, call: &Call, response: Response) -> Handled {
        tracing::info!(id = %command.id, command = %command.name, "a repeated command answered from the journal");
        Handled::new(command, response, Some(call.target()), Vec::new())
    }

    fn execute_call(&self, command: &Command, call: &Call, deadline: Instant, progress: Option<ProgressTx>) -> Handled {
        let Some(project) = self.projects.get(&command.project) else {
            let error =
                ErrorBody::new(ErrorCode::NotFound, format!("no project `{}` on this machine", command.project))
                    .with_hint("the machine's project list is in `specbridge projects list`");
            return self.refuse(command, error);
        };
        let ctx = Ctx {
            project,
            fs: ProjectFiles::new(project, &self.audit, &command.id, call.name(), deadline),
            request_id: &command.id,
            models: &self.models,
            jobs: &self.jobs,
            progress,
            now: Timestamp::from_unix_millis(i64::try_from(fsutil::now_ms()).unwrap_or(i64::MAX)),
        };
        let result = commands::run(&ctx, call, &self.write_lock);
        let changed = ctx.fs.into_changed();
        let path = changed.first().cloned().or_else(|| Some(call.target()).filter(|t| !t.is_empty()));
        let response = fit(match result {
            Ok(value) => Response::ok(command.id.clone(), value),
            Err(error) => Response::err(command.id.clone(), error),
        });
        Handled::new(command, response, path, changed)
    }

    /// How many spec models were built (parsed) so far.
    #[cfg(test)]
    pub(crate) fn models_builds(&self) -> u64 {
        self.models.builds()
    }

    /// The audit log, for tests.
    #[cfg(test)]
    pub(crate) fn audit(&self) -> &AuditLog {
        &self.audit
    }
}

/// The answer to a command that arrived after its deadline.
fn expired() -> ErrorBody {
    ErrorBody::new(ErrorCode::Timeout, "the command's deadline passed before it could start; nothing was changed")
        .with_hint("send it again if it is still wanted")
        .with_details(serde_json::json!({ "applied": false }))
}

/// A response that would not fit in one message: a conflict loses its
/// `current_content` (the hash stays), a result becomes `too_large`.
fn fit(mut response: Response) -> Response {
    let fits = |r: &Response| serde_json::to_vec(r).is_ok_and(|v| v.len() + RESPONSE_HEADROOM <= MAX_MESSAGE_BYTES);
    if fits(&response) {
        return response;
    }
    if let Some(details) = response.error.as_mut().and_then(|e| e.details.as_mut()).and_then(|d| d.as_object_mut()) {
        details.remove("current_content");
        if fits(&response) {
            return response;
        }
    }
    Response::err(
        response.id,
        ErrorBody::new(ErrorCode::TooLarge, "the result does not fit in one message")
            .with_hint("read the hub's synced copy of large files"),
    )
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
