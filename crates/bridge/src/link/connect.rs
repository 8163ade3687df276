//! Dialling the hub: URL, bearer token, WebSocket limits, and telling a 401
//! (stop, no retry storm) from any other failure (retry with backoff).

use super::liveness::{Activity, Metered};
use crate::vault::Token;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The WebSocket to the hub, over a socket that records its progress
/// (see [`super::liveness`]).
pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<Metered<TcpStream>>>;

/// Largest frame and message the WebSocket layer accepts. The codec's own limit
/// is 1 MiB; this outer bound stops a hostile peer before the codec sees it.
const WS_MAX_BYTES: usize = 2 * 1024 * 1024;

/// Read buffer: most frames are small; tungstenite grows it for big ones.
const WS_READ_BUFFER: usize = 16 * 1024;

/// Bytes gathered before a socket write.
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Hard cap on queued outgoing bytes: a bit over one maximal frame.
const WS_MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// HTTP 401 before the upgrade.
    #[error("the hub refused the token (401): run `specbridge login` with a valid machine token")]
    Unauthorized,
    /// Another HTTP status before the upgrade.
    #[error("the hub answered HTTP {status}{detail}")]
    Http { status: u16, detail: String },
    /// No answer in time.
    #[error("no answer from the hub within {0:?}")]
    Timeout(Duration),
    /// A network failure (DNS, refused, reset).
    #[error("cannot reach the hub: {0}")]
    Network(String),
    /// The TLS handshake failed, most often because the hub's certificate is
    /// not trusted here.
    #[cfg(feature = "tls")]
    #[error("TLS with the hub failed ({0}). {TRUST_HINT}")]
    Tls(String),
}

/// What to do when the hub's certificate is not trusted. OpenSSL reads
/// `SSL_CERT_FILE`; Security.framework and SChannel only the system store.
#[cfg(all(feature = "tls", target_os = "linux"))]
const TRUST_HINT: &str = "If the hub's certificate comes from a private CA, trust that CA on this machine (add it \
     to the system store, or point SSL_CERT_FILE at a PEM bundle that holds it); a machine with no CA certificates \
     at all needs the ca-certificates package";
#[cfg(all(feature = "tls", not(target_os = "linux")))]
const TRUST_HINT: &str = "If the hub's certificate comes from a private CA, add that CA to this machine's \
     certificate store and mark it trusted";

/// TLS client settings for wss:// hubs, built on the first wss:// dial and kept
/// for the link's lifetime (one owner: the link task).
///
/// TLS is the platform's own library through native-tls: OpenSSL on Linux,
/// Security.framework on macOS, SChannel on Windows. It gets security fixes
/// with the OS, trusts the OS's CA store (on Linux, OpenSSL's store plus
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), and keeps about 0.9 MB of TLS
/// and crypto code out of the headless binary (docs/benchmarks.md). TLS 1.2 is
/// the oldest version offered.
#[derive(Default)]
pub(crate) struct Tls {
    #[cfg(feature = "tls")]
    connector: Option<native_tls::TlsConnector>,
}

impl Tls {
    #[cfg(feature = "tls")]
    async fn connector(&mut self) -> Result<tokio_tungstenite::Connector, ConnectError> {
        if let Some(connector) = &self.connector {
            return Ok(tokio_tungstenite::Connector::NativeTls(connector.clone()));
        }
        // Reads the CA bundle from disk: off the async workers.
        let built = tokio::task::spawn_blocking(|| {
            native_tls::TlsConnector::builder().min_protocol_version(Some(native_tls::Protocol::Tlsv12)).build()
        })
        .await
        .map_err(|e| ConnectError::Network(format!("loading CA certificates: {e}")))?;
        let connector = built.map_err(|e| ConnectError::Tls(format!("TLS setup: {e}")))?;
        self.connector = Some(connector.clone());
        Ok(tokio_tungstenite::Connector::NativeTls(connector))
    }

    /// The connector for `url`: TLS for wss://, plain TCP otherwise.
    #[cfg(feature = "tls")]
    async fn connector_for(&mut self, url: &str) -> Result<tokio_tungstenite::Connector, ConnectError> {
        if url.starts_with("wss://") {
            self.connector().await
        } else {
            Ok(tokio_tungstenite::Connector::Plain)
        }
    }
}

