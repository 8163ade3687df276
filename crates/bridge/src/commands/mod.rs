//! The spec-aware commands of design §4 (everything but `file-read` and
//! `file-write`, which live in the executor).
//!
//! Each command reads what it needs through a [`Ctx`], asks the pure
//! `specbridge-specs` crate for the edit, and writes through [`Ctx::write`],
//! which applies the mutation rules: read-only projects refuse, paths go
//! through the path policy, the file must still have the hash the edit was
//! computed from (else `conflict` with the current hash and content), the
//! bytes go to a temp file that is fsynced and renamed, and an audit line is
//! appended. Reads of the spec model go through the [`ModelCache`].

mod approvals;
mod impl_log;
mod jobs;
mod leanspec;
mod model;
mod workflow;

pub(crate) use jobs::Jobs;
pub(crate) use model::ModelCache;

use crate::audit::{AuditLog, AuditRecord};
use crate::executor::{self, check_base, conflict, io_error, read_current, replace, timeout_error};
use crate::fsutil;
use crate::project::{Layout, Project};
use model::Model;
use serde::de::DeserializeOwned;
use serde_json::Value;
use specbridge_protocol::{content_hash, Command, ErrorBody, ErrorCode};
use specbridge_specs::{SpecError, Timestamp, WorkflowRoot};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Every spec command name, with whether it mutates the project.
const COMMANDS: &[(&str, bool)] = &[
    ("project-info", false),
    ("spec-list", false),
    ("spec-read", false),
    ("spec-archived-list", false),
    ("spec-archived-read", false),
    ("task-progress", false),
    ("spec-document-write", true),
    ("spec-archive", true),
    ("spec-unarchive", true),
    ("task-status-update", true),
    ("steering-read", false),
    ("steering-status", false),
    ("steering-write", true),
    ("approval-list", false),
    ("approval-get", false),
    ("approval-content", false),
    ("approval-snapshots", false),
    ("approval-snapshot-get", false),
    ("approval-diff", false),
    ("approval-create", true),
    ("approval-update", true),
    ("approval-snapshot", true),
    ("approval-delete", true),
    ("impl-log-read", false),
    ("impl-log-search", false),
    ("impl-log-task-stats", false),
    ("impl-log-add", true),
    ("job-list", false),
    ("job-get", false),
    ("job-history", false),
    ("job-stats", false),
    ("job-create", false),
    ("job-update", false),
    ("job-delete", false),
    ("job-run", false),
    ("job-cancel", false),
    ("update-frontmatter", true),
    ("update-content", true),
    ("create-spec", true),
];

/// Whether `name` is a spec command this module runs.
pub(crate) fn is_known(name: &str) -> bool {
    COMMANDS.iter().any(|(n, _)| *n == name)
}

fn is_mutation(name: &str) -> bool {
    COMMANDS.iter().any(|(n, m)| *n == name && *m)
}

/// `spec-read` arguments, shared by the LeanSpec and spec-workflow layouts.
#[derive(serde::Deserialize)]
pub(super) struct ReadArgs {
    pub(super) name: String,
    #[serde(default)]
    pub(super) document: Option<String>,
}

/// `spec-document-write` arguments, shared by the LeanSpec and spec-workflow layouts.
#[derive(serde::Deserialize)]
pub(super) struct DocumentWriteArgs {
    pub(super) name: String,
    pub(super) document: String,
    pub(super) content: String,
    #[serde(default)]
    pub(super) base_hash: Option<String>,
}

/// The executor's state a command uses.
pub(crate) struct Shared<'a> {
    pub(crate) audit: &'a AuditLog,
    pub(crate) write_lock: &'a Mutex<()>,
    pub(crate) models: &'a ModelCache,
    pub(crate) jobs: &'a Arc<Jobs>,
}

