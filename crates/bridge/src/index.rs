//! Per-project file index: relative path -> size, mtime and content hash.
//!
//! The index is what the bridge has told the outbox about. It is persisted so
//! that a restart only re-hashes files whose size or mtime changed, and its
//! digest lets a reconnect with nothing changed cost one message per project.
//! It knows nothing of the network; the sync core turns its changes into events.

use crate::error::StateError;
use crate::fsutil;
use crate::policy;
use crate::project::Project;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are not synced.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Folders never walked: they hold tooling state, not specs, and can be huge.
pub const SKIP_DIRS: &[&str] = &[".git", "node_modules", "target"];

/// A file whose mtime lies this close to the index's save time may have changed
/// again within the file system's timestamp granularity, so it is re-hashed.
const RACY_WINDOW_MS: u64 = 2_000;

/// What the index knows about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ms since the Unix epoch.
    pub mtime_ms: u64,
    /// Content hash (lowercase hex BLAKE3).
    pub hash: String,
}

/// Whether a path now has content or is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Created or modified.
    Upsert,
    /// Deleted.
    Delete,
}

/// One changed path, as found by [`Index::scan`] or [`Index::refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Relative path.
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
}

/// The index of one project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// When the index was last saved (ms); see the racy-file rule.
    #[serde(default)]
    saved_ms: u64,
    /// Path -> entry, in ascending path order (the digest order).
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
}

/// A file seen on disk during a walk.
struct Seen {
    abs: PathBuf,
    size: u64,
    mtime_ms: u64,
}

impl Index {
    /// Loads an index; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| StateError::Json { path: path.into(), source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(StateError::io(path, e)),
        }
    }

    /// Saves the index atomically.
    pub fn save(&mut self, path: &Path) -> Result<(), StateError> {
        let bytes = self.stamp_and_serialize(path)?;
        fsutil::atomic_write(path, &bytes, Some(fsutil::PRIVATE_FILE)).map_err(|e| StateError::io(path, e))
    }

    /// The file's content as of now (stamps the save time used by the racy-file
    /// rule); `path` only names the file in errors.
    pub(crate) fn stamp_and_serialize(&mut self, path: &Path) -> Result<Vec<u8>, StateError> {
        self.saved_ms = fsutil::now_ms();
        // Sized up front (see `Outbox::to_bytes`): about 120 bytes per entry plus its path.
        let estimate = 64 + self.entries.keys().map(|path| path.len() + 120).sum::<usize>();
        let mut bytes = Vec::with_capacity(estimate);
        serde_json::to_writer(&mut bytes, self).map_err(|source| StateError::Json { path: path.into(), source })?;
        Ok(bytes)
    }

    /// All entries in path order.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// One entry.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The project digest (see `specbridge_protocol::project_digest`).
    pub fn digest(&self) -> String {
        specbridge_protocol::project_digest(self.entries.iter().map(|(p, e)| (p.as_str(), e.hash.as_str())))
    }

    /// Walks every allowed root and reconciles the whole index with the disk.
    /// Only files whose size or mtime changed (or that are racily recent) are
    /// hashed. Entries outside the roots are dropped as deletes.
    pub fn scan(&mut self, project: &Project) -> Vec<Change> {
        self.scan_with_temp_files(project, &mut Vec::new())
    }

    /// [`Index::scan`], also collecting the paths of our own temp files found
    /// on the way (`.<name>.<16 hex>.specbridge-tmp`: left by a crash), for
    /// the startup sweep (`crate::sweep`).
    pub(crate) fn scan_with_temp_files(&mut self, project: &Project, temp_files: &mut Vec<PathBuf>) -> Vec<Change> {
        let mut seen = BTreeMap::new();
        for root in &project.roots {
            let rel = if root == "." { "" } else { root.as_str() };
            walk(project, rel, &mut seen, temp_files);
        }
        self.reconcile(project, "", seen, false)
    }

    /// Re-examines the given paths (from the watcher or after a write). A path
    /// that is a folder is walked; a path that is gone removes its entry and any
    /// entries under it. Named files are always re-hashed.
    pub fn refresh(&mut self, project: &Project, paths: &[String]) -> Vec<Change> {
        let mut changes = Vec::new();
        for rel in paths {
            if !is_indexable(project, rel) {
                continue;
            }
            let abs = project.root.join(rel);
            let mut seen = BTreeMap::new();
            match std::fs::symlink_metadata(&abs) {
                Ok(meta) if meta.is_dir() => walk(project, rel, &mut seen, &mut Vec::new()),
                Ok(meta) => {
                    if let Some(file) = seen_file(project, abs, &meta) {
                        seen.insert(rel.clone(), file);
                    }
                }
                Err(_) => {}
            }
            changes.extend(self.reconcile(project, rel, seen, true));
        }
        changes
    }

    /// Makes the entries under `scope` ("" = all) match `seen`.
    fn reconcile(&mut self, project: &Project, scope: &str, seen: BTreeMap<String, Seen>, force: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        let gone: Vec<String> =
            self.entries.keys().filter(|p| in_scope(p, scope) && !seen.contains_key(*p)).cloned().collect();
        for path in gone {
            self.entries.remove(&path);
            changes.push(Change { path, kind: ChangeKind::Delete });
        }
        for (path, file) in seen {
            let unchanged = self.entries.get(&path).is_some_and(|e| {
                !force
                    && e.size == file.size
                    && e.mtime_ms == file.mtime_ms
                    && e.mtime_ms.saturating_add(RACY_WINDOW_MS) < self.saved_ms
            });
            if unchanged {
                continue;
            }
            let hash = match fsutil::hash_file(&file.abs) {
                Ok((hash, _)) => hash,
                Err(e) => {
                    // Unreadable for now (locked, permissions): keep what we knew.
                    tracing::debug!(project = %project.id, %path, error = %e, "cannot hash; skipping");
                    continue;
                }
            };
            let entry = Entry { size: file.size, mtime_ms: file.mtime_ms, hash };
            let is_new_content = self.entries.get(&path).is_none_or(|old| old.hash != entry.hash);
            self.entries.insert(path.clone(), entry);
            if is_new_content {
                changes.push(Change { path, kind: ChangeKind::Upsert });
            }
        }
        changes
    }
}

