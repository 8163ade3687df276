//! Runs a job's argv: no shell, the project folder as working directory,
//! stdin closed, stdout and stderr read as they come. Each piece of output
//! goes to a callback (the link's progress messages) and into a bounded tail;
//! the process is killed at the deadline or when the cancel flag is set.
//!
//! This runs on the blocking pool, so it blocks its thread on purpose.

use specbridge_protocol::RunOutcome;
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Output kept while a job runs and returned with its result (the tail).
pub(crate) const OUTPUT_TAIL: usize = 64 * 1024;

/// Where each piece of output goes as it is read (valid UTF-8, never split
/// inside a character).
pub(crate) type OutputSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How a process ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) outcome: RunOutcome,
    pub(crate) exit_code: Option<i32>,
    /// The output tail.
    pub(crate) output: String,
}

/// Runs `argv` in `root` until it exits, `stop_at`, or `cancel`. `tail`
/// holds the output so far (the last [`OUTPUT_TAIL`] bytes) for readers
/// that poll; `sink` gets every piece.
pub(crate) fn run(
    root: &Path,
    argv: &[String],
    stop_at: Instant,
    cancel: &AtomicBool,
    tail: &Arc<Mutex<Vec<u8>>>,
    sink: Option<OutputSink>,
) -> Finished {
    let Some((program, rest)) = argv.split_first() else {
        return Finished {
            outcome: RunOutcome::Error,
            exit_code: None,
            output: "the job has an empty argv".to_owned(),
        };
    };
    let spawned = std::process::Command::new(program)
        .args(rest)
        // The service unit tunes glibc's allocator for the bridge's own small
        // footprint (installers/headless/specbridge.service); a job (a build, a
        // test run) gets the machine's defaults.
        .env_remove("GLIBC_TUNABLES")
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let output = format!("cannot start {program}: {e}\n");
            if let Some(sink) = &sink {
                sink(&output);
            }
            return Finished { outcome: RunOutcome::Error, exit_code: None, output };
        }
    };
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let (tail, sink) = (Arc::clone(tail), sink.clone());
        std::thread::spawn(move || read_pipe(pipe, &tail, sink.as_ref()))
    })
    .collect();
    let (outcome, exit_code) = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break (if status.success() { RunOutcome::Succeeded } else { RunOutcome::Failed }, status.code())
            }
            Ok(None) => {}
            Err(_) => break (RunOutcome::Error, None),
        }
        let stop = if cancel.load(Ordering::SeqCst) {
            Some(RunOutcome::Cancelled)
        } else if Instant::now() >= stop_at {
            Some(RunOutcome::TimedOut)
        } else {
            None
        };
        if let Some(why) = stop {
            let _ = child.kill();
            let _ = child.wait();
            break (why, None);
        }
        pause(Duration::from_millis(20));
    };
    // A grandchild may keep a pipe open: wait a moment for the readers, no more.
    let until = Instant::now() + Duration::from_millis(200);
    while readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
        pause(Duration::from_millis(5));
    }
    let output = String::from_utf8_lossy(&tail.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    Finished { outcome, exit_code, output }
}

/// Reads one pipe to its end: every piece to the sink (a character cut by
/// the read waits for its other bytes), and into the bounded tail.
fn read_pipe(mut pipe: Box<dyn std::io::Read + Send>, tail: &Mutex<Vec<u8>>, sink: Option<&OutputSink>) {
    let mut buf = [0u8; 8192];
    let mut carry: Vec<u8> = Vec::new();
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        {
            let mut out = tail.lock().unwrap_or_else(PoisonError::into_inner);
            out.extend_from_slice(&buf[..n]);
            let excess = out.len().saturating_sub(OUTPUT_TAIL);
            out.drain(..excess);
        }
        if let Some(sink) = sink {
            carry.extend_from_slice(&buf[..n]);
            let whole = match std::str::from_utf8(&carry) {
                Ok(_) => carry.len(),
                // Incomplete at the end: keep those bytes for the next read.
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => carry.len(),
            };
            if whole > 0 {
                sink(&String::from_utf8_lossy(&carry[..whole]));
                carry.drain(..whole);
            }
        }
    }
    if let (Some(sink), false) = (sink, carry.is_empty()) {
        sink(&String::from_utf8_lossy(&carry));
    }
}

/// Waits a moment between polls of the child. This runs on the blocking pool
/// (the executor's `spawn_blocking`), never on an async worker, so blocking the
/// thread is what we want; `park_timeout` may wake early, which only costs a poll.
fn pause(duration: Duration) {
    std::thread::park_timeout(duration);
}
