//! Tokens: 401 before the upgrade, user vs machine tokens, binding a machine
//! token to its first machine, and token admin beside a running hub.

use crate::support::*;
use specbridge_hub::TokenKind;
use specbridge_protocol::*;
use tempfile::TempDir;

#[tokio::test]
async fn bad_tokens_get_401_before_the_upgrade() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = hub.issue_token(TokenKind::User, "me").await.unwrap();
    let revoked = hub.issue_token(TokenKind::Machine, "old").await.unwrap();
    assert!(hub.store().revoke_token(&revoked.id).await.unwrap());

    for token in [None, Some("sbt_wrong"), Some(revoked.secret.expose()), Some(user.secret.expose())] {
        let (status, body) = dial(&hub, token).await.expect_err("refused");
        assert_eq!(status, 401, "{token:?}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        let hint = body["error"]["hint"].as_str().unwrap();
        assert!(hint.contains("token create --kind machine") && hint.contains("specbridge login"), "{hint}");
    }
    let stats = hub.stats();
    assert_eq!((stats.bridge_upgrade_attempts, stats.bridge_auth_failures, stats.bridges_connected), (4, 4, 0));

    // The REST API wants a user token: a machine token is refused there too.
    let machine = hub.issue_token(TokenKind::Machine, "m").await.unwrap();
    for token in [None, Some("sbt_wrong"), Some(machine.secret.expose())] {
        let reply = http(&hub, "GET", "/v1/machines", token, &[], b"").await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.code(), "unauthorized");
        assert!(reply.json()["error"]["hint"].as_str().unwrap().contains("token create"));
    }
    let reply = http(&hub, "GET", "/v1/machines", Some(user.secret.expose()), &[], b"").await;
    assert_eq!((reply.status, reply.json()), (200, serde_json::json!([])));
    let reply = http(&hub, "GET", "/healthz", None, &[], b"").await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, serde_json::json!({"status": "ok", "version": "0.1.0", "store": {"status": "ok"}}))
    );
}

#[tokio::test]
async fn a_machine_token_is_bound_to_its_first_machine() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let token = hub.issue_token(TokenKind::Machine, "laptop").await.unwrap();
    let (_first, _) = connect_with(&hub, token.secret.expose(), "laptop").await;
    let mut thief = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut thief, &hello("other-machine")).await;
    let Some(Message::Error(error)) = recv(&mut thief).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Unauthorized);
    assert!(recv(&mut thief).await.is_none(), "hub closes after refusing");

    let listed = hub.store().list_tokens().await.unwrap();
    let info = listed.iter().find(|t| t.id == token.id).unwrap();
    assert_eq!(info.machine_id.as_deref(), Some("laptop"));
    assert!(info.last_used_ms.is_some() && !info.revoked);
}

#[tokio::test]
async fn tokens_can_be_managed_beside_a_running_hub() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    // A second handle on the same hub.db, as `specbridge-hub token …` opens it.
    let admin = specbridge_hub::open_store(dir.path(), None).await.unwrap();
    let token = admin.create_token(specbridge_hub::DEFAULT_ACCOUNT, TokenKind::Machine, "ci-box").await.unwrap();
    assert!(token.secret.expose().starts_with("sbt_") && token.secret.expose().len() == 47);
    assert!(!format!("{token:?}").contains(token.secret.expose()), "Debug must redact the secret");

    let (mut ws, welcome) = connect_with(&hub, token.secret.expose(), "ci").await;
    assert_eq!(welcome.last_seq, 0);
    let listed = admin.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].kind), ("ci-box", TokenKind::Machine));
    assert_eq!(serde_json::to_value(listed[0].kind).unwrap(), "machine");

    assert!(admin.revoke_token(&token.id).await.unwrap());
    assert!(!admin.revoke_token(&token.id).await.unwrap(), "already revoked");
    assert!(admin.list_tokens().await.unwrap()[0].revoked);
    // The live session is not cut; the next connect is refused.
    send(&mut ws, &Message::Digest(Digest { project: P.into(), digest: project_digest([]), files: 0 })).await;
    assert!(matches!(recv(&mut ws).await, Some(Message::InSync(_))));
    assert_eq!(dial(&hub, Some(token.secret.expose())).await.err().map(|e| e.0), Some(401));
    admin.close().await;
}
