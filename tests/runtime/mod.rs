//! Tests of the low-level runtime: lifecycle, isolation, mounts, process, hooks, security.

pub(crate) mod harness;

mod bad_input;
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
