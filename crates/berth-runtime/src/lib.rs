//! berth-runtime: the container library behind the `berth` binary, and for programs that link
//! it (a containerd shim, an engine).
//!
//! A [`Runtime`] is a state root; its verbs are methods of [`Runtime`] and [`Container`], one
//! file each under [`container`]. `create` loads `config.json` and turns it into a validated
//! [`plan::Plan`] without side effects, records the container ([`state`]), and puts its init
//! into the container through [`spawn`] (the parent side) and [`setup`] (the child side, one
//! pipeline for the init and exec'd processes). Raw system calls live in [`sys`].
//!
//! The library never changes its caller's namespaces, working directory, environment or
//! signal state, and may be used from several threads. A program that links it must call
//! [`init_entry`] first thing in `main` (the runtime's helper process is that program,
//! re-executed), or point [`Runtime::init_binary`] at a `berth` binary.

pub mod container;
pub mod error;
pub mod features;
pub mod hooks;
pub mod id;
pub mod mountinfo;
pub mod plan;
pub mod procfs;
pub mod setup;
pub mod spawn;
pub mod state;
pub mod sys;

pub use container::kill::parse_signal;
pub use container::{
    exit_code, CgroupsMode, CheckpointOptions, Console, Container, CreateOptions, Created, Event,
    Events, ExecOptions, Execed, Overrides, RestoreOptions, Restored, Runtime, Started,
};
pub use error::{Error, Result};
pub use spawn::Stdio;
pub use state::{OciState, Status};

/// If this process is the runtime's helper (`berth init`, started by the library), runs it;
/// otherwise returns at once. Call it first thing in `main` of any program that links the
/// library and lets it use its own executable as the helper.
pub fn init_entry() {
    if let Some(v) = std::env::var_os(spawn::INIT_ENV) {
        match v.to_str().and_then(|s| s.parse::<i32>().ok()) {
            Some(slot) if slot >= 3 => setup::main(slot),
            _ => {
                eprintln!("berth: {} is not a file descriptor", spawn::INIT_ENV);
                std::process::exit(2);
            }
        }
    }
}
