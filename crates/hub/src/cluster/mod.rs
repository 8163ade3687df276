//! Hub nodes that share one Postgres meet on NATS (`serve --nats-url`).
//!
//! Nothing here is a cluster protocol of our own: NATS routes, the store
//! keeps the state. A node learns three things from the others:
//!
//! - **Commands** for a machine connected elsewhere go by request/reply on the
//!   machine's subject at the node holding it (presence says which),
//!   `specbridge.node.<node>.machine.<id>`. Each node subscribes to its own
//!   `specbridge.node.<node>.machine.*`, so "no responders" means that node
//!   is gone and the machine offline; a node that no longer holds the machine
//!   answers "not connected". Reads travel whole (the command
//!   out, the bridge's answer back); a recorded command is already in the
//!   shared queue, so the request only *kicks* the owning node's lane, which
//!   sends it in order with the rest, and its outcome comes back as the
//!   `command_result` event below.
//! - **Dashboard events** fan out on `specbridge.events.<account>`, so a
//!   dashboard on any node sees what happens on every node.
//! - **Presence**: the `machine_online`/`machine_offline` events say which
//!   node holds which machine; each node says it is alive every
//!   [`HEARTBEAT`] on `specbridge.nodes`, and a node silent for
//!   [`NODE_TIMEOUT`] (killed, cut off) is dropped with its machines. A node
//!   that starts asks the others for their machines (`specbridge.presence.sync`).
//!
//! Progress of a job run (its live output) is not carried between nodes: a
//! dashboard follows a job on the node the machine is connected to.

mod presence;
mod wire;

pub(crate) use presence::Presence;
use wire::{Addressed, Envelope, NodeBeat, PresenceList, Reply, Request};

use crate::events::HubEvent;
use crate::router::RouteError;
use crate::HubState;
use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use futures_util::StreamExt as _;
use specbridge_protocol::Command;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a node says it is alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node unheard this long is gone: its machines are offline until they
/// reconnect (to another node, through the balancer).
pub(crate) const NODE_TIMEOUT: Duration = Duration::from_secs(8);
/// Events waiting to be published: a burst larger than this is dropped (and
/// logged) rather than let memory grow without bound while NATS is away.
const OUTBOX: usize = 4096;
/// Machines per presence message (NATS's default payload limit is 1 MiB).
const PRESENCE_CHUNK: usize = 2000;

/// Errors joining the other nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS refused or could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The URL, without credentials.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// A subscription failed.
    #[error("cannot subscribe on NATS: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
}

/// This node's place among the others.
pub(crate) struct Cluster {
    /// This node's id, fresh at every start.
    pub(crate) node: String,
    client: Client,
    /// Which machines other nodes hold.
    pub(crate) presence: Presence,
    /// Local events on their way to NATS.
    outbox: mpsc::Sender<HubEvent>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).finish_non_exhaustive()
    }
}

/// The subject-safe form of an id chosen by someone else (a bridge picks its
/// machine id): NATS subjects split on `.` and reserve `*`, `>` and white
/// space. Plain ids stay readable; any other id is hex, after a `=` that no
/// plain id has, so two ids never share a subject.
pub(crate) fn subject_token(id: &str) -> String {
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_owned()
    } else {
        let mut hex = String::with_capacity(1 + id.len() * 2);
        hex.push('=');
        for b in id.bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }
}

/// The subject of a machine's commands on the node holding it.
fn machine_subject(node: &str, machine: &str) -> String {
    format!("specbridge.node.{node}.machine.{}", subject_token(machine))
}

fn events_subject(account: &str) -> String {
    format!("specbridge.events.{}", subject_token(account))
}

const EVENTS_ALL: &str = "specbridge.events.*";
const NODES: &str = "specbridge.nodes";
const PRESENCE_SYNC: &str = "specbridge.presence.sync";

