//! The two-node numbers of docs/benchmarks.md (`scripts/bench.sh cluster
//! [bridges]`, or `specbridge-chaos bench-cluster --bridges N`): two hub
//! processes on one Postgres and one NATS behind haproxy, all real. Measures
//! and prints; never fails on a number.
//!
//! - **memory**: N idle bridges (raw WebSocket clients: `hello`, `welcome`,
//!   then quiet) through the balancer, all on node A; A's RSS per connection.
//! - **failover**: A is killed with SIGKILL; how long until every bridge has
//!   its `welcome` from B again (each retries with jittered backoff, as the
//!   real bridge does).
//! - **command**: a read sent by a user on B to a machine on A (request/reply
//!   on NATS) against the same read on A.
//! - **event**: a file change from a machine on A until a dashboard on B has
//!   its `file_changed`, against a dashboard on A.

use crate::http::request;
use crate::procs::{HubProcess, Timers};
use crate::soak::free_addr;
use crate::{HarnessError, HarnessResult};
use futures_util::{SinkExt as _, StreamExt as _};
use specbridge_engines::{Haproxy, Nats, Postgres};
use specbridge_hub::{TokenKind, DEFAULT_ACCOUNT};
use specbridge_protocol::{Codec, Frame, Hello, MachineInfo, Message, ProjectInfo, Response};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn setup(what: &str) -> impl FnOnce(String) -> HarnessError + '_ {
    move |why| HarnessError::io(what.to_owned(), std::io::Error::other(why))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

fn hello(machine: &str, projects: Vec<ProjectInfo>) -> Message {
    Message::Hello(Hello {
        protocol: specbridge_protocol::PROTOCOL_VERSION,
        min_protocol: 1,
        capabilities: vec![],
        machine: MachineInfo {
            id: machine.to_owned(),
            name: machine.to_owned(),
            os: "linux".into(),
            arch: "x86_64".into(),
            app_version: "bench".into(),
        },
        projects,
        digests: None,
    })
}

async fn send(ws: &mut Socket, message: &Message) -> Result<(), String> {
    let frame = match Codec::default().encode(message).map_err(|e| e.to_string())? {
        Frame::Text(text) => Ws::Text(text.into()),
        Frame::Binary(bytes) => Ws::Binary(bytes.into()),
    };
    ws.send(frame).await.map_err(|e| e.to_string())
}

/// Dials `/v1/bridge` at `addr`, says hello and waits for the welcome.
async fn join(addr: SocketAddr, token: &str, machine: &str, projects: Vec<ProjectInfo>) -> Result<Socket, String> {
    let mut request = format!("ws://{addr}/v1/bridge").into_client_request().map_err(|e| e.to_string())?;
    let bearer = format!("Bearer {token}").parse().map_err(|_| "bad token".to_owned())?;
    request.headers_mut().insert("Authorization", bearer);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    send(&mut ws, &hello(machine, projects)).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Ws::Text(_) | Ws::Binary(_)))) => return Ok(ws),
            Ok(Some(Ok(_))) => continue,
            other => return Err(format!("no welcome: {other:?}")),
        }
    }
}

