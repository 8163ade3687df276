//! A raw bridge client and a raw HTTP client for the tests.

use futures_util::{SinkExt as _, StreamExt as _};
use specbridge_hub::{HubConfig, HubHandle, TokenKind};
use specbridge_protocol::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};

pub(crate) type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The project every test machine announces.
pub(crate) const P: &str = "p";

pub(crate) async fn hub(dir: &std::path::Path, config: impl FnOnce(&mut HubConfig)) -> HubHandle {
    let mut cfg = HubConfig::new(dir);
    config(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    specbridge_hub::start(cfg, listener).await.unwrap()
}

/// Dials `/v1/bridge`; `Err((status, body))` when the hub refuses the upgrade.
pub(crate) async fn dial(hub: &HubHandle, token: Option<&str>) -> Result<Client, (u16, String)> {
    dial_at(hub.addr(), token).await
}

/// Dials `/v1/bridge` on the hub at `addr`.
pub(crate) async fn dial_at(addr: SocketAddr, token: Option<&str>) -> Result<Client, (u16, String)> {
    let mut request = format!("ws://{addr}/v1/bridge").into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

pub(crate) async fn send(ws: &mut Client, message: &Message) {
    let frame = match Codec::default().encode(message).unwrap() {
        Frame::Text(t) => Ws::Text(t.into()),
        Frame::Binary(b) => Ws::Binary(b.into()),
    };
    ws.send(frame).await.unwrap();
}

/// The next protocol message, or `None` when the hub closed.
pub(crate) async fn recv(ws: &mut Client) -> Option<Message> {
    let codec = Codec::default();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("hub answered")?;
        match frame.ok()? {
            Ws::Text(t) => return Some(codec.decode_text(t.as_str()).unwrap()),
            Ws::Binary(b) => return Some(codec.decode_binary(&b).unwrap()),
            Ws::Close(_) => return None,
            _ => {}
        }
    }
}

/// Reads until the hub's close frame and returns its code (panics on data).
pub(crate) async fn close_code(ws: &mut Client) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("hub closed in time") {
            Some(Ok(Ws::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Ws::Ping(_) | Ws::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub(crate) fn hello(machine: &str) -> Message {
    Message::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        min_protocol: MIN_PROTOCOL_VERSION,
        capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        machine: MachineInfo {
            id: machine.into(),
            name: format!("{machine}-name"),
            os: "linux".into(),
            arch: "x86_64".into(),
            app_version: "test".into(),
        },
        projects: vec![ProjectInfo {
            id: P.into(),
            name: P.into(),
            layout: specbridge_protocol::Layout::Generic,
            read_only: false,
        }],
        digests: None,
    })
}

/// A new machine token, dialled, `hello` sent and `welcome` received.
pub(crate) async fn connect(hub: &HubHandle, machine: &str) -> (Client, Welcome) {
    let token = hub.issue_token(TokenKind::Machine, machine).await.unwrap();
    connect_with(hub, token.secret.expose(), machine).await
}

pub(crate) async fn connect_with(hub: &HubHandle, token: &str, machine: &str) -> (Client, Welcome) {
    let mut ws = dial(hub, Some(token)).await.unwrap();
    send(&mut ws, &hello(machine)).await;
    let Some(Message::Welcome(welcome)) = recv(&mut ws).await else { panic!("expected welcome") };
    (ws, welcome)
}

pub(crate) fn upsert(seq: u64, path: &str, body: &[u8]) -> FileUpsert {
    FileUpsert {
        seq,
        project: P.into(),
        path: path.into(),
        hash: content_hash(body),
        size: body.len() as u64,
        mtime_ms: 1,
        offset: 0,
        last: true,
        content: Content::from_bytes(body),
    }
}

/// A raw HTTP/1.1 exchange.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// A header's value (case-insensitive name).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The `error.code` of an error reply.
    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {}", self.text())).to_owned()
    }
}

pub(crate) async fn http(
    hub: &HubHandle,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    http_at(hub.addr(), method, path, token, headers, body).await
}

