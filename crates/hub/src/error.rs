//! Hub errors: `HubError` for the library's own failures, and `ApiError`, the
//! wire error body with the HTTP status the REST API answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use specbridge_protocol::{ErrorBody, ErrorCode};

/// What can go wrong running the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The data folder could not be created or opened.
    #[error("cannot use data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The listener failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// Another token owns this machine id.
    #[error("machine {0:?} belongs to another token")]
    MachineTaken(String),
    /// An account, or a user in the account, already has this name.
    #[error("{0} already exists")]
    NameTaken(String),
    /// No account with this id or name.
    #[error("no account {0:?}; see `specbridge-hub account list`")]
    NoSuchAccount(String),
    /// `--database-url` names an engine this hub does not run on.
    #[error("unsupported database URL scheme {scheme:?}: use postgres://USER@HOST/DB, or leave it out for SQLite in the data folder")]
    DatabaseUrl {
        /// The scheme given.
        scheme: String,
    },
    /// NATS could not be joined.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The database was written by a newer hub.
    #[error("the database has schema version {found}, this hub knows {known}; run the newer hub, or restore a backup")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// Shutdown did not finish in time.
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(std::time::Duration),
}

impl HubError {
    /// Whether this failure is a full disk (SQLite's `SQLITE_FULL`,
    /// Postgres's `disk_full`, or `ENOSPC` / a quota from the file system).
    pub fn is_no_space(&self) -> bool {
        /// SQLite's primary result code for "database or disk is full".
        const SQLITE_FULL: i64 = 13;
        /// Postgres's SQLSTATE `disk_full` (class 53, insufficient resources).
        const PG_DISK_FULL: &str = "53100";
        let io_full = |e: &std::io::Error| {
            matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        };
        match self {
            // SQLSTATEs are not SQLite codes: tell the engines apart first.
            Self::Database(sqlx::Error::Database(db))
                if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() =>
            {
                db.code().as_deref() == Some(PG_DISK_FULL)
            }
            Self::Database(sqlx::Error::Database(db)) => {
                db.code().and_then(|code| code.parse::<i64>().ok()).is_some_and(|code| code & 0xff == SQLITE_FULL)
            }
            Self::Database(sqlx::Error::Io(e)) | Self::Io(e) | Self::DataDir { source: e, .. } => io_full(e),
            _ => false,
        }
    }
}

/// An error answered by the REST API: the protocol's error body, with the
/// HTTP status that matches its code.
#[derive(Debug)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// `unauthorized` with the hint on how to get a token.
    pub fn unauthorized(kind: &str) -> Self {
        Self::new(ErrorCode::Unauthorized, "missing, unknown or revoked token").hint(format!(
            "send `Authorization: Bearer <token>` with a {kind} token from `specbridge-hub token create --kind {kind}`"
        ))
    }

    /// `not_found` for a named thing.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        if err.is_no_space() {
            tracing::warn!(error = %err, "request refused: the hub's disk is full");
            return Self::new(ErrorCode::NoSpace, "the hub's disk is full; nothing was written")
                .hint(crate::health::NO_SPACE_HINT);
        }
        tracing::error!(error = %err, "request failed");
        Self::new(ErrorCode::Internal, "the hub failed to answer; see its log")
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        HubError::from(err).into()
    }
}

impl From<ErrorBody> for ApiError {
    fn from(body: ErrorBody) -> Self {
        Self(body)
    }
}

/// Framework rejections (malformed path, query, JSON or body; a body over the
/// limit) answer in the same `{"error": …}` shape as everything else, with the
/// table's status for the code: `too_large` (413) or `invalid` (400).
macro_rules! from_rejection {
    ($($rejection:ty),+) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::TooLarge
                } else {
                    ErrorCode::Invalid
                };
                Self::new(code, rejection.body_text())
            }
        }
    )+};
}

from_rejection!(
    axum::extract::rejection::BytesRejection,
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::QueryRejection
);

/// The HTTP status for an error code (table in docs/protocol.md).
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        // The request is fine; the state asks the caller to confirm (`force`).
        ErrorCode::Conflict | ErrorCode::OpenItems | ErrorCode::SkipsPlanned => StatusCode::CONFLICT,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::ForbiddenPath | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Invalid | ErrorCode::UnsupportedVersion => StatusCode::BAD_REQUEST,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Offline => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal | ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = (self.0.code == ErrorCode::RateLimited)
            .then(|| self.0.details.as_ref()?.get("retry_after_s")?.as_u64())
            .flatten();
        let mut response =
            (status_for(self.0.code), axum::Json(serde_json::json!({ "error": self.0 }))).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
