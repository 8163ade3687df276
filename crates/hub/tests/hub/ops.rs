//! The operator's side: `/readyz` turns 503 while the hub drains, `/metrics`
//! counts what happens in the Prometheus format, logs come as JSON on
//! request, and SIGTERM drains, then closes bridges with going-away.

use crate::support::*;
use specbridge_hub::TokenKind;
use specbridge_protocol::*;
use std::time::Duration;
use tempfile::TempDir;

/// The value of a series without labels (or with exactly `labels`) in a
/// Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls an async check until it holds (5 s at most).
async fn poll<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn readyz_answers_503_with_the_reason_while_the_hub_drains() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let ready = http(&hub, "GET", "/readyz", None, &[], b"").await;
    assert_eq!((ready.status, ready.json()["status"].as_str()), (200, Some("ready")), "{}", ready.text());

    hub.drain();
    let draining = http(&hub, "GET", "/readyz", None, &[], b"").await;
    assert_eq!(draining.status, 503, "{}", draining.text());
    assert_eq!(draining.json()["reasons"], serde_json::json!(["draining"]));
    // Liveness is another question: a draining hub is alive and healthy.
    let health = http(&hub, "GET", "/healthz", None, &[], b"").await;
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    // It keeps serving while the balancer catches up.
    let machine = hub.issue_token(TokenKind::Machine, "late").await.unwrap();
    let (_bridge, _) = connect_with(&hub, machine.secret.expose(), "late").await;
    let user = user_token(&hub).await;
    assert_eq!(http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await.status, 200);
}

#[tokio::test]
async fn metrics_count_connections_commands_by_outcome_and_the_queue() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let token = hub.issue_token(TokenKind::Machine, "m1").await.unwrap();
    let (mut bridge, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    let mut dashboard = feed(&hub, &user, None).await.unwrap();
    let _state = next_of(&mut dashboard, "state").await;

    let scrape = || async {
        let reply = http(&hub, "GET", "/metrics", None, &[], b"").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.header("content-type").is_some_and(|t| t.contains("openmetrics-text")));
        reply.text()
    };
    let text = scrape().await;
    assert_eq!(sample(&text, "specbridge_hub_bridges_connected"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "specbridge_hub_dashboards_connected"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "specbridge_hub_ready"), Some(1.0), "{text}");

    // One edit the bridge applies, one it refuses.
    let put = |path: &'static str| {
        let (hub, user) = (&hub, &user);
        async move {
            let url = format!("/v1/machines/m1/projects/p/documents/{path}");
            let body = serde_json::json!({"content": "x"}).to_string();
            http(hub, "PUT", &url, Some(user), &[("Content-Type", "application/json")], body.as_bytes()).await
        }
    };
    let (applied, ()) = tokio::join!(put("a.md"), async {
        let Some(Message::Command(command)) = recv(&mut bridge).await else { panic!("expected a command") };
        let result = serde_json::json!({"path": "a.md", "hash": content_hash(b"x"), "size": 1});
        send(&mut bridge, &Message::Response(Response::ok(command.id, result))).await;
    });
    assert_eq!(applied.status, 200, "{}", applied.text());
    let (refused, ()) = tokio::join!(put("b.md"), async {
        let Some(Message::Command(command)) = recv(&mut bridge).await else { panic!("expected a command") };
        let error = ErrorBody::new(ErrorCode::Conflict, "changed on disk");
        send(&mut bridge, &Message::Response(Response::err(command.id, error))).await;
    });
    assert_eq!(refused.status, 409, "{}", refused.text());

    // The machine leaves; an edit queued for it is the queue's depth.
    drop(bridge);
    eventually("m1 offline", || !hub.router().is_online("m1")).await;
    let url = "/v1/machines/m1/projects/p/documents/c.md";
    let body = serde_json::json!({"content": "x", "queue": true}).to_string();
    let queued = http(&hub, "PUT", url, Some(&user), &[("Content-Type", "application/json")], body.as_bytes()).await;
    assert_eq!(queued.json()["state"], "queued", "{}", queued.text());

    let text = scrape().await;
    assert_eq!(sample(&text, "specbridge_hub_commands_total{outcome=\"applied\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "specbridge_hub_commands_total{outcome=\"failed\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "specbridge_hub_commands_queued"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "specbridge_hub_bridges_connected"), Some(0.0), "{text}");
    for op in ["insert_command", "finish_command", "machine_connected"] {
        let count = sample(&text, &format!("specbridge_hub_store_call_seconds_count{{op=\"{op}\"}}"));
        assert!(count.is_some_and(|n| n >= 1.0), "store latency for {op}: {text}");
    }
    assert!(sample(&text, "specbridge_hub_bridge_received_frames_total").is_some_and(|n| n >= 3.0), "{text}");
    drop(dashboard);
    poll("the dashboard gauge falls", || async {
        sample(&scrape().await, "specbridge_hub_dashboards_connected") == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn sigterm_drains_then_closes_bridges_with_going_away_and_logs_json() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("hub.log");
    let data = dir.path().join("data");
    // `--log-format` is global; clap takes it after the subcommand too.
    let mut process = HubProcess::start_with(&data, &log, &["--drain-ms", "1500", "--log-format", "json"]).await;
    let token = hub_cli(&data, &["token", "create", "--kind", "machine", "--name", "m1"]);
    let (mut bridge, _) = process.connect(token.trim(), "m1").await;
    assert_eq!(http_at(process.addr, "GET", "/readyz", None, &[], b"").await.status, 200);

    process.terminate();
    // Out of rotation first, while the bridge is still served...
    poll("readyz turns 503", || async { http_at(process.addr, "GET", "/readyz", None, &[], b"").await.status == 503 })
        .await;
    assert!(process.exit_status(Duration::ZERO).await.is_none(), "the hub stops only after the drain");
    // ...then the bridge is told to go away, and the process ends cleanly.
    assert_eq!(close_code(&mut bridge).await, 1001);
    let status = process.exit_status(Duration::from_secs(10)).await.expect("the hub stopped after its drain");
    assert!(status.success(), "{status}");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{text}");
    assert!(lines.iter().any(|l| l["message"] == "bridge connected"), "{text}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("draining"))), "{text}");
    assert!(!text.contains(token.trim()), "a token never reaches the log");
}
