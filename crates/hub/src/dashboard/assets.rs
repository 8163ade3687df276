//! The embedded web dashboard (see build.rs): `/` serves its `index.html` and
//! `/assets/*` its hashed scripts and styles. A strict Content-Security-Policy
//! keeps any markup that slips into rendered markdown from running scripts.

use crate::HubState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// `style-src-elem` lets in the `<style>` elements the job terminal (xterm.js's
/// DOM renderer) writes its theme and cell sizes into; inline `style`
/// attributes stay refused (`style-src`), and so does every inline script.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; style-src-elem 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(super) fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/", get(index)).route("/assets/{*path}", get(asset))
}

/// Whether the hub embeds a real dashboard build (not the placeholder page).
pub(super) fn built() -> bool {
    DASHBOARD_BUILT
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, cache: &'static str) -> Response {
    let Some((_, bytes)) = ASSETS.iter().find(|(p, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    secured(bytes, content_type(path), cache)
}

/// A page or script of the hub's own, with the dashboard's security headers
/// (strict CSP, no sniffing, no referrer).
pub(crate) fn secured(bytes: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn index() -> Response {
    serve("index.html", "no-cache")
}

async fn asset(Path(path): Path<String>) -> Response {
    // Vite names assets by content hash, so they never change under one name.
    serve(&format!("assets/{path}"), "public, max-age=31536000, immutable")
}
