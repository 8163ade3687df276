//! Trust (docs/security.md, "Threat model"): one regression test per finding.
//! A machine speaks only for itself, revocation ends what a token holds open,
//! floods get 429, and a slow or crafted request gains nothing.

use crate::support::*;
use futures_util::StreamExt as _;
use specbridge_hub::{HubHandle, TokenKind};
use specbridge_protocol::*;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message as Ws;

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A hello from `machine` named `name`.
fn hello_named(machine: &str, name: &str) -> Message {
    let Message::Hello(mut hello) = hello(machine) else { unreachable!("hello() builds a hello") };
    hello.machine.name = name.into();
    Message::Hello(hello)
}

async fn connect_named(hub: &HubHandle, token: &str, machine: &str, name: &str) -> Client {
    let mut ws = dial(hub, Some(token)).await.unwrap();
    send(&mut ws, &hello_named(machine, name)).await;
    let Some(Message::Welcome(_)) = recv(&mut ws).await else { panic!("expected welcome") };
    ws
}

/// Waits until the hub closes `ws` and returns the close code.
async fn closed_with(ws: &mut Client) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("closed in time") {
            Some(Ok(Ws::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Regression: an unbound machine token bound to whatever machine id its
/// hello claimed, and the newest connection got the machine.
#[tokio::test]
async fn a_machine_token_cannot_speak_for_another_machine() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let owner = hub.issue_token(TokenKind::Machine, "laptop").await.unwrap();
    let mut laptop = connect_named(&hub, owner.secret.expose(), "m1", "Laptop").await;
    let ci = hub.issue_token(TokenKind::Machine, "ci").await.unwrap();
    let mut thief = dial(&hub, Some(ci.secret.expose())).await.unwrap();
    send(&mut thief, &hello("m1")).await;
    let Some(Message::Error(error)) = recv(&mut thief).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Unauthorized);
    assert_eq!(close_code(&mut thief).await, 1008);
    // The owner's session is untouched and still gets the machine's commands.
    let user = user_token(&hub).await;
    let (reply, command) = tokio::join!(
        http(
            &hub,
            "POST",
            "/v1/machines/m1/projects/p/commands",
            Some(&user),
            &[JSON],
            br#"{"name":"file-read","args":{"path":"a.md"}}"#
        ),
        async {
            let Some(Message::Command(command)) = recv(&mut laptop).await else { panic!("expected the command") };
            send(&mut laptop, &Message::Response(Response::ok(command.id.clone(), serde_json::json!({"ok": 1})))).await;
            command
        }
    );
    assert_eq!((reply.status, command.name.as_str()), (200, "file-read"));
    // The refused token is still free to register a machine of its own.
    let ci_box = connect_named(&hub, ci.secret.expose(), "ci-box", "CI").await;
    drop(ci_box);
}

/// Regression: a hello could declare another machine's name and catch what
/// was addressed to it by name.
#[tokio::test]
async fn a_hello_cannot_take_another_machines_name() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let a = hub.issue_token(TokenKind::Machine, "a").await.unwrap();
    let b = hub.issue_token(TokenKind::Machine, "b").await.unwrap();
    let _a = connect_named(&hub, a.secret.expose(), "m1", "Work MacBook").await;
    let _b = connect_named(&hub, b.secret.expose(), "m2", "work macbook").await;
    let machines = http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await.json();
    let name = |id: &str| machines.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()["name"].clone();
    assert_eq!((name("m1"), name("m2")), ("Work MacBook".into(), "work macbook (2)".into()));
    let addressed = http(&hub, "GET", "/v1/machines/Work%20MacBook/projects", Some(&user), &[], b"").await;
    assert_eq!(addressed.status, 200);
    let projects = http(&hub, "GET", "/api/projects?machine=m2", Some(&user), &[], b"").await.json();
    assert_eq!(projects[0]["machine_name"], "work macbook (2)");
}

/// Regression: an edit addressed by name or by the "most recently seen"
/// default could reach a machine the caller did not pick.
#[tokio::test]
async fn an_ambiguous_address_is_a_409_that_lists_the_candidates() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (_a, _) = connect(&hub, "m1").await;
    // Another machine names itself after the first's id.
    let b = hub.issue_token(TokenKind::Machine, "b").await.unwrap();
    let _b = connect_named(&hub, b.secret.expose(), "m2", "m1").await;
    // Both serve project `p`: the default machine is ambiguous.
    let reply = http(&hub, "GET", "/api/projects/p/specs", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (409, "conflict".to_owned()), "{}", reply.text());
    let candidates = reply.json()["error"]["details"]["candidates"].clone();
    let mut ids: Vec<&str> = candidates.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["m1", "m2"]);
    // `m1` is one machine's id and the other's name: ambiguous too.
    let reply = http(&hub, "GET", "/v1/machines/m1/projects", Some(&user), &[], b"").await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    // An id that names one machine only is fine.
    assert_eq!(http(&hub, "GET", "/v1/machines/m2/projects", Some(&user), &[], b"").await.status, 200);
}

