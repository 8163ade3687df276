//! The specbridge tray app. One binary, two processes: without arguments it
//! is the tray (crates/tray-host: tray icon, engine, no web view); the tray
//! starts it again as `--window main|consent` for the settings window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use specbridge_tray_host::actor::WindowKind;

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
        specbridge_tray_host::run()
    };
    if let Err(e) = result {
        eprintln!("specbridge: {e:#}");
        std::process::exit(1);
    }
}
