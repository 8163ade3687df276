#![allow(dead_code, unreachable_pub)]
//! HTTP for the tests: the fault harness's small HTTP/1.1 client over a real
//! TCP socket (`specbridge_faults::http`). A test's hub is always up, so a
//! transport error fails the test here.

use std::net::SocketAddr;

pub use specbridge_faults::http::Reply;

/// Sends one request and reads the whole response (`Connection: close`).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    specbridge_faults::http::request(addr, method, path, token, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}
