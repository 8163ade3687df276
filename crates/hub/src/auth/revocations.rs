//! Revocation takes effect at once. REST calls check the token (or the
//! session's token) on every request; this task ends what a revoked token
//! still holds open: its browser sessions, its `/ws/dashboard` connections
//! (close 4001) and a machine token's bridge session (close 4001). It watches
//! the store, so a revocation by `specbridge-hub token revoke` in another
//! process, or on another hub node, counts too.

use crate::events::HubEvent;
use crate::store::RevokedToken;
use crate::{now_ms, HubState};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How often the store is asked for new revocations.
const EVERY: Duration = Duration::from_secs(1);
/// Revocations stamped this far back are asked for again, in case a clock
/// (another process's) lags a little.
const OVERLAP_MS: i64 = 5_000;

/// Runs until the hub stops.
pub(crate) async fn watch(hub: Arc<HubState>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // Older revocations hold nothing open: sessions and sockets are new.
    let mut since = now_ms();
    let mut handled: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            () = hub.cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let revoked = match hub.store.revoked_since(since - OVERLAP_MS).await {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::warn!(%error, "cannot read revoked tokens");
                continue;
            }
        };
        for token in revoked.iter().filter(|t| !handled.contains(&t.id)) {
            end(&hub, token);
        }
        since = revoked.iter().map(|t| t.revoked_ms).max().unwrap_or(since).max(since);
        handled = revoked.into_iter().filter(|t| t.revoked_ms >= since - OVERLAP_MS).map(|t| t.id).collect();
    }
}

/// Ends everything `token` holds open.
fn end(hub: &HubState, token: &RevokedToken) {
    let sessions = hub.sessions.end_token(&token.id);
    let bridges = hub.router.close_token(&token.id);
    hub.events.publish(HubEvent::TokenRevoked { token: token.id.clone() });
    tracing::info!(token = %token.id, kind = %token.kind, sessions, bridges, "revoked token ended");
}
