//! The local socket between the tray process and the settings window
//! process (and a second launch): newline-delimited JSON.
//!
//! ```text
//! client -> host   {"key": "<tray.key>", "subscribe": true}      first line; a wrong key is hung up on
//!                  {"id": 7, "request": {"cmd": "add_project", "path": "/p", "read_only": false}}
//! host -> client   {"id": 7, "ok": <snapshot>}  |  {"id": 7, "err": {"code": "config", "message": …}}
//!                  {"push": "snapshot", "data": <snapshot>}      subscribers only, after every change
//!                  {"push": "consent", "data": [<request>…]}     {"push": "open", "data": "main"}
//! ```
//!
//! Unix: a socket file, 0600, in a 0700 folder of the user's state folder.
//! Windows: a named pipe whose name derives from that folder. Either way the
//! first line must carry the key the tray wrote (0600) next to it, so only a
//! process that can read this user's files gets to drive the tray
//! (docs/security.md).

use crate::actor::{Host, Request};
use crate::error::AppError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use specbridge_bridge::Paths;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the tray process listens, and the key a client must present.
#[derive(Debug, Clone)]
pub struct Endpoint {
    dir: PathBuf,
}

impl Endpoint {
    /// The endpoint of the tray that uses these paths (one per user, or per
    /// `SPECBRIDGE_HOME`).
    pub fn for_paths(paths: &Paths) -> Self {
        Self { dir: paths.state_dir.join("run") }
    }

