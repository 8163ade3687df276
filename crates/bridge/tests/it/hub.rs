//! A tiny hub for link tests: a real tokio-tungstenite server on 127.0.0.1:0
//! that speaks the protocol (welcome, acks, digest/manifest/want, chunk
//! assembly) and lets a test inject messages, raw frames and misbehaviour.

use futures_util::{SinkExt as _, StreamExt as _};
use specbridge_protocol::{
    content_hash, project_digest, Ack, Codec, ErrorBody, Frame, Hello, Message, ProjectRef, Response, Want, Welcome,
    CAPABILITIES, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response as HttpResponse};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Ws;

/// How the hub behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Every upgrade gets HTTP 401.
    Reject401,
    /// The first session gets a zstd bomb right after `welcome`.
    BombFirstSession,
}

/// What a test can push into the current session.
#[derive(Debug)]
pub enum Push {
    Message(Message),
    Raw(Ws),
    /// Stop reading the socket (so pings go unanswered).
    Freeze,
    /// Drop the connection without a close frame, as a killed hub does.
    Crash,
}

#[derive(Debug, Default)]
pub struct State {
    pub upgrade_attempts: usize,
    pub auth_headers: Vec<Option<String>>,
    pub hellos: Vec<Hello>,
    pub sessions: usize,
    pub last_seq: u64,
    /// (project, path) -> bytes.
    pub files: BTreeMap<(String, String), Vec<u8>>,
    /// Every message received, batches flattened, with the session number.
    pub received: Vec<(usize, Message)>,
    pub responses: Vec<Response>,
    pub bridge_errors: Vec<ErrorBody>,
    pub wire_bytes: usize,
    current: Option<mpsc::UnboundedSender<Push>>,
}

#[derive(Clone)]
pub struct TestHub {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl TestHub {
    pub async fn start(mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                tokio::spawn(serve(tcp, Arc::clone(&shared), mode));
            }
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn push(&self, push: Push) {
        let tx = self.with(|s| s.current.clone()).expect("a session");
        tx.send(push).unwrap();
    }

    pub fn file(&self, project: &str, path: &str) -> Option<Vec<u8>> {
        self.with(|s| s.files.get(&(project.to_owned(), path.to_owned())).cloned())
    }

    pub fn paths(&self, project: &str) -> Vec<String> {
        self.with(|s| s.files.keys().filter(|(p, _)| p == project).map(|(_, path)| path.clone()).collect())
    }

    /// Forgets the responses received so far (to see a repeated id answered anew).
    pub fn forget_responses(&self) {
        self.with(|s| s.responses.clear());
    }

    pub fn response(&self, id: &str) -> Option<Response> {
        self.with(|s| s.responses.iter().find(|r| r.id == id).cloned())
    }

