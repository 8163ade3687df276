//! The common ways programs save a file, against a real hub over loopback:
//! whatever the save pattern, the hub only ever stores content that was on disk
//! at rest (the old version or the new one), never a half-written file.
//!
//! The writers pause between their write calls for longer than the watcher's
//! quiet period (40 ms), so a bridge that read on quiet alone would send the
//! half-written file; a sampler reads the hub's store every millisecond
//! meanwhile and records each distinct version it sees.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tempfile::TempDir;

const P: &str = "app";
const REL: &str = "specs/001-feature-1/README.md";
/// Longer than the watcher's quiet period (40 ms), shorter than its
/// no-close fallback (1 s).
const PAUSE: Duration = Duration::from_millis(80);

const OLD: &[u8] = b"---\nstatus: planned\n---\n\n# Feature 1\n\nThe old body.\n";
const NEW: &[&[u8]] = &[
    b"---\nstatus: in-progress\npriority: high\n---\n\n",
    b"# Feature 1, rewritten\n\nA new first paragraph, longer than the old body.\n\n",
    b"## Plan\n\n- [ ] one\n- [ ] two\n",
];

fn new_content() -> Vec<u8> {
    NEW.concat()
}

/// Writes the new version in several calls, pausing between them. Runs on a
/// blocking thread (`spawn_blocking`), as a real editor's process would.
#[allow(clippy::disallowed_methods)]
fn write_slowly(file: &mut std::fs::File) {
    for (i, part) in NEW.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(PAUSE);
        }
        file.write_all(part).unwrap();
    }
}

/// Runs `save` (on a blocking thread) over a synced file and returns every
/// version of it the hub stored, in order.
async fn versions_stored_during(save: fn(&Path)) -> Vec<Vec<u8>> {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("project");
    write(&root, REL, OLD);
    let hub = TestHub::start(&dir.path().join("hub"), None).await;
    let home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &[(P, &root)]);
    let engine = home.start(&hub.machine_token).await;
    connected(&engine).await;
    let machine = home.machine_id();
    let store = hub.handle.store();
    let stored = |store: Arc<dyn specbridge_hub::Store>, machine: String| async move {
        store.get_file(&machine, P, REL).await.unwrap().map(|(_, bytes)| bytes)
    };
    eventually("old version on the hub", || {
        let (store, machine) = (Arc::clone(&store), machine.clone());
        async move { stored(store, machine).await.as_deref() == Some(OLD) }
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (store, machine, stop) = (Arc::clone(&store), machine.clone(), Arc::clone(&stop));
        async move {
            let mut seen: Vec<Vec<u8>> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(bytes) = stored(Arc::clone(&store), machine.clone()).await {
                    if seen.last() != Some(&bytes) {
                        seen.push(bytes);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            seen
        }
    });
    let path = root.join(REL);
    tokio::task::spawn_blocking(move || save(&path)).await.unwrap();
    eventually("new version on the hub", || {
        let (store, machine) = (Arc::clone(&store), machine.clone());
        async move { stored(store, machine).await == Some(new_content()) }
    })
    .await;
    // Anything late (a second read of a half-written file) would land now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = sampler.await.unwrap();
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    seen
}

fn assert_only_rest_versions(seen: &[Vec<u8>]) {
    let new = new_content();
    for version in seen {
        assert!(
            version.as_slice() == OLD || *version == new,
            "the hub stored a version that was never at rest: {:?}\nall versions: {:?}",
            String::from_utf8_lossy(version),
            seen.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect::<Vec<_>>()
        );
    }
    assert_eq!(seen.last(), Some(&new), "ends at the new version");
}

fn temp_next_to(path: &Path, name: &str) -> PathBuf {
    path.with_file_name(name)
}

/// Overwrites the file where it is, without truncating, in several calls.
/// Only Linux reports the close that ends such a save.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_write() {
    let seen = versions_stored_during(|path| {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        write_slowly(&mut file);
    })
    .await;
    assert_only_rest_versions(&seen);
}

/// Truncates, then writes in several calls (what most editors' "save" does).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_then_write() {
    let seen = versions_stored_during(|path| {
        let mut file = std::fs::File::create(path).unwrap();
        write_slowly(&mut file);
    })
    .await;
    assert_only_rest_versions(&seen);
}

/// Writes a temp file slowly, then renames it over the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_file_then_rename() {
    let seen = versions_stored_during(|path| {
        let temp = temp_next_to(path, "README.md.tmp");
        let mut file = std::fs::File::create(&temp).unwrap();
        write_slowly(&mut file);
        drop(file);
        std::fs::rename(&temp, path).unwrap();
    })
    .await;
    assert_only_rest_versions(&seen);
}

/// An editor's atomic replace: keep a backup, write a hidden temp, fsync it,
/// rename it over the file, fsync the folder, drop the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_replace_by_an_editor() {
    let seen = versions_stored_during(|path| {
        let backup = temp_next_to(path, "README.md~");
        std::fs::copy(path, &backup).unwrap();
        let temp = temp_next_to(path, ".README.md.swp");
        let mut file = std::fs::File::create(&temp).unwrap();
        file.write_all(&new_content()).unwrap();
        file.sync_all().unwrap();
        drop(file);
        std::fs::rename(&temp, path).unwrap();
        std::fs::File::open(path.parent().unwrap()).unwrap().sync_all().unwrap();
        std::fs::remove_file(&backup).unwrap();
    })
    .await;
    assert_only_rest_versions(&seen);
}
