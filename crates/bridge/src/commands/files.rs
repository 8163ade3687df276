//! `file-read` and `file-write`: one file inside the project's allowed roots,
//! on every layout.

use super::{to_value, Ctx};
use crate::index::MAX_FILE_BYTES;
use crate::mutation::MAX_INLINE_BYTES;
use serde_json::Value;
use specbridge_protocol::{
    content_hash, Content, ErrorBody, ErrorCode, FileReadArgs, FileReadResult, FileWriteArgs, FileWriteResult,
};

/// `file-read`: the bytes, their hash and size.
pub(super) fn read(ctx: &Ctx<'_>, args: &FileReadArgs) -> Result<Value, ErrorBody> {
    let target = ctx.project.resolve(&args.path).map_err(|e| e.to_error_body())?;
    let meta = std::fs::metadata(&target).map_err(|e| crate::mutation::io_error(&args.path, &e))?;
    if meta.is_dir() {
        return Err(ErrorBody::new(ErrorCode::Invalid, format!("{} is a folder, not a file", args.path)));
    }
    if meta.len() > MAX_INLINE_BYTES {
        return Err(ErrorBody::new(ErrorCode::TooLarge, format!("{} is {} bytes", args.path, meta.len()))
            .with_hint("files over 700 KiB cannot travel in one response; read the hub's synced copy"));
    }
    let bytes = ctx.fs.read_bytes(&args.path)?.ok_or_else(|| {
        ErrorBody::new(ErrorCode::NotFound, format!("no file {}", args.path))
            .with_hint("list again: it may have been moved or deleted")
    })?;
    to_value(&FileReadResult {
        path: args.path.clone(),
        hash: content_hash(&bytes),
        size: bytes.len() as u64,
        content: Content::from_bytes(&bytes),
    })
}

/// `file-write`: the whole file, under the conflict rule (`base_hash` absent: create only).
pub(super) fn write(ctx: &Ctx<'_>, args: &FileWriteArgs) -> Result<Value, ErrorBody> {
    let bytes = args.content.to_bytes().map_err(|e| ErrorBody::new(ErrorCode::Invalid, e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ErrorBody::new(ErrorCode::TooLarge, "content exceeds the 32 MiB file limit"));
    }
    let hash = ctx.fs.write(&args.path, &bytes, args.base_hash.as_deref())?;
    to_value(&FileWriteResult { path: args.path.clone(), hash, size: bytes.len() as u64 })
}
