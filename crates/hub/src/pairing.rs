//! Device-code pairing (RFC 8628 in spirit) and the machine's own token routes.
//!
//! ```text
//! app:  POST /v1/pair/start {machine_name, machine_id, os} -> {device_code, user_code, verification_url, …}
//! user: GET  /pair?code=ABCD-EFGH  (page)  -> POST /v1/pair/approve {user_code}  (Bearer user token)
//! app:  POST /v1/pair/poll {device_code}   -> {status: pending | approved{machine_token} | expired | denied}
//! app:  GET|DELETE /v1/tokens/self          (Bearer machine token: check it / Unpair)
//! app:  GET  /v1/machines/self/name-check?name=…&machine_id=…   (duplicate names)
//! ```
//!
//! Pending pairings live in memory only: a hub restart just makes the app start
//! again. The device code is a 256-bit secret the app never shows; the user code
//! is short, typed by a person, and useless without a signed-in user approving it.
//! The machine token is created at approval and handed out by exactly one poll.

use crate::auth::{self, TokenKind};
use crate::error::ApiError;
use crate::limits::Rate;
use crate::store::Store;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use specbridge_protocol::{ErrorBody, ErrorCode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a user code stays valid.
const CODE_TTL: Duration = Duration::from_secs(600);
/// Seconds the app waits between polls.
const POLL_INTERVAL_S: u64 = 2;
/// Pairings pending at once, from every address together: a memory bound
/// only (each address has its own, much smaller cap, so one address cannot
/// block pairing for everyone).
const MAX_PENDING: usize = 4096;
/// User-code alphabet: no 0/O, 1/I/L, so codes read back unambiguously.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Longest machine name accepted.
const MAX_NAME: usize = 64;

/// One pairing waiting for approval or for its poll.
#[derive(Debug)]
struct Pending {
    user_code: String,
    machine_name: String,
    /// The machine id the app asks to pair (empty: it names one at its first `hello`).
    machine_id: String,
    os: String,
    requested_ms: i64,
    /// The address that asked (each has a cap of waiting pairings).
    ip: IpAddr,
    expires: Instant,
    /// Set at approval; taken by the next poll.
    token: Option<String>,
}

/// The pending pairings of one hub, keyed by the hash of the device code.
#[derive(Default)]
pub(crate) struct Pairings {
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Pairings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pairings(..)")
    }
}

#[derive(Clone)]
struct PairState {
    store: Arc<dyn Store>,
    /// The hub, for the dashboard's browser sessions (a signed-in user approves
    /// a code on `/pair` without pasting a token).
    hub: Arc<crate::HubState>,
    pairings: Arc<Pairings>,
}

/// The pairing routes, with their own state so the hub's router only mounts them.
pub(crate) fn routes(hub: Arc<crate::HubState>) -> Router {
    let state = PairState { store: hub.store.clone(), hub, pairings: Arc::new(Pairings::default()) };
    Router::new()
        .route("/pair", get(page))
        .route("/pair.js", get(script))
        .route("/pair.css", get(style))
        .route("/v1/pair/start", post(start))
        .route("/v1/pair/request", get(request))
        .route("/v1/pair/poll", post(poll))
        .route("/v1/pair/approve", post(approve))
        .route("/v1/tokens/self", get(token_self).delete(revoke_self))
        .route("/v1/machines/self/name-check", get(name_check))
        .with_state(state)
}

#[derive(Deserialize)]
struct StartBody {
    machine_name: String,
    #[serde(default)]
    machine_id: String,
    #[serde(default)]
    os: String,
}

#[derive(Serialize)]
struct StartAnswer {
    device_code: String,
    user_code: String,
    verification_url: String,
    verification_url_complete: String,
    interval: u64,
    expires_in: u64,
}

fn lock(p: &Pairings) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
    // A panic while holding this lock cannot leave the map half-updated (single
    // inserts/removes), so a poisoned lock is still safe to use.
    p.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn user_code() -> String {
    let mut rng = rand::rng();
    let mut code: String = (0..8).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect();
    code.insert(4, '-');
    code
}

/// Uppercases and drops spaces and dashes, so "abcd efgh" matches "ABCD-EFGH".
fn canonical_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// A machine id or OS string from an unauthenticated caller: printable,
/// bounded (it is shown to the approving user and written to logs).
fn check_label(what: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::Invalid, format!("{what} must be at most {max} printable characters")));
    }
    Ok(value.to_owned())
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::Invalid, "machine_name must be 1 to 64 printable characters"));
    }
    Ok(name.to_owned())
}