/// A raw HTTP/1.1 exchange with the hub at `addr`.
pub(crate) async fn http_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a full HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Reply { status, head, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + len]);
        raw = &raw[line_end + 2 + len + 2..];
    }
}

/// A user token for the REST API.
pub(crate) async fn user_token(hub: &HubHandle) -> String {
    hub.issue_token(TokenKind::User, "me").await.unwrap().secret.expose().to_owned()
}

/// Polls `check` until it holds, for at most 5 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the `specbridge-hub` binary with `--data-dir data` and returns its stdout.
pub(crate) fn hub_cli(data: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_specbridge-hub"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The hub binary as a child process, so a test can kill -9 it.
pub(crate) struct HubProcess {
    child: std::process::Child,
    pub(crate) addr: SocketAddr,
}

impl HubProcess {
    /// Starts `specbridge-hub serve` on a free port and waits until it accepts.
    pub(crate) async fn start(data: &Path) -> Self {
        Self::spawn(data, std::process::Stdio::null()).await
    }

    /// Like [`HubProcess::start`], with the hub's log written to `log`.
    pub(crate) async fn start_logged(data: &Path, log: &Path) -> Self {
        Self::spawn(data, std::fs::File::create(log).unwrap().into()).await
    }

    /// Like [`HubProcess::start_logged`], with more arguments for `serve`.
    pub(crate) async fn start_with(data: &Path, log: &Path, serve_args: &[&str]) -> Self {
        Self::spawn_with(data, std::fs::File::create(log).unwrap().into(), serve_args).await
    }

    async fn spawn(data: &Path, stderr: std::process::Stdio) -> Self {
        Self::spawn_with(data, stderr, &[]).await
    }

    async fn spawn_with(data: &Path, stderr: std::process::Stdio, serve_args: &[&str]) -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_specbridge-hub"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", &addr.to_string()])
            .args(serve_args)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let process = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the hub did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        process
    }

    /// SIGTERM, as a service manager stops it.
    pub(crate) fn terminate(&self) {
        let status = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to end by itself; `None` if it is still running at `within`.
    pub(crate) async fn exit_status(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) async fn http(&self, method: &str, path: &str, user: &str, body: &[u8]) -> Reply {
        http_at(self.addr, method, path, Some(user), &[("Content-Type", "application/json")], body).await
    }

    pub(crate) async fn connect(&self, token: &str, machine: &str) -> (Client, Welcome) {
        let mut ws = dial_at(self.addr, Some(token)).await.unwrap();
        send(&mut ws, &hello(machine)).await;
        let Some(Message::Welcome(welcome)) = recv(&mut ws).await else { panic!("expected welcome") };
        (ws, welcome)
    }

    /// Waits until `GET /v1/machines` shows `machine` offline.
    pub(crate) async fn wait_offline(&self, user: &str, machine: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let machines = self.http("GET", "/v1/machines", user, b"").await.json();
            let online = machines.as_array().unwrap().iter().any(|m| m["id"] == machine && m["online"] == true);
            if !online {
                return;
            }
            assert!(Instant::now() < deadline, "{machine} stayed online");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Dials `/ws/dashboard`; `Err(status)` when the upgrade is refused.
pub(crate) async fn feed(hub: &HubHandle, token: &str, origin: Option<&str>) -> Result<Client, u16> {
    let mut request = format!("ws://{}/ws/dashboard", hub.addr()).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// The next JSON message within `within`, or `None`.
pub(crate) async fn next(ws: &mut Client, within: Duration) -> Option<serde_json::Value> {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(Ws::Text(text)))) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Ok(Some(Ok(Ws::Ping(_) | Ws::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Skips messages until one of `kind` arrives.
pub(crate) async fn next_of(ws: &mut Client, kind: &str) -> serde_json::Value {
    loop {
        let message = next(ws, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no {kind} message"));
        if message["type"] == kind {
            return message;
        }
    }
}
