//! Abuse limits, per client address: rates of logins, pairing starts and
//! approvals, and failed token checks (GCRA rate limiters from the `governor`
//! crate), and how many HTTP connections one address may hold open. What
//! exceeds a limit gets `429 rate_limited` with `Retry-After`.
//!
//! What it does not know: which routes use which limit (they say so), or
//! tokens and accounts.

use crate::error::ApiError;
use axum::http::HeaderMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use specbridge_protocol::{ErrorBody, ErrorCode};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The limits a hub enforces. The defaults cut brute force from thousands of
/// attempts a second (measured on the first release) to about one.
#[derive(Debug, Clone)]
pub struct AbuseLimits {
    /// A connection must send its request headers within this (slowloris).
    pub header_read_timeout: Duration,
    /// HTTP connections one address may hold open at once (WebSockets
    /// count until their upgrade).
    pub connections_per_ip: usize,
    /// Logins (`POST /v1/session`) per address per minute.
    pub logins_per_minute: u32,
    /// Pairing starts per address per minute.
    pub pair_starts_per_minute: u32,
    /// Pairing approvals per address per minute.
    pub pair_approvals_per_minute: u32,
    /// Failed token checks per address per minute before the address must wait.
    pub auth_failures_per_minute: u32,
    /// Pairings one address may have waiting at once.
    pub pairings_per_ip: usize,
    /// Take the client address from `X-Forwarded-For` (its last entry): only
    /// behind a proxy that sets it, or every client could claim any address.
    pub behind_proxy: bool,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            connections_per_ip: 128,
            logins_per_minute: 10,
            pair_starts_per_minute: 10,
            pair_approvals_per_minute: 20,
            auth_failures_per_minute: 30,
            pairings_per_ip: 5,
            behind_proxy: false,
        }
    }
}

/// Which rate a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    Login,
    PairStart,
    PairApprove,
}

/// The hub's limiters.
#[derive(Debug)]
pub(crate) struct Limiters {
    config: AbuseLimits,
    login: DefaultKeyedRateLimiter<IpAddr>,
    pair_start: DefaultKeyedRateLimiter<IpAddr>,
    pair_approve: DefaultKeyedRateLimiter<IpAddr>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their failed-check budget, until when: their
    /// token checks are refused before the store is asked.
    jailed: Mutex<HashMap<IpAddr, Instant>>,
    /// Open HTTP connections per address.
    connections: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    // Bursts up to a minute's budget, refilled evenly.
    Quota::per_minute(n).allow_burst(n)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `429 rate_limited` with the wait.
fn limited(what: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs().max(1);
    ApiError(
        ErrorBody::new(ErrorCode::RateLimited, format!("too many {what} from this address"))
            .with_hint(format!("wait {seconds} s and try again"))
            .with_details(json!({ "retry_after_s": seconds })),
    )
}

impl Limiters {
    pub(crate) fn new(config: AbuseLimits) -> Self {
        Self {
            login: RateLimiter::keyed(per_minute(config.logins_per_minute)),
            pair_start: RateLimiter::keyed(per_minute(config.pair_starts_per_minute)),
            pair_approve: RateLimiter::keyed(per_minute(config.pair_approvals_per_minute)),
            auth_failures: RateLimiter::keyed(per_minute(config.auth_failures_per_minute)),
            jailed: Mutex::default(),
            connections: Arc::default(),
            config,
        }
    }

    /// The limits in force.
    pub(crate) fn config(&self) -> &AbuseLimits {
        &self.config
    }

    /// The client address of a request (see [`client_ip`]).
    pub(crate) fn ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        client_ip(&self.config, headers, peer)
    }

