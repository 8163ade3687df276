//! The dashboard side: `/ws/dashboard` (state, live deltas, coalescing,
//! presence), browser sessions and the Origin check, and the offline queue's
//! in-order replay under the conflict rule.

use crate::support::*;
use specbridge_hub::HubHandle;
use specbridge_protocol::*;
use std::time::Duration;
use tempfile::TempDir;

#[tokio::test]
async fn the_feed_sends_state_then_coalesced_live_deltas() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (mut bridge, _) = connect(&hub, "m1").await;
    send(&mut bridge, &Message::FileUpsert(upsert(1, "a.md", b"a"))).await;
    assert_eq!(recv(&mut bridge).await, Some(Message::Ack(Ack { seq: 1 })));

    let mut dash = feed(&hub, &user, None).await.unwrap();
    let state = next(&mut dash, Duration::from_secs(5)).await.unwrap();
    assert_eq!(state["type"], "state");
    assert_eq!(state["machines"][0]["id"], "m1");
    assert_eq!(state["machines"][0]["online"], true);
    assert_eq!(state["machines"][0]["projects"][0]["files"], 1);
    assert_eq!(state["queue"], serde_json::json!([]));

    // The first event after a quiet spell goes out alone and at once.
    send(&mut bridge, &Message::FileUpsert(upsert(2, "b.md", b"b"))).await;
    let first = next_of(&mut dash, "file_changed").await;
    assert_eq!(first, serde_json::json!({"type": "file_changed", "machine": "m1", "project": P, "paths": ["b.md"]}));

    // A burst is merged: fewer messages than events, every path present.
    for seq in 3..=22u64 {
        send(&mut bridge, &Message::FileUpsert(upsert(seq, &format!("burst/{seq}.md"), b"x"))).await;
    }
    let mut messages = 0;
    let mut paths = std::collections::BTreeSet::new();
    while paths.len() < 20 {
        let message = next(&mut dash, Duration::from_secs(5)).await.expect("every burst path arrives");
        if message["type"] == "file_changed" {
            messages += 1;
            paths.extend(message["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()));
        }
    }
    assert!(messages < 20, "20 events in a burst were sent as {messages} messages");

    // The bridge going away is a machine delta with online false.
    drop(bridge);
    let offline = next_of(&mut dash, "machine").await;
    assert_eq!((offline["machine"]["id"].as_str(), offline["machine"]["online"].as_bool()), (Some("m1"), Some(false)));
}

#[tokio::test]
async fn queued_writes_replay_in_order_under_the_conflict_rule() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let machine_token = hub.issue_token(specbridge_hub::TokenKind::Machine, "m1").await.unwrap();
    let (mut bridge, _) = connect_with(&hub, machine_token.secret.expose(), "m1").await;
    send(&mut bridge, &Message::FileUpsert(upsert(1, "a.md", b"v1"))).await;
    assert_eq!(recv(&mut bridge).await, Some(Message::Ack(Ack { seq: 1 })));
    drop(bridge);
    let mut dash = feed(&hub, &user, None).await.unwrap();
    eventually_offline(&hub).await;

    let put = |path: &str, body: serde_json::Value| {
        let (hub, user, path) = (&hub, user.clone(), format!("/v1/machines/m1/projects/p/documents/{path}"));
        async move {
            let json = [("Content-Type", "application/json")];
            http(hub, "PUT", &path, Some(&user), &json, body.to_string().as_bytes()).await
        }
    };
    let v1 = content_hash(b"v1");
    // Not asked to queue: offline at once.
    let reply = put("a.md", serde_json::json!({"content": "v2", "base_hash": v1})).await;
    assert_eq!((reply.status, reply.code()), (503, "offline".to_owned()));
    // Asked to queue: accepted, listed, in order.
    let first = put("a.md", serde_json::json!({"content": "v2", "base_hash": v1, "queue": true})).await;
    assert_eq!(first.status, 202, "{}", first.text());
    let second = put("b.md", serde_json::json!({"content": "new", "queue": true})).await;
    assert_eq!(second.status, 202);
    let queue = http(&hub, "GET", "/v1/queue", Some(&user), &[], b"").await.json();
    let ids: Vec<&str> = queue.as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.json()["id"].as_str().unwrap(), second.json()["id"].as_str().unwrap()]);
    assert!(!next_of(&mut dash, "queue").await["items"].as_array().unwrap().is_empty(), "dashboards hear of the queue");

    // The machine returns: the commands arrive in queue order, each with its base hash.
    let (mut bridge, _) = connect_with(&hub, machine_token.secret.expose(), "m1").await;
    let Some(Message::Command(c1)) = recv(&mut bridge).await else { panic!("expected the first queued command") };
    let args: FileWriteArgs = serde_json::from_value(c1.args.clone()).unwrap();
    assert_eq!((args.path.as_str(), args.base_hash.as_deref()), ("a.md", Some(v1.as_str())));
    let done = serde_json::json!({"path": "a.md", "hash": content_hash(b"v2"), "size": 2});
    send(&mut bridge, &Message::Response(Response::ok(c1.id.clone(), done))).await;
    let Some(Message::Command(c2)) = recv(&mut bridge).await else { panic!("expected the second queued command") };
    let args: FileWriteArgs = serde_json::from_value(c2.args.clone()).unwrap();
    assert_eq!((args.path.as_str(), args.base_hash), ("b.md", None));
    // The file appeared locally meanwhile: the conflict rule wins, and dashboards hear it.
    let conflict = ErrorBody::new(ErrorCode::Conflict, "file already exists");
    send(&mut bridge, &Message::Response(Response::err(c2.id.clone(), conflict))).await;

    let r1 = next_of(&mut dash, "command_result").await;
    assert_eq!((r1["result"]["target"].as_str(), r1["result"]["state"].as_str()), (Some("a.md"), Some("applied")));
    assert_eq!(r1["result"]["id"], first.json()["id"]);
    assert!(r1["result"]["error"].is_null());
    let r2 = next_of(&mut dash, "command_result").await;
    assert_eq!(
        (r2["result"]["state"].as_str(), r2["result"]["error"]["code"].as_str()),
        (Some("failed"), Some("conflict"))
    );
    let queue = http(&hub, "GET", "/v1/queue", Some(&user), &[], b"").await.json();
    assert_eq!(queue, serde_json::json!([]));
}

