//! Routes commands to the machine that must run them.
//!
//! The router maps a machine id to its live session's mailbox and keeps one
//! oneshot per command in flight, keyed by request id and the session it went
//! to. It says precisely how a command ended, because the command service
//! decides on that whether the command may have been applied:
//! [`RouteError::NotConnected`] means it never left the hub,
//! [`RouteError::Lost`] and [`RouteError::Timeout`] mean it may have.

use specbridge_protocol::{Command, ErrorBody, ErrorCode, Message, Progress, Response, MAX_MESSAGE_BYTES};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a session's writer is told to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send this message. Boxed so a mailbox slot stays pointer-sized: the
    /// channel preallocates a block of slots per session, and `Message` is
    /// large, so unboxed it would cost kilobytes per idle bridge.
    Message(Box<Message>),
    /// Close with this code and reason, then end the session.
    Close(u16, &'static str),
}

/// Capacity of a session's mailbox: commands are few, and a full mailbox
/// means the bridge is not reading, which the deadline reports as `timeout`.
pub(crate) const MAILBOX: usize = 32;

/// How a routed command failed.
/// Serializable: a node tells another how a command it carried ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "error", rename_all = "snake_case")]
pub enum RouteError {
    /// No session for the machine: the command was never sent.
    #[error("the machine is not connected")]
    NotConnected,
    /// The session ended after the command was handed to it, before an answer.
    #[error("the machine disconnected before answering")]
    Lost,
    /// No answer within the wait.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The command cannot be sent at all (over the message limit).
    #[error("{0}")]
    Unsendable(ErrorBody),
    /// The bridge answered with an error.
    #[error("{0}")]
    Refused(ErrorBody),
}

impl RouteError {
    /// The error a caller is told.
    pub fn into_body(self) -> ErrorBody {
        match self {
            Self::NotConnected => offline("the machine is not connected"),
            Self::Lost => offline("the machine disconnected before answering"),
            Self::Timeout(waited) => {
                ErrorBody::new(ErrorCode::Timeout, format!("no answer within {} ms", waited.as_millis()))
                    .with_hint("the machine may be busy or asleep; retry, or raise timeout_ms")
            }
            Self::Unsendable(body) | Self::Refused(body) => body,
        }
    }
}

#[derive(Debug)]
struct Session {
    id: String,
    /// The machine token it authenticated with (revoking it closes the session).
    token: String,
    tx: mpsc::Sender<Outgoing>,
}

#[derive(Debug)]
struct Pending {
    session: String,
    reply: oneshot::Sender<Result<serde_json::Value, ErrorBody>>,
    /// Where `progress` messages of this command go, if the caller follows them.
    progress: Option<mpsc::Sender<Progress>>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    pending: HashMap<String, Pending>,
}

/// The session registry and the commands in flight. Locks are held only for
/// map operations, never across an await.
#[derive(Debug, Default)]
pub struct CommandRouter {
    inner: Mutex<Inner>,
}

