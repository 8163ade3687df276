//! Runs the commands the hub sends: `file-read` and `file-write`.
//!
//! Every path goes through the path policy first. Writes follow the mutation
//! rules of docs/protocol.md: base-hash conflict check, temp file in the same
//! folder, fsync, a second hash check just before the rename, rename, fsync of
//! the folder, and an audit line whatever the outcome. The work is blocking
//! file I/O, so [`Executor::run`] moves it off the async workers.

use crate::audit::{AuditLog, AuditRecord};
use crate::commands::{self as spec_commands, Jobs, ModelCache};
use crate::fsutil;
use crate::index::MAX_FILE_BYTES;
use crate::project::Project;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use specbridge_protocol::{
    commands, content_hash, Command, Content, ErrorBody, ErrorCode, FileReadArgs, FileReadResult, FileWriteArgs,
    FileWriteResult, Response, DEFAULT_DEADLINE_MS, HASH_HEX_LEN, MAX_MESSAGE_BYTES,
};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Room left in a response message for the envelope around the result.
const RESPONSE_HEADROOM: usize = 16 * 1024;

/// Largest file `file-read` returns, and the largest current content a conflict
/// carries: base64 of this plus the envelope stays under the 1 MiB message limit.
pub(crate) const MAX_INLINE_BYTES: u64 = 700 * 1024;

/// What happened to one command, for the response and for engine events.
#[derive(Debug, Clone)]
pub(crate) struct Handled {
    pub(crate) response: Response,
    pub(crate) name: String,
    pub(crate) project: String,
    pub(crate) path: Option<String>,
    /// `ok` or the error code.
    pub(crate) outcome: String,
    /// Whether a file was written (the sync core should re-read it).
    pub(crate) wrote: bool,
    /// Every path a spec command created, replaced, moved or removed (the
    /// sync core re-reads them; folders are rescanned).
    pub(crate) changed: Vec<String>,
}

/// Where a running command sends its progress messages (the link's progress queue).
pub(crate) type ProgressTx = tokio::sync::mpsc::Sender<specbridge_protocol::Message>;

/// Runs commands against the served projects.
#[derive(Debug)]
pub(crate) struct Executor {
    projects: Arc<BTreeMap<String, Project>>,
    audit: AuditLog,
    /// Serializes mutations so two writes to one file cannot interleave between
    /// their conflict checks and their renames.
    write_lock: Mutex<()>,
    /// Spec models per project, rebuilt only when a file under the roots changed.
    models: ModelCache,
    /// The jobs of the bridge's own config, their runs and history.
    jobs: Arc<Jobs>,
}

impl Executor {
    pub(crate) fn new(projects: Arc<BTreeMap<String, Project>>, audit: AuditLog, jobs: Arc<Jobs>) -> Self {
        Self { projects, audit, write_lock: Mutex::new(()), models: ModelCache::default(), jobs }
    }

    /// Runs a command on the blocking pool, within its deadline.
    /// `progress` receives output of long commands (`job-run`) while they run.
    pub(crate) async fn run(self: Arc<Self>, command: Command, progress: Option<ProgressTx>) -> Handled {
        let ms = if command.deadline_ms == 0 { DEFAULT_DEADLINE_MS } else { command.deadline_ms };
        let deadline = Instant::now() + Duration::from_millis(ms);
        let fallback = command.clone();
        let this = Arc::clone(&self);
        let work = tokio::task::spawn_blocking(move || this.execute_with(&command, deadline, progress));
        // The blocking work checks the deadline itself before committing; this
        // outer bound only covers a disk that hangs inside a system call.
        match tokio::time::timeout_at((deadline + Duration::from_millis(250)).into(), work).await {
            Ok(Ok(handled)) => handled,
            Ok(Err(join)) => {
                failed(&fallback, ErrorBody::new(ErrorCode::Internal, format!("command task failed: {join}")))
            }
            Err(_) => failed(&fallback, timeout_error()),
        }
    }