/// One idle bridge: joins through the balancer, stays quiet, and joins
/// again (backoff 0.5-1 s, doubling to 8 s, jittered) whenever it is dropped.
/// `joined` counts the sessions open now, `welcomes` every welcome ever had.
async fn idle_bridge(
    lb: SocketAddr,
    token: String,
    machine: String,
    joined: Arc<AtomicUsize>,
    welcomes: Arc<AtomicUsize>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match join(lb, &token, &machine, vec![]).await {
            Ok(mut ws) => {
                welcomes.fetch_add(1, Relaxed);
                joined.fetch_add(1, Relaxed);
                backoff = Duration::from_millis(500);
                while let Some(Ok(_)) = ws.next().await {}
                joined.fetch_sub(1, Relaxed);
            }
            Err(_) => backoff = (backoff * 2).min(Duration::from_secs(8)),
        }
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        tokio::time::sleep(backoff.mul_f64(jitter)).await;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs every section with `bridges` idle bridges.
pub async fn run(bin: &Path, bridges: usize) -> HarnessResult<()> {
    let postgres = Postgres::shared().ok_or_else(|| setup("Postgres")("not installed".into()))?;
    let nats = Nats::start().ok_or_else(|| setup("NATS")("not installed".into()))?;
    let database = postgres.fresh_database();
    let dir = tempfile::tempdir().map_err(|e| HarnessError::io("creating a temp folder", e))?;
    let admin = specbridge_hub::open_store(&dir.path().join("admin"), Some(&database)).await?;
    let user = admin.create_token(DEFAULT_ACCOUNT, TokenKind::User, "bench").await?.secret.expose().to_owned();
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(bridges + 1);
    let mut made = futures_util::stream::iter(0..=bridges)
        .map(|i| {
            let admin = Arc::clone(&admin);
            async move { admin.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, &format!("m{i}")).await }
        })
        .buffer_unordered(8);
    while let Some(token) = made.next().await {
        tokens.push(token?.secret.expose().to_owned());
    }
    drop(made);
    admin.close().await;
    eprintln!("{} machine tokens in {:.1} s", tokens.len(), started.elapsed().as_secs_f64());

    let engines = Some((database, nats.url()));
    let (a_addr, b_addr) = (free_addr()?, free_addr()?);
    let timers = Timers::default();
    let mut node_a = HubProcess::start_node(bin, &dir.path().join("a"), a_addr, timers, engines.clone()).await?;
    let node_b = HubProcess::start_node(bin, &dir.path().join("b"), b_addr, timers, engines).await?;
    // haproxy holds two descriptors per bridge: several balancers keep each
    // under the machine's open-file limit (RLIMIT_NOFILE; 20,000 here).
    let per_balancer = 4000;
    let mut balancers = Vec::new();
    for _ in 0..bridges.div_ceil(per_balancer).max(1) {
        let lb = Haproxy::start_sized(&[a_addr, b_addr], per_balancer * 2 + 100)
            .ok_or_else(|| setup("haproxy")("not installed".into()))?;
        balancers.push(lb);
    }
    let lb_for = |i: usize| balancers[i % balancers.len()].addr();

    // memory
    let responder_token = tokens.pop().unwrap_or_default();
    let joined = Arc::new(AtomicUsize::new(0));
    let welcomes = Arc::new(AtomicUsize::new(0));
    let a_pid = node_a.pid().unwrap_or(0);
    let mut clients = tokio::task::JoinSet::new();
    let (first_token, rest) = tokens.split_first().ok_or_else(|| setup("tokens")("none".into()))?;
    clients.spawn(idle_bridge(
        lb_for(0),
        first_token.clone(),
        "bench-0".into(),
        Arc::clone(&joined),
        Arc::clone(&welcomes),
    ));
    while joined.load(Relaxed) < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(a_pid);
    let started = Instant::now();
    for (i, token) in rest.iter().enumerate() {
        clients.spawn(idle_bridge(
            lb_for(i + 1),
            token.clone(),
            format!("bench-{}", i + 1),
            Arc::clone(&joined),
            Arc::clone(&welcomes),
        ));
        // At most 256 handshakes in flight.
        while clients.len() - joined.load(Relaxed) > 256 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    while joined.load(Relaxed) < bridges {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_kb = rss_kib(a_pid).saturating_sub(baseline) as f64 * 1.024 / (bridges - 1).max(1) as f64;
    println!(
        "| hub node memory per idle bridge ({bridges} bridges on one node, Postgres + NATS) | {per_kb:.1} KB \
         (all connected in {connect_s:.1} s) | <= 12 KB |"
    );

    // failover: the next welcome (from B) of every bridge that was on A.
    // Under the connect storm haproxy sends a few to B already (a connect to
    // A that timed out is redispatched): those never lose their session.
    let on_a = bridges.saturating_sub(usize::try_from(bridges_on(b_addr).await).unwrap_or(0));
    let before = welcomes.load(Relaxed);
    let killed = Instant::now();
    node_a.kill9();
    let rejoined = || welcomes.load(Relaxed) - before;
    let mut half = None;
    while rejoined() < on_a && killed.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if half.is_none() && rejoined() * 2 >= on_a {
            half = Some(killed.elapsed().as_secs_f64());
        }
    }
    let all_back = killed.elapsed().as_secs_f64();
    let half = half.unwrap_or(all_back);
    let on_b = bridges_on(b_addr).await;
    let all = if rejoined() >= on_a {
        format!("all {on_a} in {all_back:.1} s")
    } else {
        format!("only {} back within {all_back:.0} s", rejoined())
    };
    println!(
        "| all bridges back after a node is killed ({bridges} bridges, through haproxy) | half in {half:.1} s, \
         {all} ({on_b} sessions on node B; {} haproxy processes) | <= 30 s |",
        balancers.len()
    );
    clients.abort_all();
    while clients.join_next().await.is_some() {}

    // command and event: a responder bridge on A (restarted), callers on A and B.
    node_a.restart().await?;
    let project = ProjectInfo {
        id: "p".into(),
        name: "p".into(),
        layout: specbridge_protocol::Layout::Generic,
        read_only: false,
    };
    let ws = join(a_addr, &responder_token, "responder", vec![project]).await.map_err(setup("the responder"))?;
    let (mut sink, mut stream) = ws.split();
    let (to_bridge, mut outgoing) = tokio::sync::mpsc::channel::<Message>(64);
    let answerer = to_bridge.clone();
    let responder = tokio::spawn(async move {
        let codec = Codec::default();
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    let message = match frame {
                        Ws::Text(t) => codec.decode_text(t.as_str()).ok(),
                        Ws::Binary(b) => codec.decode_binary(&b).ok(),
                        _ => None,
                    };
                    if let Some(Message::Command(command)) = message {
                        let _ = answerer.send(Message::Response(Response::ok(command.id, serde_json::json!([])))).await;
                    }
                }
                out = outgoing.recv() => {
                    let Some(out) = out else { break };
                    let frame = match codec.encode(&out) {
                        Ok(Frame::Text(t)) => Ws::Text(t.into()),
                        Ok(Frame::Binary(b)) => Ws::Binary(b.into()),
                        Err(_) => continue,
                    };
                    if sink.send(frame).await.is_err() { break }
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (label, addr) in [("same node", a_addr), ("across nodes", b_addr)] {
        let mut samples = Vec::new();
        for _ in 0..300 {
            let t = Instant::now();
            let reply = request(addr, "GET", "/v1/machines/responder/projects/p/specs", Some(&user), &[], b"").await;
            if reply.is_ok_and(|r| r.status == 200) {
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "| command to a bridge, REST caller {label} ({} reads) | p50 {:.2} ms, p99 {:.2} ms | |",
            samples.len(),
            pct(&samples, 0.5),
            pct(&samples, 0.99)
        );
    }
    let mut seq = 0u64;
    for (label, addr) in [("same node", a_addr), ("across nodes", b_addr)] {
        let mut dashboard = dashboard(addr, &user).await.map_err(setup("a dashboard"))?;
        let mut samples = Vec::new();
        for _ in 0..100 {
            seq += 1;
            let path = format!("bench/{seq}.md");
            let body = format!("change {seq}\n");
            let upsert = specbridge_protocol::FileUpsert {
                seq,
                project: "p".into(),
                path: path.clone(),
                hash: specbridge_protocol::content_hash(body.as_bytes()),
                size: body.len() as u64,
                mtime_ms: 1,
                offset: 0,
                last: true,
                content: specbridge_protocol::Content::from_bytes(body.as_bytes()),
            };
            let t = Instant::now();
            let _ = to_bridge.send(Message::FileUpsert(upsert)).await;
            if heard(&mut dashboard, &path).await {
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "| file change -> dashboard `file_changed`, dashboard {label} ({} changes) | p50 {:.1} ms, p99 {:.1} ms | |",
            samples.len(),
            pct(&samples, 0.5),
            pct(&samples, 0.99)
        );
    }
    responder.abort();
    drop(node_b);
    Ok(())
}

async fn bridges_on(addr: SocketAddr) -> u64 {
    let Ok(reply) = request(addr, "GET", "/metrics", None, &[], b"").await else { return 0 };
    reply
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("specbridge_hub_bridges_connected ")?.trim().parse().ok())
        .unwrap_or(0)
}

async fn dashboard(addr: SocketAddr, user: &str) -> Result<Socket, String> {
    let mut request = format!("ws://{addr}/ws/dashboard").into_client_request().map_err(|e| e.to_string())?;
    let bearer = format!("Bearer {user}").parse().map_err(|_| "bad token".to_owned())?;
    request.headers_mut().insert("Authorization", bearer);
    let (ws, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Reads the dashboard until a `file_changed` names `path` (5 s at most).
async fn heard(dashboard: &mut Socket, path: &str) -> bool {
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = dashboard.next().await {
            if let Ws::Text(text) = frame {
                if text.as_str().contains("file_changed") && text.as_str().contains(path) {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}
