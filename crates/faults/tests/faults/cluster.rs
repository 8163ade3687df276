//! Two hub nodes on one real Postgres and one real NATS, behind a real
//! haproxy (all from Debian's packages, started here on free ports). The
//! bridge reaches the hubs through the balancer and lands on node A; the
//! dashboard and the REST user talk to node B. Then node A is killed with
//! SIGKILL.

use futures_util::StreamExt as _;
use specbridge_engines::{Haproxy, Nats, Postgres};
use specbridge_faults::check::local_listing;
use specbridge_faults::http::{request, Api};
use specbridge_faults::procs::{BridgeProcess, HubProcess, Timers};
use specbridge_faults::soak::{bridge_home, free_addr, write};
use specbridge_faults::wait_until;
use specbridge_hub::{TokenKind, DEFAULT_ACCOUNT};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};

const SPEC: &str = "specs/001-auth/README.md";
const WAIT: Duration = Duration::from_secs(30);

/// `specbridge_hub_bridges_connected` on the node at `addr`.
async fn bridges_on(addr: SocketAddr) -> Option<u64> {
    let reply = request(addr, "GET", "/metrics", None, &[], b"").await.ok()?;
    reply.text().lines().find_map(|l| l.strip_prefix("specbridge_hub_bridges_connected ")?.trim().parse().ok())
}

/// PUT a document on `api`'s node; returns (status, body).
async fn put_document(api: &Api, machine: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let url = format!("/v1/machines/{machine}/projects/app/documents/{path}");
    let reply = api.put(&url, &[("Content-Type", "application/json")], body.to_string().as_bytes()).await.unwrap();
    (reply.status, reply.json())
}

