//! The sync half of a bridge session: file events (with chunk assembly),
//! acks by sequence number, digests, manifests and `want`, project lists and
//! command responses.
//!
//! Changes decoded from one frame are written in one transaction and then
//! acked once, cumulatively: an ack always means "stored", and a batch of 100
//! small files costs one commit and one ack, not 100.

use super::{Fatal, Session};
use crate::events::HubEvent;
use crate::metrics::StoreOp;
use crate::store::{FileChange, FileRow};
use specbridge_protocol::{
    content_hash, project_digest, Ack, Digest, FileDelete, FileUpsert, ManifestEntry, Message, ProjectRef, Want,
    MANIFEST_PART_ENTRIES, MAX_PATH_BYTES,
};
use std::collections::{HashMap, HashSet};

/// Largest file the hub assembles from chunks, and the most bytes one session
/// may hold in unfinished files at once (bridges send one large file at a time).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest the hub accumulates for one project.
const MAX_MANIFEST_ENTRIES: usize = 500_000;
/// Chunk buffers start at most this big, so a lying `size` cannot make the
/// hub reserve 64 MiB up front.
const MAX_INITIAL_CAPACITY: usize = 4 * 1024 * 1024;

/// A file being assembled from chunks.
struct Assembly {
    seq: u64,
    hash: String,
    size: u64,
    mtime_ms: u64,
    bytes: Vec<u8>,
}

/// Per-session sync state.
pub(super) struct SyncState {
    projects: HashSet<String>,
    /// Highest sequence number stored (in the database).
    stored_seq: u64,
    /// A complete event (stored or replayed) arrived since the last ack.
    ack_due: bool,
    /// Changes decoded from the current frame, not yet written.
    pending: Vec<FileChange>,
    pending_seq: u64,
    assemblies: HashMap<(String, String), Assembly>,
    manifests: HashMap<String, Vec<ManifestEntry>>,
    /// The hub's digest of each project, while nothing changed it: a bridge
    /// that sends the same digest again (thousands in one batch, say) costs
    /// a map lookup, not a read of every file row.
    digests: HashMap<String, String>,
}

impl SyncState {
    /// State for a session that starts at `stored_seq`.
    pub(super) fn new(projects: HashSet<String>, stored_seq: u64) -> Self {
        Self {
            projects,
            stored_seq,
            ack_due: false,
            pending: Vec::new(),
            pending_seq: 0,
            assemblies: HashMap::new(),
            manifests: HashMap::new(),
            digests: HashMap::new(),
        }
    }
}

impl Session {
    /// Handles one decoded frame (a message or a batch) and returns the replies
    /// to send, with the cumulative ack last.
    pub(super) async fn handle_frame(&mut self, message: Message) -> Result<Vec<Message>, Fatal> {
        let mut replies = Vec::new();
        match message {
            Message::Batch(batch) => {
                for inner in batch.messages {
                    self.handle(inner, &mut replies).await?;
                }
            }
            other => self.handle(other, &mut replies).await?,
        }
        self.flush().await?;
        if std::mem::take(&mut self.sync.ack_due) {
            // Replayed events (seq <= stored) are acked again: the bridge may
            // be waiting on them after a lost ack.
            replies.push(Message::Ack(Ack { seq: self.sync.stored_seq }));
        }
        Ok(replies)
    }

    /// Whether the hub's copy of a project has the bridge's digest.
    pub(super) async fn digest_matches(&mut self, digest: &Digest) -> Result<bool, Fatal> {
        let ours = match self.sync.digests.get(&digest.project) {
            Some(ours) => ours.clone(),
            None => {
                let rows = self.hub.store.list_files(&self.machine, &digest.project).await?;
                let ours = project_digest(rows.iter().map(|r| (r.path.as_str(), r.hash.as_str())));
                self.sync.digests.insert(digest.project.clone(), ours.clone());
                ours
            }
        };
        Ok(ours == digest.digest)
    }

    /// Answers the digests of `hello`: the projects in sync (for the
    /// welcome's `in_sync`), and a `want-manifest` for each other one the
    /// session serves.
    pub(super) async fn hello_digests(&mut self, digests: &[Digest]) -> Result<(Vec<String>, Vec<Message>), Fatal> {
        let (mut in_sync, mut wants) = (Vec::new(), Vec::new());
        for digest in digests {
            if !self.sync.projects.contains(&digest.project) {
                continue;
            }
            if self.digest_matches(digest).await? {
                in_sync.push(digest.project.clone());
            } else {
                wants.push(Message::WantManifest(ProjectRef { project: digest.project.clone() }));
            }
        }
        Ok((in_sync, wants))
    }

