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
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use specbridge_protocol::ErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a user code stays valid.
const CODE_TTL: Duration = Duration::from_secs(600);
/// Seconds the app waits between polls.
const POLL_INTERVAL_S: u64 = 2;
/// Pairings pending at once; more are refused so nobody can fill memory.
const MAX_PENDING: usize = 256;
/// User-code alphabet: no 0/O, 1/I/L, so codes read back unambiguously.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Longest machine name accepted.
const MAX_NAME: usize = 64;

/// One pairing waiting for approval or for its poll.
#[derive(Debug)]
struct Pending {
    user_code: String,
    machine_name: String,
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
        .route("/v1/pair/start", post(start))
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

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::Invalid, "machine_name must be 1 to 64 printable characters"));
    }
    Ok(name.to_owned())
}

async fn start(
    State(state): State<PairState>,
    headers: HeaderMap,
    Json(body): Json<StartBody>,
) -> Result<Json<StartAnswer>, ApiError> {
    let machine_name = check_name(&body.machine_name)?;
    let device_code = auth::generate_secret();
    let code = user_code();
    {
        let mut pending = lock(&state.pairings);
        let now = Instant::now();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= MAX_PENDING {
            return Err(ApiError::new(ErrorCode::Invalid, "too many pairings in progress")
                .hint("wait a few minutes and try again"));
        }
        pending.insert(
            auth::hash_secret(device_code.expose()),
            Pending { user_code: canonical_code(&code), machine_name, expires: now + CODE_TTL, token: None },
        );
    }
    tracing::info!(machine_id = %body.machine_id, os = %body.os, "pairing started");
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

async fn poll(State(state): State<PairState>, Json(body): Json<PollBody>) -> Json<PollAnswer> {
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
    Json(answer)
}

#[derive(Deserialize)]
struct ApproveBody {
    user_code: String,
}

async fn approve(
    State(state): State<PairState>,
    headers: HeaderMap,
    Json(body): Json<ApproveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // A user token, or the dashboard's session cookie from the same origin.
    crate::auth::caller(&state.hub, &headers).await?;
    let code = canonical_code(&body.user_code);
    let name = {
        let pending = lock(&state.pairings);
        let now = Instant::now();
        pending
            .values()
            .find(|p| p.user_code == code && p.expires > now && p.token.is_none())
            .map(|p| p.machine_name.clone())
    };
    let Some(name) = name else {
        return Err(ApiError::new(ErrorCode::NotFound, "no pairing waits for this code")
            .hint("check the code shown in the app; codes expire after 10 minutes"));
    };
    // The token is created outside the lock (the store is async); a second
    // approval of the same code in between finds `token` set and is refused below.
    let issued = state.store.create_token(TokenKind::Machine, &name).await?;
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
    tracing::info!(machine = %name, token = %issued.id, "pairing approved");
    Ok(Json(serde_json::json!({ "machine_name": name, "token_id": issued.id })))
}

/// The caller's machine token, authenticated.
async fn machine(state: &PairState, headers: &HeaderMap) -> Result<crate::store::Principal, ApiError> {
    let secret = auth::bearer(headers.get(header::AUTHORIZATION)).ok_or_else(|| ApiError::unauthorized("machine"))?;
    state.store.authenticate(secret, TokenKind::Machine).await?.ok_or_else(|| ApiError::unauthorized("machine"))
}

async fn token_self(State(state): State<PairState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers).await?;
    let tokens = state.store.list_tokens().await?;
    let name = tokens.into_iter().find(|t| t.id == principal.token_id).map(|t| t.name).unwrap_or_default();
    Ok(Json(serde_json::json!({ "id": principal.token_id, "name": name, "kind": "machine" })))
}

async fn revoke_self(State(state): State<PairState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers).await?;
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
    headers: HeaderMap,
    Query(q): Query<NameQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = machine(&state, &headers).await?;
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

/// The page where a signed-in user confirms a code. Until the dashboard's
/// session login lands, "signed in" means a user token kept in this tab only.
async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Pair a computer · specbridge</title>
<style>body{font:16px system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
input,button{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0 1rem}
#code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em;text-transform:uppercase}
.err{color:#b00020}.ok{color:#0a7d32}</style></head>
<body><h1>Pair a computer</h1>
<p>Enter the code the specbridge app shows. Only confirm codes from your own computer.</p>
<form id="f"><label>Code<input id="code" autocomplete="off" required></label>
<p id="who">Signed in to this hub's dashboard? Just enter the code. Otherwise <a href="/">sign in</a> first, or paste a user token:</p>
<label>User token (optional)<input id="token" type="password" autocomplete="off"></label>
<button>Pair this computer</button></form><p id="out" role="status"></p>
<script>
const q=new URLSearchParams(location.search);code.value=q.get('code')||'';
token.value=sessionStorage.getItem('sb_user_token')||'';
f.onsubmit=async e=>{e.preventDefault();out.className='';out.textContent='Pairing…';
sessionStorage.setItem('sb_user_token',token.value);
const h={'content-type':'application/json'};if(token.value.trim())h.authorization='Bearer '+token.value.trim();
const r=await fetch('/v1/pair/approve',{method:'POST',headers:h,credentials:'same-origin',body:JSON.stringify({user_code:code.value})});
const b=await r.json().catch(()=>({}));
if(r.ok){out.className='ok';out.textContent='Paired '+b.machine_name+'. You can close this page.';}
else if(r.status===401){out.className='err';out.textContent='Sign in to the dashboard first (open / in this browser), or paste a user token.';}
else{out.className='err';out.textContent=b.message||(b.error&&b.error.message)||('HTTP '+r.status);}};
</script></body></html>"#;

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
