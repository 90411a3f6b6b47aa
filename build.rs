//! The release binary's start path, laid out together: the linker places the functions that
//! `bench/order/berth.order` lists (in the order create, run, exec, start and delete first run
//! them; `make bench-order` regenerates it) at the start of `.text`. A `berth run` then maps a
//! fraction of the text it mapped before (each page fault maps the 64 KiB around it), so its
//! peak RSS and its page faults drop. Names the file lists that the binary no longer has are
//! skipped; functions it does not list keep the linker's order.
//!
//! Only for release builds on x86_64 Linux, where rustc links with lld (the one linker that
//! reads an ordering file); `BERTH_NO_ORDER=1` turns it off. The same builds pack their
//! relative relocations.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=bench/order/berth.order");
    println!("cargo:rerun-if-env-changed=BERTH_NO_ORDER");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let off = std::env::var_os("BERTH_NO_ORDER").is_some_and(|v| v != "0");
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/order/berth.order");
    if release && target == "x86_64-unknown-linux-gnu" && !off && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=berth=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=berth=-Wl,--no-warn-symbol-ordering");
    }
    if target == "x86_64-unknown-linux-gnu" {
        // berth's own entry point (src/early.rs), which then jumps to the C library's.
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-e,berth_entry");
    }
    if release && target == "x86_64-unknown-linux-gnu" {
        // Relative relocations packed (RELR): the static-pie start-up reads ~5 KiB of
        // `.relr.dyn` instead of 411 KiB of `.rela.dyn` (glibc 2.36 applies both).
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-z,pack-relative-relocs");
    }
}
