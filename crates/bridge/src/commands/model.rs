//! The typed spec model of a project, cached.
//!
//! Building the model parses every spec file, so it is cached per project and
//! keyed by a fingerprint of the stat data (path, size, modification time) of
//! the files under the project's spec roots. A request costs a stat walk; the
//! files are parsed again only when one of them changed, appeared or went.

use super::{to_value, Ctx};
use crate::index::{MAX_FILE_BYTES, SKIP_DIRS};
use crate::project::{Layout, Project};
use serde_json::{json, Value};
use specbridge_protocol::ErrorBody;
use specbridge_specs::{
    build_project, parse_spec, FileEntry, LeanSpec, TaskProgress, Timestamp, WorkflowProject, WorkflowRoot,
};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

/// The parsed specs of one project.
#[derive(Debug)]
pub(crate) enum Model {
    /// `specs/NNN-name/README.md` folders.
    Lean(LeanModel),
    /// `.spec-workflow/` or `.spec-context/`.
    Workflow(WorkflowProject),
    /// Plain markdown: no spec model.
    Generic,
}

/// A LeanSpec project.
#[derive(Debug, Default)]
pub(crate) struct LeanModel {
    /// Specs by folder name.
    pub(crate) specs: Vec<LeanEntry>,
    /// READMEs that did not parse.
    pub(crate) problems: Vec<Value>,
}

/// One LeanSpec spec folder.
#[derive(Debug)]
pub(crate) struct LeanEntry {
    /// `NNN-name`.
    pub(crate) dir: String,
    /// The parsed README.
    pub(crate) spec: LeanSpec,
    /// Markdown files of the folder (`README.md`, `DESIGN.md` …), sorted.
    pub(crate) documents: Vec<String>,
}

/// Models by project id, each with the fingerprint it was built from.
#[derive(Debug, Default)]
pub(crate) struct ModelCache {
    inner: Mutex<HashMap<String, (u64, Arc<Model>)>>,
    /// How many times a model was built (parsed), for tests and diagnostics.
    builds: std::sync::atomic::AtomicU64,
}

impl ModelCache {
    /// The project's model, rebuilt if a file under its roots changed.
    pub(crate) fn get(&self, project: &Project) -> Result<Arc<Model>, ErrorBody> {
        let files = walk(project);
        let mut hasher = DefaultHasher::new();
        files.hash(&mut hasher);
        let fingerprint = hasher.finish();
        if let Some((seen, model)) = self.lock().get(&project.id) {
            if *seen == fingerprint {
                return Ok(Arc::clone(model));
            }
        }
        let model = Arc::new(build(project, &files));
        self.builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert(project.id.clone(), (fingerprint, Arc::clone(&model)));
        Ok(model)
    }

    /// How many models were built so far.
    #[cfg(test)]
    pub(crate) fn builds(&self) -> u64 {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Arc<Model>)>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stat data of one file: project-relative path, size, mtime in nanoseconds.
#[derive(Debug, Hash)]
struct Stat {
    rel: String,
    size: u64,
    mtime_ns: u128,
}

/// The top folder whose files make up the model.
fn model_root(layout: Layout) -> Option<&'static str> {
    match layout {
        Layout::LeanSpec => Some("specs"),
        Layout::SpecWorkflow => Some(".spec-workflow"),
        Layout::SpecContext => Some(".spec-context"),
        Layout::Generic => None,
    }
}

