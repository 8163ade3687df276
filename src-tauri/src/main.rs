//! The specbridge tray app's binary. Started plainly (a launch, the login
//! item, WebDriver) it hands over to `specbridge-tray-host` beside it, the
//! tray process (crates/tray-host: tray icon, engine, no web view): exec on
//! Unix, so the same process goes on without WebKit's libraries mapped. The
//! tray starts this binary again as `--window main|consent` for the window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use specbridge_tray_host::actor::WindowKind;

/// Runs the tray process: `specbridge-tray-host` when it is installed beside
/// this binary, else in this process (same behaviour, WebKit mapped).
fn tray() -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let host = me.with_file_name(format!("{}{}", specbridge_tray_host::HOST_BINARY, std::env::consts::EXE_SUFFIX));
    if host.is_file() {
        let mut command = std::process::Command::new(&host);
        command.args(std::env::args_os().skip(1)).env(specbridge_tray_host::APP_EXE_ENV, &me);
        if cfg!(target_os = "linux") && std::env::var_os("GDK_GL").is_none() {
            // No OpenGL in the tray (see GL_SKIPPED_ENV); the windows get it back.
            command.env("GDK_GL", "disable").env(specbridge_tray_host::GL_SKIPPED_ENV, "1");
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            // Only returns on failure; then run in-process instead.
            let error = command.exec();
            eprintln!("specbridge: could not start {}: {error}", host.display());
        }
        #[cfg(not(unix))]
        {
            command.spawn()?;
            return Ok(());
        }
    }
    specbridge_tray_host::run()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let window = args
        .iter()
        .position(|a| a == "--window")
        .map(|i| args.get(i + 1).and_then(|k| WindowKind::from_arg(k)).unwrap_or(WindowKind::Main));
    let result = if args.iter().any(|a| a == "--forget-everything") {
        specbridge_tray_host::forget_everything().map(|forgotten| print!("{forgotten}")).map_err(anyhow::Error::from)
    } else if let Some(kind) = window {
        specbridge_tray::run_window(kind)
    } else {
        tray()
    };
    if let Err(e) = result {
        eprintln!("specbridge: {e:#}");
        std::process::exit(1);
    }
}