    /// Runs a command on the calling thread (blocking).
    #[cfg(test)]
    pub(crate) fn execute(&self, command: &Command, deadline: Instant) -> Handled {
        self.execute_with(command, deadline, None)
    }

    /// Runs a command on the calling thread (blocking), with an optional progress channel.
    pub(crate) fn execute_with(&self, command: &Command, deadline: Instant, progress: Option<ProgressTx>) -> Handled {
        let mut path = None;
        let mut wrote = false;
        let mut changed = Vec::new();
        let result = match command.name.as_str() {
            commands::FILE_READ => self.file_read(command, &mut path),
            commands::FILE_WRITE => {
                let mut audit = WriteAudit::default();
                let result = self.file_write(command, deadline, &mut audit);
                wrote = result.is_ok() && audit.wrote;
                path = audit.path.clone();
                self.audit.append(&AuditRecord {
                    ts_ms: fsutil::now_ms(),
                    request_id: &command.id,
                    project: &command.project,
                    command: &command.name,
                    path: audit.path.as_deref(),
                    base_hash: audit.base_hash.as_deref(),
                    new_hash: result.as_ref().ok().and(audit.new_hash.as_deref()),
                    outcome: result.as_ref().err().map_or("ok", |e| e.code.as_str()),
                });
                result
            }
            name if spec_commands::is_known(name) => {
                let result = self.project(&command.project).and_then(|project| {
                    let shared = spec_commands::Shared {
                        audit: &self.audit,
                        write_lock: &self.write_lock,
                        models: &self.models,
                        jobs: &self.jobs,
                    };
                    let ctx = spec_commands::Ctx::new(project, command, deadline, shared, progress);
                    let result = spec_commands::run(&ctx);
                    changed = ctx.into_changed();
                    result
                });
                wrote = !changed.is_empty();
                path = changed.first().cloned();
                result
            }
            other => Err(ErrorBody::new(ErrorCode::Invalid, format!("unknown command `{other}`"))
                .with_hint("the command list is in docs/protocol.md")),
        };
        if wrote && changed.is_empty() {
            changed.extend(path.clone());
        }
        let response = fit(match result {
            Ok(value) => Response::ok(command.id.clone(), value),
            Err(error) => Response::err(command.id.clone(), error),
        });
        let outcome = response.error.as_ref().map_or_else(|| "ok".to_owned(), |e| e.code.as_str().to_owned());
        Handled {
            response,
            name: command.name.clone(),
            project: command.project.clone(),
            path,
            outcome,
            wrote,
            changed,
        }
    }

    /// How many spec models were built (parsed) so far.
    #[cfg(test)]
    pub(crate) fn models_builds(&self) -> u64 {
        self.models.builds()
    }

    pub(crate) fn project(&self, id: &str) -> Result<&Project, ErrorBody> {
        self.projects.get(id).ok_or_else(|| {
            ErrorBody::new(ErrorCode::NotFound, format!("no project `{id}` on this machine"))
                .with_hint("the machine's project list is in `specbridge projects list`")
        })
    }

    fn file_read(&self, command: &Command, path_out: &mut Option<String>) -> Result<Value, ErrorBody> {
        let project = self.project(&command.project)?;
        let args: FileReadArgs = parse_args(&command.args)?;
        *path_out = Some(args.path.clone());
        let target = project.resolve(&args.path).map_err(|e| e.to_error_body())?;
        let meta = std::fs::metadata(&target).map_err(|e| io_error(&args.path, &e))?;
        if meta.is_dir() {
            return Err(ErrorBody::new(ErrorCode::Invalid, format!("{} is a folder, not a file", args.path)));
        }
        if meta.len() > MAX_INLINE_BYTES {
            return Err(ErrorBody::new(ErrorCode::TooLarge, format!("{} is {} bytes", args.path, meta.len()))
                .with_hint("files over 700 KiB cannot travel in one response; read the hub's synced copy"));
        }
        let bytes = std::fs::read(&target).map_err(|e| io_error(&args.path, &e))?;
        let result = FileReadResult {
            path: args.path,
            hash: content_hash(&bytes),
            size: bytes.len() as u64,
            content: Content::from_bytes(&bytes),
        };
        serde_json::to_value(result).map_err(internal)
    }