fn disk(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

async fn on_disk(root: &Path, rel: &str, want: &str) -> bool {
    wait_until(WAIT, || async { disk(root, rel) == want }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_any_user_and_a_dead_node_loses_nothing() {
    let Some(postgres) = Postgres::shared() else { return };
    let Some(nats) = Nats::start() else { return };
    let database = postgres.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_specbridge-chaos"));

    // Tokens go into the shared database before any node runs.
    let admin = specbridge_hub::open_store(&dir.path().join("admin"), Some(&database)).await.unwrap();
    let user = admin.create_token(DEFAULT_ACCOUNT, TokenKind::User, "b-user").await.unwrap();
    let machine_token = admin.create_token(DEFAULT_ACCOUNT, TokenKind::Machine, "laptop").await.unwrap();
    let other_account = admin.create_account("other").await.unwrap();
    let (_, stranger) = admin.create_user(&other_account.id, "mallory").await.unwrap();
    admin.close().await;

    let engines = Some((database.clone(), nats.url()));
    let timers = Timers { heartbeat_ms: Some(1000) };
    let (a_addr, b_addr) = (free_addr().unwrap(), free_addr().unwrap());
    let mut node_a = HubProcess::start_node(bin, &dir.path().join("a"), a_addr, timers, engines.clone()).await.unwrap();
    let _node_b = HubProcess::start_node(bin, &dir.path().join("b"), b_addr, timers, engines).await.unwrap();
    let Some(balancer) = Haproxy::start(&[a_addr, b_addr]) else { return };

    let root = dir.path().join("project");
    write(&root, SPEC, "---\nstatus: planned\n---\n# Auth\n").unwrap();
    let home = dir.path().join("bridge");
    let machine = bridge_home(&home, &format!("http://{}", balancer.addr()), &root).unwrap();
    let mut bridge = BridgeProcess::start(bin, &home, machine_token.secret.expose(), timers).unwrap();
    let b = Api { addr: b_addr, token: user.secret.expose().to_owned() };

    // The bridge is on node A; node B sees it online and has its files.
    assert!(wait_until(WAIT, || async { bridges_on(a_addr).await == Some(1) }).await, "the bridge lands on A");
    assert_eq!(bridges_on(b_addr).await, Some(0));
    assert!(wait_until(WAIT, || async { b.online(&machine).await == Some(true) }).await, "B shows it online");
    let local = || local_listing(&root, &["specs"]);
    assert!(wait_until(WAIT, || async { b.listing(&machine, "app").await == Some(local()) }).await);

    // A read on B runs on the bridge, through A (request/reply on NATS).
    let specs = b.get(&format!("/v1/machines/{machine}/projects/app/specs")).await.unwrap();
    assert_eq!(specs.status, 200, "{}", specs.text());
    assert!(specs.text().contains("001-auth"), "{}", specs.text());

    // Another account's user on B can neither see nor reach it, on either node.
    for addr in [a_addr, b_addr] {
        let other = Api { addr, token: stranger.secret.expose().to_owned() };
        assert_eq!(other.online(&machine).await, None, "another account's machine list has no such machine");
        let read = other.get(&format!("/v1/machines/{machine}/projects/app/specs")).await.unwrap();
        assert_eq!(read.status, 404, "{}", read.text());
        let (status, _) = put_document(&other, &machine, SPEC, serde_json::json!({ "content": "pwned" })).await;
        assert_eq!(status, 404);
    }
    assert!(!disk(&root, SPEC).contains("pwned"));

    // A dashboard on B hears of a change made on the machine (it syncs to A).
    let mut ws_request = format!("ws://{b_addr}/ws/dashboard").into_client_request().unwrap();
    ws_request.headers_mut().insert("Authorization", format!("Bearer {}", b.token).parse().unwrap());
    let (mut dashboard, _) = tokio_tungstenite::connect_async(ws_request).await.unwrap();
    write(&root, "specs/002-billing/README.md", "---\nstatus: planned\n---\n# Billing\n").unwrap();
    let heard = tokio::time::timeout(WAIT, async {
        while let Some(Ok(frame)) = dashboard.next().await {
            if let Ws::Text(text) = frame {
                let message: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if message["type"] == "file_changed" && message["paths"].to_string().contains("002-billing") {
                    return message;
                }
            }
        }
        panic!("the dashboard feed ended");
    })
    .await
    .expect("the dashboard on B got file_changed from A's bridge");
    assert_eq!(heard["machine"], machine.as_str());

    // An edit made on B lands on the machine's disk.
    let base = specbridge_protocol::content_hash(disk(&root, SPEC).as_bytes());
    let edited = "---\nstatus: in-progress\n---\n# Auth\n";
    let (status, body) =
        put_document(&b, &machine, SPEC, serde_json::json!({ "content": edited, "base_hash": base })).await;
    assert_eq!(status, 200, "{body}");
    assert!(on_disk(&root, SPEC, edited).await, "the edit from B is on disk");

    // An edit queued on B while the bridge is away applies when it returns.
    bridge.kill9();
    assert!(wait_until(WAIT, || async { b.online(&machine).await == Some(false) }).await, "B shows it offline");
    let queued = "queued while away\n";
    let (status, body) =
        put_document(&b, &machine, "specs/notes.md", serde_json::json!({ "content": queued, "queue": true })).await;
    assert_eq!(status, 202, "{body}");
    bridge.restart().unwrap();
    assert!(on_disk(&root, "specs/notes.md", queued).await, "the queued edit applied on return");
    assert!(wait_until(WAIT, || async { bridges_on(a_addr).await == Some(1) }).await, "back on A");

    // Node A dies. What was accepted meanwhile — a change on the machine,
    // an edit queued on B — reaches its place once the bridge is on B.
    node_a.kill9();
    write(&root, "specs/003-while-a-died/README.md", "# written while A was dead\n").unwrap();
    let after = "queued after A died\n";
    let (status, body) =
        put_document(&b, &machine, "specs/after.md", serde_json::json!({ "content": after, "queue": true })).await;
    assert!(status == 200 || status == 202, "{status} {body}");
    assert!(wait_until(WAIT, || async { bridges_on(b_addr).await == Some(1) }).await, "the bridge moved to B");
    assert!(on_disk(&root, "specs/after.md", after).await, "the edit queued on B applied");
    assert!(wait_until(WAIT, || async { b.listing(&machine, "app").await == Some(local()) }).await, "B has every file");
    assert_eq!(disk(&root, SPEC), edited, "the earlier edit is still there");
    let queue = b.get("/v1/queue").await.unwrap().json();
    assert_eq!(queue, serde_json::json!([]), "nothing left pending");
}
