//! Turns outbox events into frames: reads the newest bytes from disk, packs
//! small files into `batch` frames, and streams large files as chunks.
//!
//! Runs on the blocking pool (file reads, hashing, compression). Memory stays
//! bounded: one frame's worth of JSON at a time, and a large file is hashed in
//! a streaming pass and then read one chunk at a time.

use crate::fsutil;
use crate::index::{ChangeKind, MAX_FILE_BYTES};
use crate::outbox::OutboxEvent;
use crate::project::Project;
use specbridge_protocol::{
    chunk_boundaries, content_hash, Batch, Codec, Content, FileDelete, FileUpsert, Frame, Message, CHUNK_BYTES,
};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

/// JSON bytes packed into one `batch` frame (before compression).
const BATCH_JSON_BYTES: usize = 512 * 1024;

/// A UTF-8 character is at most 4 bytes: read this much past a chunk so the cut
/// can back off to a character boundary.
const UTF8_SLACK: usize = 3;

/// One frame ready to send.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub(crate) frame: Frame,
    /// JSON bytes it carries (for the in-flight window).
    pub(crate) json_len: usize,
    /// Highest event seq inside, if any.
    pub(crate) seq: Option<u64>,
}

/// Events waiting to be turned into frames, and the large file being streamed.
#[derive(Debug, Default)]
pub(crate) struct Packer {
    queue: VecDeque<OutboxEvent>,
    large: Option<LargeUpload>,
}

#[derive(Debug)]
struct LargeUpload {
    seq: u64,
    project: String,
    path: String,
    file: File,
    hash: String,
    size: u64,
    mtime_ms: u64,
    offset: u64,
}

enum Prepared {
    Message(Message),
    Large(LargeUpload),
    Skip,
}

impl Packer {
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.large.is_none()
    }

    /// Whether a large file is part-way out. Its remaining chunks go regardless
    /// of the in-flight window: the hub acks a file only once it is complete.
    pub(crate) fn is_streaming(&self) -> bool {
        self.large.is_some()
    }

    pub(crate) fn extend(&mut self, events: Vec<OutboxEvent>) {
        self.queue.extend(events);
    }

    /// The next frame (occasionally several, if a batch turned out too large to
    /// encode as one). Empty when there is nothing left to send.
    pub(crate) fn next_frames(&mut self, projects: &BTreeMap<String, Project>, codec: &Codec) -> Vec<OutFrame> {
        let mut items: Vec<(u64, Message)> = Vec::new();
        if self.large.is_none() {
            self.pack_small(projects, &mut items);
        }
        if items.is_empty() {
            if let Some(large) = self.large.as_mut() {
                match large.next_chunk() {
                    Ok((message, last)) => {
                        items.push((large.seq, message));
                        if last {
                            self.large = None;
                        }
                    }
                    Err(e) => {
                        // It changed under us; the watcher queues a newer event for it.
                        tracing::debug!(path = %large.path, error = %e, "large file changed while sending; skipped");
                        self.large = None;
                    }
                }
            }
        }
        encode(items, codec)
    }

    fn pack_small(&mut self, projects: &BTreeMap<String, Project>, items: &mut Vec<(u64, Message)>) {
        let mut total = 0;
        while let Some(event) = self.queue.pop_front() {
            let Some(project) = projects.get(&event.project) else { continue };
            let estimate = estimate_json(project, &event);
            if !items.is_empty() && total + estimate > BATCH_JSON_BYTES {
                self.queue.push_front(event);
                return;
            }
            match prepare(project, &event) {
                Prepared::Message(message) => {
                    total += estimate;
                    items.push((event.seq, message));
                }
                Prepared::Large(upload) => {
                    self.large = Some(upload);
                    return;
                }
                Prepared::Skip => {}
            }
        }
    }
}

/// A cheap upper-ish estimate of an event's JSON, from the file size, so the
/// packer can stop before reading a file that would not fit.
fn estimate_json(project: &Project, event: &OutboxEvent) -> usize {
    let overhead = 256 + event.path.len() + event.project.len();
    match event.kind {
        ChangeKind::Delete => overhead,
        ChangeKind::Upsert => {
            let size = std::fs::metadata(project.root.join(&event.path)).map_or(0, |m| m.len());
            let size = usize::try_from(size).unwrap_or(usize::MAX).min(CHUNK_BYTES);
            overhead + size + size / 3
        }
    }
}

