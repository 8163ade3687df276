#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // shared by the spec test binaries
//! Helpers for the spec end-to-end tests: a hub and a bridge serving given
//! project folders, REST calls, and tree snapshots to prove what changed.

use super::{connected, http, BridgeHome, TestHub};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A pending spec-workflow approval, as spec-workflow-mcp writes it.
pub const APPROVAL: &str = r#"{
  "id": "approval_1758791041823_q1uuiwwpp",
  "title": "Approve design for auth",
  "filePath": ".spec-workflow/specs/auth/design.md",
  "type": "document",
  "status": "pending",
  "createdAt": "2025-09-25T09:04:01.823Z",
  "category": "spec",
  "categoryName": "auth"
}"#;

/// The id of [`APPROVAL`].
pub const APPROVAL_ID: &str = "approval_1758791041823_q1uuiwwpp";

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// A hub, a bridge serving the given projects, and helpers for the REST API.
pub struct World {
    _dir: TempDir,
    pub hub: TestHub,
    pub engine: specbridge_bridge::EngineHandle,
    pub home: BridgeHome,
}

impl World {
    pub async fn new(projects: &[(&str, &Path, bool)]) -> Self {
        Self::with_jobs(projects, &[]).await
    }

    /// A world whose bridge has `jobs` pinned (by its owner, before it starts).
    pub async fn with_jobs(projects: &[(&str, &Path, bool)], jobs: &[specbridge_bridge::PinnedJob]) -> Self {
        let dir = TempDir::new().unwrap();
        let hub = TestHub::start(&dir.path().join("hub"), None).await;
        let list: Vec<(&str, &Path)> = projects.iter().map(|(n, p, _)| (*n, *p)).collect();
        let mut home = BridgeHome::new(&dir.path().join("bridge"), &hub.handle.url(), &list);
        for (name, _, read_only) in projects {
            home.config.projects.iter_mut().filter(|p| p.id == *name).for_each(|p| p.read_only = *read_only);
        }
        home.config.save(&home.paths).unwrap();
        let book = specbridge_bridge::JobBook::open(&home.paths);
        for job in jobs {
            book.add(job.clone(), &home.config).unwrap();
        }
        let engine = home.start(&hub.machine_token).await;
        connected(&engine).await;
        Self { _dir: dir, hub, engine, home }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &[("Content-Type", "application/json")] };
        let reply = http::request(self.hub.addr(), method, path, Some(&self.hub.user_token), headers, &body).await;
        let value = if reply.body.is_empty() { Value::Null } else { reply.json() };
        (reply.status, value)
    }

    /// A call that must succeed: a read's result, or an applied command's
    /// result taken out of its envelope (`{id, state: "applied", result}`).
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {value}");
        if value["state"] == "applied" {
            return value["result"].clone();
        }
        value
    }
}

pub fn audit_lines(home: &BridgeHome) -> Vec<Value> {
    let text = std::fs::read_to_string(home.paths.audit_log()).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn snapshot_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// ../shared/corpus next to the repository, if this checkout has it.
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    dir.is_dir().then_some(dir)
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Files that differ between two tree snapshots (added, removed or changed).
pub fn changed_files(before: &[(PathBuf, Vec<u8>)], after: &[(PathBuf, Vec<u8>)], root: &Path) -> Vec<String> {
    let a: std::collections::BTreeMap<_, _> = before.iter().cloned().collect();
    let b: std::collections::BTreeMap<_, _> = after.iter().cloned().collect();
    let mut out: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The frontmatter lines of a README other than the keys a status change maintains.
pub fn untouched_lines(text: &str) -> Vec<&str> {
    let end = text[4..].find("\n---").unwrap() + 4;
    let mut skipping = false;
    text[..end]
        .lines()
        .filter(|line| {
            let maintained =
                ["status:", "updated_at:", "completed_at:", "transitions:"].iter().any(|k| line.starts_with(k));
            if maintained {
                skipping = line.starts_with("transitions:");
                return false;
            }
            if skipping && (line.starts_with("- ") || line.starts_with("  ")) {
                return false;
            }
            skipping = false;
            true
        })
        .collect()
}
