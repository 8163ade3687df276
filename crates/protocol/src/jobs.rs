//! The jobs part of the command catalogue: the arguments and results of the
//! `job-*` commands, and the parts of a job both sides name (parameters, run
//! outcomes, consent).
//!
//! A job is **pinned** on the machine: an exact argv its owner defined. The
//! hub names a job by id and may send values for its typed parameters, and
//! nothing else: [`JobRunArgs`] refuses unknown fields, so an `argv`, `args`
//! or `command` in a run request is `invalid`, never appended. What the hub
//! sends as `job-create` or `job-update` is a **proposal** that runs nothing
//! until the owner approves it on the machine.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A typed parameter of a pinned job. An argv element that is exactly
/// `{name}` is replaced by the parameter's validated value, as one element
/// (no shell, no splitting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobParam {
    /// An existing spec of the job's project (a LeanSpec folder, number or
    /// slug; a spec-workflow spec name): the argv gets the spec's folder name.
    Spec,
    /// One of a fixed list, set by the owner.
    Choice {
        /// The allowed values.
        choices: Vec<String>,
    },
    /// A whole number in `min..=max`.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
}

/// `job-run`: the job and its parameter values, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRunArgs {
    /// The pinned job's id.
    pub id: String,
    /// A value for each of the job's parameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Who asked, as the hub knows them (set by the hub, not by clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// `job-create`: a proposal for a new job. It runs nothing until the
/// machine's owner approves it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProposeArgs {
    /// The job id wanted; absent: made from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// The exact argv (no shell); `{name}` elements are parameters.
    pub argv: Vec<String>,
    /// The parameters the argv names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, JobParam>,
    /// Who asked (set by the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// `job-update`: a proposal to change a pinned job (or a pending proposal).
/// Whether a job is on, and whether it runs without asking, are decided only
/// on the machine: sent, `enabled` or `unattended` is `forbidden`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobUpdateArgs {
    /// The job (or proposal) id.
    pub id: String,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// New parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, JobParam>>,
    /// Refused: only the owner turns a job on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Refused: only the owner lets a job run without asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattended: Option<bool>,
    /// Who asked (set by the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// `job-audit`: the job lines of the machine's audit log, for one job or all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAuditArgs {
    /// Only this job (or proposal) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What a job is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Not running.
    Idle,
    /// A run waits for its confirmation on the machine.
    Waiting,
    /// A run is in progress.
    Running,
}

/// A phase change of a run, carried by a `progress` message so the hub can
/// show it (a run waiting for its confirmation, then running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// Asking the machine's owner; `until_ms` says until when.
    Waiting,
    /// The process started.
    Running,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Exit status 0.
    Succeeded,
    /// Another exit status (or a signal).
    Failed,
    /// Stopped at the command's deadline.
    TimedOut,
    /// Stopped by `job-cancel`.
    Cancelled,
    /// It could not start.
    Error,
    /// The owner said no.
    Denied,
    /// Nobody confirmed it in time (or no one could be asked).
    Unconfirmed,
}

/// How a run was allowed (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// The owner marked the job to run without asking.
    Unattended,
    /// Confirmed on the machine for this run.
    AllowedOnce,
    /// Confirmed, and marked unattended from now on.
    AlwaysAllowed,
    /// Refused on the machine.
    Denied,
    /// Asked, no answer before the time ran out.
    TimedOut,
    /// Nobody can answer on this machine (a headless bridge).
    NoOneToAsk,
    /// Cancelled while waiting.
    Cancelled,
}

impl Consent {
    /// Whether the run may start.
    pub fn allows(self) -> bool {
        matches!(self, Self::Unattended | Self::AllowedOnce | Self::AlwaysAllowed)
    }
}

