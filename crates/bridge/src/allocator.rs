//! Handing the allocator's free memory back to the system after a burst.
//!
//! glibc returns freed memory to the system only from the top of a heap. After
//! the first sync of a big folder (10k files: a 10k-event outbox, the index,
//! every file read and hashed once) the freed chunks lie between live ones,
//! so megabytes stay resident that nothing uses: 13.8-16.3 MiB idle at 10k
//! files without this, 11.1-11.3 MiB with it (docs/benchmarks.md).
//! `malloc_trim` also gives back the free pages in the middle of each arena.

/// How many acknowledged events make a burst worth a trim once the outbox is
/// empty. A single save does not pay for a walk of every arena; a folder's
/// first sync or a mass change does.
pub(crate) const BURST_EVENTS: usize = 512;

/// Asks the allocator to return its free pages to the system. Call at a quiet
/// moment: glibc locks each arena while it walks it (about a millisecond for
/// the bridge's few-MB heap).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "a call into glibc, the one unsafe block of the workspace")]
pub(crate) fn release_free_memory() {
    let started = std::time::Instant::now();
    // SAFETY: malloc_trim takes no pointers and has no preconditions; glibc
    // holds each arena's lock while it trims it, so any thread may call it at
    // any time, concurrently with other allocations.
    let released = unsafe { libc::malloc_trim(0) } == 1;
    tracing::debug!(released, took_us = started.elapsed().as_micros() as u64, "free memory returned to the system");
}

/// Other allocators (musl, macOS, Windows) return freed memory on their own
/// or have no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}
