//! The few HTTP calls the app makes to a hub besides the bridge link: the
//! device-code pairing, checking and revoking its own token, and checking a
//! machine name. Blocking (ureq); callers run them on the blocking pool.

use crate::error::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use specbridge_bridge::Token;
use specbridge_protocol::{ErrorBody, ErrorCode};
use std::time::Duration;

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Checks and normalizes a hub URL as typed: adds `https://` when no scheme
/// is given and drops trailing slashes.
pub fn normalize_hub_url(input: &str) -> AppResult<String> {
    let raw = input.trim();
    let invalid = |reason| AppError::InvalidHubUrl { url: input.to_owned(), reason };
    if raw.is_empty() {
        return Err(invalid("it is empty"));
    }
    let url = if raw.contains("://") { raw.to_owned() } else { format!("https://{raw}") };
    let url = url.trim_end_matches('/').to_owned();
    let Some((scheme, rest)) = url.split_once("://") else { return Err(invalid("it has no scheme")) };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("only http:// and https:// are supported"));
    }
    if rest.is_empty() || rest.starts_with('/') || rest.chars().any(|c| c.is_whitespace()) {
        return Err(invalid("it has no host"));
    }
    Ok(url)
}

/// `POST /v1/pair/start` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct PairStart {
    /// Secret the app polls with; never shown.
    pub device_code: String,
    /// Short code the user confirms on the hub (e.g. `ABCD-1234`).
    pub user_code: String,
    /// The hub page where the user confirms it.
    pub verification_url: String,
    /// The same page with the code filled in.
    #[serde(default)]
    pub verification_url_complete: Option<String>,
    /// Seconds between polls.
    pub interval: u64,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

/// `POST /v1/pair/poll` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PollAnswer {
    /// Nobody confirmed the code yet.
    Pending,
    /// Confirmed: here is the machine token (shown once).
    Approved {
        /// The new machine token.
        machine_token: String,
    },
    /// The code expired.
    Expired,
    /// The user refused.
    Denied,
}

/// `GET /v1/tokens/self` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenSelf {
    /// Token id.
    pub id: String,
    /// Its name at the hub.
    pub name: String,
    /// `machine` or `user`.
    pub kind: String,
}

/// `GET /v1/machines/self/name-check` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct NameCheck {
    /// No other machine of the account has this name.
    pub available: bool,
    /// A free name close to it.
    pub suggestion: String,
}

#[derive(Serialize)]
struct StartBody<'a> {
    machine_name: &'a str,
    machine_id: &'a str,
    os: &'a str,
}

/// A hub's HTTP API.
#[derive(Debug, Clone)]
pub struct HubClient {
    base: String,
    agent: ureq::Agent,
}

