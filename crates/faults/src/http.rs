//! A tiny HTTP/1.1 client for the hub's REST API (no HTTP client crate in the
//! build). It returns errors instead of panicking: during a fault run the hub
//! may be down, and that is data. The end-to-end tests of `crates/cli` use it
//! too.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A response: status, headers (lowercased names) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The ETag without quotes (empty when there is none).
    pub fn etag(&self) -> String {
        self.header("etag").unwrap_or_default().trim_matches('"').to_owned()
    }
}

/// One hub and the user token for its API.
#[derive(Debug, Clone)]
pub struct Api {
    /// The hub's address (not the proxy's: the API is not under test).
    pub addr: SocketAddr,
    /// A user token.
    pub token: String,
}

impl Api {
    /// `GET path`.
    pub async fn get(&self, path: &str) -> std::io::Result<Reply> {
        request(self.addr, "GET", path, Some(&self.token), &[], b"").await
    }

    /// `PUT path` with headers and a body.
    pub async fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Reply> {
        request(self.addr, "PUT", path, Some(&self.token), headers, body).await
    }

    /// (path, hash) of every file the hub holds for a project, sorted; `None`
    /// when the hub cannot answer.
    pub async fn listing(&self, machine: &str, project: &str) -> Option<Vec<(String, String)>> {
        let reply = self.get(&format!("/v1/machines/{machine}/projects/{project}/files")).await.ok()?;
        if reply.status != 200 {
            return None;
        }
        let mut files: Vec<(String, String)> = reply
            .json()
            .as_array()?
            .iter()
            .filter_map(|f| Some((f["path"].as_str()?.to_owned(), f["hash"].as_str()?.to_owned())))
            .collect();
        files.sort();
        Some(files)
    }

    /// Whether the hub shows the machine online.
    pub async fn online(&self, machine: &str) -> Option<bool> {
        let reply = self.get("/v1/machines").await.ok()?;
        let machines = reply.json();
        machines.as_array()?.iter().find(|m| m["id"] == machine).map(|m| m["online"] == true)
    }
}

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// Sends one request (`Connection: close`) and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw).ok_or_else(|| std::io::Error::other("malformed HTTP response"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time")))
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest)? } else { rest.to_vec() };
    Some(Reply { status, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = rest.get(line_end + 2..)?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
