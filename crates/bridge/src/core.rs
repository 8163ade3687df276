//! The sync core: one task that owns the indexes and the outbox.
//!
//! The watcher, the executor and the link talk to it through [`CoreHandle`]
//! (messages with oneshot replies), so no lock guards the state. File hashing
//! runs on the blocking pool; state files are saved shortly after a change
//! (coalesced) and on shutdown.

use crate::disk::{Part, StateDisk};
use crate::error::StateError;
use crate::index::{Change, ChangeKind, Index};
use crate::outbox::{Outbox, OutboxEvent};
use crate::paths::Paths;
use crate::project::Project;
use crate::status::{EngineEvent, EngineStatus};
use specbridge_protocol::{Digest, ManifestEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// State files are saved this long after the first unsaved change, so a burst
/// of changes or acks costs one write. A crash inside the window loses nothing
/// that the startup scan and digest sync cannot rebuild.
const SAVE_DELAY: Duration = Duration::from_millis(300);

/// Capacity of the core's mailbox.
pub(crate) const MAILBOX: usize = 256;

/// Requests to the sync core.
#[derive(Debug)]
pub(crate) enum CoreMsg {
    /// These paths may have changed (watcher, executor).
    Changed { project: String, paths: Vec<String> },
    /// Rescan a whole project (watcher overflow, a root appeared).
    Rescan { project: String },
    /// A session started: trim (or renumber) the outbox against the hub's last seq.
    Welcome { last_seq: u64, reply: oneshot::Sender<()> },
    /// Up to `limit` pending events above `after`.
    Pending { after: u64, limit: usize, reply: oneshot::Sender<Vec<OutboxEvent>> },
    /// The hub stored everything up to `seq`.
    Ack { seq: u64 },
    /// Digests of all projects, or `None` if events above `after` are still unsent.
    Digests { after: u64, reply: oneshot::Sender<Option<Vec<Digest>>> },
    /// A project's manifest, or `None` for an unknown project.
    Manifest { project: String, reply: oneshot::Sender<Option<Vec<ManifestEntry>>> },
    /// The hub wants these paths: queue upserts for them.
    Want { project: String, paths: Vec<String> },
}

/// The core's task has ended (engine stopping).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the sync core has stopped")]
pub(crate) struct CoreGone;

/// A cloneable way to talk to the core.
#[derive(Debug, Clone)]
pub(crate) struct CoreHandle {
    tx: mpsc::Sender<CoreMsg>,
}

impl CoreHandle {
    pub(crate) fn new(tx: mpsc::Sender<CoreMsg>) -> Self {
        Self { tx }
    }

    pub(crate) async fn send(&self, msg: CoreMsg) -> Result<(), CoreGone> {
        self.tx.send(msg).await.map_err(|_| CoreGone)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> CoreMsg) -> Result<T, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply)).await?;
        rx.await.map_err(|_| CoreGone)
    }

    pub(crate) async fn welcome(&self, last_seq: u64) -> Result<(), CoreGone> {
        self.ask(|reply| CoreMsg::Welcome { last_seq, reply }).await
    }

    pub(crate) async fn pending(&self, after: u64, limit: usize) -> Result<Vec<OutboxEvent>, CoreGone> {
        self.ask(|reply| CoreMsg::Pending { after, limit, reply }).await
    }

    pub(crate) async fn digests(&self, after: u64) -> Result<Option<Vec<Digest>>, CoreGone> {
        self.ask(|reply| CoreMsg::Digests { after, reply }).await
    }

    pub(crate) async fn manifest(&self, project: String) -> Result<Option<Vec<ManifestEntry>>, CoreGone> {
        self.ask(|reply| CoreMsg::Manifest { project, reply }).await
    }
}

/// The core's state. Built by the engine, then moved into its task by [`Core::run`].
pub(crate) struct Core {
    paths: Paths,
    projects: Arc<BTreeMap<String, Project>>,
    indexes: BTreeMap<String, Index>,
    outbox: Outbox,
    /// Events acknowledged since the allocator last gave memory back
    /// ([`crate::allocator`]).
    acked_since_release: usize,
    /// The highest seq issued so far; the link wakes up when it moves.
    head: watch::Sender<u64>,
    status: watch::Sender<EngineStatus>,
    events: broadcast::Sender<EngineEvent>,
    outbox_dirty: bool,
    dirty_indexes: BTreeSet<String>,
    save_at: Option<Instant>,
    /// Where failed saves are reported (the state folder may be full).
    disk: Arc<StateDisk>,
}

