//! The persisted outbox: file events the hub has not acknowledged yet.
//!
//! Events carry a sequence number that increases per machine and survives
//! restarts. Only the newest event per (project, path) is kept: a new event for
//! a path replaces the older one under a new number, so numbers may skip. The
//! hub acks cumulatively; [`Outbox::ack`] trims everything up to the ack. The
//! content is not stored here: the sender reads the newest bytes from disk.

use crate::error::StateError;
use crate::fsutil;
pub use crate::index::ChangeKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One pending event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Sequence number.
    pub seq: u64,
    /// Project id.
    pub project: String,
    /// Relative path.
    pub path: String,
    /// Upsert or delete.
    pub kind: ChangeKind,
}

#[derive(Deserialize)]
struct OutboxFile {
    next_seq: u64,
    events: Vec<OutboxEvent>,
}

/// [`OutboxFile`]'s layout, serialised from the live map: cloning 10k queued
/// events just to write them doubled the bridge's peak memory in the initial sync.
#[derive(Serialize)]
struct OutboxFileRef<'a> {
    next_seq: u64,
    #[serde(serialize_with = "values_in_order")]
    events: &'a BTreeMap<u64, OutboxEvent>,
}

fn values_in_order<S: serde::Serializer>(events: &&BTreeMap<u64, OutboxEvent>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.values())
}

/// The outbox, backed by `outbox.json`.
#[derive(Debug)]
pub struct Outbox {
    file: PathBuf,
    next_seq: u64,
    events: BTreeMap<u64, OutboxEvent>,
    by_path: HashMap<(String, String), u64>,
}

