//! One WebSocket session with the hub (see the flow in docs/protocol.md).
//!
//! Order of business: `hello` -> `welcome` -> outbox events in seq order ->
//! `digest` per project -> whatever the hub asks (`want-manifest`, `want`,
//! `command`) and live events. Command responses jump the queue: the loop
//! checks them first and sends outbox data one frame at a time, so a response
//! never waits behind more than one frame. Unacknowledged outbox data is capped
//! by an in-flight window.
//!
//! Frames are read by a task of their own ([`liveness::read_loop`]), and every
//! write is raced against the dead-link signals ([`liveness`]), so a write
//! blocked on a stalled socket cannot hide a dead link.

use super::connect::WsStream;
use super::liveness::{self, Activity, Inbound};
use super::upload::{OutFrame, Packer};
use super::LinkCtx;
use crate::core::{CoreGone, CoreMsg};
use crate::status::{EngineEvent, LinkState};
use crate::timing::HubClock;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use specbridge_protocol::{
    Batch, Codec, CodecError, Command, ErrorBody, ErrorCode, Frame, Manifest, Message, Response, Welcome,
    MANIFEST_PART_ENTRIES, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_util::sync::CancellationToken;

/// How long a close frame may take to go out before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the hub may take to answer `hello`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Outbox bytes (JSON) sent but not yet acknowledged. Past this the session
/// waits for acks, so a large initial sync never buffers without bound.
const WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// Pending events fetched from the core per request.
const FETCH_LIMIT: usize = 256;

/// Commands running at once; more wait their turn.
const MAX_CONCURRENT_COMMANDS: usize = 16;

/// Progress messages, and answers, queued for sending.
const RESPONSE_QUEUE: usize = 64;

/// Frames read ahead of the session loop (acks and pings, mostly).
const INBOUND_QUEUE: usize = 64;

/// A wall clock that ran this much further than the monotonic clock between two
/// heartbeats means the machine slept.
const CLOCK_JUMP: Duration = Duration::from_secs(5);

/// How a session ended.
#[derive(Debug)]
pub(crate) struct SessionEnd {
    /// Whether the hub answered `hello` with `welcome`.
    pub(crate) welcomed: bool,
    pub(crate) reason: EndReason,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndReason {
    #[error("the engine is stopping")]
    Cancelled,
    #[error("the hub is restarting (going away)")]
    GoingAway,
    #[error("the hub closed the connection{0}")]
    Closed(String),
    #[error("no pong from the hub within {0:?}; the connection is dead")]
    PongTimeout(Duration),
    #[error("nothing from the hub for {0:?}; the connection is dead")]
    Silent(Duration),
    #[error("a write to the hub made no progress for {0:?}; the connection is dead")]
    WriteStalled(Duration),
    #[error("no welcome from the hub within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("the hub reported an error: {0}")]
    Hub(ErrorBody),
    #[error("connection lost: {0}")]
    Network(String),
    #[error("reconnect requested")]
    Reconnect,
}

impl EndReason {
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    pub(crate) fn is_reconnect(&self) -> bool {
        matches!(self, Self::Reconnect)
    }
}

impl From<CoreGone> for EndReason {
    fn from(_: CoreGone) -> Self {
        Self::Cancelled
    }
}

type Sink = SplitSink<WsStream, WsMessage>;
type Stream = mpsc::Receiver<Inbound>;

/// Runs one session to its end. `activity` is the socket's progress record
/// (from [`super::connect::connect`]).
pub(crate) async fn run(ws: WsStream, activity: Arc<Activity>, ctx: &LinkCtx) -> SessionEnd {
    let (sink, frames) = ws.split();
    let (progress_tx, mut progress_rx) = mpsc::channel(RESPONSE_QUEUE);
    let (answer_tx, mut answer_rx) = mpsc::channel(RESPONSE_QUEUE);
    let (inbound_tx, mut stream) = mpsc::channel(INBOUND_QUEUE);
    let dead = CancellationToken::new();
    let reader_stop = ctx.cancel.child_token();
    let silence = ctx.timing.ping_interval + ctx.timing.pong_timeout;
    ctx.tracker.spawn(liveness::read_loop(
        frames,
        inbound_tx,
        Arc::clone(&activity),
        silence,
        dead.clone(),
        reader_stop.clone(),
    ));
    // Stops the reader however this function returns.
    let _reader = reader_stop.drop_guard();
    let mut session = Session {
        ctx,
        activity,
        dead,
        silence,
        sink,
        codec: Codec::default(),
        packer: Packer::default(),
        fetched_up_to: 0,
        inflight: VecDeque::new(),
        inflight_bytes: 0,
        digests_sent: false,
        outbox_ready: true,
        acked: 0,
        progress_tx,
        answer_tx,
        command_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_COMMANDS)),
        hub_clock: HubClock::default(),
    };
    let hello_sent = SystemTime::now();
    let welcome = match session.handshake(&mut stream).await {
        Ok(welcome) => welcome,
        Err(reason) => return SessionEnd { welcomed: false, reason },
    };
    session.hub_clock = HubClock::at_welcome(welcome.hub_time_ms, hello_sent, SystemTime::now());
    tracing::info!(session = %welcome.session, last_seq = welcome.last_seq, server = %welcome.server, "connected");
    if let Err(reason) = ctx.core.welcome(welcome.last_seq).await {
        return SessionEnd { welcomed: true, reason: reason.into() };
    }
    session.acked = welcome.last_seq;
    ctx.set_error(ctx.baseline_error.clone());
    ctx.set_state(LinkState::Connected);
    let reason = session.serve(&mut stream, &mut progress_rx, &mut answer_rx).await;
    if !reason.is_cancelled() {
        // Best effort, and bounded: a dead socket must not delay the reconnect.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.sink.close()).await;
    }
    let (bytes_in, bytes_out) = session.activity.bytes();
    tracing::debug!(bytes_in, bytes_out, "session ended (TCP payload bytes)");
    SessionEnd { welcomed: true, reason }
}