impl Core {
    pub(crate) fn new(
        paths: Paths,
        projects: Arc<BTreeMap<String, Project>>,
        indexes: BTreeMap<String, Index>,
        outbox: Outbox,
        status: watch::Sender<EngineStatus>,
        events: broadcast::Sender<EngineEvent>,
        disk: Arc<StateDisk>,
    ) -> Self {
        let (head, _) = watch::channel(outbox.next_seq().saturating_sub(1));
        Self {
            paths,
            projects,
            indexes,
            outbox,
            acked_since_release: 0,
            head,
            status,
            events,
            outbox_dirty: false,
            dirty_indexes: BTreeSet::new(),
            save_at: None,
            disk,
        }
    }

    /// Subscribes to the outbox head (last issued seq).
    pub(crate) fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Scans every project once: whatever changed while the engine was stopped
    /// goes to the outbox, and our own temp files left by a crash are swept.
    /// State is saved right away (or kept in memory and retried, on a full disk).
    /// Returns the temp files too young to remove yet (see [`crate::sweep`]).
    pub(crate) async fn startup_scan(&mut self) -> Vec<PathBuf> {
        let ids: Vec<String> = self.projects.keys().cloned().collect();
        let mut temp_files = crate::sweep::state_temp_files(&self.paths, self.projects.keys());
        for id in ids {
            temp_files.extend(self.update_index(&id, None).await);
        }
        let young = tokio::task::spawn_blocking(move || crate::sweep::sweep(temp_files)).await.unwrap_or_default();
        self.save_or_retry().await;
        young
    }

    /// Saves; on failure keeps everything in memory, reports the state folder
    /// and tries again in [`crate::disk::RETRY_EVERY`].
    async fn save_or_retry(&mut self) {
        match self.save().await {
            Ok(true) => self.disk.recovered(Part::SyncState),
            Ok(false) => {}
            Err(e) => {
                match &e {
                    StateError::Io { source, .. } => self.disk.failed(Part::SyncState, source),
                    StateError::Json { .. } => self.disk.failed_with(Part::SyncState, e.to_string(), false),
                }
                self.save_at = Some(Instant::now() + crate::disk::RETRY_EVERY);
            }
        }
    }