/// The URL as it may be logged: without a password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl Cluster {
    /// Connects to NATS. The returned receiver feeds [`spawn`]'s publisher.
    pub(crate) async fn connect(url: &str) -> Result<(Arc<Self>, mpsc::Receiver<HubEvent>), ClusterError> {
        let node = format!("n{:016x}", rand::random::<u64>());
        let client = async_nats::ConnectOptions::new()
            .name(format!("specbridge-hub {node}"))
            // Reconnects go on for as long as the hub runs; meanwhile
            // `/readyz` says `nats` and the node serves its own bridges.
            .max_reconnects(None)
            .connect(url)
            .await
            .map_err(|source| ClusterError::Connect { url: redacted(url), source })?;
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let cluster = Arc::new(Self { node, client, presence: Presence::default(), outbox });
        Ok((cluster, rx))
    }

    /// Whether NATS is connected now (`/readyz`).
    pub(crate) fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Queues a local event for the other nodes (never blocks).
    pub(crate) fn forward(&self, event: &HubEvent) {
        if matches!(event, HubEvent::TokenRevoked { .. }) {
            // Every node learns revocations from the store's own feed.
            return;
        }
        if self.outbox.try_send(event.clone()).is_err() {
            tracing::warn!("cluster: event outbox full; other nodes miss an event");
        }
    }

    /// Answers one request for a machine this node should hold.
    async fn answer(&self, hub: &Arc<HubState>, message: async_nats::Message) {
        let Some(reply_to) = message.reply else { return };
        let request = match serde_json::from_slice::<Addressed>(&message.payload) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(%error, "cluster: unreadable request");
                return;
            }
        };
        let machine = request.machine.as_str();
        let reply = match request.request {
            // Its session ended here a moment ago (it may be on its way to another node).
            _ if !hub.router.is_online(machine) => Reply::Answer { answer: Err(RouteError::NotConnected) },
            Request::Kick => {
                crate::commands::machine_online(hub, machine);
                Reply::Kicked
            }
            Request::Read { command, wait_ms } => {
                Reply::Answer { answer: hub.router.send(machine, command, Duration::from_millis(wait_ms), None).await }
            }
        };
        match serde_json::to_vec(&reply) {
            Ok(body) => {
                if let Err(error) = self.client.publish(reply_to, Bytes::from(body)).await {
                    tracing::warn!(%machine, %error, "cluster: cannot reply");
                }
            }
            Err(error) => tracing::error!(%error, "cluster: cannot encode a reply"),
        }
    }

    /// Sends `request` to the node holding `machine`, as presence says.
    async fn request(&self, machine: &str, request: Request, wait: Duration) -> Result<Reply, RouteError> {
        let Some(node) = self.presence.node_of(machine) else { return Err(RouteError::NotConnected) };
        let body = serde_json::to_vec(&Addressed { machine: machine.to_owned(), request })
            .map_err(|_| RouteError::NotConnected)?;
        let sent = async_nats::Request::new().payload(Bytes::from(body)).timeout(Some(wait));
        match self.client.send_request(machine_subject(&node, machine), sent).await {
            Ok(message) => serde_json::from_slice(&message.payload).map_err(|_| RouteError::Lost),
            Err(error) => match error.kind() {
                RequestErrorKind::NoResponders => {
                    // The node is gone (killed before its heartbeat went
                    // quiet): so are its machines, wherever they go next.
                    self.presence.forget_node(&node);
                    Err(RouteError::NotConnected)
                }
                RequestErrorKind::TimedOut => Err(RouteError::Timeout(wait)),
                _ => {
                    tracing::warn!(%machine, %error, "cluster: request failed");
                    // Unknown whether it reached the other node: say so.
                    Err(RouteError::Lost)
                }
            },
        }
    }

    /// Sends a read to the node holding `machine` and waits for the answer.
    pub(crate) async fn read(
        &self,
        machine: &str,
        command: Command,
        wait: Duration,
    ) -> Result<serde_json::Value, RouteError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        // A moment more than the far node's own wait, so its timeout answer wins.
        match self.request(machine, Request::Read { command, wait_ms }, wait + Duration::from_secs(1)).await? {
            Reply::Answer { answer } => answer,
            Reply::Kicked => Err(RouteError::Lost),
        }
    }

    /// Tells the node holding `machine` that its queue has new work. False
    /// when no node holds it (it is offline; the work waits in the queue).
    pub(crate) async fn kick(&self, machine: &str) -> bool {
        matches!(self.request(machine, Request::Kick, Duration::from_secs(5)).await, Ok(Reply::Kicked))
    }

    async fn publish<T: serde::Serialize>(&self, subject: String, value: &T) {
        match serde_json::to_vec(value) {
            Ok(body) => {
                if let Err(error) = self.client.publish(subject, Bytes::from(body)).await {
                    tracing::warn!(%error, "cluster: cannot publish");
                }
            }
            Err(error) => tracing::error!(%error, "cluster: cannot encode"),
        }
    }

    /// Says goodbye, so the others drop this node's machines at once
    /// instead of after [`NODE_TIMEOUT`]; flushes what is still buffered.
    pub(crate) async fn leave(&self) {
        self.publish(NODES.to_owned(), &NodeBeat { node: self.node.clone(), leaving: true }).await;
        if let Err(error) = self.client.flush().await {
            tracing::debug!(%error, "cluster: flush at leave failed");
        }
    }
}