impl Outbox {
    /// Loads the outbox from `file`; a missing file is an empty outbox starting at seq 1.
    pub fn load(file: &Path) -> Result<Self, StateError> {
        let mut outbox =
            Self { file: file.to_path_buf(), next_seq: 1, events: BTreeMap::new(), by_path: HashMap::new() };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(outbox),
            Err(e) => return Err(StateError::io(file, e)),
        };
        let stored: OutboxFile =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Json { path: file.into(), source })?;
        outbox.next_seq = stored.next_seq.max(1);
        for event in stored.events {
            outbox.next_seq = outbox.next_seq.max(event.seq + 1);
            outbox.insert(event);
        }
        Ok(outbox)
    }

    /// Writes the outbox atomically.
    pub fn save(&self) -> Result<(), StateError> {
        let bytes = self.to_bytes()?;
        fsutil::atomic_write(&self.file, &bytes, Some(fsutil::PRIVATE_FILE)).map_err(|e| StateError::io(&self.file, e))
    }

    /// The file's content, for a caller that writes it elsewhere (off the async workers).
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, StateError> {
        let stored = OutboxFileRef { next_seq: self.next_seq, events: &self.events };
        // Sized up front: growing by doubling leaves freed mid-sized buffers in
        // malloc's arenas, which is resident memory the bridge never gets back.
        let estimate = 32 + self.events.values().map(|e| e.project.len() + e.path.len() + 64).sum::<usize>();
        let mut bytes = Vec::with_capacity(estimate);
        serde_json::to_writer(&mut bytes, &stored)
            .map_err(|source| StateError::Json { path: self.file.clone(), source })?;
        Ok(bytes)
    }

    /// The backing file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Queues an event, replacing any older event for the same path. Returns its seq.
    pub fn push(&mut self, project: &str, path: &str, kind: ChangeKind) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert(OutboxEvent { seq, project: project.to_owned(), path: path.to_owned(), kind });
        seq
    }

    fn insert(&mut self, event: OutboxEvent) {
        let key = (event.project.clone(), event.path.clone());
        if let Some(old) = self.by_path.insert(key, event.seq) {
            self.events.remove(&old);
        }
        self.events.insert(event.seq, event);
    }

    /// Pending events with a seq above `seq`, in seq order.
    pub fn pending_after(&self, seq: u64) -> impl Iterator<Item = &OutboxEvent> + '_ {
        self.events.range(seq.saturating_add(1)..).map(|(_, e)| e)
    }

    /// Trims every event up to and including `seq`. Returns the trimmed events.
    pub fn ack(&mut self, seq: u64) -> Vec<OutboxEvent> {
        let keep = self.events.split_off(&seq.saturating_add(1));
        let acked = std::mem::replace(&mut self.events, keep);
        for event in acked.values() {
            self.by_path.remove(&(event.project.clone(), event.path.clone()));
        }
        // After the first sync of a big folder the map is empty but keeps its
        // table (0.9 MB at 10k files): hand it back once it is mostly unused.
        if self.by_path.capacity() > 1024 && self.by_path.len() < self.by_path.capacity() / 4 {
            self.by_path.shrink_to_fit();
        }
        acked.into_values().collect()
    }

    /// Applies the hub's `welcome.last_seq`. Normally that trims what the hub
    /// already stored. If the hub remembers a number we have not issued yet (our
    /// state folder was reset), numbering jumps past it and pending events are
    /// renumbered, so the hub does not mistake new events for old duplicates.
    pub fn welcome(&mut self, last_seq: u64) {
        if last_seq < self.next_seq {
            self.ack(last_seq);
            return;
        }
        let pending: Vec<OutboxEvent> = std::mem::take(&mut self.events).into_values().collect();
        self.by_path.clear();
        self.next_seq = last_seq + 1;
        for event in pending {
            self.push(&event.project, &event.path, event.kind);
        }
    }

    /// Drops every event of a project (it is no longer served).
    pub fn retain_projects(&mut self, keep: impl Fn(&str) -> bool) {
        self.events.retain(|_, e| keep(&e.project));
        self.by_path.retain(|(project, _), _| keep(project));
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The seq the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(outbox: &Outbox, after: u64) -> Vec<u64> {
        outbox.pending_after(after).map(|e| e.seq).collect()
    }

    #[test]
    fn coalesces_per_path_and_trims_on_ack() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::load(&dir.path().join("outbox.json")).unwrap();
        assert_eq!(outbox.push("p", "a.md", ChangeKind::Upsert), 1);
        assert_eq!(outbox.push("p", "b.md", ChangeKind::Upsert), 2);
        assert_eq!(outbox.push("p", "a.md", ChangeKind::Delete), 3);
        assert_eq!(outbox.push("q", "a.md", ChangeKind::Upsert), 4);
        assert_eq!(seqs(&outbox, 0), vec![2, 3, 4]);
        assert_eq!(outbox.pending_after(2).next().unwrap().kind, ChangeKind::Delete);
        let acked = outbox.ack(3);
        assert_eq!(acked.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(seqs(&outbox, 0), vec![4]);
        // A path acked and changed again is a fresh event.
        assert_eq!(outbox.push("p", "a.md", ChangeKind::Upsert), 5);
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/outbox.json");
        let mut outbox = Outbox::load(&file).unwrap();
        outbox.push("p", "a.md", ChangeKind::Upsert);
        outbox.push("p", "b.md", ChangeKind::Upsert);
        outbox.ack(1);
        outbox.save().unwrap();
        let mut reloaded = Outbox::load(&file).unwrap();
        assert_eq!(reloaded.next_seq(), 3);
        assert_eq!(seqs(&reloaded, 0), vec![2]);
        // Coalescing still works on reloaded events.
        assert_eq!(reloaded.push("p", "b.md", ChangeKind::Delete), 3);
        assert_eq!(seqs(&reloaded, 0), vec![3]);
    }

    #[test]
    fn the_file_layout_is_unchanged_by_serialising_without_a_copy() {
        // Written by earlier versions; must load, and be written back the same way.
        let old = r#"{"next_seq":5,"events":[{"seq":3,"project":"p","path":"a.md","kind":"upsert"},{"seq":4,"project":"p","path":"b.md","kind":"delete"}]}"#;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("outbox.json");
        std::fs::write(&file, old).unwrap();
        let outbox = Outbox::load(&file).unwrap();
        assert_eq!(seqs(&outbox, 0), vec![3, 4]);
        assert_eq!(String::from_utf8(outbox.to_bytes().unwrap()).unwrap(), old);
    }

    #[test]
    fn welcome_trims_or_renumbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::load(&dir.path().join("o.json")).unwrap();
        outbox.push("p", "a.md", ChangeKind::Upsert);
        outbox.push("p", "b.md", ChangeKind::Upsert);
        outbox.welcome(1);
        assert_eq!(seqs(&outbox, 0), vec![2]);
        // The hub has seen seq 40 from this machine: our numbering restarts above it.
        outbox.welcome(40);
        assert_eq!(seqs(&outbox, 0), vec![41]);
        assert_eq!(outbox.next_seq(), 42);
        outbox.retain_projects(|p| p != "p");
        assert!(outbox.is_empty());
    }
}