    /// Serves requests until cancelled, then saves the state.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>, cancel: CancellationToken) {
        loop {
            let save_at = self.save_at;
            tokio::select! {
                _ = cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => break,
                },
                _ = crate::timing::sleep_until_opt(save_at) => self.save_or_retry().await,
            }
        }
        if let Err(e) = self.save().await {
            // The outbox file on disk is the last one saved: nothing in it is
            // lost, and the startup scan finds the changes made since.
            tracing::error!(error = %e, "cannot save sync state on shutdown");
        }
    }

    async fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Changed { project, paths } => drop(self.update_index(&project, Some(paths)).await),
            CoreMsg::Rescan { project } => drop(self.update_index(&project, None).await),
            CoreMsg::Welcome { last_seq, reply } => {
                self.outbox.welcome(last_seq);
                self.outbox_changed();
                let _ = reply.send(());
            }
            CoreMsg::Pending { after, limit, reply } => {
                let _ = reply.send(self.outbox.pending_after(after).take(limit).cloned().collect());
            }
            CoreMsg::Ack { seq } => {
                let acked = self.outbox.ack(seq);
                self.acked_since_release += acked.len();
                // A burst has drained: what it allocated is free now.
                if self.outbox.is_empty() && self.acked_since_release >= crate::allocator::BURST_EVENTS {
                    self.acked_since_release = 0;
                    crate::allocator::release_free_memory();
                }
                if !acked.is_empty() {
                    let projects: BTreeSet<&str> = acked.iter().map(|e| e.project.as_str()).collect();
                    for project in projects {
                        let _ = self.events.send(EngineEvent::Synced { project: project.to_owned(), seq });
                    }
                    self.outbox_changed();
                }
            }
            CoreMsg::Digests { after, reply } => {
                let digests = self.outbox.pending_after(after).next().is_none().then(|| {
                    self.indexes
                        .iter()
                        .map(|(id, index)| Digest {
                            project: id.clone(),
                            digest: index.digest(),
                            files: index.len() as u64,
                        })
                        .collect()
                });
                let _ = reply.send(digests);
            }
            CoreMsg::Manifest { project, reply } => {
                let entries = self.indexes.get(&project).map(|index| {
                    index
                        .entries()
                        .iter()
                        .map(|(path, e)| ManifestEntry { path: path.clone(), hash: e.hash.clone(), size: e.size })
                        .collect()
                });
                let _ = reply.send(entries);
            }
            CoreMsg::Want { project, paths } => {
                let Some(index) = self.indexes.get(&project) else { return };
                // A wanted path we no longer have was deleted since the manifest;
                // its delete event is already queued.
                let wanted: Vec<&String> = paths.iter().filter(|p| index.get(p).is_some()).collect();
                for path in wanted {
                    self.outbox.push(&project, path, ChangeKind::Upsert);
                }
                self.outbox_changed();
            }
        }
    }

    /// Refreshes `paths` (or scans the whole project) off the async workers and
    /// queues the resulting events. A whole scan returns the temp files it saw.
    async fn update_index(&mut self, project_id: &str, paths: Option<Vec<String>>) -> Vec<PathBuf> {
        let Some(project) = self.projects.get(project_id).cloned() else { return Vec::new() };
        let mut index = self.indexes.remove(project_id).unwrap_or_default();
        let result = tokio::task::spawn_blocking(move || {
            let mut temp_files = Vec::new();
            let changes = match paths {
                Some(paths) => index.refresh(&project, &paths),
                None => index.scan_with_temp_files(&project, &mut temp_files),
            };
            (index, changes, temp_files)
        })
        .await;
        let (index, changes, temp_files) = match result {
            Ok(done) => done,
            Err(e) => {
                // The index moved into the failed task; rebuild it from disk on the next scan.
                self.report_error(format!("indexing {project_id} failed: {e}"));
                (Index::default(), Vec::new(), Vec::new())
            }
        };
        self.indexes.insert(project_id.to_owned(), index);
        if changes.is_empty() {
            return temp_files;
        }
        for Change { path, kind } in &changes {
            self.outbox.push(project_id, path, *kind);
        }
        tracing::debug!(project = project_id, changes = changes.len(), "queued local changes");
        self.dirty_indexes.insert(project_id.to_owned());
        self.outbox_changed();
        temp_files
    }

    /// After any outbox change: wake the link, update the status, schedule a save.
    fn outbox_changed(&mut self) {
        self.head.send_if_modified(|head| {
            let issued = self.outbox.next_seq().saturating_sub(1);
            let moved = *head != issued;
            *head = issued;
            moved
        });
        let depth = self.outbox.len();
        let files: BTreeMap<&str, usize> = self.indexes.iter().map(|(id, i)| (id.as_str(), i.len())).collect();
        self.status.send_if_modified(|status| {
            let mut modified = status.queue_depth != depth;
            status.queue_depth = depth;
            for project in &mut status.projects {
                let count = files.get(project.id.as_str()).copied().unwrap_or(0);
                modified |= project.files != count;
                project.files = count;
            }
            if modified {
                status.updated_ms = crate::fsutil::now_ms();
            }
            modified
        });
        self.outbox_dirty = true;
        self.save_at.get_or_insert_with(|| Instant::now() + SAVE_DELAY);
    }

    /// Saves the outbox, then the changed indexes (in that order: an index must
    /// never be ahead of the events that describe its changes). Serializing is
    /// done here; the writes and fsyncs run on the blocking pool. `Ok(false)`
    /// when there was nothing to save. On failure the state stays dirty, so the
    /// next save writes it all again (each file is replaced atomically: a
    /// failed write leaves the previous file whole).
    async fn save(&mut self) -> Result<bool, StateError> {
        self.save_at = None;
        let mut writes: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let outbox_dirty = std::mem::take(&mut self.outbox_dirty);
        let dirty_indexes = std::mem::take(&mut self.dirty_indexes);
        let result = async {
            if outbox_dirty {
                writes.push((self.outbox.file().to_path_buf(), self.outbox.to_bytes()?));
            }
            for id in &dirty_indexes {
                let file = self.paths.index_file(id);
                if let Some(index) = self.indexes.get_mut(id) {
                    let bytes = index.stamp_and_serialize(&file)?;
                    writes.push((file, bytes));
                }
            }
            if writes.is_empty() {
                return Ok(false);
            }
            tokio::task::spawn_blocking(move || {
                writes.iter().try_for_each(|(path, bytes)| {
                    crate::fsutil::atomic_write(path, bytes, Some(crate::fsutil::PRIVATE_FILE))
                        .map_err(|e| StateError::io(path, e))
                })
            })
            .await
            .map_err(|e| StateError::io("state files", std::io::Error::other(e)))??;
            Ok(true)
        }
        .await;
        if result.is_err() {
            self.outbox_dirty |= outbox_dirty;
            self.dirty_indexes.extend(dirty_indexes);
        }
        result
    }

    fn report_error(&self, message: String) {
        tracing::warn!("{message}");
        self.status.send_modify(|s| s.last_error = Some(message.clone()));
        let _ = self.events.send(EngineEvent::Error(message));
    }
}
