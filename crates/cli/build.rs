//! Link options for the release `specbridge` binary (design §7: <= 3 MB
//! stripped; docs/benchmarks.md has what each one saves).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=no-unwind-tables.ld");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Both need LLD, which rustc links with on this target (Rust >= 1.90).
    if !(release && target == "x86_64-unknown-linux-gnu") {
        return;
    }
    // Identical code folding: generic code instantiated for several types
    // often compiles to the same machine code; the linker keeps one copy.
    // Rust promises no distinct addresses for distinct functions, so folding
    // them is sound. -59 KB.
    println!("cargo:rustc-link-arg-bin=specbridge=-Wl,--icf=all");
    // No unwind tables (-444 KB with their index). The release profile aborts
    // on panic, so nothing reads them but a debugger or a profiler walking a
    // stripped binary's stack, which has no symbols to show anyway. rustc
    // cannot leave them out itself: the prebuilt std carries them, and
    // `-C force-unwind-tables=no` would also reach the test builds, which
    // unwind. The tests keep them: this is the release binary only.
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else { return };
    println!("cargo:rustc-link-arg-bin=specbridge=-Wl,-T,{dir}/no-unwind-tables.ld");
    println!("cargo:rustc-link-arg-bin=specbridge=-Wl,--no-eh-frame-hdr");
}