async fn start(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<StartBody>, JsonRejection>,
) -> Result<Json<StartAnswer>, ApiError> {
    let ip = state.hub.limits.ip(&headers, Some(peer));
    state.hub.limits.check(Rate::PairStart, ip)?;
    let Json(body) = body?;
    let machine_name = check_name(&body.machine_name)?;
    let machine_id = check_label("machine_id", &body.machine_id, 128)?;
    let os = check_label("os", &body.os, 32)?;
    let device_code = auth::generate_secret();
    let code = user_code();
    {
        let mut pending = lock(&state.pairings);
        let now = Instant::now();
        pending.retain(|_, p| p.expires > now);
        let mine = pending.values().filter(|p| p.ip == ip).count();
        if mine >= state.hub.limits.config().pairings_per_ip || pending.len() >= MAX_PENDING {
            let wait = CODE_TTL.as_secs();
            return Err(ApiError(
                ErrorBody::new(ErrorCode::RateLimited, "too many pairings in progress from this address")
                    .with_hint("finish or let the open pairings expire (10 minutes), then try again")
                    .with_details(serde_json::json!({ "retry_after_s": wait })),
            ));
        }
        pending.insert(
            auth::hash_secret(device_code.expose()),
            Pending {
                user_code: canonical_code(&code),
                machine_name,
                machine_id: machine_id.clone(),
                os: os.clone(),
                requested_ms: crate::now_ms(),
                ip,
                expires: now + CODE_TTL,
                token: None,
            },
        );
    }
    // Debug formatting: fields from an unauthenticated caller cannot forge log lines.
    tracing::info!(machine_id = ?machine_id, os = ?os, %ip, "pairing started");
    let base = crate::base_url(&headers);
    Ok(Json(StartAnswer {
        device_code: device_code.expose().to_owned(),
        verification_url: format!("{base}/pair"),
        verification_url_complete: format!("{base}/pair?code={code}"),
        user_code: code,
        interval: POLL_INTERVAL_S,
        expires_in: CODE_TTL.as_secs(),
    }))
}

#[derive(Deserialize)]
struct PollBody {
    device_code: String,
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum PollAnswer {
    Pending,
    Approved { machine_token: String },
    Expired,
}

async fn poll(
    State(state): State<PairState>,
    body: Result<Json<PollBody>, JsonRejection>,
) -> Result<Json<PollAnswer>, ApiError> {
    let Json(body) = body?;
    let key = auth::hash_secret(&body.device_code);
    let mut pending = lock(&state.pairings);
    let answer = match pending.get_mut(&key) {
        None => PollAnswer::Expired,
        Some(p) if p.token.is_some() => {
            let token = p.token.take().unwrap_or_default();
            pending.remove(&key);
            PollAnswer::Approved { machine_token: token }
        }
        Some(p) if p.expires <= Instant::now() => {
            pending.remove(&key);
            PollAnswer::Expired
        }
        Some(_) => PollAnswer::Pending,
    };
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct CodeQuery {
    code: String,
}

/// `GET /v1/pair/request?code=`: which machine asks (name, OS, when, id, and
/// whether approving re-pairs a machine of the account), for the user to
/// check before confirming.
async fn request(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<CodeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ip = state.hub.limits.ip(&headers, Some(peer));
    let caller = crate::auth::caller(&state.hub, &headers, ip).await?;
    state.hub.limits.check(Rate::PairApprove, ip)?;
    let Query(query) = query?;
    let asking = waiting(&state, &canonical_code(&query.code))?;
    let repair = repaired(&state, &caller, &asking.machine_id).await?;
    Ok(Json(serde_json::json!({
        "machine_name": asking.machine_name, "machine_id": asking.machine_id, "os": asking.os,
        "requested_ms": asking.requested_ms,
        "repair": repair.map(|m| serde_json::json!({ "id": m.id, "name": m.name, "last_seen_ms": m.last_seen_ms })),
    })))
}

/// What the app that shows `code` asked for.
#[derive(Debug, Clone)]
struct Asking {
    machine_name: String,
    machine_id: String,
    os: String,
    requested_ms: i64,
}

fn waiting(state: &PairState, code: &str) -> Result<Asking, ApiError> {
    let pending = lock(&state.pairings);
    let now = Instant::now();
    pending
        .values()
        .find(|p| p.user_code == code && p.expires > now && p.token.is_none())
        .map(|p| Asking {
            machine_name: p.machine_name.clone(),
            machine_id: p.machine_id.clone(),
            os: p.os.clone(),
            requested_ms: p.requested_ms,
        })
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, "no pairing waits for this code")
                .hint("check the code shown in the app; codes expire after 10 minutes")
        })
}

/// The account's machine a pairing would re-pair (its id is the one asked for).
async fn repaired(
    state: &PairState,
    caller: &crate::auth::Caller,
    machine_id: &str,
) -> Result<Option<crate::store::MachineRow>, ApiError> {
    if machine_id.is_empty() {
        return Ok(None);
    }
    let found = state.store.find_machines(&caller.account_id, machine_id).await?;
    Ok(found.into_iter().find(|m| m.id == machine_id))
}

#[derive(Deserialize)]
struct ApproveBody {
    user_code: String,
}

