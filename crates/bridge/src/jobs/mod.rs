//! Pinned jobs: the only programs the hub can start on this machine.
//!
//! A job is an exact argv its owner pinned here, in `jobs.toml` in the
//! config folder (`specbridge jobs add`, or by hand). The hub names a job by
//! id and sends values for its typed parameters ([`params`]); it can neither
//! change the argv nor add to it. What the hub sends as `job-create` or
//! `job-update` becomes a [`Proposal`] in the state folder, which runs nothing
//! until the owner approves it here ([`JobBook::approve`]), and the approval
//! pins exactly the argv that was shown.
//!
//! - [`book`]: the pinned jobs and the proposals, and the owner's actions on them;
//! - [`params`]: typed parameters, validated and passed as one argv element each;
//! - [`risk`]: why enabling a job may give the hub code execution;
//! - [`consent`]: the local confirmation a run waits for;
//! - [`history`]: the runs, kept in `jobs.json`;
//! - [`process`]: running the argv (no shell), its output, cancel and deadline.
//!
//! What it does not know: commands, the link or the hub. The `job-*`
//! commands (`commands/jobs.rs`) use it, and so do the CLI and the tray app.

pub(crate) mod book;
pub(crate) mod consent;
pub(crate) mod history;
pub(crate) mod params;
pub(crate) mod process;
mod risk;

pub use book::{JobBook, PinnedJob};
pub use consent::{ConsentAnswer, ConsentError, ConsentPrompter, ConsentRequest};
pub use risk::warnings;
pub use specbridge_protocol::{JobParam, Proposal, ProposalKind};

use specbridge_protocol::{ErrorBody, ErrorCode};
use std::path::PathBuf;

/// A job action by the machine's owner failed, or a definition is not valid.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The definition breaks a rule (the message says which).
    #[error("invalid job: {0}")]
    Invalid(String),
    /// No pinned job with that id.
    #[error("no job {0:?} is pinned on this machine; `specbridge jobs list` shows them")]
    UnknownJob(String),
    /// No proposal with that id.
    #[error("no proposal {0:?}; `specbridge jobs list` shows the proposals waiting")]
    UnknownProposal(String),
    /// The proposal was changed from the hub after it was shown.
    #[error("proposal {0:?} changed since it was shown; look at it again before approving")]
    ProposalChanged(String),
    /// A job with that id is pinned already.
    #[error("a job {0:?} is pinned already; remove it first or pick another id")]
    Exists(String),
    /// The job names a project this machine does not share.
    #[error("no project `{0}` is shared; `specbridge projects list` shows the ids")]
    UnknownProject(String),
    /// `jobs.toml` or a proposal file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `jobs.toml` is not valid.
    #[error("{} is not a valid jobs file: {message}; fix it or remove the job by hand", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl JobsError {
    /// The error as a wire error, with a stable code.
    pub(crate) fn to_error_body(&self) -> ErrorBody {
        let code = match self {
            Self::Invalid(_) => ErrorCode::Invalid,
            Self::UnknownJob(_) | Self::UnknownProposal(_) | Self::UnknownProject(_) => ErrorCode::NotFound,
            Self::ProposalChanged(_) | Self::Exists(_) => ErrorCode::Conflict,
            Self::Read { .. } | Self::Parse { .. } | Self::Write { .. } => ErrorCode::Internal,
        };
        let body = ErrorBody::new(code, self.to_string());
        match self {
            Self::Invalid(_) => body.with_hint(
                "argv is a list such as [\"make\", \"test\"] (no shell); a parameter is a whole element \"{name}\" \
                 defined under params",
            ),
            _ => body,
        }
    }
}
