//! Reconnect at once after sleep/wake or a network change.
//!
//! Neither has a portable event, so one cheap timer (every 5 s, missed ticks
//! skipped) looks for both: a wall-clock jump far beyond the tick means the
//! machine slept; a changed routing table (Linux: `/proc/net/route`) means the
//! network changed. Either way the old socket may be dead without knowing it,
//! so the engine hangs up and redials now instead of waiting for the pong timeout.

use crate::actor::{Host, Request};
use std::time::{Duration, SystemTime};

/// How often to look.
const TICK: Duration = Duration::from_secs(5);
/// A tick that took this much longer than `TICK` on the wall clock was a sleep.
const SLEEP_SLACK: Duration = Duration::from_secs(10);

/// Whether the wall clock moved far more than the timer did.
pub(crate) fn slept(before: SystemTime, now: SystemTime, tick: Duration) -> bool {
    now.duration_since(before).is_ok_and(|gap| gap > tick + SLEEP_SLACK)
}

/// A fingerprint of the routing table, when the platform offers one cheaply.
fn network_fingerprint() -> Option<u64> {
    use std::hash::{Hash as _, Hasher as _};
    let table = std::fs::read("/proc/net/route").ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs until the controller actor stops.
pub(crate) async fn watch(host: Host) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_wall = SystemTime::now();
    let mut last_net = network_fingerprint();
    loop {
        interval.tick().await;
        let now = SystemTime::now();
        let net = network_fingerprint();
        let woke = slept(last_wall, now, TICK);
        let moved = net != last_net;
        (last_wall, last_net) = (now, net);
        if woke || moved {
            tracing::info!(woke, network_changed = moved, "reconnecting now");
            if let Err(crate::error::AppError::Internal(_)) = host.call(Request::RetryNow).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wall_clock_gap_is_a_sleep() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(!slept(t0, t0 + Duration::from_secs(5), TICK));
        assert!(!slept(t0, t0 + Duration::from_secs(14), TICK));
        assert!(slept(t0, t0 + Duration::from_secs(600), TICK));
        // A clock set backwards is not a sleep.
        assert!(!slept(t0, t0 - Duration::from_secs(600), TICK));
    }
}