async fn eventually_offline(hub: &HubHandle) {
    for _ in 0..500 {
        if !hub.router().is_online("m1") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("m1 never went offline");
}

#[tokio::test]
async fn browser_sessions_and_the_origin_check() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let json = ("Content-Type", "application/json");
    let login = serde_json::json!({ "token": user }).to_string();

    let evil =
        http(&hub, "POST", "/v1/session", None, &[json, ("Origin", "http://evil.example")], login.as_bytes()).await;
    assert_eq!((evil.status, evil.code()), (403, "forbidden".to_owned()));
    let wrong = http(&hub, "POST", "/v1/session", None, &[json], br#"{"token":"sbt_wrong"}"#).await;
    assert_eq!((wrong.status, wrong.code()), (401, "unauthorized".to_owned()));
    let ok = http(&hub, "POST", "/v1/session", None, &[json, ("Origin", "http://x")], login.as_bytes()).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = ok.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(&user), "the token itself never goes into the cookie");
    let session = cookie.split(';').next().unwrap().to_owned();

    let mine = http(&hub, "GET", "/v1/dashboard/machines", None, &[("Cookie", &session)], b"").await;
    assert_eq!(mine.status, 200);
    let theirs = http(
        &hub,
        "GET",
        "/v1/dashboard/machines",
        None,
        &[("Cookie", &session), ("Origin", "http://evil.example")],
        b"",
    )
    .await;
    assert_eq!(theirs.status, 403, "a cookie on a cross-site request is refused");
    let none = http(&hub, "GET", "/v1/dashboard/machines", None, &[], b"").await;
    assert_eq!(none.status, 401);

    assert_eq!(feed(&hub, &user, Some("http://evil.example")).await.err(), Some(403));
    assert!(feed(&hub, &user, Some(&format!("http://{}", hub.addr()))).await.is_ok());

    let out = http(&hub, "DELETE", "/v1/session", None, &[("Cookie", &session)], b"").await;
    assert_eq!(out.status, 204);
    let after = http(&hub, "GET", "/v1/session", None, &[("Cookie", &session)], b"").await;
    assert_eq!(after.status, 401, "a logged-out session is gone");
}

#[tokio::test]
async fn a_signed_in_browser_approves_a_pairing_code_without_a_token() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let json = ("Content-Type", "application/json");
    let login = serde_json::json!({ "token": user }).to_string();
    let ok = http(&hub, "POST", "/v1/session", None, &[json, ("Origin", "http://x")], login.as_bytes()).await;
    let session = ok.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();

    let start = br#"{"machine_name":"Laptop","machine_id":"m-laptop","os":"linux"}"#;
    let started = http(&hub, "POST", "/v1/pair/start", None, &[json], start).await;
    assert_eq!(started.status, 200, "{}", started.text());
    let started = started.json();
    let approve = serde_json::json!({ "user_code": started["user_code"] }).to_string();

    let anonymous =
        http(&hub, "POST", "/v1/pair/approve", None, &[json, ("Origin", "http://x")], approve.as_bytes()).await;
    assert_eq!(anonymous.status, 401, "no session, no token: refused");
    let cross = http(
        &hub,
        "POST",
        "/v1/pair/approve",
        None,
        &[json, ("Cookie", &session), ("Origin", "http://evil.example")],
        approve.as_bytes(),
    )
    .await;
    assert_eq!(cross.status, 403, "a session cookie from another site cannot approve");
    let approved = http(
        &hub,
        "POST",
        "/v1/pair/approve",
        None,
        &[json, ("Cookie", &session), ("Origin", "http://x")],
        approve.as_bytes(),
    )
    .await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert_eq!(approved.json()["machine_name"], "Laptop");

    let poll = serde_json::json!({ "device_code": started["device_code"] }).to_string();
    let polled = http(&hub, "POST", "/v1/pair/poll", None, &[json], poll.as_bytes()).await.json();
    assert_eq!(polled["status"], "approved");
    assert!(polled["machine_token"].as_str().unwrap().starts_with("sbt_"));
}

#[tokio::test]
async fn the_app_is_served_with_a_content_security_policy() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let page = http(&hub, "GET", "/", None, &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
    assert!(page.text().contains("specbridge"));
}