    /// Messages of one kind received in a session.
    pub fn count(&self, session: usize, kind: &str) -> usize {
        self.with(|s| s.received.iter().filter(|(n, m)| *n == session && m.kind() == kind).count())
    }
}

async fn serve(tcp: tokio::net::TcpStream, state: Arc<Mutex<State>>, mode: Mode) {
    let record = Arc::clone(&state);
    // The signature is tungstenite's callback type; its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = move |request: &Request, response: HttpResponse| -> Result<HttpResponse, ErrorResponse> {
        let mut s = record.lock().unwrap();
        s.upgrade_attempts += 1;
        let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
        s.auth_headers.push(auth);
        if mode == Mode::Reject401 || request.uri().path() != "/v1/bridge" {
            let body = r#"{"error":{"code":"unauthorized","message":"unknown token"}}"#;
            let mut refused = ErrorResponse::new(Some(body.to_owned()));
            *refused.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(refused);
        }
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else { return };
    let (mut sink, mut stream) = ws.split();
    let codec = Codec::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let session = {
        let mut s = state.lock().unwrap();
        s.sessions += 1;
        s.current = Some(tx);
        s.sessions
    };
    let mut frozen = false;
    let mut manifest: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut chunks: BTreeMap<(String, String, u64), Vec<u8>> = BTreeMap::new();
    loop {
        let frame = tokio::select! {
            push = rx.recv() => {
                match push {
                    Some(Push::Message(m)) => { let _ = sink.send(encode(&codec, &m)).await; }
                    Some(Push::Raw(raw)) => { let _ = sink.send(raw).await; }
                    Some(Push::Freeze) => frozen = true,
                    Some(Push::Crash) | None => return,
                }
                continue;
            }
            frame = stream.next(), if !frozen => frame,
        };
        let message = match frame {
            Some(Ok(Ws::Text(t))) => {
                state.lock().unwrap().wire_bytes += t.len();
                codec.decode_text(&t)
            }
            Some(Ok(Ws::Binary(b))) => {
                state.lock().unwrap().wire_bytes += b.len();
                codec.decode_binary(&b)
            }
            Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        };
        let Ok(message) = message else { return };
        let messages = match message {
            Message::Batch(b) => b.messages,
            m => vec![m],
        };
        let mut replies = Vec::new();
        let mut stored_seq = None;
        for message in messages {
            let mut s = state.lock().unwrap();
            s.received.push((session, message.clone()));
            match message {
                Message::Hello(hello) => {
                    s.hellos.push(hello);
                    replies.push(Message::Welcome(Welcome {
                        protocol: PROTOCOL_VERSION,
                        capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
                        session: format!("s{session}"),
                        last_seq: s.last_seq,
                        server: "test-hub".into(),
                        hub_time_ms: Some(now_ms()),
                        // An older hub: the bridge must send `digest` after the outbox.
                        in_sync: None,
                    }));
                }
                Message::FileUpsert(u) => {
                    let key = (u.project.clone(), u.path.clone(), u.seq);
                    let buf = chunks.entry(key.clone()).or_default();
                    assert_eq!(buf.len() as u64, u.offset, "chunks arrive in order");
                    buf.extend(u.content.to_bytes().unwrap());
                    if u.last {
                        let bytes = chunks.remove(&key).unwrap();
                        assert_eq!(content_hash(&bytes), u.hash, "assembled bytes match the hash");
                        s.files.insert((u.project, u.path), bytes);
                        stored_seq = stored_seq.max(Some(u.seq));
                    }
                }
                Message::FileDelete(d) => {
                    s.files.remove(&(d.project, d.path));
                    stored_seq = stored_seq.max(Some(d.seq));
                }
                Message::Digest(d) => {
                    let ours = project_digest(
                        s.files
                            .iter()
                            .filter(|((p, _), _)| *p == d.project)
                            .map(|((_, path), bytes)| (path.clone(), content_hash(bytes)))
                            .collect::<Vec<_>>()
                            .iter()
                            .map(|(p, h)| (p.as_str(), h.as_str())),
                    );
                    let project = ProjectRef { project: d.project.clone() };
                    replies.push(if ours == d.digest {
                        Message::InSync(project)
                    } else {
                        Message::WantManifest(project)
                    });
                }
                Message::Manifest(m) => {
                    let entries = manifest.entry(m.project.clone()).or_default();
                    entries.extend(m.entries.into_iter().map(|e| (e.path, e.hash)));
                    if m.last {
                        let entries = manifest.remove(&m.project).unwrap_or_default();
                        let ours: BTreeMap<String, String> = s
                            .files
                            .iter()
                            .filter(|((p, _), _)| *p == m.project)
                            .map(|((_, path), bytes)| (path.clone(), content_hash(bytes)))
                            .collect();
                        let keep: BTreeSet<&String> = entries.keys().collect();
                        s.files.retain(|(p, path), _| *p != m.project || keep.contains(path));
                        let paths: Vec<String> =
                            entries.iter().filter(|(p, h)| ours.get(*p) != Some(h)).map(|(p, _)| p.clone()).collect();
                        replies.push(Message::Want(Want { project: m.project, paths, last: true }));
                    }
                }
                Message::Response(r) => s.responses.push(r),
                Message::Error(e) => s.bridge_errors.push(e),
                _ => {}
            }
        }
        if let Some(seq) = stored_seq {
            let ack = {
                let mut s = state.lock().unwrap();
                s.last_seq = s.last_seq.max(seq);
                s.last_seq
            };
            replies.push(Message::Ack(Ack { seq: ack }));
        }
        for reply in replies {
            let is_welcome = matches!(reply, Message::Welcome(_));
            if sink.send(encode(&codec, &reply)).await.is_err() {
                return;
            }
            if is_welcome && mode == Mode::BombFirstSession && session == 1 {
                let _ = sink.send(Ws::Binary(bomb().into())).await;
            }
        }
    }
}

fn encode(codec: &Codec, message: &Message) -> Ws {
    match codec.encode(message).unwrap() {
        Frame::Text(t) => Ws::Text(t.into()),
        Frame::Binary(b) => Ws::Binary(b.into()),
    }
}

/// A tag byte and a zstd frame of 64 MiB of zeros: a few KB on the wire. The
/// window is kept at 1 MiB so the frame passes the decoder's window cap and
/// only the output bound stops it (the nastier kind of bomb).
pub fn bomb() -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    encoder.window_log(20).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    }
    let mut frame = vec![specbridge_protocol::BINARY_ZSTD_TAG];
    frame.extend_from_slice(&encoder.finish().unwrap());
    frame
}

/// A going-away close, as a hub sends on a planned restart.
pub fn going_away() -> Ws {
    Ws::Close(Some(CloseFrame { code: CloseCode::Away, reason: "restarting".into() }))
}

/// Polls `check` until true, or panics after `within`.
pub async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The fake hub's clock, as a real hub stamps `welcome`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
