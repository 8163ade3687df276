//! The specbridge tray app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let forget = std::env::args_os().skip(1).any(|a| a == "--forget-everything");
    let result = if forget {
        specbridge_tray::forget_everything().map(|forgotten| print!("{forgotten}")).map_err(anyhow::Error::from)
    } else {
        specbridge_tray::run()
    };
    if let Err(e) = result {
        eprintln!("specbridge: {e:#}");
        std::process::exit(1);
    }
}
