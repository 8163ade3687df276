//! The specbridge tray app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = specbridge_tray::run() {
        eprintln!("specbridge: {e:#}");
        std::process::exit(1);
    }
}
