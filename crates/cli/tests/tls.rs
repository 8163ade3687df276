//! The headless bridge against an https:// hub: a real TLS terminator on
//! loopback (rustls, a CA made in the test) in front of a real hub, and the
//! real `specbridge` binary (the system's OpenSSL through native-tls)
//! trusting that CA through `SSL_CERT_FILE`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use support::*;
use tempfile::TempDir;

/// A certificate authority and a server certificate it signed.
struct Pki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

/// A CA and a certificate for 127.0.0.1, where the tests' hub listens.
fn pki(ca_name: &str) -> Pki {
    pki_for(ca_name, "127.0.0.1")
}

fn pki_for(ca_name: &str, server_name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![server_name.to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key_der)
        .unwrap();
    Pki { ca_pem: ca.pem(), server }
}

/// Terminates TLS on a loopback port and forwards the bytes to `hub`, as a
/// reverse proxy in front of a self-hosted hub does.
async fn tls_terminator(server: rustls::ServerConfig, hub: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(hub).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    addr
}

fn specbridge(home: &Path, ca_file: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_specbridge"));
    cmd.args(args)
        .env("SPECBRIDGE_HOME", home)
        .env("SSL_CERT_FILE", ca_file)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SPECBRIDGE_TOKEN")
        .env("NO_COLOR", "1");
    cmd
}

/// Logs in over https, adds the project and starts `specbridge run`.
fn start_bridge(home: &Path, ca_file: &Path, hub_url: &str, token: &str, root: &Path) -> Child {
    use std::io::Write as _;
    let mut login = specbridge(home, ca_file, &["login", "--hub", hub_url, "--vault", "file", "--token-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(format!("{token}\n").as_bytes()).unwrap();
    assert!(login.wait_with_output().unwrap().status.success());
    let added =
        specbridge(home, ca_file, &["projects", "add", root.to_str().unwrap(), "--name", "app"]).output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    specbridge(home, ca_file, &["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn status(home: &Path, ca_file: &Path) -> String {
    String::from_utf8(specbridge(home, ca_file, &["status"]).output().unwrap().stdout).unwrap()
}

struct Setup {
    dir: TempDir,
    hub: TestHub,
    hub_url: String,
    root: PathBuf,
    ca_file: PathBuf,
}

async fn setup() -> Setup {
    setup_with(pki("specbridge test hub CA")).await
}

async fn setup_with(pki: Pki) -> Setup {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    leanspec_project(&root, 3);
    let hub = TestHub::start(&dir.path().join("hub"), None).await;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let addr = tls_terminator(pki.server, hub.addr()).await;
    Setup { hub_url: format!("https://{addr}"), dir, hub, root, ca_file }
}

// Regression: with no rustls crypto provider compiled in, the headless bridge
// aborted ("Could not automatically determine the process-level
// CryptoProvider") at its first handshake with any https:// hub.
#[tokio::test]
async fn wss_without_a_crypto_provider_aborted_the_bridge() {
    let s = setup().await;
    let home = s.dir.path().join("home");
    let mut child = start_bridge(&home, &s.ca_file, &s.hub_url, &s.hub.machine_token, &s.root);
    let machines = || async { s.hub.get("/v1/machines").await.json() };
    eventually("machine online over wss", || async { machines().await[0]["online"] == true }).await;
    let machine = machines().await[0]["id"].as_str().unwrap().to_owned();
    eventually("files synced over wss", || async { s.hub.listing(&machine, "app").await.len() == 3 }).await;
    assert!(child.try_wait().unwrap().is_none(), "the bridge exited");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_hub_certificate_from_an_untrusted_ca_is_refused_with_a_clear_error() {
    let s = setup().await;
    // The machine trusts another CA only: the hub's certificate must not pass.
    let other = s.dir.path().join("other-ca.pem");
    std::fs::write(&other, pki("some other CA").ca_pem).unwrap();
    let home = s.dir.path().join("home");
    let mut child = start_bridge(&home, &other, &s.hub_url, &s.hub.machine_token, &s.root);
    let home2 = home.clone();
    eventually("status reports the certificate error", || {
        let (home, other) = (home2.clone(), other.clone());
        async move { status(&home, &other).contains("certificate") }
    })
    .await;
    let shown = status(&home, &other);
    assert!(shown.contains("TLS with the hub failed") && shown.contains("certificate verify failed"), "{shown}");
    // The error says what to do about it.
    assert!(shown.contains("SSL_CERT_FILE") && shown.contains("ca-certificates"), "{shown}");
    assert!(child.try_wait().unwrap().is_none(), "the bridge exited instead of retrying");
    let machines = s.hub.get("/v1/machines").await.json();
    assert!(machines.as_array().unwrap().iter().all(|m| m["online"] != true), "a bridge got through: {machines}");
    child.kill().unwrap();
    child.wait().unwrap();
}

// With the switch from rustls to the platform's TLS, the name check is the
// library's to make: a certificate a trusted CA signed for another host must
// not pass for this one.
#[tokio::test]
async fn a_trusted_certificate_for_another_host_is_refused() {
    let s = setup_with(pki_for("specbridge test hub CA", "hub.example.org")).await;
    let home = s.dir.path().join("home");
    let mut child = start_bridge(&home, &s.ca_file, &s.hub_url, &s.hub.machine_token, &s.root);
    let home2 = home.clone();
    let ca_file = s.ca_file.clone();
    eventually("status reports the name mismatch", || {
        let (home, ca_file) = (home2.clone(), ca_file.clone());
        async move { status(&home, &ca_file).contains("TLS with the hub failed") }
    })
    .await;
    let shown = status(&home, &s.ca_file);
    assert!(shown.contains("certificate verify failed"), "{shown}");
    let machines = s.hub.get("/v1/machines").await.json();
    assert!(machines.as_array().unwrap().iter().all(|m| m["online"] != true), "a bridge got through: {machines}");
    child.kill().unwrap();
    child.wait().unwrap();
}
