//! Helpers shared by the corpus tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

/// The shared corpus folder next to the repository (`../shared/corpus`).
pub(crate) fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Every regular file below `dir`, recursively (symlinks are not followed).
pub(crate) fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}
