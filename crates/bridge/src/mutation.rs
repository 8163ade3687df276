//! The mutation rules, in one place: every byte a hub command changes in a
//! project goes through [`ProjectFiles`].
//!
//! - Paths go through the path policy ([`Project::resolve`]).
//! - A read-only project refuses every change (`forbidden`).
//! - The conflict rule: a change names the hash of the copy it was computed
//!   from (`None`: the file must not exist); any other current content is a
//!   `conflict` carrying the current hash and content, and nothing is written.
//! - Writes go to a temp file in the same folder, are fsynced, checked once
//!   more and renamed over the target, then the folder is fsynced.
//! - Every change, done or refused, is one line in the audit log.
//! - Nothing is committed past the command's deadline.
//!
//! What it does not know: what a command means, the spec formats, the hub, or
//! how commands are scheduled. The executor and the commands sit above it.

use crate::audit::{AuditLog, AuditRecord};
use crate::fsutil;
use crate::project::Project;
use serde_json::json;
use specbridge_protocol::{content_hash, CommandName, Content, ErrorBody, ErrorCode};
use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

/// Largest file `file-read` returns, and the largest current content a conflict
/// carries: base64 of this plus the envelope stays under the 1 MiB message limit.
pub(crate) const MAX_INLINE_BYTES: u64 = 700 * 1024;

/// A text file as read: its contents and hash.
pub(crate) type TextFile = (String, String);

/// One command's access to one project's files, under the mutation rules.
pub(crate) struct ProjectFiles<'a> {
    pub(crate) project: &'a Project,
    audit: &'a AuditLog,
    request_id: &'a str,
    command: CommandName,
    deadline: Instant,
    /// Every path this command created, replaced, moved or removed.
    changed: RefCell<Vec<String>>,
    /// Whether an audit line was written for this command.
    audited: Cell<bool>,
}

impl<'a> ProjectFiles<'a> {
    pub(crate) fn new(
        project: &'a Project,
        audit: &'a AuditLog,
        request_id: &'a str,
        command: CommandName,
        deadline: Instant,
    ) -> Self {
        Self { project, audit, request_id, command, deadline, changed: RefCell::default(), audited: Cell::default() }
    }

    /// The paths this command changed.
    pub(crate) fn into_changed(self) -> Vec<String> {
        self.changed.into_inner()
    }

    /// Whether an audit line was written for this command.
    pub(crate) fn audited(&self) -> bool {
        self.audited.get()
    }

    /// The command's deadline: nothing is committed after it.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A file's bytes, or `None` if it does not exist.
    pub(crate) fn read_bytes(&self, rel: &str) -> Result<Option<Vec<u8>>, ErrorBody> {
        let target = self.project.resolve(rel).map_err(|e| e.to_error_body())?;
        read_current(&target, rel)
    }

    /// A text file's contents and hash, or `None` if it does not exist.
    pub(crate) fn read_text(&self, rel: &str) -> Result<Option<TextFile>, ErrorBody> {
        let Some(bytes) = self.read_bytes(rel)? else { return Ok(None) };
        let hash = content_hash(&bytes);
        let text = String::from_utf8(bytes)
            .map_err(|_| ErrorBody::new(ErrorCode::Invalid, format!("{rel} is not UTF-8 text")))?;
        Ok(Some((text, hash)))
    }

    /// Like [`ProjectFiles::read_text`], but a missing file is `not_found`.
    pub(crate) fn read_existing(&self, rel: &str) -> Result<TextFile, ErrorBody> {
        self.read_text(rel)?.ok_or_else(|| {
            ErrorBody::new(ErrorCode::NotFound, format!("no file {rel}"))
                .with_hint("list again: it may have been moved or deleted")
        })
    }

    /// The conflict rule for an edit computed from `current`: when the author
    /// gave a base hash, `current` must still have it. Without one, an edit
    /// that changes only its own bytes applies to the file as it is.
    pub(crate) fn check_seen(&self, base: Option<&str>, current: &TextFile) -> Result<(), ErrorBody> {
        match base {
            None => Ok(()),
            Some(base) => check_base(Some(base), Some(&current.1), Some(current.0.as_bytes())),
        }
    }

    /// Writes `bytes` to `rel` atomically if the file still has hash
    /// `expected` (`None`: it must not exist). Audited either way. Returns the new hash.
    pub(crate) fn write(&self, rel: &str, bytes: &[u8], expected: Option<&str>) -> Result<String, ErrorBody> {
        let new_hash = content_hash(bytes);
        let result = self.write_inner(rel, bytes, expected);
        self.audit(rel, expected, Some(&new_hash), &result);
        result.map(|()| new_hash)
    }

    fn write_inner(&self, rel: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), ErrorBody> {
        self.writable()?;
        let target = self.project.resolve(rel).map_err(|e| e.to_error_body())?;
        let current = read_current(&target, rel)?;
        let current_hash = current.as_deref().map(content_hash);
        check_base(expected, current_hash.as_deref(), current.as_deref())?;
        self.before_commit()?;
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
            check_base(Some(expected), current_hash.as_deref(), current.as_deref())?;
            self.before_commit()?;
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
            self.before_commit()?;
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

    /// `forbidden` for a read-only project.
    pub(crate) fn writable(&self) -> Result<(), ErrorBody> {
        if self.project.read_only {
            return Err(ErrorBody::new(ErrorCode::Forbidden, format!("project `{}` is read-only", self.project.id))
                .with_hint("the owner can allow edits by re-adding the folder without --read-only"));
        }
        Ok(())
    }

    /// `timeout` once the deadline has passed: checked before every commit.
    fn before_commit(&self) -> Result<(), ErrorBody> {
        if Instant::now() >= self.deadline {
            return Err(timeout_error());
        }
        Ok(())
    }

    /// Appends one audit line for this command about `path`.
    pub(crate) fn audit<T>(
        &self,
        path: &str,
        base: Option<&str>,
        new_hash: Option<&str>,
        result: &Result<T, ErrorBody>,
    ) {
        self.audited.set(true);
        self.audit.append(&AuditRecord {
            ts_ms: fsutil::now_ms(),
            request_id: self.request_id,
            project: &self.project.id,
            command: self.command.as_str(),
            path: Some(path),
            base_hash: base,
            new_hash: result.as_ref().ok().and(new_hash),
            outcome: result.as_ref().err().map_or("ok", |e| e.code.as_str()),
            job: None,
        });
    }
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

/// A `conflict` with the current hash and, when it fits, the current content.
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
fn replace(target: &Path, rel: &str, bytes: &[u8], expected: Option<&str>, deadline: Instant) -> Result<(), ErrorBody> {
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

fn sync_parent(path: &Path) {
    if let Err(e) = fsutil::sync_dir(fsutil::parent_of(path)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot fsync the folder after a change");
    }
}

/// An I/O error as a wire error with the right code.
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

/// The command's deadline passed before anything was committed.
pub(crate) fn timeout_error() -> ErrorBody {
    ErrorBody::new(ErrorCode::Timeout, "the command's deadline passed; nothing was written")
        .with_hint("try again; if it keeps happening the machine's disk may be slow")
}

/// A serialization failure as `internal`.
pub(crate) fn internal(error: serde_json::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, error.to_string())
}
