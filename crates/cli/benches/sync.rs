//! The benchmark behind docs/benchmarks.md. Not a timed test: it measures and
//! prints, and never fails on a number.
//!
//! ```sh
//! ./scripts/bench.sh            # builds release binaries, then runs this
//! ```
//!
//! In-process parts (latency, initial sync, reconnect bytes) run a real hub and
//! a real engine over loopback. Process parts (bridge RSS/CPU, hub memory per
//! connection, binary size) use the release binaries in target/release.
#![allow(clippy::unwrap_used, missing_docs)] // a bench binary: a panic is a failed run

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;
use tempfile::TempDir;

const P: &str = "bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
        let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
        println!("| what | result | target |\n|---|---|---|");
        if want("latency") {
            latency().await;
        }
        if want("corpus") {
            corpus_sync().await;
        }
        if want("process") {
            process_numbers().await;
        }
    });
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn latency() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    leanspec_project(&root, 20);
    let hub = TestHub::start(&dir.path().join("hub"), None).await;
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
    let engine = home.start(&hub.machine_token).await;
    connected(&engine).await;
    let machine = home.machine_id();
    eventually("initial sync", || async { hub.listing(&machine, P).await.len() == 20 }).await;

    // file saved -> hub has it (stored and readable through the API)
    let rel = "specs/001-feature-1/README.md";
    let mut samples = Vec::new();
    for i in 0..200 {
        let body = format!("---\nstatus: planned\n---\n# Edit {i}\n");
        let start = Instant::now();
        write(&root, rel, &body);
        loop {
            if hub.file(&machine, P, rel).await.as_deref() == Some(body.as_bytes()) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        samples.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (p50, p99) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99));
    println!("| file saved -> hub has it (n=200) | p50 {} / p99 {} | p50 <= 60 ms, p99 <= 150 ms |", ms(p50), ms(p99));

    // hub write -> on disk -> ack
    let url = format!("/v1/machines/{machine}/projects/{P}/files/specs/002-feature-2/README.md");
    let mut etag = hub.get(&url).await.etag();
    let mut samples = Vec::new();
    for i in 0..200 {
        let body = format!("---\nstatus: complete\n---\n# Remote {i}\n");
        let start = Instant::now();
        let reply = hub.put(&url, &[("If-Match", &etag)], body.as_bytes()).await;
        samples.push(start.elapsed());
        assert_eq!(reply.status, 200, "{}", reply.text());
        etag = reply.json()["result"]["hash"].as_str().unwrap().to_owned();
    }
    let (p50, p99) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99));
    println!("| hub write -> on disk -> ack (n=200) | p50 {} / p99 {} | p99 <= 50 ms |", ms(p50), ms(p99));
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    hub.handle.shutdown().await.unwrap();
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/leanspec")
}

fn copy_tree(from: &Path, to: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            let (f, b) = copy_tree(&entry.path(), &target);
            files += f;
            bytes += b;
        } else {
            bytes += std::fs::copy(entry.path(), &target).unwrap();
            files += 1;
        }
    }
    (files, bytes)
}