    async fn handle(&mut self, message: Message, replies: &mut Vec<Message>) -> Result<(), Fatal> {
        match message {
            Message::FileUpsert(upsert) => self.on_upsert(upsert)?,
            Message::FileDelete(delete) => self.on_delete(delete)?,
            Message::Digest(digest) => {
                if !self.sync.projects.contains(&digest.project) {
                    return Err(Fatal::invalid(format!("unknown project {:?}", digest.project)));
                }
                self.flush().await?;
                let matches = self.digest_matches(&digest).await?;
                let project = ProjectRef { project: digest.project };
                replies.push(if matches { Message::InSync(project) } else { Message::WantManifest(project) });
            }
            Message::Manifest(part) => {
                if !self.sync.projects.contains(&part.project) {
                    return Err(Fatal::invalid(format!("unknown project {:?}", part.project)));
                }
                let entries = self.sync.manifests.entry(part.project.clone()).or_default();
                entries.extend(part.entries);
                if entries.len() > MAX_MANIFEST_ENTRIES {
                    return Err(Fatal::too_large(format!(
                        "manifest of {:?} has over {MAX_MANIFEST_ENTRIES} entries",
                        part.project
                    )));
                }
                if part.last {
                    let entries = self.sync.manifests.remove(&part.project).unwrap_or_default();
                    self.on_manifest(&part.project, entries, replies).await?;
                }
            }
            Message::Projects(update) => {
                self.flush().await?;
                self.hub.store.replace_projects(&self.machine, &update.projects).await?;
                self.hub.events.publish(HubEvent::ProjectChanged { machine: self.machine.clone() });
                self.sync.projects = update.projects.into_iter().map(|p| p.id).collect();
                self.sync.digests.clear();
                let projects = &self.sync.projects;
                self.sync.manifests.retain(|project, _| projects.contains(project));
                self.sync.assemblies.retain(|(project, _), _| projects.contains(project));
            }
            Message::Response(response) => {
                if let Some(late) = self.hub.router.complete(&self.id, response) {
                    crate::commands::late_answer(&self.hub, &self.machine, late).await;
                }
            }
            Message::Progress(progress) => self.hub.router.progress(&self.id, progress),
            Message::Error(error) => {
                tracing::warn!(machine = %self.machine, error = ?error.message, code = %error.code, "bridge reported an error")
            }
            other => tracing::debug!(kind = other.kind(), "ignoring unexpected message from bridge"),
        }
        Ok(())
    }

