//! The invariants a fault must not break, checked once the fault is over:
//!
//! 1. **the hub matches the disk**: the hub's listing of the project (path ->
//!    hash) equals the files under the project's roots, once converged;
//! 2. **no temp files**: no `*.specbridge-tmp` file under the project or the
//!    bridge's state folder (the startup sweep removes a crash's leftovers);
//! 3. **nothing applied twice**: no request id has two `ok` lines in the
//!    audit log, and no ledger marker (one per acknowledged hub edit) is in
//!    the ledger file twice;
//! 4. **nothing acknowledged is lost**: every marker the hub answered `200`
//!    for is in the ledger file.

use crate::http::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The suffix of every temp file the bridge makes (`fsutil::TEMP_SUFFIX`).
pub const TEMP_SUFFIX: &str = ".specbridge-tmp";

/// (path relative to `root`, BLAKE3 hash) of every file under `root/sub`
/// for each `sub` in `roots`, temp files excluded, sorted.
pub fn local_listing(root: &Path, roots: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in roots {
        for path in files_under(&root.join(sub)) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(TEMP_SUFFIX) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let Ok(rel) = path.strip_prefix(root) else { continue };
            out.push((rel.to_string_lossy().replace('\\', "/"), specbridge_protocol::content_hash(&bytes)));
        }
    }
    out.sort();
    out
}

/// Every regular file below `dir` (symlinked folders not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Temp files under any of `dirs`.
pub fn temp_files(dirs: &[&Path]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| files_under(d))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(TEMP_SUFFIX)))
        .collect()
}

/// Request ids with more than one `ok` line in the audit log.
pub fn applied_twice(audit_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    let mut ok: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let id = record["request_id"].as_str().unwrap_or_default();
        // A multi-file mutation writes one line per file, all under one id.
        let key = format!("{id}\u{0}{}", record["path"].as_str().unwrap_or_default());
        if !id.is_empty() && record["outcome"] == "ok" {
            *ok.entry(key).or_default() += 1;
        }
    }
    ok.into_iter().filter(|(_, n)| *n > 1).map(|(k, n)| format!("{} x{n}", k.replace('\u{0}', " "))).collect()
}

/// Everything the checks found wrong (empty: all held).
#[derive(Debug, Default, Clone)]
pub struct Findings(pub Vec<String>);

impl Findings {
    /// Whether every invariant held.
    pub fn held(&self) -> bool {
        self.0.is_empty()
    }
}

/// What to check.
#[derive(Debug)]
pub struct Subject<'a> {
    /// The hub's API.
    pub api: &'a Api,
    /// The machine id.
    pub machine: &'a str,
    /// The project id at the hub.
    pub project: &'a str,
    /// The project folder.
    pub root: &'a Path,
    /// Its allowed roots (`specs` for LeanSpec).
    pub roots: &'a [&'a str],
    /// The bridge's state folder.
    pub state_dir: &'a Path,
    /// The file holding one marker line per acknowledged hub edit.
    pub ledger: &'a Path,
    /// Markers the hub acknowledged with 200.
    pub acknowledged: &'a BTreeSet<String>,
}

/// Runs every check, waiting up to `within` for the hub to converge and the
/// temp files to be swept (both happen in the background after a fault).
pub async fn check(subject: &Subject<'_>, within: Duration) -> Findings {
    let mut findings = Vec::new();
    let converged = crate::wait_until(within, || async {
        subject.api.listing(subject.machine, subject.project).await == Some(local_listing(subject.root, subject.roots))
    })
    .await;
    if !converged {
        let local = local_listing(subject.root, subject.roots);
        let hub = subject.api.listing(subject.machine, subject.project).await.unwrap_or_default();
        let differ: Vec<&String> = local
            .iter()
            .filter(|f| !hub.contains(f))
            .chain(hub.iter().filter(|f| !local.contains(f)))
            .map(|(p, _)| p)
            .collect();
        findings.push(format!("the hub does not match the disk after {within:?}: {differ:?}"));
    }
    let clean = crate::wait_until(within, || async { temp_files(&[subject.root, subject.state_dir]).is_empty() }).await;
    if !clean {
        findings.push(format!("temp files left: {:?}", temp_files(&[subject.root, subject.state_dir])));
    }
    let twice = applied_twice(&subject.state_dir.join("audit.log"));
    if !twice.is_empty() {
        findings.push(format!("applied twice (audit log): {twice:?}"));
    }
    let ledger = std::fs::read_to_string(subject.ledger).unwrap_or_default();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in ledger.lines().filter(|l| l.starts_with("marker-")) {
        *seen.entry(line).or_default() += 1;
    }
    let doubled: Vec<&&str> = seen.iter().filter(|(_, n)| **n > 1).map(|(m, _)| m).collect();
    if !doubled.is_empty() {
        findings.push(format!("ledger markers applied twice: {doubled:?}"));
    }
    let lost: Vec<&String> = subject.acknowledged.iter().filter(|m| !seen.contains_key(m.as_str())).collect();
    if !lost.is_empty() {
        findings.push(format!("acknowledged edits missing from the ledger: {lost:?}"));
    }
    Findings(findings)
}
