//! The engine: wires config, vault token, projects, watcher, sync core,
//! executor and link together, and hands out a cloneable [`EngineHandle`].
//!
//! Tasks: the sync core (owns indexes and outbox), the watcher (sends completed
//! writes at once, debounces other OS events), the link (sessions and
//! reconnects), the status writer, and one short task per command. All are tracked; [`EngineHandle::shutdown`] cancels
//! them and waits a bounded time, and the core saves its state on the way out.

use crate::audit::AuditLog;
use crate::commands::Jobs;
use crate::config::Config;
use crate::core::{Core, CoreHandle, MAILBOX};
use crate::disk::{self, Part, StateDisk};
use crate::error::{EngineError, StateError};
use crate::executor::Executor;
use crate::index::Index;
use crate::jobs::consent::ConsentDesk;
use crate::jobs::{ConsentAnswer, ConsentError, ConsentPrompter, ConsentRequest};
use crate::link::{self, LinkCtx};
use crate::outbox::Outbox;
use crate::outcomes::Outcomes;
use crate::paths::Paths;
use crate::project::Project;
use crate::status::{self, EngineEvent, EngineStatus, LinkState, ProjectStatus};
use crate::timing::Timing;
use crate::vault::Token;
use crate::watcher;
use specbridge_protocol::{Hello, MachineInfo, ProjectInfo, CAPABILITIES, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Capacity of the event channel; slow subscribers see `Lagged`, never block the engine.
const EVENT_CAPACITY: usize = 256;

/// What the engine needs to start.
#[derive(Debug)]
pub struct EngineOptions {
    /// Config and state folders.
    pub paths: Paths,
    /// The configuration (hub, machine, projects).
    pub config: Config,
    /// The machine token for the hub.
    pub token: Token,
    /// Timers; [`Timing::default`] in production.
    pub timing: Timing,
}

/// Starts engines.
#[derive(Debug)]
pub struct Engine;

/// A running engine. Cheap to clone; call [`EngineHandle::shutdown`] to stop it
/// (dropping every handle leaves the tasks running until the runtime ends).
#[derive(Debug, Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    paths: Paths,
    status_tx: watch::Sender<EngineStatus>,
    status_rx: watch::Receiver<EngineStatus>,
    events: broadcast::Sender<EngineEvent>,
    retry: Arc<Notify>,
    /// Bumped to make a live session hang up and redial at once.
    reconnect: watch::Sender<u64>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Hub commands in flight (see [`EngineHandle::wait_until_idle`]).
    in_flight: watch::Sender<usize>,
    /// Job runs waiting for the owner's confirmation.
    consent: Arc<ConsentDesk>,
}

