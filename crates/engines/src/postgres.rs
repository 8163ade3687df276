//! One Postgres server per test process, from the packaged binaries
//! (`/usr/lib/postgresql/<newest>/bin`), in a fresh temporary folder, on a
//! free loopback port; every test takes its own database
//! ([`Postgres::fresh_database`]), so tests run in parallel.
//!
//! The server must not outlive the test process, whichever way it ends:
//! - it is spawned (through `setpriv --pdeathsig QUIT`) by a thread that lives
//!   as long as the server, so the kernel signals it when the process is gone
//!   (a parent-death signal belongs to the thread that forked, hence the
//!   dedicated thread). SIGQUIT, Postgres's immediate shutdown, rather than
//!   SIGKILL: it is as quick, and the server still removes its shared memory
//!   segment, which a killed server leaks on every run;
//! - a reaper shell waits for end-of-file on a pipe only this process holds
//!   open, then removes the folder once the server has stopped.
//!
//! Postgres refuses to run as root: as root, the folder is given to the
//! `postgres` user and `initdb`/`postgres` run as that user.

use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// Where Debian installs each major version's binaries.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";
/// How long the server has to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Another process can take the free port we picked before the server binds it.
const START_ATTEMPTS: usize = 3;
/// The superuser `initdb` creates, whoever runs it.
const SUPERUSER: &str = "postgres";

/// A Postgres server for tests (see the module documentation).
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    dir: PathBuf,
    /// Never written: closed when the process ends, which tells the reaper to clean up.
    _reaper: ChildStdin,
}

static SHARED: OnceLock<Result<Option<Postgres>, String>> = OnceLock::new();
static DATABASES: AtomicU64 = AtomicU64::new(0);

impl Postgres {
    /// The process's server, started on first use. `None` when Postgres is
    /// not installed (after [`crate::require`]'s policy: a printed skip, or a
    /// panic when engines are required). A server that is installed but
    /// fails to start is a panic, with its log.
    pub fn shared() -> Option<&'static Postgres> {
        let started = SHARED.get_or_init(|| match bin_dir() {
            Some(bin) => Postgres::start(bin).map(Some),
            None => Ok(None),
        });
        match started {
            Ok(Some(server)) => Some(server),
            Ok(None) => {
                crate::require("Postgres", false);
                None
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a new, empty database and returns its URL
    /// (`postgres://postgres@127.0.0.1:PORT/NAME`, no password: trust on loopback).
    pub fn fresh_database(&self) -> String {
        let name = format!("test_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        let created = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, &name])
            .stdin(Stdio::null())
            .output();
        match created {
            Ok(out) if out.status.success() => self.url(&name),
            Ok(out) => panic!(
                "createdb {name} failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                crate::process::tail(&self.dir.join("postgres.log"))
            ),
            Err(error) => panic!("cannot run createdb: {error}"),
        }
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start(bin: PathBuf) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("specbridge-pg-")
            .tempdir()
            .map_err(|e| format!("cannot make a folder for Postgres: {e}"))?
            .keep();
        // First, so that the folder goes away even if the start fails.
        let reaper = spawn_reaper(&dir)?;
        let owner = if effective_uid()? == 0 { Some(user_ids(SUPERUSER)?) } else { None };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to {SUPERUSER}: {e}", dir.display()))?;
        }
        let runner = Runner { dir: dir.clone(), as_postgres: owner.is_some() };
        init_cluster(&runner, &bin)?;
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = crate::process::free_port().map_err(|e| format!("no free port: {e}"))?;
            match run_server(&runner, &bin, port) {
                Ok(()) => return Ok(Self { port, bin, dir, _reaper: reaper }),
                Err(error) => failures.push(error),
            }
        }
        Err(format!(
            "Postgres did not start ({} tries):\n{}\n--- server log ---\n{}",
            START_ATTEMPTS,
            failures.join("\n"),
            crate::process::tail(&dir.join("postgres.log"))
        ))
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `postgres`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(INSTALL_ROOT)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Runs the server's programs as the user that may run them.
struct Runner {
    dir: PathBuf,
    as_postgres: bool,
}

impl Runner {
    fn command(&self, program: &Path, parent_death: Option<&str>) -> Command {
        let mut command = Command::new("setpriv");
        if self.as_postgres {
            command.args(["--reuid", SUPERUSER, "--regid", SUPERUSER, "--init-groups"]);
        }
        if let Some(signal) = parent_death {
            command.args(["--pdeathsig", signal]);
        }
        // The test's own folder may be closed to the postgres user.
        command.arg("--").arg(program).current_dir(&self.dir).stdin(Stdio::null());
        command
    }
}

fn init_cluster(runner: &Runner, bin: &Path) -> Result<(), String> {
    let data = runner.dir.join("data");
    let base = ["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"];
    // A linguistic default collation (ICU), as production databases have:
    // a query that forgets `COLLATE "C"` where byte order matters fails its
    // test here. Plain C where ICU is missing.
    let icu = ["--locale-provider=icu", "--icu-locale=en-US", "--locale=C.UTF-8"];
    let mut output = String::new();
    for locale in [&icu[..], &["--locale=C"][..]] {
        let out = runner
            .command(&bin.join("initdb"), None)
            .arg("-D")
            .arg(&data)
            .args(base)
            .args(locale)
            .output()
            .map_err(|e| format!("cannot run initdb through setpriv: {e}"))?;
        if out.status.success() {
            // Trust, and only on loopback and the private socket folder.
            let hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n";
            return std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| format!("cannot write pg_hba.conf: {e}"));
        }
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        output.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    Err(format!("initdb failed:\n{output}"))
}

/// Starts the server on `port` from its own thread and waits until it accepts connections.
fn run_server(runner: &Runner, bin: &Path, port: u16) -> Result<(), String> {
    let log_path = runner.dir.join("postgres.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let socket_dir = runner.dir.clone();
    let mut command = runner.command(&bin.join("postgres"), Some("QUIT"));
    command.arg("-D").arg(runner.dir.join("data")).args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"]);
    command.arg(&socket_dir);
    for setting in [
        // Durability buys nothing in a throwaway test database.
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        // Every test's hub holds a pool of its own.
        "max_connections=300",
    ] {
        command.args(["-c", setting]);
    }
    command.stdout(Stdio::null()).stderr(log);

    // The thread reports the server's pid, then (much later, or at once
    // when it fails to start) how it exited.
    let (report, reports) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("postgres-{port}"))
        .spawn(move || match command.spawn() {
            Err(error) => {
                let _ = report.send(Err(format!("cannot start postgres: {error}")));
            }
            Ok(mut child) => {
                let _ = report.send(Ok(child.id()));
                // This thread must outlive the server (its parent-death signal).
                let status = child.wait();
                let _ = report.send(Err(format!("postgres on port {port} exited: {status:?}")));
            }
        })
        .map_err(|e| format!("cannot start the postgres thread: {e}"))?;
    let pid = reports.recv().map_err(|e| format!("the postgres thread ended: {e}"))??;

    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-t", "1", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", SUPERUSER])
            .stdin(Stdio::null())
            .status();
        if ready.is_ok_and(|status| status.success()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            // Immediate shutdown; the thread reaps it.
            let _ = Command::new("kill").args(["-QUIT", &pid.to_string()]).status();
            return Err(format!("postgres on port {port} did not accept connections within {READY_WITHIN:?}"));
        }
        // The pause between tries, cut short when the server exits.
        match reports.recv_timeout(Duration::from_millis(50)) {
            Ok(Err(exited)) => return Err(exited),
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the postgres thread ended".to_owned()),
        }
    }
}

