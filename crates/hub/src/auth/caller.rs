//! Who is asking: the one extractor every user-facing route takes. A caller
//! is a user of an account, proven by a bearer user token or by a browser
//! session cookie on a same-origin request.

use super::browser::{cookie, cross_origin, same_origin, COOKIE};
use super::{bearer, TokenKind};
use crate::error::ApiError;
use crate::HubState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, HeaderMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// An authenticated user.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The caller's account: everything it sees and addresses belongs to it.
    pub(crate) account_id: String,
    /// The user token behind it (directly, or behind its browser session).
    pub(crate) token_id: String,
}

impl FromRequestParts<Arc<HubState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<HubState>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr);
        caller(hub, &parts.headers, hub.limits.ip(&parts.headers, peer)).await
    }
}

/// The caller behind `headers`: a bearer user token, or a browser session
/// cookie on a same-origin request. An address that failed too many token
/// checks is refused (`429`) before the store is asked. For routes with their
/// own state (the `/pair` page's approval) that cannot take the extractor.
pub(crate) async fn caller(hub: &HubState, headers: &HeaderMap, ip: IpAddr) -> Result<Caller, ApiError> {
    if let Some(secret) = bearer(headers.get(header::AUTHORIZATION)) {
        hub.limits.before_auth(ip)?;
        return match hub.store.authenticate(secret, TokenKind::User).await? {
            Some(principal) => Ok(Caller { account_id: principal.account_id, token_id: principal.token_id }),
            None => {
                hub.limits.auth_failed(ip);
                Err(ApiError::unauthorized("user"))
            }
        };
    }
    // A cookie rides along on cross-site requests too: only our own pages may use it.
    if !same_origin(headers) {
        return Err(cross_origin());
    }
    let Some(session) = cookie(headers, COOKIE).and_then(|id| hub.sessions.get(id)) else {
        return Err(ApiError::unauthorized("user"));
    };
    // A session lives only as long as its token: revoked means signed out, now.
    if !hub.store.token_live(&session.token).await? {
        hub.sessions.end_token(&session.token);
        return Err(ApiError::unauthorized("user"));
    }
    Ok(Caller { account_id: session.account, token_id: session.token })
}
