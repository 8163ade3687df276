//! Executor tests on real temp folders.

use super::*;
use crate::project::Layout;
use serde_json::json;
use specbridge_protocol::{content_hash, Content, Encoding, FileReadResult, FileWriteResult};
use std::sync::atomic::{AtomicU64, Ordering};

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    executor: Executor,
    /// Each command gets a fresh id, as the hub gives it.
    next_id: AtomicU64,
}

impl Fixture {
    fn new(read_only: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("specs/001-a")).unwrap();
        std::fs::write(root.join("specs/001-a/README.md"), "# A\n").unwrap();
        let project = Project {
            id: "app".into(),
            name: "app".into(),
            root: std::fs::canonicalize(&root).unwrap(),
            layout: Layout::LeanSpec,
            roots: vec!["specs".into()],
            read_only,
        };
        let projects = Arc::new(BTreeMap::from([("app".to_owned(), project)]));
        let audit = AuditLog::new(dir.path().join("state/audit.log"));
        let outcomes = Outcomes::load(dir.path().join("state/commands.jsonl"));
        let jobs = Arc::new(crate::commands::Jobs::in_folder(&dir.path().join("state")));
        let executor = Executor::new(projects, audit, jobs, outcomes);
        Self { _dir: dir, root, executor, next_id: AtomicU64::new(1) }
    }

    fn run(&self, name: &str, args: Value) -> Handled {
        self.run_in("app", name, args)
    }

    fn run_in(&self, project: &str, name: &str, args: Value) -> Handled {
        let id = format!("c{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.executor.execute(&command(&id, project, name, args), Instant::now() + Duration::from_secs(30))
    }

    fn audit_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.executor.audit().path()).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn files_in(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

fn command(id: &str, project: &str, name: &str, args: Value) -> Command {
    Command {
        id: id.into(),
        project: project.into(),
        deadline_ms: 30_000,
        expires_at_ms: None,
        name: name.into(),
        args,
    }
}

fn error_code(handled: &Handled) -> ErrorCode {
    handled.response.error.as_ref().expect("an error").code
}

const README: &str = "specs/001-a/README.md";

#[test]
fn read_returns_content_and_hash() {
    let fx = Fixture::new(false);
    let handled = fx.run("file-read", json!({"path": README}));
    let result: FileReadResult = serde_json::from_value(handled.response.result.unwrap()).unwrap();
    assert_eq!(result.hash, content_hash(b"# A\n"));
    assert_eq!(result.content, Content::text("# A\n"));
    assert_eq!(error_code(&fx.run("file-read", json!({"path": "specs/nope.md"}))), ErrorCode::NotFound);
    assert!(fx.audit_lines().is_empty(), "reads are not mutations");
}

#[test]
fn write_with_matching_base_replaces_atomically_and_keeps_permissions() {
    let fx = Fixture::new(false);
    let target = fx.root.join(README);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let base = content_hash(b"# A\n");
    let handled = fx
        .run("file-write", json!({"path": README, "base_hash": base, "content": {"encoding":"utf8","data":"# A2\n"}}));
    let result: FileWriteResult = serde_json::from_value(handled.response.result.clone().unwrap()).unwrap();
    assert_eq!(result.hash, content_hash(b"# A2\n"));
    assert_eq!(handled.changed, vec![README]);
    assert_eq!(std::fs::read(&target).unwrap(), b"# A2\n");
    assert_eq!(fx.files_in("specs/001-a"), vec!["README.md"], "no temp file left behind");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
    }
    let audit = fx.audit_lines();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "ok");
    assert_eq!(audit[0]["base_hash"], base);
    assert_eq!(audit[0]["new_hash"], result.hash);
    assert_eq!(audit[0]["request_id"], "c1");
    assert_eq!(audit[0]["command"], "file-write");
    assert!(audit[0]["ts_ms"].as_u64().unwrap() > 0);
}

#[test]
fn stale_base_is_a_conflict_and_leaves_the_file_byte_identical() {
    let fx = Fixture::new(false);
    let stale = content_hash(b"something else");
    let handled =
        fx.run("file-write", json!({"path": README, "base_hash": stale, "content": {"encoding":"utf8","data":"x"}}));
    let error = handled.response.error.unwrap();
    assert_eq!(error.code, ErrorCode::Conflict);
    let details = error.details.unwrap();
    assert_eq!(details["current_hash"], content_hash(b"# A\n"));
    assert_eq!(details["current_content"]["data"], "# A\n");
    assert!(error.hint.is_some());
    assert_eq!(std::fs::read(fx.root.join(README)).unwrap(), b"# A\n");
    assert_eq!(fx.files_in("specs/001-a"), vec!["README.md"]);
    assert_eq!(fx.audit_lines()[0]["outcome"], "conflict");
    assert!(fx.audit_lines()[0]["new_hash"].is_null());
}

#[test]
fn create_only_and_missing_file_rules() {
    let fx = Fixture::new(false);
    // No base hash onto an existing file: conflict.
    let handled = fx.run("file-write", json!({"path": README, "content": {"encoding":"utf8","data":"x"}}));
    assert_eq!(error_code(&handled), ErrorCode::Conflict);
    // A base hash for a file that does not exist: conflict with a null hash and no content.
    let handled = fx.run(
        "file-write",
        json!({"path": "specs/002-b/README.md", "base_hash": content_hash(b"x"), "content": {"encoding":"utf8","data":"x"}}),
    );
    let error = handled.response.error.unwrap();
    assert_eq!(error.code, ErrorCode::Conflict);
    assert!(error.details.as_ref().unwrap()["current_hash"].is_null());
    assert!(error.details.unwrap().get("current_content").is_none());
    assert!(!fx.root.join("specs/002-b").exists());
    // Creating a new file in a new folder inside the root works; binary content too.
    let handled = fx
        .run("file-write", json!({"path": "specs/002-b/img.bin", "content": {"encoding":"base64","data":"AAEC/w=="}}));
    assert!(handled.response.error.is_none(), "{:?}", handled.response);
    assert_eq!(std::fs::read(fx.root.join("specs/002-b/img.bin")).unwrap(), [0, 1, 2, 255]);
    assert_eq!(fx.audit_lines().len(), 3);
}

