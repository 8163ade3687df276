//! The recovery numbers of docs/benchmarks.md (`scripts/bench.sh recovery`,
//! or `specbridge-chaos bench [crash|deadlink|bytes]`). Measures and prints;
//! never fails on a number.
//!
//! - **crash**: N bridge processes and a hub process; the hub is killed with
//!   SIGKILL and started again, several times in a row; per bridge, the time
//!   from the hub answering again to the bridge's `connected` (its
//!   `status.json` stamp).
//! - **deadlink**: production timers; the proxy stalls or black-holes an idle
//!   link and a link in the middle of an upload; how long until the bridge
//!   declares the link dead and until the hub shows the machine offline.
//! - **bytes**: the TCP payload of a reconnect with nothing changed, and
//!   where it goes (HTTP upgrade, then each WebSocket frame).

use crate::procs::{BridgeProcess, HubProcess, Timers};
use crate::proxy::Fault;
use crate::rig::{Rig, RigOptions};
use crate::soak::{bridge_home, free_addr, issue_tokens, write};
use crate::{wait_until, HarnessError, HarnessResult};
use specbridge_bridge::{LinkState, Paths};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs the sections whose name contains `filter` (all when `None`).
pub async fn run(bin: &Path, filter: Option<&str>, bridges: usize, crashes: usize) -> HarnessResult<()> {
    let want = |name: &str| filter.is_none_or(|f| name.contains(f));
    if want("bytes") {
        let bytes = reconnect_bytes(12).await?;
        println!("{bytes}");
    }
    if want("crash") {
        hub_crashes(bin, bridges, crashes).await?;
    }
    if want("deadlink") {
        dead_links().await?;
    }
    Ok(())
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Kills the hub `crashes` times under `bridges` bridge processes and prints
/// the reconnect times after each restart.
pub async fn hub_crashes(bin: &Path, bridges: usize, crashes: usize) -> HarnessResult<()> {
    let dir = tempfile::tempdir().map_err(|e| HarnessError::io("creating a temp folder", e))?;
    let data = dir.path().join("hub");
    let (_user, machine_token) = issue_tokens(&data).await?;
    // Machine tokens bind to the first machine: one per bridge.
    let mut tokens = vec![machine_token];
    {
        let store = specbridge_hub::open_store(&data, None).await?;
        for n in 1..bridges {
            tokens.push(
                store
                    .create_token(specbridge_hub::DEFAULT_ACCOUNT, specbridge_hub::TokenKind::Machine, &format!("b{n}"))
                    .await?
                    .secret
                    .expose()
                    .to_owned(),
            );
        }
        store.close().await;
    }
    let mut hub = HubProcess::start(bin, &data, free_addr()?, Timers::default()).await?;
    let url = format!("http://{}", hub.addr());
    let mut homes = Vec::new();
    let mut procs = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let root = dir.path().join(format!("p{n}"));
        write(&root, "specs/001-a/README.md", "---\nstatus: planned\n---\n# A\n")?;
        let home = dir.path().join(format!("b{n}"));
        bridge_home(&home, &url, &root)?;
        procs.push(BridgeProcess::start(bin, &home, token, Timers::default())?);
        homes.push(Paths::at(&home));
    }
    let connected_since = |homes: &[Paths], since: u64| -> Vec<Option<u64>> {
        homes
            .iter()
            .map(|paths| {
                let report = specbridge_bridge::read_status(paths).ok().flatten()?;
                (report.status.link == LinkState::Connected && report.status.updated_ms >= since)
                    .then_some(report.status.updated_ms)
            })
            .collect()
    };
    if !wait_until(Duration::from_secs(60), || async { connected_since(&homes, 0).iter().all(Option::is_some) }).await {
        return Err(HarnessError::Timeout(format!("{bridges} bridges to connect")));
    }
    println!("| hub kill -9 with {bridges} bridges | reconnect after the hub answers again: p50 / p90 / max |");
    println!("|---|---|");
    let mut all = Vec::new();
    for crash in 1..=crashes {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let killed = wall_ms();
        hub.kill9();
        hub.restart().await?;
        let accepting = wall_ms();
        let back = wait_until(Duration::from_secs(90), || async {
            connected_since(&homes, killed).iter().all(Option::is_some)
        })
        .await;
        let mut times: Vec<u64> =
            connected_since(&homes, killed).into_iter().flatten().map(|at| at.saturating_sub(accepting)).collect();
        times.sort_unstable();
        let missing = if back { String::new() } else { format!(" ({} not back after 90 s)", bridges - times.len()) };
        println!(
            "| crash {crash} | {} / {} / {} ms{missing} |",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times.last().copied().unwrap_or(0)
        );
        all.extend(times);
    }
    all.sort_unstable();
    println!(
        "| all {} reconnects | {} / {} / {} ms |",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        all.last().copied().unwrap_or(0)
    );
    drop(procs);
    Ok(())
}

/// The TCP payload of one reconnect with nothing changed, and where it went.
#[derive(Debug, Clone, Default)]
pub struct ReconnectBytes {
    /// Every byte, both ways.
    pub total: usize,
    /// (what, bytes on the wire) in wire order, per direction.
    pub parts: Vec<(String, usize)>,
}

impl std::fmt::Display for ReconnectBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "| reconnect, nothing changed, 1 project: TCP payload | {} B | <= 1,024 B |", self.total)?;
        for (what, bytes) in &self.parts {
            writeln!(f, "|   {what} | {bytes} B | |")?;
        }
        Ok(())
    }
}