    fn check_target(&self, project: &str, path: &str) -> Result<(), Fatal> {
        if !self.sync.projects.contains(project) {
            return Err(Fatal::invalid(format!("unknown project {project:?}")));
        }
        // The bridge's path policy is the real guard; this keeps paths the hub
        // stores and serves back well-formed whatever a bridge sends.
        let bad = path.is_empty()
            || path.len() > MAX_PATH_BYTES
            || path.starts_with('/')
            || path.contains('\\')
            || path.chars().any(char::is_control)
            || specbridge_protocol::has_bidi_control(path)
            || path.split('/').any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(Fatal::invalid(format!("invalid path {path:?}")));
        }
        Ok(())
    }

    fn on_delete(&mut self, delete: FileDelete) -> Result<(), Fatal> {
        self.check_target(&delete.project, &delete.path)?;
        self.sync.ack_due = true;
        if delete.seq > self.sync.stored_seq {
            // A delete also ends any half-assembled upload of that path.
            self.sync.assemblies.remove(&(delete.project.clone(), delete.path.clone()));
            self.sync.pending.push(FileChange::Delete { project: delete.project, path: delete.path });
            self.sync.pending_seq = self.sync.pending_seq.max(delete.seq);
        }
        Ok(())
    }

    fn on_upsert(&mut self, upsert: FileUpsert) -> Result<(), Fatal> {
        self.check_target(&upsert.project, &upsert.path)?;
        let key = (upsert.project.clone(), upsert.path.clone());
        if upsert.offset == 0 {
            self.start_assembly(&key, &upsert)?;
        }
        let assembly = self
            .sync
            .assemblies
            .get_mut(&key)
            .filter(|a| a.seq == upsert.seq && a.bytes.len() as u64 == upsert.offset)
            .ok_or_else(|| Fatal::invalid(format!("chunk of {} out of order", upsert.path)))?;
        let bytes = upsert.content.to_bytes().map_err(|e| Fatal::invalid(e.to_string()))?;
        if assembly.bytes.len() as u64 + bytes.len() as u64 > assembly.size {
            return Err(Fatal::invalid(format!("{} is longer than its declared size", upsert.path)));
        }
        assembly.bytes.extend_from_slice(&bytes);
        if !upsert.last {
            return Ok(());
        }
        let Some(assembly) = self.sync.assemblies.remove(&key) else { return Ok(()) };
        if assembly.bytes.len() as u64 != assembly.size || content_hash(&assembly.bytes) != assembly.hash {
            return Err(Fatal::invalid(format!("{} does not match its size and hash", upsert.path)));
        }
        self.sync.ack_due = true;
        if assembly.seq > self.sync.stored_seq {
            self.sync.pending.push(FileChange::Upsert {
                project: key.0,
                row: FileRow {
                    path: key.1,
                    hash: assembly.hash,
                    size: i64::try_from(assembly.size).unwrap_or(i64::MAX),
                    mtime_ms: i64::try_from(assembly.mtime_ms).unwrap_or(i64::MAX),
                },
                content: assembly.bytes,
            });
            self.sync.pending_seq = self.sync.pending_seq.max(assembly.seq);
        }
        Ok(())
    }

    /// Starts (or restarts) assembling a file, within the size budget.
    fn start_assembly(&mut self, key: &(String, String), upsert: &FileUpsert) -> Result<(), Fatal> {
        // A restart of the same path replaces its unfinished copy.
        self.sync.assemblies.remove(key);
        let in_flight: u64 = self.sync.assemblies.values().map(|a| a.size).sum();
        if upsert.size > MAX_FILE_BYTES {
            return Err(Fatal::too_large(format!("{} is over the 64 MiB file limit", upsert.path)));
        }
        if in_flight.saturating_add(upsert.size) > MAX_FILE_BYTES {
            return Err(Fatal::too_large("over 64 MiB of unfinished chunked files in one session"));
        }
        let capacity = usize::try_from(upsert.size).unwrap_or(0).min(MAX_INITIAL_CAPACITY);
        self.sync.assemblies.insert(
            key.clone(),
            Assembly {
                seq: upsert.seq,
                hash: upsert.hash.clone(),
                size: upsert.size,
                mtime_ms: upsert.mtime_ms,
                bytes: Vec::with_capacity(capacity),
            },
        );
        Ok(())
    }

    /// Writes the changes decoded so far in one transaction.
    async fn flush(&mut self) -> Result<(), Fatal> {
        if self.sync.pending.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut self.sync.pending);
        let seq = self.sync.pending_seq.max(self.sync.stored_seq);
        let touched = changed_paths(&changes);
        let applied = self.hub.store.apply_changes(&self.machine, changes, seq);
        self.hub.metrics.time(StoreOp::apply_changes, applied).await?;
        self.stored(touched);
        self.sync.stored_seq = seq;
        Ok(())
    }

    /// Answers a complete manifest: deletes what the bridge no longer has and
    /// asks, in parts, for what the hub lacks or holds with another hash.
    async fn on_manifest(
        &mut self,
        project: &str,
        entries: Vec<ManifestEntry>,
        replies: &mut Vec<Message>,
    ) -> Result<(), Fatal> {
        self.flush().await?;
        let stored = self.hub.store.list_files(&self.machine, project).await?;
        let theirs: HashMap<&str, &str> = entries.iter().map(|e| (e.path.as_str(), e.hash.as_str())).collect();
        let ours: HashMap<&str, &str> = stored.iter().map(|r| (r.path.as_str(), r.hash.as_str())).collect();
        let stale: Vec<FileChange> = stored
            .iter()
            .filter(|r| !theirs.contains_key(r.path.as_str()))
            .map(|r| FileChange::Delete { project: project.to_owned(), path: r.path.clone() })
            .collect();
        if !stale.is_empty() {
            let touched = changed_paths(&stale);
            self.hub.store.apply_changes(&self.machine, stale, self.sync.stored_seq).await?;
            self.stored(touched);
        }
        let mut seen = HashSet::new();
        let wanted: Vec<String> = entries
            .iter()
            .filter(|e| ours.get(e.path.as_str()) != Some(&e.hash.as_str()))
            .filter(|e| seen.insert(e.path.as_str()))
            .map(|e| e.path.clone())
            .collect();
        // Always at least one part, so the bridge always sees `last: true`.
        let parts: Vec<&[String]> =
            if wanted.is_empty() { vec![&[]] } else { wanted.chunks(MANIFEST_PART_ENTRIES).collect() };
        let count = parts.len();
        for (i, paths) in parts.into_iter().enumerate() {
            replies.push(Message::Want(Want {
                project: project.to_owned(),
                paths: paths.to_vec(),
                last: i + 1 == count,
            }));
        }
        Ok(())
    }

    /// After a store change: forgets the digests it made stale, and tells
    /// dashboards which files of which projects changed.
    fn stored(&mut self, touched: HashMap<String, Vec<String>>) {
        for (project, paths) in touched {
            self.sync.digests.remove(&project);
            self.hub.events.publish(HubEvent::FileChanged { machine: self.machine.clone(), project, paths });
        }
    }
}

/// The paths a batch of changes touches, by project.
fn changed_paths(changes: &[FileChange]) -> HashMap<String, Vec<String>> {
    let mut touched: HashMap<String, Vec<String>> = HashMap::new();
    for change in changes {
        let (project, path) = match change {
            FileChange::Upsert { project, row, .. } => (project, &row.path),
            FileChange::Delete { project, path } => (project, path),
        };
        touched.entry(project.clone()).or_default().push(path.clone());
    }
    touched
}