/// What a command runs against, and what it changed.
pub(crate) struct Ctx<'a> {
    pub(crate) project: &'a Project,
    pub(crate) command: &'a Command,
    pub(crate) deadline: Instant,
    audit: &'a AuditLog,
    write_lock: &'a Mutex<()>,
    models: &'a ModelCache,
    pub(crate) jobs: &'a Arc<Jobs>,
    /// Progress messages for the hub, when the command came over the link.
    pub(crate) progress: Option<crate::executor::ProgressTx>,
    changed: RefCell<Vec<String>>,
    /// Whether an audit line was written for this command.
    audited: std::cell::Cell<bool>,
    /// The clock, read once so that every stamp of one command agrees.
    pub(crate) now: Timestamp,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        project: &'a Project,
        command: &'a Command,
        deadline: Instant,
        shared: Shared<'a>,
        progress: Option<crate::executor::ProgressTx>,
    ) -> Self {
        let Shared { audit, write_lock, models, jobs } = shared;
        let now = Timestamp::from_unix_millis(i64::try_from(fsutil::now_ms()).unwrap_or(i64::MAX));
        Self {
            project,
            command,
            deadline,
            audit,
            write_lock,
            models,
            jobs,
            progress,
            changed: RefCell::new(Vec::new()),
            audited: Default::default(),
            now,
        }
    }

    /// The paths this command changed.
    pub(crate) fn into_changed(self) -> Vec<String> {
        self.changed.into_inner()
    }

    /// The command's arguments as `T`.
    pub(crate) fn args<T: DeserializeOwned>(&self) -> Result<T, ErrorBody> {
        executor::parse_args(&self.command.args)
    }

    /// The spec-workflow / spec-context root, or `invalid` for other layouts.
    pub(crate) fn workflow_root(&self) -> Result<WorkflowRoot, ErrorBody> {
        match self.project.layout {
            Layout::SpecWorkflow => Ok(WorkflowRoot::SpecWorkflow),
            Layout::SpecContext => Ok(WorkflowRoot::SpecContext),
            other => Err(wrong_layout(&self.command.name, other)),
        }
    }

    /// The project's spec model, from the cache when no file changed.
    pub(crate) fn model(&self) -> Result<Arc<Model>, ErrorBody> {
        self.models.get(self.project)
    }

    /// A text file's contents and hash, or `None` if it does not exist.
    pub(crate) fn read_text(&self, rel: &str) -> Result<Option<(String, String)>, ErrorBody> {
        let target = self.project.resolve(rel).map_err(|e| e.to_error_body())?;
        let Some(bytes) = read_current(&target, rel)? else { return Ok(None) };
        let hash = content_hash(&bytes);
        let text = String::from_utf8(bytes)
            .map_err(|_| ErrorBody::new(ErrorCode::Invalid, format!("{rel} is not UTF-8 text")))?;
        Ok(Some((text, hash)))
    }

    /// Like [`Ctx::read_text`], but a missing file is `not_found`.
    pub(crate) fn read_existing(&self, rel: &str) -> Result<(String, String), ErrorBody> {
        self.read_text(rel)?.ok_or_else(|| {
            ErrorBody::new(ErrorCode::NotFound, format!("no file {rel}"))
                .with_hint("list again: it may have been moved or deleted")
        })
    }

    /// The conflict rule for a caller's `base_hash`: when given, it must be
    /// the hash of `current` (`None`: the file does not exist).
    pub(crate) fn check_base(&self, base: Option<&str>, current: Option<&(String, String)>) -> Result<(), ErrorBody> {
        match base {
            None => Ok(()),
            Some(base) => check_base(Some(base), current.map(|c| c.1.as_str()), current.map(|c| c.0.as_bytes())),
        }
    }

    /// Writes `text` to `rel` atomically, if the file still has hash
    /// `expected` (`None`: it must not exist). Audited either way.
    pub(crate) fn write(&self, rel: &str, text: &str, expected: Option<&str>) -> Result<String, ErrorBody> {
        let new_hash = content_hash(text.as_bytes());
        let result = self.write_inner(rel, text.as_bytes(), expected);
        self.audit(rel, expected, Some(&new_hash), &result);
        result.map(|()| new_hash)
    }

    fn write_inner(&self, rel: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), ErrorBody> {
        self.writable()?;
        let target = self.project.resolve(rel).map_err(|e| e.to_error_body())?;
        let current = read_current(&target, rel)?;
        let current_hash = current.as_deref().map(content_hash);
        if current_hash.as_deref() != expected {
            let message = if current.is_some() { "file changed since it was read" } else { "file no longer exists" };
            return Err(conflict(message, current_hash.as_deref(), current.as_deref()));
        }
        if Instant::now() >= self.deadline {
            return Err(timeout_error());
        }
        if current_hash.as_deref() == Some(content_hash(bytes).as_str()) {
            return Ok(());
        }
        replace(&target, rel, bytes, expected, self.deadline)?;
        self.changed.borrow_mut().push(rel.to_owned());
        Ok(())
    }

    /// Removes a file that must still have hash `expected`. Audited.
    pub(crate) fn remove(&self, rel: &str, expected: &str) -> Result<(), ErrorBody> {
        let result = (|| {
            self.writable()?;
            let target = self.project.resolve(rel).map_err(|e| e.to_error_body())?;
            let current = read_current(&target, rel)?;
            let current_hash = current.as_deref().map(content_hash);
            if current_hash.as_deref() != Some(expected) {
                return Err(conflict("file changed since it was read", current_hash.as_deref(), current.as_deref()));
            }
            std::fs::remove_file(&target).map_err(|e| io_error(rel, &e))?;
            sync_parent(&target);
            self.changed.borrow_mut().push(rel.to_owned());
            Ok(())
        })();
        self.audit(rel, Some(expected), None, &result);
        result
    }

    /// Moves a folder inside the project (`rename`, so atomic on one file
    /// system). The target must not exist. Audited.
    pub(crate) fn move_dir(&self, from: &str, to: &str) -> Result<(), ErrorBody> {
        let result = (|| {
            self.writable()?;
            let source = self.project.resolve(from).map_err(|e| e.to_error_body())?;
            let target = self.project.resolve(to).map_err(|e| e.to_error_body())?;
            if !source.is_dir() {
                return Err(ErrorBody::new(ErrorCode::NotFound, format!("no folder {from}")));
            }
            if std::fs::symlink_metadata(&target).is_ok() {
                return Err(ErrorBody::new(ErrorCode::Conflict, format!("{to} already exists"))
                    .with_hint("rename or remove the existing folder on the machine first"));
            }
            if Instant::now() >= self.deadline {
                return Err(timeout_error());
            }
            let parent = fsutil::parent_of(&target);
            std::fs::create_dir_all(parent).map_err(|e| io_error(to, &e))?;
            std::fs::rename(&source, &target).map_err(|e| io_error(from, &e))?;
            sync_parent(&source);
            sync_parent(&target);
            self.changed.borrow_mut().extend([from.to_owned(), to.to_owned()]);
            Ok(())
        })();
        self.audit(&format!("{from} -> {to}"), None, None, &result);
        result
    }

    fn writable(&self) -> Result<(), ErrorBody> {
        if self.project.read_only {
            return Err(ErrorBody::new(ErrorCode::Forbidden, format!("project `{}` is read-only", self.project.id))
                .with_hint("the owner can allow edits by re-adding the folder without --read-only"));
        }
        Ok(())
    }

    fn audit<T>(&self, path: &str, base: Option<&str>, new_hash: Option<&str>, result: &Result<T, ErrorBody>) {
        self.audited.set(true);
        self.audit.append(&AuditRecord {
            ts_ms: fsutil::now_ms(),
            request_id: &self.command.id,
            project: &self.project.id,
            command: &self.command.name,
            path: Some(path),
            base_hash: base,
            new_hash: result.as_ref().ok().and(new_hash),
            outcome: result.as_ref().err().map_or("ok", |e| e.code.as_str()),
        });
    }
}