async fn approve(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<ApproveBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ip = state.hub.limits.ip(&headers, Some(peer));
    // A user token, or the dashboard's session cookie from the same origin.
    let caller = crate::auth::caller(&state.hub, &headers, ip).await?;
    state.hub.limits.check(Rate::PairApprove, ip)?;
    let Json(body) = body?;
    let code = canonical_code(&body.user_code);
    let asking = waiting(&state, &code)?;
    let name = asking.machine_name.clone();
    // The token is created outside the lock (the store is async); a second
    // approval of the same code in between finds `token` set and is refused below.
    // A token for a named machine speaks only for it; approving a machine id
    // the account has re-pairs it (its old token is revoked, explicitly shown
    // on /pair before the user confirms).
    let repair = repaired(&state, &caller, &asking.machine_id).await?;
    let issued = if asking.machine_id.is_empty() {
        state.store.create_token(&caller.account_id, TokenKind::Machine, &name).await?
    } else {
        state.store.create_machine_token(&caller.account_id, &name, &asking.machine_id).await?
    };
    let handed = {
        let mut pending = lock(&state.pairings);
        match pending.values_mut().find(|p| p.user_code == code && p.token.is_none()) {
            Some(p) => {
                p.token = Some(issued.secret.expose().to_owned());
                true
            }
            None => false,
        }
    };
    if !handed {
        let _ = state.store.revoke_token(&issued.id).await;
        return Err(ApiError::new(ErrorCode::Conflict, "this code was approved already"));
    }
    tracing::info!(machine = ?name, token = %issued.id, repaired = repair.is_some(), "pairing approved");
    Ok(Json(serde_json::json!({ "machine_name": name, "token_id": issued.id, "repaired": repair.is_some() })))
}

/// The caller's machine token, authenticated (failures count against the address).
async fn machine(
    state: &PairState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<crate::store::Principal, ApiError> {
    let ip = state.hub.limits.ip(headers, Some(peer));
    state.hub.limits.before_auth(ip)?;
    let secret = auth::bearer(headers.get(header::AUTHORIZATION)).ok_or_else(|| ApiError::unauthorized("machine"))?;
    let principal = state.store.authenticate(secret, TokenKind::Machine).await?;
    principal.ok_or_else(|| {
        state.hub.limits.auth_failed(ip);
        ApiError::unauthorized("machine")
    })
}

async fn token_self(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers, peer).await?;
    let tokens = state.store.list_tokens().await?;
    let name = tokens.into_iter().find(|t| t.id == principal.token_id).map(|t| t.name).unwrap_or_default();
    Ok(Json(serde_json::json!({ "id": principal.token_id, "name": name, "kind": "machine" })))
}

async fn revoke_self(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers, peer).await?;
    state.store.revoke_token(&principal.token_id).await?;
    tracing::info!(token = %principal.token_id, "machine token revoked by its owner");
    Ok(Json(serde_json::json!({ "revoked": principal.token_id })))
}

#[derive(Deserialize)]
struct NameQuery {
    name: String,
    #[serde(default)]
    machine_id: Option<String>,
}

async fn name_check(
    State(state): State<PairState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<NameQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers, peer).await?;
    let name = check_name(&q.name)?;
    let me = q.machine_id.or(principal.machine_id).unwrap_or_default();
    let machines = state.store.list_machines(&principal.account_id).await?;
    let taken = |n: &str| machines.iter().any(|m| m.id != me && m.name.eq_ignore_ascii_case(n));
    let suggestion = if taken(&name) {
        (2..).map(|i| format!("{name} ({i})")).find(|n| !taken(n)).unwrap_or_else(|| name.clone())
    } else {
        name.clone()
    };
    Ok(Json(serde_json::json!({ "available": !taken(&name), "suggestion": suggestion })))
}

/// The page where a signed-in user checks which machine asks, then confirms.
/// Its script is a file of its own, so the page runs under the dashboard's CSP.
async fn page() -> Response {
    crate::dashboard::secured(PAGE.as_bytes(), "text/html; charset=utf-8", "no-cache")
}

async fn style() -> Response {
    crate::dashboard::secured(STYLE.as_bytes(), "text/css; charset=utf-8", "no-cache")
}

async fn script() -> Response {
    crate::dashboard::secured(SCRIPT.as_bytes(), "text/javascript; charset=utf-8", "no-cache")
}

const PAGE: &str = include_str!("pairing/pair.html");
const SCRIPT: &str = include_str!("pairing/pair.js");
const STYLE: &str = include_str!("pairing/pair.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_short_unambiguous_and_match_loosely() {
        let code = user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(code.chars().filter(|c| *c != '-').all(|c| CODE_ALPHABET.contains(&(c as u8))));
        assert_eq!(canonical_code(" abcd-efgh "), "ABCDEFGH");
        assert!(check_name("  ").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert_eq!(check_name(" Work laptop ").unwrap(), "Work laptop");
    }
}