fn delete(event: &OutboxEvent) -> Prepared {
    Prepared::Message(Message::FileDelete(FileDelete {
        seq: event.seq,
        project: event.project.clone(),
        path: event.path.clone(),
    }))
}

/// Reads the newest bytes for an event. A file that is gone, no longer a file,
/// over the size limit, or no longer allowed by the path policy goes as a delete.
fn prepare(project: &Project, event: &OutboxEvent) -> Prepared {
    if event.kind == ChangeKind::Delete {
        return delete(event);
    }
    let Ok(abs) = project.resolve(&event.path) else { return delete(event) };
    let mut file = match File::open(&abs) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return delete(event),
        Err(e) => {
            tracing::debug!(path = %event.path, error = %e, "cannot open; skipped");
            return Prepared::Skip;
        }
    };
    let meta = match file.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE_BYTES => meta,
        Ok(_) => return delete(event),
        Err(_) => return Prepared::Skip,
    };
    let mtime_ms = fsutil::mtime_ms(&meta);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(CHUNK_BYTES) + 1);
    if (&mut file).take(CHUNK_BYTES as u64 + 1).read_to_end(&mut bytes).is_err() {
        return Prepared::Skip;
    }
    if bytes.len() <= CHUNK_BYTES {
        return Prepared::Message(Message::FileUpsert(FileUpsert {
            seq: event.seq,
            project: event.project.clone(),
            path: event.path.clone(),
            hash: content_hash(&bytes),
            size: bytes.len() as u64,
            mtime_ms,
            offset: 0,
            last: true,
            content: Content::from_bytes(&bytes),
        }));
    }
    drop(bytes);
    match fsutil::hash_file(&abs) {
        Ok((hash, size)) if size <= MAX_FILE_BYTES => Prepared::Large(LargeUpload {
            seq: event.seq,
            project: event.project.clone(),
            path: event.path.clone(),
            file,
            hash,
            size,
            mtime_ms,
            offset: 0,
        }),
        Ok(_) => delete(event),
        Err(_) => Prepared::Skip,
    }
}

impl LargeUpload {
    /// The next chunk, cut at a UTF-8 character boundary, and whether it is the last.
    fn next_chunk(&mut self) -> std::io::Result<(Message, bool)> {
        let remaining = self.size - self.offset;
        let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(CHUNK_BYTES + UTF8_SLACK);
        let mut buf = vec![0u8; want];
        self.file.seek(SeekFrom::Start(self.offset))?;
        // A file that shrank since it was hashed ends early: give up on this version.
        self.file.read_exact(&mut buf)?;
        let len = if remaining as usize <= CHUNK_BYTES {
            buf.len()
        } else {
            chunk_boundaries(&buf, CHUNK_BYTES).first().map_or(CHUNK_BYTES, |r| r.end)
        };
        let last = self.offset + len as u64 == self.size;
        let message = Message::FileUpsert(FileUpsert {
            seq: self.seq,
            project: self.project.clone(),
            path: self.path.clone(),
            hash: self.hash.clone(),
            size: self.size,
            mtime_ms: self.mtime_ms,
            offset: self.offset,
            last,
            content: Content::from_bytes(&buf[..len]),
        });
        self.offset += len as u64;
        Ok((message, last))
    }
}

/// One frame for all items (a `batch` when there are several), or one frame per
/// item if the batch does not encode within the limits.
fn encode(items: Vec<(u64, Message)>, codec: &Codec) -> Vec<OutFrame> {
    let seq = items.iter().map(|(seq, _)| *seq).max();
    let mut messages: Vec<Message> = items.into_iter().map(|(_, m)| m).collect();
    let message = match messages.len() {
        0 => return Vec::new(),
        1 => messages.remove(0),
        _ => Message::Batch(Batch { messages }),
    };
    match encode_one(&message, codec) {
        Some((frame, json_len)) => vec![OutFrame { frame, json_len, seq }],
        None => {
            let Message::Batch(batch) = message else { return Vec::new() };
            batch
                .messages
                .iter()
                .filter_map(|m| {
                    let (frame, json_len) = encode_one(m, codec)?;
                    Some(OutFrame { frame, json_len, seq: event_seq(m) })
                })
                .collect()
        }
    }
}

