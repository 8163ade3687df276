//! The tray app's update feed, for tauri-plugin-updater.
//!
//! ```text
//! app: GET /v1/updates/{target}/{arch}/{current_version}[?bundle=deb]  -> 200 {version, url, signature, …} | 204
//! app: GET /v1/updates/files/{name}                                   -> the artifact's bytes
//! ```
//!
//! Publishing a release is dropping Tauri's static `latest.json` and the
//! artifacts into the updates folder. The manifest is read again on every
//! request (it is a few KB), so a release goes live without a restart. No auth:
//! the app checks every artifact's minisign signature against the public key
//! compiled into it, so the hub only relays what the release signer made
//! (docs/security.md).

use crate::error::ApiError;
use crate::HubState;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use specbridge_protocol::ErrorCode;
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

/// The manifest's file name inside the updates folder.
pub(crate) const MANIFEST: &str = "latest.json";
/// Longest artifact name accepted (common file-system limit).
const MAX_NAME: usize = 255;

/// The update routes. Public on purpose: see the module docs.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        // Four segments after `/v1`, so it never collides with the three-segment check route.
        .route("/v1/updates/files/{name}", get(file))
        .route("/v1/updates/{target}/{arch}/{current_version}", get(check))
}

/// Why the published manifest cannot be used. Each is the operator's to fix,
/// so the caller gets `internal` and the log names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not Tauri's static manifest format.
    #[error("{path} is not a valid update manifest: {source}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// Where and why parsing stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest's `version` is not semver.
    #[error("{path}: version {version:?} is not semver: {source}")]
    Version {
        /// The manifest.
        path: PathBuf,
        /// The value found.
        version: String,
        /// Why it does not parse.
        #[source]
        source: semver::Error,
    },
    /// A platform's `url` is neither absolute nor a plain file name in the folder.
    #[error("{path}: platform {platform:?} has url {url:?}, neither http(s) nor a plain file name")]
    Url {
        /// The manifest.
        path: PathBuf,
        /// The platform key.
        platform: String,
        /// The value found.
        url: String,
    },
}

impl ManifestError {
    /// The problem as a caller may see it: the routes are public, so the
    /// hub's folders stay out of it (the log has the full path).
    fn public(&self) -> String {
        match self {
            Self::Read { source, .. } => format!("cannot read latest.json: {}", source.kind()),
            Self::Parse { source, .. } => format!("latest.json is not a valid update manifest: {source}"),
            Self::Version { version, source, .. } => {
                format!("latest.json: version {version:?} is not semver: {source}")
            }
            Self::Url { platform, url, .. } => {
                format!("latest.json: platform {platform:?} has url {url:?}, neither http(s) nor a plain file name")
            }
        }
    }
}

impl From<ManifestError> for ApiError {
    fn from(err: ManifestError) -> Self {
        tracing::error!(error = %err, "update manifest unusable");
        let public = err.public();
        let hint = match &err {
            ManifestError::Read { .. } => format!("{public}; check the updates folder's permissions"),
            ManifestError::Parse { .. } | ManifestError::Version { .. } => {
                format!("{public}; fix the file (Tauri's static latest.json format), no restart needed")
            }
            ManifestError::Url { .. } => format!("{public}; use an https:// URL or the name of a file next to it"),
        };
        Self::new(ErrorCode::Internal, "the published update manifest is unusable").hint(hint)
    }
}

/// Tauri's static update manifest (`latest.json`).
#[derive(Debug, Deserialize)]
struct Manifest {
    version: String,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    pub_date: Option<String>,
    platforms: HashMap<String, Platform>,
}

/// One platform's artifact in the manifest.
#[derive(Debug, Deserialize)]
struct Platform {
    signature: String,
    url: String,
}

/// Tauri's dynamic update answer.
#[derive(Debug, Serialize)]
struct Update {
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub_date: Option<String>,
    url: String,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct CheckQuery {
    bundle: Option<String>,
}

/// Parses a version the way Tauri accepts it: semver, with or without a leading `v`.
fn parse_version(text: &str) -> Result<semver::Version, semver::Error> {
    semver::Version::parse(text.strip_prefix('v').unwrap_or(text))
}

/// A target, arch or bundle is one lowercase word; it becomes part of a
/// manifest key, so anything else is a malformed request rather than "no update".
fn check_word(what: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        return Ok(());
    }
    Err(ApiError::new(ErrorCode::Invalid, format!("{what} {value:?} is not a valid {what}"))
        .hint(format!("{what} is one word of a-z, 0-9 and _ (for example linux, x86_64, deb)")))
}

/// Whether `name` is one plain file name: nothing that could address another
/// folder or a hidden file, whatever the OS's path rules.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && !name.contains("..")
        && !name.chars().any(|c| c == '/' || c == '\\' || c == ':' || c.is_control())
}