#[test]
fn refusals_have_stable_codes_and_are_audited() {
    let fx = Fixture::new(true);
    let write = json!({"path": README, "base_hash": content_hash(b"# A\n"), "content": {"encoding":"utf8","data":"x"}});
    assert_eq!(error_code(&fx.run("file-write", write)), ErrorCode::Forbidden);
    assert_eq!(std::fs::read(fx.root.join(README)).unwrap(), b"# A\n");
    // Reads stay allowed on a read-only project.
    assert!(fx.run("file-read", json!({"path": README})).response.error.is_none());

    // Read-only wins over everything else a write could be refused for.
    let handled = fx.run("file-write", json!({"path": "../escape.md", "content": {"encoding":"utf8","data":"x"}}));
    assert_eq!(error_code(&handled), ErrorCode::Forbidden);
    let writable = Fixture::new(false);
    let handled = writable.run("file-write", json!({"path": "../escape.md", "content": "x"}));
    assert_eq!(error_code(&handled), ErrorCode::ForbiddenPath);
    assert!(!writable.root.join("../escape.md").exists());
    assert_eq!(writable.audit_lines()[0]["outcome"], "forbidden_path");
    assert_eq!(error_code(&fx.run("file-write", json!({"content": 3}))), ErrorCode::Invalid);
    assert_eq!(
        error_code(
            &fx.run(
                "file-write",
                json!({"path": README, "base_hash": "zz", "content": {"encoding":"utf8","data":"x"}})
            )
        ),
        ErrorCode::Invalid
    );
    assert_eq!(
        error_code(&fx.run_in("nope", "file-write", json!({"path": README, "content": "x"}))),
        ErrorCode::NotFound
    );
    let unknown = fx.run("rm-rf", json!({}));
    assert_eq!(error_code(&unknown), ErrorCode::Invalid);
    assert!(unknown.response.error.unwrap().message.contains("unknown command"));

    let outcomes: Vec<String> = fx.audit_lines().iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect();
    assert_eq!(outcomes, vec!["forbidden", "forbidden", "invalid", "invalid", "not_found"]);
}

#[test]
fn a_passed_deadline_writes_nothing() {
    let fx = Fixture::new(false);
    let late = command("late", "app", "file-write", json!({"path": "specs/late.md", "content": "x"}));
    let handled = fx.executor.execute(&late, Instant::now());
    assert_eq!(error_code(&handled), ErrorCode::Timeout);
    assert_eq!(handled.response.error.unwrap().details.unwrap()["applied"], false);
    assert!(!fx.root.join("specs/late.md").exists());
    // The same id again, now with time to spare: still refused, never applied late.
    let again = fx.executor.execute(&late, Instant::now() + Duration::from_secs(30));
    assert_eq!(error_code(&again), ErrorCode::Timeout);
    assert!(!fx.root.join("specs/late.md").exists());
}

#[test]
fn a_retried_id_is_applied_once() {
    let fx = Fixture::new(false);
    let create = command("k1", "app", "file-write", json!({"path": "specs/new.md", "content": "one"}));
    let deadline = || Instant::now() + Duration::from_secs(30);
    let first = fx.executor.execute(&create, deadline());
    assert!(first.response.error.is_none(), "{:?}", first.response);
    // The owner edits the file; a retry of the create must not fail as a
    // conflict nor overwrite: it answers what the first run answered.
    std::fs::write(fx.root.join("specs/new.md"), "edited locally").unwrap();
    let retry = fx.executor.execute(&create, deadline());
    assert_eq!(retry.response, first.response);
    assert!(retry.changed.is_empty());
    assert_eq!(std::fs::read_to_string(fx.root.join("specs/new.md")).unwrap(), "edited locally");
    assert_eq!(fx.audit_lines().len(), 1, "the retry touched nothing");
    // Reads are not recorded: a repeated read sees the file as it is now.
    let read = command("r1", "app", "file-read", json!({"path": "specs/new.md"}));
    fx.executor.execute(&read, deadline());
    let again = fx.executor.execute(&read, deadline());
    assert_eq!(again.response.result.unwrap()["content"]["data"], "edited locally");
}

#[test]
fn same_content_is_a_successful_no_op() {
    let fx = Fixture::new(false);
    let handled = fx.run(
        "file-write",
        json!({"path": README, "base_hash": content_hash(b"# A\n"), "content": {"encoding": Encoding::Utf8, "data":"# A\n"}}),
    );
    assert!(handled.response.error.is_none());
    assert!(handled.changed.is_empty());
}

#[tokio::test]
async fn run_moves_work_off_the_runtime_and_answers() {
    let fx = Fixture::new(false);
    let executor = Arc::new(Executor::new(
        Arc::clone(&fx.executor.projects),
        fx.executor.audit.clone(),
        Arc::clone(&fx.executor.jobs),
        Outcomes::default(),
    ));
    let read = command("r", "app", "file-read", json!({"path": README}));
    let handled = executor.run(read, Instant::now() + Duration::from_secs(5), None).await;
    assert_eq!(handled.outcome, "ok");
    assert_eq!(handled.path.as_deref(), Some(README));
}