/// Starts the node's tasks: the publisher of local events, the intake of
/// the others' events and heartbeats, and this node's heartbeat.
pub(crate) async fn spawn(
    hub: &Arc<HubState>,
    cluster: &Arc<Cluster>,
    outbox: mpsc::Receiver<HubEvent>,
) -> Result<(), ClusterError> {
    // Subscribed before anything is asked, so no answer slips past.
    let events = cluster.client.subscribe(EVENTS_ALL).await?;
    let nodes = cluster.client.subscribe(NODES).await?;
    let syncs = cluster.client.subscribe(PRESENCE_SYNC).await?;
    let inbox = cluster.client.new_inbox();
    let lists = cluster.client.subscribe(inbox.clone()).await?;
    let requests = cluster.client.subscribe(format!("specbridge.node.{}.machine.*", cluster.node)).await?;
    let tracker = hub.tracker.clone();
    tracker.spawn(serve_requests(Arc::clone(hub), Arc::clone(cluster), requests));
    tracker.spawn(publisher(Arc::clone(hub), Arc::clone(cluster), outbox));
    tracker.spawn(intake(Arc::clone(hub), Arc::clone(cluster), events, lists));
    tracker.spawn(heartbeat(Arc::clone(hub), Arc::clone(cluster), nodes, syncs));
    // Who holds what, from the nodes already running.
    if let Err(error) = cluster.client.publish_with_reply(PRESENCE_SYNC, inbox, Bytes::from_static(b"{}")).await {
        tracing::warn!(%error, "cluster: cannot ask for presence");
    }
    tracing::info!(node = %cluster.node, "joined the other hub nodes on NATS");
    Ok(())
}

/// Answers the requests for the machines this node holds, each on its own
/// task (a long read must not hold up a kick). One subscription for all of
/// them: a subscription per machine cost about 7.5 KB per idle bridge
/// (async-nats gives each its own channel), most of a bridge's budget.
async fn serve_requests(hub: Arc<HubState>, cluster: Arc<Cluster>, mut requests: async_nats::Subscriber) {
    loop {
        let message = tokio::select! {
            () = hub.cancel.cancelled() => break,
            message = requests.next() => match message { Some(m) => m, None => break },
        };
        let (hub, cluster) = (Arc::clone(&hub), Arc::clone(&cluster));
        hub.tracker.clone().spawn(async move { cluster.answer(&hub, message).await });
    }
}

/// Publishes local events on their account's subject, in order.
async fn publisher(hub: Arc<HubState>, cluster: Arc<Cluster>, mut outbox: mpsc::Receiver<HubEvent>) {
    // A machine never changes accounts, so what the store said once holds.
    let mut accounts: HashMap<String, String> = HashMap::new();
    loop {
        let event = tokio::select! {
            () = hub.cancel.cancelled() => break,
            event = outbox.recv() => match event { Some(e) => e, None => break },
        };
        let Some(machine) = event.machine().map(str::to_owned) else { continue };
        let account = match accounts.get(&machine) {
            Some(account) => account.clone(),
            None => match hub.store.machine_account(&machine).await {
                Ok(Some(account)) => {
                    accounts.insert(machine.clone(), account.clone());
                    account
                }
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%machine, %error, "cluster: cannot find the machine's account");
                    continue;
                }
            },
        };
        let envelope = Envelope { node: cluster.node.clone(), event };
        cluster.publish(events_subject(&account), &envelope).await;
    }
}

