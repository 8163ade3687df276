//! Delta sync: upserts (chunked too) and deletes with cumulative acks, replays,
//! digest -> in-sync / want-manifest, manifest -> want, project lists, and the
//! stored state as the REST API serves it.

use crate::support::*;
use specbridge_protocol::*;
use tempfile::TempDir;

#[tokio::test]
async fn digest_manifest_want_and_chunked_upserts() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (mut ws, welcome) = connect(&hub, "m1").await;
    assert_eq!(welcome.last_seq, 0);
    assert_eq!(welcome.capabilities.len(), CAPABILITIES.len());

    // Empty project: the digest of nothing matches.
    send(&mut ws, &Message::Digest(Digest { project: P.into(), digest: project_digest([]), files: 0 })).await;
    assert_eq!(recv(&mut ws).await, Some(Message::InSync(ProjectRef { project: P.into() })));

    // Two files, one of them chunked (600 KiB), the last chunk in a batch: one cumulative ack.
    let big: Vec<u8> = (0..600 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut first = upsert(2, "big.md", &big);
    first.content = Content::from_bytes(&big[..300 * 1024]);
    first.last = false;
    let mut second = upsert(2, "big.md", &big);
    second.content = Content::from_bytes(&big[300 * 1024..]);
    second.offset = 300 * 1024;
    send(&mut ws, &Message::FileUpsert(first)).await;
    let batch = vec![Message::FileUpsert(upsert(1, "a.md", b"# A\n")), Message::FileUpsert(second)];
    send(&mut ws, &Message::Batch(Batch { messages: batch })).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 2 })));

    // The assembled file reads back byte for byte, with its hash as ETag.
    let reply = http(&hub, "GET", "/v1/machines/m1/projects/p/files/big.md", Some(&user), &[], b"").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body == big, "assembled bytes differ");
    assert_eq!(reply.header("etag"), Some(format!("\"{}\"", content_hash(&big))));
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    let listing = http(&hub, "GET", "/v1/machines/m1-name/projects/p/files", Some(&user), &[], b"").await.json();
    assert_eq!(listing.as_array().unwrap().len(), 2);
    assert_eq!(listing[0]["path"], "a.md");
    assert_eq!(listing[1]["size"], 600 * 1024);
    assert_eq!(listing[1]["hash"], content_hash(&big));
    let projects = http(&hub, "GET", "/v1/machines/m1/projects", Some(&user), &[], b"").await.json();
    assert_eq!(
        projects,
        serde_json::json!([{"id": "p", "name": "p", "layout": "generic", "read_only": false, "files": 2}])
    );

    // The digest now differs from the empty one; it matches the two files.
    send(&mut ws, &Message::Digest(Digest { project: P.into(), digest: project_digest([]), files: 0 })).await;
    assert!(matches!(recv(&mut ws).await, Some(Message::WantManifest(_))));
    let a = content_hash(b"# A\n");
    let both = project_digest([("a.md", a.as_str()), ("big.md", content_hash(&big).as_str())]);
    send(&mut ws, &Message::Digest(Digest { project: P.into(), digest: both, files: 2 })).await;
    assert!(matches!(recv(&mut ws).await, Some(Message::InSync(_))));

    // Manifest: a.md unchanged, big.md changed, c.md new; the hub wants the last two.
    let entries = vec![
        ManifestEntry { path: "a.md".into(), hash: a.clone(), size: 4 },
        ManifestEntry { path: "big.md".into(), hash: content_hash(b"new"), size: 3 },
        ManifestEntry { path: "c.md".into(), hash: content_hash(b"c"), size: 1 },
    ];
    send(&mut ws, &Message::Manifest(Manifest { project: P.into(), part: 0, last: true, entries })).await;
    let Some(Message::Want(want)) = recv(&mut ws).await else { panic!("expected want") };
    assert_eq!(want.paths, vec!["big.md".to_owned(), "c.md".to_owned()]);
    assert!(want.last);

    // A manifest without a file deletes the hub's copy.
    let entries = vec![ManifestEntry { path: "big.md".into(), hash: content_hash(&big), size: big.len() as u64 }];
    send(&mut ws, &Message::Manifest(Manifest { project: P.into(), part: 0, last: true, entries })).await;
    let Some(Message::Want(want)) = recv(&mut ws).await else { panic!("expected want") };
    assert!(want.paths.is_empty() && want.last);
    let stored: Vec<String> = hub.store().list_files("m1", P).await.unwrap().into_iter().map(|f| f.path).collect();
    assert_eq!(stored, vec!["big.md".to_owned()]);
    let reply = http(&hub, "GET", "/v1/machines/m1/projects/p/files/a.md", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".to_owned()));

    // A bad hash is refused and the session closed.
    let mut bad = upsert(3, "x.md", b"x");
    bad.hash = content_hash(b"y");
    send(&mut ws, &Message::FileUpsert(bad)).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(recv(&mut ws).await.is_none());
    assert!(hub.store().get_file("m1", P, "x.md").await.unwrap().is_none());
}

#[tokio::test]
async fn big_manifests_are_answered_in_parts() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, _) = connect(&hub, "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(1, "f0000.md", b"same"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })));

    let entries: Vec<ManifestEntry> = (0..1200)
        .map(|i| ManifestEntry { path: format!("f{i:04}.md"), hash: content_hash(b"same"), size: 4 })
        .collect();
    for (part, chunk) in entries.chunks(MANIFEST_PART_ENTRIES).enumerate() {
        let last = (part + 1) * MANIFEST_PART_ENTRIES >= entries.len();
        let manifest = Manifest { project: P.into(), part: part as u32, last, entries: chunk.to_vec() };
        send(&mut ws, &Message::Manifest(manifest)).await;
    }
    let mut wanted = Vec::new();
    loop {
        let Some(Message::Want(want)) = recv(&mut ws).await else { panic!("expected want") };
        assert!(want.paths.len() <= MANIFEST_PART_ENTRIES);
        wanted.extend(want.paths);
        if want.last {
            break;
        }
    }
    assert_eq!(wanted.len(), 1199, "every path but the one stored with the same hash");
    assert_eq!(wanted[0], "f0001.md");
}

