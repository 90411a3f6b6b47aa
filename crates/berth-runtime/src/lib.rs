//! berth-runtime: the container library behind the `berth` binary.
//!
//! The flow for `create` is: [`spec`] loads `config.json`, [`plan`] turns it into a validated
//! [`plan::Plan`] without any I/O, and [`create`] executes the plan by cloning the container's
//! init ([`init`]), which sets up the root filesystem ([`rootfs`], [`mounts`], [`devices`]) and
//! the process ([`process`], [`capabilities`]) before it waits to be started. The parent and the
//! init talk over the protocol in [`sync`]. Container state lives in [`state`].

pub mod attributes;
pub mod capabilities;
pub mod cgroups;
pub mod container;
pub mod create;
pub mod devices;
pub mod error;
pub mod exe_guard;
pub mod exec;
pub mod features;
pub mod foreground;
pub mod fs;
pub mod hooks;
pub mod id;
pub mod idmap;
pub mod init;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod plan;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
pub mod tty;

pub use error::{Error, Result};
