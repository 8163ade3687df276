//! Tokens as the store keeps them: only hashes, each machine token bound to
//! the one machine it registered (or was paired for), and revocations that
//! every hub node can see.

use super::{Principal, StoreResult, TokenInfo};
use crate::auth::{IssuedToken, TokenKind};
use futures_util::future::BoxFuture;

/// A revoked token, for ending what it still holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// Token id.
    pub id: String,
    /// What it was for.
    pub kind: TokenKind,
    /// The machine a machine token was bound to.
    pub machine_id: Option<String>,
    /// When it was revoked.
    pub revoked_ms: i64,
}

/// The token part of the store.
pub trait TokenStore: Send + Sync {
    /// Creates a token of `kind` in `account_id` (machine tokens bind to the
    /// machine whose `hello` first uses them). `Err(NoSuchAccount)` for an
    /// unknown account.
    fn create_token<'a>(
        &'a self,
        account_id: &'a str,
        kind: TokenKind,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<IssuedToken>>;
    /// Creates a machine token bound to `machine_id` from the start, and
    /// revokes every other token of that machine: pairing, and re-pairing.
    /// A machine of another account is `Err(MachineTaken)`: re-pairing never
    /// moves a machine between accounts.
    fn create_machine_token<'a>(
        &'a self,
        account_id: &'a str,
        name: &'a str,
        machine_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<IssuedToken>>;
    /// Lists tokens.
    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenInfo>>>;
    /// Revokes a token; false if no such live token.
    fn revoke_token(&self, id: &str) -> BoxFuture<'_, StoreResult<bool>>;
    /// The live (not revoked) token of `kind` with this secret.
    fn authenticate(&self, secret: &str, kind: TokenKind) -> BoxFuture<'_, StoreResult<Option<Principal>>>;
    /// Whether a token is still live (browser sessions ask on every request).
    fn token_live(&self, id: &str) -> BoxFuture<'_, StoreResult<bool>>;
    /// Binds an unbound machine token to a machine id the hub has never seen.
    /// False when the token is bound or revoked, or the id belongs to a machine
    /// already (it changes hands only through [`TokenStore::create_machine_token`]).
    fn bind_token(&self, token_id: &str, machine_id: &str) -> BoxFuture<'_, StoreResult<bool>>;
    /// Tokens revoked at or after `since_ms`.
    fn revoked_since(&self, since_ms: i64) -> BoxFuture<'_, StoreResult<Vec<RevokedToken>>>;
}