fn sync_parent(path: &std::path::Path) {
    if let Err(e) = fsutil::sync_dir(fsutil::parent_of(path)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot fsync the folder after a change");
    }
}

/// Runs one spec command. Mutations hold the executor's write lock for their
/// whole read-edit-write, so two edits of one file cannot interleave.
pub(crate) fn run(ctx: &Ctx<'_>) -> Result<Value, ErrorBody> {
    let name = ctx.command.name.as_str();
    if !is_mutation(name) {
        return dispatch(ctx);
    }
    let _guard = ctx.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
    let result = ctx.writable().and_then(|()| dispatch(ctx));
    if result.is_err() && !ctx.audited.get() {
        // Refused before any file was touched (read-only, conflict, bad input):
        // still one line, naming the spec or item the command was about.
        let target = ["name", "id", "doc", "title"].iter().find_map(|k| ctx.command.args.get(*k)?.as_str());
        let base = ctx.command.args.get("base_hash").and_then(Value::as_str);
        ctx.audit(target.unwrap_or(""), base, None, &result);
    }
    result
}

fn dispatch(ctx: &Ctx<'_>) -> Result<Value, ErrorBody> {
    let name = ctx.command.name.as_str();
    match name {
        "project-info" => model::project_info(ctx),
        n if n.starts_with("job-") => jobs::run(ctx),
        n if n.starts_with("approval-") => approvals::run(ctx),
        n if n.starts_with("impl-log-") => impl_log::run(ctx),
        "steering-read" | "steering-status" | "steering-write" => workflow::steering(ctx),
        _ => match ctx.project.layout {
            Layout::LeanSpec => leanspec::run(ctx),
            Layout::SpecWorkflow | Layout::SpecContext => workflow::run(ctx),
            Layout::Generic => Err(wrong_layout(name, Layout::Generic)),
        },
    }
}

/// `invalid`: the command does not apply to this project's layout.
pub(crate) fn wrong_layout(command: &str, layout: Layout) -> ErrorBody {
    ErrorBody::new(ErrorCode::Invalid, format!("`{command}` does not apply to a {layout} project"))
        .with_hint("see the per-layout command table in docs/protocol.md")
}

/// A spec-crate error as a wire error, keeping its stable code and hint.
pub(crate) fn spec_error(error: SpecError) -> ErrorBody {
    let code = match error.code() {
        "not_found" => ErrorCode::NotFound,
        "conflict" => ErrorCode::Conflict,
        "forbidden" => ErrorCode::Forbidden,
        _ => ErrorCode::Invalid,
    };
    ErrorBody::new(code, error.to_string()).with_hint(error.hint())
}

/// `not_found` for a named thing.
pub(crate) fn not_found(what: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("{what} not found")).with_hint("list again to see what exists")
}

/// Serializes a result.
pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ErrorBody> {
    serde_json::to_value(value).map_err(executor::internal)
}

/// A random lowercase alphanumeric suffix like spec-workflow's
/// `Math.random().toString(36).substring(2, 11)`.
pub(crate) fn random_suffix() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..9).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// The conflict rule of a whole-file write: with a base hash the file must
/// exist with that hash; without one it must not exist.
pub(crate) fn check_base_required(base: Option<&str>, current: Option<&(String, String)>) -> Result<(), ErrorBody> {
    check_base(base, current.map(|c| c.1.as_str()), current.map(|c| c.0.as_bytes()))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
