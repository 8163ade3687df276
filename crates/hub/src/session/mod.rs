//! One bridge session: the `/v1/bridge` WebSocket from the upgrade to the close.
//!
//! The token is checked before the upgrade (401 otherwise). After the upgrade
//! the session task owns its socket: it reads frames, hands them to the sync
//! logic (`sync.rs`: file events, digests, manifests, acks), and writes what
//! the router queues for it (commands, closes). It knows nothing about HTTP
//! routes or SQL.

mod sync;

use crate::auth::{self, TokenKind};
use crate::error::ApiError;
use crate::events::HubEvent;
use crate::metrics::StoreOp;
use crate::router::{Outgoing, MAILBOX};
use crate::store::Principal;
use crate::{now_ms, HubState};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as Ws, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use specbridge_protocol::{
    Codec, CodecError, ErrorBody, ErrorCode, Frame, Hello, Message, Welcome, CAPABILITIES, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// WebSocket-level cap on one message and frame. The codec enforces 1 MiB and
/// answers frames between the two limits with a proper `too_large` error;
/// above this, tungstenite refuses the frame before buffering it.
const MAX_WS_MESSAGE: usize = 2 * 1024 * 1024;
/// Initial read buffer per connection. tungstenite's default (128 KiB) is most
/// of the cost of an idle connection (design §7: <= 16 KB per idle bridge);
/// larger frames still arrive intact, the buffer grows for them.
const READ_BUFFER: usize = 4 * 1024;
/// How often `last_seen` is written while a bridge is busy: presence is shown
/// as "2 min ago", so a write per frame would be wasted I/O.
const PRESENCE_EVERY: Duration = Duration::from_secs(10);
/// A bridge that stops reading would block its session's writes forever
/// (TCP backpressure); past this, the session gives up on it.
const SEND_WITHIN: Duration = Duration::from_secs(30);

/// `GET /v1/bridge`: authenticate, then upgrade.
///
/// The upgrade extractor is taken as a `Result` so the token is judged first:
/// a caller without a valid machine token learns nothing else about the endpoint.
pub(crate) async fn upgrade(
    State(hub): State<Arc<HubState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    hub.stats.bridge_upgrade_attempts.fetch_add(1, Relaxed);
    let ip = hub.limits.ip(&headers, Some(peer));
    if let Err(limited) = hub.limits.before_auth(ip) {
        return limited.into_response();
    }
    let principal = match auth::bearer(headers.get(header::AUTHORIZATION)) {
        Some(secret) => hub.store.authenticate(secret, TokenKind::Machine).await,
        None => Ok(None),
    };
    let principal = match principal {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            hub.limits.auth_failed(ip);
            hub.stats.bridge_auth_failures.fetch_add(1, Relaxed);
            return ApiError::unauthorized("machine")
                .hint("create a machine token with `specbridge-hub token create --kind machine` and run `specbridge login`")
                .into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::new(ErrorCode::Invalid, rejection.body_text())
                .hint("/v1/bridge only accepts a WebSocket upgrade")
                .into_response()
        }
    };
    let tracker = hub.tracker.clone();
    ws.read_buffer_size(READ_BUFFER)
        // Write each message straight through: a write buffer is for
        // throughput, and the hub sends little to a bridge (acks, commands).
        .write_buffer_size(0)
        .max_write_buffer_size(2 * MAX_WS_MESSAGE)
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| tracker.track_future(serve(hub, principal, socket)))
}

/// One session's state between frames. Kept small: an idle bridge holds only
/// this, its socket and its mailbox (maps and vectors allocate only when used).
struct Session {
    hub: Arc<HubState>,
    machine: String,
    /// This connection's id: only it may answer the commands sent on it.
    id: String,
    codec: Codec,
    sync: sync::SyncState,
}

/// Why a session ends early: the `error` to send and the close code after it.
struct Fatal {
    error: ErrorBody,
    close: u16,
}

impl Fatal {
    /// A protocol violation (close 1008, policy violation).
    fn invalid(message: impl Into<String>) -> Self {
        Self { error: ErrorBody::new(ErrorCode::Invalid, message), close: 1008 }
    }

