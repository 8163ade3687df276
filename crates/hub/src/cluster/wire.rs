//! What nodes say to each other on NATS: JSON, one message per value.

use crate::events::HubEvent;
use crate::router::RouteError;
use serde::{Deserialize, Serialize};
use specbridge_protocol::Command;

/// A request on a machine's subject, to the node holding its session.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Request {
    /// New work is in the shared queue: the owning node's lane looks again.
    Kick,
    /// Run a read (it is not recorded) and answer with the bridge's result.
    Read {
        /// The command as the bridge gets it.
        command: Command,
        /// How long the far node waits for the bridge.
        wait_ms: u64,
    },
}

/// A [`Request`] and the machine it is for (the subject names it too, in
/// its subject-safe form).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Addressed {
    /// The machine id.
    pub(crate) machine: String,
    /// What to do.
    #[serde(flatten)]
    pub(crate) request: Request,
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Reply {
    /// The lane was told.
    Kicked,
    /// How the read went, exactly as the far node's router said.
    Answer {
        /// The result, or how it failed.
        answer: Result<serde_json::Value, RouteError>,
    },
}

/// A dashboard event from one node, for every other.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The node it happened on (its own echo is skipped).
    pub(crate) node: String,
    /// What happened.
    pub(crate) event: HubEvent,
}

/// A node's heartbeat, or its goodbye.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NodeBeat {
    /// The node.
    pub(crate) node: String,
    /// It is stopping: its machines are offline until they reconnect elsewhere.
    #[serde(default)]
    pub(crate) leaving: bool,
}

/// Some of the machines a node holds, for a node that just started.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PresenceList {
    /// The node holding them.
    pub(crate) node: String,
    /// Machine ids.
    pub(crate) machines: Vec<String>,
}
