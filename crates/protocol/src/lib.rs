//! Wire types and frame codec for the specbridge link between a bridge and a hub.
//!
//! This crate is pure: it knows nothing about sockets, files or clocks. It defines
//! the message catalogue ([`Message`]), the command envelope, the command
//! catalogue ([`Call`], [`CommandName`]: every command with its typed arguments,
//! and the results of those that change something), project [`Layout`]s, the
//! typed error codes ([`ErrorCode`]), and the [`Codec`] that turns messages into WebSocket
//! frames (JSON text below a threshold, zstd-compressed binary above it) and back,
//! with hard limits on frame size and on decompressed size.
//!
//! What it does *not* know: how files are watched, how messages are ordered or
//! retried, or what a command does. Those live in the bridge and the hub.

mod args;
mod catalogue;
mod codec;
mod command;
mod content;
mod error;
mod hash;
mod jobs;
mod layout;
mod message;
mod results;
mod text;

pub use args::{
    ApprovalArgs, ApprovalCreateArgs, ApprovalListArgs, ApprovalUpdateArgs, ContentArgs, CreateSpecArgs, DiffArgs,
    DocumentWriteArgs, FileReadArgs, FileWriteArgs, FrontmatterArgs, JobArgs, LogAddArgs, LogReadArgs, LogSearchArgs,
    LogStatsArgs, NoArgs, SnapshotArgs, SpecArgs, SpecEditArgs, SpecReadArgs, SteeringArgs, SteeringWriteArgs,
    TaskStatusArgs,
};
pub use catalogue::{Call, CommandKind, CommandName};
pub use codec::{Codec, CodecError, Frame, BINARY_ZSTD_TAG};
pub use command::{Command, Progress, Response};
pub use content::{chunk_boundaries, Content, ContentError, Encoding};
pub use error::{ErrorBody, ErrorCode};
pub use hash::{content_hash, project_digest, HASH_HEX_LEN};
pub use jobs::{
    Consent, JobAudit, JobAuditArgs, JobAuditEntry, JobList, JobParam, JobProposeArgs, JobRunArgs, JobState, JobStats,
    JobUpdateArgs, JobView, LiveRun, Origin, Proposal, ProposalKind, RunOutcome, RunPhase, RunRecord,
};
pub use layout::Layout;
pub use message::{
    Ack, Batch, Digest, FileDelete, FileUpsert, Hello, MachineInfo, Manifest, ManifestEntry, Message, ProjectInfo,
    ProjectRef, Projects, Want, Welcome,
};
pub use results::{
    ApprovalEditResult, CreateSpecResult, DeleteResult, DocumentWriteResult, FileReadResult, FileWriteResult,
    LogAddResult, SnapshotResult, SpecEditResult, SpecMoveResult, SteeringWriteResult, TaskStatusResult,
};
pub use text::has_bidi_control;

/// The protocol version this build speaks. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// The oldest protocol version this build still accepts from a peer.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Hard limit on one WebSocket frame on the wire, compressed or not.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Hard limit on one decoded (decompressed) message. A zstd frame that would
/// inflate past this is rejected without allocating past it.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Messages whose JSON is at least this long are sent as zstd binary frames
/// (when that is smaller). Below it, zstd's frame header eats the gain. 128
/// rather than 512 since the reconnect budget (design §7: <= 1 KB per
/// project): `hello` and `welcome` shrink by a quarter (docs/benchmarks.md).
pub const COMPRESS_THRESHOLD: usize = 128;

/// Raw bytes of file content carried by one `file-upsert` message. Larger files
/// are chunked. Chosen so that the worst-case JSON escaping (2x for text, 4/3
/// for base64) stays well under [`MAX_MESSAGE_BYTES`].
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Entries per `manifest` part and paths per `want` part.
pub const MANIFEST_PART_ENTRIES: usize = 500;

/// Longest relative path, in bytes, that either side accepts.
pub const MAX_PATH_BYTES: usize = 1024;

/// Capabilities this build offers in `hello`/`welcome`.
pub const CAPABILITIES: &[&str] = &["zstd", "batch", "chunked-upsert", "digest-sync"];

/// Default command deadline when the caller does not give one.
pub const DEFAULT_DEADLINE_MS: u64 = 30_000;
