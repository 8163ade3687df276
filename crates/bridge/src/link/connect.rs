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
    /// Network or TLS failure.
    #[error("cannot reach the hub: {0}")]
    Network(String),
    /// The system trusts no certificate authority, so no https hub can be verified.
    #[cfg(feature = "tls")]
    #[error(
        "no trusted CA certificates on this machine ({0}): install the ca-certificates package, \
         or point SSL_CERT_FILE at a PEM bundle that holds the hub's CA"
    )]
    NoTrustedRoots(String),
}

/// TLS client settings for wss:// hubs, built on the first wss:// dial and kept
/// for the link's lifetime (one owner: the link task).
///
/// The crypto provider (ring) is picked here rather than left to crate
/// features: with none enabled, rustls aborted the headless bridge at its first
/// handshake with an https hub. Roots come from the system's CA store
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured), so a self-hosted hub
/// behind a private CA works once that CA is trusted on the machine.
#[derive(Default)]
pub(crate) struct Tls {
    #[cfg(feature = "tls")]
    config: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Tls {
    #[cfg(feature = "tls")]
    async fn connector(&mut self) -> Result<tokio_tungstenite::Connector, ConnectError> {
        if let Some(config) = &self.config {
            return Ok(tokio_tungstenite::Connector::Rustls(config.clone()));
        }
        // Reads the CA bundle from disk: off the async workers.
        let found = tokio::task::spawn_blocking(rustls_native_certs::load_native_certs)
            .await
            .map_err(|e| ConnectError::Network(format!("loading CA certificates: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found.errors.first().map_or_else(|| "the CA store is empty".to_owned(), ToString::to_string);
            return Err(ConnectError::NoTrustedRoots(why));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Network(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tracing::debug!(roots = added, "TLS roots loaded from the system store");
        let config = std::sync::Arc::new(config);
        self.config = Some(config.clone());
        Ok(tokio_tungstenite::Connector::Rustls(config))
    }

    /// The connector for `url`: rustls for wss://, plain TCP otherwise.
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