/// Regression: a dashboard session lived up to 7 days after its user token
/// was revoked, and could still read, write, open the feed and approve pairings.
#[tokio::test]
async fn revoking_a_user_token_ends_its_sessions_at_once() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = hub.issue_token(TokenKind::User, "phone").await.unwrap();
    let login = serde_json::json!({ "token": user.secret.expose() }).to_string();
    let ok = http(&hub, "POST", "/v1/session", None, &[JSON], login.as_bytes()).await;
    let session = ok.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(http(&hub, "GET", "/v1/machines", None, &[("Cookie", &session)], b"").await.status, 200);
    let mut live = feed(&hub, user.secret.expose(), None).await.unwrap();
    assert_eq!(next(&mut live, Duration::from_secs(5)).await.unwrap()["type"], "state");

    assert!(hub.store().revoke_token(&user.id).await.unwrap());
    let started = Instant::now();
    assert_eq!(http(&hub, "GET", "/v1/machines", None, &[("Cookie", &session)], b"").await.status, 401);
    let approve = br#"{"user_code":"ABCD-EFGH"}"#;
    let reply = http(&hub, "POST", "/v1/pair/approve", None, &[JSON, ("Cookie", &session)], approve).await;
    assert_eq!(reply.status, 401, "a revoked session cannot mint machine tokens");
    assert_eq!(closed_with(&mut live).await, 4001, "the live feed closes with the revocation code");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Revoking a machine token closes its live bridge session (close 4001).
#[tokio::test]
async fn revoking_a_machine_token_closes_its_bridge_session() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let token = hub.issue_token(TokenKind::Machine, "m1").await.unwrap();
    let (mut ws, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    assert!(hub.store().revoke_token(&token.id).await.unwrap());
    assert_eq!(closed_with(&mut ws).await, 4001);
    assert_eq!(dial(&hub, Some(token.secret.expose())).await.err().map(|e| e.0), Some(401));
}

/// Re-pairing is explicit: the new token takes the machine, the old one stops.
#[tokio::test]
async fn repairing_a_machine_revokes_its_old_token() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let old = hub.issue_token(TokenKind::Machine, "m1").await.unwrap();
    let (mut ws, _) = connect_with(&hub, old.secret.expose(), "m1").await;
    let new = hub.store().create_machine_token(specbridge_hub::DEFAULT_ACCOUNT, "m1 again", "m1").await.unwrap();
    assert_eq!(closed_with(&mut ws).await, 4001);
    let (_ws, welcome) = connect_with(&hub, new.secret.expose(), "m1").await;
    assert!(!welcome.session.is_empty());
}

/// Regression: about 300 unauthenticated `/v1/pair/start` calls filled a
/// global 256-slot cap and blocked all pairing for 10 minutes.
#[tokio::test]
async fn pairing_starts_are_capped_per_address_not_for_everyone() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| {
        c.limits.pairings_per_ip = 2;
        c.limits.behind_proxy = true;
    })
    .await;
    let start = |ip: &'static str| {
        let hub = &hub;
        async move {
            let body = br#"{"machine_name":"Laptop","machine_id":"m-new","os":"linux"}"#;
            http(hub, "POST", "/v1/pair/start", None, &[JSON, ("X-Forwarded-For", ip)], body).await
        }
    };
    assert_eq!(start("203.0.113.1").await.status, 200);
    assert_eq!(start("203.0.113.1").await.status, 200);
    let third = start("203.0.113.1").await;
    assert_eq!((third.status, third.code()), (429, "rate_limited".to_owned()));
    assert!(third.header("retry-after").is_some());
    assert_eq!(start("198.51.100.2").await.status, 200, "another address still pairs");
}

/// Regression: login, bearer checks and code approval ran at 3,000–4,700
/// attempts per second with no 429.
#[tokio::test]
async fn logins_and_failed_token_checks_are_rate_limited() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| {
        c.limits.logins_per_minute = 3;
        c.limits.auth_failures_per_minute = 3;
    })
    .await;
    let user = user_token(&hub).await;
    let wrong = br#"{"token":"sbt_wrong"}"#;
    for _ in 0..3 {
        assert_eq!(http(&hub, "POST", "/v1/session", None, &[JSON], wrong).await.status, 401);
    }
    let limited = http(&hub, "POST", "/v1/session", None, &[JSON], wrong).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited".to_owned()));
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Failed checks (the logins above, one guessed bearer more) use up the
    // address's budget: then even a good token waits, so guessing gains nothing.
    assert_eq!(http(&hub, "GET", "/v1/machines", Some("sbt_guess"), &[], b"").await.status, 401);
    let refused = http(&hub, "GET", "/v1/machines", Some(&user), &[], b"").await;
    assert_eq!(refused.status, 429);
    // Machine tokens on the bridge endpoint count against the same budget.
    assert_eq!(dial(&hub, Some("sbt_wrong")).await.err().map(|e| e.0), Some(429));
}

/// Regression: connections with unfinished headers stayed open forever (slowloris).
#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_cut_off() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| c.limits.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the hub closed the slow connection");
    // Well-behaved clients are served.
    assert_eq!(http(&hub, "GET", "/healthz", None, &[], b"").await.status, 200);
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_connections() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |c| c.limits.connections_per_ip = 2).await;
    let _one = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    let _two = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the third connection is closed unanswered: {buf:?}");
}

