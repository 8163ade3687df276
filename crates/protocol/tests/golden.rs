//! Golden tests: they pin the wire format. A failure here means the change
//! breaks existing peers: bump `PROTOCOL_VERSION` and update docs/protocol.md.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

use specbridge_protocol::*;

fn golden(message: Message, json: &str) {
    assert_eq!(serde_json::to_string(&message).unwrap(), json, "encoding of {}", message.kind());
    let decoded: Message = serde_json::from_str(json).unwrap();
    assert_eq!(decoded, message, "decoding of {}", message.kind());
}

fn hash(c: char) -> String {
    std::iter::repeat_n(c, HASH_HEX_LEN).collect()
}

#[test]
fn hello_and_welcome() {
    golden(
        Message::Hello(Hello {
            protocol: 1,
            min_protocol: 1,
            capabilities: vec!["zstd".into()],
            machine: MachineInfo {
                id: "m1".into(),
                name: "Work MacBook".into(),
                os: "macos".into(),
                arch: "aarch64".into(),
                app_version: "0.1.0".into(),
            },
            projects: vec![ProjectInfo {
                id: "app".into(),
                name: "app".into(),
                layout: Layout::LeanSpec,
                read_only: false,
            }],
            digests: None,
        }),
        r#"{"type":"hello","protocol":1,"min_protocol":1,"capabilities":["zstd"],"machine":{"id":"m1","name":"Work MacBook","os":"macos","arch":"aarch64","app_version":"0.1.0"},"projects":[{"id":"app","name":"app","layout":"leanspec","read_only":false}]}"#,
    );
    // With digests (nothing waiting in the outbox), and the welcome that answers them.
    golden(
        Message::Hello(Hello {
            protocol: 1,
            min_protocol: 1,
            capabilities: vec![],
            machine: MachineInfo {
                id: "m1".into(),
                name: "n".into(),
                os: "linux".into(),
                arch: "x86_64".into(),
                app_version: "0.1.0".into(),
            },
            projects: vec![],
            digests: Some(vec![Digest { project: "app".into(), digest: "d".into(), files: 3 }]),
        }),
        r#"{"type":"hello","protocol":1,"min_protocol":1,"capabilities":[],"machine":{"id":"m1","name":"n","os":"linux","arch":"x86_64","app_version":"0.1.0"},"projects":[],"digests":[{"project":"app","digest":"d","files":3}]}"#,
    );
    golden(
        Message::Welcome(Welcome {
            protocol: 1,
            capabilities: vec![],
            session: "s2".into(),
            last_seq: 7,
            server: "h".into(),
            hub_time_ms: None,
            in_sync: Some(vec!["app".into()]),
        }),
        r#"{"type":"welcome","protocol":1,"capabilities":[],"session":"s2","last_seq":7,"server":"h","in_sync":["app"]}"#,
    );
    golden(
        Message::Welcome(Welcome {
            protocol: 1,
            capabilities: vec!["zstd".into(), "batch".into()],
            session: "s1".into(),
            last_seq: 41,
            server: "specbridge-hub/0.1.0".into(),
            hub_time_ms: Some(1_764_000_000_000),
            in_sync: None,
        }),
        r#"{"type":"welcome","protocol":1,"capabilities":["zstd","batch"],"session":"s1","last_seq":41,"server":"specbridge-hub/0.1.0","hub_time_ms":1764000000000}"#,
    );
    golden(Message::Projects(Projects { projects: vec![] }), r#"{"type":"projects","projects":[]}"#);
}

#[test]
fn sync_messages() {
    golden(
        Message::Digest(Digest { project: "app".into(), digest: "d".into(), files: 389 }),
        r#"{"type":"digest","project":"app","digest":"d","files":389}"#,
    );
    golden(Message::InSync(ProjectRef { project: "app".into() }), r#"{"type":"in-sync","project":"app"}"#);
    golden(Message::WantManifest(ProjectRef { project: "app".into() }), r#"{"type":"want-manifest","project":"app"}"#);
    golden(
        Message::Manifest(Manifest {
            project: "app".into(),
            part: 0,
            last: true,
            entries: vec![ManifestEntry { path: "specs/001-a/README.md".into(), hash: "h".into(), size: 3 }],
        }),
        r#"{"type":"manifest","project":"app","part":0,"last":true,"entries":[{"path":"specs/001-a/README.md","hash":"h","size":3}]}"#,
    );
    golden(
        Message::Want(Want { project: "app".into(), paths: vec!["a.md".into()], last: true }),
        r#"{"type":"want","project":"app","paths":["a.md"],"last":true}"#,
    );
    golden(
        Message::FileUpsert(FileUpsert {
            seq: 42,
            project: "app".into(),
            path: "a.md".into(),
            hash: "h".into(),
            size: 2,
            mtime_ms: 1_764_000_000_000,
            offset: 0,
            last: true,
            content: Content::text("hi"),
        }),
        r#"{"type":"file-upsert","seq":42,"project":"app","path":"a.md","hash":"h","size":2,"mtime_ms":1764000000000,"offset":0,"last":true,"content":{"encoding":"utf8","data":"hi"}}"#,
    );
    golden(
        Message::FileDelete(FileDelete { seq: 43, project: "app".into(), path: "a.md".into() }),
        r#"{"type":"file-delete","seq":43,"project":"app","path":"a.md"}"#,
    );
    golden(Message::Ack(Ack { seq: 43 }), r#"{"type":"ack","seq":43}"#);
    golden(
        Message::Batch(Batch { messages: vec![Message::Ack(Ack { seq: 1 }), Message::Ack(Ack { seq: 2 })] }),
        r#"{"type":"batch","messages":[{"type":"ack","seq":1},{"type":"ack","seq":2}]}"#,
    );
}

#[test]
fn commands_responses_and_errors() {
    // `args` is a JSON object inside the envelope. serde_json's `preserve_order`
    // is on (workspace Cargo.toml), so its keys go out in the order they were
    // given: a struct's field order here, a client's order for a comment.
    // Peers never depend on key order; this only pins what we send.
    let args = FileWriteArgs { path: "a.md".into(), content: Content::text("x"), base_hash: Some(hash('a')) };
    let mut command = Command::new("c1", "app", &Call::FileWrite(args.clone()), 30_000);
    command.expires_at_ms = Some(1_764_000_030_000);
    golden(
        Message::Command(command.clone()),
        &format!(
            r#"{{"type":"command","id":"c1","project":"app","deadline_ms":30000,"expires_at_ms":1764000030000,"name":"file-write","args":{{"path":"a.md","content":{{"encoding":"utf8","data":"x"}},"base_hash":"{}"}}}}"#,
            hash('a')
        ),
    );
    assert_eq!(command.call().unwrap(), Call::FileWrite(args));
    golden(
        Message::Progress(Progress::output("c1", 0, "running tests\n")),
        r#"{"type":"progress","id":"c1","seq":0,"data":"running tests\n"}"#,
    );
    golden(
        Message::Response(Response::ok("c1", serde_json::json!({"path":"a.md","hash":"h","size":1}))),
        r#"{"type":"response","id":"c1","result":{"path":"a.md","hash":"h","size":1}}"#,
    );
    golden(
        Message::Response(Response::err(
            "c1",
            ErrorBody::new(ErrorCode::Conflict, "changed")
                .with_hint("reload")
                .with_details(serde_json::json!({"current_hash":"h"})),
        )),
        r#"{"type":"response","id":"c1","error":{"code":"conflict","message":"changed","hint":"reload","details":{"current_hash":"h"}}}"#,
    );
    golden(
        Message::Error(ErrorBody::new(ErrorCode::TooLarge, "big")),
        r#"{"type":"error","code":"too_large","message":"big"}"#,
    );
}

#[test]
fn every_error_code_has_a_stable_name() {
    use ErrorCode::*;
    for (code, name) in [
        (Conflict, "conflict"),
        (NotFound, "not_found"),
        (ForbiddenPath, "forbidden_path"),
        (Forbidden, "forbidden"),
        (Invalid, "invalid"),
        (Timeout, "timeout"),
        (Offline, "offline"),
        (Internal, "internal"),
        (Unauthorized, "unauthorized"),
        (TooLarge, "too_large"),
        (UnsupportedVersion, "unsupported_version"),
        (NoSpace, "no_space"),
        (RateLimited, "rate_limited"),
        (OpenItems, "open_items"),
        (SkipsPlanned, "skips_planned"),
    ] {
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
        assert_eq!(code.as_str(), name);
    }
    let newer: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
    assert_eq!(newer, Unknown);
}

#[test]
fn file_read_and_write_args_pin_their_shape() {
    let read: FileReadArgs = serde_json::from_str(r#"{"path":"a.md"}"#).unwrap();
    assert_eq!(read.path, "a.md");
    // base_hash is optional: absent means create-only.
    let write: FileWriteArgs =
        serde_json::from_str(r#"{"path":"a.md","content":{"encoding":"base64","data":"AAE="}}"#).unwrap();
    assert_eq!(write.base_hash, None);
    assert_eq!(write.content.to_bytes().unwrap(), vec![0, 1]);
}