#[tokio::test]
async fn replayed_events_are_acked_and_ignored() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let token = hub.issue_token(specbridge_hub::TokenKind::Machine, "m1").await.unwrap();
    let (mut ws, _) = connect_with(&hub, token.secret.expose(), "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(5, "a.md", b"new"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 5 })));
    drop(ws);
    let (mut ws, welcome) = connect_with(&hub, token.secret.expose(), "m1").await;
    assert_eq!(welcome.last_seq, 5, "welcome carries the stored sequence number");
    // Old events (seq <= 5) are acked again but must not change anything.
    send(&mut ws, &Message::FileUpsert(upsert(4, "a.md", b"old"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 5 })));
    send(&mut ws, &Message::FileDelete(FileDelete { seq: 3, project: P.into(), path: "a.md".into() })).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 5 })));
    let (_, bytes) = hub.store().get_file("m1", P, "a.md").await.unwrap().unwrap();
    assert_eq!(bytes, b"new");

    // A newer delete applies.
    send(&mut ws, &Message::FileDelete(FileDelete { seq: 6, project: P.into(), path: "a.md".into() })).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 6 })));
    assert!(hub.store().get_file("m1", P, "a.md").await.unwrap().is_none());
}

#[tokio::test]
async fn project_lists_replace_and_drop_files() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let user = user_token(&hub).await;
    let (mut ws, _) = connect(&hub, "m1").await;
    send(&mut ws, &Message::FileUpsert(upsert(1, "a.md", b"a"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })));

    let other = ProjectInfo {
        id: "q".into(),
        name: "Q".into(),
        layout: specbridge_protocol::Layout::LeanSpec,
        read_only: true,
    };
    send(&mut ws, &Message::Projects(Projects { projects: vec![other] })).await;
    // Files of a dropped project go with it; events for it are refused.
    let mut late = upsert(2, "b.md", b"b");
    late.project = "q".into();
    send(&mut ws, &Message::FileUpsert(late)).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 2 })));
    let projects = http(&hub, "GET", "/v1/machines/m1/projects", Some(&user), &[], b"").await.json();
    assert_eq!(
        projects,
        serde_json::json!([{"id": "q", "name": "Q", "layout": "leanspec", "read_only": true, "files": 1}])
    );
    assert!(hub.store().list_files("m1", P).await.unwrap().is_empty());
    let reply = http(&hub, "GET", "/v1/machines/m1/projects/p/files", Some(&user), &[], b"").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found".to_owned()));

    send(&mut ws, &Message::FileUpsert(upsert(3, "c.md", b"c"))).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::Invalid, "project p is gone");
}

#[tokio::test]
async fn files_over_the_limit_are_refused() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let (mut ws, _) = connect(&hub, "m1").await;
    let mut huge = upsert(1, "huge.bin", b"start");
    huge.size = 65 * 1024 * 1024;
    huge.last = false;
    send(&mut ws, &Message::FileUpsert(huge)).await;
    let Some(Message::Error(error)) = recv(&mut ws).await else { panic!("expected an error") };
    assert_eq!(error.code, ErrorCode::TooLarge);
    assert_eq!(close_code(&mut ws).await, 1009);
}

#[tokio::test]
async fn digests_in_hello_are_answered_in_the_welcome() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    let token = hub.issue_token(specbridge_hub::TokenKind::Machine, "m1").await.unwrap();
    let with_digest = |digest: String| {
        let Message::Hello(mut hello) = hello("m1") else { unreachable!() };
        hello.digests = Some(vec![Digest { project: P.into(), digest, files: 0 }]);
        Message::Hello(hello)
    };

    // The hub holds nothing for the project yet: the empty digest matches,
    // and the welcome says so; no separate in-sync follows.
    let mut ws = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut ws, &with_digest(project_digest([]))).await;
    let Some(Message::Welcome(welcome)) = recv(&mut ws).await else { panic!("expected welcome") };
    assert_eq!(welcome.in_sync, Some(vec![P.to_owned()]));
    send(&mut ws, &Message::FileUpsert(upsert(1, "a.md", b"# A\n"))).await;
    assert_eq!(recv(&mut ws).await, Some(Message::Ack(Ack { seq: 1 })), "an ack, not a stray in-sync");
    drop(ws);

    // A digest that differs: not in sync, and a want-manifest right after the welcome.
    let mut ws = dial(&hub, Some(token.secret.expose())).await.unwrap();
    send(&mut ws, &with_digest(project_digest([("b.md", "0f")]))).await;
    let Some(Message::Welcome(welcome)) = recv(&mut ws).await else { panic!("expected welcome") };
    assert_eq!(welcome.in_sync, Some(vec![]));
    assert_eq!(recv(&mut ws).await, Some(Message::WantManifest(ProjectRef { project: P.into() })));
    drop(ws);

    // Without digests the welcome has no in_sync: the bridge sends `digest` later.
    let (_ws, welcome) = connect_with(&hub, token.secret.expose(), "m1").await;
    assert_eq!(welcome.in_sync, None);
}