/// Other nodes' events and presence lists, into this node's bus.
async fn intake(
    hub: Arc<HubState>,
    cluster: Arc<Cluster>,
    mut events: async_nats::Subscriber,
    mut lists: async_nats::Subscriber,
) {
    loop {
        tokio::select! {
            () = hub.cancel.cancelled() => break,
            message = events.next() => {
                let Some(message) = message else { break };
                match serde_json::from_slice::<Envelope>(&message.payload) {
                    Ok(envelope) if envelope.node != cluster.node => receive(&hub, &cluster, envelope),
                    Ok(_) => {} // our own, echoed
                    Err(error) => tracing::warn!(%error, "cluster: unreadable event"),
                }
            }
            message = lists.next() => {
                let Some(message) = message else { break };
                if let Ok(list) = serde_json::from_slice::<PresenceList>(&message.payload) {
                    cluster.presence.heard(&list.node);
                    for machine in &list.machines {
                        cluster.presence.online(machine, &list.node);
                        hub.events.publish_local(HubEvent::MachineOnline { machine: machine.clone() });
                    }
                }
            }
        }
    }
}

/// One event from another node.
fn receive(hub: &Arc<HubState>, cluster: &Cluster, envelope: Envelope) {
    let Envelope { node, event } = envelope;
    cluster.presence.heard(&node);
    match &event {
        HubEvent::MachineOnline { machine } => cluster.presence.online(machine, &node),
        HubEvent::MachineOffline { machine } => cluster.presence.offline(machine, &node),
        HubEvent::CommandResult(view) => crate::commands::finished_elsewhere(hub, &view.id),
        _ => {}
    }
    hub.events.publish_local(event);
}

/// A machine's node went away. Its bridge may already be back here (it
/// reconnected through the balancer before the node was found silent):
/// then nothing changed for this node's dashboards.
fn gone_elsewhere(hub: &HubState, machine: String) {
    if !hub.router.is_online(&machine) {
        tracing::debug!(%machine, "cluster: its node is gone; the machine is offline");
        hub.events.publish_local(HubEvent::MachineOffline { machine });
    }
}

/// Says this node is alive, answers presence questions, and drops nodes
/// that went silent.
async fn heartbeat(
    hub: Arc<HubState>,
    cluster: Arc<Cluster>,
    mut nodes: async_nats::Subscriber,
    mut syncs: async_nats::Subscriber,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = hub.cancel.cancelled() => break,
            _ = tick.tick() => {
                cluster.publish(NODES.to_owned(), &NodeBeat { node: cluster.node.clone(), leaving: false }).await;
                for machine in cluster.presence.expire(NODE_TIMEOUT) {
                    gone_elsewhere(&hub, machine);
                }
            }
            message = nodes.next() => {
                let Some(message) = message else { break };
                let Ok(beat) = serde_json::from_slice::<NodeBeat>(&message.payload) else { continue };
                if beat.node == cluster.node {
                    continue;
                }
                if beat.leaving {
                    for machine in cluster.presence.forget_node(&beat.node) {
                        gone_elsewhere(&hub, machine);
                    }
                } else {
                    cluster.presence.heard(&beat.node);
                }
            }
            message = syncs.next() => {
                let Some(message) = message else { break };
                let Some(reply_to) = message.reply else { continue };
                let machines = hub.router.machines();
                for chunk in machines.chunks(PRESENCE_CHUNK) {
                    let list = PresenceList { node: cluster.node.clone(), machines: chunk.to_vec() };
                    cluster.publish(reply_to.to_string(), &list).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tokens_keep_plain_ids_and_never_collide() {
        assert_eq!(subject_token("m-1_A"), "m-1_A");
        assert_eq!(subject_token("a.b"), "=612e62");
        assert_eq!(subject_token("a b*>"), "=6120622a3e");
        assert_eq!(subject_token(""), "=");
        // A plain id that looks like an encoded one cannot contain '='.
        assert_ne!(subject_token("612e62"), subject_token("a.b"));
    }

    #[test]
    fn urls_are_logged_without_their_password() {
        assert_eq!(redacted("nats://user:secret@10.0.0.1:4222"), "nats://…@10.0.0.1:4222");
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
