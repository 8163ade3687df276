//! Link options for the release `specbridge` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Identical code folding: generic code instantiated for several types
    // often compiles to the same machine code; the linker keeps one copy.
    // Rust promises no distinct addresses for distinct functions, so folding
    // them is sound. rustc links with LLD on this target (Rust >= 1.90).
    if release && target == "x86_64-unknown-linux-gnu" {
        println!("cargo:rustc-link-arg-bin=specbridge=-Wl,--icf=all");
    }
}