impl Engine {
    /// Loads the indexes and the outbox, scans every project (files changed
    /// while the engine was stopped go to the outbox), starts the watchers, the
    /// sync core and the link, and returns at once: the link connects in the
    /// background (see [`EngineHandle::status`] and [`EngineHandle::subscribe`]).
    ///
    /// A project folder that cannot be opened is skipped and reported in
    /// `last_error`, so one missing drive does not stop the others. A paused
    /// project ([`crate::ProjectConfig::paused`]) is announced to the hub, which
    /// keeps its last-known files, but is neither scanned, watched nor served.
    pub async fn start(opts: EngineOptions) -> Result<EngineHandle, EngineError> {
        let EngineOptions { paths, config, token, timing } = opts;
        if config.legacy_jobs.is_some() {
            tracing::warn!(
                "config.toml has a [jobs] table, which is no longer used: pin jobs with `specbridge jobs add` \
                 (jobs the hub defined earlier wait as proposals: `specbridge jobs list`)"
            );
        }
        let hub = config.hub.clone().ok_or(EngineError::NoHub)?;
        let url = link::connect::bridge_url(&hub.url)
            .map_err(|reason| EngineError::InvalidHubUrl { url: hub.url.clone(), reason })?;
        match crate::fsutil::create_private_dir(&paths.state_dir) {
            // A full disk must not stop the bridge: it runs from memory and
            // saves once space returns (see `disk`).
            Err(e) if disk::is_full(&e) => tracing::error!(error = %e, "cannot create the state folder"),
            other => other.map_err(|e| StateError::io(&paths.state_dir, e))?,
        }

        let mut problems = Vec::new();
        let mut projects = BTreeMap::new();
        let mut paused = Vec::new();
        for project in &config.projects {
            match Project::open(project) {
                Ok(open) if project.paused => paused.push(open.info()),
                Ok(open) => {
                    // Refused outright, not skipped: the owner must move the folder first.
                    open.check_private(&[&paths.config_dir, &paths.state_dir])?;
                    projects.insert(open.id.clone(), open);
                }
                Err(e) => {
                    tracing::warn!(project = %project.id, error = %e, "project skipped");
                    problems.push(format!("project {} skipped: {e}", project.id));
                }
            }
        }
        let projects = Arc::new(projects);

        let mut outbox = load_or_reset(&paths.outbox_file(), Outbox::load)?;
        outbox.retain_projects(|p| projects.contains_key(p));
        let mut indexes = BTreeMap::new();
        for id in projects.keys() {
            indexes.insert(id.clone(), load_or_reset(&paths.index_file(id), Index::load)?);
        }

        let initial = EngineStatus {
            link: LinkState::Connecting,
            hub_url: hub.url.clone(),
            queue_depth: outbox.len(),
            last_error: problems.first().cloned(),
            projects: projects
                .values()
                .map(|p| ProjectStatus {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    layout: p.layout,
                    path: p.root.clone(),
                    files: indexes.get(&p.id).map_or(0, Index::len),
                    read_only: p.read_only,
                })
                .collect(),
            updated_ms: crate::fsutil::now_ms(),
            state_problem: None,
        };
        let status_file = paths.status_file();
        let first_write = status::write_status(&status_file, &initial, true);
        let (status_tx, status_rx) = watch::channel(initial);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let state_disk = StateDisk::new(paths.state_dir.clone(), status_tx.clone(), events.clone());
        match first_write {
            Ok(()) => {}
            Err(StateError::Io { source, .. }) => state_disk.failed(Part::Status, &source),
            Err(e) => return Err(e.into()),
        }
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (core_tx, core_rx) = mpsc::channel(MAILBOX);
        let core_handle = CoreHandle::new(core_tx);

        // Watch before scanning: a change during the scan is then seen twice
        // (harmless) rather than not at all.
        let watching =
            watcher::start(Arc::clone(&projects), core_handle.clone(), timing.debounce_quiet, timing.debounce_max)?;
        let mut core = Core::new(
            paths.clone(),
            Arc::clone(&projects),
            indexes,
            outbox,
            status_tx.clone(),
            events.clone(),
            Arc::clone(&state_disk),
        );
        let young_temp_files = core.startup_scan().await;
        tracker.spawn(crate::sweep::sweep_later(young_temp_files, cancel.clone()));
        let head = core.subscribe_head();
        tracker.spawn(core.run(core_rx, cancel.clone()));
        tracker.spawn(watching.run(cancel.clone()));

        let retry = Arc::new(Notify::new());
        let (reconnect, reconnect_rx) = watch::channel(0u64);
        let (in_flight, _) = watch::channel(0usize);
        let audit = AuditLog::new(paths.audit_log()).reporting_to(Arc::clone(&state_disk));
        tracker.spawn(disk::retry_loop(Arc::clone(&state_disk), audit.clone(), cancel.clone()));
        let consent = Arc::new(ConsentDesk::new(events.clone()));
        let jobs = Jobs::new(&paths, Arc::clone(&consent), timing.consent_timeout, audit.clone());
        let executor = Arc::new(Executor::new(
            Arc::clone(&projects),
            audit,
            Arc::new(jobs),
            Outcomes::load(paths.commands_file()),
        ));
        let ctx = LinkCtx {
            url,
            token,
            hello: hello(&config, &projects, paused),
            timing,
            core: core_handle,
            head,
            projects,
            executor,
            status: status_tx.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            tracker: tracker.clone(),
            in_flight: in_flight.clone(),
            retry: Arc::clone(&retry),
            reconnect: reconnect_rx,
            baseline_error: problems.first().cloned(),
        };
        tracker.spawn(link::run(ctx));

        tracker.spawn(status::write_loop(status_rx.clone(), status_file, state_disk, cancel.clone()));
        tracing::info!(hub = %hub.url, projects = status_rx.borrow().projects.len(), "engine started");
        Ok(EngineHandle {
            inner: Arc::new(Inner {
                paths,
                status_tx,
                status_rx,
                events,
                retry,
                reconnect,
                cancel,
                tracker,
                in_flight,
                consent,
            }),
        })
    }
}

impl EngineHandle {
    /// The current status snapshot.
    pub async fn status(&self) -> Result<EngineStatus, EngineError> {
        Ok(self.inner.status_rx.borrow().clone())
    }

    /// The status snapshot as a watch channel: wakes on every change
    /// (link state, queue depth, file counts, errors).
    pub fn status_watch(&self) -> watch::Receiver<EngineStatus> {
        self.inner.status_rx.clone()
    }

    /// Engine events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// Hub commands queued, running or being answered right now.
    pub fn commands_in_flight(&self) -> usize {
        *self.inner.in_flight.borrow()
    }