fn walk(project: &Project) -> Vec<Stat> {
    let mut out = Vec::new();
    if let Some(root) = model_root(project.layout) {
        // LeanSpec specs are `specs/NNN-name/*.md`: two levels are enough.
        let depth = if project.layout == Layout::LeanSpec { 2 } else { usize::MAX };
        walk_dir(&project.root, root, depth, &mut out);
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

fn walk_dir(base: &Path, rel: &str, depth: usize, out: &mut Vec<Stat>) {
    let Ok(entries) = std::fs::read_dir(base.join(rel)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Snapshots are read on demand, never part of the model; symlinks are
        // not followed (the path policy decides about them on access).
        if SKIP_DIRS.contains(&name) || name == ".snapshots" || crate::fsutil::is_temp_name(name) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let child = format!("{rel}/{name}");
        if meta.is_dir() {
            if depth > 1 {
                walk_dir(base, &child, depth - 1, out);
            }
        } else if meta.is_file() && meta.len() <= MAX_FILE_BYTES {
            let mtime_ns =
                meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            out.push(Stat { rel: child, size: meta.len(), mtime_ns });
        }
    }
}

fn read(project: &Project, rel: &str) -> Option<String> {
    std::fs::read_to_string(project.root.join(rel)).ok()
}

fn build(project: &Project, files: &[Stat]) -> Model {
    match project.layout {
        Layout::LeanSpec => Model::Lean(build_lean(project, files)),
        Layout::SpecWorkflow | Layout::SpecContext => {
            let root = if project.layout == Layout::SpecWorkflow {
                WorkflowRoot::SpecWorkflow
            } else {
                WorkflowRoot::SpecContext
            };
            let entries: Vec<FileEntry> = files
                .iter()
                .map(|f| FileEntry {
                    path: f.rel.clone(),
                    modified: i64::try_from(f.mtime_ns / 1_000_000).ok().map(Timestamp::from_unix_millis),
                })
                .collect();
            Model::Workflow(build_project(root, &entries, &|rel| read(project, rel)))
        }
        Layout::Generic => Model::Generic,
    }
}

fn build_lean(project: &Project, files: &[Stat]) -> LeanModel {
    let mut model = LeanModel::default();
    let mut by_dir: std::collections::BTreeMap<&str, Vec<String>> = std::collections::BTreeMap::new();
    for f in files {
        let mut parts = f.rel.splitn(3, '/');
        let (Some(_), Some(dir), Some(file)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if is_spec_dir(dir) && file.ends_with(".md") {
            by_dir.entry(dir).or_default().push(file.to_owned());
        }
    }
    for (dir, documents) in by_dir {
        if !documents.iter().any(|d| d == "README.md") {
            continue;
        }
        let rel = format!("specs/{dir}/README.md");
        let Some(text) = read(project, &rel) else { continue };
        match parse_spec(dir, &text) {
            Ok(spec) => model.specs.push(LeanEntry { dir: dir.to_owned(), spec, documents }),
            Err(e) => model.problems.push(json!({ "path": rel, "code": e.code(), "message": e.to_string() })),
        }
    }
    model
}

/// `NNN-name` with at least three digits.
pub(crate) fn is_spec_dir(name: &str) -> bool {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    digits >= 3 && name.as_bytes().get(digits) == Some(&b'-')
}

/// Task counts in the REST shape.
pub(crate) fn progress_json(p: &TaskProgress) -> Value {
    json!({ "total": p.total, "done": p.done, "in_progress": p.in_progress, "pending": p.pending, "blocked": p.blocked })
}

/// `project-info`: the project, its layout and what its model holds.
pub(crate) fn project_info(ctx: &Ctx<'_>) -> Result<Value, ErrorBody> {
    let p = ctx.project;
    let mut info = json!({
        "id": p.id, "name": p.name, "layout": p.layout.as_str(), "read_only": p.read_only, "roots": p.roots,
    });
    match &*ctx.model()? {
        Model::Lean(m) => {
            let archived =
                m.specs.iter().filter(|s| s.spec.status == Some(specbridge_specs::SpecStatus::Archived)).count();
            info["specs"] = json!(m.specs.len() - archived);
            info["archived_specs"] = json!(archived);
            info["problems"] = json!(m.problems);
        }
        Model::Workflow(w) => {
            info["specs"] = json!(w.specs.len());
            info["archived_specs"] = json!(w.archived_specs.len());
            // The approvals spec-workflow reads; legacy nested ones only as a count.
            info["approvals"] = json!(w.approvals.len());
            info["legacy_approvals"] = json!(w.legacy_approvals.len());
            info["pending_approvals"] = json!(w
                .approvals
                .iter()
                .filter(|a| a.approval.status == specbridge_specs::ApprovalStatus::Pending)
                .count());
            info["steering"] = to_value(&w.steering)?;
            info["problems"] = to_value(&w.problems)?;
        }
        Model::Generic => {}
    }
    Ok(info)
}
