//! The operator's routes: `/healthz` (is the process alive, and how is its
//! store), `/readyz` (should a load balancer send it traffic) and `/metrics`
//! (Prometheus). None needs a token: they carry no user data, and a balancer
//! or scraper has none to give. The deployment guide (installers/hub) keeps
//! `/metrics` off the public listener.

use crate::metrics::{Snapshot, CONTENT_TYPE};
use crate::HubState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The operator's routes.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The store's part of both probes: `{"status":"ok"}` or its problem.
async fn store_status(hub: &HubState) -> (bool, Value) {
    match hub.health.check(hub.store.as_ref()).await {
        None => (true, json!({ "status": "ok" })),
        Some(problem) => (
            false,
            json!({ "status": problem.code, "message": problem.message, "hint": problem.hint, "since_ms": problem.since_ms }),
        ),
    }
}

/// The NATS part of both probes, for a node that has other nodes.
fn nats_status(hub: &HubState) -> Option<(bool, Value)> {
    hub.cluster.as_ref().map(|cluster| {
        let (machines, nodes) = cluster.presence.counts();
        let connected = cluster.connected();
        let status = if connected { "ok" } else { "disconnected" };
        (
            connected,
            json!({ "status": status, "node": cluster.node, "other_nodes": nodes, "remote_machines": machines }),
        )
    })
}

/// Why this node should not get new traffic now (empty: it should):
/// `draining` before a stop, `store` when the store refuses writes, `nats`
/// when it cannot reach the other nodes. One list for `/readyz` and the
/// `ready` gauge of `/metrics`.
fn unready_reasons(hub: &HubState, store_ok: bool) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if hub.drain.is_cancelled() {
        reasons.push("draining");
    }
    if !store_ok {
        reasons.push("store");
    }
    if hub.cluster.as_ref().is_some_and(|c| !c.connected()) {
        reasons.push("nats");
    }
    reasons
}

/// `{"status":"ok"}`, or `"degraded"` with the store's problem (a full disk)
/// or a lost NATS connection. Always 200: a degraded hub still serves reads
/// and its own bridges, and a liveness probe that restarted it would not
/// free any space or bring NATS back.
async fn healthz(State(hub): State<Arc<HubState>>) -> Json<Value> {
    let (store_ok, store) = store_status(&hub).await;
    let nats = nats_status(&hub);
    let ok = store_ok && nats.as_ref().is_none_or(|(ok, _)| *ok);
    let status = if ok { "ok" } else { "degraded" };
    let mut body = json!({ "status": status, "version": env!("CARGO_PKG_VERSION"), "store": store });
    if let Some((_, nats)) = nats {
        body["nats"] = nats;
    }
    Json(body)
}

/// 200 `{"status":"ready"}` when this node should get new traffic; 503 with
/// the reasons otherwise: draining before a stop, or a store that refuses
/// writes. A balancer then sends new bridges and users to another node.
async fn readyz(State(hub): State<Arc<HubState>>) -> Response {
    let (store_ok, store) = store_status(&hub).await;
    let nats = nats_status(&hub);
    let draining = hub.drain.is_cancelled();
    let reasons = unready_reasons(&hub, store_ok);
    let mut body = json!({
        "status": if reasons.is_empty() { "ready" } else { "unavailable" },
        "reasons": reasons,
        "draining": draining,
        "store": store,
    });
    if let Some((_, nats)) = nats {
        body["nats"] = nats;
    }
    let code = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

/// The Prometheus text exposition ([`crate::metrics`]).
async fn metrics(State(hub): State<Arc<HubState>>) -> Response {
    let queue = match hub.store.queue_depth().await {
        Ok(queue) => Some(queue),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the queue depth");
            None
        }
    };
    let draining = hub.drain.is_cancelled();
    let ready = unready_reasons(&hub, hub.health.current().is_none()).is_empty();
    match hub.metrics.render(Snapshot { stats: &hub.stats, queue, ready, draining }) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