    /// Over a size limit (close 1009, message too big).
    fn too_large(message: impl Into<String>) -> Self {
        Self { error: ErrorBody::new(ErrorCode::TooLarge, message), close: 1009 }
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
        if err.is_no_space() {
            // The bridge keeps what was not acked and sends it again later.
            tracing::warn!(error = %err, "store full during a bridge session");
            let error = ErrorBody::new(ErrorCode::NoSpace, "the hub's disk is full; nothing was stored")
                .with_hint(crate::health::NO_SPACE_HINT);
            return Self { error, close: 1011 };
        }
        tracing::error!(error = %err, "store failed during a bridge session");
        Self { error: ErrorBody::new(ErrorCode::Internal, "the hub could not store the change"), close: 1011 }
    }
}

/// What ended the wait for `hello`.
enum Opening {
    Hello(Box<Hello>),
    Refuse(Fatal),
    /// The hub is stopping: close 1001 like any live session.
    Stopping,
    /// The bridge hung up.
    Gone,
}

async fn opening(hub: &HubState, socket: &mut WebSocket, codec: &Codec) -> Opening {
    let first = tokio::select! {
        () = hub.cancel.cancelled() => return Opening::Stopping,
        first = tokio::time::timeout(hub.config.hello_timeout, next_message(socket, codec, hub)) => first,
    };
    match first {
        Ok(Some(Ok(Message::Hello(hello)))) => Opening::Hello(Box::new(hello)),
        Ok(Some(Ok(other))) => Opening::Refuse(Fatal::invalid(format!("expected hello, got {}", other.kind()))),
        Ok(Some(Err(fatal))) => Opening::Refuse(fatal),
        Ok(None) => Opening::Gone,
        Err(_) => Opening::Refuse(Fatal::invalid("no hello within the time limit")),
    }
}

async fn serve(hub: Arc<HubState>, principal: Principal, mut socket: WebSocket) {
    let codec = Codec::default();
    let mut hello = match opening(&hub, &mut socket, &codec).await {
        Opening::Hello(hello) => hello,
        Opening::Refuse(fatal) => return reject(&mut socket, &hub, fatal).await,
        Opening::Stopping => return close(&mut socket, 1001, "hub restarting").await,
        Opening::Gone => return,
    };
    if let Err(fatal) = check_hello(&hello, &principal) {
        return reject(&mut socket, &hub, fatal).await;
    }
    if principal.machine_id.is_none() {
        // A token speaks for the one machine it registers; an id the hub
        // knows belongs to its own token already. Two first connections
        // racing with one token: only one machine wins the binding.
        match hub.store.bind_token(&principal.token_id, &hello.machine.id).await {
            Ok(true) => {}
            Ok(false) => return reject(&mut socket, &hub, token_taken()).await,
            Err(err) => {
                hub.health.observe(&err);
                return reject(&mut socket, &hub, err.into()).await;
            }
        }
    }
    let connecting = hub.store.machine_connected(&principal, &hello.machine, &hello.projects, now_ms());
    let connected = match hub.metrics.time(StoreOp::machine_connected, connecting).await {
        Ok(connected) => connected,
        Err(crate::HubError::MachineTaken(_)) => return reject(&mut socket, &hub, token_taken()).await,
        Err(err) => {
            hub.health.observe(&err);
            return reject(&mut socket, &hub, err.into()).await;
        }
    };
    let last_seq = connected.last_seq;

    // 64 random bits tell sessions apart in logs and in the router; a full
    // UUID would cost 16 more bytes on every reconnect.
    let session_id = format!("{:016x}", rand::random::<u64>());
    let (tx, mut rx) = mpsc::channel(MAILBOX);
    hub.router.register(&hello.machine.id, &session_id, &principal.token_id, tx);
    hub.events.publish(HubEvent::MachineOnline { machine: hello.machine.id.clone() });
    hub.stats.bridges_connected.fetch_add(1, Relaxed);
    tracing::info!(machine = ?hello.machine.id, name = ?connected.name, session = %session_id, "bridge connected");

    let mut session = Session {
        hub: hub.clone(),
        machine: hello.machine.id.clone(),
        id: session_id.clone(),
        codec,
        sync: sync::SyncState::new(hello.projects.iter().map(|p| p.id.clone()).collect(), last_seq),
    };
    // Digests in `hello` (the bridge had nothing queued) are answered in the
    // welcome itself: a reconnect with nothing changed is hello + welcome.
    let answered = match hello.digests.take() {
        Some(digests) => session.hello_digests(&digests).await.map(|(in_sync, wants)| (Some(in_sync), wants)),
        None => Ok((None, Vec::new())),
    };
    let ended = match answered {
        Err(fatal) => session.fail(&mut socket, fatal).await,
        Ok((in_sync, wants)) => {
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
                hub_time_ms: u64::try_from(now_ms()).ok(),
                in_sync,
            });
            drop(hello);
            let mut opened = send(&mut socket, &hub, &session.codec, &welcome).await;
            for want in &wants {
                opened = opened.and(send(&mut socket, &hub, &session.codec, want).await);
            }
            match opened {
                Ok(()) => {
                    // Commands waiting for this machine go out once it has its welcome.
                    crate::commands::machine_online(&hub, &session.machine);
                    session.pump(&mut socket, &mut rx).await
                }
                Err(()) => None,
            }
        }
    };
    if let Some((code, reason)) = ended {
        close(&mut socket, code, reason).await;
    }
    // Only the machine's current session marks it offline: a session replaced
    // by a newer connection must not flip the newer one's presence.
    if hub.router.unregister(&session.machine, &session_id) {
        if let Err(err) = hub.store.set_presence(&session.machine, false, now_ms()).await {
            tracing::warn!(error = %err, "could not mark machine offline");
        }
        hub.events.publish(HubEvent::MachineOffline { machine: session.machine.clone() });
    }
    hub.stats.bridges_connected.fetch_sub(1, Relaxed);
    tracing::info!(machine = %session.machine, session = %session_id, "bridge disconnected");
}