    /// The socket file (Unix) whose folder also holds the key.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("tray.sock")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("tray.key")
    }

    #[cfg(windows)]
    fn pipe_name(&self) -> String {
        use std::hash::{Hash as _, Hasher as _};
        // Same binary on both ends, so a std hash is stable enough here.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.dir.hash(&mut h);
        format!(r"\\.\pipe\specbridge-tray-{:016x}", h.finish())
    }

    fn read_key(&self) -> io::Result<String> {
        Ok(std::fs::read_to_string(self.key_path())?.trim().to_owned())
    }

    /// Creates the private folder and a fresh key (0600).
    fn write_key(&self) -> io::Result<String> {
        create_private_dir(&self.dir)?;
        let key: String = {
            use rand::Rng as _;
            let bytes: [u8; 32] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let tmp = self.dir.join("tray.key.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&tmp)?, key.as_bytes())?;
        std::fs::rename(&tmp, self.key_path())?;
        Ok(key)
    }

    /// Removes the socket file (on quit, before a restart).
    pub fn remove(&self) {
        #[cfg(unix)]
        let _ = std::fs::remove_file(self.socket_path());
    }
}

fn create_private_dir(dir: &std::path::Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// An error as the window's commands return it: `{code, message, hint?, details?}`
/// (the serialized [`AppError`], carried through unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// The stable code (ui/src/api.ts `ErrorCode`).
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Machine-readable extras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl From<&AppError> for WireError {
    fn from(e: &AppError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
            hint: e.hint(),
            details: serde_json::to_value(e).ok().and_then(|v| v.get("details").cloned()),
        }
    }
}

impl From<AppError> for WireError {
    fn from(e: AppError) -> Self {
        Self::from(&e)
    }
}

impl WireError {
    fn tray_gone(detail: impl std::fmt::Display) -> Self {
        Self::from(AppError::internal(format!("lost the tray process: {detail}")))
    }
}

#[derive(Serialize, Deserialize)]
struct Hello {
    key: String,
    subscribe: bool,
}

#[derive(Serialize, Deserialize)]
struct Call {
    id: u64,
    request: Request,
}

#[derive(Serialize, Deserialize, Default)]
struct Frame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    err: Option<WireError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    push: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

fn push_frame(name: &str, data: Value) -> Frame {
    Frame { push: Some(name.to_owned()), data: Some(data), ..Frame::default() }
}

// ----- server ----------------------------------------------------------------

/// The bound socket of the tray process.
pub struct Listener {
    endpoint: Endpoint,
    key: String,
    #[cfg(unix)]
    inner: tokio::net::UnixListener,
    #[cfg(windows)]
    inner: tokio::net::windows::named_pipe::NamedPipeServer,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds the endpoint with a fresh key. A socket file left by a crashed
    /// tray is replaced; call [`Client::connect`] first to find a live one.
    pub fn bind(endpoint: &Endpoint) -> io::Result<Self> {
        let key = endpoint.write_key()?;
        #[cfg(unix)]
        let inner = {
            use std::os::unix::fs::PermissionsExt as _;
            let path = endpoint.socket_path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let inner = tokio::net::UnixListener::bind(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            inner
        };
        #[cfg(windows)]
        let inner = tokio::net::windows::named_pipe::ServerOptions::new()
            .first_pipe_instance(true)
            .reject_remote_clients(true)
            .create(endpoint.pipe_name())?;
        Ok(Self { endpoint: endpoint.clone(), key, inner })
    }

    /// Serves clients until `cancel`, each on its own task.
    pub async fn serve(mut self, host: Host, tracker: TaskTracker, cancel: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = cancel.cancelled() => break,
                accepted = self.accept() => accepted,
            };
            match accepted {
                Ok(conn) => {
                    let (host, key, cancel, t) =
                        (host.clone(), self.key.clone(), cancel.child_token(), tracker.clone());
                    tracker.spawn(serve_conn(conn, host, key, t, cancel));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "local socket accept");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }

    #[cfg(unix)]
    async fn accept(&mut self) -> io::Result<tokio::net::UnixStream> {
        Ok(self.inner.accept().await?.0)
    }

    #[cfg(windows)]
    async fn accept(&mut self) -> io::Result<tokio::net::windows::named_pipe::NamedPipeServer> {
        self.inner.connect().await?;
        // The next client gets a new instance; this one is handed over.
        let next = tokio::net::windows::named_pipe::ServerOptions::new()
            .reject_remote_clients(true)
            .create(self.endpoint.pipe_name())?;
        Ok(std::mem::replace(&mut self.inner, next))
    }
}

async fn serve_conn<S>(stream: S, host: Host, key: String, tracker: TaskTracker, cancel: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    let hello = match lines.next_line().await {
        Ok(Some(line)) => serde_json::from_str::<Hello>(&line).ok(),
        _ => None,
    };
    let Some(hello) = hello.filter(|h| h.key == key) else {
        tracing::warn!("local socket: a client without the key was refused");
        return;
    };
    let (out, mut out_rx) = mpsc::channel::<Frame>(64);
    let writer = tracker.spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            let Ok(mut line) = serde_json::to_vec(&frame) else { continue };
            line.push(b'\n');
            if write.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    if hello.subscribe {
        tracker.spawn(forward_pushes(host.clone(), out.clone(), cancel.clone()));
    }
    loop {
        let line = tokio::select! {
            () = cancel.cancelled() => break,
            line = lines.next_line() => line,
        };
        let Ok(Some(line)) = line else { break };
        let call = match serde_json::from_str::<Call>(&line) {
            Ok(call) => call,
            Err(e) => {
                let err = WireError::from(AppError::internal(format!("bad request: {e}")));
                let _ = out.send(Frame { err: Some(err), ..Frame::default() }).await;
                continue;
            }
        };
        // Each call on its own task: an update's quiesce may wait minutes.
        let (host, out) = (host.clone(), out.clone());
        tracker.spawn(async move {
            let frame = match host.call(call.request).await {
                Ok(ok) => Frame { id: Some(call.id), ok: Some(ok), ..Frame::default() },
                Err(e) => Frame { id: Some(call.id), err: Some(e.into()), ..Frame::default() },
            };
            let _ = out.send(frame).await;
        });
    }
    // The window process is gone: its push forwarder goes too, so the actor
    // knows no window is connected.
    cancel.cancel();
    drop(out);
    let _ = writer.await;
}

/// Sends a subscriber the state now, then every change.
async fn forward_pushes(host: Host, out: mpsc::Sender<Frame>, cancel: CancellationToken) {
    // Subscribed before the first state is read, so nothing falls in between.
    let mut pushes = host.pushes();
    let mut snapshots = host.snapshot();
    let first = serde_json::to_value(&*snapshots.borrow_and_update()).unwrap_or(Value::Null);
    let pending = host.call(Request::ConsentPending).await.unwrap_or(Value::Array(vec![]));
    if out.send(push_frame("snapshot", first)).await.is_err() || out.send(push_frame("consent", pending)).await.is_err()
    {
        return;
    }
    loop {
        let frame = tokio::select! {
            () = cancel.cancelled() => return,
            changed = snapshots.changed() => {
                if changed.is_err() { return; }
                push_frame("snapshot", serde_json::to_value(&*snapshots.borrow_and_update()).unwrap_or(Value::Null))
            }
            push = pushes.recv() => match push {
                Ok(push) => match serde_json::to_value(&push) {
                    Ok(Value::Object(mut o)) => Frame {
                        push: o.remove("push").and_then(|v| v.as_str().map(str::to_owned)),
                        data: o.remove("data"),
                        ..Frame::default()
                    },
                    _ => continue,
                },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        if out.send(frame).await.is_err() {
            return;
        }
    }
}

// ----- client ----------------------------------------------------------------

/// Something the tray process pushed: `snapshot`, `consent` or `open`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// Which.
    pub name: String,
    /// Its payload.
    pub data: Value,
}

type Pending = oneshot::Sender<Result<Value, WireError>>;

/// A connection to the tray process. Calls are sent by one task that owns
/// the socket; replies are matched by id.
#[derive(Debug, Clone)]
pub struct Client {
    tx: mpsc::Sender<(Request, Pending)>,
}

impl Client {
    /// Connects and presents the key. With `subscribe`, pushes arrive on the
    /// returned receiver (closed when the tray process goes away).
    pub async fn connect(endpoint: &Endpoint, subscribe: bool) -> io::Result<(Self, mpsc::Receiver<Pushed>)> {
        let key = endpoint.read_key()?;
        #[cfg(unix)]
        let stream = tokio::net::UnixStream::connect(endpoint.socket_path()).await?;
        #[cfg(windows)]
        let stream = tokio::net::windows::named_pipe::ClientOptions::new().open(endpoint.pipe_name())?;
        let (read, mut write) = tokio::io::split(stream);
        let mut hello = serde_json::to_vec(&Hello { key, subscribe }).map_err(io::Error::other)?;
        hello.push(b'\n');
        write.write_all(&hello).await?;
        let (tx, rx) = mpsc::channel(32);
        let (push_tx, push_rx) = mpsc::channel(64);
        tokio::spawn(client_task(BufReader::new(read), write, rx, push_tx));
        Ok((Self { tx }, push_rx))
    }

    /// Sends a request; its answer, or the tray's typed error.
    pub async fn call(&self, request: Request) -> Result<Value, WireError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((request, tx)).await.map_err(|_| WireError::tray_gone("the connection is closed"))?;
        rx.await.map_err(|_| WireError::tray_gone("no answer"))?
    }
}

async fn client_task<R, W>(
    read: BufReader<R>,
    mut write: W,
    mut calls: mpsc::Receiver<(Request, Pending)>,
    pushes: mpsc::Sender<Pushed>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = read.lines();
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            call = calls.recv() => {
                let Some((request, reply)) = call else { break };
                next_id += 1;
                let mut line = match serde_json::to_vec(&Call { id: next_id, request }) {
                    Ok(line) => line,
                    Err(e) => { let _ = reply.send(Err(WireError::from(AppError::internal(e)))); continue; }
                };
                line.push(b'\n');
                if let Err(e) = write.write_all(&line).await {
                    let _ = reply.send(Err(WireError::tray_gone(e)));
                    break;
                }
                pending.insert(next_id, reply);
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Ok(frame) = serde_json::from_str::<Frame>(&line) else { continue };
                if let Some(name) = frame.push {
                    let _ = pushes.send(Pushed { name, data: frame.data.unwrap_or(Value::Null) }).await;
                } else if let Some(reply) = frame.id.and_then(|id| pending.remove(&id)) {
                    let answer = match frame.err {
                        Some(err) => Err(err),
                        None => Ok(frame.ok.unwrap_or(Value::Null)),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
    }
    for (_, reply) in pending {
        let _ = reply.send(Err(WireError::tray_gone("the tray process went away")));
    }
}
