//! Who is asking: the one extractor every user-facing route takes. A caller
//! is a user of an account, proven by a bearer user token or by a browser
//! session cookie on a same-origin request.

use super::browser::{cookie, cross_origin, same_origin, COOKIE};
use super::{bearer, TokenKind};
use crate::error::ApiError;
use crate::HubState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use std::sync::Arc;

/// An authenticated user.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The caller's account: everything it sees and addresses belongs to it.
    pub(crate) account_id: String,
}

impl FromRequestParts<Arc<HubState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<HubState>) -> Result<Self, Self::Rejection> {
        caller(hub, &parts.headers).await
    }
}

/// The caller behind `headers`: a bearer user token, or a browser session
/// cookie on a same-origin request. For routes with their own state (the
/// `/pair` page's approval) that cannot take the extractor.
pub(crate) async fn caller(hub: &HubState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if let Some(secret) = bearer(headers.get(header::AUTHORIZATION)) {
        return match hub.store.authenticate(secret, TokenKind::User).await? {
            Some(principal) => Ok(Caller { account_id: principal.account_id }),
            None => Err(ApiError::unauthorized("user")),
        };
    }
    // A cookie rides along on cross-site requests too: only our own pages may use it.
    if !same_origin(headers) {
        return Err(cross_origin());
    }
    let account = cookie(headers, COOKIE).and_then(|id| hub.sessions.account(id));
    account.map(|account_id| Caller { account_id }).ok_or_else(|| ApiError::unauthorized("user"))
}
