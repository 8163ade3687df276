//! One bridge session: the `/v1/bridge` WebSocket from the upgrade to the close.
//!
//! The token is checked before the upgrade (401 otherwise). After the upgrade
//! the session owns its socket: it reads frames, applies file events to the
//! store, answers digests and manifests, acks by sequence number, and writes
//! whatever the router queues for it (commands, closes).

use crate::auth::{self, TokenKind};
use crate::error::ApiError;
use crate::router::{Outgoing, MAILBOX};
use crate::store::{FileChange, FileRow, Principal};
use crate::{now_ms, HubState};
use axum::extract::ws::{CloseFrame, Message as Ws, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use specbridge_protocol::{
    project_digest, Ack, Codec, CodecError, ErrorBody, ErrorCode, FileUpsert, Frame, Hello, ManifestEntry, Message,
    ProjectRef, Want, Welcome, CAPABILITIES, MANIFEST_PART_ENTRIES, MAX_PATH_BYTES, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// WebSocket-level cap on one message. The codec enforces 1 MiB and answers
/// with a proper `too_large` error for frames between the two limits.
const MAX_WS_MESSAGE: usize = 2 * 1024 * 1024;
/// Read buffer per connection. tungstenite's default (128 KiB) dominates the
/// cost of an idle connection; frames larger than this still arrive intact,
/// in more reads.
const READ_BUFFER: usize = 4 * 1024;
/// Largest file the hub assembles from chunks.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest the hub accumulates for one project.
const MAX_MANIFEST_ENTRIES: usize = 500_000;
/// How often `last_seen` is written while a bridge is busy.
const PRESENCE_EVERY: Duration = Duration::from_secs(10);

/// `GET /v1/bridge`: authenticate, then upgrade.
pub(crate) async fn upgrade(State(hub): State<Arc<HubState>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    hub.stats.bridge_upgrade_attempts.fetch_add(1, Relaxed);
    let principal = match auth::bearer(headers.get(header::AUTHORIZATION)) {
        Some(secret) => hub.store.authenticate(secret, TokenKind::Machine).await,
        None => Ok(None),
    };
    let principal = match principal {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            hub.stats.bridge_auth_failures.fetch_add(1, Relaxed);
            return ApiError::unauthorized("machine")
                .hint("create a machine token with `specbridge-hub token create --kind machine` and run `specbridge login`")
                .into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let tracker = hub.tracker.clone();
    ws.read_buffer_size(READ_BUFFER)
        // Write each message straight through: buffering is for throughput,
        // and the hub sends little to a bridge (acks, commands).
        .write_buffer_size(0)
        .max_write_buffer_size(2 * MAX_WS_MESSAGE)
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| tracker.track_future(serve(hub, principal, socket)))
}

/// A file being assembled from chunks.
struct Assembly {
    seq: u64,
    hash: String,
    size: u64,
    mtime_ms: u64,
    bytes: Vec<u8>,
}

struct Session {
    hub: Arc<HubState>,
    machine: String,
    codec: Codec,
    projects: HashSet<String>,
    /// Highest sequence number stored (in the database).
    stored_seq: u64,
    /// Highest sequence number acked to the bridge.
    acked_seq: u64,
    /// Changes decoded from the current frame, not yet written.
    pending: Vec<FileChange>,
    pending_seq: u64,
    assemblies: HashMap<(String, String), Assembly>,
    manifests: HashMap<String, Vec<ManifestEntry>>,
}

/// Why a session ends early.
struct Fatal {
    error: ErrorBody,
    close: u16,
}

impl Fatal {
    fn invalid(message: impl Into<String>) -> Self {
        Self { error: ErrorBody::new(ErrorCode::Invalid, message), close: 1008 }
    }
}

impl From<CodecError> for Fatal {
    fn from(err: CodecError) -> Self {
        let close = match err {
            CodecError::FrameTooLarge { .. } | CodecError::MessageTooLarge { .. } => 1009,
            _ => 1007,
        };
        Self { error: err.to_error_body(), close }
    }
}

impl From<crate::HubError> for Fatal {
    fn from(err: crate::HubError) -> Self {
        tracing::error!(error = %err, "store failed during a bridge session");
        Self { error: ErrorBody::new(ErrorCode::Internal, "the hub could not store the change"), close: 1011 }
    }
}

async fn serve(hub: Arc<HubState>, principal: Principal, mut socket: WebSocket) {
    let codec = Codec::default();
    let hello = match tokio::time::timeout(hub.config.hello_timeout, next_message(&mut socket, &codec, &hub)).await {
        Ok(Some(Ok(Message::Hello(hello)))) => hello,
        Ok(Some(Err(fatal))) => return reject(&mut socket, &hub, fatal).await,
        Ok(Some(Ok(other))) => {
            return reject(&mut socket, &hub, Fatal::invalid(format!("expected hello, got {}", other.kind()))).await
        }
        Ok(None) => return,
        Err(_) => return reject(&mut socket, &hub, Fatal::invalid("no hello within the time limit")).await,
    };
    if let Err(fatal) = check_hello(&hello, &principal) {
        return reject(&mut socket, &hub, fatal).await;
    }
    if principal.machine_id.is_none() {
        if let Err(err) = hub.store.bind_token(&principal.token_id, &hello.machine.id).await {
            return reject(&mut socket, &hub, err.into()).await;
        }
    }
    let last_seq =
        match hub.store.machine_connected(&principal.account_id, &hello.machine, &hello.projects, now_ms()).await {
            Ok(seq) => seq,
            Err(err) => return reject(&mut socket, &hub, err.into()).await,
        };

    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let (tx, mut rx) = mpsc::channel(MAILBOX);
    hub.router.register(&hello.machine.id, &session_id, tx);
    hub.stats.bridges_connected.fetch_add(1, Relaxed);
    tracing::info!(machine = %hello.machine.id, name = %hello.machine.name, session = %session_id, "bridge connected");

    let mut session = Session {
        hub: hub.clone(),
        machine: hello.machine.id.clone(),
        codec,
        projects: hello.projects.iter().map(|p| p.id.clone()).collect(),
        stored_seq: last_seq,
        acked_seq: last_seq,
        pending: Vec::new(),
        pending_seq: 0,
        assemblies: HashMap::new(),
        manifests: HashMap::new(),
    };
    let welcome = Message::Welcome(Welcome {
        protocol: PROTOCOL_VERSION.min(hello.protocol),
        capabilities: CAPABILITIES
            .iter()
            .filter(|c| hello.capabilities.iter().any(|h| h == *c))
            .map(|c| (*c).to_owned())
            .collect(),
        session: session_id.clone(),
        last_seq,
        server: format!("specbridge-hub/{}", env!("CARGO_PKG_VERSION")),
    });
    let ended = match send(&mut socket, &hub, &session.codec, &welcome).await {
        Ok(()) => session.pump(&mut socket, &mut rx).await,
        Err(()) => None,
    };
    if let Some((code, reason)) = ended {
        close(&mut socket, code, reason).await;
    }
    if hub.router.unregister(&session.machine, &session_id) {
        if let Err(err) = hub.store.set_presence(&session.machine, false, now_ms()).await {
            tracing::warn!(error = %err, "could not mark machine offline");
        }
    }
    hub.stats.bridges_connected.fetch_sub(1, Relaxed);
    tracing::info!(machine = %session.machine, session = %session_id, "bridge disconnected");
}

fn check_hello(hello: &Hello, principal: &Principal) -> Result<(), Fatal> {
    if hello.protocol < MIN_PROTOCOL_VERSION || hello.min_protocol > PROTOCOL_VERSION {
        return Err(Fatal {
            error: ErrorBody::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "bridge speaks protocol {}..={}, hub speaks {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION}",
                    hello.min_protocol, hello.protocol
                ),
            )
            .with_hint("update the older of the two"),
            close: 1002,
        });
    }
    let id = &hello.machine.id;
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(Fatal::invalid("machine id must be 1-128 printable characters"));
    }
    if let Some(bound) = &principal.machine_id {
        if bound != id {
            return Err(Fatal {
                error: ErrorBody::new(ErrorCode::Unauthorized, "this token belongs to another machine")
                    .with_hint("create a machine token for each machine"),
                close: 1008,
            });
        }
    }
    Ok(())
}

