//! Seccomp for berth: the OCI runtime-spec `linux.seccomp` object
//! (config-linux.md, "Seccomp") turned into a classic BPF program for an
//! x86_64 kernel, installed with `seccomp(2)`, and, for `SCMP_ACT_NOTIFY`,
//! the listener fd handed to the agent at `listenerPath`.
//!
//! The compiler is pure and needs no root; its output can be run in
//! userspace with [`Filter::evaluate`] (see [`bpf`]), which is how the unit
//! tests check every action and comparison. No libseccomp is involved: the
//! BPF is emitted here, because seccompiler (the Rust alternative) cannot
//! express `SCMP_ACT_NOTIFY` or filter more than one architecture.
//!
//! Typical use in the runtime:
//!
//! ```no_run
//! # fn f(spec: &oci_spec::runtime::LinuxSeccomp) -> Result<(), berth_seccomp::Error> {
//! let filter = berth_seccomp::compile(spec)?; // in the parent, before fork
//! for w in filter.warnings() {
//!     eprintln!("warning: {w}");
//! }
//! // in the container init, after PR_SET_NO_NEW_PRIVS, right before execve:
//! let listener = berth_seccomp::install(&filter)?;
//! # Ok(()) }
//! ```
//!
//! Syscall numbers come from tables generated from the kernel headers
//! (`tools/gen-syscall-tables.sh`). How architectures, conflicting rules and
//! flags are treated is documented on [`compile`].
//!
//! Limitations: the filter is for an x86_64 kernel only; on i386, rules on
//! `socket`, `shmget` and friends match the direct syscalls but not their
//! `socketcall`/`ipc` multiplexed forms (libseccomp rewrites those). Like
//! runc, calls newer than berth's syscall tables get `ENOSYS` rather than
//! a restrictive default action (see [`compile`]); unlike runc, "newer" is
//! measured against the tables, not against the largest syscall the
//! profile names.

#![warn(missing_docs)]

pub mod bpf;
mod compile;
pub mod engine;
mod error;
mod install;
mod json;
pub mod notify;
mod syscalls;

pub use bpf::SeccompData;
pub use compile::{compile, Filter, BAD_ARCH_ACTION};
pub use error::Error;
pub use install::install;
pub use json::{parse, parse_str};
pub use syscalls::{Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
