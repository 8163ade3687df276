//! Recent activity: engine events turned into a short, readable list (syncs,
//! remote commands, conflicts, link changes), and the events worth a desktop
//! notification.

use serde::Serialize;
use specbridge_bridge::{EngineEvent, LinkState};
use std::collections::VecDeque;

/// Entries kept.
const CAPACITY: usize = 50;

/// Successive syncs of one project within this window are one entry.
const SYNC_COALESCE_MS: u64 = 60_000;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// The hub stored a project's changes.
    Sync,
    /// A command from the hub ran here.
    Command,
    /// A remote edit was refused because the file changed here.
    Conflict,
    /// The link came up or went down.
    Link,
    /// Something failed.
    Error,
}

/// One line of recent activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityEntry {
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// What it is about.
    pub kind: ActivityKind,
    /// The project, if any.
    pub project: Option<String>,
    /// For people.
    pub text: String,
}

/// Something the user should hear about even with no window open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A remote edit hit a file that changed here; nothing was written.
    Conflict {
        /// Project id.
        project: String,
        /// The file.
        path: String,
    },
    /// A job run from the hub waits for this computer's owner (consent.rs).
    ConsentAsked {
        /// The job's name.
        job: String,
        /// Who asked.
        who: String,
        /// Project id.
        project: String,
        /// The argv that would run.
        argv: String,
    },
}

impl Notice {
    /// Notification title and body.
    pub fn title_and_body(&self) -> (String, String) {
        match self {
            Self::ConsentAsked { job, who, project, argv } => {
                (format!("Run \u{201c}{job}\u{201d}?"), format!("{who} asks to run it in {project}: {argv}"))
            }
            Self::Conflict { project, path } => (
                format!("Conflict in {project}"),
                format!("{path} changed on this computer, so the remote edit was not applied. Reload it in the dashboard and edit again."),
            ),
        }
    }
}

/// The recent-activity list, newest first.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    entries: VecDeque<ActivityEntry>,
    unseen_conflicts: usize,
}

impl Activity {
    /// Records an engine event; returns a notice when it deserves one.
    pub fn record(&mut self, event: &EngineEvent, now_ms: u64) -> Option<Notice> {
        match event {
            EngineEvent::Synced { project, .. } => {
                let same = self.entries.front_mut().filter(|e| {
                    e.kind == ActivityKind::Sync
                        && e.project.as_deref() == Some(project)
                        && now_ms.saturating_sub(e.at_ms) < SYNC_COALESCE_MS
                });
                match same {
                    Some(entry) => entry.at_ms = now_ms,
                    None => self.push(now_ms, ActivityKind::Sync, Some(project), format!("Synced {project}")),
                }
                None
            }
            EngineEvent::CommandHandled { name, project, path, outcome } => {
                let target = path.as_deref().unwrap_or(name);
                if outcome == "ok" {
                    self.push(now_ms, ActivityKind::Command, Some(project), format!("Remote {name}: {target}"));
                    None
                } else if outcome == "conflict" {
                    self.unseen_conflicts += 1;
                    let text = format!("Conflict: {target} changed here; the remote edit was not applied");
                    self.push(now_ms, ActivityKind::Conflict, Some(project), text);
                    Some(Notice::Conflict { project: project.clone(), path: target.to_owned() })
                } else {
                    let text = format!("Remote {name} on {target} refused ({outcome})");
                    self.push(now_ms, ActivityKind::Error, Some(project), text);
                    None
                }
            }
            // Consent requests are the consent dialog's (consent.rs), not the activity list's.
            EngineEvent::ConsentRequested(_) | EngineEvent::ConsentSettled { .. } => None,
            EngineEvent::LinkChanged(state) => {
                let text = match state {
                    LinkState::Connected => "Connected to the hub",
                    LinkState::Offline { .. } => "Offline; retrying",
                    LinkState::Unauthorized => "The hub refused this computer's token",
                    LinkState::Connecting | LinkState::Stopped => return None,
                };
                // A flapping link is one line, not fifty.
                if self.entries.front().is_some_and(|e| e.kind == ActivityKind::Link && e.text == text) {
                    return None;
                }
                self.push(now_ms, ActivityKind::Link, None, text.to_owned());
                None
            }
            EngineEvent::Error(message) => {
                self.push(now_ms, ActivityKind::Error, None, message.clone());
                None
            }
        }
    }

    /// Newest first.
    pub fn entries(&self) -> Vec<ActivityEntry> {
        self.entries.iter().cloned().collect()
    }

    /// Conflicts the user has not looked at yet (they put the tray in "attention").
    pub fn unseen_conflicts(&self) -> usize {
        self.unseen_conflicts
    }

    /// The user looked at the activity list.
    pub fn mark_seen(&mut self) {
        self.unseen_conflicts = 0;
    }

    fn push(&mut self, at_ms: u64, kind: ActivityKind, project: Option<&String>, text: String) {
        self.entries.push_front(ActivityEntry { at_ms, kind, project: project.cloned(), text });
        self.entries.truncate(CAPACITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled(outcome: &str) -> EngineEvent {
        EngineEvent::CommandHandled {
            name: "file-write".into(),
            project: "app".into(),
            path: Some("specs/001/README.md".into()),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn syncs_coalesce_and_conflicts_notify() {
        let mut activity = Activity::default();
        for (i, seq) in [1, 2, 3].into_iter().enumerate() {
            assert_eq!(activity.record(&EngineEvent::Synced { project: "app".into(), seq }, 1_000 + i as u64), None);
        }
        assert_eq!(activity.entries().len(), 1);
        assert_eq!(activity.entries()[0].at_ms, 1_002);
        activity.record(&EngineEvent::Synced { project: "app".into(), seq: 4 }, 1_000 + SYNC_COALESCE_MS + 5);
        assert_eq!(activity.entries().len(), 2);

        assert_eq!(activity.record(&handled("ok"), 2), None);
        let notice = activity.record(&handled("conflict"), 3).unwrap();
        assert_eq!(notice, Notice::Conflict { project: "app".into(), path: "specs/001/README.md".into() });
        assert!(notice.title_and_body().1.contains("not applied"));
        assert_eq!(activity.unseen_conflicts(), 1);
        assert_eq!(activity.entries()[0].kind, ActivityKind::Conflict);
        activity.mark_seen();
        assert_eq!(activity.unseen_conflicts(), 0);
        activity.record(&handled("forbidden_path"), 4);
        assert_eq!(activity.entries()[0].kind, ActivityKind::Error);
    }

    #[test]
    fn link_flaps_are_one_line_and_the_list_is_bounded() {
        let mut activity = Activity::default();
        for _ in 0..5 {
            activity.record(&EngineEvent::LinkChanged(LinkState::Offline { retry_in_ms: 10 }), 1);
            activity.record(&EngineEvent::LinkChanged(LinkState::Connecting), 1);
        }
        assert_eq!(activity.entries().len(), 1);
        for i in 0..(CAPACITY as u64 + 10) {
            activity.record(&EngineEvent::Error(format!("e{i}")), i);
        }
        assert_eq!(activity.entries().len(), CAPACITY);
        assert_eq!(activity.entries()[0].text, format!("e{}", CAPACITY + 9));
    }
}
