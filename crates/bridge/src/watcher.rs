//! File watching: OS notifications (inotify, FSEvents, ReadDirectoryChangesW
//! through `notify`), debounced, handed to the sync core as path lists.
//!
//! Nothing here polls: an idle bridge sleeps in the OS. The watcher knows which
//! project a path belongs to and which paths to ignore; it does not read files
//! (the core re-stats and hashes just the paths it is given).

use crate::core::{CoreHandle, CoreMsg};
use crate::error::EngineError;
use crate::fsutil;
use crate::index;
use crate::project::Project;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Collects paths until the file system has been quiet for `quiet`, or `max`
/// after the first path, whichever comes first: one editor save (write temp,
/// rename, chmod) or a `git checkout` becomes one batch.
#[derive(Debug)]
pub(crate) struct Debouncer {
    quiet: Duration,
    max: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    pending: BTreeMap<String, BTreeSet<String>>,
}

impl Debouncer {
    pub(crate) fn new(quiet: Duration, max: Duration) -> Self {
        Self { quiet, max, first: None, last: None, pending: BTreeMap::new() }
    }

    pub(crate) fn add(&mut self, project: &str, rel: String, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.pending.entry(project.to_owned()).or_default().insert(rel);
    }

    /// When the pending batch is due, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        Some((self.last? + self.quiet).min(self.first? + self.max))
    }

    pub(crate) fn take(&mut self) -> BTreeMap<String, BTreeSet<String>> {
        self.first = None;
        self.last = None;
        std::mem::take(&mut self.pending)
    }
}

/// An allowed root that did not exist at start, watched through its deepest
/// existing ancestor until it appears.
#[derive(Debug)]
struct PendingRoot {
    project: String,
    abs: PathBuf,
    watching: PathBuf,
}

/// The running watcher: owns the OS watcher and the debouncer.
pub(crate) struct Watching {
    watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    projects: Arc<BTreeMap<String, Project>>,
    /// Roots under a recursive watch: (project, absolute path).
    watched_roots: Vec<(String, PathBuf)>,
    pending_roots: Vec<PendingRoot>,
    debouncer: Debouncer,
    core: CoreHandle,
}

/// Starts watching every allowed root of every project.
pub(crate) fn start(
    projects: Arc<BTreeMap<String, Project>>,
    core: CoreHandle,
    quiet: Duration,
    max: Duration,
) -> Result<Watching, EngineError> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Runs on notify's own thread: hand the event over and return at once.
    let watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|source| EngineError::Watch { path: PathBuf::new(), source })?;
    let mut watching = Watching {
        watcher,
        rx,
        projects,
        watched_roots: Vec::new(),
        pending_roots: Vec::new(),
        debouncer: Debouncer::new(quiet, max),
        core,
    };
    let roots: Vec<(String, PathBuf, PathBuf)> = watching
        .projects
        .values()
        .flat_map(|p| p.roots.iter().map(move |r| (p.id.clone(), p.root.clone(), root_path(p, r))))
        .collect();
    for (project, project_root, abs) in roots {
        if abs.is_dir() {
            watching.watch(&abs, RecursiveMode::Recursive)?;
            watching.watched_roots.push((project, abs));
        } else {
            tracing::info!(root = %abs.display(), "allowed root does not exist yet; waiting for it");
            watching.wait_for_root(project, &project_root, abs)?;
        }
    }
    Ok(watching)
}

fn root_path(project: &Project, root: &str) -> PathBuf {
    if root == "." {
        project.root.clone()
    } else {
        project.root.join(root)
    }
}

/// The deepest folder between `project_root` and `target` that exists.
fn deepest_existing(project_root: &Path, target: &Path) -> PathBuf {
    target.ancestors().find(|a| a.starts_with(project_root) && a.is_dir()).unwrap_or(project_root).to_path_buf()
}

impl Watching {
    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> Result<(), EngineError> {
        self.watcher.watch(path, mode).map_err(|source| EngineError::Watch { path: path.to_path_buf(), source })
    }

    /// Watches the deepest existing folder on the way to a missing root.
    fn wait_for_root(&mut self, project: String, project_root: &Path, abs: PathBuf) -> Result<(), EngineError> {
        let watching = deepest_existing(project_root, &abs);
        self.watch(&watching, RecursiveMode::NonRecursive)?;
        self.pending_roots.push(PendingRoot { project, abs, watching });
        Ok(())
    }