fn token_taken() -> Fatal {
    Fatal {
        error: ErrorBody::new(ErrorCode::Unauthorized, "this token cannot speak for this machine").with_hint(
            "each machine has its own token: pair it again, or `specbridge-hub token create --kind machine \
                 --machine <id>` to re-pair it (that revokes its old token)",
        ),
        close: 1008,
    }
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
    match &principal.machine_id {
        Some(bound) if bound != id => Err(token_taken()),
        _ => Ok(()),
    }
}

impl Session {
    /// Runs until the socket closes, the hub stops, the bridge falls silent,
    /// or the router closes the session. Returns the close to send, if any.
    ///
    /// Liveness: one timer. When the bridge has said nothing for the ping
    /// interval the hub pings it; when it has said nothing (pongs included)
    /// for the idle timeout, the session ends and the machine shows offline.
    /// What the hub sends does not count: a bridge that only listens may be
    /// dead. Every send is bounded by the same silence deadline, so a write
    /// blocked on a dead socket cannot keep the machine "online" either.
    async fn pump(&mut self, socket: &mut WebSocket, rx: &mut mpsc::Receiver<Outgoing>) -> Option<(u16, &'static str)> {
        let idle = self.hub.config.bridge_idle_timeout;
        let ping_every = self.hub.config.bridge_ping_interval.min(idle);
        let mut heard = tokio::time::Instant::now();
        let timer = tokio::time::sleep(ping_every);
        tokio::pin!(timer);
        let mut presence_at = Instant::now();
        loop {
            tokio::select! {
                () = self.hub.cancel.cancelled() => return Some((1001, "hub restarting")),
                () = &mut timer => {
                    let now = tokio::time::Instant::now();
                    if now >= heard + idle {
                        tracing::info!(machine = %self.machine, "dropping a silent bridge");
                        return Some((1000, "idle timeout"));
                    }
                    if now >= heard + ping_every {
                        let ping = Ws::Ping(Default::default());
                        if tokio::time::timeout_at(heard + idle, socket.send(ping)).await.map_or(true, |r| r.is_err()) {
                            return None;
                        }
                    }
                    let next = if now >= heard + ping_every { now + ping_every } else { heard + ping_every };
                    timer.as_mut().reset(next.min(heard + idle));
                }
                out = rx.recv() => match out {
                    Some(Outgoing::Message(message)) => {
                        if send_by(socket, &self.hub, &self.codec, &message, heard + idle).await.is_err() {
                            return None;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => return Some((code, reason)),
                    None => return None,
                },
                frame = socket.recv() => {
                    let frame = match frame {
                        None => return None,
                        Some(Err(error)) => return self.read_failed(socket, error).await,
                        Some(Ok(frame)) => frame,
                    };
                    heard = tokio::time::Instant::now();
                    if presence_at.elapsed() >= PRESENCE_EVERY {
                        presence_at = Instant::now();
                        if let Err(err) = self.hub.store.set_presence(&self.machine, true, now_ms()).await {
                            tracing::warn!(error = %err, "could not record presence");
                        }
                    }
                    let message = match decode(frame, &self.codec, &self.hub) {
                        Some(Ok(message)) => message,
                        Some(Err(fatal)) => return self.fail(socket, fatal).await,
                        None => continue,
                    };
                    let replies = match self.handle_frame(message).await {
                        Ok(replies) => replies,
                        Err(fatal) => return self.fail(socket, fatal).await,
                    };
                    for reply in replies {
                        if send_by(socket, &self.hub, &self.codec, &reply, heard + idle).await.is_err() {
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// A read error: a frame over the size limit gets `error{too_large}` and
    /// close 1009, like any undecodable frame; a broken connection just ends.
    async fn read_failed(&self, socket: &mut WebSocket, error: axum::Error) -> Option<(u16, &'static str)> {
        if oversized(&error) {
            return self.fail(socket, too_big()).await;
        }
        tracing::debug!(machine = %self.machine, %error, "bridge connection broke");
        None
    }

    async fn fail(&self, socket: &mut WebSocket, fatal: Fatal) -> Option<(u16, &'static str)> {
        if fatal.error.code == ErrorCode::NoSpace {
            self.hub.health.mark_no_space(fatal.error.message.clone());
        }
        tracing::warn!(machine = %self.machine, code = %fatal.error.code, error = ?fatal.error.message, "closing bridge session");
        let _ = send(socket, &self.hub, &self.codec, &Message::Error(fatal.error)).await;
        Some((fatal.close, "protocol error"))
    }
}

/// A frame the WebSocket layer refused for its size (over 2 MiB), as opposed
/// to a connection that broke.
fn oversized(error: &axum::Error) -> bool {
    let inner: &(dyn std::error::Error + 'static) = error;
    let mut source = Some(inner);
    while let Some(e) = source {
        if matches!(
            e.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
            Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
        ) {
            return true;
        }
        source = e.source();
    }
    false
}

/// The `too_large` answer to a frame over the WebSocket layer's limit.
fn too_big() -> Fatal {
    Fatal::too_large(format!("a frame over the {MAX_WS_MESSAGE}-byte limit"))
}

/// Reads the next data message, skipping pings and pongs. A frame over the
/// size limit is a `too_large` refusal, not a silent end.
async fn next_message(socket: &mut WebSocket, codec: &Codec, hub: &HubState) -> Option<Result<Message, Fatal>> {
    loop {
        let frame = match socket.recv().await? {
            Ok(frame) => frame,
            Err(error) if oversized(&error) => return Some(Err(too_big())),
            Err(_) => return None,
        };
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

/// Encodes and sends one message. `Err` means the socket is gone (or stuck).
async fn send(socket: &mut WebSocket, hub: &HubState, codec: &Codec, message: &Message) -> Result<(), ()> {
    send_by(socket, hub, codec, message, tokio::time::Instant::now() + SEND_WITHIN).await
}

/// [`send`], giving up at `by` at the latest (and after [`SEND_WITHIN`]).
async fn send_by(
    socket: &mut WebSocket,
    hub: &HubState,
    codec: &Codec,
    message: &Message,
    by: tokio::time::Instant,
) -> Result<(), ()> {
    let frame = match codec.encode(message) {
        Ok(frame) => frame,
        Err(err) => {
            // Only an over-limit message fails to encode; hub replies are
            // bounded (want parts of 500 paths), so this is a bug, not input.
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
    let by = by.min(tokio::time::Instant::now() + SEND_WITHIN);
    match tokio::time::timeout_at(by, socket.send(ws)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Ws::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(SEND_WITHIN, socket.send(frame)).await;
}

async fn reject(socket: &mut WebSocket, hub: &HubState, fatal: Fatal) {
    tracing::warn!(code = %fatal.error.code, error = ?fatal.error.message, "rejecting bridge");
    let _ = send(socket, hub, &Codec::default(), &Message::Error(fatal.error)).await;
    close(socket, fatal.close, "rejected").await;
}
