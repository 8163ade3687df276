//! The accept loop: one task per HTTP connection, served by hyper with a
//! header read timeout (a client that trickles its headers is cut off), at
//! most [`crate::AbuseLimits::connections_per_ip`] connections per address,
//! `TCP_NODELAY`, the peer address for the routes, and a graceful end when
//! the hub stops. axum's own `serve` has none of the limits, hence this.

use crate::HubState;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Pause after a failed accept (out of file descriptors, say), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until the hub is cancelled.
pub(crate) async fn serve(hub: Arc<HubState>, listener: TcpListener, app: axum::Router) -> std::io::Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            () = hub.cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(slot) = hub.limits.connection(peer.ip()) else {
            // Dropping the stream closes it: the address already holds all its slots.
            tracing::warn!(ip = %peer.ip(), "too many connections from one address; refused one");
            continue;
        };
        // Nagle + delayed ACK would hold a small command frame for up to 40 ms
        // behind the previous one; every frame here is latency-sensitive.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
        }
        let service = app.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(axum::body::Body::new)
        });
        let (cancel, timeout) = (hub.cancel.clone(), hub.limits.config().header_read_timeout);
        hub.tracker.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(timeout);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
}