    /// A watched root itself was removed (`rm -rf specs`, a branch switch): its
    /// OS watch died with it, so wait for it to come back.
    fn on_root_removed(&mut self, path: &Path) {
        let Some(i) = self.watched_roots.iter().position(|(_, abs)| abs == path) else { return };
        if path.is_dir() {
            return;
        }
        let (project, abs) = self.watched_roots.remove(i);
        let _ = self.watcher.unwatch(&abs);
        let Some(project_root) = self.projects.get(&project).map(|p| p.root.clone()) else { return };
        tracing::info!(root = %abs.display(), "allowed root removed; waiting for it to come back");
        if let Err(e) = self.wait_for_root(project, &project_root, abs) {
            tracing::warn!(error = %e, "cannot watch for a removed root");
        }
    }

    /// Forwards debounced batches to the core until cancelled.
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        loop {
            let deadline = self.debouncer.deadline();
            tokio::select! {
                _ = cancel.cancelled() => return,
                event = self.rx.recv() => match event {
                    Some(Ok(event)) => self.on_event(event).await,
                    Some(Err(e)) => {
                        // Typically an inotify queue overflow: events were lost, so rescan.
                        tracing::warn!(error = %e, "file watcher error; rescanning");
                        self.rescan_all().await;
                    }
                    None => return,
                },
                _ = crate::timing::sleep_until_opt(deadline) => self.flush().await,
            }
        }
    }

    async fn on_event(&mut self, event: notify::Event) {
        if event.need_rescan() {
            self.rescan_all().await;
            return;
        }
        // Opens and reads (ours included, when we send a file) change nothing.
        if let EventKind::Access(kind) = event.kind {
            if kind != AccessKind::Close(AccessMode::Write) {
                return;
            }
        }
        if matches!(event.kind, EventKind::Remove(_)) {
            for path in &event.paths {
                self.on_root_removed(path);
            }
        }
        if !self.pending_roots.is_empty() {
            self.revisit_pending_roots().await;
        }
        let now = Instant::now();
        for path in &event.paths {
            for project in self.projects.values() {
                if let Some(rel) = relative(project, path) {
                    self.debouncer.add(&project.id, rel, now);
                }
            }
        }
    }

    async fn flush(&mut self) {
        for (project, paths) in self.debouncer.take() {
            let msg = CoreMsg::Changed { project, paths: paths.into_iter().collect() };
            if self.core.send(msg).await.is_err() {
                return;
            }
        }
    }

    async fn rescan_all(&mut self) {
        let ids: Vec<String> = self.projects.keys().cloned().collect();
        for project in ids {
            let _ = self.core.send(CoreMsg::Rescan { project }).await;
        }
    }

    /// A missing root may have appeared (watch it and rescan its project), or a
    /// folder on the way to it may have (watch that one instead).
    async fn revisit_pending_roots(&mut self) {
        let mut i = 0;
        while i < self.pending_roots.len() {
            let abs = self.pending_roots[i].abs.clone();
            if abs.is_dir() {
                let root = self.pending_roots.remove(i);
                match self.watch(&abs, RecursiveMode::Recursive) {
                    Ok(()) => {
                        tracing::info!(root = %abs.display(), "allowed root appeared; watching it");
                        self.watched_roots.push((root.project.clone(), abs));
                        let _ = self.core.send(CoreMsg::Rescan { project: root.project }).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot watch a new root"),
                }
                continue;
            }
            let project_root = self.projects.get(&self.pending_roots[i].project).map(|p| p.root.clone());
            if let Some(project_root) = project_root {
                let deeper = deepest_existing(&project_root, &abs);
                if deeper != self.pending_roots[i].watching && self.watch(&deeper, RecursiveMode::NonRecursive).is_ok()
                {
                    self.pending_roots[i].watching = deeper;
                }
            }
            i += 1;
        }
    }
}