struct Session<'a> {
    ctx: &'a LinkCtx,
    /// The socket's progress (bytes moved, and when).
    activity: Arc<Activity>,
    /// Cancelled by the reader when the hub has been silent for `silence`.
    dead: CancellationToken,
    silence: Duration,
    sink: Sink,
    codec: Codec,
    packer: Packer,
    /// Highest seq fetched from the core this session.
    fetched_up_to: u64,
    /// (seq, JSON bytes) of outbox frames sent and not yet acknowledged.
    inflight: VecDeque<(u64, usize)>,
    inflight_bytes: usize,
    digests_sent: bool,
    /// There may be outbox work (set when the head moves, cleared when drained).
    outbox_ready: bool,
    acked: u64,
    /// Progress messages of running commands (they jump the outbox queue, as answers do).
    progress_tx: mpsc::Sender<Message>,
    /// Final answers to hub commands, each with its in-flight mark, which is
    /// dropped only once the answer is on the wire (or the session is gone).
    answer_tx: mpsc::Sender<(Response, InFlight)>,
    command_slots: Arc<Semaphore>,
    /// The hub's clock, for command deadlines.
    hub_clock: HubClock,
}

impl Session<'_> {
    async fn handshake(&mut self, stream: &mut Stream) -> Result<Welcome, EndReason> {
        let mut hello = self.ctx.hello.clone();
        // Nothing queued: the digests can go with `hello`, and a hub that
        // compares them answers in the welcome (docs/protocol.md).
        hello.digests = self.ctx.core.digests(0).await?;
        let sent_digests = hello.digests.is_some();
        self.send(&Message::Hello(hello)).await?;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            let frame = tokio::select! {
                _ = self.ctx.cancel.cancelled() => return Err(EndReason::Cancelled),
                _ = tokio::time::sleep_until(deadline) => return Err(EndReason::HandshakeTimeout(HANDSHAKE_TIMEOUT)),
                frame = stream.recv() => self.received(frame)?,
            };
            let Some(message) = self.decode(frame).await? else { continue };
            match message {
                Message::Welcome(welcome) => {
                    if welcome.protocol > PROTOCOL_VERSION || welcome.protocol < MIN_PROTOCOL_VERSION {
                        return Err(EndReason::Protocol(format!(
                            "the hub chose protocol {}, this bridge speaks {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION}",
                            welcome.protocol
                        )));
                    }
                    if let (true, Some(in_sync)) = (sent_digests, &welcome.in_sync) {
                        // Every project was answered: in sync, or a want-manifest follows.
                        self.digests_sent = true;
                        for project in in_sync {
                            let _ = self
                                .ctx
                                .events
                                .send(EngineEvent::Synced { project: project.clone(), seq: welcome.last_seq });
                        }
                    }
                    return Ok(welcome);
                }
                Message::Error(body) => return Err(EndReason::Hub(body)),
                other => tracing::debug!(kind = other.kind(), "ignored before welcome"),
            }
        }
    }

    async fn serve(
        &mut self,
        stream: &mut Stream,
        progress: &mut mpsc::Receiver<Message>,
        answers: &mut mpsc::Receiver<(Response, InFlight)>,
    ) -> EndReason {
        let timing = self.ctx.timing.clone();
        let mut head = self.ctx.head.clone();
        let mut ping = tokio::time::interval_at(Instant::now() + timing.ping_interval, timing.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_tick = (Instant::now(), SystemTime::now());
        let mut pong_deadline: Option<Instant> = None;
        let mut reconnect = self.ctx.reconnect.clone();
        reconnect.mark_unchanged();
        loop {
            let can_pump = self.outbox_ready && (self.inflight_bytes < WINDOW_BYTES || self.packer.is_streaming());
            let step: Result<(), EndReason> = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => {
                    self.close(CloseCode::Normal, "bridge stopping").await;
                    return EndReason::Cancelled;
                }
                // Progress before answers: a command's progress lines were
                // queued before its answer, and must reach the hub first.
                Some(message) = progress.recv() => self.send(&message).await,
                Some((response, in_flight)) = answers.recv() => {
                    let sent = self.send_response(response).await;
                    drop(in_flight);
                    sent
                }
                frame = stream.recv() => {
                    let frame = match self.received(frame) {
                        Ok(frame) => frame,
                        Err(reason) => return reason,
                    };
                    // Any frame proves the connection is alive.
                    pong_deadline = None;
                    match self.decode(frame).await {
                        Ok(Some(message)) => self.on_message(message).await,
                        Ok(None) => Ok(()),
                        Err(reason) => Err(reason),
                    }
                }
                _ = crate::timing::sleep_until_opt(pong_deadline) => Err(EndReason::PongTimeout(timing.pong_timeout)),
                _ = self.dead.cancelled() => Err(EndReason::Silent(self.silence)),
                // `run` sends the close frame, bounded: the socket may be dead.
                Ok(()) = reconnect.changed() => Err(EndReason::Reconnect),
                _ = ping.tick() => {
                    let (mono, wall) = (last_tick.0.elapsed(), SystemTime::now().duration_since(last_tick.1).unwrap_or_default());
                    if wall > mono + CLOCK_JUMP {
                        tracing::info!(?wall, ?mono, "the clock jumped (sleep/wake?); checking the link now");
                    }
                    last_tick = (Instant::now(), SystemTime::now());
                    let sent = self.send_message(WsMessage::Ping(Default::default())).await;
                    // Timed from when the ping left: a ping that waited behind a
                    // slow frame is not the hub's delay.
                    pong_deadline.get_or_insert(Instant::now() + timing.pong_timeout);
                    sent
                }
                changed = head.changed() => match changed {
                    Ok(()) => {
                        self.outbox_ready = true;
                        Ok(())
                    }
                    Err(_) => Err(EndReason::Cancelled),
                },
                _ = std::future::ready(()), if can_pump => self.pump().await,
            };
            if let Err(reason) = step {
                return reason;
            }
        }
    }

    /// What the reader handed over; `Err` once it has stopped (the stream
    /// ended, or the hub fell silent).
    fn received(&self, frame: Option<Inbound>) -> Result<Inbound, EndReason> {
        match frame {
            Some(frame) => Ok(frame),
            None if self.dead.is_cancelled() => Err(EndReason::Silent(self.silence)),
            None => Err(EndReason::Network("the connection closed".into())),
        }
    }

    /// Decodes one received WebSocket message. `Ok(None)` for control frames.
    /// An undecodable frame gets an `error` and a close, and ends the session.
    async fn decode(&mut self, frame: Inbound) -> Result<Option<Message>, EndReason> {
        let decoded = match frame {
            None => return Err(EndReason::Network("the connection closed".into())),
            // A hub that crashed (kill -9, power loss) leaves no close frame:
            // that is a lost connection, not a misbehaving hub.
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                return Err(EndReason::Network("the hub went away without closing (crashed?)".into()))
            }
            Some(Err(WsError::Capacity(e))) => {
                let reason = format!("frame over the 2 MiB limit: {e}");
                self.close(CloseCode::Size, "frame too large").await;
                return Err(EndReason::Protocol(reason));
            }
            Some(Err(e @ (WsError::Protocol(_) | WsError::Utf8(_)))) => {
                self.close(CloseCode::Protocol, "protocol error").await;
                return Err(EndReason::Protocol(e.to_string()));
            }
            Some(Err(e)) => return Err(network(e)),
            Some(Ok(WsMessage::Text(text))) => self.codec.decode_text(&text),
            Some(Ok(WsMessage::Binary(bytes))) => self.codec.decode_binary(&bytes),
            Some(Ok(WsMessage::Close(frame))) => {
                return Err(match frame {
                    Some(f) if f.code == CloseCode::Away => EndReason::GoingAway,
                    Some(f) => EndReason::Closed(format!(" ({}: {})", u16::from(f.code), f.reason)),
                    None => EndReason::Closed(String::new()),
                });
            }
            Some(Ok(_)) => return Ok(None),
        };
        match decoded {
            Ok(message) => Ok(Some(message)),
            Err(e) => Err(self.reject(e).await),
        }
    }

    /// Answers an undecodable frame: `error`, then close 1009 or 1007.
    async fn reject(&mut self, error: CodecError) -> EndReason {
        tracing::warn!(error = %error, "undecodable frame from the hub");
        let body = error.to_error_body();
        let code = if body.code == ErrorCode::TooLarge { CloseCode::Size } else { CloseCode::Invalid };
        let _ = self.send(&Message::Error(body)).await;
        self.close(code, "undecodable frame").await;
        EndReason::Protocol(error.to_string())
    }

    async fn on_message(&mut self, message: Message) -> Result<(), EndReason> {
        let messages = match message {
            Message::Batch(batch) => batch.messages,
            single => vec![single],
        };
        for message in messages {
            self.on_one(message).await?;
        }
        Ok(())
    }

    async fn on_one(&mut self, message: Message) -> Result<(), EndReason> {
        match message {
            Message::Ack(ack) => {
                while self.inflight.front().is_some_and(|(seq, _)| *seq <= ack.seq) {
                    if let Some((_, bytes)) = self.inflight.pop_front() {
                        self.inflight_bytes -= bytes;
                    }
                }
                self.acked = self.acked.max(ack.seq);
                self.ctx.core.send(CoreMsg::Ack { seq: ack.seq }).await?;
            }
            Message::InSync(project) => {
                let _ = self.ctx.events.send(EngineEvent::Synced { project: project.project, seq: self.acked });
            }
            Message::WantManifest(project) => self.send_manifest(project.project).await?,
            Message::Want(want) => {
                self.ctx.core.send(CoreMsg::Want { project: want.project, paths: want.paths }).await?;
            }
            Message::Command(command) => self.spawn_command(command),
            Message::Error(body) => {
                tracing::warn!(error = %body, "the hub reported an error");
                self.ctx.set_error(Some(format!("hub: {body}")));
            }
            other => tracing::debug!(kind = other.kind(), "ignored"),
        }
        Ok(())
    }

    /// Runs a command off the session task; its progress and then its answer
    /// come back through two queues the loop serves before the outbox.
    fn spawn_command(&self, command: Command) {
        // The deadline counts from arrival, not from when a slot frees up.
        let deadline = self.hub_clock.deadline(&command, Instant::now()).into_std();
        let executor = Arc::clone(&self.ctx.executor);
        let core = self.ctx.core.clone();
        let events = self.ctx.events.clone();
        let progress = self.progress_tx.clone();
        let answers = self.answer_tx.clone();
        let slots = Arc::clone(&self.command_slots);
        // Counted from arrival until the answer is written (see `serve`), or
        // dropped with it when the session ends first.
        let in_flight = InFlight::enter(&self.ctx.in_flight);
        self.ctx.tracker.spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else { return };
            let handled = executor.run(command, deadline, Some(progress)).await;
            let _ = answers.send((handled.response, in_flight)).await;
            if !handled.changed.is_empty() {
                // Our own writes: let the core index them now rather than wait for the watcher.
                let _ = core.send(CoreMsg::Changed { project: handled.project.clone(), paths: handled.changed }).await;
            }
            let _ = events.send(EngineEvent::CommandHandled {
                name: handled.name,
                project: handled.project,
                path: handled.path,
                outcome: handled.outcome,
            });
        });
    }

    async fn send_manifest(&mut self, project: String) -> Result<(), EndReason> {
        let Some(entries) = self.ctx.core.manifest(project.clone()).await? else {
            tracing::warn!(%project, "the hub asked for the manifest of an unknown project");
            return Ok(());
        };
        let parts: Vec<Vec<_>> = if entries.is_empty() {
            vec![Vec::new()]
        } else {
            entries.chunks(MANIFEST_PART_ENTRIES).map(<[_]>::to_vec).collect()
        };
        let count = parts.len();
        for (part, entries) in parts.into_iter().enumerate() {
            let manifest = Manifest {
                project: project.clone(),
                part: u32::try_from(part).unwrap_or(u32::MAX),
                last: part + 1 == count,
                entries,
            };
            self.send(&Message::Manifest(manifest)).await?;
        }
        Ok(())
    }

    /// Sends one frame of outbox data (or the digests once the outbox is drained).
    async fn pump(&mut self) -> Result<(), EndReason> {
        if self.packer.is_idle() {
            let events = self.ctx.core.pending(self.fetched_up_to, FETCH_LIMIT).await?;
            match events.last() {
                Some(last) => {
                    self.fetched_up_to = last.seq;
                    self.packer.extend(events);
                }
                None => {
                    if !self.digests_sent {
                        let Some(digests) = self.ctx.core.digests(self.fetched_up_to).await? else {
                            // Events arrived meanwhile; send them first.
                            return Ok(());
                        };
                        self.digests_sent = true;
                        let mut messages: Vec<Message> = digests.into_iter().map(Message::Digest).collect();
                        let message = match messages.len() {
                            0 => None,
                            1 => messages.pop(),
                            _ => Some(Message::Batch(Batch { messages })),
                        };
                        if let Some(message) = message {
                            self.send(&message).await?;
                        }
                    }
                    self.outbox_ready = false;
                    return Ok(());
                }
            }
        }
        let mut packer = std::mem::take(&mut self.packer);
        let projects = Arc::clone(&self.ctx.projects);
        let codec = self.codec;
        let (packer, frames) = tokio::task::spawn_blocking(move || {
            let frames = packer.next_frames(&projects, &codec);
            (packer, frames)
        })
        .await
        .map_err(|e| EndReason::Network(format!("reading files failed: {e}")))?;
        self.packer = packer;
        for OutFrame { frame, json_len, seq } in frames {
            self.send_frame(frame).await?;
            if let Some(seq) = seq {
                self.inflight.push_back((seq, json_len));
                self.inflight_bytes += json_len;
            }
        }
        Ok(())
    }

    async fn send(&mut self, message: &Message) -> Result<(), EndReason> {
        let frame = self.codec.encode(message).map_err(|e| EndReason::Protocol(format!("cannot encode: {e}")))?;
        self.send_frame(frame).await
    }

    /// Sends a frame.
    async fn send_frame(&mut self, frame: Frame) -> Result<(), EndReason> {
        let message = match frame {
            Frame::Text(text) => WsMessage::Text(text.into()),
            Frame::Binary(bytes) => WsMessage::Binary(bytes.into()),
        };
        self.send_message(message).await
    }

    /// Writes one WebSocket message. A stalled socket cannot hold the session:
    /// the write gives up when it moves no byte for the write timeout, when
    /// the reader finds the hub silent, or when the engine stops.
    async fn send_message(&mut self, message: WsMessage) -> Result<(), EndReason> {
        let limit = self.ctx.timing.write_timeout;
        tokio::select! {
            sent = self.sink.send(message) => sent.map_err(network),
            _ = self.ctx.cancel.cancelled() => Err(EndReason::Cancelled),
            _ = self.dead.cancelled() => Err(EndReason::Silent(self.silence)),
            _ = liveness::write_stalled(&self.activity, limit) => Err(EndReason::WriteStalled(limit)),
        }
    }

    /// Sends a command response. One that cannot be encoded becomes an
    /// `internal` error for that request instead of ending the session.
    async fn send_response(&mut self, response: Response) -> Result<(), EndReason> {
        match self.codec.encode(&Message::Response(response.clone())) {
            Ok(frame) => self.send_frame(frame).await,
            Err(e) => {
                tracing::error!(id = %response.id, error = %e, "cannot encode a response");
                let error =
                    ErrorBody::new(ErrorCode::Internal, format!("the bridge could not encode the response: {e}"));
                self.send(&Message::Response(Response::err(response.id, error))).await
            }
        }
    }

    /// Sends a close frame, giving up after [`CLOSE_TIMEOUT`] on a stalled socket.
    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let close = WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.send(close)).await;
    }
}

fn network(error: WsError) -> EndReason {
    EndReason::Network(error.to_string())
}

/// One hub command counted in [`LinkCtx::in_flight`] from its arrival until
/// its answer is written to the socket (hosts wait on the count before
/// replacing their binary, so no answer is lost to the restart).
struct InFlight(watch::Sender<usize>);

impl InFlight {
    fn enter(count: &watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