async fn corpus_sync() {
    let corpus = corpus_dir();
    if !corpus.exists() {
        println!("| initial sync of the LeanSpec corpus | skipped: {} not found | |", corpus.display());
        return;
    }
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    let (files, raw) = copy_tree(&corpus.join("specs"), &root.join("specs"));
    let hub_data = dir.path().join("hub");
    let hub = TestHub::start(&hub_data, None).await;
    let addr = hub.addr();
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
    let machine = home.machine_id();

    let start = Instant::now();
    let engine = home.start(&hub.machine_token).await;
    eventually("corpus synced", || async { hub.listing(&machine, P).await.len() as u64 == files }).await;
    let took = start.elapsed();
    let stats = hub.handle.stats();
    let wire = stats.bridge_bytes_in + stats.bridge_bytes_out;
    println!(
        "| initial sync of the LeanSpec corpus ({files} files, {} KiB raw) | {} , {} KiB on the wire = {:.0} % of raw | <= 1 s, <= 40 % |",
        raw / 1024,
        ms(took),
        wire / 1024,
        wire as f64 * 100.0 / raw as f64
    );

    // Reconnect with nothing changed: restart the hub, count every byte of the new session.
    let TestHub { handle, user_token, .. } = hub;
    handle.shutdown().await.unwrap();
    let handle = start_hub(&hub_data, Some(addr)).await;
    let started = Instant::now();
    connected(&engine).await;
    let hub = TestHub { handle, user_token, machine_token: String::new() };
    // Give the digest round trip time to finish before reading the counters.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = hub.handle.stats();
    println!(
        "| reconnect after hub restart, nothing changed (1 project, {files} files) | {} B on the wire, back in {} | <= 1 KB per project; p50 <= 1 s |",
        stats.bridge_bytes_in + stats.bridge_bytes_out,
        ms(started.elapsed())
    );
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    hub.handle.shutdown().await.unwrap();
}

fn release_bin(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release").join(name);
    path.exists().then_some(path)
}

fn proc_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 after ')'.
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

async fn process_numbers() {
    let (Some(bridge_bin), Some(hub_bin)) = (release_bin("specbridge"), release_bin("specbridge-hub")) else {
        println!(
            "| process numbers | skipped: run `cargo build --release -p specbridge-cli -p specbridge-hub` first | |"
        );
        return;
    };
    let size = std::fs::metadata(&bridge_bin).unwrap().len();
    println!("| headless bridge binary, stripped (linux x86_64) | {:.2} MiB | <= 3 MB |", size as f64 / 1048576.0);
    bridge_idle(&bridge_bin, &hub_bin).await;
    hub_per_connection(&hub_bin).await;
}

async fn bridge_idle(bridge_bin: &Path, hub_bin: &Path) {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    for i in 0..10_000 {
        write(
            &root,
            &format!("specs/{:03}-dir/{i:05}.md", i / 100),
            format!("# File {i}\n\nSome text for file {i}.\n"),
        );
    }
    let hub_data = dir.path().join("hub");
    let mut hub = spawn_hub(hub_bin, &hub_data).await;
    let token = create_token(&hub_data, specbridge_hub::TokenKind::Machine).await;
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.1, &[(P, &root)]);
    let vault = specbridge_bridge::vault::FileVault::new(home.paths.token_file());
    specbridge_bridge::Vault::store(&vault, &hub.1, &specbridge_bridge::Token::new(token)).unwrap();
    let mut config = home.config.clone();
    config.vault = specbridge_bridge::VaultChoice::File;
    config.save(&home.paths).unwrap();

    // The default service settings: the environment the shipped systemd unit sets.
    let service_env = service_environment();
    let mut bridge = std::process::Command::new(bridge_bin)
        .arg("run")
        .envs(service_env.iter().map(|(k, v)| (k, v)))
        .env("SPECBRIDGE_HOME", &home.paths.config_dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let user = create_token(&hub_data, specbridge_hub::TokenKind::User).await;
    let addr: std::net::SocketAddr = hub.1.trim_start_matches("http://").parse().unwrap();
    let machine = home.machine_id();
    let start = Instant::now();
    loop {
        let reply =
            http::request(addr, "GET", &format!("/v1/machines/{machine}/projects/{P}/files"), Some(&user), &[], b"")
                .await;
        if reply.status == 200 && reply.json().as_array().map(|a| a.len()) == Some(10_000) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "10k sync did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let synced = start.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = bridge.id();
    let ticks_before = proc_cpu_ticks(pid);
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;
    let ticks = proc_cpu_ticks(pid) - ticks_before;
    let rss = proc_rss_kib(pid);
    // Clock ticks are 1/100 s on Linux.
    let cpu_pct = ticks as f64 / 100.0 / window.as_secs_f64() * 100.0;
    println!("| bridge watching 10k files: initial sync | {} | |", ms(synced));
    let env: Vec<String> = service_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "| bridge idle RSS watching 10k files | {:.1} MiB ({:.1} MB; service environment: {}) | <= 15 MB |",
        rss as f64 / 1024.0,
        rss as f64 * 1024.0 / 1e6,
        env.join(" ")
    );
    println!("| bridge idle CPU over {} s | {cpu_pct:.3} % ({ticks} ticks) | <= 0.05 % |", window.as_secs());
    let _ = bridge.kill();
    let _ = bridge.wait();
    let _ = hub.0.kill();
    let _ = hub.0.wait();
}

