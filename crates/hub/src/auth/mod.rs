//! Authentication: tokens (generation, hashing, the bearer header), browser
//! sessions (`browser`), and the [`Caller`] extractor every user route takes.
//!
//! A token is `sbt_` + 43 characters of URL-safe base64 (256 random bits).
//! Only its BLAKE3 hash is stored: a 256-bit random secret cannot be guessed
//! from its hash, so a slow password hash would buy nothing.

mod browser;
mod caller;
pub(crate) mod revocations;

pub(crate) use browser::{cross_origin, routes, same_origin, Sessions};
pub(crate) use caller::{caller, Caller};

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

/// Prefix of every token, so leaked tokens are easy to grep for.
pub(crate) const TOKEN_PREFIX: &str = "sbt_";

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A bridge authenticating on `/v1/bridge`.
    Machine,
    /// A person (or script) using the REST API.
    User,
}

impl TokenKind {
    /// The kind as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Machine => "machine",
            Self::User => "user",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "machine" => Some(Self::Machine),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

impl std::fmt::Display for TokenKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for showing once to its owner or sending in a header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A freshly created token: its id (for listing and revoking) and its secret,
/// which the hub never stores and never shows again.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Token id.
    pub id: String,
    /// The secret.
    pub secret: Secret,
}

/// A new random token secret.
pub(crate) fn generate_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a secret.
pub(crate) fn hash_secret(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// The token from an `Authorization: Bearer …` header value, if well-formed.
pub(crate) fn bearer(header: Option<&axum::http::HeaderValue>) -> Option<&str> {
    let value = header?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_redacted() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert!(!format!("{a:?} {a}").contains(a.expose()));
        assert_eq!(hash_secret(a.expose()).len(), 64);
    }

    #[test]
    fn bearer_parsing() {
        let v = |s: &str| axum::http::HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(Some(&v("Bearer abc"))), Some("abc"));
        assert_eq!(bearer(Some(&v("bearer  abc "))), Some("abc"));
        assert_eq!(bearer(Some(&v("Basic abc"))), None);
        assert_eq!(bearer(Some(&v("Bearer "))), None);
        assert_eq!(bearer(None), None);
    }
}
