//! Browser sessions: a login exchanges a user token for a random session id
//! kept only in memory (hashed), so the token itself never sits in a cookie;
//! and whether a browser request comes from the hub's own origin. Sessions
//! end on logout, after [`SESSION_TTL`], or when the hub restarts.

use super::{hash_secret, TokenKind};
use crate::error::ApiError;
use crate::limits::Rate;
use crate::HubState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;
use specbridge_protocol::ErrorCode;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "sb_session";
/// How long a browser session lasts.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One browser session: whose it is and until when.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) account: String,
    /// The user token it was made from: revoking the token ends the session.
    pub(super) token: String,
    expires: Instant,
}

/// Browser sessions by the hash of their id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn create(&self, account: &str, token: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut inner = self.lock();
        inner.retain(|_, s| s.expires > now);
        let session = Session { account: account.to_owned(), token: token.to_owned(), expires: now + SESSION_TTL };
        inner.insert(hash_secret(&id), session);
        id
    }

    /// A live session.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let inner = self.lock();
        let session = inner.get(&hash_secret(id))?;
        (session.expires > Instant::now()).then(|| session.clone())
    }

    fn remove(&self, id: &str) {
        self.lock().remove(&hash_secret(id));
    }

    /// Ends every session made from `token` (it was revoked); returns how many.
    pub(crate) fn end_token(&self, token: &str) -> usize {
        let mut inner = self.lock();
        let before = inner.len();
        inner.retain(|_, s| s.token != token);
        before - inner.len()
    }
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a request's `Origin` (sent by browsers on WebSocket handshakes and
/// cross-origin requests) is this hub's own: same scheme and same host. The
/// scheme is `https` when a TLS-terminating proxy says so
/// (`X-Forwarded-Proto`), else `http`, so a plain-http page on the same host
/// cannot ride the session of an https hub. No `Origin` means a non-browser client.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map_or("http", str::trim);
    !host.is_empty() && origin.trim_end_matches('/').eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// Whether the page was loaded over https (directly, or through a TLS-terminating proxy).
fn behind_https(headers: &HeaderMap) -> bool {
    let value =
        |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    value(header::ORIGIN).starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The error for a request from another site's page.
pub(crate) fn cross_origin() -> ApiError {
    ApiError::new(ErrorCode::Forbidden, "request from another origin")
        .hint("open the dashboard from the hub's own URL; other sites may not use your session")
}

/// `/v1/session`: log in, check, log out.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/v1/session", get(whoami).post(login).delete(logout))
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login { token: *** }")
    }
}

async fn login(
    State(hub): State<Arc<HubState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(cross_origin());
    }
    let ip = hub.limits.ip(&headers, Some(peer));
    hub.limits.check(Rate::Login, ip)?;
    hub.limits.before_auth(ip)?;
    let Json(login) = body?;
    let Some(principal) = hub.store.authenticate(login.token.trim(), TokenKind::User).await? else {
        hub.limits.auth_failed(ip);
        return Err(ApiError::new(ErrorCode::Unauthorized, "unknown or revoked token")
            .hint("create one on the hub with `specbridge-hub token create --kind user --name me`"));
    };
    let id = hub.sessions.create(&principal.account_id, &principal.token_id);
    let mut cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs());
    if behind_https(&headers) {
        // Only then: a `Secure` cookie is never sent back over plain http://127.0.0.1.
        cookie.push_str("; Secure");
    }
    let mut response = Json(serde_json::json!({ "account": principal.account_id })).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

async fn whoami(caller: super::Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "account": caller.account_id }))
}

async fn logout(State(hub): State<Arc<HubState>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        hub.sessions.remove(id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, expired);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_match_host_when_present() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:7700")])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:7700"), ("origin", "http://127.0.0.1:7700")])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:7700"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:7700"), ("origin", "http://127.0.0.1:7701")])));
    }

    /// Regression: the Origin check compared hosts only, so an http:// page
    /// on the hub's host could use the session of the https hub.
    #[test]
    fn the_origin_check_compares_the_scheme_too() {
        let https = [("host", "hub.example"), ("x-forwarded-proto", "https")];
        assert!(same_origin(&headers(&[https[0], https[1], ("origin", "https://hub.example")])));
        assert!(!same_origin(&headers(&[https[0], https[1], ("origin", "http://hub.example")])));
        assert!(!same_origin(&headers(&[("host", "hub.example"), ("origin", "https://hub.example")])));
        assert!(!same_origin(&headers(&[("host", "hub.example"), ("origin", "ftp://hub.example")])));
    }

    #[test]
    fn secure_cookies_only_behind_https() {
        assert!(behind_https(&headers(&[("origin", "https://hub.example")])));
        assert!(behind_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(!behind_https(&headers(&[("origin", "http://127.0.0.1:7700")])));
        assert!(!behind_https(&headers(&[])));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; sb_session=xyz; b=2")]);
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers(&[("cookie", "a=1")]), COOKIE), None);
    }

    #[test]
    fn sessions_resolve_until_removed() {
        let sessions = Sessions::default();
        let id = sessions.create("acct", "tok_1");
        assert_eq!(sessions.get(&id).map(|s| s.account).as_deref(), Some("acct"));
        assert!(sessions.get("other").is_none());
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
        let id = sessions.create("acct", "tok_2");
        assert_eq!(sessions.end_token("tok_2"), 1);
        assert!(sessions.get(&id).is_none(), "a revoked token's session is gone");
    }
}