/// The `Environment=` lines of the shipped systemd unit (installers/headless).
fn service_environment() -> Vec<(String, String)> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../installers/headless/specbridge.service");
    let text = std::fs::read_to_string(unit).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("Environment="))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

async fn hub_per_connection(hub_bin: &Path) {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};
    const N: usize = 1000;
    let dir = TempDir::new().unwrap();
    let hub_data = dir.path().join("hub");
    let mut hub = spawn_hub(hub_bin, &hub_data).await;
    let store = specbridge_hub::open_store(&hub_data, None).await.unwrap();
    let mut tokens = Vec::with_capacity(N);
    for i in 0..N {
        tokens.push(
            store
                .create_token(specbridge_hub::DEFAULT_ACCOUNT, specbridge_hub::TokenKind::Machine, &format!("m{i}"))
                .await
                .unwrap(),
        );
    }
    drop(store);
    let url = format!("{}/v1/bridge", hub.1.replace("http://", "ws://"));
    let codec = specbridge_protocol::Codec::default();
    // Settle, then measure the baseline after one connection so lazy init is not counted per connection.
    let mut sockets = Vec::with_capacity(N);
    let mut baseline = 0;
    for (i, token) in tokens.iter().enumerate() {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("Authorization", format!("Bearer {}", token.secret.expose()).parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let hello = specbridge_protocol::Message::Hello(specbridge_protocol::Hello {
            protocol: specbridge_protocol::PROTOCOL_VERSION,
            min_protocol: 1,
            capabilities: vec![],
            machine: specbridge_protocol::MachineInfo {
                id: format!("machine-{i}"),
                name: format!("m{i}"),
                os: "linux".into(),
                arch: "x86_64".into(),
                app_version: "bench".into(),
            },
            projects: vec![],
            digests: None,
        });
        let frame = match codec.encode(&hello).unwrap() {
            specbridge_protocol::Frame::Text(text) => Ws::Text(text.into()),
            specbridge_protocol::Frame::Binary(bytes) => Ws::Binary(bytes.into()),
        };
        ws.send(frame).await.unwrap();
        // Wait for welcome so the session is fully set up.
        while let Some(Ok(frame)) = ws.next().await {
            if matches!(frame, Ws::Text(_) | Ws::Binary(_)) {
                break;
            }
        }
        sockets.push(ws);
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            baseline = proc_rss_kib(hub.0.id());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = proc_rss_kib(hub.0.id());
    let per = (after.saturating_sub(baseline)) as f64 * 1024.0 / (N - 1) as f64;
    println!("| hub memory per idle bridge connection ({N} connections) | {:.1} KB | <= 16 KB |", per / 1000.0);
    drop(sockets);
    let _ = hub.0.kill();
    let _ = hub.0.wait();
}

async fn spawn_hub(hub_bin: &Path, data: &Path) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(hub_bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, url)
}

async fn create_token(data: &Path, kind: specbridge_hub::TokenKind) -> String {
    let store = specbridge_hub::open_store(data, None).await.unwrap();
    store.create_token(specbridge_hub::DEFAULT_ACCOUNT, kind, "bench").await.unwrap().secret.expose().to_owned()
}
