//! A loopback TCP proxy that misbehaves on request: the bridge dials the
//! proxy, the proxy dials the hub, and every byte in between can be held
//! (stall), slowed (delay), swallowed (black hole) or cut off (reset). It
//! also counts the TCP payload both ways, which is how reconnect bytes are
//! measured.
//!
//! - **stall**: stop reading both sockets. Senders' buffers fill and their
//!   writes block, as on a link whose packets stop; the bytes held are
//!   delivered intact when the stall ends.
//! - **delay**: forward each chunk after a pause (latency).
//! - **black hole**: keep reading and drop everything, new connections
//!   included (accepted, never answered): a sender sees its writes succeed
//!   and never hears back. Connections that lost bytes this way are reset
//!   when the fault ends, since their streams are corrupt.
//! - **reset**: send RST on every open connection now.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does to the bytes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Hold everything (read nothing).
    Stall,
    /// Forward each chunk after this pause.
    Delay(Duration),
    /// Read and drop everything.
    BlackHole,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    fault: watch::Sender<Fault>,
    /// Cancelled (and replaced) by [`FaultProxy::reset_all`].
    generation: Mutex<CancellationToken>,
    up: AtomicU64,
    down: AtomicU64,
    accepted: AtomicUsize,
    /// Keeps the first bytes of each direction of the next connections, for
    /// [`FaultProxy::captured`].
    capture: AtomicBool,
    captured: Mutex<Vec<Captured>>,
}

/// The bytes of one connection, both ways, as far as they were captured.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// Client (bridge) to upstream (hub).
    pub up: Vec<u8>,
    /// Upstream to client.
    pub down: Vec<u8>,
}

/// Most bytes kept per direction of a captured connection.
const CAPTURE_MAX: usize = 64 * 1024;

/// A running proxy. Dropping it stops accepting and cuts every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (fault, _) = watch::channel(Fault::None);
        let shared = Arc::new(Shared {
            upstream,
            fault,
            generation: Mutex::new(CancellationToken::new()),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
            capture: AtomicBool::new(false),
            captured: Mutex::default(),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop.clone()));
        Ok(Self { addr, shared, stop })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the hub URL a bridge is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault. Ending a black hole resets the connections it
    /// swallowed bytes of.
    pub fn set(&self, fault: Fault) {
        let was = self.shared.fault.send_replace(fault);
        if was == Fault::BlackHole && fault != Fault::BlackHole {
            self.reset_all();
        }
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        *self.shared.fault.borrow()
    }

    /// Sends RST on every connection open now (new ones are not affected).
    pub fn reset_all(&self) {
        let mut generation = lock(&self.shared.generation);
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// TCP payload bytes forwarded so far: (client -> upstream, upstream -> client).
    pub fn bytes(&self) -> (u64, u64) {
        (self.shared.up.load(Relaxed), self.shared.down.load(Relaxed))
    }

    /// Zeroes the byte counters.
    pub fn reset_counters(&self) {
        self.shared.up.store(0, Relaxed);
        self.shared.down.store(0, Relaxed);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Relaxed)
    }

    /// Starts keeping the first bytes of every new connection.
    pub fn capture(&self, on: bool) {
        self.shared.capture.store(on, Relaxed);
        if on {
            lock(&self.shared.captured).clear();
        }
    }

    /// What was captured, one entry per connection in accept order.
    pub fn captured(&self) -> Vec<Captured> {
        lock(&self.shared.captured).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.reset_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else { continue };
        shared.accepted.fetch_add(1, Relaxed);
        let cut = lock(&shared.generation).clone();
        tokio::spawn(connection(client, Arc::clone(&shared), cut));
    }
}

async fn connection(client: TcpStream, shared: Arc<Shared>, cut: CancellationToken) {
    let _ = client.set_nodelay(true);
    // A black hole answers nothing, not even with a connection to the hub.
    let mut fault = shared.fault.subscribe();
    tokio::select! {
        _ = cut.cancelled() => return reset(&client),
        _ = fault.wait_for(|f| *f != Fault::BlackHole) => {}
    }
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else { return reset(&client) };
    let _ = upstream.set_nodelay(true);
    let slot = shared.capture.load(Relaxed).then(|| {
        let mut captured = lock(&shared.captured);
        captured.push(Captured::default());
        captured.len() - 1
    });
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = pump(client_read, upstream_write, Arc::clone(&shared), Direction::Up, slot, cut.clone());
    let down = pump(upstream_read, client_write, shared, Direction::Down, slot, cut);
    tokio::join!(up, down);
}

/// Sends RST when the socket closes: linger zero (which never blocks).
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Forwards one direction under the current fault until the read side ends
/// (then half-closes the other side) or the connection is cut (then both
/// sockets are reset as they close).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    direction: Direction,
    slot: Option<usize>,
    cut: CancellationToken,
) {
    let forward = async {
        let mut fault = shared.fault.subscribe();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // A stall reads nothing, so the sender's buffers fill as on a dead path.
            if fault.wait_for(|f| *f != Fault::Stall).await.is_err() {
                return;
            }
            let n = tokio::select! {
                read = from.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                // A stall that starts while we wait for bytes takes effect at once.
                _ = fault.wait_for(|f| *f == Fault::Stall) => continue,
            };
            let current = *fault.borrow_and_update();
            match current {
                Fault::BlackHole => continue,
                Fault::Delay(pause) => tokio::time::sleep(pause).await,
                Fault::None | Fault::Stall => {}
            }
            if let Some(slot) = slot {
                let mut captured = lock(&shared.captured);
                if let Some(c) = captured.get_mut(slot) {
                    let kept = match direction {
                        Direction::Up => &mut c.up,
                        Direction::Down => &mut c.down,
                    };
                    let room = CAPTURE_MAX.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                }
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
            let counter = match direction {
                Direction::Up => &shared.up,
                Direction::Down => &shared.down,
            };
            counter.fetch_add(n as u64, Relaxed);
        }
    };
    let was_cut = tokio::select! {
        _ = cut.cancelled() => true,
        () = forward => false,
    };
    if was_cut {
        reset(to.as_ref());
        reset(from.as_ref());
    } else {
        let _ = to.shutdown().await;
    }
}