impl CommandRouter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // maps are still structurally valid, so keep serving.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session for a machine. A previous session of the same
    /// machine is told to close: the newest connection wins.
    pub(crate) fn register(&self, machine: &str, session: &str, token: &str, tx: mpsc::Sender<Outgoing>) {
        let session = Session { id: session.to_owned(), token: token.to_owned(), tx };
        let old = self.lock().sessions.insert(machine.to_owned(), session);
        if let Some(old) = old {
            let _ = old.tx.try_send(Outgoing::Close(4000, "replaced by a newer connection"));
        }
    }

    /// Removes a session if it is still the machine's current one, and fails its
    /// pending commands with [`RouteError::Lost`]. Returns whether it was current.
    pub(crate) fn unregister(&self, machine: &str, session: &str) -> bool {
        let mut inner = self.lock();
        let current = inner.sessions.get(machine).is_some_and(|s| s.id == session);
        if current {
            inner.sessions.remove(machine);
        }
        // Dropping a reply sender is how its waiter learns the session is gone.
        inner.pending.retain(|_, p| p.session != session);
        current
    }

    /// Closes the sessions that authenticated with `token` (it was revoked):
    /// close code 4001. Returns how many.
    pub(crate) fn close_token(&self, token: &str) -> usize {
        let inner = self.lock();
        let sessions: Vec<_> = inner.sessions.values().filter(|s| s.token == token).collect();
        for session in &sessions {
            let _ = session.tx.try_send(Outgoing::Close(4001, "token revoked"));
        }
        sessions.len()
    }

    /// Whether a machine has a live session.
    pub fn is_online(&self, machine: &str) -> bool {
        self.lock().sessions.contains_key(machine)
    }

    /// The machines with a live session here.
    pub(crate) fn machines(&self) -> Vec<String> {
        self.lock().sessions.keys().cloned().collect()
    }

    /// Number of live sessions.
    pub fn sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Sends `command` to `machine` and waits at most `wait` for its answer.
    /// `progress` receives the command's `progress` messages until then
    /// (best effort: a full channel drops a piece).
    pub(crate) async fn send(
        &self,
        machine: &str,
        command: Command,
        wait: Duration,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Result<serde_json::Value, RouteError> {
        let id = command.id.clone();
        let message = Message::Command(command);
        // The codec refuses messages over the limit; catch that here, where the
        // caller can be told, instead of in the session, where the command
        // would vanish and the caller wait for its deadline.
        let size = serde_json::to_vec(&message).map(|json| json.len()).unwrap_or(usize::MAX);
        if size > MAX_MESSAGE_BYTES {
            return Err(RouteError::Unsendable(
                ErrorBody::new(
                    ErrorCode::TooLarge,
                    format!("the command is {size} bytes as JSON, over the {MAX_MESSAGE_BYTES}-byte message limit"),
                )
                .with_hint("send less content per command (file writes: at most about 700 KiB)"),
            ));
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let tx = {
            let mut inner = self.lock();
            let Some(session) = inner.sessions.get(machine) else { return Err(RouteError::NotConnected) };
            let (tx, session_id) = (session.tx.clone(), session.id.clone());
            inner.pending.insert(id.clone(), Pending { session: session_id, reply: reply_tx, progress });
            tx
        };
        let outcome = tokio::time::timeout(wait, async {
            if tx.send(Outgoing::Message(Box::new(message))).await.is_err() {
                // The session's writer is gone: nothing was sent.
                return Err(RouteError::NotConnected);
            }
            match reply_rx.await {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(body)) => Err(RouteError::Refused(body)),
                Err(_) => Err(RouteError::Lost),
            }
        })
        .await;
        match outcome {
            Ok(result) => {
                if result.is_err() {
                    self.lock().pending.remove(&id);
                }
                result
            }
            Err(_) => {
                self.lock().pending.remove(&id);
                Err(RouteError::Timeout(wait))
            }
        }
    }

    /// Forwards a running command's output to its caller, if it follows it.
    pub(crate) fn progress(&self, session: &str, progress: Progress) {
        let tx =
            self.lock().pending.get(&progress.id).filter(|p| p.session == session).and_then(|p| p.progress.clone());
        if let Some(tx) = tx {
            let _ = tx.try_send(progress);
        }
    }

    /// Delivers a bridge's response to the waiting caller. Only the session
    /// the command went to may answer it. Returns the response back when
    /// nobody waits for it (a late answer after a timeout), so the command
    /// service can still record the outcome.
    pub(crate) fn complete(&self, session: &str, response: Response) -> Option<Response> {
        let pending = {
            let mut inner = self.lock();
            match inner.pending.get(&response.id) {
                Some(p) if p.session == session => inner.pending.remove(&response.id),
                _ => None,
            }
        };
        match pending {
            Some(pending) => {
                let _ = pending.reply.send(response.into_result());
                None
            }
            None => Some(response),
        }
    }
}

fn offline(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Offline, message)
        .with_hint("start the bridge on that machine (`specbridge run` or the tray app), then retry")
}