    fn file_write(&self, command: &Command, deadline: Instant, audit: &mut WriteAudit) -> Result<Value, ErrorBody> {
        // Recorded before any check, so even a refused request leaves its target in the log.
        let arg = |key: &str| command.args.get(key).and_then(Value::as_str).map(str::to_owned);
        audit.path = arg("path");
        audit.base_hash = arg("base_hash");
        let project = self.project(&command.project)?;
        let args: FileWriteArgs = parse_args(&command.args)?;
        let target = project.resolve(&args.path).map_err(|e| e.to_error_body())?;
        if let Some(base) = &args.base_hash {
            if base.len() != HASH_HEX_LEN || !base.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(ErrorBody::new(ErrorCode::Invalid, "base_hash is not a 64-character lowercase hex hash")
                    .with_hint("send the hash returned by file-read, or omit base_hash to create a new file"));
            }
        }
        let bytes = args.content.to_bytes().map_err(|e| ErrorBody::new(ErrorCode::Invalid, e.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ErrorBody::new(ErrorCode::TooLarge, "content exceeds the 32 MiB file limit"));
        }
        if project.read_only {
            return Err(ErrorBody::new(ErrorCode::Forbidden, format!("project `{}` is read-only", project.id))
                .with_hint("the owner can allow edits by re-adding the folder without --read-only"));
        }
        let new_hash = content_hash(&bytes);
        audit.new_hash = Some(new_hash.clone());

        let _guard = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let current = read_current(&target, &args.path)?;
        let current_hash = current.as_deref().map(content_hash);
        check_base(args.base_hash.as_deref(), current_hash.as_deref(), current.as_deref())?;
        if current_hash.as_deref() != Some(new_hash.as_str()) {
            if Instant::now() >= deadline {
                return Err(timeout_error());
            }
            replace(&target, &args.path, &bytes, current_hash.as_deref(), deadline)?;
            audit.wrote = true;
        }
        let result = FileWriteResult { path: args.path, hash: new_hash, size: bytes.len() as u64 };
        serde_json::to_value(result).map_err(internal)
    }
}

#[derive(Default)]
struct WriteAudit {
    path: Option<String>,
    base_hash: Option<String>,
    new_hash: Option<String>,
    wrote: bool,
}

pub(crate) fn parse_args<T: DeserializeOwned>(args: &Value) -> Result<T, ErrorBody> {
    T::deserialize(args).map_err(|e| {
        ErrorBody::new(ErrorCode::Invalid, format!("bad arguments: {e}"))
            .with_hint("see the command table in docs/protocol.md")
    })
}

/// The file's bytes, or `None` if it does not exist.
pub(crate) fn read_current(target: &Path, rel: &str) -> Result<Option<Vec<u8>>, ErrorBody> {
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(ErrorBody::new(ErrorCode::Invalid, format!("{rel} is a folder, not a file"))),
        Ok(_) => std::fs::read(target).map(Some).map_err(|e| io_error(rel, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(rel, &e)),
    }
}

/// The conflict rule: with a base hash the file must exist with that hash;
/// without one the file must not exist.
pub(crate) fn check_base(
    base: Option<&str>,
    current_hash: Option<&str>,
    current: Option<&[u8]>,
) -> Result<(), ErrorBody> {
    let message = match (base, current_hash) {
        (Some(base), Some(now)) if base == now => return Ok(()),
        (None, None) => return Ok(()),
        (Some(_), Some(_)) => "file changed since base hash",
        (Some(_), None) => "file no longer exists",
        (None, Some(_)) => "file already exists",
    };
    Err(conflict(message, current_hash, current))
}