    /// Counts one request against `rate`; `429` once the address is over it.
    pub(crate) fn check(&self, rate: Rate, ip: IpAddr) -> Result<(), ApiError> {
        let (limiter, what) = match rate {
            Rate::Login => (&self.login, "logins"),
            Rate::PairStart => (&self.pair_start, "pairing requests"),
            Rate::PairApprove => (&self.pair_approve, "pairing approvals"),
        };
        limiter
            .check_key(&ip)
            .map_err(|not_until| limited(what, not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Refuses an address that failed too many token checks, before its next check.
    pub(crate) fn before_auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        let mut jailed = lock(&self.jailed);
        match jailed.get(&ip) {
            Some(until) if *until > Instant::now() => Err(limited("failed token checks", *until - Instant::now())),
            Some(_) => {
                jailed.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failed token check; the address waits once its budget is gone.
    pub(crate) fn auth_failed(&self, ip: IpAddr) {
        if let Err(not_until) = self.auth_failures.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut jailed = lock(&self.jailed);
            let now = Instant::now();
            jailed.retain(|_, until| *until > now);
            jailed.insert(ip, now + wait.max(Duration::from_secs(1)));
            tracing::warn!(%ip, "too many failed token checks; refusing this address for a while");
        }
    }

    /// Holds one connection slot for `ip`, or `None` when it has all its slots.
    pub(crate) fn connection(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        if self.config.behind_proxy {
            // Every socket comes from the proxy, so a per-address cap would
            // cap all clients together; the proxy limits connections itself
            // (haproxy's `maxconn`, say), and the rates still apply per
            // forwarded address.
            return Some(ConnectionSlot { ip, open: None });
        }
        let mut open = lock(&self.connections);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.config.connections_per_ip {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { ip, open: Some(Arc::clone(&self.connections)) })
    }

    /// Forgets rate state of addresses that have been quiet (run now and then).
    pub(crate) fn forget_idle(&self) {
        for limiter in [&self.login, &self.pair_start, &self.pair_approve, &self.auth_failures] {
            limiter.retain_recent();
        }
        let now = Instant::now();
        lock(&self.jailed).retain(|_, until| *until > now);
    }
}

/// One open connection of an address; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    ip: IpAddr,
    /// The counts it is part of; `None` when connections are not counted
    /// (behind a proxy).
    open: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some(open) = &self.open else { return };
        let mut open = lock(open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The client's address: the peer, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the address the proxy saw).
pub(crate) fn client_ip(config: &AbuseLimits, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if !config.behind_proxy {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Limiters {
        Limiters::new(AbuseLimits {
            logins_per_minute: 2,
            auth_failures_per_minute: 2,
            connections_per_ip: 2,
            ..AbuseLimits::default()
        })
    }

    #[test]
    fn a_rate_is_per_address_and_says_when_to_come_back() {
        let limits = strict();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.check(Rate::Login, a).is_ok());
        assert!(limits.check(Rate::Login, a).is_ok());
        let error = limits.check(Rate::Login, a).unwrap_err();
        assert_eq!(error.0.code, ErrorCode::RateLimited);
        assert!(error.0.details.unwrap()["retry_after_s"].as_u64().unwrap() >= 1);
        assert!(limits.check(Rate::Login, b).is_ok(), "another address has its own budget");
    }

    #[test]
    fn failed_checks_jail_an_address_before_its_next_check() {
        let limits = strict();
        let ip = "10.0.0.3".parse().unwrap();
        for _ in 0..2 {
            limits.auth_failed(ip);
            assert!(limits.before_auth(ip).is_ok());
        }
        limits.auth_failed(ip);
        assert_eq!(limits.before_auth(ip).unwrap_err().0.code, ErrorCode::RateLimited);
    }

    #[test]
    fn connection_slots_are_capped_and_given_back() {
        let limits = strict();
        let ip = "10.0.0.4".parse().unwrap();
        let (one, _two) = (limits.connection(ip).unwrap(), limits.connection(ip).unwrap());
        assert!(limits.connection(ip).is_none());
        drop(one);
        assert!(limits.connection(ip).is_some());
    }

    #[test]
    fn connections_through_a_proxy_are_not_capped_as_one_address() {
        let limits = Limiters::new(AbuseLimits { connections_per_ip: 1, behind_proxy: true, ..AbuseLimits::default() });
        let proxy = "10.0.0.9".parse().unwrap();
        let slots: Vec<_> = (0..4).map(|_| limits.connection(proxy)).collect();
        assert!(slots.iter().all(Option::is_some));
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 9)));
        let direct = AbuseLimits::default();
        assert_eq!(client_ip(&direct, &headers, peer), "127.0.0.1".parse::<IpAddr>().unwrap());
        let proxied = AbuseLimits { behind_proxy: true, ..AbuseLimits::default() };
        assert_eq!(client_ip(&proxied, &headers, peer), "198.51.100.7".parse::<IpAddr>().unwrap());
    }
}
