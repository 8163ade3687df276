//! Why enabling a job may hand the hub code execution: the job runs files
//! that the hub can write.
//!
//! A pinned argv fixes the program, but many programs run what the project
//! folder tells them to: `make` reads the Makefile, `npm test` the
//! package.json, a script argument is code. If those files lie inside the
//! project's hub-writable roots (a generic project shares the whole folder),
//! the hub can change what the job does without touching its argv. These
//! checks are heuristics that err on the side of warning; the owner decides.

use crate::policy;
use crate::project::Project;
use std::path::Path;

/// Files well-known programs read from their working directory and run.
fn config_files(program: &str) -> &'static [&'static str] {
    match program {
        "make" | "gmake" => &["Makefile", "makefile", "GNUmakefile"],
        "npm" | "npx" | "pnpm" | "yarn" | "bun" => &["package.json", ".npmrc"],
        "node" | "deno" => &["package.json", "deno.json"],
        "cargo" => &["Cargo.toml", "build.rs", ".cargo/config.toml"],
        "just" => &["justfile", "Justfile", ".justfile"],
        "go" => &["go.mod"],
        "python" | "python3" | "pytest" | "tox" | "uv" | "poetry" => {
            &["pyproject.toml", "setup.py", "conftest.py", "tox.ini"]
        }
        "gradle" | "gradlew" => &["build.gradle", "build.gradle.kts", "settings.gradle"],
        "mvn" => &["pom.xml"],
        "rake" | "bundle" => &["Rakefile", "Gemfile"],
        _ => &[],
    }
}

/// The warnings for running `argv` in `project` (none for a read-only project).
pub fn warnings(argv: &[String], project: &Project) -> Vec<String> {
    if project.read_only {
        return Vec::new();
    }
    let mut out = Vec::new();
    let writable = |rel: &str| policy::within_roots(rel, &project.roots);
    let mut flag = |rel: String, why: &str| {
        let line = format!("{rel} ({why}) is in a folder the hub can write: the hub can change what this job runs");
        if !out.contains(&line) {
            out.push(line);
        }
    };
    let program = argv.first().map(String::as_str).unwrap_or_default();
    if let Some(rel) = relative_in(project, program) {
        if writable(&rel) {
            flag(rel, "the program");
        }
    }
    let base = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program);
    for file in config_files(base) {
        if project.root.join(file).exists() && writable(file) {
            flag((*file).to_owned(), &format!("read by {base}"));
        }
    }
    for arg in argv.iter().skip(1) {
        if let Some(rel) = relative_in(project, arg) {
            if project.root.join(&rel).is_file() && writable(&rel) {
                flag(rel, "an argument");
            }
        }
    }
    if project.roots.iter().any(|r| r == ".") {
        out.push(format!(
            "project `{}` shares its whole folder: the hub can write any file a program reads from it",
            project.id
        ));
    }
    out
}

/// `arg` as a path inside the project, relative to its root, if it names one
/// (a relative path with a `/` or an existing file, or an absolute path under the root).
fn relative_in(project: &Project, arg: &str) -> Option<String> {
    if arg.is_empty() || arg.starts_with('-') {
        return None;
    }
    let path = Path::new(arg);
    let rel = if path.is_absolute() {
        path.strip_prefix(&project.root).ok()?.to_str()?.to_owned()
    } else if arg.contains('/') || project.root.join(arg).is_file() {
        arg.trim_start_matches("./").to_owned()
    } else {
        return None;
    };
    policy::check_syntax(&rel).ok().map(|()| rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use specbridge_protocol::Layout;

    fn project(root: &Path, roots: &[&str], read_only: bool) -> Project {
        Project {
            id: "p".into(),
            name: "p".into(),
            root: root.to_path_buf(),
            layout: Layout::Generic,
            roots: roots.iter().map(|r| (*r).to_owned()).collect(),
            read_only,
        }
    }

    fn argv(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn a_makefile_in_a_generic_project_warns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Makefile"), "test:\n\ttrue\n").unwrap();
        let generic = project(dir.path(), &["."], false);
        let found = warnings(&argv(&["make", "test"]), &generic);
        assert!(found.iter().any(|w| w.starts_with("Makefile (read by make)")), "{found:?}");
        // Only the specs are shared: the Makefile is out of the hub's reach.
        assert!(warnings(&argv(&["make", "test"]), &project(dir.path(), &["specs"], false)).is_empty());
        assert!(warnings(&argv(&["make", "test"]), &project(dir.path(), &["."], true)).is_empty());
    }

    #[test]
    fn a_script_argument_or_a_program_path_in_a_shared_root_warns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("specs/tools")).unwrap();
        std::fs::write(dir.path().join("specs/tools/run.sh"), "echo hi\n").unwrap();
        let lean = project(dir.path(), &["specs"], false);
        let found = warnings(&argv(&["sh", "specs/tools/run.sh"]), &lean);
        assert!(found.iter().any(|w| w.starts_with("specs/tools/run.sh (an argument)")), "{found:?}");
        let found = warnings(&argv(&["./specs/tools/run.sh"]), &lean);
        assert!(found.iter().any(|w| w.starts_with("specs/tools/run.sh (the program)")), "{found:?}");
        assert!(warnings(&argv(&["cargo", "test"]), &lean).is_empty());
    }
}