fn is_absolute_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any
/// plain file name becomes one path segment.
fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads the manifest; `None` when nothing is published (no folder or no file).
async fn read_manifest(dir: &FsPath) -> Result<Option<(PathBuf, Manifest)>, ManifestError> {
    let path = dir.join(MANIFEST);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ManifestError::Read { path, source }),
    };
    match serde_json::from_slice(&bytes) {
        Ok(manifest) => Ok(Some((path, manifest))),
        Err(source) => Err(ManifestError::Parse { path, source }),
    }
}

async fn check(
    State(hub): State<Arc<HubState>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<CheckQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (Path((target, arch, current)), Query(query)) = (path?, query?);
    check_word("target", &target)?;
    check_word("arch", &arch)?;
    if let Some(bundle) = &query.bundle {
        check_word("bundle", bundle)?;
    }
    let current = parse_version(&current).map_err(|e| {
        ApiError::new(ErrorCode::Invalid, format!("current version {current:?} is not semver: {e}"))
            .hint("send the app's version as MAJOR.MINOR.PATCH, for example 0.1.0")
    })?;
    let dir = hub.config.updates_folder();
    let Some((file, manifest)) = read_manifest(&dir).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let latest = parse_version(&manifest.version).map_err(|source| ManifestError::Version {
        path: file.clone(),
        version: manifest.version.clone(),
        source,
    })?;
    if latest <= current {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // A bundle-specific artifact (a .deb for a .deb install) beats the generic
    // one, which for Linux is the AppImage and would replace the wrong thing.
    let generic = format!("{target}-{arch}");
    let mut keys: Vec<String> = query.bundle.iter().map(|bundle| format!("{generic}-{bundle}")).collect();
    keys.push(generic);
    let Some((key, platform)) = keys.into_iter().find_map(|k| manifest.platforms.get(&k).map(|p| (k, p))) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let url = if is_absolute_url(&platform.url) {
        platform.url.clone()
    } else if plain_name(&platform.url) {
        format!("{}/v1/updates/files/{}", crate::base_url(&headers), encode_segment(&platform.url))
    } else {
        return Err(ManifestError::Url { path: file, platform: key, url: platform.url.clone() }.into());
    };
    tracing::debug!(%target, %arch, %current, %latest, platform = %key, "update offered");
    let update = Update {
        version: manifest.version.clone(),
        notes: manifest.notes.clone(),
        pub_date: manifest.pub_date.clone(),
        url,
        signature: platform.signature.clone(),
    };
    Ok(Json(update).into_response())
}

fn refused(name: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::ForbiddenPath, format!("{name:?} is not a file of the updates folder: {why}"))
        .hint("ask for a plain file name listed in latest.json (no folders, no leading dot)")
}

async fn file(
    State(hub): State<Arc<HubState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    if !plain_name(&name) {
        return Err(refused(&name, "not one plain file name"));
    }
    let missing = || ApiError::not_found(format!("update file {name:?}"));
    let dir = hub.config.updates_folder();
    // Both sides canonical, so a symlink (the folder's own or the file's) is
    // judged by where it really points.
    let Ok(dir) = tokio::fs::canonicalize(&dir).await else {
        return Err(missing());
    };
    let resolved = match tokio::fs::canonicalize(dir.join(&name)).await {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(crate::HubError::Io(e).into()),
    };
    if !resolved.starts_with(&dir) {
        tracing::warn!(name = ?name, "refused an update file that resolves outside the updates folder");
        return Err(refused(&name, "it points outside the updates folder"));
    }
    let opened = match tokio::fs::File::open(&resolved).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(crate::HubError::Io(e).into()),
    };
    let meta = opened.metadata().await.map_err(crate::HubError::Io)?;
    if !meta.is_file() {
        return Err(missing());
    }
    // Streamed: installers are tens of MB and must not sit in memory per download.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(opened));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    Ok((headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_words_are_strict() {
        for bad in ["", ".hidden", "../hub.db", "a/b", "a\\b", "a..b", "c:x", "a\0b", "..", "."] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        assert!(plain_name("specbridge_0.2.0_amd64.AppImage.tar.gz"));
        assert!(check_word("arch", "x86_64").is_ok());
        for bad in ["", "X86", "x-86", "a b", "linux/.."] {
            assert!(check_word("target", bad).is_err(), "{bad:?}");
        }
        assert_eq!(encode_segment("a b+c.msi"), "a%20b%2Bc.msi");
        assert!(is_absolute_url("HTTPS://example.com/x") && !is_absolute_url("x.tar.gz"));
        assert_eq!(parse_version("v1.2.3").ok(), Some(semver::Version::new(1, 2, 3)));
    }
}