fn in_scope(path: &str, scope: &str) -> bool {
    scope.is_empty() || path == scope || (path.starts_with(scope) && path[scope.len()..].starts_with('/'))
}

/// Whether a relative path can be in the index: valid per the policy, inside a
/// root, and not inside a skipped folder or one of our temp files.
pub(crate) fn is_indexable(project: &Project, rel: &str) -> bool {
    policy::check_syntax(rel).is_ok()
        && policy::within_roots(rel, &project.roots)
        && !rel.split('/').any(|c| SKIP_DIRS.contains(&c))
}

/// Walks `rel_dir` ("" = project root) collecting files. Symlinked files are kept
/// when they resolve inside the project; symlinked folders are not followed
/// (that avoids cycles and double counting). Our temp files are not indexed;
/// their paths go to `temp_files`.
fn walk(project: &Project, rel_dir: &str, seen: &mut BTreeMap<String, Seen>, temp_files: &mut Vec<PathBuf>) {
    let mut stack = vec![(project.root.join(rel_dir), rel_dir.to_owned())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            if fsutil::is_temp_name(&name) {
                temp_files.push(entry.path());
                continue;
            }
            if SKIP_DIRS.contains(&name.as_str()) {
                continue;
            }
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if policy::check_syntax(&child_rel).is_err() {
                continue;
            }
            let Ok(file_type) = entry.file_type() else { continue };
            if file_type.is_dir() {
                stack.push((entry.path(), child_rel));
            } else if let Ok(meta) = std::fs::symlink_metadata(entry.path()) {
                if let Some(file) = seen_file(project, entry.path(), &meta) {
                    seen.insert(child_rel, file);
                }
            }
        }
    }
}

