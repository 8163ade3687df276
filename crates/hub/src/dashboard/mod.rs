//! The dashboard side of the hub (design §6): the `/ws/dashboard` live feed,
//! login sessions for browsers, read models built from the last-known files,
//! edits computed here and sent to the bridge as `file-write` under the
//! conflict rule, the offline command queue, and the embedded web app.
//!
//! Sessions and the sync code only [`Dashboard::publish`] what happened; this
//! module turns that into what dashboards see.

mod assets;
pub(crate) mod auth;
mod edits;
mod queue;
mod views;
mod ws;

use crate::HubState;
use axum::Router;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

pub(crate) use queue::replay_task;

/// How many events a slow dashboard may fall behind before it is sent the
/// full state again instead of the deltas it missed.
const EVENT_BACKLOG: usize = 1024;

/// Something that happened at the hub that dashboards may want to show.
#[derive(Debug, Clone, Serialize)]
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
    /// A dashboard-issued command finished (directly or replayed from the queue).
    CommandResult(queue::CommandOutcome),
    /// A machine's queue of pending commands changed.
    QueueChanged {
        /// Machine id.
        machine: String,
    },
}

impl HubEvent {
    /// The machine the event is about (dashboards see only their account's machines).
    pub(crate) fn machine(&self) -> &str {
        match self {
            Self::MachineOnline { machine }
            | Self::MachineOffline { machine }
            | Self::ProjectChanged { machine }
            | Self::FileChanged { machine, .. }
            | Self::QueueChanged { machine } => machine,
            Self::CommandResult(outcome) => &outcome.machine,
        }
    }
}

/// The dashboard's shared state: the event bus, browser sessions and the queue.
#[derive(Debug)]
pub(crate) struct Dashboard {
    events: broadcast::Sender<HubEvent>,
    pub(crate) sessions: auth::Sessions,
    pub(crate) queue: queue::Queue,
    /// Asks the replay task to drain a machine's queue now.
    kick: mpsc::UnboundedSender<String>,
}

impl Dashboard {
    /// A dashboard and the receiving end of its replay kicks (for [`replay_task`]).
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (kick, kicks) = mpsc::unbounded_channel();
        (Self { events, sessions: auth::Sessions::default(), queue: queue::Queue::default(), kick }, kicks)
    }

    /// Tells every connected dashboard. Without subscribers the event is dropped.
    pub(crate) fn publish(&self, event: HubEvent) {
        if let HubEvent::MachineOnline { machine } = &event {
            let _ = self.kick.send(machine.clone());
        }
        let _ = self.events.send(event);
    }

    /// A new subscription to the event bus.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    /// Asks the replay task to drain `machine`'s queue if it is online.
    pub(crate) fn kick(&self, machine: &str) {
        let _ = self.kick.send(machine.to_owned());
    }
}

/// Whether the binary embeds a real dashboard build (else a page on how to build it).
pub(crate) fn embedded() -> bool {
    assets::built()
}

/// The dashboard's routes: the app, login, the live feed, read models, edits and the queue.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .merge(assets::routes())
        .merge(auth::routes())
        .merge(ws::routes())
        .merge(views::routes())
        .merge(edits::routes())
        .merge(queue::routes())
}