/// The project-relative, `/`-separated path of an event path, if the project
/// syncs it (our temp files, skipped folders and paths outside roots are not).
fn relative(project: &Project, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(&project.root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let parts = parts?;
    if parts.is_empty() || parts.last().is_some_and(|name| fsutil::is_temp_name(name)) {
        return None;
    }
    let rel = parts.join("/");
    index::is_indexable(project, &rel).then_some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Layout;

    #[test]
    fn debouncer_waits_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::from_millis(40), Duration::from_millis(250));
        assert_eq!(d.deadline(), None);
        d.add("p", "a".into(), t0);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_millis(40)));
        d.add("p", "b".into(), t0 + Duration::from_millis(30));
        assert_eq!(d.deadline(), Some(t0 + Duration::from_millis(70)));
        d.add("p", "a".into(), t0 + Duration::from_millis(240));
        assert_eq!(d.deadline(), Some(t0 + Duration::from_millis(250)), "capped at max");
        let batch = d.take();
        assert_eq!(batch["p"].len(), 2);
        assert_eq!(d.deadline(), None);
    }

    fn project(root: &Path, roots: &[&str]) -> Project {
        Project {
            id: "p".into(),
            name: "p".into(),
            root: std::fs::canonicalize(root).unwrap(),
            layout: Layout::LeanSpec,
            roots: roots.iter().map(|r| (*r).to_owned()).collect(),
            read_only: false,
        }
    }

    async fn next_changed(rx: &mut mpsc::Receiver<CoreMsg>, within: Duration) -> Option<(String, Vec<String>)> {
        match tokio::time::timeout(within, rx.recv()).await {
            Ok(Some(CoreMsg::Changed { project, paths })) => Some((project, paths)),
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_burst_of_writes_becomes_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        let projects = Arc::new(BTreeMap::from([("p".to_owned(), project(dir.path(), &["specs"]))]));
        let (tx, mut rx) = mpsc::channel(16);
        let watching =
            start(projects, CoreHandle::new(tx), Duration::from_millis(250), Duration::from_secs(2)).unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(watching.run(cancel.clone()));

        // The debounce is long here so that a loaded CI machine still writes the
        // whole burst inside one window (with 40 ms it flaked at 39.6 ms); the
        // assertion below is the test's precondition, not a speed target.
        let started = std::time::Instant::now();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("specs/{i:02}.md")), format!("# {i}\n")).unwrap();
        }
        std::fs::write(dir.path().join("specs/.x.md.1.specbridge-tmp"), "ours").unwrap();
        std::fs::write(dir.path().join("outside.md"), "not watched").unwrap();
        assert!(started.elapsed() < Duration::from_millis(200), "the burst took {:?}", started.elapsed());

        let (project, paths) = next_changed(&mut rx, Duration::from_secs(2)).await.expect("one batch");
        assert_eq!(project, "p");
        assert_eq!(paths.len(), 20, "{paths:?}");
        assert!(paths.iter().all(|p| p.starts_with("specs/") && p.ends_with(".md")));
        assert!(next_changed(&mut rx, Duration::from_millis(600)).await.is_none(), "exactly one batch");
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_root_removed_and_recreated_is_watched_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        let projects = Arc::new(BTreeMap::from([("p".to_owned(), project(dir.path(), &["specs"]))]));
        let (tx, mut rx) = mpsc::channel(16);
        let watching =
            start(projects, CoreHandle::new(tx), Duration::from_millis(20), Duration::from_millis(100)).unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(watching.run(cancel.clone()));
        std::fs::remove_dir_all(dir.path().join("specs")).unwrap();
        let (_, paths) = next_changed(&mut rx, Duration::from_secs(2)).await.expect("removal reported");
        assert!(paths.contains(&"specs".to_owned()), "{paths:?}");
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut rescanned = false;
        let mut seen_file = false;
        while !(rescanned && seen_file) {
            assert!(std::time::Instant::now() < deadline, "rescan {rescanned}, file {seen_file}");
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(Some(CoreMsg::Rescan { .. })) => {
                    rescanned = true;
                    std::fs::write(dir.path().join("specs/back.md"), "b").unwrap();
                }
                Ok(Some(CoreMsg::Changed { paths, .. })) => seen_file |= paths.contains(&"specs/back.md".to_owned()),
                _ => {}
            }
        }
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_root_created_later_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let projects = Arc::new(BTreeMap::from([("p".to_owned(), project(dir.path(), &["docs/specs"]))]));
        let (tx, mut rx) = mpsc::channel(16);
        let watching =
            start(projects, CoreHandle::new(tx), Duration::from_millis(20), Duration::from_millis(100)).unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(watching.run(cancel.clone()));
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::create_dir_all(dir.path().join("docs/specs")).unwrap();
        let rescan = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.unwrap().unwrap();
        assert!(matches!(rescan, CoreMsg::Rescan { ref project } if project == "p"), "{rescan:?}");
        // Files in the new root now produce events.
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::write(dir.path().join("docs/specs/a.md"), "a").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.unwrap().unwrap();
            if let CoreMsg::Changed { paths, .. } = msg {
                if paths.contains(&"docs/specs/a.md".to_owned()) {
                    break;
                }
            }
            assert!(std::time::Instant::now() < deadline);
        }
        cancel.cancel();
        task.await.unwrap();
    }
}
