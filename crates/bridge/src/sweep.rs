//! The startup sweep: removes the temp files an earlier run left behind when
//! it was killed between creating a temp file and renaming it (`kill -9`, a
//! power cut). Atomic writes (`fsutil::atomic_write`) clean up after
//! themselves on any error, but not after a crash.
//!
//! Only our own files, only where we write them:
//! - candidates come from the startup scan of each project's **allowed roots**
//!   (the index walk, which follows no symlinked folder) and from the state
//!   folder (its top level and `projects/<id>/`);
//! - a name must be exactly what `fsutil::temp_path_for` makes,
//!   `.<name>.<16 lowercase hex>.specbridge-tmp`;
//! - it must be a regular file (a symlink is never followed or removed);
//! - it must be older than [`MIN_AGE`]: another bridge writing the same folder
//!   right now keeps its temp file. Younger ones are looked at again once
//!   they are old enough ([`sweep_later`]).

use crate::fsutil::TEMP_SUFFIX;
use crate::paths::Paths;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// A temp file younger than this may belong to a write in progress.
pub(crate) const MIN_AGE: Duration = Duration::from_secs(5);

/// Whether `name` is one of our temp file names, exactly.
fn is_ours(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(TEMP_SUFFIX) else { return false };
    let Some(rest) = stem.strip_prefix('.') else { return false };
    let Some((_, random)) = rest.rsplit_once('.') else { return false };
    random.len() == 16 && random.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Temp-file candidates in the state folder (not recursive beyond `projects/<id>/`).
pub(crate) fn state_temp_files<'a>(paths: &Paths, projects: impl Iterator<Item = &'a String>) -> Vec<PathBuf> {
    let mut dirs = vec![paths.state_dir.clone()];
    dirs.extend(projects.filter_map(|id| paths.index_file(id).parent().map(Path::to_path_buf)));
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        found.extend(entries.flatten().map(|e| e.path()));
    }
    found
}

/// Removes the candidates that are ours and old enough; returns the ones
/// that are ours but too young. Blocking: run it on the blocking pool.
pub(crate) fn sweep(candidates: Vec<PathBuf>) -> Vec<PathBuf> {
    let now = SystemTime::now();
    let (mut removed, mut young) = (0usize, Vec::new());
    for path in candidates {
        if !path.file_name().and_then(|n| n.to_str()).is_some_and(is_ours) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
        if age < MIN_AGE {
            young.push(path);
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "removed a temp file left by an earlier run");
                removed += 1;
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover temp file"),
        }
    }
    if removed > 0 {
        tracing::info!(removed, "swept temp files left by an earlier run");
    }
    young
}

/// Sweeps `young` again once it is old enough (one more pass; a file still
/// being refreshed by a live writer is left alone).
pub(crate) async fn sweep_later(young: Vec<PathBuf>, cancel: CancellationToken) {
    if young.is_empty() {
        return;
    }
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(MIN_AGE) => {}
    }
    let _ = tokio::task::spawn_blocking(move || sweep(young)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::temp_path_for;

    #[test]
    fn only_names_we_make_are_ours() {
        let made = temp_path_for(Path::new("/x/README.md"));
        assert!(is_ours(made.file_name().unwrap().to_str().unwrap()));
        assert!(is_ours(".outbox.json.00ff00ff00ff00ff.specbridge-tmp"));
        for foreign in [
            "README.md",
            ".README.md.specbridge-tmp",                  // no random part
            ".README.md.00FF00FF00FF00FF.specbridge-tmp", // upper-case hex is not ours
            ".README.md.00ff00ff00ff00f.specbridge-tmp",  // 15 digits
            ".README.md.00ff00ff00ff00ffz.specbridge-tmp",
            "README.md.00ff00ff00ff00ff.specbridge-tmp", // no leading dot
            ".README.md.00ff00ff00ff00ff.specbridge-tmp.bak",
        ] {
            assert!(!is_ours(foreign), "{foreign}");
        }
    }

    #[test]
    fn old_temp_files_go_young_ones_and_everything_else_stay() {
        let dir = tempfile::tempdir().unwrap();
        let old = temp_path_for(&dir.path().join("a.md"));
        let young = temp_path_for(&dir.path().join("b.md"));
        let foreign = dir.path().join("notes.specbridge-tmp");
        for path in [&old, &young, &foreign] {
            std::fs::write(path, "x").unwrap();
        }
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(an_hour_ago).unwrap();
        std::fs::File::options().write(true).open(&foreign).unwrap().set_modified(an_hour_ago).unwrap();
        // A symlink with our name pointing at a file of the user's.
        let target = dir.path().join("precious.md");
        std::fs::write(&target, "keep").unwrap();
        let link = temp_path_for(&dir.path().join("c.md"));
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let left = sweep(vec![old.clone(), young.clone(), foreign.clone(), link.clone(), target.clone()]);
        assert!(!old.exists());
        assert_eq!(left, vec![young.clone()]);
        assert!(young.exists() && foreign.exists() && target.exists());
        #[cfg(unix)]
        assert!(link.symlink_metadata().is_ok(), "a symlink is never removed");
    }
}
