//! Is the connection alive? Answered from the bytes that move, on timers of
//! its own, whatever the session's writer is doing.
//!
//! The socket is wrapped in [`Metered`], which stamps every read and write
//! that moves bytes into a shared [`Activity`]. The session reads frames in a
//! separate task ([`read_loop`]), so a writer blocked in a large upload never
//! stops the reading, and that task declares the link dead when nothing has
//! arrived for the silence limit (the hub pings every 15 s; the bridge's own
//! pings get pongs). A write that makes no progress for the write timeout is
//! a dead link too ([`write_stalled`]). Together they bound dead-link
//! detection to `ping_interval + pong_timeout` (40 s by default), mid-upload
//! included; before, a stalled upload waited until TCP gave up (~15 min).

use futures_util::StreamExt as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_util::sync::CancellationToken;

/// When bytes last moved on one connection, and how many.
#[derive(Debug)]
pub(crate) struct Activity {
    /// The origin of the millisecond stamps below.
    base: Instant,
    read_ms: AtomicU64,
    written_ms: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            read_ms: AtomicU64::new(0),
            written_ms: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        })
    }

    fn stamp(&self, at: &AtomicU64) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        at.fetch_max(ms, Relaxed);
    }

    /// When a read last returned bytes (the connection's start if none has).
    pub(crate) fn last_read(&self) -> Instant {
        self.base + Duration::from_millis(self.read_ms.load(Relaxed))
    }

    /// When a write last moved bytes (the connection's start if none has).
    pub(crate) fn last_write(&self) -> Instant {
        self.base + Duration::from_millis(self.written_ms.load(Relaxed))
    }

    /// TCP payload bytes read and written so far (TLS records included).
    pub(crate) fn bytes(&self) -> (u64, u64) {
        (self.bytes_read.load(Relaxed), self.bytes_written.load(Relaxed))
    }
}

/// A byte stream that records its progress in an [`Activity`].
#[derive(Debug)]
pub(crate) struct Metered<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.activity.bytes_read.fetch_add(read as u64, Relaxed);
            self.activity.stamp(&self.activity.read_ms);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            if written > 0 {
                self.activity.bytes_written.fetch_add(written as u64, Relaxed);
                self.activity.stamp(&self.activity.written_ms);
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One received WebSocket message, or the end of the stream (`None`).
pub(crate) type Inbound = Option<Result<WsMessage, WsError>>;

/// Reads frames off `stream` into `frames` until the stream ends, `stop` is
/// cancelled, or nothing has arrived for `silence`: then it cancels `dead`.
///
/// It runs beside the session task, so pings keep being answered (tungstenite
/// queues the pong as it reads) and silence keeps being measured while the
/// session waits inside a large write.
pub(crate) async fn read_loop<St>(
    mut stream: St,
    frames: mpsc::Sender<Inbound>,
    activity: Arc<Activity>,
    silence: Duration,
    dead: CancellationToken,
    stop: CancellationToken,
) where
    St: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    loop {
        let quiet_until = activity.last_read() + silence;
        let frame = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(quiet_until) => {
                // Bytes of a frame still arriving count: only a silent socket is dead.
                if activity.last_read() + silence <= Instant::now() {
                    dead.cancel();
                    return;
                }
                continue;
            }
            frame = stream.next() => frame,
        };
        let last = !matches!(frame, Some(Ok(_)));
        tokio::select! {
            _ = stop.cancelled() => return,
            sent = frames.send(frame) => if sent.is_err() { return },
        }
        if last {
            return;
        }
    }
}

/// Resolves once a write that started now has moved no byte for `limit`
/// (a write that keeps moving bytes, however slowly, never trips it).
pub(crate) async fn write_stalled(activity: &Activity, limit: Duration) {
    let started = Instant::now();
    loop {
        let due = activity.last_write().max(started) + limit;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn metered_streams_count_bytes_and_stamp_progress() {
        let (a, mut b) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut metered = Metered::new(a, Arc::clone(&activity));
        tokio::time::sleep(Duration::from_millis(20)).await;
        metered.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap();
        b.write_all(b"hi").await.unwrap();
        let mut got = [0u8; 2];
        metered.read_exact(&mut got).await.unwrap();
        assert_eq!(activity.bytes(), (2, 5));
        assert!(activity.last_write() >= activity.base + Duration::from_millis(20));
        assert!(activity.last_read() >= activity.last_write());
    }

    #[tokio::test]
    async fn only_a_write_that_moves_no_byte_is_stalled() {
        let (a, _b) = tokio::io::duplex(16);
        let activity = Activity::new();
        let mut metered = Metered::new(a, Arc::clone(&activity));
        // The peer never reads: after 16 bytes the write blocks for good.
        let blocked = tokio::select! {
            _ = metered.write_all(&[0u8; 1024]) => false,
            _ = write_stalled(&activity, Duration::from_millis(100)) => true,
        };
        assert!(blocked, "a blocked write must trip the stall timer");
        assert_eq!(activity.bytes().1, 16);

        // A slow reader: 16 bytes every 30 ms. The whole write takes far
        // longer than the limit, but it keeps moving, so it is not stalled.
        let (a, mut slow) = tokio::io::duplex(16);
        let activity = Activity::new();
        let mut metered = Metered::new(a, Arc::clone(&activity));
        tokio::spawn(async move {
            let mut buf = [0u8; 16];
            while slow.read(&mut buf).await.is_ok_and(|n| n > 0) {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        let finished = tokio::select! {
            _ = metered.write_all(&[0u8; 256]) => true,
            _ = write_stalled(&activity, Duration::from_millis(100)) => false,
        };
        assert!(finished, "a slow but moving write is alive");
    }
}
