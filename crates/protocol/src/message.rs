//! The message catalogue. Every frame carries exactly one [`Message`], tagged by
//! its `type` field in kebab-case. See docs/protocol.md for the flow.

use crate::{Command, Content, ErrorBody, Layout, Progress, Response};
use serde::{Deserialize, Serialize};

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// bridge -> hub, first message after the upgrade.
    Hello(Hello),
    /// hub -> bridge, answer to `hello`.
    Welcome(Welcome),
    /// bridge -> hub: the project list changed during the session.
    Projects(Projects),
    /// bridge -> hub: the digest of one project, sent after the outbox is flushed.
    Digest(Digest),
    /// hub -> bridge: the hub's copy of the project matches the digest.
    InSync(ProjectRef),
    /// hub -> bridge: the digests differ; send a manifest.
    WantManifest(ProjectRef),
    /// bridge -> hub: one part of a project's manifest (path -> hash).
    Manifest(Manifest),
    /// hub -> bridge: one part of the list of paths the hub lacks.
    Want(Want),
    /// bridge -> hub: a file's content (or one chunk of it).
    FileUpsert(FileUpsert),
    /// bridge -> hub: a file was deleted.
    FileDelete(FileDelete),
    /// hub -> bridge: every event up to `seq` is stored.
    Ack(Ack),
    /// hub -> bridge: run a command.
    Command(Command),
    /// bridge -> hub: a command's outcome.
    Response(Response),
    /// bridge -> hub: output of a command still running (`job-run`), before its response.
    Progress(Progress),
    /// either way: a protocol-level error, usually followed by a close.
    Error(ErrorBody),
    /// either way: several messages in one frame, so they compress together.
    Batch(Batch),
}

impl Message {
    /// The wire name of the message type, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Welcome(_) => "welcome",
            Self::Projects(_) => "projects",
            Self::Digest(_) => "digest",
            Self::InSync(_) => "in-sync",
            Self::WantManifest(_) => "want-manifest",
            Self::Manifest(_) => "manifest",
            Self::Want(_) => "want",
            Self::FileUpsert(_) => "file-upsert",
            Self::FileDelete(_) => "file-delete",
            Self::Ack(_) => "ack",
            Self::Command(_) => "command",
            Self::Response(_) => "response",
            Self::Progress(_) => "progress",
            Self::Error(_) => "error",
            Self::Batch(_) => "batch",
        }
    }
}

/// Who the bridge is and what it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Highest protocol version the bridge speaks.
    pub protocol: u32,
    /// Lowest protocol version the bridge accepts.
    pub min_protocol: u32,
    /// Optional features the bridge supports.
    pub capabilities: Vec<String>,
    /// The machine.
    pub machine: MachineInfo,
    /// The projects the bridge serves.
    pub projects: Vec<ProjectInfo>,
    /// Each project's digest, sent only when the bridge has no event waiting
    /// for the hub: a hub that compares them answers in
    /// [`Welcome::in_sync`], and a reconnect with nothing changed costs no
    /// `digest` / `in-sync` round of its own. Older hubs ignore the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Vec<Digest>>,
}

/// A machine as the bridge describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// Stable id, generated once per installation.
    pub id: String,
    /// Display name chosen by the user.
    pub name: String,
    /// Operating system (`linux`, `macos`, `windows`).
    pub os: String,
    /// CPU architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Version of the bridge software.
    pub app_version: String,
}

/// A project folder the bridge serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// Stable id, unique on the machine.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Detected layout.
    pub layout: Layout,
    /// Whether the hub may only read.
    #[serde(default)]
    pub read_only: bool,
}

/// The hub's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Protocol version chosen for this session.
    pub protocol: u32,
    /// Optional features both sides support.
    pub capabilities: Vec<String>,
    /// Session id, for logs on both sides.
    pub session: String,
    /// Highest event sequence number the hub has stored for this machine.
    /// The bridge trims its outbox up to here and resends the rest.
    pub last_seq: u64,
    /// Hub software version.
    pub server: String,
    /// The hub's clock when it sent this (ms since the Unix epoch), so the
    /// bridge can judge command deadlines (`expires_at_ms`) on the hub's
    /// clock whatever its own says. Absent from older hubs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_time_ms: Option<u64>,
    /// Present when the hub compared the digests of `hello`: the projects
    /// that matched. Each other project it got a digest for is followed by a
    /// `want-manifest` right after this message. Absent (an older hub, or no
    /// digests in `hello`): the bridge sends `digest` messages as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<Vec<String>>,
}

/// The full project list, replacing the one sent in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projects {
    /// The projects.
    pub projects: Vec<ProjectInfo>,
}

/// A project's digest (see [`crate::project_digest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Project id.
    pub project: String,
    /// The digest.
    pub digest: String,
    /// Number of files, for display and sanity checks.
    pub files: u64,
}

/// Names one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// Project id.
    pub project: String,
}

/// One part of a manifest. The hub acts when it has seen the part with `last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Project id.
    pub project: String,
    /// Part number, from 0.
    pub part: u32,
    /// Whether this is the final part.
    pub last: bool,
    /// Files in this part.
    pub entries: Vec<ManifestEntry>,
}

/// One file in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Content hash.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// Paths the hub lacks or holds in an older version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Want {
    /// Project id.
    pub project: String,
    /// Paths to send.
    pub paths: Vec<String>,
    /// Whether this is the final part.
    pub last: bool,
}

/// A file's content, or one chunk of it. Chunks of one file share `seq` and
/// arrive in order; the hub stores the file when the chunk with `last` arrives
/// and the assembled bytes match `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUpsert {
    /// Event sequence number, increasing per machine.
    pub seq: u64,
    /// Project id.
    pub project: String,
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Content hash of the whole file.
    pub hash: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// Modification time, milliseconds since the Unix epoch.
    pub mtime_ms: u64,
    /// Byte offset of this chunk in the file.
    #[serde(default)]
    pub offset: u64,
    /// Whether this chunk ends the file.
    pub last: bool,
    /// This chunk's bytes.
    pub content: Content,
}

/// A deleted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDelete {
    /// Event sequence number.
    pub seq: u64,
    /// Project id.
    pub project: String,
    /// Path relative to the project root.
    pub path: String,
}

/// Cumulative acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Every event with a sequence number up to and including this one is stored.
    pub seq: u64,
}

/// Several messages in one frame. Batches do not nest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The messages, processed in order.
    pub messages: Vec<Message>,
}
