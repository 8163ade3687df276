//! Codec behaviour: frame kinds, limits, and hostile input.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

use specbridge_protocol::*;

fn upsert(text: &str) -> Message {
    Message::FileUpsert(FileUpsert {
        seq: 1,
        project: "p".into(),
        path: "a.md".into(),
        hash: content_hash(text.as_bytes()),
        size: text.len() as u64,
        mtime_ms: 0,
        offset: 0,
        last: true,
        content: Content::text(text),
    })
}

#[test]
fn small_messages_are_text_and_large_ones_zstd() {
    let codec = Codec::default();
    let small = Message::Ack(Ack { seq: 7 });
    assert_eq!(codec.encode(&small).unwrap(), Frame::Text(r#"{"type":"ack","seq":7}"#.into()));

    let markdown = "## Requirement\n- the user can sign in\n".repeat(100);
    let big = upsert(&markdown);
    let frame = codec.encode(&big).unwrap();
    let Frame::Binary(bytes) = &frame else { panic!("expected a binary frame") };
    assert_eq!(bytes[0], BINARY_ZSTD_TAG);
    // zstd magic number follows the tag byte.
    assert_eq!(&bytes[1..5], &[0x28, 0xB5, 0x2F, 0xFD]);
    assert!(frame.len() * 5 < markdown.len(), "repetitive markdown compresses well");
    assert_eq!(codec.decode(&frame).unwrap(), big);
}

#[test]
fn noisy_payload_never_costs_more_than_json() {
    let codec = Codec::default();
    // Random-looking base64 barely compresses; the codec must not pay for zstd then.
    let noise: Vec<u8> = (0u32..3000).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let message = Message::Error(ErrorBody::new(ErrorCode::Invalid, Content::from_bytes(&noise).data));
    let json_len = serde_json::to_string(&message).unwrap().len();
    let frame = codec.encode(&message).unwrap();
    // Whichever kind it picks, the frame is never larger than the plain JSON.
    assert!(frame.len() <= json_len, "frame {} > json {json_len}", frame.len());
    assert_eq!(codec.decode(&frame).unwrap(), message);
}

#[test]
fn oversized_frames_are_refused() {
    let codec = Codec::default();
    let text = "x".repeat(MAX_FRAME_BYTES + 1);
    assert!(matches!(codec.decode_text(&text), Err(CodecError::FrameTooLarge { .. })));
    let binary = vec![BINARY_ZSTD_TAG; MAX_FRAME_BYTES + 1];
    assert!(matches!(codec.decode_binary(&binary), Err(CodecError::FrameTooLarge { .. })));
    // The encoder refuses to produce what the decoder would refuse.
    let huge = Message::Error(ErrorBody::new(ErrorCode::Invalid, "y".repeat(MAX_MESSAGE_BYTES)));
    assert!(matches!(codec.encode(&huge), Err(CodecError::MessageTooLarge { .. })));
}

#[test]
fn zstd_bomb_is_an_error_not_an_allocation() {
    // 256 MiB of zeros compresses to a few KiB: a classic decompression bomb.
    let bomb_body = zstd_bomb(256 * 1024 * 1024);
    assert!(bomb_body.len() < 64 * 1024, "bomb should be small on the wire, got {}", bomb_body.len());
    let mut frame = vec![BINARY_ZSTD_TAG];
    frame.extend_from_slice(&bomb_body);
    let err = Codec::default().decode_binary(&frame).unwrap_err();
    assert!(matches!(err, CodecError::MessageTooLarge { .. } | CodecError::Zstd(_)), "{err:?}");
    assert_eq!(
        err.to_error_body().code,
        match err {
            CodecError::Zstd(_) => ErrorCode::Invalid,
            _ => ErrorCode::TooLarge,
        }
    );
}

#[test]
fn bomb_just_over_the_limit_is_caught_by_the_output_bound() {
    // A small window (so window_log_max does not trigger) and output one byte over the limit.
    let json_prefix = br#"{"type":"error","code":"invalid","message":""#;
    let mut payload = json_prefix.to_vec();
    payload.resize(MAX_MESSAGE_BYTES + 1, b'a');
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(17).unwrap();
    std::io::Write::write_all(&mut encoder, &payload).unwrap();
    let compressed = encoder.finish().unwrap();
    let mut frame = vec![BINARY_ZSTD_TAG];
    frame.extend_from_slice(&compressed);
    assert!(matches!(Codec::default().decode_binary(&frame), Err(CodecError::MessageTooLarge { .. })));
}

#[test]
fn malformed_frames_get_clear_errors() {
    let codec = Codec::default();
    assert!(matches!(codec.decode_text("{not json"), Err(CodecError::Json(_))));
    assert!(matches!(codec.decode_text(r#"{"type":"no-such-message"}"#), Err(CodecError::Json(_))));
    assert!(matches!(codec.decode_binary(&[]), Err(CodecError::EmptyFrame)));
    assert!(matches!(codec.decode_binary(&[0x7f, 1, 2]), Err(CodecError::UnknownTag(0x7f))));
    assert!(matches!(codec.decode_binary(&[BINARY_ZSTD_TAG, 1, 2, 3]), Err(CodecError::Zstd(_))));
    let nested = r#"{"type":"batch","messages":[{"type":"batch","messages":[]}]}"#;
    assert!(matches!(codec.decode_text(nested), Err(CodecError::NestedBatch)));
    let body = CodecError::UnknownTag(9).to_error_body();
    assert_eq!(body.code, ErrorCode::Invalid);
    assert!(body.hint.is_some());
}

fn zstd_bomb(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..size / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}
