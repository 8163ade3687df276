//! The link: one WebSocket session at a time to the hub, redialled with
//! backoff when it drops.
//!
//! The supervisor here owns the reconnect policy (backoff with full jitter, no
//! retries after a 401 until `retry_now`); [`session`] runs one session
//! (hello, outbox flush, digest sync, commands, heartbeat).

mod backoff;
pub(crate) mod connect;
mod liveness;
mod session;
mod upload;

use crate::core::CoreHandle;
use crate::executor::Executor;
use crate::project::Project;
use crate::status::{EngineEvent, EngineStatus, LinkState};
use crate::timing::Timing;
use crate::vault::Token;
use backoff::Backoff;
use connect::ConnectError;
use specbridge_protocol::Hello;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long dialling (TCP, TLS, HTTP upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything the link needs, shared by its sessions.
pub(crate) struct LinkCtx {
    /// `ws(s)://…/v1/bridge`.
    pub(crate) url: String,
    pub(crate) token: Token,
    pub(crate) hello: Hello,
    pub(crate) timing: Timing,
    pub(crate) core: CoreHandle,
    /// The outbox head; moves when events are queued.
    pub(crate) head: watch::Receiver<u64>,
    pub(crate) projects: Arc<BTreeMap<String, Project>>,
    pub(crate) executor: Arc<Executor>,
    pub(crate) status: watch::Sender<EngineStatus>,
    pub(crate) events: broadcast::Sender<EngineEvent>,
    pub(crate) cancel: CancellationToken,
    /// Command tasks are tracked so shutdown waits for in-flight writes.
    pub(crate) tracker: TaskTracker,
    /// How many hub commands are queued, running or answering right now.
    pub(crate) in_flight: watch::Sender<usize>,
    pub(crate) retry: Arc<Notify>,
    /// Changes when the host asks a live session to hang up and redial.
    pub(crate) reconnect: watch::Receiver<u64>,
    /// A lasting problem found at start (a project skipped); shown again once
    /// a session clears the link errors.
    pub(crate) baseline_error: Option<String>,
}

impl LinkCtx {
    pub(crate) fn set_state(&self, state: LinkState) {
        let changed = self.status.send_if_modified(|s| {
            if s.link == state {
                return false;
            }
            s.link = state.clone();
            s.updated_ms = crate::fsutil::now_ms();
            true
        });
        if changed {
            tracing::info!(link = %state, "link state");
            let _ = self.events.send(EngineEvent::LinkChanged(state));
        }
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        self.status.send_if_modified(|s| {
            if s.last_error == error {
                return false;
            }
            s.last_error = error;
            s.updated_ms = crate::fsutil::now_ms();
            true
        });
    }
}

/// Runs the link until the engine is cancelled.
pub(crate) async fn run(ctx: LinkCtx) {
    let mut backoff = Backoff::new(ctx.timing.backoff_base, ctx.timing.backoff_cap);
    let mut tls = connect::Tls::default();
    loop {
        ctx.set_state(LinkState::Connecting);
        let started = tokio::time::Instant::now();
        // Set for a session that reached `welcome`: its length says nothing
        // about how soon to dial again.
        let mut welcomed = false;
        let attempt = tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            attempt = connect::connect(&ctx.url, &ctx.token, &mut tls, CONNECT_TIMEOUT) => attempt,
        };
        let error = match attempt {
            Err(ConnectError::Unauthorized) => {
                // Retrying with the same token cannot succeed and would hammer the
                // hub: wait for the user (retry_now) or a restart with a new token.
                let message = ConnectError::Unauthorized.to_string();
                tracing::error!("{message}");
                ctx.set_error(Some(message.clone()));
                ctx.set_state(LinkState::Unauthorized);
                let _ = ctx.events.send(EngineEvent::Error(message));
                tokio::select! {
                    _ = ctx.cancel.cancelled() => break,
                    _ = ctx.retry.notified() => {
                        backoff.reset();
                        continue;
                    }
                }
            }
            Err(e) => e.to_string(),
            Ok((ws, activity)) => {
                let end = session::run(ws, activity, &ctx).await;
                if end.reason.is_cancelled() {
                    break;
                }
                if end.reason.is_reconnect() {
                    tracing::info!("reconnecting now, as asked");
                    backoff.reset();
                    continue;
                }
                // A hub that answered `hello` was up: come back fast, however the
                // session ended. A crashed hub leaves no close frame, and
                // counting that as a failure doubled the delay at every crash.
                if end.welcomed {
                    backoff.reset();
                    welcomed = true;
                }
                end.reason.to_string()
            }
        };
        tracing::warn!(error = %error, "link down");
        ctx.set_error(Some(error));
        // The backoff spaces the *starts* of attempts: one that hung until its
        // timeout (a black-holed hub) has waited already, so when it fails
        // (the path heals and the dial is reset) the next dial goes at once.
        let mut delay = backoff.next_delay();
        if !welcomed {
            delay = delay.saturating_sub(started.elapsed());
        }
        ctx.set_state(LinkState::Offline { retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX) });
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.retry.notified() => backoff.reset(),
        }
    }
    ctx.set_state(LinkState::Stopped);
}