/// Regression: a command reply was not checked against the session it was sent to.
#[tokio::test]
async fn a_reply_from_another_session_is_ignored() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (mut owner, _) = connect(&hub, "m1").await;
    let (mut other, _) = connect(&hub, "m2").await;
    let body = br#"{"name":"file-read","args":{"path":"a.md"}}"#;
    let (reply, ()) =
        tokio::join!(http(&hub, "POST", "/v1/machines/m1/projects/p/commands", Some(&user), &[JSON], body), async {
            let Some(Message::Command(command)) = recv(&mut owner).await else { panic!("expected the command") };
            // Another machine answers first with a forged result: ignored.
            let forged = Response::ok(command.id.clone(), serde_json::json!({"forged": true}));
            send(&mut other, &Message::Response(forged)).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            send(&mut owner, &Message::Response(Response::ok(command.id, serde_json::json!({"real": true})))).await;
        });
    assert_eq!(reply.json(), serde_json::json!({"real": true}));
}

/// Regression: `/pair` had no CSP and approved without showing which machine asks.
#[tokio::test]
async fn the_pair_page_has_the_dashboards_headers_and_shows_who_asks() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let page = http(&hub, "GET", "/pair", None, &[], b"").await;
    assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
    assert_eq!(page.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(!page.text().contains("<script>"), "no inline script: the CSP would block it");
    let (_laptop, _) = connect(&hub, "m-laptop").await;
    let body = br#"{"machine_name":"Laptop","machine_id":"m-laptop","os":"macos"}"#;
    let started = http(&hub, "POST", "/v1/pair/start", None, &[JSON], body).await.json();
    let code = started["user_code"].as_str().unwrap();
    let asking = http(&hub, "GET", &format!("/v1/pair/request?code={code}"), Some(&user), &[], b"").await;
    assert_eq!(asking.status, 200, "{}", asking.text());
    let asking = asking.json();
    assert_eq!((asking["machine_name"].as_str(), asking["os"].as_str()), (Some("Laptop"), Some("macos")));
    assert!(asking["requested_ms"].as_i64().unwrap() > 0);
    assert_eq!(asking["repair"]["id"], "m-laptop", "approving re-pairs a machine the account has: said up front");
    let anonymous = http(&hub, "GET", &format!("/v1/pair/request?code={code}"), None, &[], b"").await;
    assert_eq!(anonymous.status, 401);
}

/// Regression: frames over 2 MiB were dropped with no error and no close code.
#[tokio::test]
async fn a_frame_over_the_socket_limit_gets_too_large_and_close_1009() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, _) = connect(&hub, "giant").await;
    let _ = futures_util::SinkExt::send(&mut ws, Ws::Binary(vec![0u8; 3 * 1024 * 1024].into())).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error message") };
    assert_eq!(error.code, ErrorCode::TooLarge);
    assert_eq!(closed_with(&mut ws).await, 1009);
}

/// Regression: one large digest batch cost thousands of store queries; a
/// digest for a project the session never announced is a protocol error.
#[tokio::test]
async fn digests_are_answered_from_one_read_and_unknown_projects_refused() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, _) = connect(&hub, "m1").await;
    let digest = Message::Digest(Digest { project: P.into(), digest: project_digest([]), files: 0 });
    let messages = vec![digest; 5_000];
    send(&mut ws, &Message::Batch(Batch { messages })).await;
    let mut answered = 0;
    while answered < 5_000 {
        match recv(&mut ws).await {
            Some(Message::InSync(_)) => answered += 1,
            Some(Message::Batch(batch)) => answered += batch.messages.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (mut ws, _) = connect(&hub, "m2").await;
    send(&mut ws, &Message::Digest(Digest { project: "nope".into(), digest: project_digest([]), files: 0 })).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);
}

/// Regression: newlines in request fields forged log lines.
#[tokio::test]
async fn request_fields_cannot_forge_log_lines() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("hub");
    hub_cli(&data, &["token", "list"]);
    let machine = hub_cli(&data, &["token", "create", "--kind", "machine", "--name", "m"]);
    let log = dir.path().join("hub.log");
    let mut process = HubProcess::start_logged(&data, &log).await;
    let forged = "x\nFORGED level=error everything is fine";
    // A bridge's error message, an update file name, a pairing field.
    let (mut ws, _) = process.connect(&machine, "m1").await;
    send(&mut ws, &Message::Error(ErrorBody::new(ErrorCode::Internal, forged))).await;
    let _ = http_at(process.addr, "GET", "/v1/updates/files/a%0AFORGED", None, &[], b"").await;
    let body = serde_json::json!({ "machine_name": "Laptop", "machine_id": "m", "os": forged }).to_string();
    let _ = http_at(process.addr, "POST", "/v1/pair/start", None, &[JSON], body.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    process.kill();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("bridge reported an error"), "the event is logged: {text}");
    assert!(!text.lines().any(|line| line.starts_with("FORGED")), "no forged line:\n{text}");
}