/// `http(s)://host[:port][/prefix]` -> `ws(s)://host[:port][/prefix]/v1/bridge`.
pub(crate) fn bridge_url(hub_url: &str) -> Result<String, String> {
    let trimmed = hub_url.trim().trim_end_matches('/');
    let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
        ("wss", rest)
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        ("ws", rest)
    } else {
        return Err("the hub URL must start with http:// or https://".into());
    };
    if cfg!(not(feature = "tls")) && scheme == "wss" {
        return Err("this build has no TLS support; use an http:// hub or a build with the `tls` feature".into());
    }
    let url = format!("{scheme}://{rest}/v1/bridge");
    let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err("the hub URL has no host".into());
    }
    if uri.query().is_some() {
        return Err("the hub URL must not have a query string".into());
    }
    Ok(url)
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(Some(WS_MAX_BYTES))
        .max_frame_size(Some(WS_MAX_BYTES))
}

/// Dials the hub with the bearer token. The TCP connection is made here rather
/// than by tokio-tungstenite so that it can be wrapped in [`Metered`]: the
/// returned [`Activity`] tells the session when bytes last moved.
pub(crate) async fn connect(
    url: &str,
    token: &Token,
    tls: &mut Tls,
    within: Duration,
) -> Result<(WsStream, Arc<Activity>), ConnectError> {
    let mut request = url.into_client_request().map_err(|e| ConnectError::Network(e.to_string()))?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| ConnectError::Network("the token holds characters that cannot go in a header".into()))?;
    auth.set_sensitive(true);
    request.headers_mut().insert(header::AUTHORIZATION, auth);
    request
        .headers_mut()
        .insert(header::USER_AGENT, HeaderValue::from_static(concat!("specbridge/", env!("CARGO_PKG_VERSION"))));
    let activity = Activity::new();
    let attempt = async {
        let tcp = dial(request.uri()).await?;
        let stream = Metered::new(tcp, Arc::clone(&activity));
        #[cfg(feature = "tls")]
        {
            let connector = tls.connector_for(url).await?;
            tokio_tungstenite::client_async_tls_with_config(request, stream, Some(ws_config()), Some(connector))
                .await
                .map_err(handshake_error)
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = tls;
            tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(stream), Some(ws_config()))
                .await
                .map_err(handshake_error)
        }
    };
    match tokio::time::timeout(within, attempt).await {
        Err(_) => Err(ConnectError::Timeout(within)),
        Ok(Ok((ws, _response))) => Ok((ws, activity)),
        Ok(Err(e)) => Err(e),
    }
}

/// Opens the TCP connection to the URI's host and port, Nagle off (every
/// frame on the link is latency-sensitive).
async fn dial(uri: &Uri) -> Result<TcpStream, ConnectError> {
    let host = uri.host().ok_or_else(|| ConnectError::Network("the hub URL has no host".into()))?;
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("wss") { 443 } else { 80 });
    // A bracketed IPv6 literal ("[::1]") is what `host:port` parsing expects.
    let tcp = TcpStream::connect(format!("{host}:{port}")).await.map_err(|e| ConnectError::Network(e.to_string()))?;
    tcp.set_nodelay(true).map_err(|e| ConnectError::Network(e.to_string()))?;
    Ok(tcp)
}

/// Sorts a failed upgrade: 401 (stop retrying), another HTTP status, or a network failure.
fn handshake_error(error: tokio_tungstenite::tungstenite::Error) -> ConnectError {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error {
        WsError::Http(response) if response.status() == StatusCode::UNAUTHORIZED => ConnectError::Unauthorized,
        WsError::Http(response) => {
            let detail = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
                .and_then(|v| v["error"]["message"].as_str().map(|m| format!(": {m}")))
                .unwrap_or_default();
            ConnectError::Http { status: response.status().as_u16(), detail }
        }
        #[cfg(feature = "tls")]
        WsError::Tls(e) => ConnectError::Tls(e.to_string()),
        e => ConnectError::Network(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_urls_become_bridge_endpoints() {
        assert_eq!(bridge_url("http://127.0.0.1:7700").unwrap(), "ws://127.0.0.1:7700/v1/bridge");
        assert_eq!(bridge_url("http://hub.local/base/").unwrap(), "ws://hub.local/base/v1/bridge");
        if cfg!(feature = "tls") {
            assert_eq!(bridge_url("https://hub.example.com").unwrap(), "wss://hub.example.com/v1/bridge");
        }
        assert!(bridge_url("ftp://hub").is_err());
        assert!(bridge_url("http://").is_err());
        assert!(bridge_url("hub.example.com").is_err());
    }

    #[test]
    fn the_401_error_tells_what_to_do() {
        let message = ConnectError::Unauthorized.to_string();
        assert!(message.contains("401") && message.contains("specbridge login"));
    }
}