impl HubClient {
    /// A client for a normalized hub URL.
    pub fn new(base: &str) -> Self {
        // The bridge's TLS (native-tls, the OS's CA store), so a hub behind a
        // private CA pairs exactly when its link would connect.
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("specbridge-tray/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { base: base.trim_end_matches('/').to_owned(), agent }
    }

    /// Starts a device-code pairing for this machine.
    pub fn pair_start(&self, machine_name: &str, machine_id: &str) -> AppResult<PairStart> {
        let body = StartBody { machine_name, machine_id, os: std::env::consts::OS };
        let response = self.agent.post(self.url("/v1/pair/start")).send_json(&body);
        self.json(response)
    }

    /// Asks whether the code was confirmed.
    pub fn pair_poll(&self, device_code: &str) -> AppResult<PollAnswer> {
        let response =
            self.agent.post(self.url("/v1/pair/poll")).send_json(serde_json::json!({ "device_code": device_code }));
        self.json(response)
    }

    /// What the hub knows about this token (checks a pasted token).
    pub fn whoami(&self, token: &Token) -> AppResult<TokenSelf> {
        let response = self.agent.get(self.url("/v1/tokens/self")).header("Authorization", bearer(token)).call();
        self.json(response)
    }

    /// Revokes this token at the hub (Unpair).
    pub fn revoke_self(&self, token: &Token) -> AppResult<()> {
        let response = self.agent.delete(self.url("/v1/tokens/self")).header("Authorization", bearer(token)).call();
        let mut response = self.sent(response)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refused(&mut response))
        }
    }

    /// Whether another machine of the account already has `name`.
    pub fn name_check(&self, token: &Token, name: &str, machine_id: &str) -> AppResult<NameCheck> {
        let response = self
            .agent
            .get(self.url("/v1/machines/self/name-check"))
            .query("name", name)
            .query("machine_id", machine_id)
            .header("Authorization", bearer(token))
            .call();
        self.json(response)
    }

    /// The version of a newer release the hub offers for this platform, if
    /// any (`GET /v1/updates/{target}/{arch}/{version}`, 200 or 204). Only
    /// for showing it: the window's updater downloads and verifies the
    /// signature before anything is installed.
    pub fn update_offered(&self) -> AppResult<Option<String>> {
        #[derive(Deserialize)]
        struct Offer {
            version: String,
        }
        // The names tauri-plugin-updater fills into the same endpoint.
        let target = match std::env::consts::OS {
            "macos" => "darwin",
            os => os,
        };
        let arch = match std::env::consts::ARCH {
            "x86" => "i686",
            "arm" => "armv7",
            arch => arch,
        };
        let path = format!("/v1/updates/{target}/{arch}/{}", env!("CARGO_PKG_VERSION"));
        let response = self.agent.get(self.url(&path)).call();
        let mut response = self.sent(response)?;
        match response.status().as_u16() {
            204 => Ok(None),
            200 => {
                let offer: Offer = response.body_mut().read_json().map_err(|e| {
                    AppError::HubRefused(ErrorBody::new(
                        ErrorCode::Invalid,
                        format!("unexpected answer from the hub: {e}"),
                    ))
                })?;
                Ok(Some(offer.version))
            }
            _ => Err(refused(&mut response)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn sent(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> AppResult<ureq::http::Response<ureq::Body>> {
        response.map_err(|e| AppError::HubUnreachable { url: self.base.clone(), detail: e.to_string() })
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> AppResult<T> {
        let mut response = self.sent(response)?;
        if !response.status().is_success() {
            return Err(refused(&mut response));
        }
        response.body_mut().read_json::<T>().map_err(|e| {
            AppError::HubRefused(ErrorBody::new(ErrorCode::Invalid, format!("unexpected answer from the hub: {e}")))
        })
    }
}

fn bearer(token: &Token) -> String {
    format!("Bearer {}", token.expose())
}

/// The hub's `{"error": …}` body, or a generic one naming the status.
fn refused(response: &mut ureq::http::Response<ureq::Body>) -> AppError {
    #[derive(Deserialize)]
    struct Wrapper {
        error: ErrorBody,
    }
    let status = response.status();
    match response.body_mut().read_json::<Wrapper>() {
        Ok(wrapper) => AppError::HubRefused(wrapper.error),
        Err(_) => {
            let code = if status.as_u16() == 404 { ErrorCode::NotFound } else { ErrorCode::Unknown };
            let message = if status.as_u16() == 404 {
                "this hub has no pairing API (is it older than the app, or not a specbridge hub?)".to_owned()
            } else {
                format!("HTTP {status}")
            };
            AppError::HubRefused(ErrorBody::new(code, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_urls_are_normalized_or_refused() {
        assert_eq!(normalize_hub_url(" hub.example.com/ ").unwrap(), "https://hub.example.com");
        assert_eq!(normalize_hub_url("http://127.0.0.1:7700").unwrap(), "http://127.0.0.1:7700");
        for bad in ["", "ftp://x", "https://", "http:///x", "a b"] {
            let error = normalize_hub_url(bad).unwrap_err();
            assert_eq!(error.code(), "invalid_hub_url", "{bad:?}");
        }
    }

    #[test]
    fn an_unreachable_hub_is_a_typed_error() {
        // Port 9 (discard) on loopback: nothing listens there in CI.
        let client = HubClient::new("http://127.0.0.1:9");
        let error = client.pair_start("m", "id").unwrap_err();
        assert_eq!(error.code(), "hub_unreachable");
    }
}
