//! Tests of the low-level runtime: lifecycle, isolation, mounts, process, hooks, security.

/// The one harness (`crate::harness`), as `super::harness` for the modules here.
pub(crate) use crate::harness;

mod bad_input;
mod checkpoint;
mod exec;
mod faults;
mod hooks;
mod isolation;
mod library;
mod lifecycle;
mod lsm;
mod mounts;
mod parity;
mod process;
mod seccomp;
mod security;
mod terminal;
mod trust;
