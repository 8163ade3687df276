//! Routes commands to the machine that must run them.
//!
//! The router maps a machine id to its live session's mailbox and keeps one
//! oneshot per command in flight, keyed by request id. A machine with no
//! session answers `offline` at once; a command without an answer by its
//! deadline answers `timeout`; a session that ends fails its pending commands
//! with `offline`.

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

#[derive(Debug)]
struct Session {
    id: String,
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
pub struct Router {
    inner: Mutex<Inner>,
}

impl Router {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // maps are still structurally valid, so keep serving.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session for a machine. A previous session of the same
    /// machine is told to close: the newest connection wins.
    pub(crate) fn register(&self, machine: &str, session: &str, tx: mpsc::Sender<Outgoing>) {
        let old = self.lock().sessions.insert(machine.to_owned(), Session { id: session.to_owned(), tx });
        if let Some(old) = old {
            let _ = old.tx.try_send(Outgoing::Close(4000, "replaced by a newer connection"));
        }
    }

    /// Removes a session if it is still the machine's current one, and fails its
    /// pending commands with `offline`. Returns whether it was current.
    pub(crate) fn unregister(&self, machine: &str, session: &str) -> bool {
        let mut inner = self.lock();
        let current = inner.sessions.get(machine).is_some_and(|s| s.id == session);
        if current {
            inner.sessions.remove(machine);
        }
        let failed: Vec<String> =
            inner.pending.iter().filter(|(_, p)| p.session == session).map(|(id, _)| id.clone()).collect();
        for id in failed {
            if let Some(p) = inner.pending.remove(&id) {
                let _ = p.reply.send(Err(offline("the machine disconnected before answering")));
            }
        }
        current
    }

    /// Whether a machine has a live session.
    pub fn is_online(&self, machine: &str) -> bool {
        self.lock().sessions.contains_key(machine)
    }

    /// Number of live sessions.
    pub fn sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Sends a command to `machine` and waits for its response until
    /// `deadline`: `offline` at once without a session, `timeout` after the
    /// deadline, `offline` if the session ends first, else the bridge's answer.
    pub async fn send_command(
        &self,
        machine: &str,
        project: &str,
        name: &str,
        args: serde_json::Value,
        deadline: Duration,
    ) -> Result<serde_json::Value, ErrorBody> {
        self.send_command_with_progress(machine, project, name, args, deadline, None).await
    }

    /// Like [`Router::send_command`], and forwards the command's `progress`
    /// messages to `progress` until the response arrives. Progress is best
    /// effort: a full channel drops a piece.
    pub async fn send_command_with_progress(
        &self,
        machine: &str,
        project: &str,
        name: &str,
        args: serde_json::Value,
        deadline: Duration,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Result<serde_json::Value, ErrorBody> {
        let id = format!("c_{}", uuid::Uuid::new_v4().simple());
        let command = Message::Command(Command {
            id: id.clone(),
            project: project.to_owned(),
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            name: name.to_owned(),
            args,
        });
        // The codec refuses messages over the limit; catch that here, where the
        // caller can be told, instead of in the session, where the command
        // would vanish and the caller wait for its deadline.
        let size = serde_json::to_vec(&command).map(|json| json.len()).unwrap_or(usize::MAX);
        if size > MAX_MESSAGE_BYTES {
            return Err(ErrorBody::new(
                ErrorCode::TooLarge,
                format!("the command is {size} bytes as JSON, over the {MAX_MESSAGE_BYTES}-byte message limit"),
            )
            .with_hint("send less content per command (file writes: at most about 700 KiB)"));
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let tx = {
            let mut inner = self.lock();
            let Some(session) = inner.sessions.get(machine) else {
                return Err(offline("the machine is not connected"));
            };
            let (tx, session_id) = (session.tx.clone(), session.id.clone());
            inner.pending.insert(id.clone(), Pending { session: session_id, reply: reply_tx, progress });
            tx
        };
        let outcome = tokio::time::timeout(deadline, async {
            tx.send(Outgoing::Message(Box::new(command))).await.map_err(|_| offline("the machine disconnected"))?;
            reply_rx.await.map_err(|_| offline("the machine disconnected before answering"))?
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(_) => {
                self.lock().pending.remove(&id);
                Err(ErrorBody::new(ErrorCode::Timeout, format!("no answer within {} ms", deadline.as_millis()))
                    .with_hint("the machine may be busy or asleep; retry, or raise timeout_ms"))
            }
        }
    }

    /// Forwards a running command's output to its caller, if it follows it.
    pub(crate) fn progress(&self, progress: Progress) {
        let tx = self.lock().pending.get(&progress.id).and_then(|p| p.progress.clone());
        if let Some(tx) = tx {
            let _ = tx.try_send(progress);
        }
    }

    /// Delivers a bridge's response to the waiting caller. Unknown ids (late
    /// answers after a timeout) are dropped.
    pub(crate) fn complete(&self, response: Response) {
        let pending = self.lock().pending.remove(&response.id);
        if let Some(pending) = pending {
            let _ = pending.reply.send(response.into_result());
        }
    }
}

fn offline(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Offline, message)
        .with_hint("start the bridge on that machine (`specbridge run` or the tray app), then retry")
}