/// Measures a reconnect of a one-project bridge with `specs` unchanged specs:
/// the old connection is reset, and the new one is captured whole.
pub async fn reconnect_bytes(specs: usize) -> HarnessResult<ReconnectBytes> {
    let rig = Rig::start(RigOptions { specs, ..RigOptions::default() }).await?;
    // Let the first session go quiet (acks, digest round trip).
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.proxy.capture(true);
    rig.proxy.reset_all();
    let sessions = rig.hub.stats().bridge_upgrade_attempts;
    let back = wait_until(Duration::from_secs(10), || async {
        rig.hub.stats().bridge_upgrade_attempts > sessions && rig.hub.router().is_online(&rig.machine)
    })
    .await;
    if !back {
        return Err(HarnessError::Timeout("the reconnect".into()));
    }
    // The digest and in-sync follow the welcome within milliseconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let captured = rig.proxy.captured();
    let Some(conn) = captured.first() else { return Err(HarnessError::Timeout("a captured connection".into())) };
    let mut parts = Vec::new();
    let up = split_http(&conn.up);
    let down = split_http(&conn.down);
    parts.push(("bridge -> hub: HTTP upgrade request".to_owned(), up.0));
    parts.push(("hub -> bridge: HTTP 101 response".to_owned(), down.0));
    for (label, body) in [("bridge -> hub", up.1), ("hub -> bridge", down.1)] {
        for (what, bytes) in ws_frames(body) {
            parts.push((format!("{label}: {what}"), bytes));
        }
    }
    let total = conn.up.len() + conn.down.len();
    rig.stop().await;
    Ok(ReconnectBytes { total, parts })
}

/// (HTTP head length, the bytes after it).
fn split_http(bytes: &[u8]) -> (usize, &[u8]) {
    match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (at + 4, &bytes[at + 4..]),
        None => (bytes.len(), &[]),
    }
}

/// Labels each WebSocket frame in `bytes` with its message type and wire size.
fn ws_frames(mut bytes: &[u8]) -> Vec<(String, usize)> {
    let codec = specbridge_protocol::Codec::default();
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let has_mask = bytes[1] & 0x80 != 0;
        let mut len = u64::from(bytes[1] & 0x7f);
        let mut at = 2usize;
        if len == 126 && bytes.len() >= 4 {
            len = u64::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            at = 4;
        } else if len == 127 && bytes.len() >= 10 {
            len = u64::from_be_bytes(bytes[2..10].try_into().unwrap_or_default());
            at = 10;
        }
        let mask: Option<[u8; 4]> = has_mask.then(|| bytes.get(at..at + 4).and_then(|m| m.try_into().ok())).flatten();
        if has_mask {
            at += 4;
        }
        let end = at + len as usize;
        let Some(raw) = bytes.get(at..end) else { break };
        let payload: Vec<u8> = match mask {
            Some(m) => raw.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
            None => raw.to_vec(),
        };
        let what = match opcode {
            0x1 => {
                codec.decode_text(&String::from_utf8_lossy(&payload)).map(|m| m.kind().to_owned()).unwrap_or_default()
            }
            0x2 => codec.decode_binary(&payload).map(|m| format!("{} (zstd)", m.kind())).unwrap_or_default(),
            0x8 => "close".into(),
            0x9 => "ping".into(),
            0xa => "pong".into(),
            other => format!("opcode {other}"),
        };
        out.push((what, end));
        bytes = &bytes[end..];
    }
    out
}

/// Production timers; stall and black-hole an idle link and an upload.
pub async fn dead_links() -> HarnessResult<()> {
    println!("| dead link (production timers: ping 30 s, pong 10 s, write 20 s; hub ping 15 s, idle 40 s) | bridge detects | hub shows offline | back after the fault ends |");
    println!("|---|---|---|---|");
    for (fault, upload) in
        [(Fault::Stall, false), (Fault::Stall, true), (Fault::BlackHole, false), (Fault::BlackHole, true)]
    {
        let rig = Rig::start(RigOptions::default()).await?;
        if upload {
            // Slow the link so a 16 MiB upload is still going when the fault hits.
            rig.proxy.set(Fault::Delay(Duration::from_millis(20)));
            write(&rig.root, "specs/009-blob/data.bin", crate::rig::incompressible(16 * 1024 * 1024))?;
            wait_until(Duration::from_secs(20), || async { rig.proxy.bytes().0 > 2 * 1024 * 1024 }).await;
        }
        let started = Instant::now();
        rig.proxy.set(fault);
        let (bridge, hub) = tokio::join!(
            async {
                rig.link_is(Duration::from_secs(120), |l| *l != LinkState::Connected).await.then(|| started.elapsed())
            },
            async { rig.hub_online(Duration::from_secs(120), false).await.then(|| started.elapsed()) },
        );
        let healed = Instant::now();
        rig.proxy.set(Fault::None);
        let back = rig.link_is(Duration::from_secs(60), |l| *l == LinkState::Connected).await.then(|| healed.elapsed());
        let show =
            |d: Option<Duration>| d.map_or("not within 120 s".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        let name = match (fault, upload) {
            (Fault::Stall, false) => "stall, idle link",
            (Fault::Stall, true) => "stall, mid-upload (16 MiB)",
            (_, false) => "black hole, idle link",
            (_, true) => "black hole, mid-upload (16 MiB)",
        };
        println!("| {name} | {} | {} | {} |", show(bridge), show(hub), show(back));
        rig.stop().await;
    }
    Ok(())
}