pub(crate) fn conflict(message: &str, current_hash: Option<&str>, current: Option<&[u8]>) -> ErrorBody {
    let mut details = json!({ "current_hash": current_hash });
    if let Some(bytes) = current.filter(|b| b.len() as u64 <= MAX_INLINE_BYTES) {
        details["current_content"] = json!(Content::from_bytes(bytes));
    }
    ErrorBody::new(ErrorCode::Conflict, message)
        .with_hint("reload the file and apply your edit again")
        .with_details(details)
}

/// Temp file in the same folder, write, fsync, keep the old permissions,
/// re-check the hash, rename, fsync the folder. The temp file never survives an error.
pub(crate) fn replace(
    target: &Path,
    rel: &str,
    bytes: &[u8],
    expected: Option<&str>,
    deadline: Instant,
) -> Result<(), ErrorBody> {
    let dir = fsutil::parent_of(target);
    std::fs::create_dir_all(dir).map_err(|e| io_error(rel, &e))?;
    let permissions = std::fs::metadata(target).ok().map(|m| m.permissions());
    let temp = fsutil::temp_path_for(target);
    let result = (|| {
        let mut file = fsutil::create_temp(&temp, None).map_err(|e| io_error(rel, &e))?;
        file.write_all(bytes).map_err(|e| io_error(rel, &e))?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions).map_err(|e| io_error(rel, &e))?;
        }
        file.sync_all().map_err(|e| io_error(rel, &e))?;
        drop(file);
        // The file may have changed while we wrote the temp file: check again
        // right before the rename, which narrows the race to two system calls.
        let now = read_current(target, rel)?;
        let now_hash = now.as_deref().map(content_hash);
        if now_hash.as_deref() != expected {
            return Err(conflict("file changed while writing", now_hash.as_deref(), now.as_deref()));
        }
        if Instant::now() >= deadline {
            return Err(timeout_error());
        }
        std::fs::rename(&temp, target).map_err(|e| io_error(rel, &e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    if let Err(e) = fsutil::sync_dir(dir) {
        // The rename happened; only its durability across a power cut is unsure.
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the folder after a write");
    }
    Ok(())
}

pub(crate) fn io_error(rel: &str, error: &std::io::Error) -> ErrorBody {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => ErrorBody::new(ErrorCode::NotFound, format!("no file {rel}")),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            ErrorBody::new(ErrorCode::NoSpace, format!("the disk is full; nothing was written to {rel}"))
                .with_hint("free some disk space on the machine and try again")
        }
        ErrorKind::PermissionDenied => ErrorBody::new(ErrorCode::Forbidden, format!("permission denied for {rel}"))
            .with_hint("the bridge's user cannot access this file"),
        _ => ErrorBody::new(ErrorCode::Internal, format!("{rel}: {error}")),
    }
}

pub(crate) fn timeout_error() -> ErrorBody {
    ErrorBody::new(ErrorCode::Timeout, "the command's deadline passed; nothing was written")
        .with_hint("try again; if it keeps happening the machine's disk may be slow")
}

pub(crate) fn internal(error: serde_json::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, error.to_string())
}

fn failed(command: &Command, error: ErrorBody) -> Handled {
    let outcome = error.code.as_str().to_owned();
    Handled {
        response: Response::err(command.id.clone(), error),
        name: command.name.clone(),
        project: command.project.clone(),
        path: command.args.get("path").and_then(Value::as_str).map(str::to_owned),
        outcome,
        wrote: false,
        changed: Vec::new(),
    }
}

/// A response that would not fit in one message: a conflict loses its
/// `current_content` (the hash stays), a result becomes `too_large`.
fn fit(mut response: Response) -> Response {
    let fits = |r: &Response| serde_json::to_vec(r).is_ok_and(|v| v.len() + RESPONSE_HEADROOM <= MAX_MESSAGE_BYTES);
    if fits(&response) {
        return response;
    }
    if let Some(details) = response.error.as_mut().and_then(|e| e.details.as_mut()).and_then(Value::as_object_mut) {
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