impl Session {
    /// Runs until the socket closes, the hub stops, or the router closes the
    /// session. Returns the close to send, if any.
    async fn pump(&mut self, socket: &mut WebSocket, rx: &mut mpsc::Receiver<Outgoing>) -> Option<(u16, &'static str)> {
        let idle = self.hub.config.bridge_idle_timeout;
        let mut presence_at = Instant::now();
        loop {
            tokio::select! {
                () = self.hub.cancel.cancelled() => return Some((1001, "hub restarting")),
                out = rx.recv() => match out {
                    Some(Outgoing::Message(message)) => {
                        if send(socket, &self.hub, &self.codec, &message).await.is_err() {
                            return None;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => return Some((code, reason)),
                    None => return None,
                },
                frame = tokio::time::timeout(idle, socket.recv()) => {
                    let frame = match frame {
                        Err(_) => return Some((1001, "no traffic within the idle timeout")),
                        Ok(None | Some(Err(_))) => return None,
                        Ok(Some(Ok(frame))) => frame,
                    };
                    if presence_at.elapsed() >= PRESENCE_EVERY {
                        presence_at = Instant::now();
                        let _ = self.hub.store.set_presence(&self.machine, true, now_ms()).await;
                    }
                    let message = match decode(frame, &self.codec, &self.hub) {
                        Some(Ok(message)) => message,
                        Some(Err(fatal)) => return self.fail(socket, fatal).await,
                        None => continue,
                    };
                    if let Err(fatal) = self.handle_frame(socket, message).await {
                        return self.fail(socket, fatal).await;
                    }
                }
            }
        }
    }

    async fn fail(&self, socket: &mut WebSocket, fatal: Fatal) -> Option<(u16, &'static str)> {
        tracing::warn!(machine = %self.machine, code = %fatal.error.code, error = %fatal.error.message, "closing bridge session");
        let _ = send(socket, &self.hub, &self.codec, &Message::Error(fatal.error)).await;
        Some((fatal.close, "protocol error"))
    }

    async fn handle_frame(&mut self, socket: &mut WebSocket, message: Message) -> Result<(), Fatal> {
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
        if self.stored_seq > self.acked_seq {
            self.acked_seq = self.stored_seq;
            replies.push(Message::Ack(Ack { seq: self.acked_seq }));
        }
        for reply in replies {
            send(socket, &self.hub, &self.codec, &reply).await.map_err(|()| Fatal::invalid("socket closed"))?;
        }
        Ok(())
    }

    async fn handle(&mut self, message: Message, replies: &mut Vec<Message>) -> Result<(), Fatal> {
        match message {
            Message::FileUpsert(upsert) => self.on_upsert(upsert)?,
            Message::FileDelete(delete) => {
                self.check_target(&delete.project, &delete.path)?;
                if delete.seq > self.stored_seq {
                    self.pending.push(FileChange::Delete { project: delete.project, path: delete.path });
                    self.pending_seq = self.pending_seq.max(delete.seq);
                }
            }
            Message::Digest(digest) => {
                self.flush().await?;
                let rows = self.hub.store.list_files(&self.machine, &digest.project).await?;
                let ours = project_digest(rows.iter().map(|r| (r.path.as_str(), r.hash.as_str())));
                let project = ProjectRef { project: digest.project };
                replies.push(if ours == digest.digest {
                    Message::InSync(project)
                } else {
                    Message::WantManifest(project)
                });
            }
            Message::Manifest(part) => {
                if !self.projects.contains(&part.project) {
                    return Err(Fatal::invalid(format!("unknown project {:?}", part.project)));
                }
                let entries = self.manifests.entry(part.project.clone()).or_default();
                entries.extend(part.entries);
                if entries.len() > MAX_MANIFEST_ENTRIES {
                    return Err(Fatal {
                        error: ErrorBody::new(ErrorCode::TooLarge, "manifest has too many entries"),
                        close: 1009,
                    });
                }
                if part.last {
                    let entries = self.manifests.remove(&part.project).unwrap_or_default();
                    self.on_manifest(&part.project, entries, replies).await?;
                }
            }
            Message::Projects(update) => {
                self.hub.store.replace_projects(&self.machine, &update.projects).await?;
                self.projects = update.projects.into_iter().map(|p| p.id).collect();
            }
            Message::Response(response) => self.hub.router.complete(response),
            Message::Error(error) => tracing::warn!(machine = %self.machine, %error, "bridge reported an error"),
            other => tracing::debug!(kind = other.kind(), "ignoring unexpected message from bridge"),
        }
        Ok(())
    }

    fn check_target(&self, project: &str, path: &str) -> Result<(), Fatal> {
        if !self.projects.contains(project) {
            return Err(Fatal::invalid(format!("unknown project {project:?}")));
        }
        let bad = path.is_empty()
            || path.len() > MAX_PATH_BYTES
            || path.starts_with('/')
            || path.contains('\\')
            || path.chars().any(char::is_control)
            || path.split('/').any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(Fatal::invalid(format!("invalid path {path:?}")));
        }
        Ok(())
    }

    fn on_upsert(&mut self, upsert: FileUpsert) -> Result<(), Fatal> {
        self.check_target(&upsert.project, &upsert.path)?;
        let key = (upsert.project.clone(), upsert.path.clone());
        if upsert.offset == 0 {
            if upsert.size > MAX_FILE_BYTES {
                return Err(Fatal {
                    error: ErrorBody::new(
                        ErrorCode::TooLarge,
                        format!("{} is over the 64 MiB file limit", upsert.path),
                    ),
                    close: 1009,
                });
            }
            let capacity = usize::try_from(upsert.size).unwrap_or(0).min(4 * 1024 * 1024);
            self.assemblies.insert(
                key.clone(),
                Assembly {
                    seq: upsert.seq,
                    hash: upsert.hash.clone(),
                    size: upsert.size,
                    mtime_ms: upsert.mtime_ms,
                    bytes: Vec::with_capacity(capacity),
                },
            );
        }
        let assembly = self
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
        let Some(assembly) = self.assemblies.remove(&key) else { return Ok(()) };
        if assembly.bytes.len() as u64 != assembly.size
            || specbridge_protocol::content_hash(&assembly.bytes) != assembly.hash
        {
            return Err(Fatal::invalid(format!("{} does not match its size and hash", upsert.path)));
        }
        if assembly.seq > self.stored_seq {
            self.pending.push(FileChange::Upsert {
                project: key.0,
                row: FileRow {
                    path: key.1,
                    hash: assembly.hash,
                    size: i64::try_from(assembly.size).unwrap_or(i64::MAX),
                    mtime_ms: i64::try_from(assembly.mtime_ms).unwrap_or(i64::MAX),
                },
                content: assembly.bytes,
            });
            self.pending_seq = self.pending_seq.max(assembly.seq);
        }
        Ok(())
    }

    /// Writes the changes decoded so far in one transaction.
    async fn flush(&mut self) -> Result<(), Fatal> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut self.pending);
        let seq = self.pending_seq.max(self.stored_seq);
        self.hub.store.apply_changes(&self.machine, changes, seq).await?;
        self.stored_seq = seq;
        Ok(())
    }

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
            self.hub.store.apply_changes(&self.machine, stale, self.stored_seq).await?;
        }
        let wanted: Vec<String> = entries
            .iter()
            .filter(|e| ours.get(e.path.as_str()) != Some(&e.hash.as_str()))
            .map(|e| e.path.clone())
            .collect();
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
}