/// A shell that removes `dir` once this process has ended (its stdin pipe
/// reaches end-of-file) and the server has stopped. It ignores Ctrl-C, which
/// reaches the whole process group: the test process's end is its signal.
fn spawn_reaper(dir: &Path) -> Result<ChildStdin, String> {
    let script = r#"trap '' INT HUP
cat >/dev/null
i=0
while [ -e "$1/data/postmaster.pid" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
rm -rf "$1""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "specbridge-pg-reaper"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cleanup shell: {e}"))?;
    child.stdin.take().ok_or_else(|| "the cleanup shell has no stdin".to_owned())
}

/// This process's effective user id (the second `Uid:` field).
fn effective_uid() -> Result<u32, String> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:")?.split_whitespace().nth(1)?.parse().ok())
        .ok_or_else(|| "no effective uid in /proc/self/status".to_owned())
}

/// A user's uid and primary gid.
fn user_ids(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id").args([flag, user]).output().map_err(|e| format!("cannot run id: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("no user {user:?} to run Postgres as (euid is 0): install the postgresql package"))
    };
    Ok((id("-u")?, id("-g")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_server_gives_each_caller_a_database_of_its_own() {
        let Some(server) = Postgres::shared() else { return };
        let (a, b) = (server.fresh_database(), server.fresh_database());
        assert_ne!(a, b);
        let psql = |url: &str, sql: &str| {
            let out = Command::new(server.bin.join("psql")).args([url, "-XAtqc", sql]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        psql(&a, "CREATE TABLE only_in_a (x int)");
        assert_eq!(psql(&b, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"), "0");
        assert_eq!(psql(&a, "SHOW fsync"), "off");
        assert!(std::ptr::eq(server, Postgres::shared().unwrap()), "one server per process");
    }
}