/// A regular file (or a symlink to one inside the allowed roots) within the size limit.
fn seen_file(project: &Project, abs: PathBuf, meta: &std::fs::Metadata) -> Option<Seen> {
    let meta = if meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(&abs).ok()?;
        // Only what the hub could also read through the path policy.
        if !crate::policy::inside_allowed_roots(&project.root, &project.roots, &target) {
            return None;
        }
        std::fs::metadata(&target).ok()?
    } else {
        meta.clone()
    };
    (meta.is_file() && meta.len() <= MAX_FILE_BYTES).then(|| Seen {
        abs,
        size: meta.len(),
        mtime_ms: fsutil::mtime_ms(&meta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Layout;

    fn project(root: &Path) -> Project {
        Project {
            id: "p".into(),
            name: "p".into(),
            root: std::fs::canonicalize(root).unwrap(),
            layout: Layout::LeanSpec,
            roots: vec!["specs".into()],
            read_only: false,
        }
    }

    fn write(root: &Path, rel: &str, body: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    fn upserts(changes: &[Change]) -> Vec<&str> {
        changes.iter().filter(|c| c.kind == ChangeKind::Upsert).map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn scan_skips_what_it_must() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "specs/001-a/README.md", "a");
        write(root, "specs/node_modules/x.md", "x");
        write(root, "specs/.git/config", "x");
        write(root, "specs/.README.md.1234.specbridge-tmp", "x");
        write(root, "README.md", "outside the root");
        let mut index = Index::default();
        let changes = index.scan(&project(root));
        assert_eq!(upserts(&changes), vec!["specs/001-a/README.md"]);
        assert_eq!(index.get("specs/001-a/README.md").unwrap().hash, specbridge_protocol::content_hash(b"a"));
    }

    #[cfg(unix)]
    #[test]
    fn scan_follows_only_inner_symlinked_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        write(&root, "specs/a.md", "a");
        write(dir.path(), "outside.md", "secret");
        std::os::unix::fs::symlink(dir.path().join("outside.md"), root.join("specs/out.md")).unwrap();
        std::os::unix::fs::symlink(root.join("specs/a.md"), root.join("specs/in.md")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("specs/loop")).unwrap();
        let mut index = Index::default();
        index.scan(&project(&root));
        assert_eq!(index.entries().keys().collect::<Vec<_>>(), vec!["specs/a.md", "specs/in.md"]);
    }

    #[test]
    fn persisted_index_rescans_only_offline_edits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        let file = dir.path().join("state/index.json");
        write(&root, "specs/a.md", "a");
        write(&root, "specs/b.md", "b");
        write(&root, "specs/c.md", "c");
        let p = project(&root);
        let mut index = Index::default();
        assert_eq!(index.scan(&p).len(), 3);
        index.save(&file).unwrap();
        let digest = index.digest();

        let mut again = Index::load(&file).unwrap();
        assert_eq!(again, index);
        assert_eq!(again.digest(), digest);
        assert!(again.scan(&p).is_empty(), "nothing changed");

        // Edits while "stopped".
        write(&root, "specs/a.md", "a2");
        std::fs::remove_file(root.join("specs/b.md")).unwrap();
        write(&root, "specs/d/e.md", "e");
        let mut reloaded = Index::load(&file).unwrap();
        let mut changes = reloaded.scan(&p);
        changes.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(
            changes,
            vec![
                Change { path: "specs/a.md".into(), kind: ChangeKind::Upsert },
                Change { path: "specs/b.md".into(), kind: ChangeKind::Delete },
                Change { path: "specs/d/e.md".into(), kind: ChangeKind::Upsert },
            ]
        );
        assert_ne!(reloaded.digest(), digest);
        assert!(Index::load(&dir.path().join("missing.json")).unwrap().is_empty());
    }

    #[test]
    fn refresh_handles_files_folders_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "specs/x/a.md", "a");
        write(root, "specs/x/b.md", "b");
        let p = project(root);
        let mut index = Index::default();
        index.scan(&p);

        // Same bytes again: a refresh reports nothing.
        write(root, "specs/x/a.md", "a");
        assert!(index.refresh(&p, &["specs/x/a.md".into()]).is_empty());

        // A whole folder disappears: one event names only the folder.
        std::fs::remove_dir_all(root.join("specs/x")).unwrap();
        let changes = index.refresh(&p, &["specs/x".into()]);
        assert_eq!(changes.len(), 2);
        assert!(changes.iter().all(|c| c.kind == ChangeKind::Delete));
        assert!(index.is_empty());

        // A folder appears with files in it.
        write(root, "specs/y/c.md", "c");
        assert_eq!(upserts(&index.refresh(&p, &["specs/y".into()])), vec!["specs/y/c.md"]);
        // Paths outside the roots or in skipped folders are ignored.
        write(root, "other.md", "o");
        assert!(index.refresh(&p, &["other.md".into(), "specs/node_modules/z".into()]).is_empty());
    }
}
