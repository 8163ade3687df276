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

/// `{"status":"ok"}`, or `"degraded"` with the store's problem (a full disk).
/// Always 200: a degraded hub still serves reads, and a liveness probe that
/// restarted it would not free any space.
async fn healthz(State(hub): State<Arc<HubState>>) -> Json<Value> {
    let (ok, store) = store_status(&hub).await;
    let status = if ok { "ok" } else { "degraded" };
    Json(json!({ "status": status, "version": env!("CARGO_PKG_VERSION"), "store": store }))
}

/// 200 `{"status":"ready"}` when this node should get new traffic; 503 with
/// the reasons otherwise: draining before a stop, or a store that refuses
/// writes. A balancer then sends new bridges and users to another node.
async fn readyz(State(hub): State<Arc<HubState>>) -> Response {
    let (store_ok, store) = store_status(&hub).await;
    let draining = hub.drain.is_cancelled();
    let mut reasons = Vec::new();
    if draining {
        reasons.push("draining");
    }
    if !store_ok {
        reasons.push("store");
    }
    let body = json!({
        "status": if reasons.is_empty() { "ready" } else { "unavailable" },
        "reasons": reasons,
        "draining": draining,
        "store": store,
    });
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
    let ready = !draining && hub.health.current().is_none();
    match hub.metrics.render(Snapshot { stats: &hub.stats, queue, ready, draining }) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
