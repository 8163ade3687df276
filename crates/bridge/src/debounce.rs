//! Which changed paths go to the sync core, and when.
//!
//! A path whose write the OS reported complete (inotify's close-write, or a
//! rename into place) goes at once: the file is at rest. Everything else is
//! coalesced until the folder has been quiet for a moment: one editor save
//! (write temp, rename, chmod) or a `git checkout` becomes one batch. On
//! platforms that report completion, a path being written is held until its
//! writer closes it, so a save made of several write calls with pauses between
//! them is never read half-written; a writer that keeps its file open (a log)
//! is still picked up after [`WRITING_QUIET`], or [`WRITING_MAX`] at most.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// Paths sent ahead of the batch per quiet period (40 ms). Past this many, a
/// burst (`git checkout`, a formatter over the tree) is coalesced again.
pub(crate) const BURST: usize = 8;

/// A path being written with no close reported goes after the folder has been
/// quiet this long (writers that keep a file open, mmap writes, hard links).
pub(crate) const WRITING_QUIET: Duration = Duration::from_secs(1);

/// …and no later than this after its first write.
pub(crate) const WRITING_MAX: Duration = Duration::from_secs(5);

/// Paths per project.
pub(crate) type Paths = BTreeMap<String, BTreeSet<String>>;

/// The watcher's pending paths, in three sets that never share a path.
#[derive(Debug)]
pub(crate) struct Debouncer {
    quiet: Duration,
    max: Duration,
    /// Complete: sent on the next [`Debouncer::take_ready`].
    ready: Paths,
    /// Changed with no completion signal: sent when the batch is due.
    changed: Paths,
    /// First and last event of the `changed` batch.
    changed_first: Option<Instant>,
    changed_last: Option<Instant>,
    /// Being written, no close seen yet: held for the close.
    writing: Paths,
    writing_first: Option<Instant>,
    /// The last event of any kind (the folder's quiet is measured from it).
    last_event: Option<Instant>,
    /// Paths sent ahead in the window that began at `window`, `quiet` long:
    /// at most [`BURST`] per window, so steady saves (an agent writing a file
    /// every 20 ms) all go at once and only a flood is coalesced.
    window: Option<Instant>,
    sent_ahead: usize,
}

impl Debouncer {
    /// A debouncer that sends a batch after `quiet` without events, or `max`
    /// after the batch's first event.
    pub(crate) fn new(quiet: Duration, max: Duration) -> Self {
        Self {
            quiet,
            max,
            ready: Paths::new(),
            changed: Paths::new(),
            changed_first: None,
            changed_last: None,
            writing: Paths::new(),
            writing_first: None,
            last_event: None,
            window: None,
            sent_ahead: 0,
        }
    }

    fn event_at(&mut self, now: Instant) {
        self.last_event = Some(now);
    }

    /// Whether one more path may go ahead of the batch now.
    fn may_send_ahead(&mut self, now: Instant) -> bool {
        if self.window.is_none_or(|start| now.saturating_duration_since(start) >= self.quiet) {
            self.window = Some(now);
            self.sent_ahead = 0;
        }
        self.sent_ahead < BURST
    }

    fn add_changed(&mut self, project: &str, rel: String, now: Instant) {
        self.changed_first.get_or_insert(now);
        self.changed_last = Some(now);
        self.changed.entry(project.to_owned()).or_default().insert(rel);
    }

    /// A change with no word on whether it is complete (metadata, removal,
    /// folders, every event on platforms without a completion signal).
    pub(crate) fn changed(&mut self, project: &str, rel: String, now: Instant) {
        self.event_at(now);
        if contains(&self.writing, project, &rel) || contains(&self.ready, project, &rel) {
            // Still waiting for its close, or already going: nothing to add.
            return;
        }
        self.add_changed(project, rel, now);
    }

    /// A write under way (creation or data written) on a platform that
    /// reports when it is complete.
    pub(crate) fn writing(&mut self, project: &str, rel: String, now: Instant) {
        self.event_at(now);
        // A path sent ahead and written again is read after this write instead.
        remove(&mut self.ready, project, &rel);
        remove(&mut self.changed, project, &rel);
        self.writing_first.get_or_insert(now);
        self.writing.entry(project.to_owned()).or_default().insert(rel);
    }

    /// The OS reported the path at rest (closed after writing, renamed into
    /// place): it goes at once, unless a burst is under way.
    pub(crate) fn completed(&mut self, project: &str, rel: String, now: Instant) {
        self.event_at(now);
        remove(&mut self.writing, project, &rel);
        if self.writing.is_empty() {
            self.writing_first = None;
        }
        if contains(&self.ready, project, &rel) {
            return;
        }
        if self.may_send_ahead(now) {
            remove(&mut self.changed, project, &rel);
            self.sent_ahead += 1;
            self.ready.entry(project.to_owned()).or_default().insert(rel);
        } else {
            self.add_changed(project, rel, now);
        }
    }

    /// The paths to send now.
    pub(crate) fn take_ready(&mut self) -> Paths {
        std::mem::take(&mut self.ready)
    }

