//! What `/metrics` reports, in the Prometheus text format (prometheus-client).
//!
//! Two kinds of series:
//! - recorded as things happen, kept here: commands by outcome and store
//!   call latency;
//! - read when scraped, never kept twice: connections and wire counters (the
//!   hub's [`crate::state::Stats`]), queue depth (one query), readiness.
//!
//! The scrape builds a fresh registry each time around the recorded families
//! (they are shared handles), so nothing here points back at the hub state.

use crate::state::Stats;
use crate::store::{CommandState, QueueDepth};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// The content type of the text format prometheus-client writes.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A command's final state, as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// Which store call was timed.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are the snake_case names operators query by
pub(crate) enum StoreOp {
    /// A command accepted into the queue.
    insert_command,
    /// A command's outcome recorded.
    finish_command,
    /// A bridge's hello: machine and projects upserted.
    machine_connected,
    /// A batch of file changes from a bridge.
    apply_changes,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: StoreOp,
}

fn store_histogram() -> Histogram {
    // 0.1 ms .. ~1.6 s: a SQLite commit on a quiet disk is well under a
    // millisecond, a Postgres round trip a few, a sick disk seconds.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// The families recorded as the hub runs.
#[derive(Debug)]
pub(crate) struct Metrics {
    commands: Family<Outcome, Counter>,
    store_seconds: Family<Op, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { commands: Family::default(), store_seconds: Family::new_with_constructor(store_histogram) }
    }
}

/// What the scrape reads from the hub at that moment.
pub(crate) struct Snapshot<'a> {
    pub(crate) stats: &'a Stats,
    /// `None` when the store could not be asked (the series is left out).
    pub(crate) queue: Option<QueueDepth>,
    pub(crate) ready: bool,
    pub(crate) draining: bool,
}

impl Metrics {
    /// Counts a command that reached a final state.
    pub(crate) fn command_finished(&self, state: CommandState) {
        self.commands.get_or_create(&Outcome { outcome: state.as_str() }).inc();
    }

    /// Runs a store call and records how long it took, failed or not.
    pub(crate) async fn time<T>(&self, op: StoreOp, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        self.store_seconds.get_or_create(&Op { op }).observe(started.elapsed().as_secs_f64());
        out
    }

    /// The text exposition of everything.
    pub(crate) fn render(&self, now: Snapshot<'_>) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::with_prefix("specbridge_hub");
        registry.register("commands", "Commands that reached a final state, by outcome", self.commands.clone());
        registry.register(
            "store_call_seconds",
            "Latency of the store calls on the hot paths",
            self.store_seconds.clone(),
        );
        let s = now.stats;
        let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        registry.register("bridges_connected", "Bridge sessions open now", gauge(s.bridges_connected.load(Relaxed)));
        registry.register(
            "dashboards_connected",
            "Dashboard WebSockets open now",
            gauge(s.dashboards_connected.load(Relaxed)),
        );
        if let Some(queue) = now.queue {
            registry.register("commands_queued", "Commands accepted and not sent yet", gauge(queue.queued));
            registry.register("commands_in_flight", "Commands sent whose answer is not known yet", gauge(queue.sent));
        }
        registry.register("ready", "1 when /readyz answers 200", gauge(u64::from(now.ready)));
        registry.register("draining", "1 while the hub drains before stopping", gauge(u64::from(now.draining)));
        let counter = |v: &std::sync::atomic::AtomicU64| ConstCounter::new(v.load(Relaxed));
        registry.register(
            "bridge_upgrades",
            "Requests to /v1/bridge, accepted or not",
            counter(&s.bridge_upgrade_attempts),
        );
        registry.register("bridge_auth_failures", "Bridge upgrades refused with 401", counter(&s.bridge_auth_failures));
        registry.register("bridge_received_bytes", "Payload bytes received from bridges", counter(&s.bridge_bytes_in));
        registry.register("bridge_sent_bytes", "Payload bytes sent to bridges", counter(&s.bridge_bytes_out));
        registry.register("bridge_received_frames", "Data frames received from bridges", counter(&s.bridge_frames_in));
        registry.register("bridge_sent_frames", "Data frames sent to bridges", counter(&s.bridge_frames_out));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_series_with_its_labels() {
        let metrics = Metrics::default();
        metrics.command_finished(CommandState::Applied);
        metrics.command_finished(CommandState::Applied);
        metrics.command_finished(CommandState::Failed);
        let stats = Stats::default();
        stats.bridges_connected.store(3, Relaxed);
        let text = metrics
            .render(Snapshot {
                stats: &stats,
                queue: Some(QueueDepth { queued: 4, sent: 1 }),
                ready: true,
                draining: false,
            })
            .unwrap();
        for line in [
            "specbridge_hub_commands_total{outcome=\"applied\"} 2",
            "specbridge_hub_commands_total{outcome=\"failed\"} 1",
            "specbridge_hub_bridges_connected 3",
            "specbridge_hub_commands_queued 4",
            "specbridge_hub_commands_in_flight 1",
            "specbridge_hub_ready 1",
            "specbridge_hub_draining 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn a_timed_store_call_lands_in_its_histogram() {
        let metrics = Metrics::default();
        let value = metrics.time(StoreOp::insert_command, async { 7 }).await;
        assert_eq!(value, 7);
        let stats = Stats::default();
        let text = metrics.render(Snapshot { stats: &stats, queue: None, ready: false, draining: true }).unwrap();
        assert!(text.contains("specbridge_hub_store_call_seconds_count{op=\"insert_command\"} 1"), "{text}");
        assert!(!text.contains("commands_queued"), "an unknown queue depth is left out: {text}");
        assert!(text.contains("specbridge_hub_draining 1"), "{text}");
    }
}
