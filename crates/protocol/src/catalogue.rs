//! The command catalogue: every command a bridge runs, by name, kind and
//! argument type, in one table ([`catalogue!`] below).
//!
//! The envelope ([`crate::Command`]) keeps `name` as a string and `args` as
//! JSON, so a bridge can answer a command it does not know with `invalid` and
//! the request id. Both sides then turn it into a [`Call`] with
//! [`Call::parse`]: the hub before sending (a bad request is refused at once),
//! the bridge before running. Nothing else in the workspace spells a command name.

use crate::args::*;
use crate::jobs::{JobAuditArgs, JobProposeArgs, JobRunArgs, JobUpdateArgs};
use crate::{ErrorBody, ErrorCode, HASH_HEX_LEN};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What running a command does to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// Reads files or state; running it twice is harmless.
    Read,
    /// Changes files in the project, under the mutation rules.
    Write,
    /// Changes the bridge's own state or starts a process (jobs).
    Local,
}

impl CommandKind {
    /// Whether a command of this kind must be applied at most once: the hub
    /// persists it (queue, outcome) and the bridge records its outcome by id.
    pub fn is_recorded(self) -> bool {
        !matches!(self, Self::Read)
    }
}

macro_rules! catalogue {
    ($( $(#[doc = $doc:literal])* $variant:ident($args:ty) = $wire:literal, $kind:ident; )+) => {
        /// Every command a bridge runs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CommandName {
            $( $(#[doc = $doc])* $variant, )+
        }

        impl CommandName {
            /// Every command, in catalogue order.
            pub const ALL: &'static [CommandName] = &[$(CommandName::$variant,)+];

            /// The wire name (`file-write`).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)+ }
            }

            /// What the command does to the machine.
            pub fn kind(self) -> CommandKind {
                match self { $(Self::$variant => CommandKind::$kind,)+ }
            }

            /// The command with this wire name.
            pub fn from_wire(name: &str) -> Option<Self> {
                match name { $($wire => Some(Self::$variant),)+ _ => None }
            }
        }

        /// A command with its typed arguments.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Call {
            $( $(#[doc = $doc])* $variant($args), )+
        }

        impl Call {
            /// The command's name.
            pub fn name(&self) -> CommandName {
                match self { $(Self::$variant(_) => CommandName::$variant,)+ }
            }

            /// Parses a command from its wire name and JSON arguments (`null`
            /// reads as `{}`). Unknown names and bad arguments are `invalid`
            /// with a hint, and so is a `base_hash` that is not a hash.
            pub fn parse(name: &str, args: &Value) -> Result<Self, ErrorBody> {
                let Some(command) = CommandName::from_wire(name) else {
                    return Err(ErrorBody::new(ErrorCode::Invalid, format!("unknown command `{name}`"))
                        .with_hint("the command list is in docs/protocol.md"));
                };
                let call = match command {
                    $(CommandName::$variant => {
                        let args: $args = parse_args(command, args)?;
                        check_base_hash(args.base_hash())?;
                        Self::$variant(args)
                    })+
                };
                Ok(call)
            }

            /// The arguments as JSON, for the envelope.
            pub fn args(&self) -> Value {
                let value = match self { $(Self::$variant(args) => serde_json::to_value(args),)+ };
                // Every argument type is a struct with string keys: this cannot fail.
                value.unwrap_or(Value::Null)
            }

            /// The hash of the copy the author saw, for commands that carry one.
            pub fn base_hash(&self) -> Option<&str> {
                match self { $(Self::$variant(args) => args.base_hash(),)+ }
            }
        }
    };
}

catalogue! {
    /// Read one file inside the project's allowed roots.
    FileRead(FileReadArgs) = "file-read", Read;
    /// Write one file, under the base-hash conflict rule.
    FileWrite(FileWriteArgs) = "file-write", Write;
    /// The project, its layout and what its model holds.
    ProjectInfo(NoArgs) = "project-info", Read;
    /// The specs (LeanSpec: every status but `archived`).
    SpecList(NoArgs) = "spec-list", Read;
    /// One spec, or one document of it.
    SpecRead(SpecReadArgs) = "spec-read", Read;
    /// The archived specs.
    SpecArchivedList(NoArgs) = "spec-archived-list", Read;
    /// One archived spec.
    SpecArchivedRead(SpecReadArgs) = "spec-archived-read", Read;
    /// A spec's task counts (and, for spec-workflow, its parsed tasks.md).
    TaskProgress(SpecArgs) = "task-progress", Read;
    /// Replace (or create) one document of a spec.
    SpecDocumentWrite(DocumentWriteArgs) = "spec-document-write", Write;
    /// Archive a spec.
    SpecArchive(SpecEditArgs) = "spec-archive", Write;
    /// Restore an archived spec.
    SpecUnarchive(SpecEditArgs) = "spec-unarchive", Write;
    /// Set a tasks.md task's marker, found by id.
    TaskStatusUpdate(TaskStatusArgs) = "task-status-update", Write;
    /// One steering document.
    SteeringRead(SteeringArgs) = "steering-read", Read;
    /// Which steering documents exist.
    SteeringStatus(NoArgs) = "steering-status", Read;
    /// Replace (or create) a steering document.
    SteeringWrite(SteeringWriteArgs) = "steering-write", Write;
    /// The approvals, optionally filtered.
    ApprovalList(ApprovalListArgs) = "approval-list", Read;
    /// One approval.
    ApprovalGet(ApprovalArgs) = "approval-get", Read;
    /// The document an approval is about.
    ApprovalContent(ApprovalArgs) = "approval-content", Read;
    /// An approval's snapshot list.
    ApprovalSnapshots(ApprovalArgs) = "approval-snapshots", Read;
    /// One snapshot.
    ApprovalSnapshotGet(SnapshotArgs) = "approval-snapshot-get", Read;
    /// A diff between two snapshots, or a snapshot and the file now.
    ApprovalDiff(DiffArgs) = "approval-diff", Read;
    /// Request an approval (with an initial snapshot).
    ApprovalCreate(ApprovalCreateArgs) = "approval-create", Write;
    /// Decide an approval (with a snapshot, as spec-workflow does).
    ApprovalUpdate(ApprovalUpdateArgs) = "approval-update", Write;
    /// Take a manual snapshot.
    ApprovalSnapshot(ApprovalArgs) = "approval-snapshot", Write;
    /// Delete an approval.
    ApprovalDelete(ApprovalArgs) = "approval-delete", Write;
    /// Implementation log entries, newest first.
    ImplLogRead(LogReadArgs) = "impl-log-read", Read;
    /// Implementation log entries matching a query.
    ImplLogSearch(LogSearchArgs) = "impl-log-search", Read;
    /// Implementation log statistics of one task.
    ImplLogTaskStats(LogStatsArgs) = "impl-log-task-stats", Read;
    /// Add an implementation log entry.
    ImplLogAdd(LogAddArgs) = "impl-log-add", Write;
    /// The project's pinned jobs and the proposals waiting for the owner.
    JobList(NoArgs) = "job-list", Read;
    /// One job, with its output so far while it runs.
    JobGet(JobArgs) = "job-get", Read;
    /// A job's past runs.
    JobHistory(JobArgs) = "job-history", Read;
    /// A job's run statistics.
    JobStats(JobArgs) = "job-stats", Read;
    /// The job lines of the machine's audit log.
    JobAudit(JobAuditArgs) = "job-audit", Read;
    /// Propose a job: it runs nothing until the owner approves it on the machine.
    JobCreate(JobProposeArgs) = "job-create", Local;
    /// Propose a change to a job (approved on the machine, like a new one).
    JobUpdate(JobUpdateArgs) = "job-update", Local;
    /// Withdraw a proposal.
    JobDelete(JobArgs) = "job-delete", Local;
    /// Run a pinned job with typed parameters, after the machine's consent.
    JobRun(JobRunArgs) = "job-run", Local;
    /// Stop a running job (or one waiting for its confirmation).
    JobCancel(JobArgs) = "job-cancel", Local;
    /// Change LeanSpec frontmatter keys.
    UpdateFrontmatter(FrontmatterArgs) = "update-frontmatter", Write;
    /// Replace a LeanSpec README's body.
    UpdateContent(ContentArgs) = "update-content", Write;
    /// Create a LeanSpec spec.
    CreateSpec(CreateSpecArgs) = "create-spec", Write;
}

impl CommandName {
    /// Whether the command is one of the `job-*` commands.
    pub fn is_job(self) -> bool {
        matches!(
            self,
            Self::JobList
                | Self::JobGet
                | Self::JobHistory
                | Self::JobStats
                | Self::JobAudit
                | Self::JobCreate
                | Self::JobUpdate
                | Self::JobDelete
                | Self::JobRun
                | Self::JobCancel
        )
    }

    /// Whether the command must be applied at most once (see [`CommandKind::is_recorded`]).
    pub fn is_recorded(self) -> bool {
        self.kind().is_recorded()
    }
}

impl std::fmt::Display for CommandName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CommandName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CommandName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_wire(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown command `{name}`")))
    }
}

impl Call {
    /// Records who asked, on the commands that carry it to the machine (job
    /// runs and proposals), replacing whatever a client put there: the hub
    /// calls this with the caller it authenticated.
    pub fn set_requester(&mut self, who: &str) {
        match self {
            Self::JobRun(a) => a.requested_by = Some(who.to_owned()),
            Self::JobCreate(a) => a.requested_by = Some(who.to_owned()),
            Self::JobUpdate(a) => a.requested_by = Some(who.to_owned()),
            _ => {}
        }
    }

    /// What the command does, for people ("001-auth: status -> complete").
    pub fn summary(&self) -> String {
        let name = self.name();
        match self {
            Self::FileWrite(a) => format!("write {}", a.path),
            Self::SpecDocumentWrite(a) => format!("{}: write {}", a.name, a.document),
            Self::SpecArchive(a) => format!("{}: archive", a.name),
            Self::SpecUnarchive(a) => format!("{}: unarchive", a.name),
            Self::TaskStatusUpdate(a) => format!("{}: task {} -> {}", a.name, a.task_id, a.status),
            Self::SteeringWrite(a) => format!("steering {}: write", a.doc),
            Self::ApprovalCreate(a) => format!("request approval: {}", a.title),
            Self::ApprovalUpdate(a) => format!("approval {}: {}", a.id, a.action),
            Self::ApprovalSnapshot(a) => format!("approval {}: snapshot", a.id),
            Self::ApprovalDelete(a) => format!("approval {}: delete", a.id),
            Self::ImplLogAdd(a) => format!("{}: log entry", a.name),
            Self::UpdateFrontmatter(a) => {
                let keys: Vec<String> = a
                    .changes
                    .iter()
                    .map(|(key, value)| match value.as_str() {
                        Some(text) => format!("{key} -> {text}"),
                        None => key.clone(),
                    })
                    .collect();
                let keys = if keys.is_empty() { "frontmatter".to_owned() } else { keys.join(", ") };
                format!("{}: {keys}{}", a.name, if a.force { " (forced)" } else { "" })
            }
            Self::UpdateContent(a) => format!("{}: edit content", a.name),
            Self::CreateSpec(a) => format!("create spec: {}", a.title),
            Self::JobCreate(a) => format!("propose job {}: {}", a.name, a.argv.join(" ")),
            Self::JobUpdate(a) => format!("propose a change to job {}", a.id),
            Self::JobRun(a) if a.params.is_empty() => format!("run job {}", a.id),
            Self::JobRun(a) => {
                let params: Vec<String> = a.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("run job {} ({})", a.id, params.join(", "))
            }
            Self::JobDelete(a) | Self::JobCancel(a) => format!("{name} {}", a.id),
            _ => name.as_str().to_owned(),
        }
    }

    /// What the command is about, for lists: a path, a spec, an approval or a job.
    pub fn target(&self) -> String {
        match self {
            Self::FileRead(a) => a.path.clone(),
            Self::FileWrite(a) => a.path.clone(),
            Self::SpecRead(a) | Self::SpecArchivedRead(a) => a.name.clone(),
            Self::TaskProgress(a) => a.name.clone(),
            Self::SpecDocumentWrite(a) => format!("{}/{}", a.name, a.document),
            Self::SpecArchive(a) | Self::SpecUnarchive(a) => a.name.clone(),
            Self::TaskStatusUpdate(a) => format!("{}#{}", a.name, a.task_id),
            Self::SteeringRead(a) => a.doc.clone(),
            Self::SteeringWrite(a) => a.doc.clone(),
            Self::ApprovalGet(a)
            | Self::ApprovalContent(a)
            | Self::ApprovalSnapshots(a)
            | Self::ApprovalSnapshot(a)
            | Self::ApprovalDelete(a) => a.id.clone(),
            Self::ApprovalSnapshotGet(a) => a.id.clone(),
            Self::ApprovalDiff(a) => a.id.clone(),
            Self::ApprovalCreate(a) => a.file_path.clone(),
            Self::ApprovalUpdate(a) => a.id.clone(),
            Self::ImplLogTaskStats(a) => format!("{}#{}", a.name, a.task_id),
            Self::ImplLogAdd(a) => a.name.clone(),
            Self::JobGet(a) | Self::JobHistory(a) | Self::JobStats(a) | Self::JobDelete(a) | Self::JobCancel(a) => {
                a.id.clone()
            }
            Self::JobRun(a) => a.id.clone(),
            Self::JobUpdate(a) => a.id.clone(),
            Self::JobAudit(a) => a.id.clone().unwrap_or_default(),
            Self::JobCreate(a) => a.id.clone().unwrap_or_else(|| a.name.clone()),
            Self::UpdateFrontmatter(a) => a.name.clone(),
            Self::UpdateContent(a) => a.name.clone(),
            Self::CreateSpec(a) => a.title.clone(),
            Self::ProjectInfo(_)
            | Self::SpecList(_)
            | Self::SpecArchivedList(_)
            | Self::SteeringStatus(_)
            | Self::ApprovalList(_)
            | Self::ImplLogRead(_)
            | Self::ImplLogSearch(_)
            | Self::JobList(_) => String::new(),
        }
    }
}

fn parse_args<T: DeserializeOwned>(command: CommandName, args: &Value) -> Result<T, ErrorBody> {
    let parsed = match args {
        Value::Null => T::deserialize(Value::Object(serde_json::Map::new())),
        other => T::deserialize(other),
    };
    parsed.map_err(|e| {
        ErrorBody::new(ErrorCode::Invalid, format!("bad arguments for `{command}`: {e}"))
            .with_hint("see the command table in docs/protocol.md")
    })
}

/// A base hash must look like one: a typo is `invalid`, not a silent `conflict`.
fn check_base_hash(base: Option<&str>) -> Result<(), ErrorBody> {
    match base {
        Some(base) if base.len() != HASH_HEX_LEN || !base.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Err(ErrorBody::new(ErrorCode::Invalid, "base_hash is not a 64-character lowercase hex hash")
                .with_hint("send the hash returned with the file you edited, or omit base_hash to create a new file"))
        }
        _ => Ok(()),
    }
}
