//! The local confirmation a job run waits for.
//!
//! A run of a job that is not unattended is asked for on the machine: the
//! desk publishes [`EngineEvent::ConsentRequested`] and waits for
//! [`crate::EngineHandle::answer_consent`] (from the tray's dialog, or a
//! test), for the time to run out, or for a cancel. Only a host that can ask
//! someone holds a [`ConsentPrompter`]; without one (the headless bridge)
//! such runs are refused at once, so a bridge with nobody in front of it runs
//! only unattended jobs. Every request ends with
//! [`EngineEvent::ConsentSettled`], so a dialog can close when the time ran out.

use crate::fsutil;
use crate::status::EngineEvent;
use serde::{Deserialize, Serialize};
use specbridge_protocol::Consent;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How often a waiting run looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// A run waiting for the owner's word: what would run, and who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// This request (answer it by this id).
    pub id: String,
    /// The job.
    pub job: String,
    /// Its display name.
    pub name: String,
    /// The project it runs in.
    pub project: String,
    /// The exact argv that would run, parameters filled in.
    pub argv: Vec<String>,
    /// The parameter values asked for.
    pub params: BTreeMap<String, String>,
    /// Who asked, as the hub said.
    pub requested_by: Option<String>,
    /// When it was asked (ms since the Unix epoch).
    pub asked_ms: u64,
    /// When the request times out and the run is refused.
    pub expires_ms: u64,
}

/// The owner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAnswer {
    /// Run it this time.
    AllowOnce,
    /// Run it, and from now on run this job without asking.
    AlwaysAllow,
    /// Do not run it.
    Deny,
}

/// Answering a consent request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// The request timed out, was cancelled or answered already.
    #[error("no consent request {0:?} is waiting (it timed out, was cancelled or answered)")]
    NotWaiting(String),
}

/// The requests waiting, and who can answer them.
#[derive(Debug)]
pub(crate) struct ConsentDesk {
    prompters: AtomicUsize,
    waiting: Mutex<HashMap<String, (ConsentRequest, mpsc::Sender<ConsentAnswer>)>>,
    events: broadcast::Sender<EngineEvent>,
}

/// While held, runs that need a confirmation are asked for instead of
/// refused (see [`crate::EngineHandle::consent_prompter`]). Dropping the last
/// one makes the engine headless again.
#[derive(Debug)]
pub struct ConsentPrompter {
    desk: Arc<ConsentDesk>,
}

impl Drop for ConsentPrompter {
    fn drop(&mut self) {
        self.desk.prompters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ConsentDesk {
    pub(crate) fn new(events: broadcast::Sender<EngineEvent>) -> Self {
        Self { prompters: AtomicUsize::new(0), waiting: Mutex::default(), events }
    }

    /// A prompter: the host can ask someone from now on.
    pub(crate) fn prompter(self: &Arc<Self>) -> ConsentPrompter {
        self.prompters.fetch_add(1, Ordering::SeqCst);
        ConsentPrompter { desk: Arc::clone(self) }
    }

    /// Whether anyone can be asked.
    pub(crate) fn can_ask(&self) -> bool {
        self.prompters.load(Ordering::SeqCst) > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ConsentRequest, mpsc::Sender<ConsentAnswer>)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requests waiting now, oldest first.
    pub(crate) fn waiting(&self) -> Vec<ConsentRequest> {
        let mut list: Vec<ConsentRequest> = self.lock().values().map(|(r, _)| r.clone()).collect();
        list.sort_by(|a, b| (a.asked_ms, &a.id).cmp(&(b.asked_ms, &b.id)));
        list
    }

    /// Answers a waiting request.
    pub(crate) fn answer(&self, id: &str, answer: ConsentAnswer) -> Result<(), ConsentError> {
        let (_, tx) = self.lock().remove(id).ok_or_else(|| ConsentError::NotWaiting(id.to_owned()))?;
        tx.send(answer).map_err(|_| ConsentError::NotWaiting(id.to_owned()))
    }

    /// Asks and blocks until an answer, `until`, or `cancel` (call it on the
    /// blocking pool). Without a prompter the answer is [`Consent::NoOneToAsk`].
    pub(crate) fn ask(&self, request: ConsentRequest, until: Instant, cancel: &AtomicBool) -> Consent {
        if !self.can_ask() {
            return Consent::NoOneToAsk;
        }
        let id = request.id.clone();
        let (tx, rx) = mpsc::channel();
        self.lock().insert(id.clone(), (request.clone(), tx));
        let _ = self.events.send(EngineEvent::ConsentRequested(request));
        let consent = loop {
            let now = Instant::now();
            if cancel.load(Ordering::SeqCst) {
                break Consent::Cancelled;
            }
            if now >= until {
                break Consent::TimedOut;
            }
            match rx.recv_timeout(CANCEL_POLL.min(until - now)) {
                Ok(ConsentAnswer::AllowOnce) => break Consent::AllowedOnce,
                Ok(ConsentAnswer::AlwaysAllow) => break Consent::AlwaysAllowed,
                Ok(ConsentAnswer::Deny) => break Consent::Denied,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break Consent::Cancelled,
            }
        };
        // An answer racing the timeout loses; the request is gone either way.
        self.lock().remove(&id);
        let _ = self.events.send(EngineEvent::ConsentSettled { id, consent });
        consent
    }
}

/// A fresh request id.
pub(crate) fn request_id() -> String {
    format!("consent_{}_{}", fsutil::now_ms(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> ConsentRequest {
        ConsentRequest {
            id: id.into(),
            job: "j".into(),
            name: "J".into(),
            project: "p".into(),
            argv: vec!["true".into()],
            params: BTreeMap::new(),
            requested_by: Some("acct".into()),
            asked_ms: 0,
            expires_ms: 0,
        }
    }

    #[test]
    fn without_a_prompter_no_one_is_asked_and_with_one_the_answer_decides() {
        let (events, mut rx) = broadcast::channel(8);
        let desk = Arc::new(ConsentDesk::new(events));
        let never = AtomicBool::new(false);
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(desk.ask(request("a"), soon, &never), Consent::NoOneToAsk);
        let prompter = desk.prompter();
        let asker = {
            let desk = Arc::clone(&desk);
            std::thread::spawn(move || desk.ask(request("b"), soon, &AtomicBool::new(false)))
        };
        let Ok(EngineEvent::ConsentRequested(seen)) = rx.blocking_recv() else { panic!("no request event") };
        assert_eq!(desk.waiting(), vec![seen.clone()]);
        desk.answer(&seen.id, ConsentAnswer::AlwaysAllow).unwrap();
        assert_eq!(asker.join().unwrap(), Consent::AlwaysAllowed);
        assert!(matches!(rx.blocking_recv(), Ok(EngineEvent::ConsentSettled { consent: Consent::AlwaysAllowed, .. })));
        assert_eq!(desk.answer("b", ConsentAnswer::Deny), Err(ConsentError::NotWaiting("b".into())));
        let late = Instant::now() + Duration::from_millis(100);
        assert_eq!(desk.ask(request("c"), late, &never), Consent::TimedOut);
        assert!(desk.waiting().is_empty());
        drop(prompter);
        assert!(!desk.can_ask());
    }
}
