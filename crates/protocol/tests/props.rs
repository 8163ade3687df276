//! Property tests of the codec: whatever bytes arrive, decoding never panics
//! and never allocates past its bounds, and every message that encodes comes
//! back as itself. CI runs the default number of cases; `scripts/props.sh`
//! runs many more (`PROPTEST_CASES`).
#![allow(clippy::unwrap_used)] // a panic is a failed test

use proptest::prelude::*;
use specbridge_protocol::*;

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        "\\PC{0,200}".prop_map(Content::text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Content::from_bytes(&b)),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let text = "\\PC{0,40}";
    prop_oneof![
        (any::<u64>(), text, text, content(), any::<bool>()).prop_map(|(seq, project, path, content, last)| {
            Message::FileUpsert(FileUpsert {
                seq,
                project,
                path,
                hash: "h".into(),
                size: 1,
                mtime_ms: 1,
                offset: 0,
                last,
                content,
            })
        }),
        (any::<u64>(), text, text).prop_map(|(seq, project, path)| Message::FileDelete(FileDelete {
            seq,
            project,
            path
        })),
        any::<u64>().prop_map(|seq| Message::Ack(Ack { seq })),
        (text, text, any::<u64>(), "[a-z-]{1,20}", text).prop_map(|(id, project, deadline_ms, name, arg)| {
            Message::Command(Command {
                id,
                project,
                deadline_ms,
                expires_at_ms: Some(deadline_ms / 2),
                name,
                args: serde_json::json!({ "path": arg }),
            })
        }),
        (text, text).prop_map(|(id, message)| Message::Response(Response::err(
            id,
            ErrorBody::new(ErrorCode::Conflict, message)
        ))),
        (text, any::<u64>(), text).prop_map(|(id, seq, data)| Message::Progress(Progress::output(id, seq, data))),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip_through_frames(message in message()) {
        let codec = Codec::default();
        let frame = codec.encode(&message).unwrap();
        let decoded = match frame {
            Frame::Text(text) => codec.decode_text(&text),
            Frame::Binary(bytes) => codec.decode_binary(&bytes),
        };
        prop_assert_eq!(decoded.unwrap(), message);
    }

    #[test]
    fn arbitrary_binary_frames_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        // Either a message or a typed error: never a panic.
        let _ = Codec::default().decode_binary(&bytes);
        let mut tagged = vec![BINARY_ZSTD_TAG];
        tagged.extend_from_slice(&bytes);
        if let Err(error) = Codec::default().decode_binary(&tagged) {
            prop_assert!(matches!(error.to_error_body().code, ErrorCode::Invalid | ErrorCode::TooLarge));
        }
    }

    #[test]
    fn arbitrary_text_frames_fail_cleanly(text in "\\PC{0,400}") {
        let _ = Codec::default().decode_text(&text);
    }

    #[test]
    fn any_command_name_and_args_parse_or_are_invalid(name in "[a-z-]{0,24}", args in "\\PC{0,60}") {
        let value = serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args));
        if let Err(error) = Call::parse(&name, &value) {
            prop_assert_eq!(error.code, ErrorCode::Invalid);
        }
    }
}
