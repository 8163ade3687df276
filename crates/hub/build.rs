//! Embeds the web dashboard: every file of `dashboard/dist` (built by
//! `npm run build -w dashboard`) becomes a static byte slice in the binary.
//! Without a build, a placeholder page says how to make one, so a plain
//! `cargo build` still works on a fresh clone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../../dashboard/dist");
    let placeholder = manifest.join("dashboard-placeholder");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", placeholder.display());
    let (root, built) = if dist.join("index.html").is_file() { (dist, true) } else { (placeholder, false) };
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut code = String::from("/// The dashboard's files: path relative to the app root, bytes.\n");
    let _ = writeln!(code, "pub(crate) const DASHBOARD_BUILT: bool = {built};");
    code.push_str("/// The embedded files.\npub(crate) static ASSETS: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let Ok(rel) = file.strip_prefix(&root) else { continue };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({:?})),", file.display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("dashboard_assets.rs");
    if let Err(err) = std::fs::write(&out, code) {
        panic!("cannot write {}: {err}", out.display());
    }
}
