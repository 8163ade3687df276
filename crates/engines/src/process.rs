//! What every engine fixture needs: a program from the system's packages,
//! a free loopback port, a child that dies with the test process, and a wait
//! until it accepts connections.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first of `names` found on `PATH` or in the system folders Debian
/// puts servers in (`/usr/sbin` is not on a normal user's `PATH`).
pub(crate) fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"].map(PathBuf::from));
    names.iter().flat_map(|name| dirs.iter().map(move |dir| dir.join(name))).find(|p| p.is_file())
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `program` with `args`, its output in `log`. Under `setpriv
/// --pdeathsig KILL` when the system has it, so the server dies with the
/// thread that started it even when the test process is killed and no
/// `Drop` runs.
pub(crate) fn spawn(program: &Path, args: &[String], log: &Path) -> std::io::Result<Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    let mut command = match find_program(&["setpriv"]) {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.arg("--pdeathsig").arg("KILL").arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    command.args(args).stdin(Stdio::null()).stdout(out).stderr(err).spawn()
}

/// Waits until `addr` accepts TCP connections, at most `within`. On a
/// timeout (or the child exiting) the error carries the log's tail.
#[allow(
    clippy::disallowed_methods,
    reason = "a fixture starting a server blocks its caller by design, once, before the test's own work"
)]
pub(crate) fn wait_for_port(child: &mut Child, addr: SocketAddr, within: Duration, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}): {}", tail(log)));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!("it did not listen on {addr} within {within:?}: {}", tail(log)))
}

/// The end of a log file, for an error message.
pub(crate) fn tail(path: &Path) -> String {
    use std::io::{Read as _, Seek as _};
    const TAIL: u64 = 4000;
    let Ok(mut file) = std::fs::File::open(path) else { return format!("(no log at {})", path.display()) };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(std::io::SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut text = Vec::new();
    let _ = file.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// SIGKILL and reap.
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