    fn changed_due(&self) -> Option<Instant> {
        Some((self.changed_last? + self.quiet).min(self.changed_first? + self.max))
    }

    fn writing_due(&self) -> Option<Instant> {
        Some((self.last_event? + WRITING_QUIET).min(self.writing_first? + WRITING_MAX))
    }

    /// When the next batch is due, if one is pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.changed_due(), self.writing_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The batch due at `now`: the coalesced changes, and paths whose writer
    /// went quiet without a close.
    pub(crate) fn take_due(&mut self, now: Instant) -> Paths {
        let mut due = Paths::new();
        if self.changed_due().is_some_and(|at| at <= now) {
            self.changed_first = None;
            self.changed_last = None;
            due = std::mem::take(&mut self.changed);
        }
        if self.writing_due().is_some_and(|at| at <= now) {
            self.writing_first = None;
            for (project, paths) in std::mem::take(&mut self.writing) {
                due.entry(project).or_default().extend(paths);
            }
        }
        due
    }
}

fn contains(set: &Paths, project: &str, rel: &str) -> bool {
    set.get(project).is_some_and(|paths| paths.contains(rel))
}

/// Removes a path, and its project once empty; whether it was there.
fn remove(set: &mut Paths, project: &str, rel: &str) -> bool {
    let Some(paths) = set.get_mut(project) else { return false };
    let removed = paths.remove(rel);
    if paths.is_empty() {
        set.remove(project);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(40);
    const MAX: Duration = Duration::from_millis(250);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn names(paths: &Paths) -> Vec<&str> {
        paths.values().flatten().map(String::as_str).collect()
    }

    #[test]
    fn changes_wait_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        assert_eq!(d.deadline(), None);
        d.changed("p", "a".into(), t0);
        assert_eq!(d.deadline(), Some(t0 + ms(40)));
        d.changed("p", "b".into(), t0 + ms(30));
        assert_eq!(d.deadline(), Some(t0 + ms(70)));
        d.changed("p", "a".into(), t0 + ms(240));
        assert_eq!(d.deadline(), Some(t0 + ms(250)), "capped at max");
        assert!(d.take_due(t0 + ms(249)).is_empty(), "not due yet");
        assert_eq!(names(&d.take_due(t0 + ms(250))), ["a", "b"]);
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_completed_write_goes_at_once_and_leaves_the_batch() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        d.changed("p", "other".into(), t0);
        d.writing("p", "a".into(), t0);
        d.writing("p", "a".into(), t0 + ms(1));
        assert!(d.take_ready().is_empty(), "still being written");
        d.completed("p", "a".into(), t0 + ms(2));
        assert_eq!(names(&d.take_ready()), ["a"]);
        // The unrelated change still waits for the quiet period.
        assert_eq!(d.deadline(), Some(t0 + ms(40)));
        assert_eq!(names(&d.take_due(t0 + ms(40))), ["other"]);
    }

    #[test]
    fn a_path_being_written_is_held_past_the_quiet_period_until_its_close() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        d.writing("p", "a".into(), t0);
        // A writer pausing between write calls, longer than the quiet period.
        d.writing("p", "a".into(), t0 + ms(100));
        d.changed("p", "a".into(), t0 + ms(150)); // a chmod meanwhile
        assert!(d.take_due(t0 + ms(400)).is_empty(), "half-written: held");
        d.completed("p", "a".into(), t0 + ms(500));
        assert_eq!(names(&d.take_ready()), ["a"]);
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_writer_that_never_closes_is_still_picked_up() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        d.writing("p", "log".into(), t0);
        assert_eq!(d.deadline(), Some(t0 + WRITING_QUIET));
        // Appending every half second: capped by WRITING_MAX.
        for i in 1..=12 {
            d.writing("p", "log".into(), t0 + ms(500 * i));
        }
        assert_eq!(d.deadline(), Some(t0 + WRITING_MAX));
        assert_eq!(names(&d.take_due(t0 + WRITING_MAX)), ["log"]);
    }

    #[test]
    fn a_burst_of_completed_writes_is_coalesced_after_a_few() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        let mut ahead = 0;
        for i in 0..20 {
            let at = t0 + ms(i);
            d.writing("p", format!("{i:02}"), at);
            d.completed("p", format!("{i:02}"), at);
            ahead += d.take_ready().values().map(BTreeSet::len).sum::<usize>();
        }
        assert_eq!(ahead, BURST);
        assert_eq!(d.take_due(t0 + ms(19) + Q).values().map(BTreeSet::len).sum::<usize>(), 20 - BURST);
        // After a quiet period, the next save goes at once again.
        d.completed("p", "again".into(), t0 + ms(100));
        assert_eq!(names(&d.take_ready()), ["again"]);
    }

    #[test]
    fn steady_saves_all_go_at_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Q, MAX);
        // One save every 20 ms, never a quiet period: not a burst.
        for i in 0..50 {
            let at = t0 + ms(20 * i);
            d.writing("p", "a".into(), at);
            d.completed("p", "a".into(), at);
            assert_eq!(names(&d.take_ready()), ["a"], "save {i}");
        }
        assert_eq!(d.deadline(), None);
    }
}
