//! Time in the engine: its timers ([`Timing`]), the hub's clock as this
//! machine estimates it ([`HubClock`], for command deadlines), and a sleep for
//! optional deadlines. It knows nothing about what the timers are for.

use specbridge_protocol::{Command, DEFAULT_DEADLINE_MS};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The engine's timers. Tests shorten them; production uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// WebSocket ping period (30 s).
    pub ping_interval: Duration,
    /// A ping without a pong for this long means the link is dead (10 s).
    /// Nothing at all from the hub for `ping_interval + pong_timeout` is a dead
    /// link too, checked even while a write is under way.
    pub pong_timeout: Duration,
    /// A socket write that moves no byte for this long means the link is dead (20 s).
    pub write_timeout: Duration,
    /// File events with no completion signal are batched until the folder has
    /// been quiet this long (40 ms); a write the OS reports complete goes at once.
    pub debounce_quiet: Duration,
    /// …but no longer than this after the first event (250 ms).
    pub debounce_max: Duration,
    /// Reconnect backoff base (0.5 s): the first retry comes within it.
    pub backoff_base: Duration,
    /// Reconnect backoff cap (30 s).
    pub backoff_cap: Duration,
    /// How long a job run waits for its confirmation on the machine (60 s,
    /// never past the command's deadline).
    pub consent_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(20),
            debounce_quiet: Duration::from_millis(40),
            debounce_max: Duration::from_millis(250),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            consent_timeout: Duration::from_secs(60),
        }
    }
}

/// Sleeps until `at`, or forever when there is no deadline (for `select!` arms
/// whose timer is not armed).
pub(crate) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The hub's clock as this machine sees it, from `welcome.hub_time_ms`.
///
/// A command's absolute deadline (`expires_at_ms`) is on the hub's clock, so
/// a bridge whose own clock is off by minutes still judges it right. The
/// estimate errs early: the hub's clock is taken to have run the whole round
/// trip since it stamped `welcome`, so a command is refused a little before
/// its deadline rather than applied after it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HubClock {
    /// Hub ms minus local ms; `None` when the hub sent no time (older hubs).
    offset_ms: Option<i64>,
}

impl HubClock {
    /// The clock from a `welcome` stamped `hub_time_ms`, sent in answer to a
    /// `hello` written at `hello_sent` and read at `welcome_read`.
    pub(crate) fn at_welcome(hub_time_ms: Option<u64>, hello_sent: SystemTime, welcome_read: SystemTime) -> Self {
        let offset_ms = hub_time_ms.map(|hub| {
            let round_trip = welcome_read.duration_since(hello_sent).unwrap_or_default();
            to_ms(hub) + millis(round_trip) - wall_ms(welcome_read)
        });
        Self { offset_ms }
    }

    /// When a command that arrived at `arrived` must be done: `deadline_ms`
    /// after its arrival, and never later than its `expires_at_ms`.
    pub(crate) fn deadline(&self, command: &Command, arrived: Instant) -> Instant {
        let budget = if command.deadline_ms == 0 { DEFAULT_DEADLINE_MS } else { command.deadline_ms };
        let relative = arrived + Duration::from_millis(budget);
        let (Some(offset), Some(expires)) = (self.offset_ms, command.expires_at_ms) else { return relative };
        let hub_now = wall_ms(SystemTime::now()) + offset;
        let left = u64::try_from(to_ms(expires) - hub_now).unwrap_or(0);
        relative.min(Instant::now() + Duration::from_millis(left))
    }
}

fn wall_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn to_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(deadline_ms: u64, expires_at_ms: Option<u64>) -> Command {
        Command {
            id: "c".into(),
            project: "p".into(),
            deadline_ms,
            expires_at_ms,
            name: "spec-list".into(),
            args: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_late_command_is_judged_on_the_hubs_clock_even_when_ours_is_off() {
        // Our clock runs ten minutes behind the hub's.
        let now = SystemTime::now();
        let hub_now = u64::try_from(wall_ms(now) + 600_000).unwrap();
        let clock = HubClock::at_welcome(Some(hub_now), now, now);
        let arrived = Instant::now();
        // Expired a second ago on the hub's clock: already due, whatever the budget says.
        assert!(clock.deadline(&command(30_000, Some(hub_now - 1_000)), arrived) <= Instant::now());
        // Due in 5 s on the hub's clock: about 5 s from now, not 30.
        let due = clock.deadline(&command(30_000, Some(hub_now + 5_000)), arrived);
        assert!(due <= Instant::now() + Duration::from_secs(5) && due > Instant::now() + Duration::from_secs(4));
    }

    #[test]
    fn without_the_hubs_time_the_budget_counts_from_arrival() {
        let clock = HubClock::at_welcome(None, SystemTime::now(), SystemTime::now());
        let arrived = Instant::now();
        assert_eq!(clock.deadline(&command(2_000, Some(1)), arrived), arrived + Duration::from_secs(2));
        assert_eq!(clock.deadline(&command(0, None), arrived), arrived + Duration::from_millis(DEFAULT_DEADLINE_MS));
    }

    #[test]
    fn the_estimate_errs_early_by_the_round_trip() {
        let sent = SystemTime::now();
        let read = sent + Duration::from_millis(400);
        let hub = u64::try_from(wall_ms(sent) + 100).unwrap();
        let clock = HubClock::at_welcome(Some(hub), sent, read);
        // hub stamped at sent+100 (in our terms); we assume it has run 400 ms since: offset = 100 + 400 - 400.
        assert_eq!(clock.offset_ms, Some(100));
    }
}