/// Reads the next data message, skipping pings and pongs.
async fn next_message(socket: &mut WebSocket, codec: &Codec, hub: &HubState) -> Option<Result<Message, Fatal>> {
    loop {
        let frame = socket.recv().await?.ok()?;
        if let Some(decoded) = decode(frame, codec, hub) {
            return Some(decoded);
        }
    }
}

/// Decodes a data frame; `None` for control frames. A close frame ends the
/// session through the socket returning `None` next.
fn decode(frame: Ws, codec: &Codec, hub: &HubState) -> Option<Result<Message, Fatal>> {
    let decoded = match frame {
        Ws::Text(text) => {
            count_in(hub, text.len());
            codec.decode_text(text.as_str())
        }
        Ws::Binary(bytes) => {
            count_in(hub, bytes.len());
            codec.decode_binary(&bytes)
        }
        Ws::Ping(_) | Ws::Pong(_) | Ws::Close(_) => return None,
    };
    Some(decoded.map_err(Fatal::from))
}

fn count_in(hub: &HubState, len: usize) {
    hub.stats.bridge_frames_in.fetch_add(1, Relaxed);
    hub.stats.bridge_bytes_in.fetch_add(len as u64, Relaxed);
}

async fn send(socket: &mut WebSocket, hub: &HubState, codec: &Codec, message: &Message) -> Result<(), ()> {
    let frame = match codec.encode(message) {
        Ok(frame) => frame,
        Err(err) => {
            tracing::error!(error = %err, kind = message.kind(), "cannot encode message for bridge");
            return Ok(());
        }
    };
    hub.stats.bridge_frames_out.fetch_add(1, Relaxed);
    hub.stats.bridge_bytes_out.fetch_add(frame.len() as u64, Relaxed);
    let ws = match frame {
        Frame::Text(text) => Ws::Text(text.into()),
        Frame::Binary(bytes) => Ws::Binary(bytes.into()),
    };
    socket.send(ws).await.map_err(|_| ())
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Ws::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

async fn reject(socket: &mut WebSocket, hub: &HubState, fatal: Fatal) {
    tracing::warn!(code = %fatal.error.code, error = %fatal.error.message, "rejecting bridge");
    let _ = send(socket, hub, &Codec::default(), &Message::Error(fatal.error)).await;
    close(socket, fatal.close, "rejected").await;
}
