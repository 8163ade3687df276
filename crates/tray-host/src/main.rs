//! `specbridge-tray-host`: the tray process of the specbridge tray app. The
//! app's binary (`specbridge-tray`, src-tauri/) execs this one when started
//! without `--window`, so the process in the tray never even maps WebKit's
//! libraries; it starts `specbridge-tray --window …` for the settings window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = specbridge_tray_host::run() {
        eprintln!("specbridge: {e:#}");
        std::process::exit(1);
    }
}