/// One run, finished (or refused before it started): the result of
/// `job-run` and an entry of `job-history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The job.
    pub id: String,
    /// This run.
    pub run_id: String,
    /// The hub's command id that asked for it.
    pub command_id: String,
    /// When it was asked for (ms since the Unix epoch).
    pub started_ms: u64,
    /// From the request to the end, waiting for a confirmation included.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The process's exit code, when it exited by itself.
    pub exit_code: Option<i32>,
    /// The argv run, parameters filled in.
    pub argv: Vec<String>,
    /// The parameter values asked for.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Who asked, as the hub said.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// How it was allowed.
    pub consent: Consent,
    /// The end of stdout + stderr (the job-run result keeps 64 KiB, history 8 KiB).
    pub output: String,
}

/// A run in progress, as `job-get` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRun {
    /// The hub's command id.
    pub command_id: String,
    /// When it was asked for.
    pub started_ms: u64,
    /// The argv, parameters filled in.
    pub argv: Vec<String>,
    /// Who asked.
    pub requested_by: Option<String>,
    /// The output so far (the last 64 KiB).
    pub output: String,
}

/// A pinned job, as `job-list` and `job-get` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Id, unique on the machine.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The project it runs in.
    pub project: String,
    /// The exact argv.
    pub argv: Vec<String>,
    /// Its parameters.
    pub params: BTreeMap<String, JobParam>,
    /// Turned on by the owner.
    pub enabled: bool,
    /// Runs without asking on the machine.
    pub unattended: bool,
    /// Idle, waiting for a confirmation, or running.
    pub state: JobState,
    /// The run in progress.
    pub live: Option<LiveRun>,
    /// The last finished run (its output trimmed).
    pub last_run: Option<RunRecord>,
    /// Why enabling this job may give the hub code execution (files it runs
    /// that the hub can write).
    pub warnings: Vec<String>,
}

/// What a proposal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// A new job.
    Create,
    /// A change to a pinned job.
    Update,
}

/// A job definition proposed from the hub, waiting for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposal's id (`p_…`).
    pub id: String,
    /// The job it creates or changes.
    pub job: String,
    /// Create or update.
    pub kind: ProposalKind,
    /// The project.
    pub project: String,
    /// Display name.
    pub name: String,
    /// The exact argv it would pin.
    pub argv: Vec<String>,
    /// Its parameters.
    #[serde(default)]
    pub params: BTreeMap<String, JobParam>,
    /// Who asked.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// When (ms since the Unix epoch).
    pub created_ms: u64,
}

/// The result of `job-list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobList {
    /// The project's pinned jobs.
    pub jobs: Vec<JobView>,
    /// Proposals waiting for the owner.
    pub proposals: Vec<Proposal>,
}

/// The result of `job-stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStats {
    /// The job.
    pub id: String,
    /// Runs in the history (the last 50).
    pub runs: usize,
    /// Of those, succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Timed out.
    pub timed_out: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Could not start.
    pub errors: usize,
    /// Denied or not confirmed on the machine.
    pub refused: usize,
    /// Mean duration of the runs that started.
    pub average_duration_ms: u64,
    /// The last run's exit code.
    pub last_exit_code: Option<i32>,
}

/// Where a job action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A command from the hub.
    Hub,
    /// The machine's owner (the CLI, the tray app).
    Machine,
}

/// What an audit line says about a job action: who asked, what would run
/// and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAudit {
    /// The job (or proposal) id.
    pub id: String,
    /// Where the action came from.
    pub origin: Origin,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The argv concerned (filled in, for a run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// Parameter values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// How a run was allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// How a run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// A refusal's reason, an approval's warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One job line of the audit log, as `job-audit` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAuditEntry {
    /// When (ms since the Unix epoch).
    pub ts_ms: u64,
    /// The hub's command id, or `local`.
    pub request_id: String,
    /// The project.
    pub project: String,
    /// The action (`job-run`, `job-create`, `job-approve` …).
    pub command: String,
    /// `ok` or an error code.
    pub outcome: String,
    /// The job details.
    pub job: JobAudit,
}
