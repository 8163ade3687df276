//! Accounts and their users. An account (a person or a team) owns machines;
//! users belong to one account and sign in with their own user tokens. Every
//! route, feed and queue is scoped to the caller's account (the token's),
//! so nothing here needs to be consulted per request.

use super::StoreResult;
use crate::auth::IssuedToken;
use futures_util::future::BoxFuture;
use serde::Serialize;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// `acc_…`, or `default` for the zero-config hub's account.
    pub id: String,
    /// Unique (case-insensitive) among accounts.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// A user of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// `usr_…`.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Unique (case-insensitive) among the account's users.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// The id of the account every hub has: the zero-config single-user mode
/// (the tray app's embedded hub, the demo) lives in it.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The account part of the store.
pub trait AccountStore: Send + Sync {
    /// Creates an account. `Err(NameTaken)` when one has that name.
    fn create_account(&self, name: &str) -> BoxFuture<'_, StoreResult<AccountInfo>>;
    /// Every account, oldest first.
    fn list_accounts(&self) -> BoxFuture<'_, StoreResult<Vec<AccountInfo>>>;
    /// The account with this id or (case-insensitive) name.
    fn find_account(&self, id_or_name: &str) -> BoxFuture<'_, StoreResult<Option<AccountInfo>>>;
    /// Creates a user in `account_id` with a first user token (shown once).
    /// `Err(NameTaken)` when the account has a user of that name.
    fn create_user(&self, account_id: &str, name: &str) -> BoxFuture<'_, StoreResult<(UserInfo, IssuedToken)>>;
    /// The users of an account (all accounts when `None`) not removed, oldest first.
    fn list_users(&self, account_id: Option<&str>) -> BoxFuture<'_, StoreResult<Vec<UserInfo>>>;
    /// Removes a user and revokes every token of theirs in the same
    /// transaction (their sessions end through the revocation feed).
    /// False when there is no such user.
    fn remove_user(&self, user_id: &str) -> BoxFuture<'_, StoreResult<bool>>;
}