fn encode_one(message: &Message, codec: &Codec) -> Option<(Frame, usize)> {
    match codec.encode(message) {
        Ok(frame) => {
            let json_len = serde_json::to_vec(message).map_or(frame.len(), |v| v.len());
            Some((frame, json_len))
        }
        Err(e) => {
            if !matches!(message, Message::Batch(_)) {
                tracing::error!(kind = message.kind(), error = %e, "cannot encode an outgoing message; dropped");
            }
            None
        }
    }
}

fn event_seq(message: &Message) -> Option<u64> {
    match message {
        Message::FileUpsert(u) => Some(u.seq),
        Message::FileDelete(d) => Some(d.seq),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Layout;

    fn project(root: &std::path::Path) -> Project {
        Project {
            id: "p".into(),
            name: "p".into(),
            root: std::fs::canonicalize(root).unwrap(),
            layout: Layout::Generic,
            roots: vec![".".into()],
            read_only: false,
        }
    }

    fn event(seq: u64, path: &str, kind: ChangeKind) -> OutboxEvent {
        OutboxEvent { seq, project: "p".into(), path: path.into(), kind }
    }

    fn decode_all(frames: &[OutFrame]) -> Vec<Message> {
        let codec = Codec::default();
        frames
            .iter()
            .flat_map(|f| match codec.decode(&f.frame).unwrap() {
                Message::Batch(b) => b.messages,
                m => vec![m],
            })
            .collect()
    }

    #[test]
    fn small_files_pack_into_one_batch_and_vanished_files_become_deletes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "# a\n").unwrap();
        std::fs::write(dir.path().join("b.md"), "# b\n").unwrap();
        let projects = BTreeMap::from([("p".to_owned(), project(dir.path()))]);
        let mut packer = Packer::default();
        packer.extend(vec![
            event(1, "a.md", ChangeKind::Upsert),
            event(2, "b.md", ChangeKind::Upsert),
            event(3, "gone.md", ChangeKind::Upsert),
            event(4, "old.md", ChangeKind::Delete),
        ]);
        let frames = packer.next_frames(&projects, &Codec::default());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, Some(4));
        let messages = decode_all(&frames);
        assert_eq!(messages.len(), 4);
        assert!(matches!(&messages[0], Message::FileUpsert(u) if u.content == Content::text("# a\n") && u.last));
        assert!(matches!(&messages[2], Message::FileDelete(d) if d.path == "gone.md"));
        assert!(packer.is_idle());
        assert!(packer.next_frames(&projects, &Codec::default()).is_empty());
    }

    #[test]
    fn large_files_stream_in_chunks_that_reassemble() {
        let dir = tempfile::tempdir().unwrap();
        // Multi-byte characters everywhere, so cuts must respect UTF-8.
        let body: String = "é€𝄞 line of text\n".repeat(40_000);
        std::fs::write(dir.path().join("big.md"), &body).unwrap();
        std::fs::write(dir.path().join("small.md"), "s").unwrap();
        let projects = BTreeMap::from([("p".to_owned(), project(dir.path()))]);
        let mut packer = Packer::default();
        packer.extend(vec![event(1, "small.md", ChangeKind::Upsert), event(2, "big.md", ChangeKind::Upsert)]);
        let codec = Codec::default();
        let mut frames = Vec::new();
        loop {
            let next = packer.next_frames(&projects, &codec);
            if next.is_empty() {
                break;
            }
            assert!(next.iter().all(|f| f.frame.len() <= specbridge_protocol::MAX_FRAME_BYTES));
            frames.extend(next);
        }
        let messages = decode_all(&frames);
        assert!(matches!(&messages[0], Message::FileUpsert(u) if u.path == "small.md"));
        let mut assembled = Vec::new();
        let chunks: Vec<&FileUpsert> = messages[1..]
            .iter()
            .map(|m| match m {
                Message::FileUpsert(u) => u,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(chunks.len() > 2);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.seq, 2);
            assert_eq!(chunk.offset, assembled.len() as u64);
            assert_eq!(chunk.last, i == chunks.len() - 1);
            assert_eq!(chunk.content.encoding, specbridge_protocol::Encoding::Utf8, "cuts keep text valid");
            assembled.extend(chunk.content.to_bytes().unwrap());
        }
        assert_eq!(assembled, body.as_bytes());
        assert_eq!(chunks[0].hash, content_hash(body.as_bytes()));
    }
}