    /// Waits until no hub command is in flight, at most `within`; true when
    /// idle. A host replacing its own binary (an app update) waits on this so
    /// a write or a job is never cut off halfway and every answer reaches the
    /// hub. New commands may still arrive afterwards: stop the engine next.
    pub async fn wait_until_idle(&self, within: Duration) -> bool {
        let mut count = self.inner.in_flight.subscribe();
        let idle = tokio::time::timeout(within, async { count.wait_for(|n| *n == 0).await.is_ok() }).await;
        idle.unwrap_or(false)
    }

    /// Lets this engine ask its owner before a job runs: while the returned
    /// prompter lives, a run of a job that is not unattended waits for an
    /// answer ([`EngineEvent::ConsentRequested`], then
    /// [`EngineHandle::answer_consent`]) instead of being refused. A host with
    /// nobody to ask (the headless CLI) never takes one, so there only
    /// unattended jobs run.
    pub fn consent_prompter(&self) -> ConsentPrompter {
        self.inner.consent.prompter()
    }

    /// Answers a run's confirmation request: allow once, always allow (the
    /// job is marked unattended), or deny.
    pub fn answer_consent(&self, request: &str, answer: ConsentAnswer) -> Result<(), ConsentError> {
        self.inner.consent.answer(request, answer)
    }

    /// The confirmation requests waiting now, oldest first (for a window
    /// that opens after the event went by).
    pub fn pending_consents(&self) -> Vec<ConsentRequest> {
        self.inner.consent.waiting()
    }

    /// Reconnects now: skips the backoff delay, and retries after a 401 (for
    /// example once the user has fixed the token on the hub side).
    pub fn retry_now(&self) {
        self.inner.retry.notify_one();
    }

    /// Reconnects at once, whatever the link is doing: a live session hangs up
    /// and redials without delay (after a sleep/wake or a network change the
    /// old socket may be dead without knowing it yet), and a link waiting to
    /// retry retries now.
    pub fn reconnect_now(&self) {
        match self.inner.status_rx.borrow().link {
            LinkState::Connected => {
                self.inner.reconnect.send_modify(|n| *n = n.wrapping_add(1));
            }
            // Dialling already; a new dial would not be fresher.
            LinkState::Connecting | LinkState::Stopped => {}
            LinkState::Offline { .. } | LinkState::Unauthorized => self.inner.retry.notify_one(),
        }
    }

    /// Stops every task, waits at most `within`, and marks `status.json` stopped.
    /// The sync core saves the index and outbox as it stops.
    pub async fn shutdown(self, within: Duration) -> Result<(), EngineError> {
        let inner = &self.inner;
        inner.cancel.cancel();
        inner.tracker.close();
        let finished = tokio::time::timeout(within, inner.tracker.wait()).await;
        // The link reports Stopped as it exits; this covers a link that did not
        // finish within the bound.
        let changed = inner.status_tx.send_if_modified(|s| {
            let changed = s.link != LinkState::Stopped;
            s.link = LinkState::Stopped;
            s.updated_ms = crate::fsutil::now_ms();
            changed
        });
        if changed {
            let _ = inner.events.send(EngineEvent::LinkChanged(LinkState::Stopped));
        }
        let snapshot = inner.status_rx.borrow().clone();
        let file = inner.paths.status_file();
        let written = tokio::task::spawn_blocking(move || status::write_status(&file, &snapshot, false))
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?;
        finished.map_err(|_| EngineError::ShutdownTimeout { within })?;
        written?;
        Ok(())
    }
}

/// The `hello` this machine sends: served projects and paused ones.
fn hello(config: &Config, projects: &BTreeMap<String, Project>, paused: Vec<ProjectInfo>) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        min_protocol: MIN_PROTOCOL_VERSION,
        capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
        machine: MachineInfo {
            id: config.machine.id.clone(),
            name: config.machine.name.clone(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        projects: projects.values().map(Project::info).chain(paused).collect(),
        // Filled in by each session when nothing is queued.
        digests: None,
    }
}

/// Loads a state file. A corrupt one is moved aside and replaced by an empty
/// state: the index and outbox are caches that the startup scan and digest
/// sync rebuild, so refusing to start would help nobody.
fn load_or_reset<T>(file: &Path, load: impl Fn(&Path) -> Result<T, StateError>) -> Result<T, StateError> {
    match load(file) {
        Err(StateError::Json { source, .. }) => {
            let aside = file.with_extension("json.corrupt");
            tracing::warn!(file = %file.display(), error = %source, aside = %aside.display(), "corrupt state file; starting fresh");
            std::fs::rename(file, &aside).map_err(|e| StateError::io(file, e))?;
            load(file)
        }
        other => other,
    }
}
