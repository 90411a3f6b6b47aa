//! `containerd-shim-berth-v2`: containerd's runtime `io.containerd.berth.v2`. A task v2 shim
//! (ttrpc, on containerd's Rust shim framework) that runs containers with berth's runtime
//! library instead of exec'ing a runtime binary for every operation.

mod error;
mod events;
mod metrics;
mod oom;
mod options;
mod process;
mod rootfs;
mod runtime;
mod service;
mod shim;
mod stdio;

/// The runtime type containerd knows the shim by.
const RUNTIME_ID: &str = "io.containerd.berth.v2";

fn main() {
    // The runtime library's helper process is this binary, re-executed.
    berth_runtime::init_entry();
    // One malloc arena for all threads: a shim lives as long as its containers, and its memory
    // is paid per container.
    // SAFETY: mallopt with an integer parameter, before any other thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == runtime::HELPER_ARG) {
        runtime::helper_main();
    }
    let flags = containerd_shim::parse(args.get(1..).unwrap_or_default());
    if let Ok(f) = &flags {
        if f.version {
            println!(
                "containerd-shim-berth-v2 version {}",
                env!("CARGO_PKG_VERSION")
            );
            println!("runtime: {RUNTIME_ID}");
            return;
        }
        // The long-running server (no action), started from a read-only view of its binary:
        // run from it, the process would be named after the fd it was exec'd from; name it as
        // containerd's runc shim is named in `ps`.
        if f.action.is_empty() && !f.socket.is_empty() {
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, c"containerd-shim".as_ptr()) };
        }
    }
    containerd_shim::run::<shim::Shim>(RUNTIME_ID, None);
}
