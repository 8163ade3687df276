//! Which machines the other nodes hold, as their events and heartbeats say.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Inner {
    /// machine -> the node holding its session.
    machines: HashMap<String, String>,
    /// node -> when it was last heard from.
    nodes: HashMap<String, Instant>,
}

/// The other nodes' machines. Locks are held for map operations only.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    inner: Mutex<Inner>,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether another node holds `machine`.
    pub(crate) fn is_online(&self, machine: &str) -> bool {
        self.lock().machines.contains_key(machine)
    }

    /// `node` was heard from.
    pub(crate) fn heard(&self, node: &str) {
        let mut inner = self.lock();
        match inner.nodes.get_mut(node) {
            Some(at) => *at = Instant::now(),
            None => {
                inner.nodes.insert(node.to_owned(), Instant::now());
            }
        }
    }

    /// `node` holds `machine` now (the newest connection wins, wherever it is).
    pub(crate) fn online(&self, machine: &str, node: &str) {
        self.lock().machines.insert(machine.to_owned(), node.to_owned());
    }

    /// `node` no longer holds `machine`. Another node's newer session stays.
    pub(crate) fn offline(&self, machine: &str, node: &str) {
        let mut inner = self.lock();
        if inner.machines.get(machine).is_some_and(|n| n == node) {
            inner.machines.remove(machine);
        }
    }

    /// The node holding `machine`, if another node does.
    pub(crate) fn node_of(&self, machine: &str) -> Option<String> {
        self.lock().machines.get(machine).cloned()
    }

    /// Forgets `node` (it said goodbye) and returns the machines it held.
    pub(crate) fn forget_node(&self, node: &str) -> Vec<String> {
        let mut inner = self.lock();
        inner.nodes.remove(node);
        let gone: Vec<String> = inner.machines.iter().filter(|(_, n)| *n == node).map(|(m, _)| m.clone()).collect();
        for machine in &gone {
            inner.machines.remove(machine);
        }
        gone
    }

    /// Forgets the nodes unheard for `timeout` and returns their machines.
    pub(crate) fn expire(&self, timeout: Duration) -> Vec<String> {
        let silent: Vec<String> = {
            let inner = self.lock();
            inner.nodes.iter().filter(|(_, at)| at.elapsed() >= timeout).map(|(n, _)| n.clone()).collect()
        };
        silent.iter().flat_map(|node| self.forget_node(node)).collect()
    }

    /// Machines held elsewhere and nodes heard from (`/metrics`).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.machines.len(), inner.nodes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_offline_from_the_old_node_keeps_the_machine_on_its_new_node() {
        let presence = Presence::default();
        presence.online("m", "a");
        presence.online("m", "b"); // reconnected through the balancer to b
        presence.offline("m", "a"); // a notices its old session ended
        assert!(presence.is_online("m"));
        presence.offline("m", "b");
        assert!(!presence.is_online("m"));
    }

    #[test]
    fn a_silent_node_takes_its_machines_offline() {
        let presence = Presence::default();
        presence.heard("a");
        presence.heard("b");
        presence.online("m1", "a");
        presence.online("m2", "b");
        assert!(presence.expire(Duration::from_secs(60)).is_empty());
        let gone = presence.expire(Duration::ZERO);
        assert_eq!(gone.len(), 2);
        assert!(!presence.is_online("m1") && !presence.is_online("m2"));
        assert_eq!(presence.counts(), (0, 0));
    }
}
