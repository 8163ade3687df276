//! The hub's event bus: sessions, the command service and the sync code
//! [`EventBus::publish`] what happened; every `/ws/dashboard` connection
//! subscribes and turns it into what its dashboard sees.
//!
//! What it does not know: who may see an event (the feed filters by account)
//! or how events are shown.

use crate::cluster::Cluster;
use crate::commands::CommandView;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many events a slow dashboard may fall behind before it is sent the
/// full state again instead of the deltas it missed.
const EVENT_BACKLOG: usize = 1024;

/// Something that happened at the hub that dashboards may want to show.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum HubEvent {
    /// A bridge connected.
    MachineOnline {
        /// Machine id.
        machine: String,
    },
    /// A bridge's session ended.
    MachineOffline {
        /// Machine id.
        machine: String,
    },
    /// A machine's project list changed.
    ProjectChanged {
        /// Machine id.
        machine: String,
    },
    /// Files of a project changed in the store.
    FileChanged {
        /// Machine id.
        machine: String,
        /// Project id.
        project: String,
        /// The paths, deduplicated.
        paths: Vec<String>,
    },
    /// A recorded command finished (applied, failed, expired or cancelled).
    /// Boxed: the broadcast ring holds [`EVENT_BACKLOG`] events of the largest variant's size.
    CommandResult(Box<CommandView>),
    /// A machine's pending commands changed (queued, sent, finished).
    QueueChanged {
        /// Machine id.
        machine: String,
    },
    /// A token was revoked: connections that authenticated with it end.
    TokenRevoked {
        /// Token id.
        token: String,
    },
}

impl HubEvent {
    /// The machine the event is about (dashboards see only their account's machines).
    pub(crate) fn machine(&self) -> Option<&str> {
        match self {
            Self::MachineOnline { machine }
            | Self::MachineOffline { machine }
            | Self::ProjectChanged { machine }
            | Self::FileChanged { machine, .. }
            | Self::QueueChanged { machine } => Some(machine),
            Self::CommandResult(outcome) => Some(&outcome.machine),
            Self::TokenRevoked { .. } => None,
        }
    }
}

/// The bus. Publishing never blocks: a dashboard that lags far behind is
/// told so and reloads the full state.
#[derive(Debug)]
pub(crate) struct EventBus {
    events: broadcast::Sender<HubEvent>,
    /// The other hub nodes, when this one has them: local events go to them too.
    cluster: Option<Arc<Cluster>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(None)
    }
}

impl EventBus {
    /// A bus whose events also reach `cluster`'s other nodes.
    pub(crate) fn new(cluster: Option<Arc<Cluster>>) -> Self {
        Self { events: broadcast::channel(EVENT_BACKLOG).0, cluster }
    }

    /// Tells every subscriber, here and on the other nodes. Without
    /// subscribers the event is dropped.
    pub(crate) fn publish(&self, event: HubEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.forward(&event);
        }
        self.publish_local(event);
    }

    /// Tells this node's subscribers only (an event from another node).
    pub(crate) fn publish_local(&self, event: HubEvent) {
        let _ = self.events.send(event);
    }

    /// A new subscription.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }
}
